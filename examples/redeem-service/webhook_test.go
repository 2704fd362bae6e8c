package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// inboundEvent builds the body of a webhook event named name about share
// token tokenID, shaped as Persona sends it to the destination: the payload
// is the token exactly as the fake renders it for the destination (its
// answer to a GET by bank). It stands in for the deliveries connecttest does
// not make yet: once the fake sends webhooks, register the service's URL
// with it instead of calling inboundEvent and deliverWebhook.
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

func TestWebhookRedeemsOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)

	resp := deliverWebhook(t, f.web.URL, event, testWebhookSecret)

	require.Equal(t, http.StatusOK, resp.StatusCode)
	got, err := f.svc.Await(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "redeemed", string(got.Status))
	require.NotNil(t, got.Destination)
	obj, ok := f.fake.Object(got.Destination.ID)
	require.True(t, ok)
	assert.Equal(t, f.inq, obj.ClonedFrom)
	assert.Equal(t, 1, f.redemptions())
}

func TestWebhookDeliveredThreeTimesRedeemsOnce(t *testing.T) {
	t.Run("one after the other", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.newToken(t)
		event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)
		for range 3 {
			assert.Equal(t, http.StatusOK, deliverWebhook(t, f.web.URL, event, testWebhookSecret).StatusCode)
		}
		_, err := f.svc.Await(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, 1, f.redemptions())
	})
	t.Run("concurrently", func(t *testing.T) {
		f := newFixture(t, nil)
		id := f.newToken(t)
		event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				assert.Equal(t, http.StatusOK, deliverWebhook(t, f.web.URL, event, testWebhookSecret).StatusCode)
			})
		}
		wg.Wait()
		_, err := f.svc.Await(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, 1, f.redemptions())
	})
	t.Run("as different events for the same token", func(t *testing.T) {
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
		_, err := f.svc.Await(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, 1, f.redemptions())
	})
}

func TestWebhookAndHandOverOfTheSameTokenRedeemOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	resp := deliverWebhook(t, f.web.URL, inboundEvent(t, f, connect.EventShareTokenInboundCreated, id), testWebhookSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.redemptions())
}

func TestWebhookIgnoresOtherEvents(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	for _, name := range []string{connect.EventShareTokenInboundRedeemed, connect.EventShareTokenOutboundCreated, "inquiry.completed"} {
		resp := deliverWebhook(t, f.web.URL, inboundEvent(t, f, name, id), testWebhookSecret)
		assert.Equal(t, http.StatusOK, resp.StatusCode, name)
	}

	_, err := f.svc.Await(context.Background(), id)
	assert.Error(t, err, "no redemption was started")
	assert.Zero(t, f.fake.Stats().Redemptions)
}

func TestWebhookWithBadSignatureRedeemsNothing(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)

	assert.Equal(t, http.StatusUnauthorized, deliverWebhook(t, f.web.URL, event, "wbhsec_someone_else").StatusCode, "wrong secret")
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

func TestWebhookDuringSecretRotation(t *testing.T) {
	f := newFixture(t, nil, func(c *config) { c.WebhookSecrets = []string{"wbhsec_old", testWebhookSecret} })
	id := f.newToken(t)
	event := inboundEvent(t, f, connect.EventShareTokenInboundCreated, id)
	now := time.Now()
	req, err := http.NewRequest(http.MethodPost, f.web.URL+"/webhooks/persona", bytes.NewReader(event))
	require.NoError(t, err)
	req.Header.Set("Persona-Signature", connect.SignWebhookPayload(event, "wbhsec_retired", now)+" "+connect.SignWebhookPayload(event, testWebhookSecret, now))

	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.Equal(t, http.StatusOK, resp.StatusCode)
	got, err := f.svc.Await(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, connect.ShareTokenStatusRedeemed, got.Status)
}
