package redeem

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

func TestRedeemKey(t *testing.T) {
	assert.Equal(t, "redeem-cnst_1-3", redeemKey("cnst_1", 3))
	longest := redeemKey(strings.Repeat("c", 128), 1<<62)
	assert.LessOrEqual(t, len(longest), 255, "within Persona's limit for any id the service accepts")
}

// When the outcome of a redeem is unknown (the answer lost after Persona
// acted, a 429), River's retry repeats its key: Persona answers with what it
// did, and a redemption that happened is not tried under another key.
func TestUnknownOutcomeRepeatsTheKey(t *testing.T) {
	cases := map[string]struct {
		fault    connecttest.Fault
		replayed int // answers Persona replays under the first key
	}{
		"connection dropped after processing": {connecttest.Fault{DropAfterProcessing: true}, 1},
		"429, wait a second":                  {connecttest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db target) {
				f := newFixture(t, db)
				id := f.newToken(t)
				c.fault.Method, c.fault.PathPrefix = http.MethodPost, "/connect/share-tokens/"+id+"/redeem"
				f.fake.InjectFault(c.fault)
				r := f.start(t, reconcileSoon, func(c *Config) {
					c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(0)) // the job sees the failure
				})

				code, _ := handOver(t, r, id)
				require.Equal(t, http.StatusAccepted, code)
				f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })

				f.assertRedeemedOnce(t, r, id)
				keys, _ := f.redeemCalls(id)
				assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-1"}, keys)
				assert.Equal(t, 1, stateOf(t, r, id).Attempt)
				assert.Equal(t, c.replayed, f.fake.Stats().Replays)
				assert.Equal(t, 1, f.fake.Stats().Redemptions)
			})
		})
	}
}

// A 5xx may be stored under its key for 24 hours (an application error is,
// on the fake), and a 409 while the token is still created is a conflict
// with something other than our redemption: either way the next try takes a
// new key, which cannot redeem twice (a redemption that got through answers
// 409 and is adopted). The old code repeated the first key, and its stored
// answer, for as long as River retried.
func TestServerErrorOrConflictWhileCreatedMovesToANewKey(t *testing.T) {
	cases := map[string]connecttest.Fault{
		"500 stored under the key": {Status: http.StatusInternalServerError},
		"503 at the gateway":       {Status: http.StatusServiceUnavailable},
		"409 while created":        {Status: http.StatusConflict},
	}
	for name, fault := range cases {
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db target) {
				f := newFixture(t, db)
				id := f.newToken(t)
				fault.Method, fault.PathPrefix = http.MethodPost, "/connect/share-tokens/"+id+"/redeem"
				f.fake.InjectFault(fault)
				r := f.start(t, reconcileSoon, func(c *Config) {
					c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(0)) // the job sees the failure
				})

				code, _ := handOver(t, r, id)
				require.Equal(t, http.StatusAccepted, code)
				f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
				f.assertRedeemedOnce(t, r, id)
				keys, _ := f.redeemCalls(id)
				assert.Equal(t, []string{"redeem-" + id + "-1", "redeem-" + id + "-2"}, keys)
				assert.Equal(t, 2, stateOf(t, r, id).Attempt)
			})
		})
	}
}

// A 409 while the token is still pending (an earlier attempt's redemption
// is under way) is adopted: the token is recorded as redeeming, under the
// same key, and reconciliation records the outcome once Persona has it.
func TestConflictWhilePendingAdoptsTheToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db, connecttest.WithRedeemDelay(time.Hour))
		id := f.newToken(t)
		_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil, connect.WithIdempotencyKey("an-earlier-run"))
		require.NoError(t, err)
		r := f.start(t, reconcileSoon)

		code, _ := handOver(t, r, id)
		require.Equal(t, http.StatusAccepted, code)
		f.eventually(t, "adopted as redeeming", func() bool { return stateOf(t, r, id).State == stateRedeeming })
		code, body := call(t, http.MethodGet, r.web.URL+"/share-tokens/"+id, "")
		assert.Equal(t, http.StatusAccepted, code, "still pending: %v", body)

		f.fake.Clock().Advance(time.Hour)
		f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)
		keys, _ := f.redeemCalls(id)
		assert.Equal(t, []string{"an-earlier-run", "redeem-" + id + "-1"}, keys)
		assert.Equal(t, 1, stateOf(t, r, id).Attempt, "a 409 does not advance the key")
	})
}

// A token the source expired before the hand-over ends expired, learnt
// from the token's state after Persona's refusal; a repeat reports it and
// calls nobody.
func TestExpiredTokenEndsExpired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		id := f.newToken(t)
		_, err := f.client(t, f.acme).ShareTokens.Expire(context.Background(), id)
		require.NoError(t, err)
		r := f.start(t)

		handOver(t, r, id)
		f.eventually(t, "expired", func() bool { return stateOf(t, r, id).State == stateExpired })

		code, body := call(t, http.MethodGet, r.web.URL+"/share-tokens/"+id, "")
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Equal(t, stateExpired, body["state"])
		assert.Nil(t, body["destination"])
		before := f.bankCalls()
		code, _ = handOver(t, r, id)
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Equal(t, before, f.bankCalls(), "expired is final")
		assert.Zero(t, f.fake.Stats().Redemptions)
	})
}

// A redemption Persona fails (the inquiry was redacted) ends failed with
// Persona's reason, learnt by reconciliation: Persona sends no webhook for
// it.
func TestRedactedSourceEndsFailedWithItsReason(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		id := f.newToken(t)
		require.NoError(t, f.fake.RedactObject(f.inq))
		r := f.start(t, reconcileSoon)

		handOver(t, r, id)
		f.eventually(t, "failed", func() bool { return stateOf(t, r, id).State == stateFailed })

		code, body := call(t, http.MethodGet, r.web.URL+"/share-tokens/"+id, "")
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Equal(t, "source_redacted", body["failure_reason"])
		assert.Nil(t, body["destination"])
		before := f.bankCalls()
		code, _ = handOver(t, r, id)
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Equal(t, before, f.bankCalls(), "failed is final")
		assert.Contains(t, metricsText(t, r), `redeem_redemptions_total{outcome="failed"} 1`)
	})
}

// A malformed hand-over is a 400 naming the field, and records nothing.
func TestHandOverBadInputIs400NamingTheField(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		cases := []struct{ name, body, field string }{
			{"not JSON", `share_token_id=cnst_1`, ""},
			{"no id", `{}`, "share_token_id"},
			{"id with a slash", `{"share_token_id":"cnst_../connections"}`, "share_token_id"},
			{"id too long", `{"share_token_id":"` + strings.Repeat("c", 129) + `"}`, "share_token_id"},
		}
		for _, c := range cases {
			code, body := call(t, http.MethodPost, r.web.URL+"/share-tokens", c.body)
			assert.Equal(t, http.StatusBadRequest, code, c.name)
			assert.NotEmpty(t, body["error"], c.name)
			field, _ := body["field"].(string) // "" when there is none
			assert.Equal(t, c.field, field, c.name)
		}
		var n int
		require.NoError(t, r.svc.b.QueryRow(context.Background(), `SELECT count(*) FROM redeem_tokens`).Scan(&n))
		assert.Zero(t, n, "nothing recorded")
		assert.Zero(t, f.bankCalls(), "nothing reaches Persona")
	})
}
