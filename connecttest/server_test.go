package connecttest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestServerURLAndOrganizations(t *testing.T) {
	e := newEnv(t)
	assert.True(t, strings.HasPrefix(e.srv.URL, "http://127.0.0.1:"), e.srv.URL)
	assert.True(t, strings.HasSuffix(e.srv.URL, "/api/v1"), e.srv.URL)

	assert.Regexp(t, `^org_[A-Za-z0-9]+$`, e.src.ID)
	assert.Regexp(t, `^persona_sandbox_[A-Za-z0-9]+$`, e.src.APIKey)
	assert.Regexp(t, `^api_[A-Za-z0-9]+$`, e.src.APIKeyID)
	assert.Regexp(t, `^env_[A-Za-z0-9]+$`, e.src.EnvironmentID)
	assert.Equal(t, "Acme KYC", e.src.Name)
	assert.NotEqual(t, e.src.APIKey, e.dst.APIKey)
	assert.Len(t, e.srv.Organizations(), 3)

	obj, ok := e.srv.Object(e.inq)
	require.True(t, ok)
	assert.Regexp(t, `^inq_[A-Za-z0-9]+$`, obj.ID)
	assert.Equal(t, "inquiry", obj.Type)
	assert.Equal(t, "completed", obj.Status)
	assert.Equal(t, e.src.ID, obj.OrganizationID)
	assert.Equal(t, "Ada", obj.Fields["name-first"])

	// Snapshots are copies.
	obj.Fields["name-first"] = "Eve"
	again, _ := e.srv.Object(e.inq)
	assert.Equal(t, "Ada", again.Fields["name-first"])

	assert.Regexp(t, `^act_`, e.srv.NewAccount(e.src, nil))
	assert.Regexp(t, `^txn_`, e.srv.NewTransaction(e.src, nil))
	ver := e.srv.NewVerification(e.src, connecttest.TypeVerificationDatabase, map[string]any{"country-code": "US"})
	assert.Regexp(t, `^ver_`, ver)
	v, _ := e.srv.Object(ver)
	assert.Equal(t, "verification/database", v.Type)
	assert.Equal(t, "passed", v.Status)
	assert.Panics(t, func() { e.srv.NewVerification(e.src, "verification/unknown", nil) })
	assert.Panics(t, func() { e.srv.NewInquiry(&connecttest.Organization{ID: "org_nope"}, nil) })
	assert.Len(t, e.srv.Objects(e.src), 4)
}

func TestHeadersOnAuthenticatedResponses(t *testing.T) {
	e := newEnv(t)
	r1 := e.do(e.src, "GET", "/connect/connections", nil)
	require.Equal(t, 200, r1.Status)
	assert.Equal(t, e.src.ID, r1.Header.Get("Persona-Organization-Id"))
	assert.Equal(t, e.src.EnvironmentID, r1.Header.Get("Persona-Environment-Id"))
	assert.Equal(t, "300", r1.Header.Get("RateLimit-Limit"))
	assert.Equal(t, "299", r1.Header.Get("RateLimit-Remaining"))
	assert.Equal(t, "53", r1.Header.Get("RateLimit-Reset")) // the clock is at :07 in its minute

	// Errors carry them too, and every response has its own Request-Id.
	r2 := e.do(e.dst, "GET", "/connect/share-tokens/cnst_nope", nil)
	require.Equal(t, 404, r2.Status)
	assert.Equal(t, "Record not found", r2.errTitle())
	assert.Equal(t, e.dst.ID, r2.Header.Get("Persona-Organization-Id"))
	assert.NotEqual(t, r1.Header.Get("Request-Id"), r2.Header.Get("Request-Id"))
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t)
	for name, auth := range map[string]string{
		"missing":      "",
		"unknown key":  "Bearer persona_sandbox_nope",
		"wrong scheme": "Basic " + e.src.APIKey,
		"bare key":     e.src.APIKey,
	} {
		t.Run(name, func(t *testing.T) {
			var hdr []string
			if auth != "" {
				hdr = []string{"Authorization", auth}
			}
			r := e.do(nil, "GET", "/connect/share-tokens", nil, hdr...)
			require.Equal(t, 401, r.Status)
			assert.JSONEq(t, `{"errors":[{"title":"Must be authenticated to access this endpoint"}]}`, string(r.Raw))
			assert.Empty(t, r.Header.Get("Persona-Organization-Id"))
		})
	}
	// The scheme is case-insensitive.
	r := e.do(nil, "GET", "/connect/share-tokens", nil, "Authorization", "bearer "+e.src.APIKey)
	assert.Equal(t, 200, r.Status)
	assert.Equal(t, 4, e.srv.Stats().Unauthorized)
}

func TestUnknownRoutesAre404(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path string }{
		{"GET", "/connect/nothing"},
		{"DELETE", "/connect/share-tokens/cnst_x"},
		{"GET", "/connect/share-tokens/cnst_x/redeem"},
		{"PUT", "/connect/connections"},
		{"GET", "/connect/share-tokens/"},
		{"GET", "/../../etc/passwd"},
	} {
		r := e.do(e.src, c.method, c.path, nil)
		assert.Equal(t, 404, r.Status, "%s %s", c.method, c.path)
	}
}

func TestMalformedBodiesAre400(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	cases := []struct {
		path, body string
	}{
		{"/connect/share-tokens", ``},
		{"/connect/share-tokens", `{`},
		{"/connect/share-tokens", `[]`},
		{"/connect/share-tokens", `"x"`},
		{"/connect/share-tokens", `{"data":null}`},
		{"/connect/share-tokens", `{"data":[]}`},
		{"/connect/share-tokens", `{"data":{}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"source-id":"` + e.inq + `"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":1,"source-id":"` + e.inq + `"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `","expires-in-seconds":"3600"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `","expires-in-seconds":3600.5}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `","expires-in-seconds":1e400}}}`},
		{"/connect/share-tokens", `{"data":{"type":"connect/share-token","attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `","color":"red"}}}`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn + `","source-id":"` + e.inq + `"}}} trailing`},
		{"/connect/share-tokens", `{"data":{"attributes":{"connection-id":"","source-id":"` + e.inq + `"}}}`},
		{"/connect/connections", `{"data":{"attributes":{}}}`},
		{"/connect/connections", `{"data":{"attributes":{"destination-organization-id":""}}}`},
		{"/connect/connections", `{"data":{"attributes":{"destination-organization-id":["org_x"]}}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `{"data":{"attributes":{"destination-id":7}}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `{"data":{"attributes":{"destination-id":""}}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `{"meta":{"field-mappings":[{"source-field-name":"a"}]}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `{"meta":{"field-mappings":{}}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `{"data":{"attributes":{"mode":"clone"}}}`},
		{"/connect/share-tokens/" + tok + "/redeem", `nope`},
	}
	for _, c := range cases {
		org := e.src
		if strings.HasSuffix(c.path, "/redeem") {
			org = e.dst
		}
		r := e.do(org, "POST", c.path, c.body)
		assert.Equal(t, 400, r.Status, "%s %s: %s", c.path, c.body, r.Raw)
		if r.Status == 400 {
			assert.Equal(t, "Bad Request", r.errTitle())
			assert.NotEmpty(t, r.errItem()["details"])
		}
	}
	// None of that redeemed the token.
	assert.Equal(t, "created", e.get(e.src, tok).attr("status"))
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	// In process: over a socket, net/http's server would linger half a
	// second (against a reset) on the connection whose body it did not read.
	e.inProcess()
	big := `{"data":{"attributes":{"destination-organization-id":"` + strings.Repeat("x", 2<<20) + `"}}}`
	r := e.do(e.src, "POST", "/connect/connections", big)
	assert.Equal(t, 400, r.Status)
}

// TestNoInputPanics throws odd requests at every route; the fake must
// answer each with a Persona-shaped 4xx, never a 5xx.
func TestNoInputPanics(t *testing.T) {
	e := newEnv(t)
	e.inProcess() // 3,600 requests: the handler sees the same URLs and bodies without the sockets
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	paths := []string{
		"/connect/share-tokens", "/connect/share-tokens/" + tok, "/connect/share-tokens/" + tok + "/expire",
		"/connect/share-tokens/" + tok + "/redeem", "/connect/connections", "/connect/connections/" + cxn,
		"/connect/connections/" + cxn + "/deactivate", "/connect/connections/" + cxn + "/reactivate",
		"/connect/share-tokens/%00", "/connect/share-tokens/" + strings.Repeat("a", 5000),
	}
	queries := []string{"", "?page[size]=-1", "?page[size]=1e9", "?page[after]=", "?page[before]=x&page[after]=y",
		"?filter[status]=%FF", "?peek-source-data=maybe", "?filter[]=1", "?page[size]=99999999999999999999999", "?%zz"}
	bodies := []string{"", "null", "{}", `{"data":{"attributes":null}}`, `{"data":{"attributes":{"destination-id":null}}}`,
		`{"meta":null}`, `{"meta":{"field-mappings":[null]}}`, "\x00\xff", `{"data":{"attributes":{"expires-in-seconds":-1}}}`}
	for _, p := range paths {
		for _, q := range queries {
			for _, m := range []string{"GET", "POST"} {
				for _, b := range bodies {
					for _, org := range []*connecttest.Organization{e.src, e.dst} {
						r := e.send(org, m, p+q, b)
						require.Less(t, r.Status, 500, "%s %s%s %q: %s", m, p, q, b, r.Raw)
					}
				}
			}
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv := connecttest.NewServer()
	org := srv.NewOrganization("Acme")
	srv.InjectFault(connecttest.Fault{Delay: time.Hour})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", srv.URL+"/connect/connections", nil)
		req.Header.Set("Authorization", "Bearer "+org.APIKey)
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return len(srv.Requests()) == 0 && srv.Stats().Faults == 1 },
		5*time.Second, time.Millisecond)
	srv.Close() // interrupts the hour-long delay
	srv.Close() // and may be called again
	<-done
	// Every goroutine the server and its client started has ended (goleak
	// gives those that are ending a moment to do so).
	goleak.VerifyNone(t, before)
}
