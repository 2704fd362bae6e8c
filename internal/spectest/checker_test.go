package spectest

import (
	"net/http"
	"strings"
	"testing"
)

// TestCheckerCatches makes sure the check has teeth: each exchange here
// breaks the document in one way that the fake or the SDK could, and must
// be reported. A validator upgrade or an option change that silently lets
// one through fails this test.
func TestCheckerCatches(t *testing.T) {
	s := loadSpec(t)
	auth := http.Header{"Authorization": {"Bearer persona_sandbox_x"}, "Content-Type": {"application/json"}}
	jsonHeader := func(extra ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Request-Id": {"req_x"},
			"Ratelimit-Limit": {"300"}, "Ratelimit-Remaining": {"299"}, "Ratelimit-Reset": {"42"}}
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return h
	}
	token := func(attrs string) string {
		return `{"data":{"type":"connect/share-token","id":"cnst_1","attributes":{"status":"created","direction":"outbound",` +
			`"created-at":"2025-12-08T09:30:00.000Z","updated-at":"2025-12-08T09:30:00.000Z","pending-at":null,"redeemed-at":null,` +
			`"expires-at":"2025-12-22T09:30:00.000Z","failed-at":null,"failure-reason":null,"redeem-mode":null` + attrs + `},` +
			`"relationships":{"connection":{"data":{"type":"connect/connection","id":"cxn_1"}}}}}`
	}
	good := token("")
	created := func(body string, h http.Header) *exchange {
		return &exchange{step: "self-test", source: "self-test", method: "POST", path: basePath + "/connect/share-tokens",
			reqHeader: auth, reqBody: []byte(`{"data":{"attributes":{"connection-id":"cxn_1","source-id":"inq_1"}}}`),
			status: 201, respHeader: h, respBody: []byte(body)}
	}

	peek := func(sourceData string) *exchange {
		return &exchange{method: "GET", path: basePath + "/connect/share-tokens/cnst_1", rawQuery: "peek-source-data=true", reqHeader: auth,
			status: 200, respHeader: jsonHeader(), respBody: []byte(token(`,"source-data":` + sourceData))}
	}
	if vs := s.validateResponse(peek(`{"type":"connect/source-data/account","id":"act_1","peekable-attributes":` +
		`{"status":{"visibility":"full","value":"active"},"fields":{"name-first":{"visibility":"presence","value":true}}}}`)); len(vs) > 0 {
		t.Fatalf("baseline peek rejected: %v", vs)
	}

	// The baseline is accepted, so that each case below fails for its
	// own reason.
	if vs := append(s.validateRequest(created(good, jsonHeader())), s.validateResponse(created(good, jsonHeader()))...); len(vs) > 0 {
		t.Fatalf("baseline rejected: %v", vs)
	}

	cases := []struct {
		name string
		x    *exchange
		what string // "request" or "response"
		want string // part of a reason or field path that must be reported
	}{
		{"unknown attribute", created(token(`,"share-scope":"full"`), jsonHeader()), "response", "share-scope"},
		{"timestamp not date-time", created(strings.Replace(good, "2025-12-08T09:30:00.000Z", "2025-12-08 09:30", 1), jsonHeader()), "response", "date-time"},
		{"integer header not an integer", created(good, jsonHeader("RateLimit-Remaining", "many")), "response", "RateLimit-Remaining"},
		{"unknown top-level member", created(strings.TrimSuffix(good, "}")+`,"meta":{}}`, jsonHeader()), "response", "meta"},
		{"401 with details", &exchange{method: "GET", path: basePath + "/connect/share-tokens/cnst_1", reqHeader: auth, status: 401,
			respHeader: http.Header{"Content-Type": {"application/json"}}, respBody: []byte(`{"errors":[{"title":"Must be authenticated to access this endpoint","details":"no"}]}`)},
			"response", "details"},
		{"undocumented status on an operation", &exchange{method: "GET", path: basePath + "/connect/share-tokens", reqHeader: auth, status: 404,
			respHeader: jsonHeader(), respBody: []byte(`{"errors":[{"title":"Record not found"}]}`)}, "response", "404"},
		{"5xx not Persona's error body", &exchange{method: "GET", path: basePath + "/connect/share-tokens", reqHeader: auth, status: 500,
			respHeader: jsonHeader(), respBody: []byte(`{"errors":[{"title":"Internal Server Error","status":500}]}`)}, "response", "status"},
		{"peek with an unknown source-data member", peek(`{"type":"connect/source-data/inquiry","id":"inq_1","peekable-attributes":{},"related-objects":[],"bogus":1}`),
			"response", "source-data"},
		{"peek of a verification with a fields bucket", peek(`{"type":"connect/source-data/verification/database","id":"ver_1",` +
			`"peekable-attributes":{"fields":{"name-first":{"visibility":"presence","value":true}}}}`), "response", "source-data"},
		{"peekable attribute by presence with a non-boolean value", peek(`{"type":"connect/source-data/account","id":"act_1",` +
			`"peekable-attributes":{"fields":{"name-first":{"visibility":"presence","value":"Ada"}}}}`), "response", "source-data"},
		{"request with an unknown member", &exchange{method: "POST", path: basePath + "/connect/connections", reqHeader: auth,
			reqBody: []byte(`{"data":{"type":"connect/connection","attributes":{"destination-organization-id":"org_1"}}}`)}, "request", "type"},
		{"request missing a required member", &exchange{method: "POST", path: basePath + "/connect/share-tokens", reqHeader: auth,
			reqBody: []byte(`{"data":{"attributes":{"connection-id":"cxn_1"}}}`)}, "request", "source-id"},
		{"request body where none is declared", &exchange{method: "POST", path: basePath + "/connect/share-tokens/cnst_1/expire", reqHeader: auth,
			reqBody: []byte(`{}`)}, "request", "body"},
		{"request without credentials", &exchange{method: "GET", path: basePath + "/connect/share-tokens", reqHeader: http.Header{}}, "request", "Authorization"},
		{"request with an unknown filter", &exchange{method: "GET", path: basePath + "/connect/share-tokens", rawQuery: "filter%5Bsource-id%5D=inq_1",
			reqHeader: auth}, "request", "filter"},
	}
	// The second document: the Events API and the objects' GETs.
	events := func(payload string) *exchange {
		return &exchange{method: "GET", path: basePath + "/events", reqHeader: auth, status: 200, respHeader: jsonHeader(),
			respBody: []byte(`{"data":[{"type":"event","id":"evt_1","attributes":{"name":"inquiry.completed","payload":` + payload +
				`,"created-at":"2025-12-08T09:30:00.000Z"}}],"links":{"prev":null,"next":null}}`)}
	}
	if vs := s.validateResponse(events(`{"data":{"type":"inquiry","id":"inq_1","attributes":{}}}`)); len(vs) > 0 {
		t.Fatalf("baseline event list rejected: %v", vs)
	}
	cases = append(cases, []struct {
		name string
		x    *exchange
		what string
		want string
	}{
		{"event payload with included", events(`{"data":{"type":"inquiry","id":"inq_1","attributes":{}},"included":[]}`), "response", "included"},
		{"inquiry without its required attributes", &exchange{method: "GET", path: basePath + "/inquiries/inq_1", reqHeader: auth, status: 200,
			respHeader: jsonHeader(), respBody: []byte(`{"data":{"type":"inquiry","id":"inq_1","attributes":{"status":"completed"},"relationships":{}}}`)},
			"response", "reference-id"},
		{"account of another type", &exchange{method: "GET", path: basePath + "/accounts/act_1", reqHeader: auth, status: 200,
			respHeader: jsonHeader(), respBody: []byte(`{"data":{"type":"inquiry","id":"act_1","attributes":{},"relationships":{}}}`)},
			"response", "account"},
		{"events with an unknown filter", &exchange{method: "GET", path: basePath + "/events", rawQuery: "filter%5Bobject%5D=inq_1", reqHeader: auth},
			"request", "filter"},
		{"rotate-secret with an unknown member", &exchange{method: "POST", path: basePath + "/webhooks/wbh_1/rotate-secret", reqHeader: auth,
			reqBody: []byte(`{"meta":{"expires-in":60}}`)}, "request", "expires-in"},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.x.step, c.x.source = "self-test", "self-test"
			var vs []violation
			if c.what == "request" {
				vs = s.validateRequest(c.x)
			} else {
				vs = s.validateResponse(c.x)
			}
			if len(vs) == 0 {
				t.Fatalf("not reported")
			}
			all := ""
			for _, v := range vs {
				all += v.String() + "\n"
			}
			t.Log(all)
			if !strings.Contains(strings.ToLower(all), strings.ToLower(c.want)) {
				t.Errorf("reported, but without %q:\n%s", c.want, all)
			}
		})
	}
}
