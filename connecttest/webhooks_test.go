package connecttest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// hit is one request a receiver got.
type hit struct {
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server standing for a customer's webhook route.
// answer gives the status of its nth request (from 1); nil answers 200.
type receiver struct {
	srv    *httptest.Server
	answer func(n int, r *http.Request) int
	mu     sync.Mutex
	hits   []hit
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{Header: r.Header.Clone(), Body: body})
		n := len(rc.hits)
		rc.mu.Unlock()
		status := http.StatusOK
		if rc.answer != nil {
			status = rc.answer(n, r)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/webhooks/persona" }

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// hang blocks a receiver until the caller gives up.
func hang(_ int, r *http.Request) int {
	<-r.Context().Done()
	return http.StatusOK
}

func (e *env) register(org *connecttest.Organization, rc *receiver, opts ...connecttest.WebhookOption) connecttest.Webhook {
	e.t.Helper()
	wh, err := e.srv.RegisterWebhook(org, rc.URL(), opts...)
	require.NoError(e.t, err)
	return wh
}

func (e *env) waitWebhooks() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.srv.WaitWebhooks(ctx))
}

func (e *env) redeem(tok string) {
	e.t.Helper()
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	require.Equal(e.t, 202, r.Status, "%s", r.Raw)
}

// event is a delivery verified and parsed by the SDK, with the raw
// envelope beside it.
type event struct {
	*connect.WebhookEvent
	Envelope map[string]any
	Hit      hit
}

// parse verifies h with the SDK against secret on the fake's clock.
func (e *env) parse(h hit, secret string) event {
	e.t.Helper()
	sig := h.Header.Get("Persona-Signature")
	require.NoError(e.t, connect.VerifyWebhookSignature(h.Body, sig, []string{secret}, connect.WithWebhookClock(e.clock.Now)))
	ev, err := connect.ParseWebhookEvent(h.Body, sig, []string{secret}, connect.WithWebhookClock(e.clock.Now))
	require.NoError(e.t, err)
	var env map[string]any
	require.NoError(e.t, json.Unmarshal(h.Body, &env))
	return event{WebhookEvent: ev, Envelope: env, Hit: h}
}

func (ev event) payload() map[string]any {
	return ev.Envelope["data"].(map[string]any)["attributes"].(map[string]any)["payload"].(map[string]any)
}

// checkEvent checks an event's envelope and that its token is exactly what
// org reads through GET.
func (e *env) checkEvent(ev event, name string, org *connecttest.Organization, tok string, dir connect.Direction) {
	e.t.Helper()
	t := e.t
	assert.Equal(t, name, ev.Name)
	assert.Regexp(t, `^evt_[A-Za-z0-9]+$`, ev.ID)
	data := ev.Envelope["data"].(map[string]any)
	keys := []string{"type", "id", "attributes"}
	requireKeys(t, data, keys, keys)
	assert.Equal(t, "event", data["type"])
	attrs := data["attributes"].(map[string]any)
	keys = []string{"name", "created-at", "payload"}
	requireKeys(t, attrs, keys, keys)
	assert.Regexp(t, tsRe, attrs["created-at"])
	p := ev.payload()
	keys = []string{"data", "included"}
	requireKeys(t, p, keys, keys)
	assert.Equal(t, []any{}, p["included"])
	checkResource(t, p["data"].(map[string]any), false)
	assert.Equal(t, e.get(org, tok).Body["data"], p["data"], "the token as %s sees it", org.Name)

	require.NotNil(t, ev.ShareToken)
	assert.Equal(t, tok, ev.ShareToken.ID)
	assert.Equal(t, dir, ev.ShareToken.Direction)

	h := ev.Hit.Header
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.NotEmpty(t, h.Get("User-Agent"))
	assert.Equal(t, "1", h.Get("Persona-Webhook-Attempts-Made"))
	assert.Equal(t, "7", h.Get("Persona-Webhook-Attempts-Left"))
	assert.Equal(t, strconv.FormatInt(e.clock.Now().Unix(), 10), h.Get("Persona-Webhook-First-Attempted-At"))
}

func TestWebhooksOnCreateAndRedeem(t *testing.T) {
	e := newEnv(t)
	srcRc, dstRc, otherRc := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	srcWh, dstWh := e.register(e.src, srcRc), e.register(e.dst, dstRc)
	e.register(e.other, otherRc)
	assert.Regexp(t, `^wbh_`, srcWh.ID)
	assert.Regexp(t, `^wbhsec_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, srcWh.Secret)
	assert.NotEqual(t, srcWh.Secret, dstWh.Secret)
	assert.ElementsMatch(t, []string{connecttest.EventShareTokenInboundCreated, connecttest.EventShareTokenInboundRedeemed,
		connecttest.EventShareTokenOutboundCreated, connecttest.EventShareTokenOutboundRedeemed}, srcWh.EnabledEvents)

	tok := e.token(e.connect(), e.inq)
	e.waitWebhooks()
	require.Len(t, srcRc.got(), 1)
	require.Len(t, dstRc.got(), 1)
	out := e.parse(srcRc.got()[0], srcWh.Secret)
	in := e.parse(dstRc.got()[0], dstWh.Secret)
	e.checkEvent(out, connect.EventShareTokenOutboundCreated, e.src, tok, connect.DirectionOutbound)
	e.checkEvent(in, connect.EventShareTokenInboundCreated, e.dst, tok, connect.DirectionInbound)
	assert.NotEqual(t, out.ID, in.ID, "each side's event has its own id")
	assert.Equal(t, t0, out.CreatedAt)
	assert.Equal(t, connect.ShareTokenStatusCreated, in.ShareToken.Status)
	assert.Nil(t, in.ShareToken.Destination)
	require.NotNil(t, out.ShareToken.Source)
	assert.Equal(t, e.inq, out.ShareToken.Source.ID)
	_, err := connect.ParseWebhookEvent(out.Hit.Body, out.Hit.Header.Get("Persona-Signature"), []string{dstWh.Secret},
		connect.WithWebhookClock(e.clock.Now))
	assert.ErrorIs(t, err, connect.ErrWebhookBadSignature, "each webhook signs with its own secret")

	e.clock.Advance(time.Minute)
	e.redeem(tok)
	e.waitWebhooks()
	require.Len(t, srcRc.got(), 2)
	require.Len(t, dstRc.got(), 2)
	out = e.parse(srcRc.got()[1], srcWh.Secret)
	in = e.parse(dstRc.got()[1], dstWh.Secret)
	e.checkEvent(out, connect.EventShareTokenOutboundRedeemed, e.src, tok, connect.DirectionOutbound)
	e.checkEvent(in, connect.EventShareTokenInboundRedeemed, e.dst, tok, connect.DirectionInbound)
	assert.Equal(t, t0.Add(time.Minute), in.CreatedAt)
	assert.Equal(t, connect.ShareTokenStatusRedeemed, in.ShareToken.Status)
	require.NotNil(t, in.ShareToken.Destination, "the clone")
	clone, ok := e.srv.Object(in.ShareToken.Destination.ID)
	require.True(t, ok)
	assert.Equal(t, e.inq, clone.ClonedFrom)

	assert.Empty(t, otherRc.got(), "an unrelated organization hears nothing")
	ds := e.srv.WebhookDeliveries()
	require.Len(t, ds, 4)
	for _, d := range ds {
		assert.Equal(t, connecttest.WebhookDelivered, d.Outcome)
		assert.Equal(t, 200, d.Status)
		assert.Equal(t, 1, d.Attempt)
		assert.Contains(t, []string{e.src.ID, e.dst.ID}, d.OrganizationID)
	}
}

// TestWebhookSignatureIsIndependent checks the fake's signer against the
// SDK's: the same body, secret and time give the same header.
func TestWebhookSignatureIsIndependent(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	e.waitWebhooks()
	require.Len(t, rc.got(), 1)
	h := rc.got()[0]
	assert.Equal(t, connect.SignWebhookPayload(h.Body, wh.Secret, e.clock.Now()), h.Header.Get("Persona-Signature"))
	tampered := append([]byte(nil), h.Body...)
	tampered[len(tampered)-2] = ' '
	assert.ErrorIs(t, connect.VerifyWebhookSignature(tampered, h.Header.Get("Persona-Signature"), []string{wh.Secret},
		connect.WithWebhookClock(e.clock.Now)), connect.ErrWebhookBadSignature)
}

func TestWebhookOrgWithoutWebhookGetsNothing(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.register(e.dst, rc)
	tok := e.token(e.connect(), e.inq)
	e.redeem(tok)
	e.waitWebhooks()
	var names []string
	for _, d := range e.srv.WebhookDeliveries() {
		assert.Equal(t, e.dst.ID, d.OrganizationID)
		names = append(names, d.EventName)
	}
	assert.ElementsMatch(t, []string{connect.EventShareTokenInboundCreated, connect.EventShareTokenInboundRedeemed}, names)
	assert.Len(t, rc.got(), 2)
}

func TestWebhookNoWebhooksNoDeliveries(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.connect(), e.inq)
	e.redeem(tok)
	e.waitWebhooks()
	assert.Empty(t, e.srv.WebhookDeliveries())
}

func TestWebhookEnabledEvents(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc, connecttest.WithEnabledEvents(connecttest.EventShareTokenInboundRedeemed))
	assert.Equal(t, []string{connecttest.EventShareTokenInboundRedeemed}, wh.EnabledEvents)
	all := newReceiver(t, nil)
	e.register(e.dst, all, connecttest.WithEnabledEvents("*"))

	tok := e.token(e.connect(), e.inq)
	e.redeem(tok)
	e.waitWebhooks()
	require.Len(t, rc.got(), 1)
	assert.Equal(t, connect.EventShareTokenInboundRedeemed, e.parse(rc.got()[0], wh.Secret).Name)
	assert.Len(t, all.got(), 2)
	// Both webhooks of the organization get the same event.
	var byName = map[string][]string{}
	for _, d := range e.srv.WebhookDeliveries() {
		byName[d.EventName] = append(byName[d.EventName], d.EventID)
	}
	require.Len(t, byName[connect.EventShareTokenInboundRedeemed], 2)
	assert.Equal(t, byName[connect.EventShareTokenInboundRedeemed][0], byName[connect.EventShareTokenInboundRedeemed][1])

	_, err := e.srv.RegisterWebhook(e.dst, rc.URL(), connecttest.WithEnabledEvents("account.created"))
	assert.Error(t, err, "an event the fake never sends")
}

func TestWebhookFixedSecret(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc, connecttest.WithWebhookSecret("wbhsec_test"))
	assert.Equal(t, "wbhsec_test", wh.Secret)
	e.token(e.connect(), e.inq)
	e.waitWebhooks()
	require.Len(t, rc.got(), 1)
	e.parse(rc.got()[0], "wbhsec_test")
}

func TestWebhookRetriesUntilSuccess(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	wh := e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	e.waitWebhooks()

	hits := rc.got()
	require.Len(t, hits, 3)
	var ids []string
	for i, h := range hits {
		ev := e.parse(h, wh.Secret)
		ids = append(ids, ev.ID)
		assert.Equal(t, hits[0].Body, h.Body, "the same body on every attempt")
		assert.Equal(t, strconv.Itoa(i+1), h.Header.Get("Persona-Webhook-Attempts-Made"))
		assert.Equal(t, strconv.Itoa(7-i), h.Header.Get("Persona-Webhook-Attempts-Left"))
		assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), h.Header.Get("Persona-Webhook-First-Attempted-At"))
	}
	assert.Equal(t, ids[0], ids[1])
	assert.Equal(t, ids[0], ids[2])

	ds := e.srv.WebhookDeliveries()
	require.Len(t, ds, 3)
	for i, d := range ds {
		assert.Equal(t, i+1, d.Attempt)
		assert.Equal(t, ids[0], d.EventID)
		assert.Equal(t, wh.ID, d.WebhookID)
		assert.Equal(t, rc.URL(), d.URL)
		assert.Equal(t, hits[i].Body, d.Body)
		assert.Equal(t, hits[i].Header.Get("Persona-Signature"), d.Header.Get("Persona-Signature"))
		assert.Equal(t, t0, d.Time)
	}
	assert.Equal(t, []string{connecttest.WebhookRetrying, connecttest.WebhookRetrying, connecttest.WebhookDelivered},
		[]string{ds[0].Outcome, ds[1].Outcome, ds[2].Outcome})
	assert.Equal(t, []int{500, 500, 204}, []int{ds[0].Status, ds[1].Status, ds[2].Status})
}

func TestWebhookGivesUpAfterEightAttempts(t *testing.T) {
	schedule := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond,
		time.Millisecond, time.Millisecond, time.Millisecond}
	e := newEnv(t, connecttest.WithWebhookRetrySchedule(schedule...))
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	failed := e.waitFailures()
	require.Len(t, failed.Failures, 1)
	assert.Equal(t, 503, failed.Failures[0].Status)

	require.Len(t, rc.got(), 8)
	ds := e.srv.WebhookDeliveries()
	require.Len(t, ds, 8)
	for i, d := range ds[:7] {
		assert.Equal(t, connecttest.WebhookRetrying, d.Outcome, "attempt %d", i+1)
		assert.Equal(t, 7-i, d.AttemptsLeft)
	}
	last := ds[7]
	assert.Equal(t, connecttest.WebhookFailed, last.Outcome)
	assert.Equal(t, 8, last.Attempt)
	assert.Equal(t, 0, last.AttemptsLeft)
	assert.Equal(t, 503, last.Status)
	assert.Equal(t, "0", rc.got()[7].Header.Get("Persona-Webhook-Attempts-Left"))
	assert.Equal(t, "8", rc.got()[7].Header.Get("Persona-Webhook-Attempts-Made"))
}

func TestWebhookRedirectAndRefusedConnectionAreFailures(t *testing.T) {
	e := newEnv(t, connecttest.WithWebhookRetrySchedule())
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusFound })
	e.register(e.dst, rc)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	_, err := e.srv.RegisterWebhook(e.src, goneURL)
	require.NoError(t, err)
	e.token(e.connect(), e.inq)
	assert.Len(t, e.waitFailures().Failures, 2)
	ds := e.srv.WebhookDeliveries()
	require.Len(t, ds, 2)
	for _, d := range ds {
		assert.Equal(t, connecttest.WebhookFailed, d.Outcome)
		if d.OrganizationID == e.dst.ID {
			assert.Equal(t, 302, d.Status)
		} else {
			assert.Equal(t, 0, d.Status)
			assert.NotEmpty(t, d.Err)
		}
	}
}

func TestWebhookSlowReceiverIsAFailure(t *testing.T) {
	e := newEnv(t, connecttest.WithWebhookTimeout(200*time.Millisecond),
		connecttest.WithWebhookRetrySchedule(time.Millisecond))
	rc := newReceiver(t, func(n int, r *http.Request) int {
		if n == 1 {
			return hang(n, r)
		}
		return http.StatusOK
	})
	e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	e.waitWebhooks()
	ds := e.srv.WebhookDeliveries()
	require.Len(t, ds, 2)
	assert.Equal(t, connecttest.WebhookRetrying, ds[0].Outcome)
	assert.Equal(t, 0, ds[0].Status)
	assert.Contains(t, ds[0].Err, "within 200ms")
	assert.GreaterOrEqual(t, ds[0].Duration, 200*time.Millisecond)
	assert.Equal(t, connecttest.WebhookDelivered, ds[1].Outcome)
	assert.Equal(t, ds[0].EventID, ds[1].EventID)
}

func TestWebhookSecretRotation(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc)
	old := wh.Secret
	rot, err := e.srv.RotateWebhookSecret(wh.ID, time.Hour)
	require.NoError(t, err)
	require.NotEqual(t, old, rot.Secret)
	require.Len(t, rot.Secrets, 2)
	assert.Equal(t, rot.Secret, rot.Secrets[0].Value)
	assert.True(t, rot.Secrets[0].ExpiresAt.IsZero())
	assert.Equal(t, old, rot.Secrets[1].Value)
	assert.Equal(t, t0.Add(time.Hour), rot.Secrets[1].ExpiresAt)

	cxn := e.connect()
	e.token(cxn, e.inq)
	e.waitWebhooks()
	require.Len(t, rc.got(), 1)
	h := rc.got()[0]
	sig := h.Header.Get("Persona-Signature")
	groups := strings.Fields(sig)
	require.Len(t, groups, 2, "one group per secret: %s", sig)
	assert.Equal(t, connect.SignWebhookPayload(h.Body, rot.Secret, t0), groups[0], "the new secret's group first")
	assert.Equal(t, connect.SignWebhookPayload(h.Body, old, t0), groups[1])
	for _, secrets := range [][]string{{old}, {rot.Secret}, {old, rot.Secret}, {"wbhsec_other", rot.Secret}} {
		assert.NoError(t, connect.VerifyWebhookSignature(h.Body, sig, secrets, connect.WithWebhookClock(e.clock.Now)), "%v", secrets)
	}
	assert.ErrorIs(t, connect.VerifyWebhookSignature(h.Body, sig, []string{"wbhsec_other"}, connect.WithWebhookClock(e.clock.Now)),
		connect.ErrWebhookBadSignature)

	// Once the old secret expires, only the new one signs.
	e.clock.Advance(time.Hour)
	e.token(cxn, e.inq)
	e.waitWebhooks()
	require.Len(t, rc.got(), 2)
	h = rc.got()[1]
	sig = h.Header.Get("Persona-Signature")
	assert.Len(t, strings.Fields(sig), 1)
	assert.NoError(t, connect.VerifyWebhookSignature(h.Body, sig, []string{rot.Secret}, connect.WithWebhookClock(e.clock.Now)))
	assert.ErrorIs(t, connect.VerifyWebhookSignature(h.Body, sig, []string{old}, connect.WithWebhookClock(e.clock.Now)),
		connect.ErrWebhookBadSignature)
	now, ok := e.srv.Webhook(wh.ID)
	require.True(t, ok)
	assert.Len(t, now.Secrets, 1)

	// Rotating with no grace period drops the old secret at once.
	rot2, err := e.srv.RotateWebhookSecret(wh.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, []connecttest.WebhookSecret{{Value: rot2.Secret}}, rot2.Secrets)
	_, err = e.srv.RotateWebhookSecret("wbh_nope", time.Hour)
	assert.ErrorIs(t, err, connecttest.ErrNotFound)
}

func TestWebhookLoopbackOnly(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"http://example.com/hook", "https://10.0.0.1/hook", "http://192.168.1.2:8080/",
		"http://127.0.0.1.example.com/", "http://[2001:db8::1]/"} {
		_, err := e.srv.RegisterWebhook(e.dst, u)
		assert.ErrorIs(t, err, connecttest.ErrWebhookHostNotAllowed, u)
	}
	for _, u := range []string{"ftp://127.0.0.1/", "127.0.0.1:8080", "http:///path", "://bad"} {
		_, err := e.srv.RegisterWebhook(e.dst, u)
		assert.Error(t, err, u)
	}
	for _, u := range []string{"http://127.0.0.1:1/hook", "https://127.9.9.9/", "http://[::1]:2/", "http://LOCALHOST:3/x"} {
		_, err := e.srv.RegisterWebhook(e.dst, u)
		assert.NoError(t, err, u)
	}

	allowed := connecttest.NewServer(connecttest.WithWebhookAllowedHosts("receiver.internal"))
	defer allowed.Close()
	org := allowed.NewOrganization("Bank")
	_, err := allowed.RegisterWebhook(org, "http://receiver.internal:9000/hook")
	assert.NoError(t, err)
	_, err = allowed.RegisterWebhook(org, "http://example.com/hook")
	assert.ErrorIs(t, err, connecttest.ErrWebhookHostNotAllowed)
}

func TestWebhookFailedRedemptionSendsNothing(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	e.register(e.dst, rc)
	src := newReceiver(t, nil)
	e.register(e.src, src)
	tok := e.token(e.connect(), e.inq)
	require.NoError(t, e.srv.RedactObject(e.inq))
	e.redeem(tok)
	e.waitWebhooks()
	st, ok := e.srv.ShareToken(tok)
	require.True(t, ok)
	assert.Equal(t, "failed", st.Status)
	for _, d := range e.srv.WebhookDeliveries() {
		assert.NotContains(t, d.EventName, "redeemed")
	}
	assert.Len(t, rc.got(), 1)
	assert.Len(t, src.got(), 1)
}

func TestWebhookRedeemDelayOnManualClock(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Minute))
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc)
	tok := e.token(e.connect(), e.inq)
	e.redeem(tok)
	e.waitWebhooks()
	require.Len(t, rc.got(), 1, "not redeemed yet on the clock")

	e.clock.Advance(time.Minute)
	e.waitWebhooks() // completes the redemption that is now due
	require.Len(t, rc.got(), 2)
	ev := e.parse(rc.got()[1], wh.Secret)
	e.checkEvent(ev, connect.EventShareTokenInboundRedeemed, e.dst, tok, connect.DirectionInbound)
	assert.Equal(t, t0.Add(time.Minute), ev.CreatedAt)
}

// TestWebhookRedeemDelayOnWallClock shows that, on the wall clock, a
// redemption completes and sends its events without anyone reading it.
func TestWebhookRedeemDelayOnWallClock(t *testing.T) {
	srv := connecttest.NewServer(connecttest.WithRedeemDelay(30 * time.Millisecond))
	defer srv.Close()
	src, dst := srv.NewOrganization("Acme"), srv.NewOrganization("Bank")
	inq := srv.NewInquiry(src, map[string]any{"name-first": "Ada"})
	rc := newReceiver(t, nil)
	wh, err := srv.RegisterWebhook(dst, rc.URL())
	require.NoError(t, err)

	ctx := context.Background()
	source, err := connect.NewClient(src.APIKey, connect.WithBaseURL(srv.URL))
	require.NoError(t, err)
	dest, err := connect.NewClient(dst.APIKey, connect.WithBaseURL(srv.URL))
	require.NoError(t, err)
	cxn := srv.NewActiveConnection(src, dst)
	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	require.NoError(t, err)
	_, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	require.NoError(t, err)
	n := len(srv.Requests())

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitWebhooks(wctx))
	require.Len(t, rc.got(), 2)
	ev, err := connect.ParseWebhookEvent(rc.got()[1].Body, rc.got()[1].Header.Get("Persona-Signature"), []string{wh.Secret})
	require.NoError(t, err)
	assert.Equal(t, connect.EventShareTokenInboundRedeemed, ev.Name)
	assert.Equal(t, connect.ShareTokenStatusRedeemed, ev.ShareToken.Status)
	assert.Len(t, srv.Requests(), n, "no request was needed to complete the redemption")
}

func TestWebhookResend(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	e.waitWebhooks()
	first := e.srv.WebhookDeliveries()
	require.Len(t, first, 1)
	require.NoError(t, e.srv.ResendWebhookEvent(first[0].EventID))
	e.waitWebhooks()
	require.Len(t, rc.got(), 2)
	a, b := e.parse(rc.got()[0], wh.Secret), e.parse(rc.got()[1], wh.Secret)
	assert.Equal(t, a.ID, b.ID)
	assert.Equal(t, rc.got()[0].Body, rc.got()[1].Body)
	assert.Equal(t, "1", rc.got()[1].Header.Get("Persona-Webhook-Attempts-Made"))
	assert.ErrorIs(t, e.srv.ResendWebhookEvent("evt_nope"), connecttest.ErrNotFound)
}

// TestWebhookWaitHonoursContext: WaitWebhooks gives up with ctx.
func TestWebhookWaitHonoursContext(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, hang)
	e.register(e.dst, rc)
	e.token(e.connect(), e.inq)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, e.srv.WaitWebhooks(ctx), context.DeadlineExceeded)
	e.srv.Close() // interrupts the attempt, so that the receiver can close
}

func TestWebhookCloseStopsDeliveries(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	for _, tc := range []struct {
		name    string
		answer  func(int, *http.Request) int
		attempt int // the attempt that is going on when Close is called
	}{
		{"waiting for a retry", func(int, *http.Request) int { return 500 }, 2},
		{"attempt in flight", hang, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{}, 8)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the caller leaving
				arrived <- struct{}{}
				w.WriteHeader(tc.answer(0, r))
			}))
			srv := connecttest.NewServer(connecttest.WithWebhookTimeout(time.Hour),
				connecttest.WithWebhookRetrySchedule(time.Millisecond, time.Hour))
			src, dst := srv.NewOrganization("Acme"), srv.NewOrganization("Bank")
			inq := srv.NewInquiry(src, nil)
			_, err := srv.RegisterWebhook(dst, rcv.URL)
			require.NoError(t, err)
			source, err := connect.NewClient(src.APIKey, connect.WithBaseURL(srv.URL))
			require.NoError(t, err)
			_, err = source.ShareTokens.Create(context.Background(),
				&connect.ShareTokenCreateParams{ConnectionID: srv.NewActiveConnection(src, dst), SourceID: inq})
			require.NoError(t, err)
			for range tc.attempt {
				<-arrived
			}
			if tc.attempt > 1 {
				// Close during the wait after the second attempt.
				require.Eventually(t, func() bool { return len(srv.WebhookDeliveries()) == tc.attempt },
					5*time.Second, time.Millisecond)
			}

			start := time.Now()
			srv.Close()
			assert.Less(t, time.Since(start), 2*time.Second, "Close returns promptly")
			ds := srv.WebhookDeliveries()
			if tc.attempt == 1 {
				require.Len(t, ds, 1)
				assert.Equal(t, connecttest.WebhookCanceled, ds[0].Outcome)
			} else {
				require.Len(t, ds, 2)
				assert.Equal(t, connecttest.WebhookRetrying, ds[1].Outcome)
			}
			assert.NoError(t, srv.WaitWebhooks(context.Background()), "nothing pending after Close")
			_, err = srv.RegisterWebhook(dst, rcv.URL)
			assert.NoError(t, err)
			assert.Len(t, srv.WebhookDeliveries(), len(ds), "nothing is sent after Close")
			rcv.Close()
			goleak.VerifyNone(t, ignore)
		})
	}
}
