package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// call is one Engine.Do in progress: the retryablehttp client whose hooks
// are its methods, and the call's state. retryablehttp calls the hooks from
// a single goroutine, so it needs no locking. Calls are pooled by their
// Engine: the client and its five hooks are built once per call value, not
// once per request.
type call struct {
	engine   *Engine
	rc       retryablehttp.Client
	readBody retryablehttp.ResponseHandlerFunc // c.readFinalBody, bound once
	callState
}

// callState is what one request sets; reset clears all of it at once, so a
// field added here cannot leak from one request into the next.
type callState struct {
	method string
	path   string

	attempts     int
	attemptStart time.Time
	bodyRead     bool
	body         []byte
	seq          uint64 // the pacer's number for the attempt in flight
	nextWait     time.Duration
	pacedWait    time.Duration // the part of nextWait that is rate-limit pacing
}

func newCall(e *Engine) *call {
	c := &call{engine: e}
	c.rc = retryablehttp.Client{
		HTTPClient:     e.cfg.HTTPClient,
		RetryWaitMin:   e.cfg.RetryWaitMin,
		RetryWaitMax:   e.cfg.RetryWaitMax,
		RetryMax:       e.cfg.MaxRetries,
		RequestLogHook: c.attemptStarted,
		CheckRetry:     c.checkRetry,
		Backoff:        c.backoff,
		ErrorHandler:   c.giveUp,
		PrepareRetry:   c.pace,
	}
	c.readBody = c.readFinalBody
	return c
}

// getCall takes a call from the pool, or makes one, for request r.
func (e *Engine) getCall(r *Request) *call {
	c, ok := e.calls.Get().(*call)
	if !ok {
		c = newCall(e)
	}
	c.method, c.path = r.Method, r.Path
	return c
}

// putCall returns a finished call to the pool. Nothing may hold c after: its
// body has been handed to the Result already.
func (e *Engine) putCall(c *call) {
	c.callState = callState{}
	e.calls.Put(c)
}

func (c *call) attemptStarted(_ retryablehttp.Logger, _ *http.Request, _ int) {
	c.attempts++
	c.attemptStart = time.Now()
	c.bodyRead = false
}

// checkRetry decides, after each attempt, whether another one follows, and
// if so how long to wait first. retryablehttp calls it a second time for the
// same attempt once readFinalBody has run; the decision then only concerns errors
// from reading the body.
func (c *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if !c.bodyRead {
		// The attempt has its outcome: it no longer counts as in flight,
		// and its rate-limit headers update the pacer.
		now := time.Now()
		var rl RateLimit
		if resp != nil {
			rl = ParseRateLimit(resp.Header, now)
		}
		c.engine.pacer.done(c.seq, rl, c.attemptStart, now)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if err == nil {
			err = ctxErr
		}
		return false, err
	}
	if c.bodyRead && err == nil {
		return false, nil
	}
	if !c.bodyRead {
		c.observe(ctx, resp, err)
	}
	if !retryable(c.method, resp, err) || c.attempts > c.engine.cfg.MaxRetries {
		return false, err
	}
	// A wait the call cannot afford is not begun: the last response (or
	// transport error) is the outcome.
	wait, ok := c.waitBefore(resp)
	if !ok {
		return false, err
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return false, err
	}
	c.nextWait = wait
	return true, nil
}

// pace admits a retry through the rate-limit pacing. The wait before it
// normally held for any pacing already; if a response observed meanwhile
// spent the window again, the two holds together stay within
// MaxRateLimitWait.
func (c *call) pace(req *http.Request) error {
	seq, err := c.engine.pacer.acquire(req.Context(), max(c.engine.cfg.MaxRateLimitWait-c.pacedWait, 0))
	c.seq = seq
	return err
}

// observe logs what one attempt produced.
func (c *call) observe(ctx context.Context, resp *http.Response, err error) {
	now := time.Now()
	log := c.engine.cfg.Logger
	if log == nil || !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", c.method),
		slog.String("path", c.path),
		slog.Int("attempt", c.attempts),
		slog.Duration("duration", now.Sub(c.attemptStart)),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("Request-Id")))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "connect: attempt", attrs...)
}

// waitBefore is the pause before the next attempt: the server's hint on 429
// and 503, otherwise jittered backoff, and never less than the rate-limit
// pacing asks for. ok is false when the server's hint or the pacing asks
// for more than MaxRateLimitWait: retrying earlier than the server said
// would only be refused again, so the call gives up instead.
func (c *call) waitBefore(resp *http.Response) (wait time.Duration, ok bool) {
	cfg := &c.engine.cfg
	now := time.Now()
	c.pacedWait = 0
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if hint, ok := ServerWait(resp.Header, resp.StatusCode, now); ok {
			return hint, hint <= cfg.MaxRateLimitWait
		}
	}
	wait = backoff(cfg.RetryWaitMin, cfg.RetryWaitMax, c.attempts-1)
	if paced := c.engine.pacer.remaining(now); paced > wait {
		wait = paced
		c.pacedWait = paced
	}
	return wait, c.pacedWait <= cfg.MaxRateLimitWait
}

func (c *call) backoff(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	return c.nextWait
}

// giveUp hands back the transport error of the last attempt; any response
// body has been read or is closed here so that no connection leaks.
func (c *call) giveUp(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil && !c.bodyRead {
		resp.Body.Close()
	}
	if err == nil {
		err = errors.New("request failed")
	}
	return nil, err
}
