package engine

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rateHeader(remaining, reset string) http.Header {
	h := http.Header{}
	if remaining != "" {
		h.Set("RateLimit-Remaining", remaining)
	}
	if reset != "" {
		h.Set("RateLimit-Reset", reset)
	}
	return h
}

// see observes a response with the given headers to attempt seq.
func (p *pacer) see(seq uint64, remaining, reset string, now time.Time) {
	p.done(seq, ParseRateLimit(rateHeader(remaining, reset), now), now, now)
}

// admit acquires without holding, as a test's shorthand.
func (p *pacer) admit(t *testing.T) uint64 {
	t.Helper()
	seq, err := p.acquire(t.Context(), 0)
	require.NoError(t, err)
	return seq
}

func TestPacerObserve(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)

	var p pacer
	assert.Zero(t, p.remaining(now), "a new pacer holds nothing")

	p.see(0, "0", "10", now)
	assert.Equal(t, 10*time.Second, p.remaining(now))
	assert.Equal(t, 6*time.Second, p.remaining(now.Add(4*time.Second)))
	assert.Zero(t, p.remaining(now.Add(10*time.Second)))
	assert.Zero(t, p.remaining(now.Add(time.Hour)), "never negative")

	for _, h := range []http.Header{
		rateHeader("", ""),
		rateHeader("1", "30"),
		rateHeader("299", "42"),
		rateHeader("", "30"),
		rateHeader("0", ""),
		rateHeader("0", "soon"),
		rateHeader("0", "0"),
		rateHeader("0", "-5"),
		rateHeader("0", "86400"),
		rateHeader("0", "4102444800"),
		rateHeader("0", "99999999999999999999"),
	} {
		var q pacer
		q.done(0, ParseRateLimit(h, now), now, now)
		assert.Zero(t, q.remaining(now), "header %v must not pace", h)
	}
}

// TestPacerLatestResponseWins: each response sets the estimate, the
// lowest count reported in the window less the attempts in flight; a
// higher count within the window (the server counted that request earlier)
// and a response to an attempt older than the latest one change nothing;
// the next window's first response is believed.
func TestPacerLatestResponseWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		var q pacer
		first, second, third := q.admit(t), q.admit(t), q.admit(t)
		// The second answers first: one left, and the third may not have
		// been counted yet, so none is left for a fourth.
		q.see(second, "1", "10", now)
		assert.Equal(t, 10*time.Second, q.remaining(now))
		// The first, overtaken, said more were left when it was counted.
		q.see(first, "7", "10", now)
		assert.Equal(t, 10*time.Second, q.remaining(now), "a stale response raised the count")
		// The third's answer: nothing in flight now, one left.
		q.see(third, "3", "10", now)
		assert.Zero(t, q.remaining(now))
		q.admit(t)
		assert.Equal(t, 10*time.Second, q.remaining(now), "one admitted, none left")
		// The next window: its first response is believed.
		later := now.Add(10 * time.Second)
		assert.Zero(t, q.remaining(later))
		q.see(q.admit(t), "299", "60", later)
		assert.Zero(t, q.remaining(later))
	})
}

// TestPacerWindowEnd: an end reported earlier within the window replaces
// the estimate (RateLimit-Reset is rounded up to whole seconds, so the
// earlier is the more precise); a later one only when it is at least a
// second later, and a new window's first response always.
func TestPacerWindowEnd(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)
	var p pacer
	next := func() uint64 { p.admitted++; return p.admitted } // each response answers a new attempt
	p.see(next(), "0", "10", now)
	p.see(next(), "0", "10", now.Add(500*time.Millisecond))
	assert.Equal(t, 10*time.Second, p.remaining(now), "half a second later: rounding")
	p.see(next(), "0", "8", now.Add(1500*time.Millisecond))
	assert.Equal(t, 9500*time.Millisecond, p.remaining(now), "earlier is more precise")
	p.see(next(), "0", "30", now.Add(2*time.Second))
	assert.Equal(t, 32*time.Second, p.remaining(now), "the server moved the window")
	p.see(next(), "0", "5", now.Add(40*time.Second))
	assert.Equal(t, 5*time.Second, p.remaining(now.Add(40*time.Second)), "a new window")
}

func TestPacerHold(t *testing.T) {
	t.Run("nothing to wait for", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			require.NoError(t, p.hold(t.Context(), time.Minute))
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("cancelled context without pacing", func(t *testing.T) {
		var p pacer
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		assert.ErrorIs(t, p.hold(ctx, time.Minute), context.Canceled)
	})
	t.Run("holds until the window resets", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			require.NoError(t, p.hold(t.Context(), time.Minute))
			assert.Equal(t, 10*time.Second, time.Since(start))
			// The window is over: the next hold returns at once.
			require.NoError(t, p.hold(t.Context(), time.Minute))
			assert.Equal(t, 10*time.Second, time.Since(start))
		})
	})
	t.Run("refused beyond the limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "3600", start)
			err := p.hold(t.Context(), 3*time.Second)
			assert.ErrorIs(t, err, ErrRateLimited)
			var pe *PacingError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, time.Hour, pe.Wait)
			assert.EqualError(t, err, "rate limited: the window is spent and resets in 1h0m0s, beyond WithMaxRateLimitWait (3s); not sent")
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("zero limit never holds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			assert.ErrorIs(t, p.hold(t.Context(), 0), ErrRateLimited)
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("refused beyond the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
			defer cancel()
			err := p.hold(ctx, time.Minute)
			assert.ErrorIs(t, err, ErrRateLimited)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.EqualError(t, err, "rate limited: the window is spent and resets in 10s, beyond the 4s left before the context's deadline; not sent")
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("held within the deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second+time.Millisecond)
			defer cancel()
			require.NoError(t, p.hold(ctx, time.Minute))
			assert.Equal(t, 10*time.Second, time.Since(start))
		})
	})
	t.Run("ends on cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(2*time.Second, cancel)
			assert.ErrorIs(t, p.hold(ctx, time.Minute), context.Canceled)
			assert.Equal(t, 2*time.Second, time.Since(start))
		})
	})
	t.Run("many goroutines hold together", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.see(0, "0", "10", start)
			var wg sync.WaitGroup
			for range 16 {
				wg.Go(func() {
					assert.NoError(t, p.hold(t.Context(), time.Minute))
					assert.Equal(t, 10*time.Second, time.Since(start))
				})
			}
			wg.Wait()
		})
	})
}

// TestPacerWakesOnResponse: attempts held because the estimate ran out go
// as soon as a response says requests are left, not at the window's end.
func TestPacerWakesOnResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pacer
		start := time.Now()
		first := p.admit(t)
		p.see(p.admit(t), "0", "30", start) // one in flight, none left
		held := make(chan time.Duration)
		go func() {
			_, err := p.acquire(t.Context(), time.Minute)
			assert.NoError(t, err)
			held <- time.Since(start)
		}()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		p.see(first+2, "0", "28", time.Now()) // the attempt in flight answered: the window is still spent
		p.see(first+3, "0", "1", time.Now())  // and ends in a second
		assert.Equal(t, 3*time.Second, <-held)
	})
}

// TestPacerCountsAdmitted: the attempts admitted since the latest response
// spend its RateLimit-Remaining; once it is spent, the next waits for the
// window's end, and the next window's first response is believed.
func TestPacerCountsAdmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pacer
		start := time.Now()
		p.see(p.admit(t), "3", "10", start)
		for range 3 {
			_, err := p.acquire(t.Context(), time.Minute)
			require.NoError(t, err)
		}
		assert.Zero(t, time.Since(start), "three requests were left")
		seq, err := p.acquire(t.Context(), time.Minute)
		require.NoError(t, err)
		assert.Equal(t, 10*time.Second, time.Since(start), "the fifth attempt waited for the window")
		p.see(seq, "7", "10", time.Now())
		assert.Zero(t, p.remaining(time.Now()))
	})
}

// hold is acquire for a test that looks only at the wait.
func (p *pacer) hold(ctx context.Context, limit time.Duration) error {
	_, err := p.acquire(ctx, limit)
	return err
}

// TestPacerEndFromArrival: the window ends by the response's arrival plus
// Reset (the server counted the request no later), never earlier: an end
// taken from the attempt's start is early by the way out, and releases
// attempts into a window that is still spent.
func TestPacerEndFromArrival(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)
	var p pacer
	p.done(p.admitted, ParseRateLimit(rateHeader("0", "10"), now), now.Add(-40*time.Millisecond), now)
	assert.Equal(t, 10*time.Second, p.remaining(now))
}

// TestPacerCountRestarted: a response to an attempt admitted after the
// lowest count was reported that is not lower is from a later window, even
// though its Reset ("1") cannot tell: the last window's end no longer
// applies. (Before: the end stayed the last window's, and attempts were
// released into a spent window.)
func TestPacerCountRestarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pacer
		start := time.Now()
		p.see(p.admit(t), "2", "1", start.Add(-300*time.Millisecond)) // ends by start+700ms
		p.see(p.admit(t), "49", "1", start)                           // the count restarted
		p.admit(t)
		time.Sleep(50 * time.Millisecond)
		p.see(p.admit(t), "0", "1", time.Now())
		assert.Equal(t, 950*time.Millisecond, p.remaining(time.Now()), "the restarted count's window")
	})
}

// TestPacerProbe: once a spent window's end has passed, the first attempt
// goes alone and the others wait for its answer; if it finds the window
// still spent, the next probe goes in the middle of the second in which
// the window must end.
func TestPacerProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pacer
		start := time.Now()
		seq := p.admit(t)
		time.Sleep(100 * time.Millisecond)
		p.done(seq, ParseRateLimit(rateHeader("0", "1"), time.Now()), start, time.Now()) // round trip 100ms
		time.Sleep(time.Second)
		probe := p.admit(t)
		assert.Equal(t, 200*time.Millisecond, p.remaining(time.Now()), "the others wait for the probe")
		time.Sleep(20 * time.Millisecond)
		sent := time.Now()
		p.done(probe, ParseRateLimit(rateHeader("0", "1"), time.Now()), sent.Add(-20*time.Millisecond), sent)
		assert.Equal(t, 490*time.Millisecond, p.remaining(time.Now()), "still spent: probe again mid-second")
		time.Sleep(490 * time.Millisecond)
		probe = p.admit(t)
		p.see(probe, "49", "1", time.Now())
		assert.Zero(t, p.remaining(time.Now()), "the window reset: all go")
	})
}
