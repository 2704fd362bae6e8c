package connecttest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	first := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k1")
	require.Equal(t, 201, first.Status)

	e.clock.Advance(23 * time.Hour)
	// Whitespace in the JSON body does not matter.
	body := `{ "data": { "attributes": { "connection-id": "` + cxn + `", "source-id": "` + e.inq + `" } } }`
	again := e.do(e.src, "POST", "/connect/share-tokens", body, "Idempotency-Key", "k1")
	require.Equal(t, 201, again.Status)
	assert.Equal(t, string(first.Raw), string(again.Raw), "same token, same body")
	assert.Empty(t, again.Header.Values("Idempotent-Replayed"), "Persona documents no header marking a replay")
	assert.NotEqual(t, first.Header.Get("Request-Id"), again.Header.Get("Request-Id"))
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)
	assert.Equal(t, 1, e.srv.Stats().Replays)
	reqs := e.srv.Requests()
	assert.True(t, reqs[len(reqs)-1].Replayed)

	// After 24 hours the key is forgotten.
	e.clock.Advance(time.Hour)
	later := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k1")
	require.Equal(t, 201, later.Status)
	assert.NotEqual(t, first.id(), later.id())
	assert.Equal(t, 2, e.srv.Stats().ShareTokensCreated)
}

func TestIdempotencyKeyReusedWithOtherParameters(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	require.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k").Status)
	other := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq, 3600), "Idempotency-Key", "k")
	assert.Equal(t, 422, other.Status)
	assert.Contains(t, other.errItem()["details"], "different request parameters")
	path := e.do(e.src, "POST", "/connect/connections", connBody(e.other.ID), "Idempotency-Key", "k")
	assert.Equal(t, 422, path.Status, "another path with the same key")
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)

	// Keys are per organization.
	inq := e.srv.NewInquiry(e.dst, nil)
	back := e.srv.NewActiveConnection(e.dst, e.src)
	assert.Equal(t, 201, e.do(e.dst, "POST", "/connect/share-tokens", tokenBody(back, inq), "Idempotency-Key", "k").Status)
	// GET ignores the header.
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/share-tokens", nil, "Idempotency-Key", "k").Status)
}

func TestIdempotencyStoresFailures(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	// A 4xx is stored: fixing the object meanwhile does not change the answer.
	red := e.srv.NewInquiry(e.src, nil)
	r1 := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, "inq_missing"), "Idempotency-Key", "bad")
	require.Equal(t, 422, r1.Status)
	r2 := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, "inq_missing"), "Idempotency-Key", "bad")
	assert.Equal(t, string(r1.Raw), string(r2.Raw))
	_ = red

	// An injected 500 is stored and replayed, as Persona does.
	e.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", Status: 500})
	f1 := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "five")
	require.Equal(t, 500, f1.Status)
	f2 := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "five")
	assert.Equal(t, 500, f2.Status, "the retry with the same key gets the 500 again")
	assert.Empty(t, f2.Header.Values("Idempotent-Replayed"))
	reqs := e.srv.Requests()
	assert.True(t, reqs[len(reqs)-1].Replayed)
	assert.Equal(t, 0, e.srv.Stats().ShareTokensCreated)
	// A new key runs again.
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "six").Status)
}

func TestIdempotencyDoesNotStoreGatewayErrors(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	for _, status := range []int{408, 502, 503, 504} {
		e.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", Status: status})
		key := "gw" + strconv.Itoa(status)
		r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", key)
		require.Equal(t, status, r.Status)
		assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", key).Status)
	}
}

func TestIdempotencyDoesNotStore429Or401(t *testing.T) {
	e := newEnv(t, connecttest.WithRateLimit(3, time.Minute))
	cxn := e.srv.NewActiveConnection(e.src, e.dst)
	require.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)
	require.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)
	require.Equal(t, 200, e.do(e.src, "GET", "/connect/connections", nil).Status)
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k")
	require.Equal(t, 429, r.Status)
	e.clock.Advance(time.Minute)
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k").Status)

	// An injected 429 is not stored either.
	e.srv.InjectFault(connecttest.Fault{Status: 429, RetryAfter: "1"})
	r = e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k2")
	require.Equal(t, 429, r.Status)
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k2").Status)

	// A 401 never reaches the store.
	e.clock.Advance(time.Minute)
	r = e.do(nil, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k3", "Authorization", "Bearer nope")
	require.Equal(t, 401, r.Status)
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k3").Status)
}

func TestIdempotentRedeem(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Minute))
	tok := e.token(e.connect(), e.inq)
	r1 := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil, "Idempotency-Key", "redeem-"+tok)
	require.Equal(t, 202, r1.Status)
	r2 := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil, "Idempotency-Key", "redeem-"+tok)
	assert.Equal(t, 202, r2.Status, "a retried redeem is replayed, not a 409")
	assert.Equal(t, string(r1.Raw), string(r2.Raw))
	assert.Equal(t, 409, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil, "Idempotency-Key", "fresh").Status)
	assert.Equal(t, 1, e.srv.Stats().Redemptions)
}

func TestIdempotencyUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	var wg sync.WaitGroup
	got := make([]string, 20)
	for i := range got {
		wg.Go(func() {
			r := e.send(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "same")
			if r.Status == 201 {
				got[i] = r.id()
			}
		})
	}
	wg.Wait()
	for _, id := range got {
		assert.Equal(t, got[0], id)
	}
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)
}

// TestIdempotencyAtomicUnderContention sends 16 POSTs with one key at once,
// many times over: each round must make one token (or one redemption),
// answer every request with the same first response, and keep that response
// stored, so that a later request with the key still gets it.
func TestIdempotencyAtomicUnderContention(t *testing.T) {
	const par = 16
	rounds := 150
	if testing.Short() {
		rounds = 30
	}
	e := newEnv(t, connecttest.WithRateLimit(0, time.Minute))
	e.inProcess() // the contention is on the fake's state, not its sockets
	cxn := e.connect()
	// Readers of the server's state keep its lock contended, as a busy
	// test's helpers would.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 1 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					_ = e.srv.Stats()
				}
			}
		})
	}
	defer readers.Wait()
	defer close(stop)
	for round := range rounds {
		key := "create-" + strconv.Itoa(round)
		got := contend(e, par, func() result {
			return e.send(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", key)
		})
		require.Equal(t, round+1, e.srv.Stats().ShareTokensCreated, "round %d: one key, one token", round)
		for _, r := range got {
			require.Equal(t, 201, r.Status, "round %d: %s", round, r.Raw)
			require.Equal(t, string(got[0].Raw), string(r.Raw), "round %d: one stored first response", round)
		}
	}
	assert.Equal(t, rounds*(par-1), e.srv.Stats().Replays)

	// Redeem: the 202 of the first stays the answer; no concurrent twin's
	// 409 takes its place in the store.
	for round := range rounds / 3 {
		tok := e.token(cxn, e.inq)
		key := "redeem-" + tok
		got := contend(e, par, func() result {
			return e.send(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil, "Idempotency-Key", key)
		})
		for _, r := range got {
			require.Equal(t, 202, r.Status, "round %d: %s", round, r.Raw)
		}
		later := e.send(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil, "Idempotency-Key", key)
		require.Equal(t, 202, later.Status, "round %d: the stored response is the first one", round)
		require.Equal(t, string(got[0].Raw), string(later.Raw))
	}
	assert.Equal(t, rounds/3, e.srv.Stats().Redemptions)
}

// contend runs fn on n goroutines released together and returns what each
// got.
func contend(e *env, n int, fn func() result) []result {
	out := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			<-start
			out[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return out
}

// TestIdempotencyTwinOfAnAbandonedRequest: while the first request with a
// key is held (an injected delay), the key with other parameters is a 422 at
// once; when the first is abandoned unprocessed, its twin runs itself.
func TestIdempotencyTwinOfAnAbandonedRequest(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	e.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", Delay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	firstDone := make(chan error, 1)
	go func() {
		body, _ := json.Marshal(tokenBody(cxn, e.inq))
		req, _ := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/connect/share-tokens", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.src.APIKey)
		req.Header.Set("Idempotency-Key", "held")
		resp, err := e.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		firstDone <- err
	}()
	for e.srv.Stats().Faults == 0 { // the first holds the key once it took the fault
		runtime.Gosched()
	}
	other := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq, 3600), "Idempotency-Key", "held")
	assert.Equal(t, 422, other.Status, "other parameters while the first is in flight")

	twin := make(chan result, 1)
	go func() {
		twin <- e.send(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "held")
	}()
	cancel()
	require.Error(t, <-firstDone)
	r := <-twin
	assert.Equal(t, 201, r.Status, "%s", r.Raw)
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)
	again := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "held")
	assert.Equal(t, string(r.Raw), string(again.Raw), "the twin's response is the stored one")
}
