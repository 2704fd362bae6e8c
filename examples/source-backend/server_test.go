package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// fixture is a fake Persona with a source (acme) and a destination (bank)
// over an active connection, a completed inquiry, a recording destination
// endpoint, and the source-backend under test.
type fixture struct {
	fake       *connecttest.Server
	acme, bank *connecttest.Organization
	cxn, inq   string
	dest       *destination
	backend    *httptest.Server
}

const testTokenTTL = time.Hour

func newFixture(t *testing.T, opts ...func(*config)) *fixture {
	t.Helper()
	f := &fixture{fake: connecttest.NewServer()}
	t.Cleanup(f.fake.Close)
	f.acme = f.fake.NewOrganization("Acme KYC")
	f.bank = f.fake.NewOrganization("Bank")
	f.cxn = f.fake.NewActiveConnection(f.acme, f.bank)
	f.inq = f.fake.NewInquiry(f.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	f.dest = newDestination(t)
	cfg := config{
		APIKey: f.acme.APIKey, BaseURL: f.fake.URL, ConnectionID: f.cxn, DestinationURL: f.dest.URL,
		TokenTTL: testTokenTTL, HandOverTimeout: 5 * time.Second,
		ClientOptions: []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 5*time.Millisecond)},
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := newServer(cfg)
	require.NoError(t, err)
	f.backend = httptest.NewServer(h)
	t.Cleanup(f.backend.Close)
	return f
}

// post sends an empty POST to the backend and decodes the JSON answer.
func (f *fixture) post(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(f.backend.URL+path, "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func (f *fixture) client(t *testing.T, org *connecttest.Organization) *connect.Client {
	t.Helper()
	c, err := connect.NewClient(org.APIKey, connect.WithBaseURL(f.fake.URL), connect.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	return c
}

// tokenCount counts the share tokens over the connection, as the source
// lists them through the SDK.
func (f *fixture) tokenCount(t *testing.T) int {
	t.Helper()
	page, err := f.client(t, f.acme).ShareTokens.List(context.Background(), &connect.ShareTokenListParams{ConnectionID: f.cxn, ListOptions: connect.ListOptions{PageSize: 100}})
	require.NoError(t, err)
	return len(page.Data)
}

// destination is a stand-in for the destination's endpoint: it records
// every body and answers with status (200 unless changed), after calling
// onRequest if set.
type destination struct {
	*httptest.Server
	status    atomic.Int32
	mu        sync.Mutex
	bodies    []string
	onRequest func(tokenID string)
}

func newDestination(t *testing.T) *destination {
	d := &destination{}
	d.status.Store(http.StatusOK)
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		b, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.bodies = append(d.bodies, string(b))
		hook := d.onRequest
		d.mu.Unlock()
		if hook != nil {
			var in struct {
				ShareTokenID string `json:"share_token_id"`
			}
			_ = json.Unmarshal(b, &in)
			hook(in.ShareTokenID)
		}
		w.WriteHeader(int(d.status.Load()))
	}))
	t.Cleanup(d.Close)
	return d
}

// setOnRequest makes the destination call hook with each token it receives,
// before answering.
func (d *destination) setOnRequest(hook func(tokenID string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onRequest = hook
}

func (d *destination) received() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.bodies...)
}

func TestCompletedInquiryCreatesTokenAndHandsItOver(t *testing.T) {
	f := newFixture(t)

	status, body := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, body)
	id, _ := body["share_token_id"].(string)
	require.True(t, strings.HasPrefix(id, "cnst_"), body)
	assert.Equal(t, f.inq, body["inquiry_id"])
	assert.Equal(t, []string{`{"share_token_id":"` + id + `"}`}, f.dest.received())

	tok, ok := f.fake.ShareToken(id)
	require.True(t, ok)
	assert.Equal(t, f.inq, tok.SourceID)
	assert.Equal(t, f.cxn, tok.ConnectionID)
	assert.Equal(t, "created", tok.Status)
	assert.Equal(t, testTokenTTL, tok.ExpiresAt.Sub(tok.CreatedAt))

	var keys []string
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	assert.Equal(t, []string{"share-" + f.inq + "-1"}, keys)
}

func TestRepeatedNotificationCreatesNoSecondToken(t *testing.T) {
	f := newFixture(t)

	_, first := f.post(t, "/inquiries/"+f.inq+"/completed")
	status, second := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, second)
	assert.Equal(t, first["share_token_id"], second["share_token_id"])
	assert.Equal(t, 1, f.tokenCount(t))
	assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
	// Not yet redeemed: the destination may not have got it, so it is handed over again.
	assert.Len(t, f.dest.received(), 2)
	assert.Equal(t, f.dest.received()[0], f.dest.received()[1])
}

func TestRepeatedNotificationAfterRedemptionDoesNotHandOverAgain(t *testing.T) {
	f := newFixture(t)
	_, first := f.post(t, "/inquiries/"+f.inq+"/completed")
	id := first["share_token_id"].(string)
	_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil)
	require.NoError(t, err)

	status, second := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, second)
	assert.Equal(t, id, second["share_token_id"])
	assert.Equal(t, "redeemed", second["status"])
	assert.Len(t, f.dest.received(), 1)
	assert.Equal(t, 1, f.tokenCount(t))
}

func TestFailedHandOverExpiresToken(t *testing.T) {
	cases := map[string]func(f *fixture){
		"destination answers 500": func(f *fixture) { f.dest.status.Store(http.StatusInternalServerError) },
		"destination answers 404": func(f *fixture) { f.dest.status.Store(http.StatusNotFound) },
		"destination unreachable": func(f *fixture) { f.dest.Close() },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			breakIt(f)

			status, body := f.post(t, "/inquiries/"+f.inq+"/completed")

			require.Equal(t, http.StatusBadGateway, status, body)
			assert.Contains(t, body["error"], "hand-over to the destination failed")
			assert.Equal(t, true, body["token_expired"])
			tok, ok := f.fake.ShareToken(body["share_token_id"].(string))
			require.True(t, ok)
			assert.Equal(t, "expired", tok.Status)
		})
	}
}

func TestHandOverTimeoutExpiresToken(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(c *config) { c.HandOverTimeout = 50 * time.Millisecond })
	f.dest.setOnRequest(func(string) { <-release }) // never answers in time
	defer close(release)

	status, body := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusBadGateway, status, body)
	assert.Contains(t, body["error"], "deadline exceeded")
	tok, _ := f.fake.ShareToken(body["share_token_id"].(string))
	assert.Equal(t, "expired", tok.Status)
}

func TestFailedHandOverThatReachedTheDestinationIsNotExpired(t *testing.T) {
	f := newFixture(t)
	bank := f.client(t, f.bank)
	// The destination starts redeeming, then fails to answer properly.
	f.dest.setOnRequest(func(id string) {
		_, err := bank.ShareTokens.Redeem(context.Background(), id, nil)
		assert.NoError(t, err)
	})
	f.dest.status.Store(http.StatusServiceUnavailable)

	status, body := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusBadGateway, status, body)
	assert.Equal(t, false, body["token_expired"])
	tok, _ := f.fake.ShareToken(body["share_token_id"].(string))
	assert.Equal(t, "redeemed", tok.Status)
}

func TestNotificationAfterFailedHandOverSharesAReplacementOnce(t *testing.T) {
	f := newFixture(t)
	f.dest.status.Store(http.StatusBadGateway)
	_, failed := f.post(t, "/inquiries/"+f.inq+"/completed")
	expiredID := failed["share_token_id"].(string)
	f.dest.status.Store(http.StatusOK)

	status, retried := f.post(t, "/inquiries/"+f.inq+"/completed")
	_, again := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, retried)
	replacement := retried["share_token_id"].(string)
	assert.NotEqual(t, expiredID, replacement)
	assert.Equal(t, replacement, again["share_token_id"], "a repeat finds the same replacement")
	assert.Equal(t, 2, f.tokenCount(t))
	tok, _ := f.fake.ShareToken(replacement)
	assert.Equal(t, "created", tok.Status)
	assert.Equal(t, []string{
		`{"share_token_id":"` + expiredID + `"}`,
		`{"share_token_id":"` + replacement + `"}`,
		`{"share_token_id":"` + replacement + `"}`,
	}, f.dest.received())
}

func TestExpireEndpoint(t *testing.T) {
	f := newFixture(t)
	_, created := f.post(t, "/inquiries/"+f.inq+"/completed")
	id := created["share_token_id"].(string)

	status, body := f.post(t, "/share-tokens/"+id+"/expire")

	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, map[string]any{"share_token_id": id, "status": "expired"}, body)
	tok, _ := f.fake.ShareToken(id)
	assert.Equal(t, "expired", tok.Status)
}

func TestExpireEndpointMapsPersonaErrors(t *testing.T) {
	f := newFixture(t)
	_, created := f.post(t, "/inquiries/"+f.inq+"/completed")
	id := created["share_token_id"].(string)
	_, err := f.client(t, f.bank).ShareTokens.Redeem(context.Background(), id, nil)
	require.NoError(t, err)

	t.Run("unknown token is 404", func(t *testing.T) {
		status, body := f.post(t, "/share-tokens/cnst_doesnotexist/expire")
		assert.Equal(t, http.StatusNotFound, status, body)
		assert.Regexp(t, `^req_`, body["persona_request_id"])
	})
	t.Run("redeemed token is 422", func(t *testing.T) {
		status, body := f.post(t, "/share-tokens/"+id+"/expire")
		assert.Equal(t, http.StatusUnprocessableEntity, status, body)
		assert.Regexp(t, `^req_`, body["persona_request_id"])
	})
}

func TestPersonaErrorsOnCreate(t *testing.T) {
	t.Run("unknown inquiry is Persona's 422", func(t *testing.T) {
		f := newFixture(t)
		status, body := f.post(t, "/inquiries/inq_unknown/completed")
		assert.Equal(t, http.StatusUnprocessableEntity, status, body)
		assert.Regexp(t, `^req_`, body["persona_request_id"])
		assert.Empty(t, f.dest.received())
	})
	t.Run("Persona unavailable is 502", func(t *testing.T) {
		f := newFixture(t, func(c *config) {
			c.ClientOptions = append(c.ClientOptions, connect.WithMaxRetries(1))
		})
		f.fake.InjectFault(connecttest.Fault{Status: http.StatusServiceUnavailable, Count: -1})
		status, body := f.post(t, "/inquiries/"+f.inq+"/completed")
		assert.Equal(t, http.StatusBadGateway, status, body)
		assert.Regexp(t, `^req_`, body["persona_request_id"])
		assert.Empty(t, f.dest.received())
	})
}

func TestBadIDsAre400NamingTheField(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ path, field string }{
		{"/inquiries/inq%20with%20spaces/completed", "SourceID"},
		{"/inquiries/" + strings.Repeat("x", 129) + "/completed", "SourceID"},
		{"/inquiries/inq%2F..%2Fadmin/completed", "SourceID"},
		{"/share-tokens/cnst%3Fx%3D1/expire", "id"},
		{"/share-tokens/" + strings.Repeat("c", 200) + "/expire", "id"},
	}
	for _, c := range cases {
		status, body := f.post(t, c.path)
		assert.Equal(t, http.StatusBadRequest, status, c.path)
		assert.Equal(t, c.field, body["field"], c.path)
	}
	assert.Empty(t, f.fake.Requests(), "nothing reaches Persona")
	assert.Empty(t, f.dest.received())
}

func TestIdempotencyKeyStaysWithinPersonasLimit(t *testing.T) {
	assert.Equal(t, "share-inq_1-2", shareKey("inq_1", 2))
	long := idempotencyKey("share", strings.Repeat("i", 300), "1")
	assert.LessOrEqual(t, len(long), 255)
	assert.NotEqual(t, long, idempotencyKey("share", strings.Repeat("i", 300), "2"))
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"PERSONA_API_KEY": "persona_sandbox_secret", "PERSONA_CONNECTION_ID": "cxn_1", "DESTINATION_URL": "http://localhost:8082/share-tokens",
	}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer

	addr, cfg, err := loadConfig([]string{"-addr", "127.0.0.1:0", "-token-ttl", "2h"}, getenv, &stderr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:0", addr)
	assert.Equal(t, 2*time.Hour, cfg.TokenTTL)
	assert.Equal(t, "cxn_1", cfg.ConnectionID)

	_, _, err = loadConfig(nil, func(string) string { return "" }, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PERSONA_API_KEY")
	assert.Contains(t, err.Error(), "DESTINATION_URL")

	env["DESTINATION_URL"] = "localhost:8082"
	_, _, err = loadConfig(nil, getenv, &stderr)
	require.ErrorContains(t, err, "DESTINATION_URL must be an absolute http(s) URL")
	assert.NotContains(t, err.Error()+stderr.String(), "persona_sandbox_secret")
}

func TestRunServesUntilCancelled(t *testing.T) {
	f := newFixture(t)
	env := map[string]string{
		"PERSONA_API_KEY": f.acme.APIKey, "PERSONA_BASE_URL": f.fake.URL,
		"PERSONA_CONNECTION_ID": f.cxn, "DESTINATION_URL": f.dest.URL,
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, logs)
	}()
	base := "http://" + waitForListening(t, logs)

	resp, err := http.Post(base+"/inquiries/"+f.inq+"/completed", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()

	require.NoError(t, <-errc)
	assert.Contains(t, logs.String(), `"msg":"share token handed over"`)
	assert.NotContains(t, logs.String(), f.acme.APIKey)
}

// syncBuffer is a bytes.Buffer safe for the service's log writes and the
// test's reads; listening receives the "listening" record's address (slog
// writes one record per Write).
type syncBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string
	once      sync.Once
}

func (b *syncBuffer) init() { b.once.Do(func() { b.listening = make(chan string, 1) }) }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.init()
	var rec struct{ Msg, Addr string }
	if json.Unmarshal(p, &rec) == nil && rec.Msg == "listening" {
		b.listening <- rec.Addr
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitForListening(t *testing.T, b *syncBuffer) string {
	t.Helper()
	b.init()
	select {
	case addr := <-b.listening:
		return addr
	case <-time.After(10 * time.Second):
		t.Fatalf("not listening; log:\n%s", b.String())
		return ""
	}
}

func TestLostCreateAnswerMakesNoSecondToken(t *testing.T) {
	f := newFixture(t)
	f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: "/connect/share-tokens", DropAfterProcessing: true})

	status, body := f.post(t, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, 1, f.fake.Stats().Dropped)
	assert.Equal(t, 1, f.tokenCount(t), "the SDK's retry carried the same key")
	assert.Len(t, f.dest.received(), 1)
}

func TestInquiryCompletedEventSharesTheInquiry(t *testing.T) {
	const secret = "wbhsec_source_backend_test"
	f := newFixture(t, func(c *config) { c.WebhookSecrets = []string{secret} })
	_, err := f.fake.RegisterWebhook(f.acme, f.backend.URL+"/webhooks/persona",
		connecttest.WithEnabledEvents(connecttest.EventInquiryCompleted), connecttest.WithWebhookSecret(secret))
	require.NoError(t, err)

	inq := f.fake.NewInquiry(f.acme, map[string]any{"name-first": "Grace"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.fake.WaitWebhooks(ctx))

	got := f.dest.received()
	require.Len(t, got, 1, "the destination got the token")
	page, err := f.client(t, f.acme).ShareTokens.List(ctx, &connect.ShareTokenListParams{ConnectionID: f.cxn})
	require.NoError(t, err)
	require.Len(t, page.Data, 1)
	assert.Equal(t, inq, page.Data[0].Source.ID)
	assert.JSONEq(t, `{"share_token_id":"`+page.Data[0].ID+`"}`, got[0])
	for _, d := range f.fake.WebhookDeliveries() {
		assert.Equal(t, connecttest.WebhookDelivered, d.Outcome)
	}

	// A repeated delivery of the event shares nothing more.
	var completed string
	for _, ev := range f.fake.Events(f.acme) {
		if ev.Name == connecttest.EventInquiryCompleted && ev.ObjectID == inq {
			completed = ev.ID
		}
	}
	require.NoError(t, f.fake.ResendWebhookEvent(completed))
	require.NoError(t, f.fake.WaitWebhooks(ctx))
	assert.Len(t, f.dest.received(), 1)
	assert.Equal(t, 1, f.tokenCount(t))
}
