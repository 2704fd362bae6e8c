package connecttest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/connecttest"
)

// waitFailures waits for the webhooks and returns the failures WaitWebhooks
// reported, failing the test when it reported none.
func (e *env) waitFailures() *connecttest.WebhookFailuresError {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.srv.WaitWebhooks(ctx)
	var failed *connecttest.WebhookFailuresError
	require.True(e.t, errors.As(err, &failed), "want a *WebhookFailuresError, got %v", err)
	return failed
}

// answering is a receiver that answers every delivery with status and body.
func answering(t *testing.T, status int, body string) string {
	t.Helper()
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(rc.Close)
	return rc.URL + "/hook"
}

func TestWaitWebhooksReportsEachFailureOnceWithTheReceiversAnswer(t *testing.T) {
	e := newEnv(t, connecttest.WithWebhookRetrySchedule(time.Millisecond))
	url := answering(t, http.StatusUnauthorized, `{"error":"signature is too old"}`)
	_, err := e.srv.RegisterWebhook(e.dst, url, connecttest.WithEnabledEvents(connecttest.EventShareTokenInboundCreated))
	require.NoError(t, err)
	tok := e.token(e.connect(), e.inq)

	failed := e.waitFailures()
	require.Len(t, failed.Failures, 1)
	d := failed.Failures[0]
	assert.Equal(t, connecttest.EventShareTokenInboundCreated, d.EventName)
	assert.Equal(t, 2, d.Attempt, "the first attempt and its one retry")
	assert.Equal(t, 401, d.Status)
	assert.Equal(t, connecttest.WebhookFailed, d.Outcome)
	msg := failed.Error()
	assert.Contains(t, msg, "1 webhook delivery failed")
	assert.Contains(t, msg, url+" after 2 attempts: last answered 401 "+`"{\"error\":\"signature is too old\"}"`)
	assert.Contains(t, msg, "connect.WithWebhookClock(srv.Clock().Now)", "a 401 names the usual cause")

	assert.NoError(t, e.srv.WaitWebhooks(context.Background()), "a failure is reported once")
	st, _ := e.srv.ShareToken(tok)
	assert.Equal(t, "created", st.Status)
}

func TestWebhookFailureQuotesOnlyTheStartOfALongAnswer(t *testing.T) {
	e := newEnv(t, connecttest.WithWebhookRetrySchedule())
	_, err := e.srv.RegisterWebhook(e.dst, answering(t, 500, strings.Repeat("é", 300)))
	require.NoError(t, err)
	e.token(e.connect(), e.inq)
	msg := e.waitFailures().Error()
	assert.Contains(t, msg, "last answered 500")
	assert.Contains(t, msg, strings.Repeat("é", 100)+"…", "cut at 200 bytes, on a character boundary")
	assert.NotContains(t, msg, strings.Repeat("é", 101))
	assert.NotContains(t, msg, "WithWebhookClock", "only 401s suggest the clock")
}

func TestWaitShareTokenWakesOnRequestsAndClock(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(10*time.Second))
	tok := e.token(e.connect(), e.inq)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type result struct {
		tok connecttest.ShareToken
		err error
	}
	wait := func(status string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			st, err := e.srv.WaitShareToken(ctx, tok, func(t connecttest.ShareToken) bool { return t.Status == status })
			ch <- result{st, err}
		}()
		return ch
	}
	pending := wait("pending")
	e.redeem(tok) // a request: wakes the waiter
	got := <-pending
	require.NoError(t, got.err)
	assert.Equal(t, t0, got.tok.PendingAt)

	redeemed := wait("redeemed")
	e.clock.Advance(10 * time.Second) // the manual clock: wakes the waiter
	got = <-redeemed
	require.NoError(t, got.err)
	assert.Equal(t, t0.Add(10*time.Second), got.tok.RedeemedAt)
}

func TestWaitShareTokenOnTheWallClockWakesWhenDue(t *testing.T) {
	srv := connecttest.NewServer(connecttest.WithRedeemDelay(50 * time.Millisecond))
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, client: srv.Client()}
	e.src, e.dst = srv.NewOrganization("a"), srv.NewOrganization("b")
	tok := e.token(srv.NewActiveConnection(e.src, e.dst), srv.NewInquiry(e.src, nil))
	e.redeem(tok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Nothing but time passes: the waiter's own timer for the completion
	// wakes it.
	st, err := srv.WaitShareToken(ctx, tok, func(t connecttest.ShareToken) bool { return t.Status == "redeemed" })
	require.NoError(t, err)
	assert.Equal(t, "redeemed", st.Status)
}

func TestWaitShareTokenErrors(t *testing.T) {
	e := newEnv(t)
	_, err := e.srv.WaitShareToken(context.Background(), "cnst_nope", func(connecttest.ShareToken) bool { return true })
	assert.ErrorIs(t, err, connecttest.ErrNotFound)

	tok := e.token(e.connect(), e.inq)
	never := func(connecttest.ShareToken) bool { return false }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := e.srv.WaitShareToken(ctx, tok, never)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "created", st.Status, "the latest snapshot comes with the error")

	done := make(chan error, 1)
	go func() {
		_, err := e.srv.WaitShareToken(context.Background(), tok, never)
		done <- err
	}()
	e.srv.Close()
	assert.ErrorIs(t, <-done, connecttest.ErrServerClosed)
}

func TestRequestRecordIsABoundedRingOfAuthenticatedRequests(t *testing.T) {
	e := newEnv(t, connecttest.WithRequestRecordLimit(3))
	for i := range 5 {
		e.do(e.src, "GET", "/connect/connections?n="+string(rune('0'+i)), nil)
		e.do(nil, "GET", "/connect/connections", nil)
	}
	reqs := e.srv.Requests()
	require.Len(t, reqs, 3)
	for i, r := range reqs {
		assert.Equal(t, "n="+string(rune('0'+i+2)), r.RawQuery, "the most recent, oldest first")
	}
	assert.Equal(t, 10, e.srv.Stats().Requests)
	assert.Equal(t, 5, e.srv.Stats().Unauthorized)

	big := strings.Repeat("x", 100<<10)
	r := e.send(e.src, "POST", "/connect/connections", big)
	assert.Equal(t, 400, r.Status)
	reqs = e.srv.Requests()
	last := reqs[len(reqs)-1]
	assert.Len(t, last.Body, 64<<10, "the recorded body is capped")
	assert.Equal(t, big[:64<<10], string(last.Body))
}
