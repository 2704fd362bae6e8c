package redeem

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// A hand-over is acknowledged once recorded; the redeem job and the
// inbound-redeemed webhook finish it with one API call in all.
func TestHandOverRedeemsOnceWithOneCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		id := f.newToken(t) // before the webhook: only the hand-over tells the service
		f.registerWebhook(t, r)
		before := f.bankCalls()

		code, body := handOver(t, r, id)
		require.Equal(t, http.StatusAccepted, code, "body %v", body)
		assert.Contains(t, []any{stateReceived, stateRedeeming}, body["state"])
		assert.Equal(t, "hand-over", body["received_via"])

		f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)
		keys, _ := f.redeemCalls(id)
		assert.Equal(t, []string{"redeem-" + id + "-1"}, keys)
		assert.Equal(t, 1, f.bankCalls()-before, "API calls for one redemption: the redeem alone")

		code, body = call(t, http.MethodGet, r.web.URL+"/share-tokens/"+id, "")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, stateRedeemed, body["state"])
		assert.Equal(t, stateOf(t, r, id).DestinationID, body["destination"].(map[string]any)["id"])

		// A repeat reports the outcome and calls nobody.
		code, body = handOver(t, r, id)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, stateRedeemed, body["state"])
		assert.Equal(t, 1, f.bankCalls()-before)

		require.NoError(t, f.fake.WaitWebhooks(context.Background()))
		m := metricsText(t, r)
		assert.Contains(t, m, `redeem_redemptions_total{outcome="redeemed"} 1`)
		assert.Contains(t, m, `redeem_persona_api_calls_total{code="202"} 1`)
		assert.Contains(t, m, `redeem_webhook_deliveries_total{code="200"} 1`)
		assert.Contains(t, m, "redeem_jobs_queued ")
	})
}

// The inbound-created webhook alone starts the redemption; its repeats, to
// the same replica or after it was handled, change nothing.
func TestWebhookAloneRedeemsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		f.registerWebhook(t, r)
		id := f.newToken(t)

		f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		assert.Equal(t, "webhook", stateOf(t, r, id).Via)
		var created string
		for _, d := range f.fake.WebhookDeliveries() {
			if d.EventName == connect.EventShareTokenInboundCreated {
				created = d.EventID
			}
		}
		require.NotEmpty(t, created)
		require.NoError(t, f.fake.ResendWebhookEvent(created))
		require.NoError(t, f.fake.WaitWebhooks(context.Background()))

		f.assertRedeemedOnce(t, r, id)
		keys, _ := f.redeemCalls(id)
		assert.Len(t, keys, 1, "one redeem call")
		var st string
		require.NoError(t, r.svc.b.QueryRow(context.Background(), `SELECT state FROM redeem_webhook_events WHERE event_id = ?`, created).Scan(&st))
		assert.Equal(t, durable.EventDone, st, "the SDK's handler marked it done")
		later := &durable.Deduper{B: r.svc.b, Table: webhookEventsTable, Lease: r.svc.cfg.WebhookLease,
			Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}
		claimed, err := later.Claim(context.Background(), created)
		require.NoError(t, err)
		assert.False(t, claimed, "a repeat two days later, long after any lease, is dropped too")
	})
}

// Without any webhook, reconciliation reads the pending token and records
// the outcome.
func TestLostWebhookIsReconciled(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t, func(c *Config) {
			c.ReconcileAfter = time.Millisecond
			c.ReconcileInterval = time.Second
		})
		id := f.newToken(t)
		code, _ := handOver(t, r, id)
		require.Equal(t, http.StatusAccepted, code)

		f.eventually(t, "redeemed by reconciliation", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)
		assert.Regexp(t, `redeem_reconciled_tokens_total\{state="redeeming"\} [1-9]`, metricsText(t, r))
	})
}

// A definitive refusal advances the attempt in the database; once its cause
// is fixed, River's retry redeems under the next key.
func TestRefusalAdvancesTheKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		id := f.newToken(t)
		src := f.client(t, f.acme)
		_, err := src.Connections.Deactivate(context.Background(), f.cxn)
		require.NoError(t, err)
		r := f.start(t, func(c *Config) { c.ReconcileAfter = time.Millisecond; c.ReconcileInterval = time.Second })

		code, _ := handOver(t, r, id)
		require.Equal(t, http.StatusAccepted, code)
		f.eventually(t, "attempt 2 after the 422, and the refusal noted", func() bool {
			row := stateOf(t, r, id)
			return row.Attempt >= 2 && strings.Contains(row.LastError, "422")
		})
		assert.Equal(t, stateReceived, stateOf(t, r, id).State)

		_, err = src.Connections.Reactivate(context.Background(), f.cxn)
		require.NoError(t, err)
		require.NoError(t, f.fake.AcceptConnection(f.cxn))
		f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)

		keys, _ := f.redeemCalls(id)
		require.GreaterOrEqual(t, len(keys), 2)
		accepted := keys[len(keys)-1]
		assert.NotEqual(t, "redeem-"+id+"-1", accepted, "the refused key is never used again")
		for i, k := range keys[1:] {
			assert.NotEqual(t, keys[i], k, "each refusal moved to a new key")
		}
	})
}

// A 409 means an earlier redemption (ours) got through: the service reads
// the token and adopts its state.
func TestConflictAdoptsTheTokenState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		id := f.newToken(t)
		_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil, connect.WithIdempotencyKey("elsewhere"))
		require.NoError(t, err)
		r := f.start(t)

		handOver(t, r, id)
		f.eventually(t, "adopted", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)
		assert.Equal(t, 1, stateOf(t, r, id).Attempt, "a 409 does not advance the key")
	})
}

// A token Persona does not know ends rejected, and malformed ids never get
// recorded.
func TestUnknownAndMalformedTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)

		code, _ := handOver(t, r, "cnst_doesnotexist")
		require.Equal(t, http.StatusAccepted, code)
		f.eventually(t, "rejected", func() bool { return stateOf(t, r, "cnst_doesnotexist").State == stateRejected })
		code, body := call(t, http.MethodGet, r.web.URL+"/share-tokens/cnst_doesnotexist", "")
		assert.Equal(t, http.StatusUnprocessableEntity, code)
		assert.Contains(t, body["last_error"], "404")

		code, body = handOver(t, r, "../cnst_x")
		assert.Equal(t, http.StatusBadRequest, code)
		assert.Equal(t, "share_token_id", body["field"])
		code, _ = call(t, http.MethodGet, r.web.URL+"/share-tokens/cnst_never", "")
		assert.Equal(t, http.StatusNotFound, code)
		_, found, err := r.svc.st.get(context.Background(), "../cnst_x")
		require.NoError(t, err)
		assert.False(t, found)
	})
}

// The replica is stopped after the hand-over was acknowledged and after
// Persona redeemed the token, but before the answer reached the replica; a
// new replica on the same database finishes the job under the same key, and
// the token is redeemed once.
func TestRestartMidRedeem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		id := f.newToken(t)
		hold := &answerHolder{next: http.DefaultTransport, arrived: make(chan struct{}, 1)}
		a := f.start(t, func(c *Config) { c.Transport = hold })
		code, _ := handOver(t, a, id)
		require.Equal(t, http.StatusAccepted, code)
		select {
		case <-hold.arrived:
		case <-time.After(30 * time.Second):
			t.Fatal("the redeem never reached Persona")
		}
		assert.Equal(t, stateReceived, stateOf(t, a, id).State, "the replica has not learnt the outcome")
		a.stop(t)

		b := f.start(t)
		f.registerWebhook(t, b)
		f.eventually(t, "redeemed after the restart", func() bool { return stateOf(t, b, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, b, id)
		keys, _ := f.redeemCalls(id)
		// The second replica repeats the key, unless the inbound-redeemed
		// webhook told it first that there is nothing left to do.
		require.NotEmpty(t, keys)
		for _, k := range keys {
			assert.Equal(t, "redeem-"+id+"-1", k)
		}
		assert.Equal(t, 1, stateOf(t, b, id).Attempt)
	})
}

// answerHolder passes requests to Persona, but holds the answer to a redeem
// until the caller gives up: Persona acted, the caller never learns it.
type answerHolder struct {
	next    http.RoundTripper
	arrived chan struct{}
}

func (h *answerHolder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/redeem") {
		return resp, err
	}
	resp.Body.Close()
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// Two replicas on one database, each receiving every webhook, and the same
// tokens handed over to both at once: one redeem call per token.
func TestTwoReplicasConcurrentDuplicates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		a, b := f.start(t), f.start(t)
		f.registerWebhook(t, a)
		f.registerWebhook(t, b)
		ids := make([]string, 4)
		var wg sync.WaitGroup
		for i := range ids {
			ids[i] = f.newToken(t) // each also sends inbound-created to both
			for _, r := range []*replica{a, b, a, b} {
				wg.Go(func() {
					code, body := handOver(t, r, ids[i])
					assert.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "body %v", body)
				})
			}
		}
		wg.Wait()
		for _, d := range f.fake.WebhookDeliveries() {
			if d.EventName == connect.EventShareTokenInboundCreated {
				require.NoError(t, f.fake.ResendWebhookEvent(d.EventID))
			}
		}
		f.eventually(t, "all redeemed", func() bool {
			for _, id := range ids {
				if stateOf(t, a, id).State != stateRedeemed {
					return false
				}
			}
			return true
		})
		require.NoError(t, f.fake.WaitWebhooks(context.Background()))
		for _, id := range ids {
			f.assertRedeemedOnce(t, b, id)
			keys, _ := f.redeemCalls(id)
			assert.Equal(t, []string{"redeem-" + id + "-1"}, keys, "one redeem call for %s", id)
		}
		total := 0
		for _, r := range []*replica{a, b} {
			for _, line := range strings.Split(metricsText(t, r), "\n") {
				if strings.HasPrefix(line, `redeem_redemptions_total{outcome="redeemed"} `) {
					var n int
					_, _ = fmtSscan(strings.TrimPrefix(line, `redeem_redemptions_total{outcome="redeemed"} `), &n)
					total += n
				}
			}
		}
		assert.Equal(t, len(ids), total, "each outcome counted once across replicas")
	})
}

func TestReadiness(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		code, body := call(t, http.MethodGet, r.web.URL+"/readyz", "")
		assert.Equal(t, http.StatusOK, code, "body %v", body)
		code, _ = call(t, http.MethodGet, r.web.URL+"/healthz", "")
		assert.Equal(t, http.StatusOK, code)

		// A second replica migrates the same database again: nothing to do.
		r2 := f.start(t)
		code, _ = call(t, http.MethodGet, r2.web.URL+"/readyz", "")
		assert.Equal(t, http.StatusOK, code)
	})
}
