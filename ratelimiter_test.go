package connect_test

// WithRateLimiter: a request budget shared with other clients, asked before
// every attempt (RELIABILITY.md, section 3).

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// scriptedLimiter answers Take with its script's entries in turn, then with
// 0, and records when it was asked.
type scriptedLimiter struct {
	mu     sync.Mutex
	script []scriptedTake
	asked  []time.Time
}

type scriptedTake struct {
	wait time.Duration
	err  error
}

func (l *scriptedLimiter) Take(context.Context) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, time.Now())
	if len(l.script) == 0 {
		return 0, nil
	}
	next := l.script[0]
	l.script = l.script[1:]
	return next.wait, next.err
}

func (l *scriptedLimiter) takes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.asked)
}

// TestRateLimiterAskedPerAttempt: the limiter is asked once before every
// attempt, retries included, for GET and POST alike.
func TestRateLimiterAskedPerAttempt(t *testing.T) {
	for _, op := range rtOps {
		t.Run(op.method, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &scriptedLimiter{}
				c, rec := newBubbleClient(t, sequence(rtStatus(503), rtStatus(502), op.ok(t)), connect.WithRateLimiter(l))
				var resp connect.Response
				_, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
				require.NoError(t, err)
				assert.Equal(t, 3, rec.count())
				assert.Equal(t, 3, resp.Attempts)
				assert.Equal(t, 3, l.takes(), "the limiter is asked once per attempt")
			})
		})
	}
}

// TestRateLimiterWaitHonoured: a limiter that asks for 2s and then 1.5s
// holds the attempt 3.5s, and is asked again after each wait; the request
// goes when it answers 0.
func TestRateLimiterWaitHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scriptedLimiter{script: []scriptedTake{{wait: 2 * time.Second}, {wait: 1500 * time.Millisecond}}}
		stamps := &rtStamps{}
		redeemed := fixture(t, "sharetokens/redeemed.json")
		c, rec := newBubbleClient(t, stamps.wrap(rtRespondWith(200, redeemed)), connect.WithRateLimiter(l))
		start := time.Now()
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)
		assert.Equal(t, 1, rec.count())
		require.Equal(t, 3, l.takes())
		assert.Equal(t, []time.Time{start, start.Add(2 * time.Second), start.Add(3500 * time.Millisecond)}, l.asked)
		assert.Equal(t, 3500*time.Millisecond, stamps.at(0).Sub(start), "the request went before the limiter's wait ended")
	})
}

// TestRateLimiterWaitBeyondBound: a wait the call cannot afford (past the
// context's deadline, or past WithMaxRateLimitWait in all) is not begun: the
// call fails at once, matches ErrRateLimited, names the wait and the bound,
// and sends nothing.
func TestRateLimiterWaitBeyondBound(t *testing.T) {
	redeemed := fixture(t, "sharetokens/redeemed.json")
	t.Run("deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := &scriptedLimiter{script: []scriptedTake{{wait: 30 * time.Second}}}
			c, rec := newBubbleClient(t, rtRespondWith(200, redeemed), connect.WithRateLimiter(l))
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			var resp connect.Response
			_, err := c.ShareTokens.Get(ctx, rtTokenID, connect.WithResponseInto(&resp))
			assert.Zero(t, time.Since(start), "the call waited")
			require.Error(t, err)
			assert.ErrorIs(t, err, connect.ErrRateLimited)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
			assert.Contains(t, err.Error(), "WithRateLimiter")
			assert.Contains(t, err.Error(), "30s")
			assert.Contains(t, err.Error(), "deadline")
			assert.Contains(t, err.Error(), "GET /connect/share-tokens/"+rtTokenID)
			assert.Zero(t, rec.count(), "the refused call was sent")
			assert.Zero(t, resp.Attempts)
			assert.Equal(t, 1, l.takes())
		})
	})
	t.Run("cap in all", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// 6s fits the 10s cap; a second 6s does not fit the 4s left.
			l := &scriptedLimiter{script: []scriptedTake{{wait: 6 * time.Second}, {wait: 6 * time.Second}}}
			c, rec := newBubbleClient(t, rtRespondWith(200, redeemed),
				connect.WithRateLimiter(l), connect.WithMaxRateLimitWait(10*time.Second))
			start := time.Now()
			_, err := c.ShareTokens.Create(t.Context(), rtCreateParams)
			assert.Equal(t, 6*time.Second, time.Since(start), "the second wait was begun")
			require.Error(t, err)
			assert.ErrorIs(t, err, connect.ErrRateLimited)
			assert.Contains(t, err.Error(), "WithRateLimiter")
			assert.Contains(t, err.Error(), "WithMaxRateLimitWait (10s)")
			assert.Zero(t, rec.count(), "the refused call was sent")
			assert.Equal(t, 2, l.takes())
		})
	})
}

// TestRateLimiterError: an error from the limiter fails the call with that
// error wrapped, before anything is sent, and is not retried.
func TestRateLimiterError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		storeDown := errors.New("budget store unreachable")
		l := &scriptedLimiter{script: []scriptedTake{{err: storeDown}}}
		c, rec := newBubbleClient(t, rtStatus(200), connect.WithRateLimiter(l))
		var resp connect.Response
		_, err := c.ShareTokens.Create(t.Context(), rtCreateParams, connect.WithResponseInto(&resp))
		require.Error(t, err)
		assert.ErrorIs(t, err, storeDown)
		assert.NotErrorIs(t, err, connect.ErrRateLimited)
		assert.Contains(t, err.Error(), "POST /connect/share-tokens")
		assert.Contains(t, err.Error(), "rate limiter")
		assert.Contains(t, err.Error(), "budget store unreachable")
		assert.Zero(t, rec.count())
		assert.Zero(t, resp.Attempts)
		assert.Equal(t, 1, l.takes())
	})
}

// TestRateLimiterCancelDuringWait: a cancel during the limiter's wait ends
// the call at once with context.Canceled, nothing sent.
func TestRateLimiterCancelDuringWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scriptedLimiter{script: []scriptedTake{{wait: 30 * time.Second}}}
		c, rec := newBubbleClient(t, rtStatus(200), connect.WithRateLimiter(l))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(3*time.Second, cancel)
		start := time.Now()
		_, err := c.ShareTokens.Get(ctx, rtTokenID)
		assert.Equal(t, 3*time.Second, time.Since(start), "the wait did not end at the cancel")
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Zero(t, rec.count())
		assert.Equal(t, 1, l.takes())
	})
}

// TestRateLimiterNil: a nil limiter is refused with a ValidationError naming
// the option.
func TestRateLimiterNil(t *testing.T) {
	_, err := connect.NewClient(testAPIKey, connect.WithRateLimiter(nil))
	var ve *connect.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "WithRateLimiter", ve.Field)
	assert.ErrorIs(t, err, connect.ErrInvalidParams)
}

// The pacer still applies after the limiter admits an attempt: a response
// that spends the window holds the next call until the reset although the
// limiter says go.
func TestRateLimiterPacerStillApplies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &scriptedLimiter{}
		redeemed := fixture(t, "sharetokens/redeemed.json")
		c, rec := newBubbleClient(t, rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", "5"),
			connect.WithRateLimiter(l))
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)
		start := time.Now()
		_, err = c.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)
		assert.Equal(t, 5*time.Second, time.Since(start), "the pacer did not hold the call")
		assert.Equal(t, 2, rec.count())
		assert.Equal(t, 2, l.takes())
	})
}

var _ connect.RateLimiter = (*scriptedLimiter)(nil)
