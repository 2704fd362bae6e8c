package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// redeemKeys lists the Idempotency-Key of every redeem of tokenID Persona
// received, in order.
func (f *fixture) redeemKeys(tokenID string) []string {
	var keys []string
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/share-tokens/"+tokenID+"/redeem") {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	return keys
}

func redeemPath(tokenID string) string { return "/connect/share-tokens/" + tokenID + "/redeem" }

// deactivate takes the connection down, as the source can at any time.
func (f *fixture) deactivate(t *testing.T) {
	t.Helper()
	_, err := f.client(t, f.acme).Connections.Deactivate(context.Background(), f.cxn)
	require.NoError(t, err)
}

// reactivate brings the connection back: the source asks, the destination
// accepts.
func (f *fixture) reactivate(t *testing.T) {
	t.Helper()
	_, err := f.client(t, f.acme).Connections.Reactivate(context.Background(), f.cxn)
	require.NoError(t, err)
	require.NoError(t, f.fake.AcceptConnection(f.cxn))
}

func TestRefusedRedemptionIsTriedAgainWithANewKey(t *testing.T) {
	cases := map[string]struct {
		refuse func(t *testing.T, f *fixture, tokenID string)
		fix    func(t *testing.T, f *fixture)
		status int
	}{
		"connection inactive": {
			refuse: func(t *testing.T, f *fixture, _ string) { f.deactivate(t) },
			fix:    func(t *testing.T, f *fixture) { f.reactivate(t) },
			status: http.StatusUnprocessableEntity,
		},
		"injected 422": {
			refuse: func(_ *testing.T, f *fixture, id string) {
				f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: redeemPath(id), Status: http.StatusUnprocessableEntity})
			},
			status: http.StatusUnprocessableEntity,
		},
		"injected 409 while the token is still created": {
			refuse: func(_ *testing.T, f *fixture, id string) {
				f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: redeemPath(id), Status: http.StatusConflict})
			},
			status: http.StatusConflict,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil)
			id := f.newToken(t)
			c.refuse(t, f, id)

			status, body := handOver(t, f.web, tokenBody(id))
			require.Equal(t, c.status, status, body)
			assert.Regexp(t, `^req_`, body["persona_request_id"])
			tok, _ := f.fake.ShareToken(id)
			require.Equal(t, "created", tok.Status)
			// Persona stores the refusal under its key: repeating the key repeats it.
			_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil, connect.WithIdempotencyKey("redeem-"+id+"-1"))
			require.Error(t, err)

			if c.fix != nil {
				c.fix(t, f)
			}
			status, body = handOver(t, f.web, tokenBody(id))

			require.Equal(t, http.StatusOK, status, body)
			f.assertClone(t, id, body)
			assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-1", "redeem-" + id + "-2"}, f.redeemKeys(id))
			assert.Equal(t, 1, f.fake.Stats().Redemptions)
		})
	}
}

// A 500 is stored under its key too, and the same key would repeat it for
// 24 hours; for a redeem a new key is safe, since Persona refuses a second
// redemption.
func TestServerErrorMovesToANewKey(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: redeemPath(id), Status: http.StatusInternalServerError})

	status, body := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusBadGateway, status, body)
	status, body = handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-2"}, f.redeemKeys(id))
}

// When the outcome of an attempt is unknown, the next run repeats its key:
// Persona answers with what it did, and a redemption that happened is not
// tried under another key.
func TestUnknownOutcomeRepeatsTheKey(t *testing.T) {
	cases := map[string]connecttest.Fault{
		"connection dropped after processing": {DropAfterProcessing: true},
		"503 at the gateway":                  {Status: http.StatusServiceUnavailable},
		"429":                                 {Status: http.StatusTooManyRequests},
	}
	for name, fault := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, nil, func(c *config) {
				c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(0)) // the service sees the failure
			})
			id := f.newToken(t)
			fault.Method, fault.PathPrefix = http.MethodPost, redeemPath(id)
			f.fake.InjectFault(fault)

			status, body := handOver(t, f.web, tokenBody(id))
			require.Equal(t, http.StatusBadGateway, status, body)
			status, body = handOver(t, f.web, tokenBody(id))

			require.Equal(t, http.StatusOK, status, body)
			f.assertClone(t, id, body)
			assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-1"}, f.redeemKeys(id))
			assert.Equal(t, 1, f.fake.Stats().Redemptions)
		})
	}
}

func TestDroppedAnswerIsReplayedNotRedeemedTwice(t *testing.T) {
	f := newFixture(t, nil, func(c *config) {
		c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(0))
	})
	id := f.newToken(t)
	f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: redeemPath(id), DropAfterProcessing: true})

	status, _ := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusBadGateway, status)
	tok, _ := f.fake.ShareToken(id)
	require.NotEqual(t, "created", tok.Status, "Persona processed the dropped redeem")
	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.fake.Stats().Redemptions)
	assert.Equal(t, 1, f.fake.Stats().Replays, "the second run got the first run's answer")
}

// A 409 says the token was redeemed before: the service reads it and
// adopts its state, waiting while it is pending.
func TestConflictWhilePendingAdoptsTheToken(t *testing.T) {
	f := newFixture(t, []connecttest.Option{connecttest.WithRedeemDelay(time.Hour)}, func(c *config) {
		c.WaitTimeout = 50 * time.Millisecond
	})
	id := f.newToken(t)
	_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil, connect.WithIdempotencyKey("an-earlier-run"))
	require.NoError(t, err)

	status, body := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "pending", body["status"])

	f.fake.Clock().Advance(time.Hour)
	status, body = handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, []string{"an-earlier-run", "redeem-" + id + "-1", "redeem-" + id + "-2"}, f.redeemKeys(id))
	assert.Equal(t, 1, f.fake.Stats().Redemptions)
}

// A restarted service has lost its attempt numbers (this one keeps them in
// memory) and starts again at 1, whose stored refusal Persona replays; the
// token's state shows that a later attempt redeemed it.
func TestStaleRefusalAfterRestartAdoptsTheTokenState(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	f.deactivate(t)
	status, _ := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusUnprocessableEntity, status)
	f.reactivate(t)
	status, first := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusOK, status, first)
	_, restarted := f.startService(t)

	status, again := handOver(t, restarted, tokenBody(id))

	require.Equal(t, http.StatusOK, status, again)
	assert.Equal(t, first, again)
	assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-2", "redeem-" + id + "-1"}, f.redeemKeys(id))
	assert.Equal(t, 1, f.fake.Stats().Redemptions)
}

func TestExpiredTokenIsReportedFromItsState(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	_, err := f.client(t, f.acme).ShareTokens.Expire(context.Background(), id)
	require.NoError(t, err)

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	assert.Equal(t, map[string]any{"share_token_id": id, "status": "expired", "destination": nil, "failure_reason": nil}, body)
	// Expired is final: a repeat answers it again without calling Persona.
	before := len(f.fake.Requests())
	status, again := handOver(t, f.web, tokenBody(id))
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, body, again)
	assert.Len(t, f.fake.Requests(), before)
}

func TestRedeemKey(t *testing.T) {
	assert.Equal(t, "redeem-cnst_1-3", redeemKey("cnst_1", 3))
	longest := redeemKey(strings.Repeat("c", 128), 1<<62)
	assert.LessOrEqual(t, len(longest), 255, "within Persona's limit for any id the SDK accepts")
}
