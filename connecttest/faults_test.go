package connecttest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultStatusForNextN(t *testing.T) {
	e := newEnv(t)
	e.srv.InjectFault(connecttest.Fault{Method: "GET", PathPrefix: "/connect/share-tokens", Status: 503, Count: 2, RetryAfter: "2"})
	// Not matching: another method, another path.
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)
	for range 2 {
		r := e.do(e.src, "GET", "/connect/share-tokens", nil)
		require.Equal(t, 503, r.Status)
		assert.Equal(t, "2", r.Header.Get("Retry-After"))
		assert.Regexp(t, `^req_`, r.Header.Get("Request-Id"))
		assert.Equal(t, "Service Unavailable", r.errTitle())
	}
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/share-tokens", nil).Status)
	assert.Equal(t, 2, e.srv.Stats().Faults)

	// The full path works as a prefix too; a custom body is sent as is.
	e.srv.InjectFault(connecttest.Fault{PathPrefix: "/api/v1/connect/connections", Status: 500, Body: `{"errors":[{"title":"boom"}]}`})
	r := e.do(e.src, "GET", "/connect/connections", nil)
	assert.Equal(t, 500, r.Status)
	assert.Equal(t, `{"errors":[{"title":"boom"}]}`, string(r.Raw))

	// Unlimited until cleared.
	e.srv.InjectFault(connecttest.Fault{Status: 502, Count: -1})
	for range 5 {
		assert.Equal(t, 502, e.do(e.src, "GET", "/connect/connections", nil).Status)
	}
	e.srv.ClearFaults()
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)

	// Faults are consumed in order.
	e.srv.InjectFault(connecttest.Fault{Status: 500})
	e.srv.InjectFault(connecttest.Fault{Status: 422})
	assert.Equal(t, 500, e.do(e.src, "GET", "/connect/connections", nil).Status)
	assert.Equal(t, 422, e.do(e.src, "GET", "/connect/connections", nil).Status)
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)
}

func TestFaultDropAfterProcessing(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	e.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})

	// A fresh connection, so that net/http does not retry on its own.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest("POST", e.srv.URL+"/connect/share-tokens", strings.NewReader(mustJSON(t, tokenBody(cxn, e.inq))))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.src.APIKey)
	req.Header.Set("Idempotency-Key", "drop")
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the client sees the connection drop")

	// The fake did the work.
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)
	assert.Equal(t, 1, e.srv.Stats().Dropped)
	reqs := e.srv.Requests()
	last := reqs[len(reqs)-1]
	assert.True(t, last.Dropped)
	assert.Equal(t, 201, last.Status)

	// A retry with the same key gets the stored response: the same token.
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "drop")
	require.Equal(t, 201, r.Status)
	assert.Equal(t, string(last.ResponseBody), string(r.Raw))
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)
}

func TestFaultDelay(t *testing.T) {
	e := newEnv(t)
	e.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/connections", Delay: 2 * time.Second})

	// A client that gives up first leaves nothing done.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/connect/connections", strings.NewReader(mustJSON(t, connBody(e.dst.ID))))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.src.APIKey)
	_, err = e.client.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Eventually(t, func() bool { return len(e.srv.Requests()) == 1 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 0, e.srv.Requests()[0].Status, "abandoned")
	assert.Equal(t, 0, e.srv.Stats().ConnectionsCreated)

	// A patient client gets its answer after the delay.
	e.srv.InjectFault(connecttest.Fault{Method: "GET", Delay: 100 * time.Millisecond})
	start := time.Now()
	r := e.do(e.src, "GET", "/connect/connections", nil)
	assert.Equal(t, 200, r.Status)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)

	// A delayed edge status: slow, then 504.
	e.srv.InjectFault(connecttest.Fault{Status: 504, Delay: 20 * time.Millisecond})
	assert.Equal(t, 504, e.do(e.src, "GET", "/connect/connections", nil).Status)
}

func TestRequestsAreRecorded(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	e.srv.ResetRequests()
	e.clock.Advance(time.Second)
	r := e.do(e.src, "POST", "/connect/share-tokens?include=", tokenBody(cxn, e.inq), "Idempotency-Key", "rec", "Persona-Version", "2025-12-08")
	require.Equal(t, 201, r.Status)
	e.do(nil, "GET", "/connect/share-tokens", nil) // unauthenticated: counted, not recorded

	reqs := e.srv.Requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, "POST", got.Method)
	assert.Equal(t, "/api/v1/connect/share-tokens", got.Path)
	assert.Equal(t, "include=", got.RawQuery)
	assert.Equal(t, "rec", got.Header.Get("Idempotency-Key"))
	assert.Equal(t, "2025-12-08", got.Header.Get("Persona-Version"))
	assert.JSONEq(t, mustJSON(t, tokenBody(cxn, e.inq)), string(got.Body))
	assert.Equal(t, e.src.ID, got.OrganizationID)
	assert.Equal(t, r.Header.Get("Request-Id"), got.RequestID)
	assert.Equal(t, 201, got.Status)
	assert.Equal(t, string(r.Raw), string(got.ResponseBody))
	assert.Equal(t, t0.Add(time.Second), got.Time)
	assert.Equal(t, 1, e.srv.Stats().Unauthorized)

	// The record is a copy.
	reqs[0].Body[0] = 'X'
	assert.NotEqual(t, byte('X'), e.srv.Requests()[0].Body[0])
	assert.Equal(t, 3, e.srv.Stats().Requests, "Stats survive ResetRequests")
}
