package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// inboundEvent builds the body of a webhook event named name about share
// token tokenID, shaped as Persona sends it to the destination: the payload
// is the token exactly as the fake renders it for the destination (its
// answer to a GET by bank). The end-to-end tests let the fake deliver its
// own events (registerWebhook); inboundEvent and deliverWebhook remain for
// what the fake never sends: tampered or stale deliveries, unsigned ones,
// events it does not send to a destination, and distinct events for one
// token.
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

// deliverWebhook posts body to the service's webhook route, signed with
// secret as Persona signs deliveries (an empty secret sends no signature).
func deliverWebhook(t *testing.T, baseURL string, body []byte, secret string) *http.Response {
	t.Helper()
	return deliverWebhookSignedAt(t, baseURL, body, secret, time.Now())
}

func deliverWebhookSignedAt(t *testing.T, baseURL string, body []byte, secret string, at time.Time) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/webhooks/persona", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Persona-Signature", connect.SignWebhookPayload(body, secret, at))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

// registerWebhook registers the service's webhook route with the fake as
// bank's webhook, as the destination does in Persona's Dashboard.
func (f *fixture) registerWebhook(t *testing.T, web *httptest.Server, opts ...connecttest.WebhookOption) connecttest.Webhook {
	t.Helper()
	// Listener.Addr, not URL: web may not be started yet (see serveOn).
	wh, err := f.fake.RegisterWebhook(f.bank, "http://"+web.Listener.Addr().String()+"/webhooks/persona", opts...)
	require.NoError(t, err)
	return wh
}

// waitWebhooks returns when the fake has no delivery queued, in flight or
// waiting for a retry.
func (f *fixture) waitWebhooks(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, f.fake.WaitWebhooks(ctx))
}

// deliveries returns the fake's delivery attempts of the named event, in the
// order they finished.
func (f *fixture) deliveries(name string) []connecttest.WebhookDelivery {
	var out []connecttest.WebhookDelivery
	for _, d := range f.fake.WebhookDeliveries() {
		if d.EventName == name {
			out = append(out, d)
		}
	}
	return out
}

// await waits for the redemption the service started for tokenID.
func (f *fixture) await(t *testing.T, svc *service, tokenID string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := svc.Await(ctx, tokenID)
	require.NoError(t, err)
	return got
}

// assertRedeemedOnce checks that Persona accepted exactly one redemption,
// and that it cloned the inquiry into bank's organization.
func (f *fixture) assertRedeemedOnce(t *testing.T, got outcome) {
	t.Helper()
	assert.Equal(t, 1, f.redemptions(), "redeem calls Persona accepted (replays excluded)")
	assert.Equal(t, connect.ShareTokenStatusRedeemed, got.Status)
	require.NotNil(t, got.Destination)
	clone, ok := f.fake.Object(got.Destination.ID)
	require.True(t, ok, "the clone %s exists", got.Destination.ID)
	assert.Equal(t, f.inq, clone.ClonedFrom)
	assert.Equal(t, f.bank.ID, clone.OrganizationID)
	assert.Equal(t, got.ShareTokenID, clone.ShareTokenID)
}

// countLogs counts the service's log records with the message msg.
func countLogs(logs *logSink, msg string) int {
	return strings.Count(logs.String(), `"msg":"`+msg+`"`)
}

func withLogs(logs *logSink) func(*config) {
	return func(c *config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) }
}

// TestWebhookFromPersonaRedeemsOnce is the whole webhook story against the
// fake's own deliveries: the source creates a token, Persona (the fake) tells
// the destination with inbound-created, the service redeems it exactly once
// however often the event is delivered again, and the inbound-redeemed event
// that follows is accepted and ignored.
func TestWebhookFromPersonaRedeemsOnce(t *testing.T) {
	logs := newLogSink()
	f := newFixture(t, nil, withLogs(logs))
	f.registerWebhook(t, f.web, connecttest.WithWebhookSecret(testWebhookSecret))

	id := f.newToken(t) // the source, through the SDK; no hand-over
	f.waitWebhooks(t)
	got := f.await(t, f.svc, id)
	f.waitWebhooks(t) // the inbound-redeemed event the redemption caused

	f.assertRedeemedOnce(t, got)
	created := f.deliveries(connect.EventShareTokenInboundCreated)
	require.Len(t, created, 1)
	assert.Equal(t, http.StatusOK, created[0].Status)
	assert.Equal(t, connecttest.WebhookDelivered, created[0].Outcome)
	assert.Equal(t, f.bank.ID, created[0].OrganizationID)
	evtID := created[0].EventID
	assert.Empty(t, f.deliveries(connect.EventShareTokenOutboundCreated), "acme has no webhook")

	t.Run("inbound-redeemed is accepted and ignored", func(t *testing.T) {
		redeemed := f.deliveries(connect.EventShareTokenInboundRedeemed)
		require.Len(t, redeemed, 1)
		assert.Equal(t, http.StatusOK, redeemed[0].Status)
		ev, err := connect.ParseWebhookEvent(redeemed[0].Body, redeemed[0].Header.Get("Persona-Signature"), []string{testWebhookSecret})
		require.NoError(t, err)
		require.NotNil(t, ev.ShareToken)
		assert.Equal(t, id, ev.ShareToken.ID)
		assert.Equal(t, connect.ShareTokenStatusRedeemed, ev.ShareToken.Status)
		assert.Equal(t, 1, countLogs(logs, "webhook event ignored"))
		assert.Contains(t, logs.String(), connect.EventShareTokenInboundRedeemed)
	})

	t.Run("repeated deliveries of inbound-created redeem nothing more", func(t *testing.T) {
		require.NoError(t, f.fake.ResendWebhookEvent(evtID))
		f.waitWebhooks(t)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() { assert.NoError(t, f.fake.ResendWebhookEvent(evtID)) })
		}
		wg.Wait()
		f.waitWebhooks(t)

		var delivered int
		for _, d := range f.deliveries(connect.EventShareTokenInboundCreated) {
			assert.Equal(t, evtID, d.EventID, "one event, delivered again")
			switch d.Status {
			case http.StatusOK:
				delivered++
			case http.StatusConflict: // overlapped a delivery still being handled: retried
				assert.Equal(t, connecttest.WebhookRetrying, d.Outcome)
			default:
				t.Errorf("delivery answered %d: %s", d.Status, d.ResponseBody)
			}
		}
		assert.Equal(t, 4, delivered, "the first delivery and three repeats, each answered 200")
		assert.Equal(t, 1, countLogs(logs, "webhook event accepted"), "repeats are dropped before the service sees them")
		assert.Equal(t, 1, f.redemptions())
		got, err := f.svc.Await(context.Background(), id)
		require.NoError(t, err)
		f.assertRedeemedOnce(t, got)
	})
}

// TestWebhookFromPersonaAndHandOverRedeemOnce races the fake's inbound-created
// delivery with the source's hand-over of the same token.
func TestWebhookFromPersonaAndHandOverRedeemOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.registerWebhook(t, f.web, connecttest.WithWebhookSecret(testWebhookSecret))
	id := f.newToken(t)

	status, body := handOver(t, f.web, tokenBody(id))
	f.waitWebhooks(t)

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.redemptions())
	for _, d := range f.deliveries(connect.EventShareTokenInboundCreated) {
		assert.Equal(t, http.StatusOK, d.Status)
	}
}

// TestWebhookFromPersonaWithWrongSecretRedeemsNothing: the service holds a
// secret other than the webhook's, so it answers the fake's deliveries 401;
// the fake retries them, and gives up, and nothing is redeemed.
func TestWebhookFromPersonaWithWrongSecretRedeemsNothing(t *testing.T) {
	f := newFixture(t, []connecttest.Option{connecttest.WithWebhookRetrySchedule(time.Millisecond, 2*time.Millisecond)})
	f.registerWebhook(t, f.web, connecttest.WithWebhookSecret("wbhsec_someone_else"))
	id := f.newToken(t)

	var failed *connecttest.WebhookFailuresError
	require.ErrorAs(t, f.fake.WaitWebhooks(context.Background()), &failed, "the fake gives up, and says so")

	created := f.deliveries(connect.EventShareTokenInboundCreated)
	require.Len(t, created, 3, "the first attempt and two retries")
	for i, d := range created {
		assert.Equal(t, http.StatusUnauthorized, d.Status)
		assert.Equal(t, i+1, d.Attempt)
		assert.Equal(t, created[0].EventID, d.EventID)
	}
	assert.Equal(t, connecttest.WebhookRetrying, created[0].Outcome)
	assert.Equal(t, connecttest.WebhookFailed, created[2].Outcome)
	_, err := f.svc.Await(context.Background(), id)
	assert.Error(t, err, "no redemption was started")
	assert.Zero(t, f.redemptions())
	for _, r := range f.fake.Requests() {
		assert.False(t, strings.HasSuffix(r.Path, "/redeem"), "no redeem call reached Persona")
	}
	tok, ok := f.fake.ShareToken(id)
	require.True(t, ok)
	assert.Equal(t, "created", tok.Status)
}

// TestWebhookFromPersonaDuringSecretRotation rotates the webhook's secret
// before the service starts: while the old secret is still valid every
// delivery carries two signature groups, new first, and a service that knows
// either secret, or both, verifies it.
func TestWebhookFromPersonaDuringSecretRotation(t *testing.T) {
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
			f := newFixture(t, nil)
			web := httptest.NewUnstartedServer(nil)
			wh := f.registerWebhook(t, web, connecttest.WithWebhookSecret(oldSecret))
			wh, err := f.fake.RotateWebhookSecret(wh.ID, time.Hour)
			require.NoError(t, err)
			require.NotEqual(t, oldSecret, wh.Secret)
			svc := f.serveOn(t, web, func(c *config) { c.WebhookSecrets = tc.secrets(wh.Secret) })

			id := f.newToken(t)
			f.waitWebhooks(t)
			got := f.await(t, svc, id)

			f.assertRedeemedOnce(t, got)
			created := f.deliveries(connect.EventShareTokenInboundCreated)
			require.Len(t, created, 1)
			assert.Equal(t, http.StatusOK, created[0].Status)
			groups := strings.Fields(created[0].Header.Get("Persona-Signature"))
			require.Len(t, groups, 2, "one group per valid secret")
			assert.NoError(t, connect.VerifyWebhookSignature(created[0].Body, groups[0], []string{wh.Secret}), "the new secret's group comes first")
		})
	}
}

// TestWebhookAsDifferentEventsForTheSameTokenRedeemsOnce: distinct events
// (distinct evt_ ids, so the handler's dedupe lets each through) about one
// token still make one redemption. The fake sends one inbound-created per
// token, so these are delivered by hand.
func TestWebhookAsDifferentEventsForTheSameTokenRedeemsOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	var wg sync.WaitGroup
	for range 3 {
		event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id) // a fresh evt_ id each
		wg.Go(func() {
			assert.Equal(t, http.StatusOK, deliverWebhook(t, f.web.URL, event, testWebhookSecret).StatusCode)
		})
	}
	wg.Wait()
	f.assertRedeemedOnce(t, f.await(t, f.svc, id))
}

// TestWebhookIgnoresOtherEvents delivers by hand what the fake never sends
// to a destination: a source's event and an event of another product.
// (inbound-redeemed, which it does send, is in TestWebhookFromPersonaRedeemsOnce.)
func TestWebhookIgnoresOtherEvents(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	for _, name := range []string{connect.EventShareTokenOutboundCreated, connect.EventShareTokenOutboundRedeemed, "inquiry.completed"} {
		resp := deliverWebhook(t, f.web.URL, inboundEvent(t, f, name, id), testWebhookSecret)
		assert.Equal(t, http.StatusOK, resp.StatusCode, name)
	}

	_, err := f.svc.Await(context.Background(), id)
	assert.Error(t, err, "no redemption was started")
	assert.Zero(t, f.fake.Stats().Redemptions)
}

// TestWebhookWithBadSignatureRedeemsNothing covers the deliveries the fake
// cannot make: stale, unsigned and tampered. (A wrong secret is
// TestWebhookFromPersonaWithWrongSecretRedeemsNothing.)
func TestWebhookWithBadSignatureRedeemsNothing(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)

	assert.Equal(t, http.StatusUnauthorized, deliverWebhookSignedAt(t, f.web.URL, event, testWebhookSecret, time.Now().Add(-time.Hour)).StatusCode, "stale")
	assert.Equal(t, http.StatusBadRequest, deliverWebhook(t, f.web.URL, event, "").StatusCode, "unsigned")
	tampered := bytes.Replace(event, []byte(id), []byte("cnst_other"), 1)
	req, err := http.NewRequest(http.MethodPost, f.web.URL+"/webhooks/persona", bytes.NewReader(tampered))
	require.NoError(t, err)
	req.Header.Set("Persona-Signature", connect.SignWebhookPayload(event, testWebhookSecret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "tampered")

	_, err = f.svc.Await(context.Background(), id)
	assert.Error(t, err)
	assert.Zero(t, f.redemptions())
	for _, r := range f.fake.Requests() {
		assert.False(t, strings.HasSuffix(r.Path, "/redeem"), "no redeem call reached Persona")
	}
}
