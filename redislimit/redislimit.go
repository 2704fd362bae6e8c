// Package redislimit is a [connect.RateLimiter] kept in Redis, so that every
// replica of a service that uses one Persona API key draws on one request
// budget.
//
// Persona's rate limit (300 requests a minute by default) counts every
// request of an environment, whichever process sends it. A connect.Client
// paces itself by the RateLimit headers of its own responses, which the
// other replicas' requests reach too late: at the end of a busy window they
// over-spend it together and some requests are answered 429. A Limiter
// spaces the requests of all of them before they are sent.
//
// The limiter is [github.com/go-redis/redis_rate/v10]'s: the generic cell
// rate algorithm (GCRA) in one Lua script on the Redis server's clock, one
// key per budget. It lets Rate requests through per Period, evenly spaced,
// and up to Burst at once after a quiet spell. The client's own pacing and
// retries still apply on top of it.
//
// # Choosing the limit
//
// Persona counts in fixed windows (whole minutes). GCRA admits, in any span
// of time d, fewer than Burst + Rate·d/Period requests. The requests one
// window counts were admitted over a span a little longer than the window:
// the window plus the spread s of the latency between admission and
// Persona's count (queueing, connection set-up, the network). So a window
// never counts more than its limit L while
//
//	Burst + Rate·(1 + s/Period) ≤ L + 1
//
// [ForWindow] picks Burst = L/30 (at least 2) and Rate = L − 2·Burst: for Persona's
// default 300 a minute, 280 a minute with bursts of 10 ([PersonaDefault]).
// That leaves 10 requests for the spread, over two seconds of it, and uses
// about 93% of the budget. A client, dashboard or script that uses the same
// API key without this limiter spends the same budget unseen: lower Rate by
// what it sends. If Persona raised your limit, use ForWindow with it.
//
// # When Redis is unreachable
//
// By default a Limiter fails open: Take lets the request go, so that a Redis
// outage does not stop calls to Persona. Each client still paces itself by
// the RateLimit headers of its responses and retries a 429 after the wait
// Persona asks for; expect some 429s while Redis is down. [WithFailClosed]
// makes Take return the error instead, failing the call before anything is
// sent. Either way every failure counts in [Limiter.Errors] and is passed
// to the [WithOnError] callback, and [WithTimeout] bounds how long one
// Redis round trip may delay a call.
//
// # Usage
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	limiter, err := redislimit.New(rdb, "persona:production", redislimit.PersonaDefault,
//		redislimit.WithOnError(func(err error) { slog.Warn("rate limiter", "err", err) }))
//	if err != nil { ... }
//	client, err := connect.NewClient(apiKey, connect.WithRateLimiter(limiter))
//
// Every replica names the same budget. Name it after the Persona
// environment, never with the API key: Redis keys are not secret.
package redislimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	connect "github.com/personaconnect/connect-go"
)

// Limit is Rate requests per Period, evenly spaced, with bursts of up to
// Burst requests at once after a quiet spell. See the package
// documentation on choosing it.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PersonaDefault is the limit for Persona's default rate limit, 300 requests
// a minute: ForWindow(300, time.Minute), 280 a minute with bursts of 10.
var PersonaDefault = ForWindow(300, time.Minute)

// ForWindow is the limit for a server that allows limit requests in each
// fixed window: bursts of limit/30 (at least 2), and a rate of limit less
// twice the burst per window. No window then counts more than limit while
// the spread of the latency to the server stays under (burst+1)/rate of a
// window: over two seconds of a minute for 300 (280 a minute, bursts of
// 10), 65ms of a second for 50 (46 a second, bursts of 2). A burst of at
// least 2 keeps a Take that comes a little late from losing its turn for
// good. Below a limit of 5 the rate is not positive, and New refuses it.
func ForWindow(limit int, window time.Duration) Limit {
	burst := max(limit/30, 2)
	return Limit{Rate: limit - 2*burst, Period: window, Burst: burst}
}

func (l Limit) check() error {
	if l.Rate < 1 || l.Period <= 0 || l.Burst < 1 {
		return fmt.Errorf("redislimit: the limit needs a Rate, Period and Burst above zero, got %+v", l)
	}
	return nil
}

// DefaultTimeout bounds one Redis round trip of Take unless [WithTimeout]
// says otherwise.
const DefaultTimeout = 250 * time.Millisecond

// An Option configures a Limiter in [New].
type Option func(*Limiter)

// WithFailClosed makes Take return Redis's error, so that the call fails
// before anything is sent, instead of letting the request go (the default).
func WithFailClosed() Option {
	return func(l *Limiter) { l.failClosed = true }
}

// WithOnError calls f with every error of Redis that Take meets, before it
// fails open or closed; f must be safe for concurrent use and quick, since
// the call waits for it. A cancelled or expired context of the call is not
// Redis's error and is not passed.
func WithOnError(f func(err error)) Option {
	return func(l *Limiter) { l.onError = f }
}

// WithTimeout bounds one Redis round trip of Take (default [DefaultTimeout]):
// a Redis that does not answer in time counts as unreachable. The call's
// context bounds it too. d ≤ 0 leaves only the call's context and the Redis
// client's own timeouts.
func WithTimeout(d time.Duration) Option {
	return func(l *Limiter) { l.timeout = d }
}

// Limiter is a [connect.RateLimiter] whose budget lives in Redis under one
// key, shared by every Limiter with the same budget name and Redis. It is
// safe for concurrent use.
type Limiter struct {
	rl         *redis_rate.Limiter
	budget     string
	limit      redis_rate.Limit
	failClosed bool
	onError    func(error)
	timeout    time.Duration
	errors     atomic.Uint64
}

var _ connect.RateLimiter = (*Limiter)(nil)

// New returns a Limiter that keeps the budget named budget, such as
// "persona:production", in rdb, under the Redis key "rate:" + budget.
// Every client that shares the API key must use the same name and limit.
// New checks its arguments only; it does not reach Redis.
//
// New refuses a nil rdb, an empty budget, a budget that looks like a
// Persona API key (it begins with "persona_": the name is stored in Redis
// in the clear) and a limit without a positive Rate, Period and Burst.
func New(rdb redis.UniversalClient, budget string, limit Limit, opts ...Option) (*Limiter, error) {
	switch {
	case rdb == nil:
		return nil, errors.New("redislimit: the Redis client is nil")
	case budget == "":
		return nil, errors.New("redislimit: the budget name is empty")
	case strings.HasPrefix(budget, "persona_"):
		return nil, errors.New("redislimit: the budget name looks like a Persona API key; name the environment instead, such as \"persona:production\"")
	}
	if err := limit.check(); err != nil {
		return nil, err
	}
	l := &Limiter{
		rl:      redis_rate.NewLimiter(rdb),
		budget:  budget,
		limit:   redis_rate.Limit{Rate: limit.Rate, Period: limit.Period, Burst: limit.Burst},
		timeout: DefaultTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(l)
		}
	}
	return l, nil
}

// Take asks Redis to let one request go now. It returns 0 when the request
// may go, having taken it from the budget, or how long until the budget
// allows one, having taken nothing. When Redis fails (unreachable, too
// slow, an error reply), Take counts the failure, calls the WithOnError
// callback, and returns 0 and no error; with WithFailClosed it returns the
// error instead. A context that ended is returned as its error, whatever
// the policy.
func (l *Limiter) Take(ctx context.Context) (time.Duration, error) {
	rctx := ctx
	if l.timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, l.timeout)
		defer cancel()
	}
	res, err := l.rl.Allow(rctx, l.budget, l.limit)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		err = fmt.Errorf("redislimit: budget %q: %w", l.budget, err)
		l.errors.Add(1)
		if l.onError != nil {
			l.onError(err)
		}
		if l.failClosed {
			return 0, err
		}
		return 0, nil
	}
	if res.Allowed > 0 {
		return 0, nil
	}
	// A wait rounded to nothing must still be a wait: nothing was taken.
	return max(res.RetryAfter, time.Millisecond), nil
}

// Errors is the number of times Take met a Redis failure since New, failing
// open or closed: a gauge of how often the shared budget was not in force.
func (l *Limiter) Errors() uint64 { return l.errors.Load() }
