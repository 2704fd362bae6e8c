package redeem

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// inboundEvent builds the body of a webhook event named name about share
// token tokenID, its payload the token as the fake renders it to bank. The
// fake delivers its own events (registerWebhook); this is for what it never
// sends: tampered, stale or unsigned deliveries, and events it does not send
// to a destination.
func inboundEvent(t *testing.T, f *fixture, name, tokenID string) []byte {
	t.Helper()
	_, err := f.client(t, f.bank).ShareTokens.Get(context.Background(), tokenID)
	require.NoError(t, err)
	var resource json.RawMessage
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodGet && r.OrganizationID == f.bank.ID && strings.HasSuffix(r.Path, "/connect/share-tokens/"+tokenID) {
			resource = r.ResponseBody
		}
	}
	require.NotEmpty(t, resource, "the fake recorded bank's GET of the token")
	body, err := json.Marshal(map[string]any{"data": map[string]any{
		"type": "event",
		"id":   "evt_" + rand.Text(),
		"attributes": map[string]any{
			"name":       name,
			"created-at": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
			"payload":    resource, // {"data": <connect/share-token>}
		},
	}})
	require.NoError(t, err)
	return body
}

// deliver posts body to r's webhook route with the Persona-Signature header
// signature (none when empty), and returns the status answered.
func deliver(t *testing.T, r *replica, body []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.web.URL+"/webhooks/persona", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("Persona-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// assertNothingRecorded checks that the replica recorded no token and that
// no redeem call reached Persona.
func (f *fixture) assertNothingRecorded(t *testing.T, r *replica) {
	t.Helper()
	var n int
	require.NoError(t, r.svc.b.QueryRow(context.Background(), `SELECT count(*) FROM redeem_tokens`).Scan(&n))
	assert.Zero(t, n, "tokens recorded")
	for _, req := range f.fake.Requests() {
		assert.False(t, strings.HasSuffix(req.Path, "/redeem"), "no redeem call reached Persona")
	}
}

// Deliveries that do not verify redeem nothing: the fake's own, signed with
// a secret the service does not hold (answered 401 until the fake gives
// up), and stale, unsigned and tampered ones.
func TestWebhookWithBadSignatureRedeemsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db, connecttest.WithWebhookRetrySchedule(time.Millisecond, 2*time.Millisecond))
		r := f.start(t)
		_, err := f.fake.RegisterWebhook(f.bank, r.web.URL+"/webhooks/persona", connecttest.WithWebhookSecret("wbhsec_someone_else"))
		require.NoError(t, err)
		id := f.newToken(t)

		var failed *connecttest.WebhookFailuresError
		require.ErrorAs(t, f.fake.WaitWebhooks(context.Background()), &failed, "the fake gives up, and says so")
		var created []connecttest.WebhookDelivery
		for _, d := range f.fake.WebhookDeliveries() {
			if d.EventName == connect.EventShareTokenInboundCreated {
				created = append(created, d)
			}
		}
		require.Len(t, created, 3, "the first attempt and two retries")
		for _, d := range created {
			assert.Equal(t, http.StatusUnauthorized, d.Status)
		}

		event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)
		stale := connect.SignWebhookPayload(event, testWebhookSecret, time.Now().Add(-time.Hour))
		assert.Equal(t, http.StatusUnauthorized, deliver(t, r, event, stale), "stale")
		assert.Equal(t, http.StatusBadRequest, deliver(t, r, event, ""), "unsigned")
		tampered := bytes.Replace(event, []byte(id), []byte("cnst_other"), 1)
		assert.Equal(t, http.StatusUnauthorized, deliver(t, r, tampered, connect.SignWebhookPayload(event, testWebhookSecret, time.Now())), "tampered")

		f.assertNothingRecorded(t, r)
		assert.Contains(t, metricsText(t, r), `redeem_webhook_deliveries_total{code="401"} 5`)
		tok, ok := f.fake.ShareToken(id)
		require.True(t, ok)
		assert.Equal(t, "created", tok.Status)
	})
}

// Events the fake never sends to a destination (a source's events, another
// product's) are answered 200 and ignored.
func TestWebhookIgnoresOtherEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		id := f.newToken(t)

		for _, name := range []string{connect.EventShareTokenOutboundCreated, connect.EventShareTokenOutboundRedeemed, "inquiry.completed"} {
			event := inboundEvent(t, f, name, id)
			assert.Equal(t, http.StatusOK, deliver(t, r, event, connect.SignWebhookPayload(event, testWebhookSecret, time.Now())), name)
		}

		f.assertNothingRecorded(t, r)
	})
}

// The webhook's secret is rotated before the service starts: while the old
// secret is still valid every delivery carries two signature groups, new
// first, and a service that holds either secret, or both, verifies it.
func TestWebhookDuringSecretRotation(t *testing.T) {
	const oldSecret = "wbhsec_before_rotation"
	for _, tc := range []struct {
		name    string
		secrets func(newSecret string) []string
	}{
		{"only the new secret", func(newSecret string) []string { return []string{newSecret} }},
		{"only the old secret, during the overlap", func(string) []string { return []string{oldSecret} }},
		{"both", func(newSecret string) []string { return []string{oldSecret, newSecret} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db target) {
				f := newFixture(t, db)
				// The webhook needs the service's URL before the service
				// exists (it needs the rotated secret): a front forwards.
				var svc atomic.Pointer[Service]
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if s := svc.Load(); s != nil {
						s.ServeHTTP(w, req)
						return
					}
					w.WriteHeader(http.StatusServiceUnavailable)
				}))
				t.Cleanup(front.Close)
				wh, err := f.fake.RegisterWebhook(f.bank, front.URL+"/webhooks/persona", connecttest.WithWebhookSecret(oldSecret))
				require.NoError(t, err)
				wh, err = f.fake.RotateWebhookSecret(wh.ID, time.Hour)
				require.NoError(t, err)
				require.NotEqual(t, oldSecret, wh.Secret)
				r := f.start(t, func(c *Config) { c.WebhookSecrets = tc.secrets(wh.Secret) })
				svc.Store(r.svc)

				id := f.newToken(t)
				f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
				require.NoError(t, f.fake.WaitWebhooks(context.Background()))

				f.assertRedeemedOnce(t, r, id)
				assert.Equal(t, "webhook", stateOf(t, r, id).Via)
				var created []connecttest.WebhookDelivery
				for _, d := range f.fake.WebhookDeliveries() {
					if d.EventName == connect.EventShareTokenInboundCreated {
						created = append(created, d)
					}
				}
				require.Len(t, created, 1)
				assert.Equal(t, http.StatusOK, created[0].Status)
				groups := strings.Fields(created[0].Header.Get("Persona-Signature"))
				require.Len(t, groups, 2, "one group per valid secret")
				assert.NoError(t, connect.VerifyWebhookSignature(created[0].Body, groups[0], []string{wh.Secret}), "the new secret's group comes first")
			})
		})
	}
}

// With no webhook secret the service has no webhook route (404), and still
// redeems hand-overs.
func TestWithoutWebhookSecretsHandOversStillRedeem(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t, reconcileSoon, func(c *Config) { c.WebhookSecrets = nil })

		assert.Equal(t, http.StatusNotFound, deliver(t, r, []byte(`{}`), ""))

		id := f.newToken(t)
		code, _ := handOver(t, r, id)
		assert.Equal(t, http.StatusAccepted, code)
		f.eventually(t, "redeemed", func() bool { return stateOf(t, r, id).State == stateRedeemed })
		f.assertRedeemedOnce(t, r, id)
	})
}
