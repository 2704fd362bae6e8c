package engine

import (
	"context"
	"net/http"
	"strconv"
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

func TestPacerObserve(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)

	var p pacer
	assert.Zero(t, p.remaining(now), "a new pacer holds nothing")

	p.observe(rateHeader("0", "10"), now)
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
	} {
		var q pacer
		q.observe(h, now)
		assert.Zero(t, q.remaining(now), "header %v must not pace", h)
	}
}

// TestPacerKeepsLaterEnd: an earlier window end never replaces a later one,
// whatever order the responses are observed in.
func TestPacerKeepsLaterEnd(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)
	var p pacer
	p.observe(rateHeader("0", "10"), now)
	p.observe(rateHeader("0", "5"), now)
	assert.Equal(t, 10*time.Second, p.remaining(now))
	p.observe(rateHeader("0", "20"), now)
	assert.Equal(t, 20*time.Second, p.remaining(now))
	p.observe(rateHeader("0", "1"), now.Add(time.Second))
	assert.Equal(t, 20*time.Second, p.remaining(now))
	// A later response whose own window ends later still moves it on.
	p.observe(rateHeader("0", "15"), now.Add(10*time.Second))
	assert.Equal(t, 25*time.Second, p.remaining(now))

	// Concurrently: the largest end wins.
	var q pacer
	var wg sync.WaitGroup
	for i := 1; i <= 64; i++ {
		wg.Go(func() { q.observe(rateHeader("0", strconv.Itoa(i)), now) })
	}
	wg.Wait()
	assert.Equal(t, 64*time.Second, q.remaining(now))
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
			p.observe(rateHeader("0", "10"), start)
			require.NoError(t, p.hold(t.Context(), time.Minute))
			assert.Equal(t, 10*time.Second, time.Since(start))
			// The window is over: the next hold returns at once.
			require.NoError(t, p.hold(t.Context(), time.Minute))
			assert.Equal(t, 10*time.Second, time.Since(start))
		})
	})
	t.Run("capped by the limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.observe(rateHeader("0", "86400"), start)
			require.NoError(t, p.hold(t.Context(), 3*time.Second))
			assert.Equal(t, 3*time.Second, time.Since(start))
		})
	})
	t.Run("zero limit does not hold", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.observe(rateHeader("0", "10"), start)
			require.NoError(t, p.hold(t.Context(), 0))
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("bounded by the context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.observe(rateHeader("0", "10"), start)
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
			defer cancel()
			assert.ErrorIs(t, p.hold(ctx, time.Minute), context.DeadlineExceeded)
			assert.Equal(t, 4*time.Second, time.Since(start))
		})
	})
	t.Run("ends on cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var p pacer
			start := time.Now()
			p.observe(rateHeader("0", "10"), start)
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
			p.observe(rateHeader("0", "10"), start)
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

// TestPacerCountsInFlight: the attempts admitted since a response count
// against its RateLimit-Remaining, the attempts in flight when it is
// observed too, and a higher count observed later in the same window (a
// response that was overtaken) is not believed.
func TestPacerCountsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pacer
		start := time.Now()
		p.observe(rateHeader("3", "10"), start)
		for range 3 {
			require.NoError(t, p.acquire(t.Context(), time.Minute))
		}
		assert.Zero(t, time.Since(start), "three requests were left")
		// Two of them answer; the third is still in flight when a response
		// says one request is left: the third may take it.
		p.done()
		p.done()
		p.observe(rateHeader("1", "10"), start)
		assert.Equal(t, 10*time.Second, p.remaining(start), "1 left, 1 in flight: none to spend")
		p.observe(rateHeader("5", "10"), start)
		assert.Equal(t, 10*time.Second, p.remaining(start), "an overtaken response raised the count")
		require.NoError(t, p.acquire(t.Context(), time.Minute))
		assert.Equal(t, 10*time.Second, time.Since(start), "the fourth attempt waited for the window")
		p.done()
		p.done()
		// A new window: its first response is believed.
		p.observe(rateHeader("7", "10"), time.Now())
		assert.Zero(t, p.remaining(time.Now()))
	})
}

// hold is acquire followed by done: it waits as acquire does without
// counting an attempt, which is what these tests look at.
func (p *pacer) hold(ctx context.Context, limit time.Duration) error {
	if err := p.acquire(ctx, limit); err != nil {
		return err
	}
	p.done()
	return nil
}
