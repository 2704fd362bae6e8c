package connect_test

// Reliability and security guarantees (RELIABILITY.md) tested end to end
// against connecttest's fault injection, plus the body, cancellation, input
// and secret cases the other test files do not already cover. Which test
// covers which guarantee is listed in RELIABILITY.md.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// fakeWorld is a connecttest server with a source and a destination
// organization, an active connection between them and an inquiry to share.
type fakeWorld struct {
	srv      *connecttest.Server
	src, dst *connecttest.Organization
	cxn, inq string
	// dial, when set, connects to srv over an in-memory pipe (see
	// newBubbleWorld); nil dials its loopback port.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newFakeWorld(t testing.TB, opts ...connecttest.Option) *fakeWorld {
	t.Helper()
	srv := connecttest.NewServer(opts...)
	t.Cleanup(srv.Close)
	w := &fakeWorld{srv: srv, src: srv.NewOrganization("Source"), dst: srv.NewOrganization("Destination")}
	w.cxn = srv.NewActiveConnection(w.src, w.dst)
	w.inq = srv.NewInquiry(w.src, map[string]any{"name-first": "Ada"})
	return w
}

// newBubbleWorld is newFakeWorld served over in-memory pipes instead of a
// loopback port, for use inside a testing/synctest bubble: the fake's
// delays and rate-limit windows, the client's timeouts and retry waits all
// pass on the bubble's clock, so that they cost no real time.
func newBubbleWorld(t testing.TB, opts ...connecttest.Option) *fakeWorld {
	t.Helper()
	l := newPipeListener()
	w := newFakeWorld(t, append(opts, connecttest.WithListener(l))...)
	w.dial = l.dial
	return w
}

// freshConnClient returns a client for key whose every attempt opens a new
// connection. On a reused keep-alive connection net/http itself silently
// re-sends a request that carries an Idempotency-Key when the connection
// dies before a response; a fresh connection makes the SDK see every drop.
func (w *fakeWorld) freshConnClient(t testing.TB, key string, opts ...connect.ClientOption) *connect.Client {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: w.dial}
	t.Cleanup(tr.CloseIdleConnections)
	base := []connect.ClientOption{
		connect.WithBaseURL(w.srv.URL),
		connect.WithHTTPClient(&http.Client{Transport: tr}),
		connect.WithRetryWait(time.Millisecond, 2*time.Millisecond),
	}
	c, err := connect.NewClient(key, append(base, opts...)...)
	require.NoError(t, err)
	return c
}

func (w *fakeWorld) createParams() *connect.ShareTokenCreateParams {
	return &connect.ShareTokenCreateParams{ConnectionID: w.cxn, SourceID: w.inq}
}

// requestsTo returns the recorded requests of method whose path ends with
// suffix.
func (w *fakeWorld) requestsTo(method, suffix string) []connecttest.RecordedRequest {
	var out []connecttest.RecordedRequest
	for _, r := range w.srv.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// --- dropped connections after processing -----------------------------------

// TestDroppedCreateMakesOneToken: the fake creates the token and then drops
// the connection; the SDK retries with the same Idempotency-Key, gets the
// stored response replayed, and the fake holds exactly one token.
func TestDroppedCreateMakesOneToken(t *testing.T) {
	t.Run("fresh connections: the SDK retries", func(t *testing.T) {
		w := newFakeWorld(t)
		c := w.freshConnClient(t, w.src.APIKey)
		w.srv.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})
		var resp connect.Response
		tok, err := c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assert.Equal(t, 2, resp.Attempts, "the drop reached the SDK, which retried")
		assert.Equal(t, http.StatusCreated, resp.StatusCode)

		st := w.srv.Stats()
		assert.Equal(t, 1, st.ShareTokensCreated, "exactly one token")
		assert.Equal(t, 1, st.Dropped)
		assert.Equal(t, 1, st.Replays)
		reqs := w.requestsTo(http.MethodPost, "/connect/share-tokens")
		require.Len(t, reqs, 2)
		assert.True(t, reqs[0].Dropped)
		assert.True(t, reqs[1].Replayed)
		assert.Equal(t, reqs[0].Header.Get("Idempotency-Key"), reqs[1].Header.Get("Idempotency-Key"))
		got, ok := w.srv.ShareToken(tok.ID)
		require.True(t, ok, "the token the SDK returned is the one the fake made")
		assert.Equal(t, "created", got.Status)
	})
	t.Run("reused keep-alive connection", func(t *testing.T) {
		// Whoever re-sends (net/http on a reused connection, or the SDK),
		// the outcome is the same: one token.
		w := newFakeWorld(t)
		c, err := connect.NewClient(w.src.APIKey, connect.WithBaseURL(w.srv.URL),
			connect.WithRetryWait(time.Millisecond, 2*time.Millisecond))
		require.NoError(t, err)
		t.Cleanup(c.CloseIdleConnections)
		_, err = c.Connections.Get(t.Context(), w.cxn) // warm a connection up
		require.NoError(t, err)
		w.srv.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})
		var resp connect.Response
		tok, err := c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assert.Contains(t, []int{1, 2}, resp.Attempts)
		assert.Equal(t, 1, w.srv.Stats().ShareTokensCreated)
		assert.Len(t, w.requestsTo(http.MethodPost, "/connect/share-tokens"), 2)
		_, ok := w.srv.ShareToken(tok.ID)
		assert.True(t, ok)
	})
}

// TestDroppedRedeemRedeemsOnce: the fake redeems and then drops the
// connection; the retry is replayed and the token is redeemed once, into
// one clone.
func TestDroppedRedeemRedeemsOnce(t *testing.T) {
	w := newFakeWorld(t)
	src := w.freshConnClient(t, w.src.APIKey)
	dst := w.freshConnClient(t, w.dst.APIKey)
	tok, err := src.ShareTokens.Create(t.Context(), w.createParams())
	require.NoError(t, err)

	w.srv.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens/" + tok.ID + "/redeem", DropAfterProcessing: true})
	var resp connect.Response
	got, err := dst.ShareTokens.Redeem(t.Context(), tok.ID, nil, connect.WithResponseInto(&resp))
	require.NoError(t, err)
	assert.Equal(t, tok.ID, got.ID)
	assert.Equal(t, 2, resp.Attempts)

	st := w.srv.Stats()
	assert.Equal(t, 1, st.Redemptions, "exactly one redemption")
	assert.Equal(t, 1, st.Dropped)
	assert.Equal(t, 1, st.Replays)
	fake, ok := w.srv.ShareToken(tok.ID)
	require.True(t, ok)
	assert.Equal(t, "redeemed", fake.Status)
	var clones int
	for _, o := range w.srv.Objects(w.dst) {
		if o.ClonedFrom == w.inq {
			clones++
		}
	}
	assert.Equal(t, 1, clones, "one clone in the destination")
}

// TestLostCreateRepeatedWithSameKey: when the call's last attempt loses its
// response (here with retries off), the call fails with a transport error,
// not an *Error, although the fake made the token; repeating the call with
// the same WithIdempotencyKey returns that token instead of making a second
// one.
func TestLostCreateRepeatedWithSameKey(t *testing.T) {
	w := newFakeWorld(t)
	c := w.freshConnClient(t, w.src.APIKey, connect.WithMaxRetries(0))
	w.srv.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})
	const key = "create-inq-lost-1"
	var resp connect.Response
	_, err := c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
	require.Error(t, err)
	var apiErr *connect.Error
	assert.False(t, errors.As(err, &apiErr), "no response arrived: %v", err)
	assert.Contains(t, err.Error(), "POST /connect/share-tokens")
	assert.Equal(t, 1, resp.Attempts)
	assert.Equal(t, 1, w.srv.Stats().ShareTokensCreated, "the lost attempt was processed")

	tok, err := c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
	require.NoError(t, err)
	assert.Equal(t, 1, w.srv.Stats().Replays, "the repeat was replayed")
	assert.Equal(t, 1, w.srv.Stats().ShareTokensCreated, "the repeat made no second token")
	_, ok := w.srv.ShareToken(tok.ID)
	assert.True(t, ok)
}

// --- statuses and drops on GET and POST ----------------------------------------

// TestFaultsRetriedOnGetAndPost: 502, 503, 504, 408 and a dropped connection
// are retried on GET and on POST: one fault, then success on the second
// attempt with a single token made; a fault that persists ends, after
// MaxRetries, in an *Error with its status (or a transport error for drops).
func TestFaultsRetriedOnGetAndPost(t *testing.T) {
	faults := []struct {
		name   string
		status int
	}{{"502", 502}, {"503", 503}, {"504", 504}, {"408", 408}, {"drop", 0}}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, f := range faults {
			t.Run(method+" "+f.name, func(t *testing.T) {
				t.Parallel()
				w := newFakeWorld(t)
				c := w.freshConnClient(t, w.src.APIKey)
				existing, err := c.ShareTokens.Create(t.Context(), w.createParams())
				require.NoError(t, err)
				call := func() (*connect.ShareToken, connect.Response, error) {
					var resp connect.Response
					if method == http.MethodGet {
						tok, err := c.ShareTokens.Get(t.Context(), existing.ID, connect.WithResponseInto(&resp))
						return tok, resp, err
					}
					tok, err := c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithResponseInto(&resp))
					return tok, resp, err
				}
				fault := connecttest.Fault{Method: method, PathPrefix: "/connect/share-tokens", Status: f.status, DropAfterProcessing: f.status == 0}

				w.srv.InjectFault(fault)
				tok, resp, err := call()
				require.NoError(t, err)
				require.NotNil(t, tok)
				assert.Equal(t, 2, resp.Attempts)
				assert.Equal(t, 1, w.srv.Stats().Faults)
				wantTokens := 1
				if method == http.MethodPost {
					wantTokens = 2 // the setup's and this call's
				}
				assert.Equal(t, wantTokens, w.srv.Stats().ShareTokensCreated)

				fault.Count = -1
				w.srv.InjectFault(fault)
				_, resp, err = call()
				if method == http.MethodPost && f.status == 0 {
					// The first attempt is processed and dropped; the retry
					// is answered from the key's stored response, which no
					// application fault touches.
					require.NoError(t, err)
					assert.Equal(t, 2, resp.Attempts)
					assert.Equal(t, wantTokens+1, w.srv.Stats().ShareTokensCreated)
					return
				}
				require.Error(t, err)
				assert.Equal(t, 4, resp.Attempts, "MaxRetries (3) + 1")
				if f.status != 0 {
					requireAPIError(t, err, f.status)
					assert.Equal(t, wantTokens, w.srv.Stats().ShareTokensCreated, "a gateway fault reaches no handler")
				} else {
					var apiErr *connect.Error
					assert.False(t, errors.As(err, &apiErr), "%v", err)
				}
			})
		}
	}
}

// TestFault500RetriedOnGetNotOnPost: a 500 on GET is retried; on POST it is
// returned at once, because the fake (like Persona) stores it under the key
// and would only replay it: repeating the call with the same key gets the
// same 500, a new key gets a token.
func TestFault500RetriedOnGetNotOnPost(t *testing.T) {
	w := newFakeWorld(t)
	c := w.freshConnClient(t, w.src.APIKey)
	tok, err := c.ShareTokens.Create(t.Context(), w.createParams())
	require.NoError(t, err)

	w.srv.InjectFault(connecttest.Fault{Method: http.MethodGet, PathPrefix: "/connect/share-tokens", Status: 500})
	var resp connect.Response
	_, err = c.ShareTokens.Get(t.Context(), tok.ID, connect.WithResponseInto(&resp))
	require.NoError(t, err)
	assert.Equal(t, 2, resp.Attempts)

	w.srv.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", Status: 500})
	const key = "create-500-1"
	_, err = c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
	requireAPIError(t, err, 500)
	assert.ErrorIs(t, err, connect.ErrServer)
	assert.Equal(t, 1, resp.Attempts, "a POST 500 is not retried")

	_, err = c.ShareTokens.Create(t.Context(), w.createParams(), connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
	requireAPIError(t, err, 500)
	assert.Equal(t, 1, w.srv.Stats().Replays, "the stored 500 is replayed")
	assert.Equal(t, 1, w.srv.Stats().ShareTokensCreated, "no token behind the 500")

	_, err = c.ShareTokens.Create(t.Context(), w.createParams())
	require.NoError(t, err)
	assert.Equal(t, 2, w.srv.Stats().ShareTokensCreated)
}

// --- 429 -------------------------------------------------------------------------

// TestFault429AgainstTheFake: the server's wait decides, capped by
// WithMaxRateLimitWait, and a wait the context cannot afford is not
// started. The exact waits (seconds, HTTP date, RateLimit-Reset, neither)
// are measured on a fake clock in TestRetryServerDirectedWait.
func TestFault429AgainstTheFake(t *testing.T) {
	rateLimited := func(retryAfter string) connecttest.Fault {
		return connecttest.Fault{Method: http.MethodGet, PathPrefix: "/connect/connections", Status: 429, RetryAfter: retryAfter}
	}
	t.Run("a day-long hint gives up at once", func(t *testing.T) {
		for _, hint := range []string{"86400", time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat)} {
			w := newFakeWorld(t)
			c := w.freshConnClient(t, w.src.APIKey, connect.WithMaxRateLimitWait(20*time.Millisecond))
			w.srv.InjectFault(rateLimited(hint))
			// Above WithMaxRateLimitWait, an earlier retry would only be
			// refused again: the 429 is the answer, with the server's hint.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			var resp connect.Response
			_, err := c.Connections.Get(ctx, w.cxn, connect.WithResponseInto(&resp))
			cancel()
			apiErr := requireAPIError(t, err, 429)
			assert.Greater(t, apiErr.RetryAfter, 23*time.Hour, "Retry-After %s", hint)
			assert.Equal(t, 1, resp.Attempts)
		}
	})
	t.Run("a hint longer than the context returns at once", func(t *testing.T) {
		for _, hint := range []string{"120", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
			w := newFakeWorld(t)
			c := w.freshConnClient(t, w.src.APIKey, connect.WithMaxRateLimitWait(time.Hour))
			w.srv.InjectFault(rateLimited(hint))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			var resp connect.Response
			_, err := c.Connections.Get(ctx, w.cxn, connect.WithResponseInto(&resp))
			ctxErr := ctx.Err()
			cancel()
			apiErr := requireAPIError(t, err, 429)
			assert.ErrorIs(t, err, connect.ErrRateLimited)
			assert.NoError(t, ctxErr, "the call returned before its deadline: it did not wait")
			assert.Equal(t, 1, resp.Attempts)
			assert.Greater(t, apiErr.RetryAfter, 30*time.Second)
		}
	})
	t.Run("RateLimit-Reset from the limiter", func(t *testing.T) {
		// Two clients of one organization: the second has not seen the
		// first exhaust the window, so it gets the 429 and waits for
		// RateLimit-Reset. In a bubble both calls fall in the window the
		// bubble's clock starts on, and the wait costs no real time.
		synctest.Test(t, func(t *testing.T) {
			w := newBubbleWorld(t, connecttest.WithRateLimit(1, time.Second))
			a := w.freshConnClient(t, w.src.APIKey)
			b := w.freshConnClient(t, w.src.APIKey)
			_, err := a.Connections.Get(t.Context(), w.cxn)
			require.NoError(t, err)
			start := time.Now()
			var resp connect.Response
			_, err = b.Connections.Get(t.Context(), w.cxn, connect.WithResponseInto(&resp))
			require.NoError(t, err)
			assert.Equal(t, 2, resp.Attempts)
			assert.Equal(t, 1, w.srv.Stats().TooManyRequests)
			assert.Equal(t, time.Second, time.Since(start), "the retry waited for the next window, no longer")
		})
	})
}

// --- bodies ------------------------------------------------------------------------

// TestBodyStallsAfterHeaders: a server that sends the headers and part of
// the body and then stalls is cut off by the per-attempt timeout, retried,
// and reported as a timeout of the attempt.
func TestBodyStallsAfterHeaders(t *testing.T) {
	body := fixture(t, "sharetokens/redeemed.json")
	stall := func(w http.ResponseWriter, r *http.Request) {
		personaHeaders(w.Header())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	// In a bubble, over pipes: the timeouts pass on the bubble's clock.
	synctest.Test(t, func(t *testing.T) {
		c, rec := newPipeClient(t, http.HandlerFunc(stall), connect.WithTimeout(100*time.Millisecond), connect.WithMaxRetries(1))
		var resp connect.Response
		var tok *connect.ShareToken
		var err error
		require.NotPanics(t, func() { tok, err = c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp)) })
		require.Error(t, err)
		assert.Nil(t, tok)
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		assert.True(t, netErr.Timeout(), "%v", err)
		assert.Contains(t, err.Error(), "GET /connect/share-tokens/"+rtTokenID)
		assert.Contains(t, err.Error(), "attempt timed out after 100ms (WithTimeout)")
		assert.Contains(t, err.Error(), "reading 200 response body")
		assert.Equal(t, 2, resp.Attempts)
		assert.Equal(t, 2, rec.count())
	})
}

// TestHugeBodyIsNotRead: a 100 MiB 200 body, streamed or declared, is an
// error naming the cap; the client stops reading at the 16 MiB cap, so the
// server manages to write little more than the cap (socket buffers).
func TestHugeBodyIsNotRead(t *testing.T) {
	const size = 100 << 20
	for _, declare := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared %v", declare), func(t *testing.T) {
			var written atomic.Int64
			done := make(chan struct{}, 4)
			h := func(w http.ResponseWriter, _ *http.Request) {
				defer func() { done <- struct{}{} }()
				personaHeaders(w.Header())
				if declare {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				w.WriteHeader(http.StatusOK)
				w.Write([]byte(`{"data":{"id":"`))
				chunk := bytes.Repeat([]byte("A"), 64<<10)
				for n := 0; n < size-16; n += len(chunk) {
					m, err := w.Write(chunk)
					written.Add(int64(m))
					if err != nil {
						return
					}
				}
			}
			c, rec := newTestClient(t, http.HandlerFunc(h))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var resp connect.Response
			var err error
			require.NotPanics(t, func() { _, err = c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp)) })
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "200 response body exceeds the 16777216-byte limit")
			assert.Equal(t, 1, resp.Attempts, "an oversized body is not retried")
			assert.Equal(t, 1, rec.count())
			c.CloseIdleConnections()
			<-done // the handler ends once the client has gone
			t.Logf("declared=%v: the server wrote %.1f MiB of %d MiB; the client allocated %.1f MiB in all during the call",
				declare, float64(written.Load())/(1<<20), size>>20, float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
			assert.Less(t, written.Load(), int64(40<<20), "the client read far past the cap")
			if declare {
				assert.Less(t, written.Load(), int64(24<<20), "a declared oversized body is refused without reading it")
			}
		})
	}
}

// --- cancellation -------------------------------------------------------------------

// TestCancelDuringRequest: a context cancelled (or past its deadline) while
// the fake holds the request returns the context's error before the hold
// would have ended, and the fake abandons the request unprocessed.
func TestCancelDuringRequest(t *testing.T) {
	const hold = 20 * time.Second // never reached: the call must return first
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, how := range []string{"cancel", "deadline"} {
			t.Run(method+" "+how, func(t *testing.T) {
				t.Parallel()
				w := newFakeWorld(t)
				c := w.freshConnClient(t, w.src.APIKey)
				w.srv.InjectFault(connecttest.Fault{Method: method, PathPrefix: "/connect/connections", Delay: hold})

				holdEnded := time.After(hold)
				var ctx context.Context
				var cancel context.CancelFunc
				want := context.Canceled
				if how == "cancel" {
					ctx, cancel = context.WithCancel(t.Context())
				} else {
					ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
					want = context.DeadlineExceeded
				}
				defer cancel()
				done := make(chan error, 1)
				var resp connect.Response
				go func() {
					var err error
					if method == http.MethodGet {
						_, err = c.Connections.Get(ctx, w.cxn, connect.WithResponseInto(&resp))
					} else {
						_, err = c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: w.dst.ID}, connect.WithResponseInto(&resp))
					}
					done <- err
				}()
				if how == "cancel" {
					require.Eventually(t, func() bool { return w.srv.Stats().Faults == 1 }, 10*time.Second, time.Millisecond,
						"the request never reached the fake")
					cancel()
				}
				select {
				case err := <-done:
					require.Error(t, err)
					assert.ErrorIs(t, err, want)
					assert.Equal(t, 1, resp.Attempts)
				case <-holdEnded:
					t.Fatal("the call outlived the request's hold: the cancellation was not seen")
				}
				require.Eventually(t, func() bool {
					reqs := w.srv.Requests()
					return len(reqs) == 1 && reqs[0].Status == 0
				}, 10*time.Second, time.Millisecond, "the fake did not abandon the request")
				assert.Zero(t, w.srv.Stats().ConnectionsCreated, "the abandoned POST was not processed")
			})
		}
	}
}

// signalHandler is a slog handler that signals each record on a channel.
type signalHandler struct{ ch chan<- struct{} }

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) Handle(context.Context, slog.Record) error {
	select {
	case h.ch <- struct{}{}:
	default:
	}
	return nil
}
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h signalHandler) WithGroup(string) slog.Handler      { return h }

// TestCancelDuringBackoffAgainstTheFake: the first attempt's 503 leads to
// an hour-long backoff; cancelling the context ends it at once with
// context.Canceled and no second request. (TestRetryCancelDuringWait
// measures the same on a fake clock.)
func TestCancelDuringBackoffAgainstTheFake(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			w := newFakeWorld(t)
			logged := make(chan struct{}, 1)
			c := w.freshConnClient(t, w.src.APIKey, connect.WithRetryWait(time.Hour, time.Hour),
				connect.WithLogger(slog.New(signalHandler{logged})))
			w.srv.InjectFault(connecttest.Fault{Method: method, PathPrefix: "/connect/connections", Status: 503, Count: -1})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			var resp connect.Response
			go func() {
				var err error
				if method == http.MethodGet {
					_, err = c.Connections.Get(ctx, w.cxn, connect.WithResponseInto(&resp))
				} else {
					_, err = c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: w.dst.ID}, connect.WithResponseInto(&resp))
				}
				done <- err
			}()
			<-logged // the first attempt's outcome is in: the backoff follows
			cancel()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.ErrorIs(t, err, context.Canceled)
				assert.Equal(t, 1, resp.Attempts)
				assert.Equal(t, 1, w.srv.Stats().Requests, "no retry was sent")
			case <-time.After(time.Minute): // the backoff lasts an hour
				t.Fatal("the backoff did not end at the cancel")
			}
		})
	}
}

// --- hostile input ---------------------------------------------------------------

// hostileIDs adds to invalidIDs (validation_test.go) the encodings an
// attacker would try next.
var hostileIDs = map[string]string{
	"1 MiB":                 strings.Repeat("A", 1<<20),
	"encoded dot dot":       "%2e%2e",
	"encoded traversal":     "..%2f..%2fconnections",
	"double-encoded slash":  "a%252Fb",
	"backslash":             `a\b`,
	"semicolon":             "cnst_1;deactivate",
	"ampersand":             "cnst_1&page[size]=1",
	"tab":                   "cnst\t1",
	"carriage return":       "cnst_1\r",
	"DEL":                   "cnst_1\x7f",
	"NUL at the end":        "cnst_1\x00",
	"right-to-left mark":    "cnst_\u202e1",
	"zero-width space":      "cnst_\u200b1",
	"fullwidth solidus":     "cnst_\uff0f1",
	"invalid UTF-8":         "cnst_\xff\xfe",
	"dot":                   "cnst.1",
	"leading space":         " cnst_1",
	"unicode digit":         "cnst_\u0661",
	"overlong slash":        "a\xc0\xafb",
	"percent":               "%",
	"query after a good id": "cnst_1?peek-source-data=true",
}

// TestHostileIDsAreRefusedBeforeSending: every id argument and id
// parameter refuses each hostile value with a *ValidationError naming the
// field, without echoing raw control characters, and sends nothing.
func TestHostileIDsAreRefusedBeforeSending(t *testing.T) {
	targets := idTargets()
	for name, target := range optionalIDTargets() {
		targets[name] = target
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			for idName, id := range hostileIDs {
				err := target.call(t.Context(), c, id)
				ve := requireValidationError(t, err, target.field)
				assert.Less(t, len(err.Error()), 300, "%s: the error repeats the value", idName)
				assert.NotContains(t, ve.Reason, "\r", idName)
				assert.NotContains(t, ve.Reason, "\t", idName)
			}
			assert.Zero(t, rec.count(), "a request went out with a hostile id")
		})
	}
	t.Run("list filters", func(t *testing.T) {
		c, rec := newRefusingClient(t)
		for idName, v := range hostileIDs {
			_, err := c.ShareTokens.List(t.Context(), &connect.ShareTokenListParams{Status: connect.ShareTokenStatus(v)})
			requireValidationError(t, err, "Status")
			_, err = c.ShareTokens.List(t.Context(), &connect.ShareTokenListParams{Direction: connect.Direction(v)})
			requireValidationError(t, err, "Direction")
			_, err = c.Connections.List(t.Context(), &connect.ConnectionListParams{Status: connect.ConnectionStatus(v)})
			requireValidationError(t, err, "Status")
			_ = idName
		}
		assert.Zero(t, rec.count())
	})
}

// --- secrets -------------------------------------------------------------------------

// newCaptureLogger returns a logger that keeps every record at every level,
// with all attributes and the source line.
func newCaptureLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.Level(-100), AddSource: true})), buf
}

// TestSecretsNeverLeakThroughAFaultyFlow drives a whole flow with faults
// (retries, drops, 4xx, 5xx, timeouts, validation errors, a Wait that runs
// out) against the fake with a debug logger capturing everything, and
// checks that neither API key appears in any log record, any error in any
// fmt rendering, any panic value built from an SDK value, or any rendering
// of the SDK's values.
func TestSecretsNeverLeakThroughAFaultyFlow(t *testing.T) {
	// In a bubble, so that the timed-out attempts and the Wait cost no
	// real time.
	synctest.Test(t, secretsThroughAFaultyFlow)
}

func secretsThroughAFaultyFlow(t *testing.T) {
	w := newBubbleWorld(t)
	logger, logs := newCaptureLogger()
	opts := []connect.ClientOption{connect.WithLogger(logger), connect.WithTimeout(200 * time.Millisecond), connect.WithMaxRetries(2)}
	src := w.freshConnClient(t, w.src.APIKey, opts...)
	dst := w.freshConnClient(t, w.dst.APIKey, opts...)
	keys := []string{w.src.APIKey, w.dst.APIKey}
	ctx := t.Context()

	var values []any // every SDK value and error the flow produced
	keep := func(v any, err error) {
		if v != nil {
			values = append(values, v)
		}
		if err != nil {
			values = append(values, err)
			var apiErr *connect.Error
			if errors.As(err, &apiErr) {
				values = append(values, apiErr, *apiErr)
			}
			var ve *connect.ValidationError
			if errors.As(err, &ve) {
				values = append(values, ve, *ve)
			}
			var we *connect.WaitError
			if errors.As(err, &we) {
				values = append(values, we, *we)
			}
		}
	}
	fault := func(f connecttest.Fault) { w.srv.InjectFault(f) }

	var resp connect.Response
	fault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", Status: 503})
	fault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})
	tok, err := src.ShareTokens.Create(ctx, w.createParams(), connect.WithResponseInto(&resp))
	require.NoError(t, err)
	keep(tok, err)
	values = append(values, resp, &resp)

	fault(connecttest.Fault{Method: http.MethodGet, Status: 502, Count: -1})
	keep(dst.ShareTokens.Get(ctx, tok.ID)) // 5xx after retries
	w.srv.ClearFaults()
	keep(dst.ShareTokens.Get(ctx, "cnst_doesnotexist"))                                                // 404
	keep(src.ShareTokens.Redeem(ctx, tok.ID, nil))                                                     // 403: the source may not redeem
	keep(dst.ShareTokens.Get(ctx, "../"+w.src.APIKey))                                                 // validation, with a key-shaped value
	keep(src.ShareTokens.Create(ctx, w.createParams(), connect.WithIdempotencyKey(w.src.APIKey+"\n"))) // validation
	fault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens/", Status: 500})
	keep(dst.ShareTokens.Redeem(ctx, tok.ID, nil)) // 500 on POST: not retried
	fault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens/", DropAfterProcessing: true})
	keep(dst.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey("redeem-secret-flow"))) // drop, retried
	keep(dst.ShareTokens.Redeem(ctx, tok.ID, nil))                                                   // 409
	fault(connecttest.Fault{Method: http.MethodGet, Delay: time.Second, Count: -1})
	keep(dst.ShareTokens.Get(ctx, tok.ID)) // every attempt times out
	w.srv.ClearFaults()

	// A Wait that runs out on a token that never completes.
	tok2, err := src.ShareTokens.Create(ctx, w.createParams())
	keep(tok2, err)
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	keep(src.ShareTokens.Wait(waitCtx, tok2.ID))
	cancel()
	page, err := src.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 1}})
	keep(page, err)
	for tk, err := range dst.ShareTokens.All(ctx, nil) {
		keep(tk, err)
	}
	cx, err := src.Connections.Get(ctx, w.cxn)
	keep(cx, err)
	values = append(values, src, *src, dst, src.ShareTokens, src.Connections, connect.ValidationError{Field: "id", Reason: "x"})
	_, err = connect.NewClient(w.src.APIKey + " ")
	keep(nil, err)

	var kinds []string
	for _, v := range values {
		kinds = append(kinds, fmt.Sprintf("%T", v))
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, v)
			for _, key := range keys {
				require.NotContains(t, out, key, "%T printed with %s", v, verb)
				require.NotContains(t, out, strings.ToUpper(fmt.Sprintf("%x", key)), "%T printed with %s", v, verb)
			}
		}
		// A panic carrying the value, recovered and printed as a crash
		// report would print it.
		func() {
			defer func() {
				p := recover()
				for _, key := range keys {
					assert.NotContains(t, fmt.Sprint(p), key, "panic value %T", v)
				}
			}()
			panic(v)
		}()
	}
	text := logs.snapshot().String()
	for _, key := range keys {
		assert.NotContains(t, text, key, "a log record carries an API key")
	}
	assert.NotContains(t, text, "Bearer")
	assert.Contains(t, text, "status=502")
	assert.Contains(t, text, "status=409")
	assert.Contains(t, text, "context deadline exceeded", "the timed-out attempts were logged")
	t.Logf("checked %d values (%s) and %d bytes of debug log", len(values), strings.Join(uniq(kinds), ", "), len(text))
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
