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
// MaxRateLimitWait; or, with Limiter set, that the shared limiter asked for
// such a wait. Nothing was sent. It matches ErrRateLimited.
type PacingError struct {
	// Wait is how long the call would have had to hold.
	Wait time.Duration
	// Bound names what the wait exceeds, such as "the 700ms left before the
	// context's deadline" or "WithMaxRateLimitWait (10s)".
	Bound string
	// Limiter is true when the wait was the shared limiter's (see
	// Limiter), not the pacer's.
	Limiter bool
}

func (e *PacingError) Error() string {
	if e.Limiter {
		return fmt.Sprintf("rate limited: the shared rate limiter (WithRateLimiter) asks to wait %s, beyond %s; not sent", e.Wait, e.Bound)
	}
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
//
// Requests left = the lowest RateLimit-Remaining reported in the window
// less the client's attempts still in flight. Within a window the server's
// count only rises, so a higher Remaining is an older count that was slow
// on its way; and every request the server counted beyond the lowest
// Remaining is one whose response has not arrived, so the estimate never
// exceeds what is truly left (other clients of the same account aside).
// Each admission spends one request of the estimate; while none is left,
// attempts hold until the window's end or the next response, whichever
// comes first.
//
// The window's end is the latest it can be: RateLimit-Reset counts whole
// seconds, rounded up, from when the server counted the request, which is
// no later than the response's arrival, so the window ends by arrival +
// Reset; the earliest such bound of the window is kept. Holding until a
// bound that cannot be early means no attempt released by the end reaches
// the server before the window resets (the certain 429s of an estimate
// that is early by a network latency). A response whose Reset must start
// after that bound (its lowest possible end, attempt start + Reset - 1s, is
// past it) is from a later window: the server moved the window, or a long
// window's bound was late by its rounding. So is one that reports no fewer
// left than the lowest count although its attempt was admitted after that
// count was reported (see laterWindow).
//
// Once the end has passed, nothing is known of the next window until an
// attempt admitted after it is answered: the responses to attempts admitted
// before may have been counted in the old window (a late 0 would stall the
// new window), so they are not read. If the window was spent, one attempt
// probes the next first (see waitLocked); otherwise attempts go freely.
type pacer struct {
	mu       sync.Mutex
	admitted uint64        // attempts admitted so far; the last one's number
	first    uint64        // the first attempt whose response can speak of the window
	inflight int           // attempts admitted whose outcome is not known yet
	low      int           // the lowest RateLimit-Remaining reported in the window
	lowSeq   uint64        // the last attempt admitted when that was reported
	left     int           // requests left in the window, as estimated
	end      time.Time     // the latest the window can end; zero: unknown
	rtt      time.Duration // the longest round trip of the window's responses
	// probe: the first attempt after a spent window goes alone; until
	// probeUntil (set when it is admitted) the others wait for its answer.
	probe      bool
	probeUntil time.Time
	changed    chan struct{} // closed when a response changes the estimate
}

// done records that attempt seq, started at sent, has an outcome, known at
// now: rl is what its response said of the window (nothing for a
// transport error).
func (p *pacer) done(seq uint64, rl RateLimit, sent, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight = max(p.inflight-1, 0)
	// Any outcome of an attempt since the window's end ends the probe:
	// its headers say what the next window is, and an attempt that failed
	// without any must not hold the others.
	probe := p.probe && seq >= p.first
	if seq >= p.first {
		p.probe = false
	}
	if !rl.HasRemaining || !rl.HasReset || seq < p.first {
		return
	}
	end := now.Add(rl.Reset)
	if p.laterWindow(seq, rl, sent) {
		p.low, p.lowSeq, p.end = rl.Remaining, p.admitted, end
		p.rtt = now.Sub(sent)
	} else {
		p.rtt = max(p.rtt, now.Sub(sent))
		if rl.Remaining < p.low {
			p.low, p.lowSeq = rl.Remaining, p.admitted
		}
		p.end = minTime(p.end, end)
	}
	if probe && rl.Remaining == 0 {
		// The window the last end was taken for is still spent: that end
		// was an earlier window's. This window ends within the second
		// that Reset rounded up; probe again in the middle of it rather
		// than hold until its end, which may be most of a window late.
		p.end = sent.Add(rl.Reset - time.Second + (now.Sub(sent)+time.Second)/2)
	}
	p.left = max(p.low-p.inflight, 0)
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// laterWindow reports whether a response that says rl, to attempt seq
// started at sent, speaks of a later window than the estimate.
func (p *pacer) laterWindow(seq uint64, rl RateLimit, sent time.Time) bool {
	switch {
	case p.end.IsZero():
		return true // nothing is known
	case !sent.Add(rl.Reset - time.Second).Before(p.end):
		// The least its window can last ends after the latest the
		// estimate's window can: a long window whose bound was late by
		// the rounding, or a server that moved its window.
		return true
	case seq > p.lowSeq && rl.Remaining >= p.low && rl.Remaining > 0:
		// Counted after the lowest count (its attempt was admitted once
		// that count was reported), yet not lower: the count restarted. This
		// is what tells windows apart when Reset is a whole window ("1"
		// in a one-second window): a bound from the last window must not
		// end this one early. (A 429's 0 proves nothing: it is clamped.)
		return true
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waitLocked is how long an attempt must hold at now.
func (p *pacer) waitLocked(now time.Time) time.Duration {
	if !p.end.IsZero() && !now.Before(p.end) {
		// The window is over: nothing is known of the next, and the
		// responses to attempts admitted so far may speak of the old one.
		// If it was spent, the first attempt after it goes alone: when
		// Reset cannot tell windows apart, the end may have been the last
		// window's, and one 429 is better than one per caller.
		p.probe = p.left <= 0
		p.probeUntil = time.Time{}
		p.end = time.Time{}
		p.first = p.admitted + 1
	}
	if p.end.IsZero() {
		if !p.probe || p.probeUntil.IsZero() {
			return 0
		}
		if !now.Before(p.probeUntil) {
			p.probe = false // the probe is slow: the others go too
			return 0
		}
		return p.probeUntil.Sub(now)
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
			if p.probe && p.probeUntil.IsZero() {
				// The others wait for its answer, or for twice the
				// window's longest round trip if it is lost or slow.
				p.probeUntil = now.Add(2 * p.rtt)
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
