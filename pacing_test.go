package connect_test

// The rate-limit pacing demonstration of DESIGN.md ("Rate-limit pacing"),
// against connecttest's fixed-window limiter in real time.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// TestPacingUnderLoad: 16 goroutines share one client and make 300 Gets
// against a fake that allows 25 requests a second. Every call succeeds, and
// the 429s the fake served stay a small fraction of the calls: once a
// response says the window is spent, the client holds its callers (and
// counts the requests it already has in flight) instead of spending
// requests on certain 429s.
func TestPacingUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 12s of real time: the fake's rate-limit window is real")
	}
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
	srv := connecttest.NewServer(connecttest.WithRateLimit(limit, window))
	t.Cleanup(srv.Close)
	src := srv.NewOrganization("Source")
	dst := srv.NewOrganization("Destination")
	cxn := srv.NewActiveConnection(src, dst)
	inq := srv.NewInquiry(src, map[string]any{"name-first": "Ada"})

	c, err := connect.NewClient(src.APIKey, connect.WithBaseURL(srv.URL))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	ctx := t.Context()
	tok, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	require.NoError(t, err)
	// Start on a fresh window, so that every run measures the same thing.
	time.Sleep(time.Until(time.Now().Truncate(window).Add(window)))
	before := srv.Stats()

	var (
		next     atomic.Int64
		attempts atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range goroutines {
		wg.Go(func() {
			for next.Add(1) <= calls {
				var resp connect.Response
				callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
				got, err := c.ShareTokens.Get(callCtx, tok.ID, connect.WithResponseInto(&resp))
				cancel()
				attempts.Add(int64(resp.Attempts))
				if !assert.NoError(t, err) || !assert.Equal(t, tok.ID, got.ID) {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	after := srv.Stats()

	requests := after.Requests - before.Requests
	tooMany := after.TooManyRequests - before.TooManyRequests
	floor := time.Duration(calls/limit-1) * window // the limiter allows no less
	t.Logf("pacing: %d goroutines, %d Gets at %d requests/%s: %d failed, %d requests sent (%d attempts counted by the SDK), "+
		"%d answered 429 (%.1f%% of the calls), %s elapsed (the limit alone needs at least %s)",
		goroutines, calls, limit, window, failures.Load(), requests, attempts.Load(),
		tooMany, 100*float64(tooMany)/calls, elapsed.Round(10*time.Millisecond), floor)

	assert.Zero(t, failures.Load(), "every call succeeds")
	assert.Equal(t, int64(requests), attempts.Load(), "the SDK's attempts are the requests the fake saw")
	assert.Equal(t, calls+tooMany, requests, "every request that was not a 429 was one call")
	assert.LessOrEqual(t, tooMany, max429, "429s are a small fraction of the calls")
	assert.GreaterOrEqual(t, elapsed, floor, "the fake's limiter was not in force")
}
