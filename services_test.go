package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

func TestEventsListDecodesAndEncodesFilters(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "events/list_page1.json")))
	page, err := c.Events.List(context.Background(), &connect.EventListParams{
		Names:       []string{connect.EventInquiryCompleted, "inquiry.expired"},
		ObjectIDs:   []string{"inq_ABC123", "act_ABC123"},
		IDs:         []string{"evt_ABC123"},
		ListOptions: connect.ListOptions{PageSize: 2, After: "evt_XYZ000"},
	})
	require.NoError(t, err)
	r := rec.last(t)
	assert.Equal(t, "GET", r.Method)
	assert.Equal(t, "/api/v1/events", r.Path)
	q, err := url.ParseQuery(r.RawQuery)
	require.NoError(t, err)
	// Persona reads each filter as one comma-separated value.
	assert.Equal(t, url.Values{
		"filter[name]":      {"inquiry.completed,inquiry.expired"},
		"filter[object-id]": {"inq_ABC123,act_ABC123"},
		"filter[id]":        {"evt_ABC123"},
		"page[size]":        {"2"},
		"page[after]":       {"evt_XYZ000"},
	}, q)

	require.Len(t, page.Data, 2)
	ev := page.Data[0]
	assert.Equal(t, "evt_ABC123", ev.ID)
	assert.Equal(t, "inquiry.expired", ev.Name)
	assert.Equal(t, fixtureTime("2023-09-23T17:14:01.918Z"), ev.CreatedAt)
	assert.Equal(t, &connect.ResourceRef{Type: "inquiry", ID: "inq_ABC123"}, ev.Object)
	assert.Nil(t, ev.ShareToken)
	assert.JSONEq(t, `{"data":{"type":"inquiry","id":"inq_ABC123","attributes":{}}}`, string(ev.Payload))
	assert.Equal(t, &connect.ResourceRef{Type: "account", ID: "act_ABC123"}, page.Data[1].Object)
	assert.Equal(t, "evt_XYZ789", page.NextCursor)
	assert.Empty(t, page.PrevCursor)
}

func TestEventsGet(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "events/share_token_event.json")))
	ev, err := c.Events.Get(context.Background(), "evt_DEF456")
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/events/evt_DEF456", rec.last(t).Path)
	assert.Equal(t, connect.EventShareTokenOutboundCreated, ev.Name)
	require.NotNil(t, ev.ShareToken)
	assert.Equal(t, "cnst_ABC123", ev.ShareToken.ID)
	assert.Equal(t, connect.DirectionOutbound, ev.ShareToken.Direction)
	assert.Equal(t, &connect.ResourceRef{Type: "connect/share-token", ID: "cnst_ABC123"}, ev.Object)
}

func TestEventsUnexpectedResponses(t *testing.T) {
	cases := map[string]string{
		"wrong type": string(fixture(t, "events/wrong_type.json")),
		"no data":    `{}`,
		"no id":      `{"data":{"type":"event","attributes":{"name":"inquiry.completed"}}}`,
		"token payload of another type": `{"data":{"type":"event","id":"evt_1","attributes":{"name":"connect/share-token.inbound-created",` +
			`"created-at":"2025-12-08T09:30:00.000Z","payload":{"data":{"type":"inquiry","id":"inq_1"}}}}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(200, []byte(body)))
			ev, err := c.Events.Get(context.Background(), "evt_1")
			assert.Nil(t, ev)
			require.ErrorIs(t, err, connect.ErrUnexpectedResponse)
			var ue *connect.UnexpectedResponseError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, "/events/evt_1", ue.Path)
		})
	}
	t.Run("list item of another type", func(t *testing.T) {
		body := strings.Replace(string(fixture(t, "events/list_page1.json")), `"type": "event"`, `"type": "inquiry"`, 1)
		c, _ := newTestClient(t, respond(200, []byte(body)))
		_, err := c.Events.List(context.Background(), nil)
		require.ErrorIs(t, err, connect.ErrUnexpectedResponse)
		assert.Contains(t, err.Error(), "data[0]")
	})
}

func TestEventsAllPagesForwardWithFilters(t *testing.T) {
	page := func(ids []string, next string) []byte {
		var data []string
		for _, id := range ids {
			data = append(data, `{"type":"event","id":"`+id+`","attributes":{"name":"inquiry.completed","created-at":"2025-12-08T09:30:00.000Z",`+
				`"payload":{"data":{"type":"inquiry","id":"inq_1","attributes":{}}}}}`)
		}
		n := "null"
		if next != "" {
			n = `"/api/v1/events?filter%5Bname%5D=inquiry.completed&page%5Bafter%5D=` + next + `"`
		}
		return []byte(`{"data":[` + strings.Join(data, ",") + `],"links":{"prev":null,"next":` + n + `}}`)
	}
	c, rec := newTestClient(t, sequence(respond(200, page([]string{"evt_3", "evt_2"}, "evt_2")), respond(200, page([]string{"evt_1"}, ""))))
	var got []string
	for ev, err := range c.Events.All(context.Background(), &connect.EventListParams{Names: []string{connect.EventInquiryCompleted}}) {
		require.NoError(t, err)
		got = append(got, ev.ID)
	}
	assert.Equal(t, []string{"evt_3", "evt_2", "evt_1"}, got)
	reqs := rec.all()
	require.Len(t, reqs, 2)
	assert.Equal(t, "filter%5Bname%5D=inquiry.completed&page%5Bafter%5D=evt_2", reqs[1].RawQuery)
}

func TestEventsValidation(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "events/get.json")))
	ctx := context.Background()
	cases := []struct {
		field string
		p     connect.EventListParams
	}{
		{"Names[1]", connect.EventListParams{Names: []string{"inquiry.completed", ""}}},
		{"Names[0]", connect.EventListParams{Names: []string{"inquiry.completed,inquiry.approved"}}},
		{"Names[0]", connect.EventListParams{Names: []string{"inquiry\ncompleted"}}},
		{"ObjectIDs[0]", connect.EventListParams{ObjectIDs: []string{"inq_1/../x"}}},
		{"IDs[1]", connect.EventListParams{IDs: []string{"evt_1", ""}}},
		{"PageSize", connect.EventListParams{ListOptions: connect.ListOptions{PageSize: 101}}},
		{"After", connect.EventListParams{ListOptions: connect.ListOptions{After: "evt_1", Before: "evt_2"}}},
	}
	for _, tc := range cases {
		_, err := c.Events.List(ctx, &tc.p)
		requireValidationError(t, err, tc.field)
	}
	_, err := c.Events.Get(ctx, "evt_1?x=y")
	requireValidationError(t, err, "id")
	for _, err := range c.Events.All(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{Before: "evt_1"}}) {
		requireValidationError(t, err, "Before")
	}
	assert.Zero(t, rec.count(), "nothing is sent for invalid parameters")
}

func TestObjectsGetChoosesTheEndpoint(t *testing.T) {
	cases := []struct {
		ref     connect.ResourceRef
		fixture string
		path    string
		status  string
	}{
		{connect.ResourceRef{Type: "inquiry", ID: "inq_zEx4jL84ShbUyuwX6AzPSqt6"}, "objects/inquiry.json", "/api/v1/inquiries/inq_zEx4jL84ShbUyuwX6AzPSqt6", "pending"},
		{connect.ResourceRef{Type: "account", ID: "act_hpNqyAbEG4HeVjZoBRNCMKkA"}, "objects/account.json", "/api/v1/accounts/act_hpNqyAbEG4HeVjZoBRNCMKkA", ""},
		{connect.ResourceRef{Type: "txn", ID: "txn_ABC123"}, "objects/transaction.json", "/api/v1/transactions/txn_ABC123", "declined"},
		{connect.ResourceRef{Type: "transaction", ID: "txn_ABC123"}, "objects/transaction.json", "/api/v1/transactions/txn_ABC123", "declined"},
		{connect.ResourceRef{Type: "verification/database", ID: "ver_ABC123"}, "objects/verification.json", "/api/v1/verifications/ver_ABC123", "initiated"},
		{connect.ResourceRef{Type: "verification", ID: "ver_ABC123"}, "objects/verification.json", "/api/v1/verifications/ver_ABC123", "initiated"},
	}
	for _, tc := range cases {
		t.Run(tc.ref.Type, func(t *testing.T) {
			body := fixture(t, tc.fixture)
			c, rec := newTestClient(t, respond(200, body))
			obj, err := c.Objects.Get(context.Background(), &tc.ref)
			require.NoError(t, err)
			assert.Equal(t, "GET", rec.last(t).Method)
			assert.Equal(t, tc.path, rec.last(t).Path)
			assert.Equal(t, tc.ref.ID, obj.ID)
			assert.Equal(t, tc.status, obj.Status)
			assert.Contains(t, obj.Attributes, "created-at")
			var doc struct{ Data json.RawMessage }
			require.NoError(t, json.Unmarshal(body, &doc))
			assert.JSONEq(t, string(doc.Data), string(obj.Raw))
		})
	}
}

func TestObjectsGetRefusesInconsistentData(t *testing.T) {
	cases := []struct {
		ref  connect.ResourceRef
		body string
	}{
		{connect.ResourceRef{Type: "inquiry", ID: "inq_1"}, string(fixture(t, "objects/account.json"))},
		{connect.ResourceRef{Type: "verification/database", ID: "ver_1"}, `{"data":{"type":"verification/selfie","id":"ver_1","attributes":{}}}`},
		{connect.ResourceRef{Type: "verification", ID: "ver_1"}, `{"data":{"type":"inquiry","id":"ver_1","attributes":{}}}`},
		{connect.ResourceRef{Type: "txn", ID: "txn_1"}, `{"data":{"type":"account","id":"txn_1"}}`},
		{connect.ResourceRef{Type: "account", ID: "act_1"}, `{"data":{"type":"account","id":""}}`},
		{connect.ResourceRef{Type: "account", ID: "act_1"}, `{"data":null}`},
	}
	for _, tc := range cases {
		c, _ := newTestClient(t, respond(200, []byte(tc.body)))
		obj, err := c.Objects.Get(context.Background(), &tc.ref)
		assert.Nil(t, obj)
		assert.ErrorIs(t, err, connect.ErrUnexpectedResponse, "%s with %s", tc.ref.Type, tc.body)
	}
}

func TestObjectsGetValidation(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "objects/inquiry.json")))
	ctx := context.Background()
	_, err := c.Objects.Get(ctx, nil)
	requireValidationError(t, err, "ref")
	for _, typ := range []string{"", "connect/share-token", "verification/", "inquiries"} {
		_, err := c.Objects.Get(ctx, &connect.ResourceRef{Type: typ, ID: "inq_1"})
		requireValidationError(t, err, "ref.Type")
	}
	_, err = c.Objects.Get(ctx, &connect.ResourceRef{Type: "inquiry", ID: "../connect/share-tokens"})
	requireValidationError(t, err, "ref.ID")
	assert.Zero(t, rec.count())
}

func TestWebhooksRotateSecret(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "webhookapi/rotated.json")))
	ctx := context.Background()
	wh, err := c.Webhooks.RotateSecret(ctx, "wbh_ABC123", &connect.WebhookRotateSecretParams{OldSecretExpiresIn: 2 * time.Hour},
		connect.WithIdempotencyKey("rotate-1"))
	require.NoError(t, err)
	r := rec.last(t)
	assert.Equal(t, "POST", r.Method)
	assert.Equal(t, "/api/v1/webhooks/wbh_ABC123/rotate-secret", r.Path)
	assert.JSONEq(t, `{"meta":{"expires-in-seconds":7200}}`, string(r.Body))
	assert.Equal(t, "rotate-1", r.Header.Get("Idempotency-Key"))

	assert.Equal(t, "wbh_ABC123", wh.ID)
	assert.Equal(t, "disabled", wh.Status)
	assert.Equal(t, "https://withpersona.com", wh.URL)
	assert.Equal(t, []string{"account.created", "verification.created"}, wh.EnabledEvents)
	assert.Equal(t, "2023-01-05", wh.APIVersion)
	assert.Equal(t, fixtureTime("2023-08-17T23:18:13.000Z"), wh.CreatedAt)
	secret := "wbhsec_abcdefgh-1234-5678-9ijk-lmnopqrstuvw"
	assert.Equal(t, []connect.WebhookSecret{{Value: secret}}, wh.Secrets)
	assert.Equal(t, secret, wh.CurrentSecret())

	// Zero: Persona's default, no meta.
	_, err = c.Webhooks.RotateSecret(ctx, "wbh_ABC123", nil)
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(rec.last(t).Body))
	assert.NotEmpty(t, rec.last(t).Header.Get("Idempotency-Key"))
}

func TestWebhookSecretsNeverPrinted(t *testing.T) {
	exp := fixtureTime("2025-12-08T10:00:00.000Z")
	wh := &connect.Webhook{ID: "wbh_1", Secrets: []connect.WebhookSecret{{Value: "wbhsec_new"}, {Value: "wbhsec_old", ExpiresAt: &exp}}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		for _, v := range []any{wh, *wh, wh.Secrets, wh.Secrets[0], struct{ W connect.Webhook }{*wh}} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, "wbhsec_", "%s of %T", verb, v)
		}
	}
	assert.Contains(t, fmt.Sprintf("%v", wh), "wbh_1")
	assert.Contains(t, fmt.Sprintf("%v", wh.Secrets[1]), "2025-12-08T10:00:00Z")
	assert.Equal(t, "wbhsec_new", wh.CurrentSecret())
}

func TestWebhooksRotateSecretValidationAndChecks(t *testing.T) {
	c, rec := newTestClient(t, respond(200, fixture(t, "connections/active.json")))
	ctx := context.Background()
	_, err := c.Webhooks.RotateSecret(ctx, "wbh 1", nil)
	requireValidationError(t, err, "webhookID")
	for _, d := range []time.Duration{-time.Second, 500 * time.Millisecond, 1500 * time.Millisecond} {
		_, err := c.Webhooks.RotateSecret(ctx, "wbh_1", &connect.WebhookRotateSecretParams{OldSecretExpiresIn: d})
		requireValidationError(t, err, "OldSecretExpiresIn")
	}
	assert.Zero(t, rec.count())
	_, err = c.Webhooks.RotateSecret(ctx, "wbh_1", nil)
	assert.ErrorIs(t, err, connect.ErrUnexpectedResponse, "a connection is not a webhook")
}

// TestEventNamesMatchTheFake: connecttest keeps its own copies of the
// Connect event names, so that the fake does not depend on the client it
// tests; both must spell them as Persona does.
func TestEventNamesMatchTheFake(t *testing.T) {
	assert.Equal(t, connecttest.EventShareTokenInboundCreated, connect.EventShareTokenInboundCreated)
	assert.Equal(t, connecttest.EventShareTokenInboundRedeemed, connect.EventShareTokenInboundRedeemed)
	assert.Equal(t, connecttest.EventShareTokenOutboundCreated, connect.EventShareTokenOutboundCreated)
	assert.Equal(t, connecttest.EventShareTokenOutboundRedeemed, connect.EventShareTokenOutboundRedeemed)
}
