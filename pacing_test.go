package connect_test

// The rate-limit pacing demonstration (RELIABILITY.md, section 3), against
// connecttest's fixed-window limiter in a synctest bubble.

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// TestPacingUnderLoad: 16 goroutines share one client and make 300 Gets
// against a fake that allows 25 requests a second, in a synctest bubble
// (the simulation of BenchmarkPacing, with sub-millisecond latency). Every
// call succeeds, and the 429s the fake served stay a small fraction of the
// calls: once a response says the window is spent, the client holds its
// callers (and counts the requests it already has in flight) instead of
// spending requests on certain 429s.
func TestPacingUnderLoad(t *testing.T) {
	const (
		limit      = 25
		window     = time.Second
		goroutines = 16
		calls      = 300
		// The bound on 429s: 5% of the calls. The first version of the
		// pacer (hold only once a response said Remaining 0) let 94 through
		// here (31% of the calls): every request in flight when the window
		// ran out came back 429.
		max429 = calls / 20
	)
	synctest.Test(t, func(t *testing.T) {
		res := simulatePacing(t, pacingRun{limit: limit, window: window, goroutines: goroutines, calls: calls,
			minLatency: 100 * time.Microsecond, maxLatency: time.Millisecond})
		floor := time.Duration(calls/limit-1) * window // the limiter allows no less
		t.Logf("pacing: %d goroutines, %d Gets at %d requests/%s: %d failed, %d requests sent (%d attempts counted by the SDK), "+
			"%d answered 429 (%.1f%% of the calls), %s elapsed (the limit alone needs at least %s); admitted and 429 by window: %v",
			goroutines, calls, limit, window, res.failures, res.requests, res.attempts,
			res.tooMany, 100*float64(res.tooMany)/calls, res.elapsed, floor, res.windows)

		assert.Zero(t, res.failures, "every call succeeds")
		assert.Equal(t, res.requests, res.attempts, "the SDK's attempts are the requests the fake saw")
		assert.Equal(t, calls+res.tooMany, res.requests, "every request that was not a 429 was one call")
		assert.LessOrEqual(t, res.tooMany, max429, "429s are a small fraction of the calls")
		assert.GreaterOrEqual(t, res.elapsed, floor, "the fake's limiter was not in force")
	})
}

// --- the pacer obeys the server and the deadline -------------------------------

// TestPacingFailsFastBeyondDeadline: after a response that spent the window
// for 30 s, a call whose context has 700 ms left fails at once, sends
// nothing, matches ErrRateLimited and says how long it would have waited.
// (Before: it waited the 700 ms and failed with DeadlineExceeded.)
func TestPacingFailsFastBeyondDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redeemed := fixture(t, "sharetokens/redeemed.json")
		c, rec := newBubbleClient(t, rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", "30"))
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
		defer cancel()
		start := time.Now()
		var resp connect.Response
		_, err = c.ShareTokens.Get(ctx, rtTokenID, connect.WithResponseInto(&resp))
		assert.Zero(t, time.Since(start), "the call waited")
		require.Error(t, err)
		assert.ErrorIs(t, err, connect.ErrRateLimited)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "30s")
		wait, ok := connect.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 30*time.Second, wait, "the wait the call could not afford")
		assert.Contains(t, err.Error(), "GET /connect/share-tokens/"+rtTokenID)
		assert.Equal(t, 1, rec.count(), "the refused call was sent")
		assert.Zero(t, resp.Attempts)
		assert.NoError(t, ctx.Err())

		// Beyond WithMaxRateLimitWait (not the deadline) likewise.
		c2, rec2 := newBubbleClient(t, rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", "30"),
			connect.WithMaxRateLimitWait(10*time.Second))
		_, err = c2.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)
		_, err = c2.ShareTokens.Create(t.Context(), rtCreateParams)
		require.Error(t, err)
		assert.ErrorIs(t, err, connect.ErrRateLimited)
		assert.Contains(t, err.Error(), "30s")
		assert.Contains(t, err.Error(), "WithMaxRateLimitWait")
		assert.Zero(t, time.Since(start))
		assert.Equal(t, 1, rec2.count())
	})
}

// TestPacingFollowsLatestResponse: a server that says Remaining 3 on every
// response never holds a call: its latest word replaces the pacer's own
// count. (Before: calls 5 and 6 held until their deadlines.)
func TestPacingFollowsLatestResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redeemed := fixture(t, "sharetokens/redeemed.json")
		c, rec := newBubbleClient(t, rtRespondWith(200, redeemed, "RateLimit-Remaining", "3", "RateLimit-Reset", "30"))
		start := time.Now()
		for i := range 8 {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			_, err := c.ShareTokens.Get(ctx, rtTokenID)
			cancel()
			require.NoError(t, err, "call %d", i+1)
		}
		assert.Zero(t, time.Since(start), "a call was held")
		assert.Equal(t, 8, rec.count())
	})
}

// TestPacingResetTimestamp: a RateLimit-Reset that is a Unix timestamp is
// read as the time left until it; one that is neither a window length nor a
// plausible timestamp is ignored. (Before: either stalled every later call
// for MaxRateLimitWait, even once responses said 299 were left.)
func TestPacingResetTimestamp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset func(now time.Time) string
		hold  time.Duration // the hold of the second call
	}{
		{"timestamp 10s ahead", func(now time.Time) string { return strconv.FormatInt(now.Unix()+10, 10) }, 10 * time.Second},
		{"timestamp in the past", func(now time.Time) string { return strconv.FormatInt(now.Unix()-5, 10) }, 0},
		{"year 2100", func(time.Time) string { return "4102444800" }, 0},
		{"a day", func(time.Time) string { return "86400" }, 0},
		{"absurd", func(time.Time) string { return "9223372036854775807" }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				redeemed := fixture(t, "sharetokens/redeemed.json")
				stamps := &rtStamps{}
				c, rec := newBubbleClient(t, stamps.wrap(sequence(
					func(w http.ResponseWriter, r *http.Request) {
						rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", tc.reset(time.Now()))(w, r)
					},
					func(w http.ResponseWriter, r *http.Request) {
						rtRespondWith(200, redeemed, "RateLimit-Remaining", "299", "RateLimit-Reset", tc.reset(time.Now()))(w, r)
					})))
				for range 5 {
					_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
					require.NoError(t, err)
				}
				require.Equal(t, 5, rec.count())
				assert.Equal(t, []time.Duration{tc.hold, 0, 0, 0}, stamps.gaps())
			})
		})
	}
}

// TestResponseRateLimit: WithResponseInto reports the window as the pacer
// reads it: a Reset in seconds, a Unix timestamp as the time left until
// it, and a Reset that is neither (more than an hour, not a plausible
// timestamp, absurdly large) as zero, unknown. (Before: a large Reset
// overflowed into a negative or wrapped duration.)
func TestResponseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		reset func(now time.Time) string
		want  time.Duration
	}{
		{func(time.Time) string { return "42" }, 42 * time.Second},
		{func(time.Time) string { return "3600" }, time.Hour},
		{func(now time.Time) string { return strconv.FormatInt(now.Unix()+90, 10) }, 90 * time.Second},
		{func(time.Time) string { return "86400" }, 0},
		{func(time.Time) string { return "9223372036854775807" }, 0},
		{func(time.Time) string { return "99999999999999999999999" }, 0},
		{func(time.Time) string { return "-5" }, 0},
		{func(time.Time) string { return "soon" }, 0},
	} {
		synctest.Test(t, func(t *testing.T) {
			reset := tc.reset(time.Now())
			c, _ := newBubbleClient(t, rtRespondWith(200, fixture(t, "sharetokens/redeemed.json"),
				"RateLimit-Limit", "300", "RateLimit-Remaining", "299", "RateLimit-Reset", reset))
			var resp connect.Response
			_, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
			require.NoError(t, err)
			assert.Equal(t, connect.RateLimit{Limit: 300, Remaining: 299, Reset: tc.want}, resp.RateLimit, "Reset %s", reset)
		})
	}
}
