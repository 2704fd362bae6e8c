package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A receiver is a service's webhook route as its developer wrote it:
// NewWebhookHandler with the secret and no option, verifying signatures
// against the wall clock. Until verifyWith is called it answers 503;
// refuse, when set, makes it answer 500 before verification, as a
// receiver that is down would.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	handler http.Handler
	events  []*connect.WebhookEvent
	refuse  func(body []byte, attemptsMade string) bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) verifyWith(t *testing.T, secret string) {
	t.Helper()
	h, err := connect.NewWebhookHandler([]string{secret}, func(_ context.Context, ev *connect.WebhookEvent) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, ev)
		return nil
	})
	require.NoError(t, err)
	r.mu.Lock()
	r.handler = h
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	h, refuse := r.handler, r.refuse
	r.mu.Unlock()
	switch {
	case h == nil:
		http.Error(w, "no secret yet", http.StatusServiceUnavailable)
	case refuse != nil && refuse(body, req.Header.Get("Persona-Webhook-Attempts-Made")):
		http.Error(w, "receiver down", http.StatusInternalServerError)
	default:
		h.ServeHTTP(w, req)
	}
}

func (r *receiver) received() []*connect.WebhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*connect.WebhookEvent(nil), r.events...)
}

// listen runs "connect listen args…" as org. Its pauses advance the fake's
// clock instead of sleeping; after each, step is called with stderr so far
// and stops the command (as Ctrl-C would) by returning true. The SDK's own
// retries, which wait on the wall clock, are off. It returns the result
// and the pauses.
func (f *fixture) listen(t *testing.T, org *connecttest.Organization, step func(stderr string) bool, args ...string) (result, []time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"PERSONA_API_KEY": org.APIKey, "PERSONA_BASE_URL": f.srv.URL}
	s := newSession(strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	s.now = f.clock.Now
	s.clientOptions = []connect.ClientOption{connect.WithMaxRetries(0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pauses []time.Duration
	s.sleep = func(ctx context.Context, d time.Duration) error {
		pauses = append(pauses, d)
		f.clock.Advance(d)
		if step(stderr.String()) || len(pauses) > 50 {
			cancel()
		}
		return ctx.Err()
	}
	args = append([]string{"listen"}, args...)
	code := s.main(ctx, args)
	res := result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
	for _, o := range f.srv.Organizations() {
		assertNoSecret(t, res, o.APIKey)
	}
	return res, pauses
}

var printedSecret = regexp.MustCompile(`Webhook secret: (\S+)`)

// nearNow is a fake clock start close to the wall clock, so that the
// receiver's default check of the signature's age passes.
func nearNow() time.Time { return time.Now().UTC().Truncate(time.Second) }

func TestListenForwardsNewEventsAsWebhooksDeliverThem(t *testing.T) {
	f := newFixtureAt(t, nearNow())
	before := f.createToken(t) // an event from before listen starts: not forwarded

	// A real webhook of the destination gets the same events from the fake,
	// to compare with what listen forwards.
	real := newReceiver(t)
	const realSecret = "wbhsec_real_webhook_secret"
	real.verifyWith(t, realSecret)
	_, err := f.srv.RegisterWebhook(f.bank, real.URL, connecttest.WithWebhookSecret(realSecret))
	require.NoError(t, err)

	local := newReceiver(t)
	var tokA, tokB string
	pause := 0
	res, pauses := f.listen(t, f.bank, func(stderr string) bool {
		pause++
		switch pause {
		case 1:
			m := printedSecret.FindStringSubmatch(stderr)
			require.NotNil(t, m, "the secret is printed at start: %s", stderr)
			local.verifyWith(t, m[1])
			tokA, tokB = f.createToken(t), f.createToken(t)
			require.Equal(t, 0, f.run(t, f.bank, "share-tokens", "redeem", tokA).code)
		default:
			return len(local.received()) >= 3
		}
		return false
	}, "--forward-to", local.URL+"/webhooks/persona", "--poll", "5s")

	require.Equal(t, 0, res.code, "Ctrl-C ends listen normally: %s", res.stderr)
	assert.Contains(t, res.stderr, "stopped")
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, pauses,
		"the tokens' creations forwarded at the first read, the redemption (5s later on the fake) at the second")
	got := local.received()
	require.Len(t, got, 3, res.stderr)
	type seen struct{ name, token string }
	var order []seen
	for _, ev := range got {
		require.NotNil(t, ev.ShareToken, ev.Name)
		order = append(order, seen{ev.Name, ev.ShareToken.ID})
		assert.Equal(t, 1, ev.Delivery.AttemptsMade)
		assert.Equal(t, 3, ev.Delivery.AttemptsLeft)
		assert.NotEqual(t, before, ev.ShareToken.ID, "events from before the start are not forwarded")
	}
	assert.Equal(t, []seen{
		{connect.EventShareTokenInboundCreated, tokA},
		{connect.EventShareTokenInboundCreated, tokB},
		{connect.EventShareTokenInboundRedeemed, tokA},
	}, order, "oldest first")
	assert.Equal(t, 3, strings.Count(res.stderr, "-> 200 OK"), res.stderr)

	// What the receiver decoded is what Persona's webhook delivered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.srv.WaitWebhooks(ctx))
	byID := map[string]*connect.WebhookEvent{}
	for _, ev := range real.received() {
		byID[ev.ID] = ev
	}
	for _, ev := range got {
		want, ok := byID[ev.ID]
		require.True(t, ok, "the fake delivered %s too", ev.ID)
		assert.Equal(t, want.Name, ev.Name)
		assert.True(t, want.CreatedAt.Equal(ev.CreatedAt), ev.ID)
		assert.Equal(t, want.Object, ev.Object)
		assert.Equal(t, want.ShareToken, ev.ShareToken, "the token decodes the same from both")
	}
}

func TestListenRetriesThenMovesOn(t *testing.T) {
	f := newFixtureAt(t, nearNow())
	flaky, dead := f.createToken(t), f.createToken(t)
	const secret = "wbhsec_given_on_the_command_line"
	rcv := newReceiver(t)
	rcv.verifyWith(t, secret)
	rcv.refuse = func(body []byte, attemptsMade string) bool {
		return bytes.Contains(body, []byte(dead)) || (bytes.Contains(body, []byte(flaky)) && attemptsMade == "1")
	}

	var fresh string
	pause := 0
	res, pauses := f.listen(t, f.bank, func(string) bool {
		pause++
		if pause == 5 { // after the retries of the events since --since
			require.Equal(t, 0, f.run(t, f.bank, "share-tokens", "redeem", flaky).code)
			fresh = f.createToken(t)
		}
		return pause > 5
	}, "--forward-to", rcv.URL, "--secret", secret, "--since", "1h", "--events", connect.EventShareTokenInboundCreated, "--json")

	require.Equal(t, 0, res.code, res.stderr)
	assertNoSecret(t, res, secret)
	assert.Contains(t, res.stderr, "Signing with the secret from --secret.")
	assert.Equal(t, []time.Duration{
		time.Second,                                   // flaky's second attempt
		time.Second, 2 * time.Second, 4 * time.Second, // dead's three retries
		5 * time.Second, 5 * time.Second,
	}, pauses)

	got := rcv.received()
	require.Len(t, got, 2, "the redemption is filtered out; dead never got through")
	assert.Equal(t, flaky, got[0].ShareToken.ID)
	assert.Equal(t, 2, got[0].Delivery.AttemptsMade)
	assert.Equal(t, 2, got[0].Delivery.AttemptsLeft)
	assert.Equal(t, fresh, got[1].ShareToken.ID)
	assert.Contains(t, res.stderr, "500 Internal Server Error: receiver down (attempt 4 of 4); gave up on this event")

	lines := decodeLines(t, res.stdout)
	require.Len(t, lines, 3, "one line per event")
	assert.Equal(t, true, lines[0]["delivered"])
	assert.Equal(t, float64(2), lines[0]["attempts"])
	assert.Equal(t, false, lines[1]["delivered"])
	assert.Equal(t, float64(500), lines[1]["status"])
	assert.Equal(t, float64(4), lines[1]["attempts"])
	assert.Equal(t, true, lines[2]["delivered"])
	for _, l := range lines {
		assert.Equal(t, connect.EventShareTokenInboundCreated, l["event-name"])
	}

	q, err := url.ParseQuery(f.srv.Requests()[len(f.srv.Requests())-1].RawQuery)
	require.NoError(t, err)
	assert.Equal(t, connect.EventShareTokenInboundCreated, q.Get("filter[name]"))
	assert.Equal(t, "100", q.Get("page[size]"))
}

func TestListenBacksOffWhenReadingFails(t *testing.T) {
	f := newFixtureAt(t, nearNow())
	rcv := newReceiver(t)
	pause := 0
	res, pauses := f.listen(t, f.acme, func(string) bool {
		pause++
		if pause == 1 {
			f.srv.InjectFault(connecttest.Fault{Method: "GET", PathPrefix: "/events", Status: 503, Count: 2})
		}
		return pause == 4
	}, "--forward-to", rcv.URL)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 5 * time.Second}, pauses)
	assert.Equal(t, 2, strings.Count(res.stderr, "reading events failed"), res.stderr)
	assert.Contains(t, res.stderr, "next try in 20s")
	assert.Equal(t, time.Minute, pollDelay(5*time.Second, 10), "the backoff stops at a minute")
	assert.Equal(t, 2*time.Minute, pollDelay(2*time.Minute, 3), "a poll longer than that is kept")

	// A refusal that another read would repeat ends listen.
	pause = 0
	res, _ = f.listen(t, f.acme, func(string) bool {
		pause++
		f.srv.InjectFault(connecttest.Fault{Method: "GET", PathPrefix: "/events", Status: 403})
		return pause > 3
	}, "--forward-to", rcv.URL)
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "status 403")
}

func TestListenUsageAndStartErrors(t *testing.T) {
	f := newFixtureAt(t, nearNow())
	never := func(string) bool { t.Error("no pause expected"); return true }
	for _, args := range [][]string{
		{},
		{"--forward-to", "localhost:8000"},
		{"--forward-to", "/hooks"},
		{"--forward-to", "http://localhost:8000", "extra"},
		{"--forward-to", "http://localhost:8000", "--poll", "0s"},
		{"--forward-to", "http://localhost:8000", "--since", "yesterday"},
		{"--forward-to", "http://localhost:8000", "--since", "-1h"},
		{"--forward-to", "http://localhost:8000", "--events", "inquiry completed"},
	} {
		res, _ := f.listen(t, f.acme, never, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
		assert.NotContains(t, res.stderr, "Webhook secret", "%v", args)
	}
	assert.Empty(t, f.srv.Requests(), "nothing is sent for invalid input")

	wrongKey := &connecttest.Organization{APIKey: "persona_sandbox_notAKeyTheFakeKnows000000001"}
	res, _ := f.listen(t, wrongKey, never, "--forward-to", "http://localhost:8000")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "status 401")
	assert.NotContains(t, res.stderr, "Webhook secret", "nothing starts without a working key")
	assertNoSecret(t, res, wrongKey.APIKey)
}
