package engine

import (
	"context"
	"errors"
	"time"
)

// Limiter is the root package's RateLimiter: a request budget shared with
// other clients, asked before every attempt.
type Limiter interface {
	// Take returns 0 when one request may be sent now, taking it from the
	// budget, or how long to wait before asking again, taking nothing.
	Take(ctx context.Context) (wait time.Duration, err error)
}

// LimiterError is an error the limiter returned: the call ends with it and
// nothing is sent.
type LimiterError struct{ Err error }

func (e *LimiterError) Error() string {
	return "rate limiter (WithRateLimiter): " + e.Err.Error() + "; not sent"
}

func (e *LimiterError) Unwrap() error { return e.Err }

// limit asks the limiter, if there is one, to admit an attempt, holding
// while it says to wait: for at most limit in all and never past ctx's
// deadline. A wait that would go beyond either is not begun: limit returns a
// *PacingError at once. The limiter takes nothing when it asks for a wait,
// so giving up leaves its budget as it was.
func (e *Engine) limit(ctx context.Context, limit time.Duration) error {
	l := e.cfg.Limiter
	if l == nil {
		return nil
	}
	giveUp := time.Now().Add(limit) // the limiter's own latency counts too
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, err := l.Take(ctx)
		if err != nil {
			return &LimiterError{Err: err}
		}
		if wait <= 0 {
			return nil
		}
		if err := holdAllowed(ctx, wait, time.Until(giveUp), limit); err != nil {
			var pe *PacingError
			if errors.As(err, &pe) {
				pe.Limiter = true
			}
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}
