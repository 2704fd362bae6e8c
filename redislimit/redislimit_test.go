package redislimit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/redislimit"
)

// redisClient connects to the Redis at REDIS_URL, or skips the test.
func redisClient(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: these tests need a Redis, such as redis://127.0.0.1:6379/0")
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	require.NoError(t, rdb.Ping(t.Context()).Err(), "REDIS_URL=%s", url)
	return rdb
}

// budgetName is a budget of the test's own, whose key is deleted after it.
func budgetName(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	name := fmt.Sprintf("redislimit-test:%s:%d", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() { rdb.Del(context.Background(), "rate:"+name) })
	return name
}

func TestForWindow(t *testing.T) {
	assert.Equal(t, redislimit.Limit{Rate: 280, Period: time.Minute, Burst: 10}, redislimit.PersonaDefault)
	assert.Equal(t, redislimit.Limit{Rate: 46, Period: time.Second, Burst: 2}, redislimit.ForWindow(50, time.Second))
	assert.Equal(t, redislimit.Limit{Rate: 560, Period: time.Minute, Burst: 20}, redislimit.ForWindow(600, time.Minute))
	for _, limit := range []int{5, 50, 300, 600, 10_000} {
		l := redislimit.ForWindow(limit, time.Minute)
		// The package documentation's bound: Burst + Rate·(1 + s/Period)
		// ≤ limit + 1 leaves room for a spread s of at least one interval,
		// and a burst of 2 or more absorbs a late Take.
		assert.LessOrEqual(t, l.Burst+l.Rate+1, limit, "ForWindow(%d): %+v", limit, l)
		assert.GreaterOrEqual(t, l.Burst, 2, "ForWindow(%d): %+v", limit, l)
		if limit >= 50 {
			assert.GreaterOrEqual(t, float64(l.Rate)/float64(limit), 0.9, "ForWindow(%d): %+v", limit, l)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	for name, tc := range map[string]struct {
		rdb    redis.UniversalClient
		budget string
		limit  redislimit.Limit
		want   string
	}{
		"nil client":       {nil, "persona:production", redislimit.PersonaDefault, "nil"},
		"empty budget":     {rdb, "", redislimit.PersonaDefault, "empty"},
		"API key budget":   {rdb, "persona_production_0123456789abcdef", redislimit.PersonaDefault, "API key"},
		"no rate":          {rdb, "persona:production", redislimit.Limit{Period: time.Minute, Burst: 1}, "Rate"},
		"no period":        {rdb, "persona:production", redislimit.Limit{Rate: 1, Burst: 1}, "Period"},
		"negative burst":   {rdb, "persona:production", redislimit.Limit{Rate: 1, Period: time.Minute, Burst: -1}, "Burst"},
		"zero-value limit": {rdb, "persona:production", redislimit.Limit{}, "Rate"},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := redislimit.New(tc.rdb, tc.budget, tc.limit)
			require.Error(t, err)
			assert.Nil(t, l)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "0123456789abcdef", "the key is secret")
		})
	}
}

// TestTakeBurstThenWait: a fresh budget lets Burst requests go at once; the
// next one is told to wait about one interval, and a wait takes nothing.
func TestTakeBurstThenWait(t *testing.T) {
	rdb := redisClient(t)
	budget := budgetName(t, rdb)
	l, err := redislimit.New(rdb, budget, redislimit.Limit{Rate: 1, Period: time.Hour, Burst: 3})
	require.NoError(t, err)
	for i := range 3 {
		wait, err := l.Take(t.Context())
		require.NoError(t, err)
		assert.Zero(t, wait, "request %d of the burst", i+1)
	}
	for range 3 {
		wait, err := l.Take(t.Context())
		require.NoError(t, err)
		assert.Greater(t, wait, 59*time.Minute, "the budget is spent for an hour's interval")
		assert.LessOrEqual(t, wait, time.Hour)
	}
	// Another limiter of the same budget (another replica) sees it spent.
	other, err := redislimit.New(rdb, budget, redislimit.Limit{Rate: 1, Period: time.Hour, Burst: 3})
	require.NoError(t, err)
	wait, err := other.Take(t.Context())
	require.NoError(t, err)
	assert.Greater(t, wait, 59*time.Minute)
	assert.Zero(t, l.Errors())
}

// sharedRun is several replicas' clients sending Gets through a fake allowing
// limit requests a second, for d of real time, with more demand than budget.
type sharedRun struct {
	limit, replicas, goroutines int
	d                           time.Duration
	limiter                     func() connect.RateLimiter // nil: no shared limiter
}

type sharedResult struct {
	requests, tooMany, failures int
	admittedFull, budgetFull    int
}

func (r sharedResult) share429() float64   { return float64(r.tooMany) / float64(r.requests) }
func (r sharedResult) budgetUsed() float64 { return float64(r.admittedFull) / float64(r.budgetFull) }

func runShared(t *testing.T, p sharedRun) sharedResult {
	const window = time.Second
	srv := connecttest.NewServer(connecttest.WithRateLimit(p.limit, window))
	defer srv.Close()
	src := srv.NewOrganization("Source")
	dst := srv.NewOrganization("Destination")
	cxn := srv.NewActiveConnection(src, dst)
	inq := srv.NewInquiry(src, map[string]any{"name-first": "Ada"})

	var shared []connect.ClientOption
	if p.limiter != nil {
		shared = append(shared, connect.WithRateLimiter(p.limiter()))
	}
	clients := make([]*connect.Client, p.replicas)
	for i := range clients {
		c, err := connect.NewClient(src.APIKey, append([]connect.ClientOption{connect.WithBaseURL(srv.URL),
			connect.WithHTTPClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: p.goroutines}})}, shared...)...)
		require.NoError(t, err)
		clients[i] = c
	}
	tok, err := clients[0].ShareTokens.Create(t.Context(), &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	require.NoError(t, err)
	srv.ResetRequests()

	// No call starts after stop; the calls under way finish.
	stop, cancel := context.WithTimeout(t.Context(), p.d)
	defer cancel()
	start := time.Now()
	var failures atomic.Int64
	var wg sync.WaitGroup
	for g := range p.goroutines * p.replicas {
		c := clients[g%len(clients)]
		wg.Go(func() {
			for stop.Err() == nil {
				if _, err := c.ShareTokens.Get(t.Context(), tok.ID); err != nil {
					if failures.Add(1) == 1 {
						t.Logf("first failure: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()

	// Full windows: those wholly within the run.
	first, last := start.Truncate(window).Add(window), end.Truncate(window)
	res := sharedResult{failures: int(failures.Load()), budgetFull: p.limit * int(last.Sub(first)/window)}
	for _, r := range srv.Requests() {
		res.requests++
		if r.Status == http.StatusTooManyRequests {
			res.tooMany++
		} else if !r.Time.Before(first) && r.Time.Before(last) {
			res.admittedFull++
		}
	}
	return res
}

// TestSharedBudget: four replicas of eight goroutines each, one API key,
// against a fake allowing 50 requests a second, for 4 s of real time, with
// far more demand than budget. Sharing a redislimit Limiter at
// ForWindow(50, 1s) keeps 429s at ≤ 2 % of the requests while using ≥ 90 %
// of the budget; the same run without it, pacing on the responses alone,
// has more 429s (and calls that fail with 429 after their retries).
func TestSharedBudget(t *testing.T) {
	rdb := redisClient(t)
	budget := budgetName(t, rdb)
	const limit = 50
	run := sharedRun{limit: limit, replicas: 4, goroutines: 8, d: 4 * time.Second}

	alone := runShared(t, run)
	run.limiter = func() connect.RateLimiter {
		l, err := redislimit.New(rdb, budget, redislimit.ForWindow(limit, time.Second))
		require.NoError(t, err)
		return l
	}
	shared := runShared(t, run)

	t.Logf("shared budget: %d replicas × %d goroutines at %d requests/s for %s: "+
		"without the limiter %d requests, %.2f%% 429, %.1f%% of the budget, %d calls failed; "+
		"with it %d requests, %.2f%% 429, %.1f%% of the budget, %d calls failed",
		run.replicas, run.goroutines, limit, run.d,
		alone.requests, 100*alone.share429(), 100*alone.budgetUsed(), alone.failures,
		shared.requests, 100*shared.share429(), 100*shared.budgetUsed(), shared.failures)
	assert.Zero(t, shared.failures, "a call failed with the shared limiter")
	assert.LessOrEqual(t, shared.share429(), 0.02, "429s with the shared limiter")
	assert.GreaterOrEqual(t, shared.budgetUsed(), 0.90, "budget used with the shared limiter")
	assert.Greater(t, alone.share429(), shared.share429(), "the shared limiter did not lower the 429s")
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestRedisDownFailsOpen: with Redis unreachable, Take lets the request go
// by default, counting the failure and passing it to the callback; the
// call to Persona is made.
func TestRedisDownFailsOpen(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	var seen []error
	var mu sync.Mutex
	l, err := redislimit.New(rdb, "persona:test", redislimit.PersonaDefault,
		redislimit.WithOnError(func(err error) { mu.Lock(); seen = append(seen, err); mu.Unlock() }))
	require.NoError(t, err)

	wait, err := l.Take(t.Context())
	require.NoError(t, err)
	assert.Zero(t, wait)
	assert.EqualValues(t, 1, l.Errors())
	require.Len(t, seen, 1)
	assert.Contains(t, seen[0].Error(), `budget "persona:test"`)

	srv := connecttest.NewServer()
	defer srv.Close()
	src := srv.NewOrganization("Source")
	c, err := connect.NewClient(src.APIKey, connect.WithBaseURL(srv.URL), connect.WithRateLimiter(l))
	require.NoError(t, err)
	_, err = c.Connections.List(t.Context(), nil)
	require.NoError(t, err)
	assert.Len(t, srv.Requests(), 1, "the call went through")
	assert.EqualValues(t, 2, l.Errors())
}

// TestRedisDownFailsClosed: WithFailClosed makes the call fail with Redis's
// error, nothing sent.
func TestRedisDownFailsClosed(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	l, err := redislimit.New(rdb, "persona:test", redislimit.PersonaDefault, redislimit.WithFailClosed())
	require.NoError(t, err)

	srv := connecttest.NewServer()
	defer srv.Close()
	src := srv.NewOrganization("Source")
	c, err := connect.NewClient(src.APIKey, connect.WithBaseURL(srv.URL), connect.WithRateLimiter(l))
	require.NoError(t, err)
	_, err = c.ShareTokens.Get(t.Context(), "cnst_ABC123")
	require.Error(t, err)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr, "Redis's dial error is wrapped")
	assert.Contains(t, err.Error(), "rate limiter")
	assert.Contains(t, err.Error(), `budget "persona:test"`)
	assert.NotContains(t, err.Error(), src.APIKey)
	assert.Empty(t, srv.Requests(), "the call was sent")
	assert.EqualValues(t, 1, l.Errors())
}

// TestRedisSilentTimesOut: a Redis that accepts connections and never
// answers delays a call by WithTimeout at most, then fails open.
func TestRedisSilentTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ReadTimeout: time.Minute, ContextTimeoutEnabled: true})
	defer rdb.Close()
	l, err := redislimit.New(rdb, "persona:test", redislimit.PersonaDefault, redislimit.WithTimeout(200*time.Millisecond))
	require.NoError(t, err)
	start := time.Now()
	wait, err := l.Take(t.Context())
	elapsed := time.Since(start)
	require.NoError(t, err)
	assert.Zero(t, wait)
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)
	assert.Less(t, elapsed, 5*time.Second, "the timeout did not bound the round trip")
	assert.EqualValues(t, 1, l.Errors())
}

// TestTakeCancelled: a call's context that ended is returned as such, not
// counted as a Redis failure, whatever the policy.
func TestTakeCancelled(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	l, err := redislimit.New(rdb, "persona:test", redislimit.PersonaDefault)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = l.Take(ctx)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Zero(t, l.Errors())
}
