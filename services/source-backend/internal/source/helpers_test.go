package source

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/testdb"
)

const testWebhookSecret = "wbhsec_source_test"

// fixture is a fake Persona with the source (acme) and a destination (bank)
// over an active connection, and a destination endpoint that answers as
// the test says.
type fixture struct {
	fake       *connecttest.Server
	acme, bank *connecttest.Organization
	cxn        string
	db         testdb.Target
	dest       *destination
}

// destination is the redeem-service's POST /share-tokens as a test double:
// it records each token posted and answers with the next scripted status
// (202 once the script is used up), after calling onPost if set.
type destination struct {
	*httptest.Server
	mu       sync.Mutex
	script   []int
	received []string
	onPost   func(ctx context.Context, tokenID string)
}

func (d *destination) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ShareTokenID string `json:"share_token_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	d.mu.Lock()
	code := http.StatusAccepted
	if len(d.script) > 0 {
		code, d.script = d.script[0], d.script[1:]
	}
	d.received = append(d.received, in.ShareTokenID)
	hook := d.onPost
	d.mu.Unlock()
	if hook != nil {
		hook(r.Context(), in.ShareTokenID)
	}
	w.WriteHeader(code)
}

func (d *destination) answer(codes ...int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.script = append(d.script, codes...)
}

// setOnPost makes the destination call hook with each token posted, before
// it answers.
func (d *destination) setOnPost(hook func(ctx context.Context, tokenID string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onPost = hook
}

func (d *destination) posts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.received...)
}

func newFixture(t *testing.T, db testdb.Target, opts ...connecttest.Option) *fixture {
	t.Helper()
	f := &fixture{fake: connecttest.NewServer(opts...), db: db, dest: &destination{}}
	t.Cleanup(f.fake.Close)
	f.dest.Server = httptest.NewServer(f.dest)
	t.Cleanup(f.dest.Close)
	f.acme = f.fake.NewOrganization("Acme KYC")
	f.bank = f.fake.NewOrganization("Bank")
	f.cxn = f.fake.NewActiveConnection(f.acme, f.bank)
	return f
}

// client is a client of the fake as org.
func (f *fixture) client(t *testing.T, org *connecttest.Organization) *connect.Client {
	t.Helper()
	c, err := connect.NewClient(org.APIKey, connect.WithBaseURL(f.fake.URL), connect.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	return c
}

// fastRetries spaces River's retries by 20ms.
type fastRetries struct{}

func (fastRetries) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(20 * time.Millisecond)
}

type replica struct {
	svc     *Service
	web     *httptest.Server
	stopped bool
}

// start runs a replica of the source-backend as acme on the fixture's
// database; cleanup stops it.
func (f *fixture) start(t *testing.T, mods ...func(*Config)) *replica {
	t.Helper()
	cfg := Config{
		DatabaseURL: f.db.DatabaseURL, SQLitePath: f.db.SQLitePath,
		APIKey: f.acme.APIKey, BaseURL: f.fake.URL, ConnectionID: f.cxn,
		DestinationURL: f.dest.URL + "/share-tokens",
		WebhookSecrets: []string{testWebhookSecret},
		PollInterval:   20 * time.Millisecond,
		ReconcileAfter: time.Hour,
		RetryPolicy:    fastRetries{},
		ClientOptions:  []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 5*time.Millisecond)},
	}
	for _, m := range mods {
		m(&cfg)
	}
	svc, err := New(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, svc.Start(context.Background()))
	r := &replica{svc: svc, web: httptest.NewServer(svc)}
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *replica) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.web.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.svc.Stop(ctx)
}

// registerWebhook makes the fake deliver acme's inquiry.completed to url.
func (f *fixture) registerWebhook(t *testing.T, url string) {
	t.Helper()
	_, err := f.fake.RegisterWebhook(f.acme, url+"/webhooks/persona",
		connecttest.WithWebhookSecret(testWebhookSecret), connecttest.WithEnabledEvents(connecttest.EventInquiryCompleted))
	require.NoError(t, err)
}

func post(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(""))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "body %q", raw)
	return resp.StatusCode, out
}

func rowOf(t *testing.T, r *replica, inquiryID string) inquiryRow {
	t.Helper()
	row, _, err := r.svc.st.get(context.Background(), inquiryID)
	require.NoError(t, err)
	return row
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 10*time.Millisecond, what)
}

// createKeys lists the Idempotency-Key of every create for inquiryID that
// reached the fake, and the ids of the tokens it made (replays excluded).
func (f *fixture) createKeys(inquiryID string) (keys []string, made int) {
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/connect/share-tokens") && strings.Contains(string(r.Body), inquiryID) {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			if r.Status == http.StatusCreated && !r.Replayed {
				made++
			}
		}
	}
	return keys, made
}

// reads counts the source's reads of single share tokens.
func (f *fixture) reads() int {
	n := 0
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodGet && strings.Contains(r.Path, "/connect/share-tokens/") {
			n++
		}
	}
	return n
}
