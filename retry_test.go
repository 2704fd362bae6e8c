package connect_test

// Tests of the retry, wait, pacing and body-cap policies (RELIABILITY.md), one
// test (or table row) per rule. Time-dependent rules run inside a
// testing/synctest bubble, where every wait is measured on the fake clock
// exactly and costs no real time; the rest use a real httptest server with
// millisecond retry waits.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

const rtTokenID = "cnst_ABC123"

var rtCreateParams = &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}

// rtOp is one API call of each method the retry policy tells apart.
type rtOp struct {
	method  string
	call    func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error)
	status  int    // its success status
	fixture string // its success body
}

var rtOps = []rtOp{
	{http.MethodGet, func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
		return c.ShareTokens.Get(ctx, rtTokenID, opts...)
	}, http.StatusOK, "sharetokens/redeemed.json"},
	{http.MethodPost, func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
		return c.ShareTokens.Create(ctx, rtCreateParams, opts...)
	}, http.StatusCreated, "sharetokens/created.json"},
}

func (op rtOp) ok(t testing.TB) http.HandlerFunc { return respond(op.status, fixture(t, op.fixture)) }

// rtStatus answers with status and a Persona error body, without any
// rate-limit header: no server-directed wait applies.
func rtStatus(status int) http.HandlerFunc {
	return rtStatusWith(status)
}

// rtStatusWith is rtStatus with extra response headers, given as pairs.
func rtStatusWith(status int, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Request-Id", "req_RETRY"+strconv.Itoa(status))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"title":"Status %d","details":"from the retry tests"}]}`, status)
	}
}

// rtRespondWith is respond with Persona's headers overridden by kv pairs.
func rtRespondWith(status int, body []byte, kv ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		personaHeaders(w.Header())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		for i := 0; i+1 < len(kv); i += 2 {
			w.Header().Set(kv[i], kv[i+1])
		}
		w.WriteHeader(status)
		w.Write(body)
	}
}

// rtHangUp closes the connection without answering: the client sees the
// connection end before a response.
func rtHangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// rtReset aborts the connection with a TCP RST: the client sees
// "connection reset by peer".
func rtReset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	conn.Close()
}

// rtStamps records the (fake, in a bubble) time at which each request
// arrives.
type rtStamps struct {
	mu    sync.Mutex
	times []time.Time
}

func (s *rtStamps) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// gaps returns the time between consecutive requests.
func (s *rtStamps) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(s.times); i++ {
		gaps = append(gaps, s.times[i].Sub(s.times[i-1]))
	}
	return gaps
}

func (s *rtStamps) at(i int) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.times[i]
}

func requireAPIError(t testing.TB, err error, status int) *connect.Error {
	t.Helper()
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr, "got %T: %v", err, err)
	require.Equal(t, status, apiErr.StatusCode, "error: %v", err)
	return apiErr
}

// --- which statuses are retried ---------------------------------------------

// TestRetryStatusPolicy: 408, 429, 502, 503, 504 are retried for GET and POST
// until MaxRetries is spent, 409 and 500 for GET only, any other 4xx never; the call
// then returns an *Error with the last status and Attempts counts them all.
func TestRetryStatusPolicy(t *testing.T) {
	retriedAlways := []int{408, 429, 502, 503, 504}
	for _, op := range rtOps {
		for _, status := range []int{400, 401, 403, 404, 409, 422, 408, 429, 500, 502, 503, 504} {
			want := 1
			if slices.Contains(retriedAlways, status) || ((status == 409 || status == 500) && op.method == http.MethodGet) {
				want = 4 // MaxRetries (3) + 1
			}
			t.Run(fmt.Sprintf("%s %d", op.method, status), func(t *testing.T) {
				t.Parallel()
				c, rec := newTestClient(t, rtStatus(status))
				var resp connect.Response
				tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
				assert.Nil(t, tok)
				apiErr := requireAPIError(t, err, status)
				assert.Equal(t, "req_RETRY"+strconv.Itoa(status), apiErr.RequestID)
				require.Len(t, apiErr.Errors, 1)
				assert.Equal(t, fmt.Sprintf("Status %d", status), apiErr.Errors[0].Title)
				assert.Equal(t, want, rec.count(), "requests the server saw")
				assert.Equal(t, want, resp.Attempts)
				assert.Equal(t, status, resp.StatusCode)
				for _, r := range rec.all() {
					assert.Equal(t, op.method, r.Method)
				}
			})
		}
	}
}

// TestRetryThenSuccess: a transient failure followed by a success returns
// the decoded token, for every retried status.
func TestRetryThenSuccess(t *testing.T) {
	for _, op := range rtOps {
		for _, first := range []int{408, 409, 429, 500, 502, 503, 504} {
			if (first == 409 || first == 500) && op.method == http.MethodPost {
				continue
			}
			t.Run(fmt.Sprintf("%s %d", op.method, first), func(t *testing.T) {
				t.Parallel()
				c, rec := newTestClient(t, sequence(rtStatus(first), rtStatus(503), op.ok(t)))
				var resp connect.Response
				tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
				require.NoError(t, err)
				require.NotNil(t, tok)
				assert.Equal(t, rtTokenID, tok.ID)
				if op.method == http.MethodGet {
					assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)
				} else {
					assert.Equal(t, connect.ShareTokenStatusCreated, tok.Status)
				}
				assert.Equal(t, 3, rec.count())
				assert.Equal(t, 3, resp.Attempts)
				assert.Equal(t, op.status, resp.StatusCode)
				assert.Equal(t, "req_TEST123", resp.RequestID)
			})
		}
	}
}

// TestRetryMaxRetries: WithMaxRetries(n) sends n+1 requests at most; 0 sends
// exactly one, for a status and for a transport error.
func TestRetryMaxRetries(t *testing.T) {
	for _, n := range []int{0, 1, 3, 10} {
		t.Run(fmt.Sprintf("503 with %d retries", n), func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, rtStatus(503), connect.WithMaxRetries(n))
			var resp connect.Response
			_, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
			requireAPIError(t, err, 503)
			assert.Equal(t, n+1, rec.count())
			assert.Equal(t, n+1, resp.Attempts)
		})
	}
	t.Run("hang-up with no retries", func(t *testing.T) {
		t.Parallel()
		c, rec := newTestClient(t, http.HandlerFunc(rtHangUp), connect.WithMaxRetries(0))
		var resp connect.Response
		_, err := c.ShareTokens.Create(t.Context(), rtCreateParams, connect.WithResponseInto(&resp))
		require.Error(t, err)
		assert.Equal(t, 1, rec.count())
		assert.Equal(t, 1, resp.Attempts)
	})
}

// --- transport errors ---------------------------------------------------------

// TestRetryConnectionClosed: a connection closed before any response is
// retried for GET and POST, and succeeds once the server answers.
func TestRetryConnectionClosed(t *testing.T) {
	for _, op := range rtOps {
		t.Run(op.method+" recovers", func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, sequence(rtHangUp, rtReset, op.ok(t)))
			var resp connect.Response
			tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
			require.NoError(t, err)
			assert.Equal(t, rtTokenID, tok.ID)
			assert.Equal(t, 3, rec.count())
			assert.Equal(t, 3, resp.Attempts)
			if op.method == http.MethodPost {
				keys := map[string]bool{}
				for _, r := range rec.all() {
					keys[r.Header.Get("Idempotency-Key")] = true
				}
				assert.Len(t, keys, 1, "one Idempotency-Key across the attempts")
			}
		})
		t.Run(op.method+" reset persists", func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, http.HandlerFunc(rtReset))
			var resp connect.Response
			_, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
			require.Error(t, err)
			assert.ErrorIs(t, err, syscall.ECONNRESET)
			assert.Equal(t, 4, rec.count())
			assert.Equal(t, 4, resp.Attempts)
		})
		t.Run(op.method+" persists", func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, http.HandlerFunc(rtHangUp))
			var resp connect.Response
			tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
			require.Error(t, err)
			assert.Nil(t, tok)
			var apiErr *connect.Error
			assert.False(t, errors.As(err, &apiErr), "no response, so no *Error: %v", err)
			assert.Contains(t, err.Error(), op.method+" /connect/share-tokens")
			assert.NotContains(t, err.Error(), testAPIKey)
			assert.Equal(t, 4, rec.count())
			assert.Equal(t, 4, resp.Attempts)
			assert.Zero(t, resp.StatusCode)
		})
	}
}

// TestRetryConnectionRefused: nothing listens; every attempt is made.
func TestRetryConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base+"/api/v1"), connect.WithRetryWait(time.Millisecond, 2*time.Millisecond))
	require.NoError(t, err)
	var resp connect.Response
	_, err = c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
	require.Error(t, err)
	var opErr *net.OpError
	assert.ErrorAs(t, err, &opErr)
	assert.Equal(t, 4, resp.Attempts)
}

// TestRetryTLSCertificateError: a certificate the client does not trust is
// not retried: one handshake, one attempt, no request reaches the handler.
func TestRetryTLSCertificateError(t *testing.T) {
	var handshakes atomic.Int32
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec.wrap(respond(200, fixture(t, "sharetokens/redeemed.json"))))
	srv.TLS = &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		handshakes.Add(1)
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)

	for _, op := range rtOps {
		handshakes.Store(0)
		c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(srv.URL+"/api/v1"),
			connect.WithRetryWait(time.Millisecond, 2*time.Millisecond))
		require.NoError(t, err)
		var resp connect.Response
		_, err = op.call(t.Context(), c, connect.WithResponseInto(&resp))
		require.Error(t, err, op.method)
		var certErr *tls.CertificateVerificationError
		assert.ErrorAs(t, err, &certErr, "%s: %v", op.method, err)
		assert.Contains(t, err.Error(), "certificate")
		assert.Equal(t, 1, resp.Attempts, op.method)
		assert.Equal(t, int32(1), handshakes.Load(), op.method)
		assert.Zero(t, rec.count())
	}

	// The control: trusting the server's certificate, the same call works.
	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(srv.URL+"/api/v1"), connect.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	_, err = c.ShareTokens.Get(t.Context(), rtTokenID)
	require.NoError(t, err)
	assert.Equal(t, 1, rec.count())
}

// --- idempotency keys -----------------------------------------------------------

// TestRetryIdempotencyKeyReused: every attempt of one POST carries the same
// Idempotency-Key and the same body; another call carries another key.
func TestRetryIdempotencyKeyReused(t *testing.T) {
	c, rec := newTestClient(t, sequence(rtStatus(503), rtStatus(429), rtStatus(502),
		respond(201, fixture(t, "sharetokens/created.json"))))
	_, err := c.ShareTokens.Create(t.Context(), rtCreateParams)
	require.NoError(t, err)
	first := rec.all()
	require.Len(t, first, 4)
	key := first[0].Header.Get("Idempotency-Key")
	assert.NotEmpty(t, key)
	for i, r := range first {
		assert.Equal(t, key, r.Header.Get("Idempotency-Key"), "attempt %d", i+1)
		assert.Len(t, r.Header.Values("Idempotency-Key"), 1)
		assert.JSONEq(t, string(first[0].Body), string(r.Body), "attempt %d", i+1)
	}

	_, err = c.ShareTokens.Create(t.Context(), rtCreateParams)
	require.NoError(t, err)
	second := rec.last(t).Header.Get("Idempotency-Key")
	assert.NotEmpty(t, second)
	assert.NotEqual(t, key, second, "two calls share a key")
}

// TestRetryIdempotencyKeyFromCaller: WithIdempotencyKey's value goes out on
// every attempt, on each kind of POST.
func TestRetryIdempotencyKeyFromCaller(t *testing.T) {
	calls := map[string]func(*connect.Client, connect.RequestOption) error{
		"create": func(c *connect.Client, o connect.RequestOption) error {
			_, err := c.ShareTokens.Create(t.Context(), rtCreateParams, o)
			return err
		},
		"redeem": func(c *connect.Client, o connect.RequestOption) error {
			_, err := c.ShareTokens.Redeem(t.Context(), rtTokenID, nil, o)
			return err
		},
		"expire": func(c *connect.Client, o connect.RequestOption) error {
			_, err := c.ShareTokens.Expire(t.Context(), rtTokenID, o)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			c, rec := newTestClient(t, sequence(rtHangUp, rtStatus(503), rtStatus(408),
				respond(200, fixture(t, "sharetokens/pending_clone.json"))))
			const key = "redeem-cnst_ABC123-attempt-1"
			require.NoError(t, call(c, connect.WithIdempotencyKey(key)))
			require.Equal(t, 4, rec.count())
			for i, r := range rec.all() {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, []string{key}, r.Header.Values("Idempotency-Key"), "attempt %d", i+1)
			}
		})
	}
}

// --- waits ----------------------------------------------------------------------

// TestRetryBackoffWaits measures the fake-clock gap before each retry: the
// n-th lies in [min, min·2^n] capped at max, the first is exactly min, and
// later ones reach beyond the bound of the one before (they grow).
func TestRetryBackoffWaits(t *testing.T) {
	const (
		lo, hi = time.Second, 8 * time.Second
		runs   = 30
	)
	bound := func(n int) time.Duration { return min(hi, lo<<n) }
	longest := make([]time.Duration, 5)
	synctest.Test(t, func(t *testing.T) {
		for range runs {
			stamps := &rtStamps{}
			c, rec := newBubbleClient(t, stamps.wrap(rtStatus(503)),
				connect.WithRetryWait(lo, hi), connect.WithMaxRetries(5))
			start := time.Now()
			var resp connect.Response
			_, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
			requireAPIError(t, err, 503)
			require.Equal(t, 6, rec.count())
			require.Equal(t, 6, resp.Attempts)
			gaps := stamps.gaps()
			require.Len(t, gaps, 5)
			assert.Equal(t, lo, gaps[0], "the first retry waits exactly the minimum")
			var total time.Duration
			for n, g := range gaps {
				assert.GreaterOrEqual(t, g, lo, "retry %d", n)
				assert.LessOrEqual(t, g, bound(n), "retry %d", n)
				longest[n] = max(longest[n], g)
				total += g
			}
			assert.Equal(t, total, time.Since(start), "the call returns right after the last attempt")
		}
	})
	for n := 1; n <= 3; n++ {
		assert.Greater(t, longest[n], bound(n-1), "retry %d never waited longer than retry %d could", n, n-1)
	}
	assert.LessOrEqual(t, longest[4], hi)
}

// TestRetryBackoffCapped: with a low maximum, no wait exceeds it however
// many retries there are.
func TestRetryBackoffCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stamps := &rtStamps{}
		c, _ := newBubbleClient(t, stamps.wrap(rtStatus(502)),
			connect.WithRetryWait(2*time.Second, 3*time.Second), connect.WithMaxRetries(10))
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		requireAPIError(t, err, 502)
		gaps := stamps.gaps()
		require.Len(t, gaps, 10)
		for n, g := range gaps {
			assert.GreaterOrEqual(t, g, 2*time.Second, "retry %d", n)
			assert.LessOrEqual(t, g, 3*time.Second, "retry %d", n)
		}
	})
}

// TestRetryServerDirectedWait: on 429 the server's hint decides the wait,
// exactly, capped by WithMaxRateLimitWait; without one, backoff applies.
func TestRetryServerDirectedWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first func() http.HandlerFunc // built inside the bubble: dates need its clock
		opts  []connect.ClientOption
		want  time.Duration
	}{
		{"Retry-After seconds", func() http.HandlerFunc { return rtStatusWith(429, "Retry-After", "7") }, nil, 7 * time.Second},
		{"Retry-After zero", func() http.HandlerFunc { return rtStatusWith(429, "Retry-After", "0") }, nil, 0},
		{"Retry-After HTTP date", func() http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				date := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
				rtStatusWith(429, "Retry-After", date)(w, r)
			}
		}, nil, 10 * time.Second},
		{"Retry-After date in the past", func() http.HandlerFunc {
			return rtStatusWith(429, "Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
		}, nil, 0},
		{"RateLimit-Reset only", func() http.HandlerFunc { return rtStatusWith(429, "RateLimit-Reset", "5") }, nil, 5 * time.Second},
		{"RateLimit-Reset with Remaining 0", func() http.HandlerFunc {
			return rtStatusWith(429, "RateLimit-Limit", "300", "RateLimit-Remaining", "0", "RateLimit-Reset", "5")
		}, nil, 5 * time.Second},
		{"Retry-After beats RateLimit-Reset", func() http.HandlerFunc {
			return rtStatusWith(429, "Retry-After", "3", "RateLimit-Reset", "40")
		}, nil, 3 * time.Second},
		{"neither: backoff from the minimum", func() http.HandlerFunc { return rtStatus(429) },
			[]connect.ClientOption{connect.WithRetryWait(2*time.Second, 4*time.Second)}, 2 * time.Second},
		{"garbage hint: backoff", func() http.HandlerFunc { return rtStatusWith(429, "Retry-After", "in a while") },
			[]connect.ClientOption{connect.WithRetryWait(2*time.Second, 4*time.Second)}, 2 * time.Second},
		{"hint equal to WithMaxRateLimitWait", func() http.HandlerFunc { return rtStatusWith(429, "Retry-After", "45") },
			[]connect.ClientOption{connect.WithMaxRateLimitWait(45 * time.Second)}, 45 * time.Second},
		{"reset that is no window length: backoff", func() http.HandlerFunc { return rtStatusWith(429, "RateLimit-Reset", "86400") },
			[]connect.ClientOption{connect.WithRetryWait(2*time.Second, 4*time.Second)}, 2 * time.Second},
		{"reset as a Unix timestamp", func() http.HandlerFunc {
			return rtStatusWith(429, "RateLimit-Reset", strconv.FormatInt(time.Now().Unix()+8, 10))
		}, nil, 8 * time.Second},
		{"503 Retry-After honoured", func() http.HandlerFunc { return rtStatusWith(503, "Retry-After", "3") }, nil, 3 * time.Second},
	} {
		for _, op := range rtOps {
			t.Run(op.method+" "+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					stamps := &rtStamps{}
					c, rec := newBubbleClient(t, stamps.wrap(sequence(tc.first(), op.ok(t))), tc.opts...)
					start := time.Now()
					var resp connect.Response
					tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
					require.NoError(t, err)
					assert.Equal(t, rtTokenID, tok.ID)
					require.Equal(t, 2, rec.count())
					assert.Equal(t, 2, resp.Attempts)
					assert.Equal(t, []time.Duration{tc.want}, stamps.gaps())
					assert.Equal(t, tc.want, time.Since(start))
				})
			})
		}
	}
}

// TestRetryRateLimitedExhausted: a 429 that persists ends as ErrRateLimited
// carrying the server's wait, after MaxRetries waits of that length.
func TestRetryRateLimitedExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stamps := &rtStamps{}
		c, rec := newBubbleClient(t, stamps.wrap(rtStatusWith(429, "Retry-After", "7")))
		start := time.Now()
		_, err := c.ShareTokens.Create(t.Context(), rtCreateParams)
		apiErr := requireAPIError(t, err, 429)
		assert.ErrorIs(t, err, connect.ErrRateLimited)
		assert.Equal(t, 7*time.Second, apiErr.RetryAfter)
		assert.Equal(t, 4, rec.count())
		assert.Equal(t, []time.Duration{7 * time.Second, 7 * time.Second, 7 * time.Second}, stamps.gaps())
		assert.Equal(t, 21*time.Second, time.Since(start))
	})
}

// TestRetryWaitBeyondDeadline: a wait longer than the context has left is
// not started; the call returns the last response's *Error at once.
func TestRetryWaitBeyondDeadline(t *testing.T) {
	t.Run("server hint", func(t *testing.T) {
		for _, op := range rtOps {
			synctest.Test(t, func(t *testing.T) {
				c, rec := newBubbleClient(t, rtStatusWith(429, "Retry-After", "100"))
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				start := time.Now()
				var resp connect.Response
				_, err := op.call(ctx, c, connect.WithResponseInto(&resp))
				assert.Zero(t, time.Since(start), "the fake clock moved: the call waited")
				apiErr := requireAPIError(t, err, 429)
				assert.ErrorIs(t, err, connect.ErrRateLimited)
				assert.NotErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, 100*time.Second, apiErr.RetryAfter)
				assert.Equal(t, 1, rec.count(), op.method)
				assert.Equal(t, 1, resp.Attempts)
				assert.NoError(t, ctx.Err())
			})
		}
	})
	t.Run("pacing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// A 502 that also says the window is spent for 20 s: the retry
			// would have to wait 20 s, and the context has 15 s left.
			c, rec := newBubbleClient(t, rtStatusWith(502, "RateLimit-Remaining", "0", "RateLimit-Reset", "20"))
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.ShareTokens.Get(ctx, rtTokenID)
			requireAPIError(t, err, 502)
			assert.Equal(t, 1, rec.count())
			assert.Zero(t, time.Since(start))
		})
	})
	t.Run("backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stamps := &rtStamps{}
			c, rec := newBubbleClient(t, stamps.wrap(rtStatus(503)), connect.WithRetryWait(10*time.Second, 20*time.Second))
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.ShareTokens.Get(ctx, rtTokenID)
			// The first wait (exactly 10s) fits; the second (10s to 20s) does not.
			requireAPIError(t, err, 503)
			assert.Equal(t, 2, rec.count())
			assert.Equal(t, 10*time.Second, time.Since(start))
		})
	})
}

// TestRetryCancelDuringWait: cancelling the context ends a retry wait at
// that moment, with an error that is context.Canceled.
func TestRetryCancelDuringWait(t *testing.T) {
	wait := connect.WithRetryWait(10*time.Second, 20*time.Second)
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) (*connect.Client, *recorder)
	}{
		{"backoff", func(t *testing.T) (*connect.Client, *recorder) { return newBubbleClient(t, rtStatus(503), wait) }},
		{"server hint", func(t *testing.T) (*connect.Client, *recorder) {
			return newBubbleClient(t, rtStatusWith(429, "Retry-After", "30"), wait)
		}},
		{"after a transport error", func(t *testing.T) (*connect.Client, *recorder) {
			rec := &recorder{}
			c, err := connect.NewClient(testAPIKey, connect.WithBaseURL("https://persona.test/api/v1"), wait,
				connect.WithHTTPClient(&http.Client{Transport: rtServerBody{rtFailingTransport{rec}}}))
			require.NoError(t, err)
			return c, rec
		}},
	} {
		for _, op := range rtOps {
			t.Run(op.method+" "+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, rec := tc.client(t)
					ctx, cancel := context.WithCancel(t.Context())
					time.AfterFunc(3*time.Second, cancel)
					start := time.Now()
					var resp connect.Response
					_, err := op.call(ctx, c, connect.WithResponseInto(&resp))
					assert.Equal(t, 3*time.Second, time.Since(start), "the wait did not end at the cancel")
					require.Error(t, err)
					assert.ErrorIs(t, err, context.Canceled)
					assert.Equal(t, 1, rec.count())
					assert.Equal(t, 1, resp.Attempts)
				})
			})
		}
	}
}

// rtFailingTransport fails every request as if the connection dropped, and
// records it; it works inside a synctest bubble.
type rtFailingTransport struct{ rec *recorder }

func (t rtFailingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.rec.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(httptest.NewRecorder(), req)
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, io.ErrUnexpectedEOF
}

// TestRetryCancelledBeforeCall: a context already over sends nothing.
func TestRetryCancelledBeforeCall(t *testing.T) {
	for _, op := range rtOps {
		c, rec := newTestClient(t, op.ok(t))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var resp connect.Response
		tok, err := op.call(ctx, c, connect.WithResponseInto(&resp))
		assert.Nil(t, tok)
		assert.ErrorIs(t, err, context.Canceled, op.method)
		assert.Zero(t, rec.count(), op.method)
		assert.Zero(t, resp.Attempts)

		expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		_, err = op.call(expired, c)
		cancel2()
		assert.ErrorIs(t, err, context.DeadlineExceeded, op.method)
		assert.Zero(t, rec.count(), op.method)
	}
}

// --- rate-limit pacing -------------------------------------------------------------

// TestPacingHoldsOtherCalls: once a response says no request is left in the
// window, the next call from another goroutine waits for the reset before
// its request reaches the server.
func TestPacingHoldsOtherCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
		want time.Duration
	}{
		{"until the reset", nil, 10 * time.Second},
		{"within WithMaxRateLimitWait", []connect.ClientOption{connect.WithMaxRateLimitWait(10 * time.Second)}, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				redeemed := fixture(t, "sharetokens/redeemed.json")
				stamps := &rtStamps{}
				c, rec := newBubbleClient(t, stamps.wrap(sequence(
					rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", "10"),
					respond(200, redeemed))), tc.opts...)
				start := time.Now()
				var resp connect.Response
				_, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
				require.NoError(t, err)
				assert.Zero(t, time.Since(start), "the exhausting call itself does not wait")
				assert.Equal(t, 0, resp.RateLimit.Remaining)
				assert.Equal(t, 10*time.Second, resp.RateLimit.Reset)

				done := make(chan error, 1)
				go func() {
					_, err := c.ShareTokens.Create(t.Context(), rtCreateParams)
					done <- err
				}()
				synctest.Wait()
				assert.Equal(t, 1, rec.count(), "the second call did not hold")
				require.NoError(t, <-done)
				require.Equal(t, 2, rec.count())
				assert.Equal(t, tc.want, stamps.at(1).Sub(stamps.at(0)))

				// Once the window is over, a third call goes at once.
				before := time.Now()
				_, err = c.ShareTokens.Get(t.Context(), rtTokenID)
				require.NoError(t, err)
				assert.Zero(t, time.Since(before))
				assert.Equal(t, 3, rec.count())
			})
		})
	}
}

// TestPacingStretchesRetryWait: a retry after a response that exhausted the
// window waits for the reset, not just the backoff, even when the status
// itself carries no hint; when the reset is beyond WithMaxRateLimitWait, the
// call gives up at once with that response.
func TestPacingStretchesRetryWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []connect.ClientOption
		want []time.Duration // nil: no retry
	}{
		{"until the reset", nil, []time.Duration{10 * time.Second}},
		{"beyond WithMaxRateLimitWait", []connect.ClientOption{connect.WithMaxRateLimitWait(3 * time.Second)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stamps := &rtStamps{}
				c, rec := newBubbleClient(t, stamps.wrap(sequence(
					rtStatusWith(502, "RateLimit-Remaining", "0", "RateLimit-Reset", "10"),
					respond(200, fixture(t, "sharetokens/redeemed.json")))), tc.opts...)
				start := time.Now()
				_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
				if tc.want == nil {
					requireAPIError(t, err, 502)
					assert.Equal(t, 1, rec.count())
					assert.Zero(t, time.Since(start))
					return
				}
				require.NoError(t, err)
				assert.Equal(t, 2, rec.count())
				assert.Equal(t, tc.want, stamps.gaps())
			})
		})
	}
}

// TestPacingBoundedByContext: a held call whose context is cancelled
// returns the context's error at that moment and never sends its request.
// (A deadline too close to hold for is TestPacingFailsFastBeyondDeadline.)
func TestPacingBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		redeemed := fixture(t, "sharetokens/redeemed.json")
		c, rec := newBubbleClient(t, rtRespondWith(200, redeemed, "RateLimit-Remaining", "0", "RateLimit-Reset", "10"))
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		require.NoError(t, err)

		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(5*time.Second, cancel)
		var resp connect.Response
		_, err = c.ShareTokens.Get(ctx, rtTokenID, connect.WithResponseInto(&resp))
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Equal(t, 1, rec.count(), "the held call sent its request")
		assert.Zero(t, resp.Attempts)
	})
}

// --- body caps ------------------------------------------------------------------------

// rtStream writes about n bytes (until the client goes away), with a
// declared Content-Length if declare is set.
func rtStream(status int, n int64, declare bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if declare {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
		w.WriteHeader(status)
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for written := int64(0); written < n; written += int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(int64(len(chunk)), n-written)]); err != nil {
				return
			}
		}
	}
}

// TestBodyCaps: a 2xx body over 16 MiB and an error body over 1 MiB are
// errors that say so, and are not retried.
func TestBodyCaps(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handler  http.HandlerFunc
		attempts int
		msg      string
	}{
		{"2xx streamed", rtStream(200, 64<<20, false), 1, "200 response body exceeds the 16777216-byte limit"},
		{"2xx declared", rtStream(200, 17<<20, true), 1, "200 response body exceeds the 16777216-byte limit"},
		{"404 streamed", rtStream(404, 64<<20, false), 1, "404 response body exceeds the 1048576-byte limit"},
		{"422 declared", rtStream(422, 2<<20, true), 1, "422 response body exceeds the 1048576-byte limit"},
		// A retried status drains little of each body; only the last is read.
		{"503 streamed", rtStream(503, 64<<20, false), 4, "503 response body exceeds the 1048576-byte limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, rec := newTestClient(t, tc.handler)
			var resp connect.Response
			tok, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Contains(t, err.Error(), "GET /connect/share-tokens/"+rtTokenID)
			assert.Equal(t, tc.attempts, rec.count())
			assert.Equal(t, tc.attempts, resp.Attempts)
		})
	}
}

// rtTruncate declares the full length, sends half of body and drops the
// connection.
func rtTruncate(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		personaHeaders(w.Header())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(200)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		rtHangUp(w, nil)
	}
}

// TestRetryTruncatedBody: a body cut off mid-way is retried, and the next
// complete one is returned.
func TestRetryTruncatedBody(t *testing.T) {
	for _, op := range rtOps {
		t.Run(op.method, func(t *testing.T) {
			body := fixture(t, op.fixture)
			c, rec := newTestClient(t, sequence(rtTruncate(body), op.ok(t)))
			var resp connect.Response
			tok, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
			require.NoError(t, err)
			assert.Equal(t, rtTokenID, tok.ID)
			assert.Equal(t, 2, rec.count())
			assert.Equal(t, 2, resp.Attempts)
		})
	}
	t.Run("persists", func(t *testing.T) {
		c, rec := newTestClient(t, rtTruncate(fixture(t, "sharetokens/redeemed.json")))
		_, err := c.ShareTokens.Get(t.Context(), rtTokenID)
		require.Error(t, err)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Contains(t, err.Error(), "reading 200 response body")
		assert.Equal(t, 4, rec.count())
	})
}

// TestRetryAttemptTimeout: an attempt that outlives WithTimeout is
// abandoned and retried; when every attempt times out the call reports it.
func TestRetryAttemptTimeout(t *testing.T) {
	block := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	t.Run("persists", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newPipeClient(t, http.HandlerFunc(block),
				connect.WithTimeout(50*time.Millisecond), connect.WithMaxRetries(2))
			start := time.Now()
			var resp connect.Response
			_, err := c.ShareTokens.Get(t.Context(), rtTokenID, connect.WithResponseInto(&resp))
			elapsed := time.Since(start)
			require.Error(t, err)
			var netErr net.Error
			require.ErrorAs(t, err, &netErr)
			assert.True(t, netErr.Timeout(), "error: %v", err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NoError(t, t.Context().Err(), "the call's own context is not what ended")
			assert.Equal(t, 3, resp.Attempts)
			synctest.Wait()
			assert.Equal(t, 3, rec.count())
			// Three attempts of 50ms and two retry waits of 1-2ms.
			assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond)
			assert.LessOrEqual(t, elapsed, 154*time.Millisecond)
		})
	})
	t.Run("recovers", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newPipeClient(t, sequence(block, respond(200, fixture(t, "sharetokens/redeemed.json"))),
				connect.WithTimeout(50*time.Millisecond))
			tok, err := c.ShareTokens.Get(t.Context(), rtTokenID)
			require.NoError(t, err)
			assert.Equal(t, rtTokenID, tok.ID)
			assert.Equal(t, 2, rec.count())
		})
	})
}

// --- redirects ---------------------------------------------------------------------------

// TestRedirectNotFollowed: a 3xx is returned as an *Error and the target
// never sees a request (nor the API key).
func TestRedirectNotFollowed(t *testing.T) {
	target := &recorder{}
	targetSrv := httptest.NewServer(target.wrap(respond(200, fixture(t, "sharetokens/redeemed.json"))))
	t.Cleanup(targetSrv.Close)
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, op := range rtOps {
			t.Run(fmt.Sprintf("%s %d", op.method, status), func(t *testing.T) {
				c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, targetSrv.URL+r.URL.Path, status)
				}))
				var resp connect.Response
				_, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
				apiErr := requireAPIError(t, err, status)
				assert.Equal(t, targetSrv.URL+"/api/v1/connect/share-tokens", trimID(apiErr.Header.Get("Location")))
				assert.Equal(t, 1, rec.count())
				assert.Equal(t, 1, resp.Attempts)
				assert.Zero(t, target.count(), "the redirect was followed")
			})
		}
	}
}

func trimID(u string) string {
	if i := len(u) - len("/"+rtTokenID); i > 0 && u[i:] == "/"+rtTokenID {
		return u[:i]
	}
	return u
}

// rtServerBody hands the next transport the non-nil body a server would.
type rtServerBody struct{ next http.RoundTripper }

func (t rtServerBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		r := *req
		r.Body = http.NoBody
		req = &r
	}
	return t.next.RoundTrip(req)
}

// TestRetryHintAboveMaxGivesUp: a server-directed wait longer than
// WithMaxRateLimitWait is not shortened into an early retry: the call gives
// up at once with the response, whose RetryAfter carries the server's hint.
// (Before: Retry-After 3600 was retried 3 times after 60 s each.)
func TestRetryHintAboveMaxGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header func() []string // built inside the bubble: dates need its clock
		opts   []connect.ClientOption
		want   time.Duration
	}{
		{"429 Retry-After an hour", 429, func() []string { return []string{"Retry-After", "3600"} }, nil, time.Hour},
		{"503 Retry-After an hour", 503, func() []string { return []string{"Retry-After", "3600"} }, nil, time.Hour},
		{"429 Retry-After date in two hours", 429, func() []string {
			return []string{"Retry-After", time.Now().Add(2 * time.Hour).UTC().Format(http.TimeFormat)}
		}, nil, 2 * time.Hour},
		{"429 RateLimit-Reset above the max", 429, func() []string { return []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "50"} },
			[]connect.ClientOption{connect.WithMaxRateLimitWait(20 * time.Second)}, 50 * time.Second},
		{"429 Retry-After just above the max", 429, func() []string { return []string{"Retry-After", "8"} },
			[]connect.ClientOption{connect.WithMaxRateLimitWait(7 * time.Second)}, 8 * time.Second},
		{"503 absurd Retry-After", 503, func() []string { return []string{"Retry-After", "9223372036854775807"} }, nil, 0},
	} {
		for _, op := range rtOps {
			t.Run(op.method+" "+tc.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					c, rec := newBubbleClient(t, rtStatusWith(tc.status, tc.header()...), tc.opts...)
					start := time.Now()
					var resp connect.Response
					_, err := op.call(t.Context(), c, connect.WithResponseInto(&resp))
					assert.Zero(t, time.Since(start), "the call waited")
					apiErr := requireAPIError(t, err, tc.status)
					if tc.want != 0 {
						assert.Equal(t, tc.want, apiErr.RetryAfter)
					} else {
						assert.Greater(t, apiErr.RetryAfter, 24*time.Hour, "the hint is kept, saturated")
					}
					assert.Equal(t, 1, rec.count())
					assert.Equal(t, 1, resp.Attempts)
				})
			})
		}
	}
}

// slowTransport answers after d, or fails when the attempt's context ends
// first; it works inside a synctest bubble.
type slowTransport struct {
	d    time.Duration
	body []byte
}

func (t slowTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-req.Context().Done():
		return nil, req.Context().Err()
	case <-time.After(t.d):
	}
	w := httptest.NewRecorder()
	respond(200, t.body)(w, req)
	return w.Result(), nil
}

// TestHTTPClientTimeout: the Timeout of the client given to WithHTTPClient
// bounds each attempt; with WithTimeout too, the smaller of the two does.
// (Before: the client's Timeout was dropped, so a 50 ms client against a
// 400 ms server succeeded.)
func TestHTTPClientTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client time.Duration // the http.Client's Timeout
		opts   []connect.ClientOption
		want   time.Duration // the attempt's bound; 0: it succeeds
		source string
	}{
		{"client's timeout alone", 50 * time.Millisecond, nil, 50 * time.Millisecond, "WithHTTPClient"},
		{"client's timeout above the default", 2 * time.Minute, nil, 0, ""},
		{"client's timeout smaller", 50 * time.Millisecond, []connect.ClientOption{connect.WithTimeout(time.Second)}, 50 * time.Millisecond, "WithHTTPClient"},
		{"WithTimeout smaller", 300 * time.Millisecond, []connect.ClientOption{connect.WithTimeout(100 * time.Millisecond)}, 100 * time.Millisecond, "WithTimeout"},
		{"no client timeout", 0, []connect.ClientOption{connect.WithTimeout(100 * time.Millisecond)}, 100 * time.Millisecond, "WithTimeout"},
		{"neither binds", 0, nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hc := &http.Client{Timeout: tc.client, Transport: slowTransport{400 * time.Millisecond, fixture(t, "sharetokens/redeemed.json")}}
				opts := append([]connect.ClientOption{connect.WithBaseURL("https://persona.test/api/v1"),
					connect.WithHTTPClient(hc), connect.WithMaxRetries(0)}, tc.opts...)
				c, err := connect.NewClient(testAPIKey, opts...)
				require.NoError(t, err)
				start := time.Now()
				_, err = c.ShareTokens.Get(t.Context(), rtTokenID)
				if tc.want == 0 {
					require.NoError(t, err)
					assert.Equal(t, 400*time.Millisecond, time.Since(start))
					return
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, tc.want, time.Since(start))
				assert.Contains(t, err.Error(), fmt.Sprintf("attempt timed out after %s (%s", tc.want, tc.source))
				assert.Equal(t, tc.client, hc.Timeout, "the caller's client is unchanged")
			})
		})
	}
}
