package connect_test

// The pacing simulation: connecttest's rate limiter served through an
// in-memory network inside a testing/synctest bubble, so that windows of a
// minute pass in virtual time and a run of 1,000 calls takes milliseconds.

import (
	"context"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// pipeListener is a net.Listener whose connections are in-memory pipes,
// made by its dial. Inside a bubble every block on it is durable, so the
// bubble's clock advances while requests are in flight.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// latencyTransport delays each request on its way to the server and its
// response on the way back by a random one-way latency, so that requests
// overlap and overtake each other as on a network.
type latencyTransport struct {
	next     http.RoundTripper
	min, max time.Duration
}

func (t latencyTransport) oneWay() time.Duration {
	return t.min + rand.N(t.max-t.min+1)
}

func (t latencyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	time.Sleep(t.oneWay())
	resp, err := t.next.RoundTrip(req)
	time.Sleep(t.oneWay())
	return resp, err
}

// pacingRun is one simulation: goroutines make calls Gets against a fake
// that allows limit requests per window, spread over replicas clients (1
// when zero) that share the organization's key but nothing else, as
// replicas of a service do.
type pacingRun struct {
	limit      int
	window     time.Duration
	replicas   int
	goroutines int // in all, spread over the replicas
	calls      int
	// minLatency and maxLatency bound the one-way network latency.
	minLatency, maxLatency time.Duration
	// shared, if not zero, is a GCRA limit every replica's client takes
	// its requests from (WithRateLimiter), as one in Redis would be.
	shared gcraLimit
}

// gcraLimit is rate requests per period with bursts of up to burst.
type gcraLimit struct {
	rate   int
	period time.Duration
	burst  int
}

// gcraLimiter is a connect.RateLimiter for the simulation: the generic cell
// rate algorithm (the one redislimit runs in Redis) on the bubble's clock.
// Each request pushes the theoretical arrival time (tat) one interval on; a
// request may go once tat is no more than burst-1 intervals ahead of now.
// So no span of time d admits more than burst + rate·d/period requests.
type gcraLimiter struct {
	mu        sync.Mutex
	interval  time.Duration // period / rate
	tolerance time.Duration // (burst-1) intervals
	tat       time.Time
}

func newGCRALimiter(l gcraLimit) *gcraLimiter {
	interval := l.period / time.Duration(l.rate)
	return &gcraLimiter{interval: interval, tolerance: time.Duration(l.burst-1) * interval}
}

func (l *gcraLimiter) Take(context.Context) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	if allowAt := tat.Add(-l.tolerance); now.Before(allowAt) {
		return allowAt.Sub(now), nil
	}
	l.tat = tat.Add(l.interval)
	return 0, nil
}

// pacingResult is what a run measured on the server's side.
type pacingResult struct {
	calls, failures int
	attempts        int // as the SDK counted them
	requests        int // as the server counted them
	tooMany         int // requests answered 429
	// admittedFull is the number of requests admitted (not 429) in the
	// run's full windows: every window but the last, in which the calls
	// ran out. budgetFull is limit × the number of those windows.
	admittedFull, budgetFull int
	elapsed                  time.Duration // virtual
	// windows is, for each window of the run, the requests admitted and
	// the ones answered 429 in it: where a run lost budget or met 429s.
	windows []windowCount
}

type windowCount struct{ admitted, tooMany int }

func (r *pacingResult) add(o pacingResult) {
	r.calls += o.calls
	r.failures += o.failures
	r.attempts += o.attempts
	r.requests += o.requests
	r.tooMany += o.tooMany
	r.admittedFull += o.admittedFull
	r.budgetFull += o.budgetFull
	r.elapsed += o.elapsed
}

// budgetUsed is the share of the full windows' budget that was admitted.
func (r pacingResult) budgetUsed() float64 { return float64(r.admittedFull) / float64(r.budgetFull) }

// share429 is the share of the requests that were answered 429.
func (r pacingResult) share429() float64 { return float64(r.tooMany) / float64(r.requests) }

// simulatePacing runs p; call it inside a synctest bubble.
func simulatePacing(t testing.TB, p pacingRun) pacingResult {
	l := newPipeListener()
	srv := connecttest.NewServer(connecttest.WithRateLimit(p.limit, p.window), connecttest.WithListener(l))
	defer srv.Close()
	src := srv.NewOrganization("Source")
	dst := srv.NewOrganization("Destination")
	cxn := srv.NewActiveConnection(src, dst)
	inq := srv.NewInquiry(src, map[string]any{"name-first": "Ada"})

	var shared []connect.ClientOption
	if p.shared != (gcraLimit{}) {
		shared = append(shared, connect.WithRateLimiter(newGCRALimiter(p.shared)))
	}
	clients := make([]*connect.Client, max(p.replicas, 1))
	for i := range clients {
		tr := &http.Transport{DialContext: l.dial, MaxIdleConnsPerHost: p.goroutines}
		defer tr.CloseIdleConnections()
		c, err := connect.NewClient(src.APIKey, append([]connect.ClientOption{connect.WithBaseURL(srv.URL),
			connect.WithHTTPClient(&http.Client{Transport: latencyTransport{tr, p.minLatency, p.maxLatency}})}, shared...)...)
		require.NoError(t, err)
		clients[i] = c
	}
	tok, err := clients[0].ShareTokens.Create(t.Context(), &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	require.NoError(t, err)
	// Start on a fresh window, so that every run measures the same thing.
	time.Sleep(time.Until(time.Now().Truncate(p.window).Add(p.window)))
	start := time.Now()
	srv.ResetRequests()

	var (
		next     atomic.Int64
		attempts atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	for g := range p.goroutines {
		c := clients[g%len(clients)]
		wg.Go(func() {
			for next.Add(1) <= int64(p.calls) {
				var resp connect.Response
				ctx, cancel := context.WithTimeout(t.Context(), 10*p.window)
				got, err := c.ShareTokens.Get(ctx, tok.ID, connect.WithResponseInto(&resp))
				cancel()
				attempts.Add(int64(resp.Attempts))
				if err != nil || got.ID != tok.ID {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	res := pacingResult{calls: p.calls, failures: int(failures.Load()), attempts: int(attempts.Load()), elapsed: time.Since(start)}

	reqs := srv.Requests()
	last := 0 // the index of the last window a request arrived in
	for _, r := range reqs {
		last = max(last, int(r.Time.Sub(start)/p.window))
	}
	for _, r := range reqs {
		res.requests++
		if r.Status == http.StatusTooManyRequests {
			res.tooMany++
		} else if int(r.Time.Sub(start)/p.window) < last {
			res.admittedFull++
		}
	}
	res.budgetFull = p.limit * last
	res.windows = make([]windowCount, last+1)
	for _, r := range reqs {
		w := &res.windows[int(r.Time.Sub(start)/p.window)]
		if r.Status == http.StatusTooManyRequests {
			w.tooMany++
		} else {
			w.admitted++
		}
	}
	return res
}

// pacingRuns are the simulations BenchmarkPacing reports: Persona's default
// limit, whose RateLimit-Reset is precise to a second in a minute, and a
// one-second window, where the Reset (always "1") says next to nothing.
var pacingRuns = []struct {
	name string
	run  pacingRun
}{
	{"300/min", pacingRun{limit: 300, window: time.Minute, goroutines: 16, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond}},
	{"50/s", pacingRun{limit: 50, window: time.Second, goroutines: 16, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond}},
	// Replicas of a service: each client paces by what its own responses
	// say, and the others' requests show only in RateLimit-Remaining.
	{"300/min-3-replicas", pacingRun{limit: 300, window: time.Minute, replicas: 3, goroutines: 15, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond}},
	{"300/min-5-replicas", pacingRun{limit: 300, window: time.Minute, replicas: 5, goroutines: 15, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond}},
	// The same replicas sharing one limiter (WithRateLimiter), set as
	// redislimit's documentation says (redislimit.PersonaDefault).
	{"300/min-3-replicas-shared", pacingRun{limit: 300, window: time.Minute, replicas: 3, goroutines: 15, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond, shared: personaShared}},
	{"300/min-5-replicas-shared", pacingRun{limit: 300, window: time.Minute, replicas: 5, goroutines: 15, calls: 1000,
		minLatency: 5 * time.Millisecond, maxLatency: 45 * time.Millisecond, shared: personaShared}},
}

// personaShared is the shared limit for Persona's default 300 a minute that
// redislimit.PersonaDefault recommends: 280 a minute with bursts of 10. No
// span of a minute and s admits 300 while 10 + 280·(1 + s/60s) ≤ 301, so
// for any spread s of latency under 2.3 s.
var personaShared = gcraLimit{rate: 280, period: time.Minute, burst: 10}

// BenchmarkPacing: 16 goroutines share one client (or 15 are spread over
// replicas' clients, which may share one limiter) and make 1,000 Gets
// against connecttest's rate limiter, in virtual time. It reports the share
// of the full windows' budget the client used (%budget, goal ≥ 95) and the
// share of its requests answered 429 (%429, goal ≤ 1); virtual-s/op is the
// time a run took on the bubble's clock, ns/op the real time it cost.
func BenchmarkPacing(b *testing.B) {
	onlyImpl(b, "sdk")
	for _, pr := range pacingRuns {
		b.Run(pr.name, func(b *testing.B) {
			var total pacingResult
			inBubble(b, func(t *testing.T) {
				for range b.N {
					total.add(simulatePacing(t, pr.run))
				}
			})
			if total.failures > 0 || total.attempts != total.requests {
				b.Fatalf("%d of %d calls failed; the SDK counted %d attempts, the server %d requests",
					total.failures, total.calls, total.attempts, total.requests)
			}
			b.ReportMetric(100*total.budgetUsed(), "%budget")
			b.ReportMetric(100*total.share429(), "%429")
			b.ReportMetric(total.elapsed.Seconds()/float64(b.N), "virtual-s/op")
		})
	}
}

// inBubble runs f once in a testing/synctest bubble from a benchmark.
// synctest.Test needs a *testing.T, which a benchmark does not have (no
// testing.B method yields one, and synctest.Run, which needed none, is
// deprecated): testing.RunTests provides one. It runs its tests
// -test.count times; only the first run does the work.
func inBubble(b *testing.B, f func(t *testing.T)) {
	b.Helper()
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs) // RunTests sets it for each -test.cpu
	var ran bool
	ok := testing.RunTests(func(_, _ string) (bool, error) { return true, nil }, []testing.InternalTest{{
		Name: "Bubble",
		F: func(t *testing.T) {
			if ran {
				return
			}
			ran = true
			synctest.Test(t, f)
		},
	}})
	if !ok {
		b.Fatal("the simulation failed")
	}
}
