package connecttest_test

import (
	"encoding/json"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestBodiesInAnyInflection(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Second))
	camelConn := `{"data":{"attributes":{"destinationOrganizationId":"` + e.dst.ID + `"}}}`
	r := e.do(e.src, "POST", "/connect/connections", camelConn)
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	assert.Equal(t, e.dst.ID, r.attr("destination-organization-id"))
	cxn := r.id()
	require.NoError(t, e.srv.AcceptConnection(cxn))

	snakeToken := `{"data":{"attributes":{"connection_id":"` + cxn + `","source_id":"` + e.inq + `","expires_in_seconds":3600}}}`
	r = e.do(e.src, "POST", "/connect/share-tokens", snakeToken)
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	assert.Equal(t, ts(t0.Add(time.Hour)), r.attr("expires-at"))
	tok := r.id()

	target := e.srv.NewAccount(e.dst, map[string]any{"name-first": "", "last_name": ""})
	camelRedeem := `{"data":{"attributes":{"destinationId":"` + target + `"}},` +
		`"meta":{"fieldMappings":[{"sourceFieldName":"name-last","destinationFieldName":"last_name"}]}}`
	r = e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", camelRedeem)
	require.Equal(t, 202, r.Status, "%s", r.Raw)
	e.clock.Advance(time.Second)
	obj, _ := e.srv.Object(target)
	assert.Equal(t, map[string]any{"name-first": "Ada", "last_name": "Lovelace"}, obj.Fields,
		"keys are inflected, values (field names) are not")

	// Two spellings of one member are refused, not merged.
	both := `{"data":{"attributes":{"connection-id":"` + cxn + `","connectionId":"` + cxn + `","source-id":"` + e.inq + `"}}}`
	r = e.do(e.src, "POST", "/connect/share-tokens", both)
	assert.Equal(t, 400, r.Status)
	assert.Contains(t, r.errItem()["details"], "connection-id")
	// Unknown members stay unknown in any inflection.
	r = e.do(e.src, "POST", "/connect/share-tokens", `{"data":{"attributes":{"connectionId":"`+cxn+`","sourceId":"`+e.inq+`","colour":"red"}}}`)
	assert.Equal(t, 400, r.Status)
}

func TestResponsesInTheAskedInflection(t *testing.T) {
	e := newEnv(t, connecttest.WithPeekFullFields("name-first"))
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	path := "/connect/share-tokens/" + tok + "?peek-source-data=true"

	kebab := e.do(e.dst, "GET", path, nil)
	require.Equal(t, 200, kebab.Status)
	explicit := e.do(e.dst, "GET", path, nil, "Key-Inflection", "kebab")
	assert.Equal(t, kebab.Body, explicit.Body, "kebab is the default")

	camel := e.send(e.dst, "GET", path, nil, "Key-Inflection", "camel")
	require.Equal(t, 200, camel.Status)
	assert.Equal(t, inflectKeys(kebab.Body, camelCase), camel.Body)
	a := camel.attrs()
	assert.Contains(t, a, "createdAt")
	assert.Contains(t, a, "redeemMode")
	assert.NotContains(t, a, "created-at")
	sd := a["sourceData"].(map[string]any)
	assert.Equal(t, "connect/source-data/inquiry", sd["type"], "values are not inflected")
	fields := sd["peekableAttributes"].(map[string]any)["fields"].(map[string]any)
	assert.Equal(t, map[string]any{"visibility": "full", "value": "Ada"}, fields["name-first"], "Persona never inflects field names")
	assert.NotContains(t, fields, "nameFirst")

	snake := e.send(e.dst, "GET", path, nil, "Key-Inflection", "snake")
	require.Equal(t, 200, snake.Status)
	assert.Equal(t, inflectKeys(kebab.Body, snakeCase), snake.Body)
	assert.Contains(t, snake.attrs(), "failure_reason")

	// Lists: links are values.
	list := e.send(e.src, "GET", "/connect/share-tokens?page%5Bsize%5D=1&filter%5Bconnection-id%5D="+cxn, nil, "Key-Inflection", "camel")
	require.Equal(t, 200, list.Status)
	e.token(cxn, e.inq)
	list = e.send(e.src, "GET", "/connect/share-tokens?page%5Bsize%5D=1&filter%5Bconnection-id%5D="+cxn, nil, "Key-Inflection", "CAMEL")
	require.Equal(t, 200, list.Status)
	assert.Contains(t, list.link("next"), "filter%5Bconnection-id%5D=")

	// A replay answers in the inflection of the request that replays.
	first := e.send(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k", "Key-Inflection", "snake")
	require.Equal(t, 201, first.Status)
	assert.Contains(t, first.attrs(), "expires_at")
	again := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k")
	require.Equal(t, 201, again.Status)
	assert.Equal(t, inflectKeys(again.Body, snakeCase), first.Body)
}

func TestUnknownKeyInflectionIs400(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	for _, v := range []string{"pascal", "kebab-case", "upper"} {
		r := e.do(e.src, "GET", "/connect/share-tokens", nil, "Key-Inflection", v)
		assert.Equal(t, 400, r.Status, v)
		assert.Equal(t, "Bad Request", r.errTitle())
		assert.Contains(t, r.errItem()["details"], "Key-Inflection")
	}
	// The 400 is not stored under the key: the retry with the header fixed
	// runs.
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k", "Key-Inflection", "Camel-Case")
	require.Equal(t, 400, r.Status)
	assert.Equal(t, 0, e.srv.Stats().ShareTokensCreated)
	r = e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq), "Idempotency-Key", "k", "Key-Inflection", "kebab")
	assert.Equal(t, 201, r.Status)
}

func TestWebhookKeyInflection(t *testing.T) {
	e := newEnv(t)
	_, err := e.srv.RegisterWebhook(e.src, newReceiver(t, nil).URL(), connecttest.WithWebhookKeyInflection("pascal"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pascal")

	camelRc, snakeRc, kebabRc := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	camelWh := e.register(e.dst, camelRc, connecttest.WithWebhookKeyInflection(connecttest.InflectionCamel))
	snakeWh := e.register(e.src, snakeRc, connecttest.WithWebhookKeyInflection(connecttest.InflectionSnake))
	kebabWh := e.register(e.dst, kebabRc)
	assert.Equal(t, connecttest.InflectionCamel, camelWh.KeyInflection)
	assert.Equal(t, connecttest.InflectionKebab, kebabWh.KeyInflection, "kebab by default")

	tok := e.token(e.connect(), e.inq)
	e.waitWebhooks()
	for _, c := range []struct {
		rc     *receiver
		wh     connecttest.Webhook
		org    *connecttest.Organization
		header string
		key    func(string) string
	}{
		{camelRc, camelWh, e.dst, "camel", camelCase},
		{snakeRc, snakeWh, e.src, "snake", snakeCase},
		{kebabRc, kebabWh, e.dst, "kebab", func(k string) string { return k }},
	} {
		require.Len(t, c.rc.got(), 1, c.header)
		h := c.rc.got()[0]
		require.NoError(t, connect.VerifyWebhookSignature(h.Body, h.Header.Get("Persona-Signature"), []string{c.wh.Secret},
			connect.WithWebhookClock(e.clock.Now)), "the inflected body is what is signed")
		var env map[string]any
		require.NoError(t, json.Unmarshal(h.Body, &env))
		attrs := env["data"].(map[string]any)["attributes"].(map[string]any)
		assert.Contains(t, attrs, c.key("created-at"), c.header)
		payload := attrs["payload"].(map[string]any)
		asRead := e.send(c.org, "GET", "/connect/share-tokens/"+tok, nil, "Key-Inflection", c.header)
		assert.Equal(t, asRead.Body["data"], payload["data"], "%s: the token as a GET in that inflection shows it", c.header)
		assert.Contains(t, payload["data"].(map[string]any)["attributes"], c.key("expires-at"))
	}
}

func (r result) attrs() map[string]any { return r.data()["attributes"].(map[string]any) }

func camelCase(k string) string {
	out := []byte{}
	up := false
	for i := 0; i < len(k); i++ {
		switch c := k[i]; {
		case c == '-' || c == '_':
			up = true
		case up && c >= 'a' && c <= 'z':
			out = append(out, c-'a'+'A')
			up = false
		default:
			out = append(out, c)
			up = false
		}
	}
	return string(out)
}

func snakeCase(k string) string {
	out := []byte(k)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}

// inflectKeys renames every object key of v with name.
// inflectKeys is the test's own model of Persona's inflection: every key
// but those of a fields object.
func inflectKeys(v any, name func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if f, ok := e.(map[string]any); ok && k == "fields" {
				kept := map[string]any{}
				for fk, fe := range f {
					kept[fk] = inflectKeys(fe, name)
				}
				out[k] = kept
				continue
			}
			out[name(k)] = inflectKeys(e, name)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = inflectKeys(e, name)
		}
		return out
	}
	return v
}
