package spectest

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fixture says what a file of ../../testdata is: the response (or request)
// of which call, and whether the document must accept it.
type fixture struct {
	method, path string // path after /api/v1, with its query
	status       int    // 0 for a request body
	conforming   bool   // false: deliberately not schema-valid, must FAIL
	contentType  string // of a response; JSON when empty
	// anyOperation validates an error body against every operation of the
	// document (for a status documented on it, or for an undocumented 5xx)
	// rather than the one call named.
	anyOperation bool
}

const (
	st  = "/connect/share-tokens"
	tok = st + "/cnst_ABC123"
	cx  = "/connect/connections"
)

// fixtures lists every JSON fixture of testdata/{sharetokens,connections,
// errors,requests,events,objects,webhookapi} (and the proxy's HTML page); the test fails on a file
// that is not listed.
var fixtures = map[string]fixture{
	"sharetokens/created.json":                   {method: "POST", path: st, status: 201, conforming: true},
	"sharetokens/pending_clone.json":             {method: "POST", path: tok + "/redeem", status: 202, conforming: true},
	"sharetokens/pending_hydrate.json":           {method: "POST", path: tok + "/redeem", status: 202, conforming: true},
	"sharetokens/redeemed.json":                  {method: "GET", path: tok, status: 200, conforming: true},
	"sharetokens/redeemed_outbound.json":         {method: "GET", path: tok, status: 200, conforming: true},
	"sharetokens/failed.json":                    {method: "GET", path: tok, status: 200, conforming: true},
	"sharetokens/expired.json":                   {method: "POST", path: tok + "/expire", status: 200, conforming: true},
	"sharetokens/peek.json":                      {method: "GET", path: tok + "?peek-source-data=true", status: 200, conforming: true},
	"sharetokens/list_page1.json":                {method: "GET", path: st, status: 200, conforming: true},
	"sharetokens/list_page2.json":                {method: "GET", path: st + "?page%5Bafter%5D=cnst_ABC456", status: 200, conforming: true},
	"sharetokens/legacy_connect_connection.json": {method: "POST", path: st, status: 201},
	"sharetokens/forward_compatible.json":        {method: "GET", path: tok, status: 200},

	"connections/pending.json":    {method: "POST", path: cx, status: 201, conforming: true},
	"connections/active.json":     {method: "GET", path: cx + "/cxn_ABC123", status: 200, conforming: true},
	"connections/inactive.json":   {method: "POST", path: cx + "/cxn_ABC123/deactivate", status: 200, conforming: true},
	"connections/list_page1.json": {method: "GET", path: cx, status: 200, conforming: true},
	"connections/list_page2.json": {method: "GET", path: cx + "?page%5Bafter%5D=cxn_XYZ789", status: 200, conforming: true},

	"errors/400.json":            {status: 400, conforming: true, anyOperation: true},
	"errors/401.json":            {status: 401, conforming: true, anyOperation: true},
	"errors/403.json":            {status: 403, conforming: true, anyOperation: true},
	"errors/404.json":            {status: 404, conforming: true, anyOperation: true},
	"errors/409.json":            {status: 409, conforming: true, anyOperation: true},
	"errors/422.json":            {status: 422, conforming: true, anyOperation: true},
	"errors/429.json":            {status: 429, conforming: true, anyOperation: true},
	"errors/500.json":            {status: 500, conforming: true, anyOperation: true},
	"errors/503.json":            {status: 503, conforming: true, anyOperation: true},
	"errors/jsonapi_style.json":  {method: "POST", path: st, status: 422},
	"errors/numeric_status.json": {method: "POST", path: tok + "/redeem", status: 409},
	"errors/proxy_502.html":      {method: "GET", path: tok, status: 502, contentType: "text/html"},

	"events/list_page1.json":              {method: "GET", path: "/events", status: 200, conforming: true},
	"events/get.json":                     {method: "GET", path: "/events/evt_ABC123", status: 200, conforming: true},
	"events/share_token_event.json":       {method: "GET", path: "/events/evt_DEF456", status: 200, conforming: true},
	"events/wrong_type.json":              {method: "GET", path: "/events/evt_ABC123", status: 200},
	"objects/inquiry.json":                {method: "GET", path: "/inquiries/inq_zEx4jL84ShbUyuwX6AzPSqt6", status: 200, conforming: true},
	"objects/account.json":                {method: "GET", path: "/accounts/act_hpNqyAbEG4HeVjZoBRNCMKkA", status: 200, conforming: true},
	"objects/transaction.json":            {method: "GET", path: "/transactions/txn_ABC123", status: 200, conforming: true},
	"objects/verification.json":           {method: "GET", path: "/verifications/ver_ABC123", status: 200, conforming: true},
	"webhookapi/rotated.json":             {method: "POST", path: "/webhooks/wbh_ABC123/rotate-secret", status: 200, conforming: true},
	"requests/rotate_webhook_secret.json": {method: "POST", path: "/webhooks/wbh_ABC123/rotate-secret", conforming: true},

	"requests/create_connection.json":          {method: "POST", path: cx, conforming: true},
	"requests/create_share_token.json":         {method: "POST", path: st, conforming: true},
	"requests/create_share_token_expires.json": {method: "POST", path: st, conforming: true},
	"requests/redeem_clone.json":               {method: "POST", path: tok + "/redeem", conforming: true},
	"requests/redeem_hydrate.json":             {method: "POST", path: tok + "/redeem", conforming: true},
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// operations lists a concrete method and path for every operation of the
// document, its path parameters filled with example ids.
func (s *spec) operations() (out []struct{ id, method, path string }) {
	for _, d := range s.docs() {
		out = append(out, d.docOperations()...)
	}
	return out
}

func (s *spec) docOperations() (out []struct{ id, method, path string }) {
	for p, item := range s.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			concrete := pathParam.ReplaceAllStringFunc(p, func(name string) string {
				switch name {
				case "{connection-id}":
					return "cxn_ABC123"
				case "{share-token-id}":
					return "cnst_ABC123"
				case "{webhook-id}":
					return "wbh_ABC123"
				}
				return "id_ABC123"
			})
			out = append(out, struct{ id, method, path string }{op.OperationId, strings.ToUpper(method), concrete})
		}
	}
	return out
}

func TestFixturesAgainstDocument(t *testing.T) {
	s := loadSpec(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	testdata := filepath.Join(root, "testdata")

	// Every fixture file is listed.
	for _, dir := range []string{"sharetokens", "connections", "errors", "requests", "events", "objects", "webhookapi"} {
		entries, err := os.ReadDir(filepath.Join(testdata, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := dir + "/" + e.Name()
			if _, ok := fixtures[name]; !ok && !e.IsDir() {
				t.Errorf("testdata/%s is not in the fixtures table: say which call it belongs to", name)
			}
		}
	}

	names := make([]string, 0, len(fixtures))
	for name := range fixtures {
		names = append(names, name)
	}
	slices.Sort(names)
	var checks, rejected int
	defer func() {
		t.Logf("%d fixtures, %d validations against operations, %d of them rejected as meant", len(fixtures), checks, rejected)
	}()
	header := http.Header{"Authorization": {"Bearer persona_sandbox_fixture"}, "Content-Type": {"application/json"}}
	for _, name := range names {
		f := fixtures[name]
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(testdata, name))
			if err != nil {
				t.Fatal(err)
			}
			var targets []struct{ id, method, path string }
			if f.anyOperation {
				for _, op := range s.operations() {
					if _, o := s.operation(mustRequest(op.method, op.path)); f.status >= 500 || declares(o, f.status) {
						targets = append(targets, op)
					}
				}
				if len(targets) == 0 {
					t.Fatalf("no operation of the document declares %d", f.status)
				}
			} else {
				targets = append(targets, struct{ id, method, path string }{"", f.method, f.path})
			}
			for _, target := range targets {
				p, q, _ := strings.Cut(target.path, "?")
				x := &exchange{step: "fixture " + name, source: "fixture", method: target.method, path: basePath + p, rawQuery: q,
					reqHeader: header.Clone()}
				var vs []violation
				if f.status == 0 {
					x.reqBody = body
					vs = s.validateRequest(x)
				} else {
					ct := f.contentType
					if ct == "" {
						ct = "application/json"
					}
					x.status, x.respBody, x.respHeader = f.status, body, http.Header{"Content-Type": {ct}}
					vs = s.validateResponse(x)
				}
				id, _ := s.operation(x.request())
				checks++
				switch {
				case f.conforming:
					for _, v := range vs {
						t.Errorf("violation: %s", v)
					}
				case len(vs) == 0:
					t.Errorf("%s is deliberately not schema-valid, but the document accepts it as %s → %d", name, id, f.status)
				default:
					rejected++
					t.Logf("rejected as meant (%s → %s): %s", id, statusName(f.status), vs[0].message)
				}
			}
		})
	}
}

func mustRequest(method, path string) *http.Request {
	req, err := http.NewRequest(method, documentServer+path, nil)
	if err != nil {
		panic(err)
	}
	return req
}

func statusName(status int) string {
	if status == 0 {
		return "request"
	}
	return strconv.Itoa(status)
}
