// Package engine is the single request pipeline behind every connect-go call:
// one HTTP exchange with retries, waits, rate-limit pacing and capped body
// reads. It knows nothing about Persona's resources; the root package builds
// the request and interprets the result.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
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
	calls sync.Pool // of *call, see getCall
}

// New returns an Engine with the given configuration.
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg}
}

// Do sends r, retrying as the policy allows, and returns the final response.
// A non-2xx status is not an error here: the caller interprets it. The error
// is non-nil only when no usable response arrived (transport failure, body
// over the cap, cancelled context); Attempts is reported in both cases.
func (e *Engine) Do(ctx context.Context, r *Request) (*Result, error) {
	c := e.getCall(r)
	defer e.putCall(c)
	req, err := retryablehttp.NewRequestWithContext(ctx, r.Method, r.URL, bodyArg(r.Body))
	if err != nil {
		return &Result{}, err
	}
	req.Header = r.Header // built for this call alone: no copy needed
	req.SetResponseHandler(c.readBody)
	// The pacer admits the first attempt here and each retry in
	// PrepareRetry; checkRetry reports every attempt's outcome back.
	seq, err := e.pacer.acquire(ctx, e.cfg.MaxRateLimitWait)
	if err != nil {
		return &Result{}, err
	}
	c.seq = seq
	resp, err := c.rc.Do(req)
	res := &Result{Attempts: c.attempts}
	if err != nil {
		return res, e.explain(ctx, err)
	}
	res.StatusCode = resp.StatusCode
	res.Header = resp.Header
	res.Body = c.body
	return res, nil
}

// bodyArg keeps a nil body a nil interface, so that no Content-Length: 0
// body is sent on requests without one.
func bodyArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
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
