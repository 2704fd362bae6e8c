package engine

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// pacer spaces the attempts of every call of one client so that they stay
// within the server's rate-limit window instead of spending requests on
// certain 429s. It keeps an estimate of the requests left in the window and
// of when the window ends, both from the responses' RateLimit-Remaining and
// RateLimit-Reset: the count is the lowest any response of the window
// reported, less the attempts in flight when it was observed (the server may
// not have counted them yet), less the attempts started since. Responses
// arrive out of order, so a higher count later is not believed until the
// window is over. While the estimate is zero, attempts hold until the
// window's end; after it, nothing is known until the next response.
type pacer struct {
	mu       sync.Mutex
	end      time.Time // when the window the estimate belongs to resets
	left     int       // requests left in the window, as estimated
	known    bool      // left and end describe a window that has not ended
	inflight int       // attempts started whose outcome is not observed yet
}

// observe takes the server's word on the window from a response's headers.
// A response that says the window is spent never moves its end earlier.
func (p *pacer) observe(h http.Header, now time.Time) {
	// Canonical spellings (Ratelimit-…): Get would allocate to canonicalize
	// RateLimit-…, and observe runs on every response.
	remaining, err := strconv.Atoi(h.Get("Ratelimit-Remaining"))
	if err != nil || remaining < 0 {
		return
	}
	secs, err := strconv.ParseInt(h.Get("Ratelimit-Reset"), 10, 64)
	if err != nil || secs <= 0 {
		return
	}
	end := now.Add(seconds(secs))
	p.mu.Lock()
	defer p.mu.Unlock()
	left := max(remaining-p.inflight, 0)
	switch {
	case !p.known || !now.Before(p.end):
		p.known, p.end, p.left = true, end, left
	default:
		p.left = min(p.left, left)
		if remaining == 0 && end.After(p.end) {
			p.end = end
		}
	}
}

// done records that an attempt started by acquire has an outcome: its
// response (to be observed next) or a transport error.
func (p *pacer) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = max(p.inflight-1, 0)
}

// remaining is how long attempts must still hold.
func (p *pacer) remaining(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitLocked(now)
}

func (p *pacer) waitLocked(now time.Time) time.Duration {
	if !p.known {
		return 0
	}
	if !now.Before(p.end) {
		p.known = false // the window is over: nothing is known of the next
		return 0
	}
	if p.left > 0 {
		return 0
	}
	return p.end.Sub(now)
}

// acquire blocks until an attempt may be sent, for at most limit in all, or
// until ctx ends, and then counts the attempt as in flight: every nil return
// must be followed by done once the attempt has an outcome.
func (p *pacer) acquire(ctx context.Context, limit time.Duration) error {
	var giveUp time.Time // when the hold has lasted limit
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p.mu.Lock()
		now := time.Now()
		if giveUp.IsZero() {
			giveUp = now.Add(limit)
		}
		wait := min(p.waitLocked(now), giveUp.Sub(now))
		if wait <= 0 {
			if p.known && p.left > 0 {
				p.left--
			}
			p.inflight++
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
