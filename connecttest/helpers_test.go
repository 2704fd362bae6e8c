package connecttest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/require"
)

// t0 is the start of every test's manual clock.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

type env struct {
	t      *testing.T
	srv    *connecttest.Server
	clock  *connecttest.Clock
	src    *connecttest.Organization // Acme, the source
	dst    *connecttest.Organization // Bank, the destination
	other  *connecttest.Organization // an unrelated organization
	inq    string                    // a completed inquiry of src
	client *http.Client
}

func newEnv(t *testing.T, opts ...connecttest.Option) *env {
	t.Helper()
	clock := connecttest.NewClock(t0)
	srv := connecttest.NewServer(append([]connecttest.Option{connecttest.WithClock(clock)}, opts...)...)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, clock: clock, client: srv.Client()}
	e.src = srv.NewOrganization("Acme KYC")
	e.dst = srv.NewOrganization("Bank")
	e.other = srv.NewOrganization("Other")
	e.inq = srv.NewInquiry(e.src, map[string]any{"name-first": "Ada", "name-last": "Lovelace", "birthdate": nil})
	return e
}

type result struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request as org (nil: no Authorization) to srv.URL+path. body
// is sent as is when it is a string, JSON-encoded otherwise (nil: none).
// hdr holds extra header pairs. Every response is checked against the
// OpenAPI document's shapes.
func (e *env) do(org *connecttest.Organization, method, path string, body any, hdr ...string) result {
	e.t.Helper()
	r := e.send(org, method, path, body, hdr...)
	checkResponse(e.t, r, org != nil)
	return r
}

func (e *env) send(org *connecttest.Organization, method, path string, body any, hdr ...string) result {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if org != nil {
		req.Header.Set("Authorization", "Bearer "+org.APIKey)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	res := result{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		require.NoError(e.t, json.Unmarshal(raw, &res.Body), "body %s", raw)
	}
	return res
}

func (r result) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

func (r result) list() []map[string]any {
	var out []map[string]any
	for _, x := range r.Body["data"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func (r result) id() string { return r.data()["id"].(string) }

func (r result) attr(name string) any { return r.data()["attributes"].(map[string]any)[name] }

func (r result) rel(name string) (map[string]any, bool) {
	rels, _ := r.data()["relationships"].(map[string]any)
	x, ok := rels[name].(map[string]any)
	if !ok {
		return nil, false
	}
	d, _ := x["data"].(map[string]any)
	return d, true
}

func (r result) relKeys() []string {
	rels, _ := r.data()["relationships"].(map[string]any)
	var ks []string
	for k := range rels {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (r result) errTitle() string { return r.errItem()["title"].(string) }

func (r result) errItem() map[string]any {
	return r.Body["errors"].([]any)[0].(map[string]any)
}

func (r result) pointer() string {
	src, _ := r.errItem()["source"].(map[string]any)
	p, _ := src["pointer"].(string)
	return p
}

func (r result) link(name string) any { return r.Body["links"].(map[string]any)[name] }

func tokenBody(cxn, source string, expires ...int) map[string]any {
	a := map[string]any{"connection-id": cxn, "source-id": source}
	if len(expires) > 0 {
		a["expires-in-seconds"] = expires[0]
	}
	return map[string]any{"data": map[string]any{"attributes": a}}
}

func connBody(dest string) map[string]any {
	return map[string]any{"data": map[string]any{"attributes": map[string]any{"destination-organization-id": dest}}}
}

func hydrateBody(dest string, mappings ...[2]string) map[string]any {
	b := map[string]any{"data": map[string]any{"attributes": map[string]any{"destination-id": dest}}}
	if len(mappings) > 0 {
		var ms []any
		for _, m := range mappings {
			ms = append(ms, map[string]any{"source-field-name": m[0], "destination-field-name": m[1]})
		}
		b["meta"] = map[string]any{"field-mappings": ms}
	}
	return b
}

// connect creates a connection src→dst through the API and accepts it.
func (e *env) connect() string {
	e.t.Helper()
	r := e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID))
	require.Equal(e.t, 201, r.Status, "%s", r.Raw)
	require.NoError(e.t, e.srv.AcceptConnection(r.id()))
	return r.id()
}

// token creates a share token for source over cxn through the API.
func (e *env) token(cxn, source string) string {
	e.t.Helper()
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, source))
	require.Equal(e.t, 201, r.Status, "%s", r.Raw)
	return r.id()
}

func (e *env) get(org *connecttest.Organization, id string) result {
	e.t.Helper()
	r := e.do(org, "GET", "/connect/share-tokens/"+id, nil)
	require.Equal(e.t, 200, r.Status, "%s", r.Raw)
	return r
}

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ---- conformance with Persona's OpenAPI document (shapes only) ----

var (
	reqIDRe = regexp.MustCompile(`^req_[A-Za-z0-9]+$`)
	tsRe    = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

// errorItemKeys are the members each error status's schema allows
// (additionalProperties: false).
var errorItemKeys = map[int][]string{
	400: {"title", "details", "meta"},
	401: {"title"},
	403: {"title", "details", "meta"},
	404: {"title", "details", "meta"},
	409: {"title", "details", "meta"},
	422: {"title", "details", "source"},
	429: {"title", "details"},
}

func checkResponse(t *testing.T, r result, authenticated bool) {
	t.Helper()
	require.Regexp(t, reqIDRe, r.Header.Get("Request-Id"))
	require.Equal(t, "application/json; charset=utf-8", r.Header.Get("Content-Type"))
	if r.Status != 401 {
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			_, err := strconv.Atoi(r.Header.Get(h))
			require.NoError(t, err, "%s: %q", h, r.Header.Get(h))
		}
		require.True(t, strings.HasPrefix(r.Header.Get("Persona-Organization-Id"), "org_"))
		require.True(t, strings.HasPrefix(r.Header.Get("Persona-Environment-Id"), "env_"))
	}
	if r.Status >= 400 {
		checkError(t, r)
		return
	}
	if arr, ok := r.Body["data"].([]any); ok {
		requireKeys(t, r.Body, []string{"data", "links"}, []string{"data", "links"})
		requireKeys(t, r.Body["links"].(map[string]any), []string{"prev", "next"}, []string{"prev", "next"})
		for _, x := range arr {
			checkResource(t, x.(map[string]any), true)
		}
		return
	}
	requireKeys(t, r.Body, []string{"data"}, []string{"data", "included"})
	checkResource(t, r.data(), false)
}

func checkError(t *testing.T, r result) {
	t.Helper()
	requireKeys(t, r.Body, []string{"errors"}, []string{"errors"})
	items := r.Body["errors"].([]any)
	require.NotEmpty(t, items)
	allowed, ok := errorItemKeys[r.Status]
	if !ok {
		allowed = []string{"title", "details", "meta"} // 5xx: not in the document
	}
	for _, it := range items {
		m := it.(map[string]any)
		requireKeys(t, m, []string{"title"}, allowed)
		require.IsType(t, "", m["title"])
		if src, ok := m["source"].(map[string]any); ok {
			requireKeys(t, src, nil, []string{"pointer"})
		}
	}
}

func checkResource(t *testing.T, res map[string]any, inList bool) {
	t.Helper()
	switch res["type"] {
	case "connect/connection":
		requireKeys(t, res, []string{"type", "id", "attributes"}, []string{"type", "id", "attributes", "relationships"})
		a := res["attributes"].(map[string]any)
		keys := []string{"status", "source-organization-id", "destination-organization-id", "created-at", "updated-at"}
		requireKeys(t, a, keys, keys)
		require.Regexp(t, tsRe, a["created-at"])
		require.Regexp(t, tsRe, a["updated-at"])
		if rels, ok := res["relationships"].(map[string]any); ok {
			requireKeys(t, rels, nil, []string{"creator"})
			if c, ok := rels["creator"].(map[string]any); ok {
				requireKeys(t, c, []string{"data"}, []string{"data"})
				requireKeys(t, c["data"].(map[string]any), []string{"id", "type"}, []string{"id", "type"})
			}
		}
	case "connect/share-token":
		requireKeys(t, res, []string{"type", "id", "attributes"}, []string{"type", "id", "attributes", "relationships"})
		a := res["attributes"].(map[string]any)
		req := []string{"status", "direction", "created-at", "updated-at", "pending-at", "redeemed-at",
			"expires-at", "failed-at", "failure-reason", "redeem-mode"}
		requireKeys(t, a, req, append(slices.Clone(req), "source-data"))
		for _, k := range []string{"created-at", "updated-at"} {
			require.Regexp(t, tsRe, a[k])
		}
		for _, k := range []string{"pending-at", "redeemed-at", "expires-at", "failed-at"} {
			if a[k] != nil {
				require.Regexp(t, tsRe, a[k])
			}
		}
		if sd, ok := a["source-data"]; ok {
			require.False(t, inList, "lists never carry source-data")
			checkSourceData(t, sd.(map[string]any))
		}
		rels := res["relationships"].(map[string]any)
		requireKeys(t, rels, []string{"connection"}, []string{"connection", "creator", "source", "destination"})
		for name, rel := range rels {
			m := rel.(map[string]any)
			requireKeys(t, m, []string{"data"}, []string{"data"})
			if m["data"] == nil {
				require.Equal(t, "destination", name, "only destination may be null")
				continue
			}
			requireKeys(t, m["data"].(map[string]any), []string{"type", "id"}, []string{"type", "id"})
		}
		require.Equal(t, "connect/connection", rels["connection"].(map[string]any)["data"].(map[string]any)["type"])
	default:
		t.Fatalf("unexpected resource type %v", res["type"])
	}
}

var sourceDataTypes = map[string]bool{
	"connect/source-data/inquiry": true, "connect/source-data/account": true, "connect/source-data/txn": true,
	"connect/source-data/verification/database": true, "connect/source-data/verification/phone-number": true,
	"connect/source-data/verification/email-address": true,
}

func checkSourceData(t *testing.T, sd map[string]any) {
	t.Helper()
	typ := sd["type"].(string)
	require.True(t, sourceDataTypes[typ], typ)
	allowed := []string{"type", "id", "peekable-attributes"}
	if typ == "connect/source-data/inquiry" {
		allowed = append(allowed, "related-objects")
	}
	requireKeys(t, sd, []string{"type", "id", "peekable-attributes"}, allowed)
	withFields := !strings.Contains(typ, "/verification/")
	for k, v := range sd["peekable-attributes"].(map[string]any) {
		if k == "fields" && withFields {
			for _, f := range v.(map[string]any) {
				checkPeekable(t, f.(map[string]any))
			}
			continue
		}
		checkPeekable(t, v.(map[string]any))
	}
}

func checkPeekable(t *testing.T, p map[string]any) {
	t.Helper()
	requireKeys(t, p, []string{"visibility", "value"}, []string{"visibility", "value"})
	switch p["visibility"] {
	case "full":
	case "presence":
		require.IsType(t, true, p["value"])
	default:
		t.Fatalf("visibility %v", p["visibility"])
	}
}

// requireKeys checks that m has every key of required and none outside
// allowed.
func requireKeys(t *testing.T, m map[string]any, required, allowed []string) {
	t.Helper()
	for _, k := range required {
		require.Contains(t, m, k)
	}
	for k := range m {
		require.Contains(t, allowed, k, "unexpected member %q in %v", k, m)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// inProcess makes e's requests run the fake's Handler in process instead of
// crossing loopback sockets: the same handler and state, concurrent callers
// included, without the network's cost, for tests that send thousands of
// requests.
func (e *env) inProcess() {
	e.client = &http.Client{Transport: handlerTransport{e.srv.Handler()}}
}

// handlerTransport serves each request with h, as a server would: on its
// own goroutine's stack, with a non-nil body.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil {
		r := req.Clone(req.Context())
		r.Body = http.NoBody
		req = r
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, req)
	req.Body.Close()
	resp := w.Result()
	resp.Request = req
	return resp, nil
}
