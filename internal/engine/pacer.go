package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrRateLimited is the root package's ErrRateLimited, defined here so that
// the engine's own errors can match it.
var ErrRateLimited = errors.New("connect: rate limited")

// PacingError reports a call that the pacer refused to hold: the window is
// spent and waiting for its reset would outlast the call's context or
// MaxRateLimitWait. Nothing was sent. It matches ErrRateLimited.
type PacingError struct {
	// Wait is how long the call would have had to hold.
	Wait time.Duration
	// Bound names what the wait exceeds, such as "the 700ms left before the
	// context's deadline" or "WithMaxRateLimitWait (10s)".
	Bound string
}

func (e *PacingError) Error() string {
	return fmt.Sprintf("rate limited: the window is spent and resets in %s, beyond %s; not sent", e.Wait, e.Bound)
}

// Is reports whether target is ErrRateLimited.
func (e *PacingError) Is(target error) bool { return target == ErrRateLimited }

// pacer spaces the attempts of every call of one client so that they stay
// within the server's rate-limit window instead of spending requests on
// certain 429s.
//
// Its estimate is the server's word, less what the server may not have
// counted yet; it never keeps a count of its own against the server's (a
// server that says 3 are left on every response never has a call held).
// Each response sets it: requests left = the lowest RateLimit-Remaining
// reported in the window (the server's count only falls within a window;
// a response that was slow on its way reports an older, higher count) less
// the client's other attempts still in flight (each may or may not have
// been counted; the estimate assumes not), and the window's end from the
// response's RateLimit-Reset. Attempts are numbered as they are admitted:
// a response to an attempt older than the latest observed, or admitted
// before the window ended, says nothing of the current window. Each
// admission spends one request of the estimate; while none is left,
// attempts hold until the window's end or the next response, whichever
// comes first. After the end, nothing is known until the next response,
// and attempts go freely.
//
// RateLimit-Reset counts whole seconds, rounded up, from when the server
// counted the request: some time between the attempt's start and its
// response. The end is taken from the attempt's start (so that a response's
// travel time does not push every window later than the last), and an end
// reported within the same window replaces the estimate when it is earlier
// (the more precise) or at least a second later (the server moved the
// window), not when rounding alone made it later.
type pacer struct {
	mu       sync.Mutex
	admitted uint64        // attempts admitted so far; the last one's number
	basis    uint64        // the number of the attempt whose response set the estimate
	inflight int           // attempts admitted whose outcome is not known yet
	low      int           // the lowest RateLimit-Remaining reported in the window
	left     int           // requests left in the window, as estimated
	end      time.Time     // when the window resets, as estimated; zero: unknown
	changed  chan struct{} // closed when a response changes the estimate
}

// done records that attempt seq, started at sent, has an outcome: rl is
// what its response said of the window (nothing for a transport error).
func (p *pacer) done(seq uint64, rl RateLimit, sent, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = max(p.inflight-1, 0)
	if !rl.HasRemaining || !rl.HasReset || seq < p.basis {
		return
	}
	p.basis = seq
	newWindow := p.end.IsZero() || !now.Before(p.end)
	if newWindow || rl.Remaining < p.low {
		p.low = rl.Remaining
	}
	p.left = max(p.low-p.inflight, 0)
	end := sent.Add(rl.Reset)
	if newWindow || end.Before(p.end) || end.Sub(p.end) >= time.Second {
		p.end = end
	}
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// waitLocked is how long an attempt must hold at now.
func (p *pacer) waitLocked(now time.Time) time.Duration {
	if p.end.IsZero() {
		return 0
	}
	if !now.Before(p.end) {
		// The window is over: nothing is known of the next, and the
		// responses to attempts admitted so far speak of the old one.
		p.end = time.Time{}
		p.basis = p.admitted + 1
		return 0
	}
	if p.left > 0 {
		return 0
	}
	return p.end.Sub(now)
}

// remaining is how long attempts must still hold.
func (p *pacer) remaining(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitLocked(now)
}

// acquire admits an attempt and returns its number: done must follow once
// the attempt has an outcome. It holds
// while the window is spent, for at most limit in all and never past ctx's
// deadline: a hold that would last longer is not begun, and acquire returns
// a *PacingError at once.
func (p *pacer) acquire(ctx context.Context, limit time.Duration) (uint64, error) {
	var giveUp time.Time // when the hold has lasted limit
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		p.mu.Lock()
		now := time.Now()
		if giveUp.IsZero() {
			giveUp = now.Add(limit)
		}
		wait := p.waitLocked(now)
		if wait <= 0 {
			if !p.end.IsZero() {
				p.left--
			}
			p.admitted++
			p.inflight++
			seq := p.admitted
			p.mu.Unlock()
			return seq, nil
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		changed := p.changed
		p.mu.Unlock()
		if err := holdAllowed(ctx, wait, giveUp.Sub(now), limit); err != nil {
			return 0, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// holdAllowed refuses a hold of wait that would outlast what is left of the
// limit, or of ctx before its deadline.
func holdAllowed(ctx context.Context, wait, left, limit time.Duration) error {
	if wait > left {
		return &PacingError{Wait: wait, Bound: fmt.Sprintf("WithMaxRateLimitWait (%s)", limit)}
	}
	if deadline, ok := ctx.Deadline(); ok {
		if until := time.Until(deadline); wait > until {
			return &PacingError{Wait: wait, Bound: fmt.Sprintf("the %s left before the context's deadline", until.Round(time.Millisecond))}
		}
	}
	return nil
}
