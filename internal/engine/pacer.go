package engine

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// pacer holds every call of one client once the server has said that no
// request is left in the current rate-limit window, until that window ends.
// Spending requests on certain 429s would only lengthen the wait.
type pacer struct {
	until atomic.Int64 // unix nanoseconds; zero or past means go
}

// observe records the end of the window when a response reports that it is
// exhausted.
func (p *pacer) observe(h http.Header, now time.Time) {
	if h.Get("RateLimit-Remaining") != "0" {
		return
	}
	secs, err := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err != nil || secs <= 0 {
		return
	}
	end := now.Add(seconds(secs)).UnixNano()
	for {
		cur := p.until.Load()
		if cur >= end || p.until.CompareAndSwap(cur, end) {
			return
		}
	}
}

// remaining is how long calls must still hold.
func (p *pacer) remaining(now time.Time) time.Duration {
	until := p.until.Load()
	if until == 0 {
		return 0
	}
	return max(time.Unix(0, until).Sub(now), 0)
}

// hold blocks until the window resets, for at most limit, or until ctx ends.
func (p *pacer) hold(ctx context.Context, limit time.Duration) error {
	wait := min(p.remaining(time.Now()), limit)
	if wait <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
