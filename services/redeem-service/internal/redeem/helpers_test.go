package redeem

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/testdb"
)

// target is one database for a test.
type target = testdb.Target

func forEachBackend(t *testing.T, fn func(t *testing.T, db target)) { testdb.ForEachBackend(t, fn) }

const testWebhookSecret = "wbhsec_test_secret"

// fixture is a fake Persona with a source (acme) and the destination (bank)
// over an active connection, and a completed inquiry of acme. opts configure
// the fake.
type fixture struct {
	fake       *connecttest.Server
	acme, bank *connecttest.Organization
	cxn, inq   string
	db         target
}

func newFixture(t *testing.T, db target, opts ...connecttest.Option) *fixture {
	t.Helper()
	f := &fixture{fake: connecttest.NewServer(opts...), db: db}
	t.Cleanup(f.fake.Close)
	f.acme = f.fake.NewOrganization("Acme KYC")
	f.bank = f.fake.NewOrganization("Bank")
	f.cxn = f.fake.NewActiveConnection(f.acme, f.bank)
	f.inq = f.fake.NewInquiry(f.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	return f
}

// fastRetries spaces River's retries by 50ms, so tests need not wait
// River's default backoff (a second and more).
type fastRetries struct{}

func (fastRetries) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(50 * time.Millisecond)
}

var _ river.ClientRetryPolicy = fastRetries{}

// replica is one running service and its HTTP server.
type replica struct {
	svc     *Service
	web     *httptest.Server
	stopped bool
}

// start runs a replica of the redeem-service as bank on the fixture's
// database. Reconciliation is off unless a modifier turns it on (an hour
// before a token is read again). Cleanup stops it.
func (f *fixture) start(t *testing.T, mods ...func(*Config)) *replica {
	t.Helper()
	web := httptest.NewUnstartedServer(nil)
	cfg := Config{
		DatabaseURL: f.db.DatabaseURL, SQLitePath: f.db.SQLitePath,
		APIKey: f.bank.APIKey, BaseURL: f.fake.URL, WebhookSecrets: []string{testWebhookSecret},
		PollInterval:    20 * time.Millisecond,
		ReconcileAfter:  time.Hour,
		CatchUpInterval: -1,
		RetryPolicy:     fastRetries{},
		ClientOptions:   []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 5*time.Millisecond)},
	}
	for _, m := range mods {
		m(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	web.Config.Handler = svc
	web.Start()
	r := &replica{svc: svc, web: web}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop shuts the replica down at once, cancelling its jobs in flight, as a
// deploy that does not wait does.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	r.web.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.svc.Stop(ctx)
}

// registerWebhook makes the fake deliver bank's events to r.
func (f *fixture) registerWebhook(t *testing.T, r *replica) connecttest.Webhook {
	t.Helper()
	wh, err := f.fake.RegisterWebhook(f.bank, r.web.URL+"/webhooks/persona", connecttest.WithWebhookSecret(testWebhookSecret))
	require.NoError(t, err)
	return wh
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

// call sends a request to a replica and decodes its JSON answer.
func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %q", raw)
	return resp.StatusCode, out
}

// handOver posts tokenID to r's POST /share-tokens, as the source does.
func handOver(t *testing.T, r *replica, tokenID string) (int, map[string]any) {
	t.Helper()
	return call(t, http.MethodPost, r.web.URL+"/share-tokens", `{"share_token_id":"`+tokenID+`"}`)
}

// eventually polls cond, bounded: the fake's view is settled first on
// every round (so that due redemptions complete and send their webhooks).
func (f *fixture) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, _ = f.fake.ShareToken("settle") // settles every token on the fake's clock
		return cond()
	}, 30*time.Second, 10*time.Millisecond, what)
}

// stateOf reads the token's state from the database through r.
func stateOf(t *testing.T, r *replica, tokenID string) tokenRow {
	t.Helper()
	row, _, err := r.svc.st.get(context.Background(), tokenID)
	require.NoError(t, err)
	return row
}

func isRedeemPath(path, tokenID string) bool {
	return strings.HasSuffix(path, "/connect/share-tokens/"+tokenID+"/redeem")
}

// redeemCalls lists the Idempotency-Key of every redeem of tokenID that
// reached the fake, and counts those it accepted (replays excluded).
func (f *fixture) redeemCalls(tokenID string) (keys []string, accepted int) {
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost && isRedeemPath(r.Path, tokenID) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			if r.Status == http.StatusAccepted && !r.Replayed {
				accepted++
			}
		}
	}
	return keys, accepted
}

// bankCalls counts bank's requests to the fake.
func (f *fixture) bankCalls() int {
	n := 0
	for _, r := range f.fake.Requests() {
		if r.OrganizationID == f.bank.ID {
			n++
		}
	}
	return n
}

// assertRedeemedOnce checks the token's row and the fake: one redemption
// accepted, and the clone of the inquiry in bank's organization is the
// destination recorded.
func (f *fixture) assertRedeemedOnce(t *testing.T, r *replica, tokenID string) {
	t.Helper()
	row := stateOf(t, r, tokenID)
	require.Equal(t, stateRedeemed, row.State)
	_, accepted := f.redeemCalls(tokenID)
	assert.Equal(t, 1, accepted, "redeems of %s Persona accepted", tokenID)
	clone, ok := f.fake.Object(row.DestinationID)
	require.True(t, ok, "the clone %s exists", row.DestinationID)
	assert.Equal(t, f.inq, clone.ClonedFrom)
	assert.Equal(t, f.bank.ID, clone.OrganizationID)
	assert.Equal(t, tokenID, clone.ShareTokenID)
}

func metricsText(t *testing.T, r *replica) string {
	t.Helper()
	resp, err := http.Get(r.web.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// reconcileSoon makes a replica read unfinished tokens from Persona every
// second, a millisecond after they last changed: the outcome of a
// redemption is learnt with no webhook.
func reconcileSoon(c *Config) {
	c.ReconcileAfter = time.Millisecond
	c.ReconcileInterval = time.Second
}
