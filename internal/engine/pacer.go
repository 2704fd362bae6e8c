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
// Its estimate is the server's latest word, less what the server cannot
// have counted yet. Attempts are numbered in the order the pacer admits
// them; the response to the highest-numbered attempt observed so far sets
// the estimate: requests left = its RateLimit-Remaining less the attempts
// admitted after it (they may not have reached the server yet), and the
// window's end = now + its RateLimit-Reset. A response to an older attempt
// (overtaken in flight) is stale and changes nothing. Each admission then
// spends one request of the estimate; while none is left, attempts hold
// until the window's end, after which nothing is known until the next
// response, and attempts go freely.
//
// RateLimit-Reset is whole seconds, rounded up by the server, so each end is
// up to a second late. Ends reported within the same window are therefore
// compared: an earlier one is the more precise and replaces the estimate; a
// later one replaces it only when it is at least a second later (the server
// moved the window). This releases held attempts within milliseconds of the
// real reset even when the window is as short as a second.
type pacer struct {
	mu       sync.Mutex
	admitted uint64    // attempts admitted so far; the last one's number
	basis    uint64    // the number of the attempt whose response set the estimate
	left     int       // requests left in the window, as estimated
	end      time.Time // when the window resets, as estimated; zero: unknown
}

// observe takes the server's word on the window from a response to attempt
// number seq.
func (p *pacer) observe(seq uint64, rl RateLimit, now time.Time) {
	if !rl.HasRemaining || !rl.HasReset {
		return
	}
	end := now.Add(rl.Reset)
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq < p.basis {
		return
	}
	p.basis = seq
	p.left = max(rl.Remaining-int(p.admitted-min(seq, p.admitted)), 0)
	if p.end.IsZero() || !now.Before(p.end) || end.Before(p.end) || end.Sub(p.end) >= time.Second {
		p.end = end
	}
}

// waitLocked is how long an attempt must hold at now.
func (p *pacer) waitLocked(now time.Time) time.Duration {
	if p.end.IsZero() {
		return 0
	}
	if !now.Before(p.end) {
		p.end = time.Time{} // the window is over: nothing is known of the next
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

// acquire admits an attempt and returns its number for observe. It holds
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
			seq := p.admitted
			p.mu.Unlock()
			return seq, nil
		}
		p.mu.Unlock()
		if err := holdAllowed(ctx, wait, giveUp.Sub(now), limit); err != nil {
			return 0, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
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
