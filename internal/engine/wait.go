package engine

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"
)

// pause is the wait before the retry of attempt n, which ended with resp
// (nil if none arrived): the server's hint on 429 and 503, otherwise
// jittered backoff, and never less than the rate-limit pacing asks for;
// paced is the part of it that pacing asked for. A wait the call cannot
// afford is not begun, and refused says why: a server's hint or pacing
// beyond MaxRateLimitWait (retrying earlier than the server said would
// only be refused again), or a wait past the context's deadline.
func (e *Engine) pause(ctx context.Context, n int, resp *http.Response) (wait, paced time.Duration, refused string) {
	cfg := &e.cfg
	now := time.Now()
	hint, hinted := time.Duration(0), false
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		hint, hinted = ServerWait(resp.Header, resp.StatusCode, now)
	}
	switch {
	case hinted:
		if hint > cfg.MaxRateLimitWait {
			return 0, 0, "server's wait beyond WithMaxRateLimitWait"
		}
		wait = hint
	default:
		wait = backoff(cfg.RetryWaitMin, cfg.RetryWaitMax, n-1)
		if p := e.pacer.remaining(now); p > wait {
			if p > cfg.MaxRateLimitWait {
				return 0, 0, "pacing beyond WithMaxRateLimitWait"
			}
			wait, paced = p, p
		}
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
		return 0, 0, "wait beyond the context's deadline"
	}
	return wait, paced, ""
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is full-jitter exponential backoff kept between the bounds: a
// uniform pick in [lo, min(hi, lo·2^retry)].
func backoff(lo, hi time.Duration, retry int) time.Duration {
	if lo <= 0 {
		return 0
	}
	ceiling := hi
	if retry < 32 && lo<<retry > 0 && lo<<retry < hi {
		ceiling = lo << retry
	}
	if ceiling <= lo {
		return lo
	}
	return lo + rand.N(ceiling-lo+1)
}

// ServerWait is the wait a response asks for: Retry-After (seconds or an
// HTTP date) first, then, on a 429 or when no request is left in the
// window, RateLimit-Reset as ResetWait reads it. ok is false when the
// response names none. An absurd Retry-After saturates into a very long
// wait rather than failing: the caller compares it with its limits.
func ServerWait(h http.Header, status int, now time.Time) (wait time.Duration, ok bool) {
	if v := first(h, "Retry-After"); v != "" {
		if secs, ok := parseCount(v); ok {
			return seconds(secs), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	rl := ParseRateLimit(h, now)
	if rl.HasReset && (status == http.StatusTooManyRequests || rl.HasRemaining && rl.Remaining == 0) {
		return rl.Reset, true
	}
	return 0, false
}

// seconds converts without overflowing: absurd hints become a very long
// wait, which the caller caps.
func seconds(n int64) time.Duration {
	const maxSecs = int64(1<<63-1) / int64(time.Second)
	if n > maxSecs {
		n = maxSecs
	}
	return time.Duration(n) * time.Second
}
