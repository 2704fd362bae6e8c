package main

import (
	"bytes"
	"context"
	"encoding/json"
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

const testWebhookSecret = "wbhsec_test_secret"

// fixture is a fake Persona with a source (acme) and the destination (bank)
// over an active connection, a completed inquiry of acme, and the
// redeem-service running as bank.
type fixture struct {
	fake       *connecttest.Server
	acme, bank *connecttest.Organization
	cxn, inq   string
	svc        *service
	web        *httptest.Server
}

func newFixture(t *testing.T, fakeOpts []connecttest.Option, cfgOpts ...func(*config)) *fixture {
	t.Helper()
	f := &fixture{fake: connecttest.NewServer(fakeOpts...)}
	t.Cleanup(f.fake.Close)
	f.acme = f.fake.NewOrganization("Acme KYC")
	f.bank = f.fake.NewOrganization("Bank")
	f.cxn = f.fake.NewActiveConnection(f.acme, f.bank)
	f.inq = f.fake.NewInquiry(f.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	f.svc, f.web = f.startService(t, cfgOpts...)
	return f
}

// startService runs a redeem-service as bank; Cleanup shuts it down.
func (f *fixture) startService(t *testing.T, cfgOpts ...func(*config)) (*service, *httptest.Server) {
	t.Helper()
	web := httptest.NewUnstartedServer(nil)
	return f.serveOn(t, web, cfgOpts...), web
}

// serveOn runs a redeem-service as bank on web, a server made with
// httptest.NewUnstartedServer: its address is known before the service
// exists, so that a webhook can be registered for it and its secret rotated
// first. Cleanup shuts both down.
func (f *fixture) serveOn(t *testing.T, web *httptest.Server, cfgOpts ...func(*config)) *service {
	t.Helper()
	t.Cleanup(web.Close) // an unstarted server still holds its listener
	cfg := config{
		APIKey: f.bank.APIKey, BaseURL: f.fake.URL, WebhookSecrets: []string{testWebhookSecret},
		WaitTimeout:   5 * time.Second,
		ClientOptions: []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 5*time.Millisecond)},
		WaitOptions:   []connect.RequestOption{connect.WithPollInterval(time.Millisecond, 5*time.Millisecond)},
	}
	for _, o := range cfgOpts {
		o(&cfg)
	}
	svc, err := newService(cfg)
	require.NoError(t, err)
	web.Config.Handler = svc
	web.Start()
	t.Cleanup(func() {
		web.Close()
		assert.NoError(t, svc.Shutdown(context.Background()))
	})
	return svc
}

func (f *fixture) client(t *testing.T, org *connecttest.Organization) *connect.Client {
	t.Helper()
	c, err := connect.NewClient(org.APIKey, connect.WithBaseURL(f.fake.URL), connect.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	return c
}

// newToken is what the source does: a share token for the inquiry.
func (f *fixture) newToken(t *testing.T) string {
	t.Helper()
	tok, err := f.client(t, f.acme).ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: f.cxn, SourceID: f.inq})
	require.NoError(t, err)
	return tok.ID
}

// handOver posts body to POST /share-tokens of web and decodes the answer.
func handOver(t *testing.T, web *httptest.Server, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(web.URL+"/share-tokens", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func tokenBody(id string) string { return `{"share_token_id":"` + id + `"}` }

// redemptions counts the redeem calls Persona accepted, replays excluded.
func (f *fixture) redemptions() int {
	n := 0
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/redeem") && r.Status == http.StatusAccepted && !r.Replayed {
			n++
		}
	}
	return n
}

// assertClone checks that the answer names a clone of the inquiry in bank's
// organization, and returns its id.
func (f *fixture) assertClone(t *testing.T, tokenID string, body map[string]any) string {
	t.Helper()
	assert.Equal(t, tokenID, body["share_token_id"])
	assert.Equal(t, "redeemed", body["status"])
	assert.Nil(t, body["failure_reason"])
	dest, _ := body["destination"].(map[string]any)
	require.NotNil(t, dest, body)
	assert.Equal(t, "inquiry", dest["type"])
	id, _ := dest["id"].(string)
	obj, ok := f.fake.Object(id)
	require.True(t, ok, "the destination object %q exists", id)
	assert.Equal(t, f.inq, obj.ClonedFrom)
	assert.Equal(t, f.bank.ID, obj.OrganizationID)
	assert.Equal(t, "Ada", obj.Fields["name-first"])
	return id
}

func TestHandOverRedeemsAndReportsTheClone(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	var keys []string
	for _, r := range f.fake.Requests() {
		if strings.HasSuffix(r.Path, "/redeem") {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	assert.Equal(t, []string{"redeem-" + id + "-1"}, keys)
}

func TestHandOverWithRedeemDelay(t *testing.T) {
	f := newFixture(t, []connecttest.Option{connecttest.WithRedeemDelay(20 * time.Millisecond)})
	id := f.newToken(t)

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
}

func TestSameTokenTwiceRedeemsOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	_, first := handOver(t, f.web, tokenBody(id))
	var wg sync.WaitGroup
	answers := make([]map[string]any, 5)
	for i := range answers {
		wg.Go(func() {
			status, body := handOver(t, f.web, tokenBody(id))
			assert.Equal(t, http.StatusOK, status)
			answers[i] = body
		})
	}
	wg.Wait()

	for _, a := range answers {
		assert.Equal(t, first, a)
	}
	assert.Equal(t, 1, f.redemptions())
	assert.Equal(t, 1, f.fake.Stats().Redemptions)
}

func TestConcurrentFirstHandOversRedeemOnce(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			status, body := handOver(t, f.web, tokenBody(id))
			assert.Equal(t, http.StatusOK, status, body)
		})
	}
	wg.Wait()

	assert.Equal(t, 1, f.redemptions())
}

func TestRestartedServiceRedeemsNoSecondTime(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	_, first := handOver(t, f.web, tokenBody(id))
	_, restarted := f.startService(t) // no memory of the first run

	status, again := handOver(t, restarted, tokenBody(id))

	require.Equal(t, http.StatusOK, status, again)
	assert.Equal(t, first, again)
	assert.Equal(t, 1, f.redemptions(), "the idempotency key replays the first redemption")
}

func TestTokenRedeemedByAnotherKeyReportsItsState(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	// Redeemed earlier by this organization, with a key Persona no longer holds.
	_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil, connect.WithIdempotencyKey("long-gone"))
	require.NoError(t, err)

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.fake.Stats().Redemptions)
}

func TestRedactedSourceIs422WithFailureReason(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	require.NoError(t, f.fake.RedactObject(f.inq))

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusUnprocessableEntity, status, body)
	assert.Equal(t, map[string]any{
		"share_token_id": id, "status": "failed", "destination": nil, "failure_reason": "source_redacted",
	}, body)
	// A failure is final: a repeat answers it again without calling Persona.
	before := len(f.fake.Requests())
	status, again := handOver(t, f.web, tokenBody(id))
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Equal(t, body, again)
	assert.Len(t, f.fake.Requests(), before)
}

func TestStillPendingAnswers202AndARepeatFinishes(t *testing.T) {
	f := newFixture(t, []connecttest.Option{connecttest.WithRedeemDelay(time.Hour)}, func(c *config) {
		c.WaitTimeout = 50 * time.Millisecond
	})
	id := f.newToken(t)

	status, body := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusAccepted, status, body)
	assert.Equal(t, "pending", body["status"])

	f.fake.Clock().Advance(time.Hour)
	status, body = handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.redemptions(), "the second request replays the first redeem")
}

func TestHandOverErrors(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		name, body string
		status     int
		field      string
		persona    bool // the answer carries Persona's request id
	}{
		{"not JSON", `share_token_id=cnst_1`, http.StatusBadRequest, "", false},
		{"no id", `{}`, http.StatusBadRequest, "share_token_id", false},
		{"id with a slash", tokenBody("cnst_../connections"), http.StatusBadRequest, "share_token_id", false},
		{"id too long", tokenBody(strings.Repeat("c", 129)), http.StatusBadRequest, "share_token_id", false},
		{"unknown token", tokenBody("cnst_doesnotexist"), http.StatusNotFound, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := handOver(t, f.web, c.body)
			assert.Equal(t, c.status, status, body)
			assert.NotEmpty(t, body["error"])
			if c.field != "" {
				assert.Equal(t, c.field, body["field"])
			}
			if c.persona {
				assert.Regexp(t, `^req_`, body["persona_request_id"])
			}
		})
	}
	assert.Zero(t, f.fake.Stats().Redemptions)
}

func TestPersonaDownIs502AndIsRetried(t *testing.T) {
	f := newFixture(t, nil, func(c *config) {
		c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(1))
	})
	id := f.newToken(t)
	f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens/" + id + "/redeem", Status: http.StatusServiceUnavailable, Count: 2})

	status, body := handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusBadGateway, status, body)
	assert.Regexp(t, `^req_`, body["persona_request_id"])

	// An error is not remembered: the next hand-over tries again.
	status, body = handOver(t, f.web, tokenBody(id))
	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
}

func TestShutdownCancelsRedemptionsAndRefusesNewOnes(t *testing.T) {
	f := newFixture(t, []connecttest.Option{connecttest.WithRedeemDelay(time.Hour)}, func(c *config) {
		c.WaitTimeout = time.Hour
	})
	id := f.newToken(t)
	resp := deliverWebhook(t, f.web.URL, inboundEvent(t, f, connect.EventShareTokenInboundCreated, id), testWebhookSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace period: cancel what is running at once
	require.ErrorIs(t, f.svc.Shutdown(ctx), context.Canceled)

	_, err := f.svc.Await(context.Background(), id)
	assert.Error(t, err, "the cancelled redemption ended without a final answer, so it is not kept")
	status, body := handOver(t, f.web, tokenBody(f.newToken(t)))
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	resp = deliverWebhook(t, f.web.URL, inboundEvent(t, f, connect.EventShareTokenInboundCreated, f.newToken(t)), testWebhookSecret)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "Persona will deliver it again")
	assert.LessOrEqual(t, f.fake.Stats().Redemptions, 1, "only the first token may have reached Persona")
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"PERSONA_API_KEY": "persona_sandbox_secret", "PERSONA_WEBHOOK_SECRETS": " wbhsec_old , wbhsec_new,, "}
	var stderr bytes.Buffer

	opts, cfg, err := loadConfig([]string{"-addr", "127.0.0.1:0", "-wait-timeout", "3s"}, func(k string) string { return env[k] }, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", opts.addr)
	assert.Equal(t, 3*time.Second, cfg.WaitTimeout)
	assert.Equal(t, []string{"wbhsec_old", "wbhsec_new"}, cfg.WebhookSecrets)

	_, _, err = loadConfig(nil, func(string) string { return "" }, &stderr)
	require.ErrorContains(t, err, "PERSONA_API_KEY")
	_, _, err = loadConfig([]string{"extra"}, func(k string) string { return env[k] }, &stderr)
	require.ErrorContains(t, err, "unexpected arguments")
}

func TestLostRedeemAnswerIsRetriedWithTheSameKey(t *testing.T) {
	f := newFixture(t, nil)
	id := f.newToken(t)
	f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens/" + id + "/redeem", DropAfterProcessing: true})

	status, body := handOver(t, f.web, tokenBody(id))

	require.Equal(t, http.StatusOK, status, body)
	f.assertClone(t, id, body)
	assert.Equal(t, 1, f.fake.Stats().Dropped)
	assert.Equal(t, 1, f.fake.Stats().Redemptions, "the retry replayed the first redemption")
}

// TestServiceWithoutWebhookSecretsStillTakesHandOvers: with no secret the
// service starts, redeems hand-overs, and answers deliveries 404 instead of
// refusing to start.
func TestServiceWithoutWebhookSecretsStillTakesHandOvers(t *testing.T) {
	f := newFixture(t, nil)
	web := httptest.NewUnstartedServer(nil)
	f.serveOn(t, web, func(c *config) { c.WebhookSecrets = nil })

	resp, err := http.Post(web.URL+"/webhooks/persona", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	id := f.newToken(t)
	resp, err = http.Post(web.URL+"/share-tokens", "application/json", strings.NewReader(`{"share_token_id":"`+id+`"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
