package connect_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// inflections are the key inflections a Persona webhook can be set to, with
// the fixture file suffix of each.
var inflections = []struct{ name, suffix string }{
	{"kebab", ""},
	{"camel", ".camel"},
	{"snake", ".snake"},
}

// parseSigned signs body as whSecret at whNow and parses it.
func parseSigned(t testing.TB, body []byte) *connect.WebhookEvent {
	t.Helper()
	ev, err := connect.ParseWebhookEvent(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock())
	require.NoError(t, err)
	require.NotNil(t, ev)
	return ev
}

func TestWebhookFixturesAreInflected(t *testing.T) {
	// The fixtures must really differ, or the equality test below proves
	// nothing.
	for _, name := range webhookFixtureNames {
		camel := string(webhookFixture(t, name+".camel"))
		snake := string(webhookFixture(t, name+".snake"))
		assert.Contains(t, camel, `"createdAt"`, name)
		assert.NotContains(t, camel, `"created-at"`, name)
		assert.NotContains(t, camel, `"created_at"`, name)
		assert.Contains(t, snake, `"created_at"`, name)
		assert.NotContains(t, snake, `"created-at"`, name)
	}
}

func TestParseWebhookEventKeyInflections(t *testing.T) {
	for _, name := range webhookFixtureNames {
		t.Run(name, func(t *testing.T) {
			kebabBody := webhookFixture(t, name)
			want := parseSigned(t, kebabBody)
			require.False(t, want.CreatedAt.IsZero())
			for _, inf := range inflections[1:] {
				got := parseSigned(t, webhookFixture(t, name+inf.suffix))
				// Payload is the kebab form: the keys Persona's kebab
				// webhook sends, the values as sent.
				assert.JSONEq(t, fixturePayload(t, kebabBody), string(got.Payload), inf.name)
				gotCopy, wantCopy := *got, *want
				gotCopy.Payload, wantCopy.Payload = nil, nil
				assert.Equal(t, wantCopy, gotCopy, inf.name)
			}
		})
	}
}

func TestParseWebhookEventCamelRedeemed(t *testing.T) {
	// Before inflections were read, a camelCase body parsed without error
	// and with every time zero and every enum empty.
	ev := parseSigned(t, webhookFixture(t, "inbound_redeemed.camel"))
	tok := ev.ShareToken
	require.NotNil(t, tok)
	assert.True(t, fixtureTime("2023-08-17T23:30:15.000Z").Equal(ev.CreatedAt))
	assert.True(t, fixtureTime("2023-08-17T23:18:13.000Z").Equal(tok.CreatedAt))
	require.NotNil(t, tok.RedeemedAt)
	require.NotNil(t, tok.PendingAt)
	assert.Equal(t, connect.RedeemModeHydrate, tok.RedeemMode)
	assert.Equal(t, &connect.ResourceRef{Type: "inquiry", ID: "inq_XYZ789"}, tok.Destination)
}

func TestParseWebhookEventInquiryCompleted(t *testing.T) {
	for _, inf := range inflections {
		t.Run(inf.name, func(t *testing.T) {
			ev := parseSigned(t, webhookFixture(t, "inquiry_completed"+inf.suffix))
			assert.Equal(t, connect.EventInquiryCompleted, ev.Name)
			assert.Equal(t, &connect.ResourceRef{Type: "inquiry", ID: "inq_XYZ789"}, ev.Object)
			assert.Nil(t, ev.ShareToken)

			var p struct {
				Data struct {
					Attributes map[string]json.RawMessage `json:"attributes"`
				} `json:"data"`
				Included []struct {
					Attributes struct {
						Fields struct {
							Address struct {
								Value map[string]json.RawMessage `json:"value"`
							} `json:"address"`
						} `json:"fields"`
					} `json:"attributes"`
				} `json:"included"`
			}
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			a := p.Data.Attributes
			assert.JSONEq(t, `"2023-08-17T23:41:57.000Z"`, string(a["completed-at"]))
			assert.Contains(t, a, "marked-for-review-at")
			// Values are never rewritten, enum-like ones included.
			assert.JSONEq(t, `"verification_selfie"`, string(a["previous-step-name"]))
			// Keys in fields are field names, which Persona does not
			// inflect: they arrive, and stay, as the organization named them.
			assert.JSONEq(t, `{"name-first":{"type":"string","value":"Jane"},"address-street-1":{"type":"string","value":"123 Main St"}}`, string(a["fields"]))
			require.Len(t, p.Included, 1)
			assert.Contains(t, p.Included[0].Attributes.Fields.Address.Value, "street_1")
			assert.Contains(t, p.Included[0].Attributes.Fields.Address.Value, "postal_code")
		})
	}
}

// inflectKeys rewrites every object key of doc outside "fields" objects with
// to, as Persona's camel or snake setting would; it is the tests' way to make
// inflected bodies of fixtures that have no file of their own.
func inflectKeys(t testing.TB, doc []byte, to func(string) string) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	var walk func(v any, verbatim bool) any
	walk = func(v any, verbatim bool) any {
		switch x := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				nk := k
				if !verbatim {
					nk = to(k)
				}
				out[nk] = walk(e, verbatim || k == "fields")
			}
			return out
		case []any:
			for i := range x {
				x[i] = walk(x[i], verbatim)
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v, false))
	require.NoError(t, err)
	return b
}

func toSnake(k string) string { return strings.ReplaceAll(k, "-", "_") }

func toCamel(k string) string {
	words := strings.Split(k, "-")
	for i := 1; i < len(words); i++ {
		if words[i] != "" {
			words[i] = strings.ToUpper(words[i][:1]) + words[i][1:]
		}
	}
	return strings.Join(words, "")
}

// shareTokenEvent wraps a share token response document as the payload of
// an event.
func shareTokenEvent(t testing.TB, name string, doc []byte) []byte {
	t.Helper()
	return []byte(`{"data":{"type":"event","id":"evt_WRAP1","attributes":{"name":"` + name +
		`","created-at":"2023-08-17T23:18:13.000Z","payload":` + string(doc) + `}}}`)
}

func TestParseWebhookEventSourceDataInflections(t *testing.T) {
	kebab := shareTokenEvent(t, connect.EventShareTokenInboundCreated, fixture(t, "sharetokens/peek.json"))
	want := parseSigned(t, kebab).ShareToken.SourceData
	require.NotNil(t, want)
	require.Contains(t, want.Attributes, "created-at")
	require.Contains(t, want.Fields, "address-country-code")
	for name, to := range map[string]func(string) string{"camel": toCamel, "snake": toSnake} {
		t.Run(name, func(t *testing.T) {
			body := inflectKeys(t, kebab, to)
			require.NotContains(t, string(body), `"peekable-attributes"`, "the body is inflected")
			got := parseSigned(t, body).ShareToken.SourceData
			require.NotNil(t, got)
			assert.Equal(t, want.Type, got.Type)
			assert.Equal(t, want.ID, got.ID)
			assert.Equal(t, want.Attributes, got.Attributes)
			assert.Equal(t, want.Fields, got.Fields)
			require.Len(t, got.Related, len(want.Related))
			for i := range want.Related {
				assert.Equal(t, want.Related[i].Attributes, got.Related[i].Attributes)
				assert.Equal(t, want.Related[i].Fields, got.Related[i].Fields)
			}
			assert.JSONEq(t, string(want.Raw), string(got.Raw), "Raw is the kebab form")
		})
	}
}

func TestParseWebhookEventFailureReasonIsAValue(t *testing.T) {
	kebab := shareTokenEvent(t, "connect/share-token.inbound-redeemed", fixture(t, "sharetokens/failed.json"))
	for name, body := range map[string][]byte{
		"kebab": kebab,
		"camel": inflectKeys(t, kebab, toCamel),
		"snake": inflectKeys(t, kebab, toSnake),
	} {
		tok := parseSigned(t, body).ShareToken
		require.NotNil(t, tok, name)
		assert.Equal(t, connect.FailureReasonImportFailed, tok.FailureReason, name)
		assert.NotNil(t, tok.FailedAt, name)
	}
}

func TestWebhookHandlerKeyInflections(t *testing.T) {
	for _, name := range webhookFixtureNames {
		want := parseSigned(t, webhookFixture(t, name))
		for _, inf := range inflections {
			calls := &webhookCalls{}
			h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
			body := webhookFixture(t, name+inf.suffix)
			require.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
			require.Equal(t, 1, calls.count())
			got := calls.snapshot()[0]
			assert.Equal(t, want.ShareToken, got.ShareToken, "%s %s", name, inf.name)
			assert.Equal(t, want.Object, got.Object, "%s %s", name, inf.name)
			assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "%s %s", name, inf.name)
			assert.JSONEq(t, string(want.Payload), string(got.Payload), "%s %s", name, inf.name)
		}
	}
}
