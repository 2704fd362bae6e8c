package connect_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// waitPoll answers the polls of Wait in order, repeating the last answer.
func waitPoll(t testing.TB, fixtures ...string) http.Handler {
	handlers := make([]http.HandlerFunc, len(fixtures))
	for i, name := range fixtures {
		handlers[i] = respond(http.StatusOK, fixture(t, name))
	}
	return sequence(handlers...)
}

// TestWaitRedeemed: Wait polls a pending token until it is redeemed and
// returns the redeemed token, each poll a GET of the token.
func TestWaitRedeemed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stamps := &rtStamps{}
		c, rec := newBubbleClient(t, stamps.wrap(waitPoll(t,
			"sharetokens/pending_clone.json", "sharetokens/pending_clone.json", "sharetokens/redeemed.json")),
			connect.WithRetryWait(time.Second, 8*time.Second))
		start := time.Now()
		tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
		require.NoError(t, err)
		require.NotNil(t, tok)
		assert.Equal(t, rtTokenID, tok.ID)
		assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)
		assert.NotNil(t, tok.RedeemedAt)
		assert.Equal(t, 3, rec.count())
		for _, r := range rec.all() {
			assert.Equal(t, http.MethodGet, r.Method)
			assert.Equal(t, "/api/v1/connect/share-tokens/"+rtTokenID, r.Path)
			assert.Empty(t, r.RawQuery)
		}
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, stamps.gaps())
		assert.Equal(t, 3*time.Second, time.Since(start), "Wait returns right after the terminal poll")
	})
}

// TestWaitTerminalWithoutError: failed and expired tokens end the wait and
// are returned as they are, without an error; an already terminal token
// costs one request.
func TestWaitTerminalWithoutError(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		status  connect.ShareTokenStatus
	}{
		{"sharetokens/failed.json", connect.ShareTokenStatusFailed},
		{"sharetokens/expired.json", connect.ShareTokenStatusExpired},
		{"sharetokens/redeemed.json", connect.ShareTokenStatusRedeemed},
	} {
		t.Run(string(tc.status)+" after pending", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, rec := newBubbleClient(t, waitPoll(t, "sharetokens/pending_hydrate.json", tc.fixture))
				tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
				require.NoError(t, err)
				assert.Equal(t, tc.status, tok.Status)
				assert.Equal(t, 2, rec.count())
				if tc.status == connect.ShareTokenStatusFailed {
					assert.Equal(t, connect.FailureReasonImportFailed, tok.FailureReason)
					assert.NotNil(t, tok.FailedAt)
				}
			})
		})
		t.Run(string(tc.status)+" at once", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, rec := newBubbleClient(t, waitPoll(t, tc.fixture))
				start := time.Now()
				tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
				require.NoError(t, err)
				assert.Equal(t, tc.status, tok.Status)
				assert.Equal(t, 1, rec.count())
				assert.Zero(t, time.Since(start))
			})
		})
	}
}

// TestWaitPollInterval: the gap between polls starts at WithPollInterval's
// initial value and doubles up to its maximum, where it stays; without the
// option it runs from 1s to 10s, whatever WithRetryWait says.
func TestWaitPollInterval(t *testing.T) {
	const s, ms = time.Second, time.Millisecond
	for _, tc := range []struct {
		name       string
		clientOpts []connect.ClientOption
		opts       []connect.RequestOption
		want       []time.Duration
	}{
		{"1s to 8s", nil, []connect.RequestOption{connect.WithPollInterval(s, 8*s)}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s, 8 * s}},
		{"default 1s to 10s", nil, nil, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s, 10 * s}},
		{"default ignores WithRetryWait", []connect.ClientOption{connect.WithRetryWait(ms, 2*ms)}, nil, []time.Duration{s, 2 * s, 4 * s, 8 * s, 10 * s}},
		{"WithRetryWait does not change the option", []connect.ClientOption{connect.WithRetryWait(5*s, 20*s)},
			[]connect.RequestOption{connect.WithPollInterval(3*s, 10*s)}, []time.Duration{3 * s, 6 * s, 10 * s, 10 * s, 10 * s, 10 * s}},
		{"equal bounds", nil, []connect.RequestOption{connect.WithPollInterval(2*s, 2*s)}, []time.Duration{2 * s, 2 * s, 2 * s, 2 * s}},
		{"sub-second", nil, []connect.RequestOption{connect.WithPollInterval(100*ms, 250*ms)}, []time.Duration{100 * ms, 200 * ms, 250 * ms, 250 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				polls := make([]string, len(tc.want)+1)
				for i := range tc.want {
					polls[i] = "sharetokens/pending_clone.json"
				}
				polls[len(tc.want)] = "sharetokens/redeemed.json"
				stamps := &rtStamps{}
				c, rec := newBubbleClient(t, stamps.wrap(waitPoll(t, polls...)), tc.clientOpts...)
				tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID, tc.opts...)
				require.NoError(t, err)
				assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)
				assert.Equal(t, len(tc.want)+1, rec.count())
				assert.Equal(t, tc.want, stamps.gaps())
			})
		})
	}
}

// TestWaitPollIntervalValidation: invalid bounds fail before any poll, with
// a *ValidationError naming the option.
func TestWaitPollIntervalValidation(t *testing.T) {
	for name, opt := range map[string]connect.RequestOption{
		"zero initial":      connect.WithPollInterval(0, time.Second),
		"negative initial":  connect.WithPollInterval(-time.Second, time.Second),
		"max below initial": connect.WithPollInterval(2*time.Second, time.Second),
		"zero max":          connect.WithPollInterval(time.Second, 0),
	} {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID, opt)
			assert.Nil(t, tok)
			requireValidationError(t, err, "WithPollInterval")
			assert.Zero(t, rec.count())
		})
	}
}

// TestWaitReturnsOnAnyOtherStatus: Wait polls only while the token is
// created or pending; any other status, one it does not know included, is
// returned at once for the caller to judge.
func TestWaitReturnsOnAnyOtherStatus(t *testing.T) {
	for _, status := range []string{"archived", "redeeming", "REDEEMED", ""} {
		t.Run(status, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				body := strings.Replace(string(fixture(t, "sharetokens/pending_clone.json")), `"status": "pending"`, `"status": "`+status+`"`, 1)
				require.Contains(t, body, `"status": "`+status+`"`)
				c, rec := newBubbleClient(t, sequence(
					respond(http.StatusOK, fixture(t, "sharetokens/created.json")),
					respond(http.StatusOK, []byte(body))))
				start := time.Now()
				tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
				require.NoError(t, err)
				assert.Equal(t, connect.ShareTokenStatus(status), tok.Status)
				assert.Equal(t, 2, rec.count())
				assert.Equal(t, time.Second, time.Since(start))
			})
		})
	}
}

// TestWaitEmptyBodiesEndIt: a poll answered with a body that holds no token
// ends Wait with the *UnexpectedResponseError, instead of polling forever.
func TestWaitEmptyBodiesEndIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, rec := newBubbleClient(t, sequence(
			respond(http.StatusOK, fixture(t, "sharetokens/pending_clone.json")),
			respond(http.StatusOK, []byte(`{}`))))
		tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
		assert.Nil(t, tok)
		requireUnexpected(t, err, http.MethodGet, "/connect/share-tokens/"+rtTokenID)
		assert.Equal(t, 2, rec.count())
	})
}

// TestWaitContextEnds: when the context ends before a terminal status, Wait
// returns a *WaitError that is the context's error and names the last status.
func TestWaitContextEnds(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stamps := &rtStamps{}
			c, rec := newBubbleClient(t, stamps.wrap(waitPoll(t, "sharetokens/pending_clone.json")))
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			start := time.Now()
			tok, err := c.ShareTokens.Wait(ctx, rtTokenID, connect.WithPollInterval(time.Second, 4*time.Second))
			assert.Nil(t, tok)
			require.Error(t, err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we)
			assert.Equal(t, rtTokenID, we.ID)
			assert.Equal(t, connect.ShareTokenStatusPending, we.LastStatus)
			assert.Contains(t, err.Error(), rtTokenID)
			assert.Contains(t, err.Error(), "pending")
			// Polls at 0, 1, 3 and 7s; the 4s sleep from 7s is cut at 10s.
			assert.Equal(t, 4, rec.count())
			assert.Equal(t, 10*time.Second, time.Since(start), "Wait outlived its context")
		})
	})
	t.Run("cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newBubbleClient(t, waitPoll(t, "sharetokens/pending_clone.json"),
				connect.WithRetryWait(time.Second, 4*time.Second))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(1500*time.Millisecond, cancel)
			start := time.Now()
			_, err := c.ShareTokens.Wait(ctx, rtTokenID)
			assert.ErrorIs(t, err, context.Canceled)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we)
			assert.Equal(t, connect.ShareTokenStatusPending, we.LastStatus)
			assert.Equal(t, 2, rec.count())
			assert.Equal(t, 1500*time.Millisecond, time.Since(start))
		})
	})
	t.Run("cancel during a poll's retry wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newBubbleClient(t, sequence(
				respond(http.StatusOK, fixture(t, "sharetokens/pending_clone.json")),
				rtStatus(503)),
				connect.WithRetryWait(time.Second, 4*time.Second))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(1500*time.Millisecond, cancel) // the second poll is sent at 1s, its retry due at 2s
			_, err := c.ShareTokens.Wait(ctx, rtTokenID)
			assert.ErrorIs(t, err, context.Canceled)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we, "got %T: %v", err, err)
			assert.Equal(t, connect.ShareTokenStatusPending, we.LastStatus)
			assert.Equal(t, 2, rec.count())
		})
	})
	t.Run("over before the first poll", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newBubbleClient(t, waitPoll(t, "sharetokens/pending_clone.json"))
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := c.ShareTokens.Wait(ctx, rtTokenID)
			assert.ErrorIs(t, err, context.Canceled)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we, "got %T: %v", err, err)
			assert.Empty(t, we.LastStatus)
			assert.Contains(t, err.Error(), "no status seen")
			assert.Zero(t, rec.count())
		})
	})
	t.Run("during the first poll", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			// The server holds the first poll until the caller gives up.
			c, rec := newBubbleClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			}))
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			start := time.Now()
			tok, err := c.ShareTokens.Wait(ctx, rtTokenID)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we, "got %T: %v", err, err)
			assert.Equal(t, rtTokenID, we.ID)
			assert.Empty(t, we.LastStatus)
			assert.Equal(t, 1, rec.count())
			assert.Equal(t, 3*time.Second, time.Since(start))
		})
	})
	t.Run("during the first poll's retry wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newBubbleClient(t, rtStatus(503), connect.WithRetryWait(time.Second, 4*time.Second))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(500*time.Millisecond, cancel)
			_, err := c.ShareTokens.Wait(ctx, rtTokenID)
			assert.ErrorIs(t, err, context.Canceled)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we, "got %T: %v", err, err)
			assert.Empty(t, we.LastStatus)
			assert.Equal(t, 1, rec.count())
		})
	})
}

// TestWaitNilContext: a nil context is a *ValidationError, not a panic.
func TestWaitNilContext(t *testing.T) {
	c, rec := newRefusingClient(t)
	var ctx context.Context
	assert.NotPanics(t, func() {
		_, err := c.ShareTokens.Wait(ctx, rtTokenID)
		requireValidationError(t, err, "ctx")
	})
	assert.Zero(t, rec.count())
}

// TestWaitErrorEndsWait: an error response during Wait is returned at once
// as the *Error, without further polls; retryable statuses are still
// retried inside the poll.
func TestWaitErrorEndsWait(t *testing.T) {
	t.Run("404", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stamps := &rtStamps{}
			c, rec := newBubbleClient(t, stamps.wrap(sequence(
				respond(http.StatusOK, fixture(t, "sharetokens/pending_clone.json")),
				respond(http.StatusNotFound, fixture(t, "errors/404.json")),
				respond(http.StatusOK, fixture(t, "sharetokens/redeemed.json")))),
				connect.WithRetryWait(time.Second, 4*time.Second))
			start := time.Now()
			tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
			assert.Nil(t, tok)
			apiErr := requireAPIError(t, err, http.StatusNotFound)
			assert.ErrorIs(t, err, connect.ErrNotFound)
			var we *connect.WaitError
			assert.False(t, errors.As(err, &we), "a 404 is not a wait that ran out")
			assert.Equal(t, "req_TEST123", apiErr.RequestID)
			assert.Equal(t, 2, rec.count())
			assert.Equal(t, time.Second, time.Since(start), "Wait went on after the 404")
		})
	})
	t.Run("transient 503 inside a poll", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, rec := newBubbleClient(t, sequence(
				respond(http.StatusOK, fixture(t, "sharetokens/pending_clone.json")),
				rtStatus(503),
				respond(http.StatusOK, fixture(t, "sharetokens/redeemed.json"))),
				connect.WithRetryWait(time.Second, 4*time.Second))
			tok, err := c.ShareTokens.Wait(t.Context(), rtTokenID)
			require.NoError(t, err)
			assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)
			assert.Equal(t, 3, rec.count())
		})
	})
}

// TestWaitInvalidID: validation runs before any poll.
func TestWaitInvalidID(t *testing.T) {
	c, rec := newTestClient(t, waitPoll(t, "sharetokens/redeemed.json"))
	for _, id := range []string{"", "cnst ABC", "../cnst_ABC123", string(make([]byte, 129))} {
		_, err := c.ShareTokens.Wait(t.Context(), id)
		requireValidationError(t, err, "id")
	}
	assert.Zero(t, rec.count())
}
