// Package engine is the single request pipeline behind every connect-go call:
// one HTTP exchange with retries, waits, rate-limit pacing and capped body
// reads. It knows nothing about Persona's resources; the root package builds
// the request and interprets the result.
//
// A call is one loop (see [Engine.Do]) whose every attempt goes through the
// same steps, each in one place: acquire (the shared limiter, if any, and
// then the pacer admit the attempt, limiter.go and pacer.go), send (send, below), read (readBody, body.go), classify
// (classify, policy.go), and wait (pause and sleep, wait.go); each attempt is
// logged once, after its outcome is decided (log.go).
//
// The loop is the engine's own rather than go-retryablehttp's Client, whose
// hooks cannot express this policy without bending them: which statuses are
// retried depends on the method, every attempt passes a pacer shared by all
// calls, a server's wait beyond the cap ends the call at once, and a body is
// read through a cap before the call can be judged. go-retryablehttp remains
// the judge of transport errors: its DefaultRetryPolicy knows the errors
// net/http reports that no retry can fix (a redirect loop, an unsupported
// scheme, an invalid header, an untrusted certificate), and classify adds
// the ones it does not know (see retryableError).
package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Config holds the policy knobs of an Engine. The zero value is not useful;
// the root package fills every field.
type Config struct {
	// HTTPClient sends each attempt. Its transport bounds one attempt by
	// Timeout, its CheckRedirect must refuse redirects.
	HTTPClient *http.Client
	// Timeout is the per-attempt timeout, named in the error of an attempt
	// that ran out of it, with TimeoutOption, the option it came from
	// ("WithTimeout" if empty).
	Timeout       time.Duration
	TimeoutOption string
	// MaxRetries is how many times a failed attempt may be repeated.
	MaxRetries int
	// RetryWaitMin and RetryWaitMax bound the backoff between attempts.
	RetryWaitMin, RetryWaitMax time.Duration
	// MaxRateLimitWait caps a server-directed wait and rate-limit pacing.
	MaxRateLimitWait time.Duration
	// MaxBodySize caps a 2xx body, MaxErrorBodySize any other body.
	MaxBodySize, MaxErrorBodySize int64
	// Logger receives one debug record per attempt; nil disables logging.
	Logger *slog.Logger
	// Limiter, if not nil, admits every attempt before the pacer does.
	Limiter Limiter
}

// Request is one logical call. Body is sent on every attempt unchanged, and
// so is Header, Idempotency-Key included. Do takes Header over: the caller
// must not use or change it afterwards.
type Request struct {
	Method string
	URL    string
	// Path names the call in logs and errors; it never carries secrets.
	Path   string
	Header http.Header
	Body   []byte
}

// Result is the final response of a call, its body already read and closed.
type Result struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// Attempts counts every attempt that was sent, the first one included.
	Attempts int
}

// Engine executes requests. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	pacer pacer
}

// New returns an Engine with the given configuration.
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg}
}

// Do sends r, retrying as the policy allows, and returns the final response.
// A non-2xx status is not an error here: the caller interprets it. The error
// is non-nil only when no usable response arrived (transport failure, body
// over the cap, cancelled context, a pacing hold the call cannot afford, the
// limiter's error or a wait of its that the call cannot afford);
// Attempts is reported in every case.
func (e *Engine) Do(ctx context.Context, r *Request) (*Result, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bodyReader(r.Body))
	if err != nil {
		return &Result{}, err
	}
	req.Header = r.Header // built for this call alone: no copy needed
	res := &Result{}
	pacing := e.cfg.MaxRateLimitWait // how long the pacer may hold the next attempt
	for n := 1; ; n++ {
		if err := e.limit(ctx, pacing); err != nil {
			return res, err
		}
		seq, err := e.pacer.acquire(ctx, pacing)
		if err != nil {
			return res, err
		}
		res.Attempts = n
		start := time.Now()
		resp, err := e.send(req, n)
		now := time.Now() // the pacer learns of the window as the headers arrive
		e.pacer.done(seq, rateLimitOf(resp, now), start, now)
		var body []byte
		if resp != nil {
			body, err = e.readBody(resp)
		}
		next := e.decide(ctx, r.Method, n, resp, err)
		e.logAttempt(ctx, r, n, start, resp, err, next)
		if !next.retry {
			return e.finish(ctx, res, resp, body, err)
		}
		if err := sleep(ctx, next.wait); err != nil {
			return res, err
		}
		// The wait held for pacing already; a response that spends the
		// window again meanwhile may hold the retry for the rest of the cap.
		pacing = e.cfg.MaxRateLimitWait - next.paced
	}
}

// bodyReader keeps a nil body a nil interface, so that no Content-Length: 0
// body is sent on requests without one.
func bodyReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// send makes attempt n of req. A retry is sent as a shallow copy with its
// body rewound: the transport may still hold the last attempt's request. A
// response is returned only without an error.
func (e *Engine) send(req *http.Request, n int) (*http.Response, error) {
	if n > 1 && req.GetBody != nil {
		retry := *req
		retry.Body, _ = req.GetBody() // a bytes.Reader's never fails
		req = &retry
	}
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err // any response here has its body closed already
	}
	return resp, nil
}

// rateLimitOf is what a response says of the rate-limit window; nothing
// without one.
func rateLimitOf(resp *http.Response, now time.Time) RateLimit {
	if resp == nil {
		return RateLimit{}
	}
	return ParseRateLimit(resp.Header, now)
}

// finish ends the call with its last attempt: the response, or the error
// that left none usable. A response read after the context ended is not
// used: the caller has gone.
func (e *Engine) finish(ctx context.Context, res *Result, resp *http.Response, body []byte, err error) (*Result, error) {
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return res, e.explain(ctx, err)
	}
	res.StatusCode, res.Header, res.Body = resp.StatusCode, resp.Header, body
	return res, nil
}

// explain names the per-attempt timeout when it, not the caller's context,
// ended the last attempt: both read "context deadline exceeded" otherwise.
func (e *Engine) explain(ctx context.Context, err error) error {
	var netErr net.Error
	if ctx.Err() == nil && errors.As(err, &netErr) && netErr.Timeout() {
		option := e.cfg.TimeoutOption
		if option == "" {
			option = "WithTimeout"
		}
		return fmt.Errorf("attempt timed out after %s (%s): %w", e.cfg.Timeout, option, err)
	}
	return err
}
