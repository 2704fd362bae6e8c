package connecttest_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

func TestEventsRecordedWithoutWebhooksAndServed(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	e.redeem(tok)

	// The source: inquiry.completed (from newEnv's NewInquiry), then
	// outbound-created and outbound-redeemed, newest first.
	src := e.srv.Events(e.src)
	require.Len(t, src, 3)
	assert.Equal(t, []string{connecttest.EventShareTokenOutboundRedeemed, connecttest.EventShareTokenOutboundCreated, connecttest.EventInquiryCompleted},
		[]string{src[0].Name, src[1].Name, src[2].Name})
	assert.Equal(t, e.inq, src[2].ObjectID)
	assert.Equal(t, "inquiry", src[2].ObjectType)
	assert.Equal(t, tok, src[0].ObjectID)

	r := e.send(e.src, "GET", "/events", nil)
	require.Equal(t, 200, r.Status, "%s", r.Raw)
	assert.Equal(t, []string{src[0].ID, src[1].ID, src[2].ID}, ids(r))
	first := r.list()[2]
	attrs := first["attributes"].(map[string]any)
	assert.Equal(t, "event", first["type"])
	assert.Equal(t, connecttest.EventInquiryCompleted, attrs["name"])
	assert.Equal(t, ts(t0), attrs["created-at"])
	payload := attrs["payload"].(map[string]any)
	assert.NotContains(t, payload, "included", "the Events API's payload holds data only")
	data := payload["data"].(map[string]any)
	assert.Equal(t, "inquiry", data["type"])
	assert.Equal(t, "completed", data["attributes"].(map[string]any)["status"])

	// Filters: comma-separated lists.
	q := url.Values{"filter[name]": {connecttest.EventInquiryCompleted + "," + connecttest.EventShareTokenOutboundCreated}}
	r = e.send(e.src, "GET", "/events?"+q.Encode(), nil)
	assert.Equal(t, []string{src[1].ID, src[2].ID}, ids(r))
	r = e.send(e.src, "GET", "/events?"+url.Values{"filter[object-id]": {tok}, "filter[id]": {src[0].ID + ",evt_x"}}.Encode(), nil)
	assert.Equal(t, []string{src[0].ID}, ids(r))
	assert.Equal(t, 400, e.send(e.src, "GET", "/events?filter%5Bobject%5D=x", nil).Status)

	// Paging, with links that repeat the filters.
	r = e.send(e.src, "GET", "/events?page%5Bsize%5D=2", nil)
	assert.Equal(t, []string{src[0].ID, src[1].ID}, ids(r))
	next := r.link("next").(string)
	assert.Contains(t, next, "/api/v1/events?")
	u, err := url.Parse(next)
	require.NoError(t, err)
	r = e.send(e.src, "GET", "/events?"+u.RawQuery, nil)
	assert.Equal(t, []string{src[2].ID}, ids(r))
	assert.Nil(t, r.link("next"))

	// One event; another organization's is a 404.
	r = e.send(e.src, "GET", "/events/"+src[0].ID, nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, src[0].ID, r.id())
	assert.Equal(t, 404, e.send(e.dst, "GET", "/events/"+src[0].ID, nil).Status)
	assert.Equal(t, 404, e.send(e.src, "GET", "/events/evt_unknown", nil).Status)

	// The destination has its own inbound events only.
	dst := e.srv.Events(e.dst)
	require.Len(t, dst, 2)
	assert.Equal(t, connecttest.EventShareTokenInboundRedeemed, dst[0].Name)
}

func TestInquiryCompletedDelivered(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.src, rc, connecttest.WithEnabledEvents(connecttest.EventInquiryCompleted))
	connectOnly := newReceiver(t, nil)
	e.register(e.src, connectOnly)

	pending := e.srv.NewInquiry(e.src, map[string]any{"status": "pending", "name-first": "Grace"})
	e.waitWebhooks()
	assert.Empty(t, rc.got(), "a pending inquiry is not completed")
	e.clock.Advance(time.Minute)
	require.NoError(t, e.srv.CompleteInquiry(pending))
	require.NoError(t, e.srv.CompleteInquiry(pending), "completing twice does nothing")
	e.waitWebhooks()
	require.Len(t, rc.got(), 1)
	ev := e.parse(rc.got()[0], wh.Secret)
	assert.Equal(t, connect.EventInquiryCompleted, ev.Name)
	assert.Equal(t, &connect.ResourceRef{Type: "inquiry", ID: pending}, ev.Object)
	assert.Empty(t, connectOnly.got(), "inquiry.completed goes only to webhooks that name it")
	obj, _ := e.srv.Object(pending)
	assert.Equal(t, "completed", obj.Status)
	assert.Equal(t, ev.ID, e.srv.Events(e.src)[0].ID, "the delivered event is the recorded one")
	assert.ErrorIs(t, e.srv.CompleteInquiry(e.srv.NewAccount(e.src, nil)), connecttest.ErrNotFound)
}

func TestObjectRoutes(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.connect(), e.inq)
	e.redeem(tok)
	clone := e.get(e.dst, tok)
	dest, ok := clone.rel("destination")
	require.True(t, ok)
	cloneID := dest["id"].(string)

	r := e.send(e.dst, "GET", "/inquiries/"+cloneID, nil)
	require.Equal(t, 200, r.Status, "%s", r.Raw)
	assert.Equal(t, "inquiry", r.data()["type"])
	assert.Equal(t, "completed", r.attr("status"))
	assert.Equal(t, map[string]any{"type": "string", "value": "Ada"}, r.attr("fields").(map[string]any)["name-first"])
	assert.Equal(t, 404, e.send(e.src, "GET", "/inquiries/"+cloneID, nil).Status, "only the owner reads it")
	assert.Equal(t, 404, e.send(e.dst, "GET", "/accounts/"+cloneID, nil).Status, "an inquiry is not an account")

	txn := e.srv.NewTransaction(e.src, map[string]any{"amount": 12.5})
	r = e.send(e.src, "GET", "/transactions/"+txn, nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "transaction", r.data()["type"])
	assert.Equal(t, map[string]any{"type": "number", "value": 12.5}, r.attr("fields").(map[string]any)["amount"])
	ver := e.srv.NewVerification(e.src, connecttest.TypeVerificationPhoneNumber, map[string]any{"phone-number": "+15555550100"})
	r = e.send(e.src, "GET", "/verifications/"+ver, nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, connecttest.TypeVerificationPhoneNumber, r.data()["type"])
	assert.Equal(t, "+15555550100", r.attr("phone-number"))
	assert.Equal(t, "passed", r.attr("status"))
	act := e.srv.NewAccount(e.src, nil)
	assert.Equal(t, "active", e.send(e.src, "GET", "/accounts/"+act, nil).attr("account-status"))
}

func TestRotateSecretRoute(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.src, rc)

	r := e.send(e.src, "POST", "/webhooks/"+wh.ID+"/rotate-secret", `{"meta":{"expires-in-seconds":600}}`)
	require.Equal(t, 200, r.Status, "%s", r.Raw)
	got, _ := e.srv.Webhook(wh.ID)
	require.Len(t, got.Secrets, 2)
	assert.NotEqual(t, wh.Secret, got.Secret)
	assert.Equal(t, wh.Secret, got.Secrets[1].Value)
	assert.Equal(t, t0.Add(10*time.Minute), got.Secrets[1].ExpiresAt)
	assert.Equal(t, "webhook", r.data()["type"])
	assert.Equal(t, got.Secret, r.attr("secret"))
	secrets := r.attr("secrets").([]any)
	require.Len(t, secrets, 2)
	assert.Nil(t, secrets[0].(map[string]any)["expires-at"])
	assert.Equal(t, ts(t0.Add(10*time.Minute)), secrets[1].(map[string]any)["expires-at"])

	// Without meta the old secret stays valid for the default.
	r = e.send(e.src, "POST", "/webhooks/"+wh.ID+"/rotate-secret", `{}`)
	require.Equal(t, 200, r.Status)
	again, _ := e.srv.Webhook(wh.ID)
	assert.Equal(t, got.Secret, again.Secrets[1].Value)
	assert.Equal(t, t0.Add(connecttest.DefaultOldSecretExpiresIn), again.Secrets[1].ExpiresAt)

	assert.Equal(t, 404, e.send(e.dst, "POST", "/webhooks/"+wh.ID+"/rotate-secret", `{}`).Status, "another organization's webhook")
	assert.Equal(t, 400, e.send(e.src, "POST", "/webhooks/"+wh.ID+"/rotate-secret", `{"meta":{"expires-in-seconds":"1h"}}`).Status)
	assert.Equal(t, 422, e.send(e.src, "POST", "/webhooks/"+wh.ID+"/rotate-secret", `{"meta":{"expires-in-seconds":-1}}`).Status)
}
