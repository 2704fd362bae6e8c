package connect_test

// The hostile-server property test: every operation of the SDK is called
// thousands of times against an in-memory server that answers with random
// statuses, random (valid and invalid) rate-limit and retry headers, and
// random bodies drawn from the fixtures, their mutations and junk. Each call
// is checked against the promises the SDK makes whatever the server does
// (see hsCall.violations). Everything runs inside a testing/synctest bubble, so
// deadlines, retry waits and pacing are measured exactly on the fake clock
// and cost no real time.
//
//	go test -run TestHostileServer -hostile.calls=200000 .
//	go test -run TestHostileServer -hostile.seed=S -hostile.session=N -v .
//
// reproduce a long run, and one session of a failed run (its seed and
// session are printed with every violation).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/internal/engine"
)

var (
	hsCallsFlag   = flag.Int("hostile.calls", 2000, "calls made by TestHostileServer")
	hsSeedFlag    = flag.Uint64("hostile.seed", 0, "seed of TestHostileServer (0: a random one, printed)")
	hsSessionFlag = flag.Int("hostile.session", -1, "run only this session of TestHostileServer (with -hostile.seed)")
	hsIgnoreFlag  = flag.String("hostile.ignore", "", "comma-separated invariant kinds not to report, to look past known failures")
)

// hsIgnored reports whether -hostile.ignore names kind.
func hsIgnored(kind string) bool {
	return slices.Contains(strings.Split(*hsIgnoreFlag, ","), kind)
}

const (
	hsTokenID      = "cnst_HOSTILE1"
	hsConnectionID = "cxn_HOSTILE1"
	// hsCallsPerSession calls share one client, so that the pacing state a
	// hostile response leaves behind meets the calls that follow it.
	hsCallsPerSession = 16
	// hsMaxNesting is the source-data nesting the SDK promises to refuse
	// beyond. Generated bodies nest either at most hsLegitNesting deep or at
	// least hsHostileNesting, so that whether the limit counts the outer
	// snapshot does not matter.
	hsMaxNesting     = 32
	hsLegitNesting   = 4
	hsHostileNesting = 40
	// hsHeapBound is how far the live heap (after a GC) may grow over the
	// run: nothing of a call may outlive it.
	hsHeapBound = 64 << 20
	// hsAllocFactor and hsAllocSlack bound what one call allocates by the
	// bytes it was served: decoding must be linear in the body.
	hsAllocFactor = 64
	hsAllocSlack  = 1 << 20
	// hsAllItems is where the test stops consuming an All iterator.
	hsAllItems = 1000
)

// errHSDrop is the transport failure the hostile server injects: the
// connection dropped before or while the response arrived.
var errHSDrop = errors.New("hostile: connection dropped")

// --- operations ----------------------------------------------------------------------

type hsKind int

const (
	hsSingle hsKind = iota
	hsList
	hsAll
	hsWait
)

// hsOp is one SDK operation, with the request it sends.
type hsOp struct {
	name         string
	method, path string
	kind         hsKind
	tokens       bool // share tokens, not connections
	call         func(ctx context.Context, c *connect.Client) hsResult
}

// hsResult is what a call returned: its error, and every resource it gave
// (a nil pointer included, which is a violation with a nil error).
type hsResult struct {
	err        error
	items      []any
	nilPage    bool   // List returned a nil page with a nil error
	resWithErr bool   // a resource (or page) came back with an error
	panicked   string // the panic value and stack, if the call panicked
}

func hsOne[T any](v *T, err error) hsResult {
	if err != nil {
		return hsResult{err: err, resWithErr: v != nil}
	}
	return hsResult{items: []any{v}}
}

func hsPage[T any](p *connect.Page[T], err error) hsResult {
	if err != nil {
		return hsResult{err: err, resWithErr: p != nil}
	}
	if p == nil {
		return hsResult{nilPage: true}
	}
	r := hsResult{}
	for _, v := range p.Data {
		r.items = append(r.items, v)
	}
	return r
}

func hsIterate[T any](seq func(func(*T, error) bool)) hsResult {
	r := hsResult{}
	for v, err := range seq {
		if err != nil {
			r.err, r.resWithErr = err, v != nil
			break
		}
		r.items = append(r.items, v)
		if len(r.items) >= hsAllItems {
			break
		}
	}
	return r
}

var hsOps = []hsOp{
	{"ShareTokens.Create", http.MethodPost, "/connect/share-tokens", hsSingle, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: hsConnectionID, SourceID: "inq_HOSTILE1"}))
	}},
	{"ShareTokens.Get", http.MethodGet, "/connect/share-tokens/" + hsTokenID, hsSingle, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Get(ctx, hsTokenID))
	}},
	{"ShareTokens.Peek", http.MethodGet, "/connect/share-tokens/" + hsTokenID, hsSingle, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Peek(ctx, hsTokenID))
	}},
	{"ShareTokens.Redeem", http.MethodPost, "/connect/share-tokens/" + hsTokenID + "/redeem", hsSingle, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Redeem(ctx, hsTokenID, &connect.ShareTokenRedeemParams{DestinationID: "inq_HOSTILE2"}))
	}},
	{"ShareTokens.Expire", http.MethodPost, "/connect/share-tokens/" + hsTokenID + "/expire", hsSingle, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Expire(ctx, hsTokenID))
	}},
	{"ShareTokens.List", http.MethodGet, "/connect/share-tokens", hsList, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsPage(c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 10}}))
	}},
	{"ShareTokens.All", http.MethodGet, "/connect/share-tokens", hsAll, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsIterate(c.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 10}}))
	}},
	{"ShareTokens.Wait", http.MethodGet, "/connect/share-tokens/" + hsTokenID, hsWait, true, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.ShareTokens.Wait(ctx, hsTokenID))
	}},
	{"Connections.Create", http.MethodPost, "/connect/connections", hsSingle, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: "org_HOSTILE2"}))
	}},
	{"Connections.Get", http.MethodGet, "/connect/connections/" + hsConnectionID, hsSingle, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.Connections.Get(ctx, hsConnectionID))
	}},
	{"Connections.List", http.MethodGet, "/connect/connections", hsList, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsPage(c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 10}}))
	}},
	{"Connections.All", http.MethodGet, "/connect/connections", hsAll, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsIterate(c.Connections.All(ctx, nil))
	}},
	{"Connections.Deactivate", http.MethodPost, "/connect/connections/" + hsConnectionID + "/deactivate", hsSingle, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.Connections.Deactivate(ctx, hsConnectionID))
	}},
	{"Connections.Reactivate", http.MethodPost, "/connect/connections/" + hsConnectionID + "/reactivate", hsSingle, false, func(ctx context.Context, c *connect.Client) hsResult {
		return hsOne(c.Connections.Reactivate(ctx, hsConnectionID))
	}},
}

// hsRun calls op, turning a panic into a result.
func hsRun(ctx context.Context, c *connect.Client, op hsOp) (r hsResult) {
	defer func() {
		if p := recover(); p != nil {
			r = hsResult{panicked: fmt.Sprintf("%v\n%s", p, debug.Stack())}
		}
	}()
	return op.call(ctx, c)
}

// --- fixtures and bodies -------------------------------------------------------------

// hsFixtures are the testdata bodies by what they hold.
type hsFixtures struct {
	tokens, tokenLists, conns, connLists, errs, other [][]byte
	overCap                                           []byte // a 2xx body one byte over the 16 MiB cap
}

var hsFixturesOnce = sync.OnceValue(func() *hsFixtures {
	f := &hsFixtures{overCap: bytes.Repeat([]byte(" "), 16<<20+1)}
	read := func(pattern string) [][]byte {
		files, _ := filepath.Glob(filepath.Join("testdata", pattern))
		var out [][]byte
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				panic(err)
			}
			out = append(out, b)
		}
		if len(out) == 0 {
			panic("no fixtures match " + pattern)
		}
		return out
	}
	for _, b := range read("sharetokens/*.json") {
		if bytes.Contains(b, []byte(`"links"`)) {
			f.tokenLists = append(f.tokenLists, b)
		} else {
			f.tokens = append(f.tokens, b)
		}
	}
	for _, b := range read("connections/*.json") {
		if bytes.Contains(b, []byte(`"links"`)) {
			f.connLists = append(f.connLists, b)
		} else {
			f.conns = append(f.conns, b)
		}
	}
	f.errs = read("errors/*.json")
	f.other = append(read("errors/*.html"), read("webhooks/*.json")...)
	return f
})

// hsNested is a source-data snapshot with depth levels of related-objects.
func hsNested(depth int) json.RawMessage {
	var b strings.Builder
	for i := range depth - 1 {
		fmt.Fprintf(&b, `{"type":"connect/source-data/inquiry","id":"inq_N%d","peekable-attributes":{},"related-objects":[`, i)
	}
	b.WriteString(`{"type":"connect/source-data/inquiry","id":"inq_LEAF","peekable-attributes":{}}`)
	b.WriteString(strings.Repeat("]}", depth-1))
	return json.RawMessage(b.String())
}

// hsNestedToken is a share token whose source data nests depth deep.
func hsNestedToken(depth int) []byte {
	return []byte(`{"data":{"type":"connect/share-token","id":"` + hsTokenID + `","attributes":{"status":"created","source-data":` +
		string(hsNested(depth)) + `}}}`)
}

// hsMutation rewrites a parsed document; it returns a label for the logs.
type hsMutation func(r *rand.Rand, doc map[string]any, cursor string) string

// hsData returns the resource a mutation works on: data itself, or an
// element of a data array; nil when there is none.
func hsData(r *rand.Rand, doc map[string]any) map[string]any {
	switch d := doc["data"].(type) {
	case map[string]any:
		return d
	case []any:
		if len(d) > 0 {
			m, _ := d[r.IntN(len(d))].(map[string]any)
			return m
		}
	}
	return nil
}

func hsAttributes(r *rand.Rand, doc map[string]any) map[string]any {
	d := hsData(r, doc)
	if d == nil {
		return nil
	}
	a, _ := d["attributes"].(map[string]any)
	if a == nil {
		a = map[string]any{}
		d["attributes"] = a
	}
	return a
}

func hsCursorLink(cursor string) string {
	return "/api/v1/connect/share-tokens?page%5Bafter%5D=" + url.QueryEscape(cursor)
}

var hsMutations = []hsMutation{
	func(r *rand.Rand, doc map[string]any, _ string) string { // type swap
		if d := hsData(r, doc); d != nil {
			d["type"] = []string{"connect/connection", "connect/share-token", "event", "inquiry", ""}[r.IntN(5)]
		}
		return "type-swap"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string {
		doc["data"] = nil
		return "null-data"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string {
		clear(doc)
		return "{}"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string {
		doc["data"] = map[string]any{}
		return "data-{}"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // wrong JSON type for a member
		if d := hsData(r, doc); d != nil {
			key := []string{"type", "id", "attributes", "relationships"}[r.IntN(4)]
			d[key] = []any{7, "x", true, []any{1}, map[string]any{"a": 1}}[r.IntN(5)]
		}
		return "wrong-member-type"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string {
		if d := hsData(r, doc); d != nil {
			d["id"] = ""
		}
		return "empty-id"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // single <-> list
		switch d := doc["data"].(type) {
		case []any:
			if len(d) > 0 {
				doc["data"] = d[0]
			} else {
				doc["data"] = map[string]any{}
			}
		default:
			doc["data"] = []any{d}
		}
		return "shape-swap"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // attribute of the wrong type
		if a := hsAttributes(r, doc); a != nil {
			key := []string{"status", "created-at", "expires-at", "failure-reason", "source-data", "redeem-mode"}[r.IntN(6)]
			a[key] = []any{5, "not a time", []any{}, map[string]any{}, "-0001-01-01T00:00:00Z", "9999-99-99"}[r.IntN(6)]
		}
		return "attribute-type"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // unknown status
		if a := hsAttributes(r, doc); a != nil {
			a["status"] = []string{"archived", "", "REDEEMED", "created ", "pending\u0000"}[r.IntN(5)]
		}
		return "odd-status"
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // deep nesting
		depth := 2 + r.IntN(hsLegitNesting-1)
		switch n := r.IntN(20); {
		case n == 0:
			depth = 500 + r.IntN(1500)
		case n < 14:
			depth = hsHostileNesting + r.IntN(40)
		}
		if a := hsAttributes(r, doc); a != nil {
			a["source-data"] = hsNested(depth)
		}
		return "nesting-" + strconv.Itoa(depth)
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // a huge string, under the cap
		n := 1 << (10 + r.IntN(8)) // 1 KiB to 128 KiB
		if r.IntN(50) == 0 {
			n = 1<<20 + r.IntN(3<<20) // up to 4 MiB, rarely
		}
		if a := hsAttributes(r, doc); a != nil {
			a[[]string{"status", "note", "direction"}[r.IntN(3)]] = strings.Repeat("x", n)
		}
		return "huge-string-" + strconv.Itoa(n)
	},
	func(r *rand.Rand, doc map[string]any, cursor string) string { // links that loop or mislead
		next := []any{
			hsCursorLink(cursor),                                   // the cursor just requested
			hsCursorLink("c" + strconv.Itoa(r.IntN(4))),            // one of a few: cycles
			hsCursorLink("c" + strconv.FormatUint(r.Uint64(), 36)), // fresh
			"%zz::", nil, 7, "",
		}[r.IntN(7)]
		doc["links"] = map[string]any{"next": next, "prev": hsCursorLink("p")}
		return fmt.Sprintf("links-next=%v", next)
	},
	func(r *rand.Rand, doc map[string]any, _ string) string { // an empty page that goes on
		doc["data"] = []any{}
		doc["links"] = map[string]any{"next": hsCursorLink("e" + strconv.FormatUint(r.Uint64(), 36))}
		return "empty-page"
	},
}

// --- the server --------------------------------------------------------------------

// hsServer is the hostile server: an http.RoundTripper that makes up every
// response from its random source. It records, per call, the requests it
// served so that a violation can name them.
type hsServer struct {
	r        *rand.Rand
	f        *hsFixtures
	op       *hsOp
	budget   int      // requests a call may send before the server refuses
	requests int      // requests of the current call
	served   uint64   // body bytes delivered in the current call
	cursors  []string // page[after] of each request of the current call
	log      []string // one line per response of the current call
	// selfAlloc is what making up the responses of the current call
	// allocated: not the SDK's doing.
	selfAlloc uint64
	// rateMax is the client's WithMaxRateLimitWait; window is what the
	// latest response that spoke of the rate limit said, and callStart
	// when the current call began: together they tell whether a request
	// arrived when the pacing promises say it may.
	rateMax   time.Duration
	window    hsWindow
	callStart time.Time
	paceViol  []hsViolation
	// fixed, when set, is served to every request instead (the fuzz target).
	fixed *hsResponse
}

// hsResponse is one answer of the server.
type hsResponse struct {
	action string // "" (respond), "hang", "drop", "slow"
	delay  time.Duration
	status int
	header http.Header
	body   []byte
	label  string
	// cut, when positive, ends the body after cut bytes with a dropped
	// connection (stall false) or a stall until the attempt ends.
	cut   int
	stall bool
}

func (s *hsServer) startCall(op *hsOp, budget int) {
	s.op, s.budget, s.requests, s.served, s.selfAlloc = op, budget, 0, 0, 0
	s.cursors, s.log, s.paceViol = s.cursors[:0], s.log[:0], nil
	s.callStart = time.Now()
}

// hsWindow is the rate-limit window as the latest response that named it
// described it. Only a clean statement (RateLimit-Remaining and
// RateLimit-Reset in plain positive digits, Reset at most an hour, no Retry-After, not a 429 or
// 503, whose own wait rules apply) is held against the client.
type hsWindow struct {
	clean     bool
	at        time.Time // when the response arrived
	remaining int
	reset     time.Duration
	since     int // requests that arrived after it
}

func hsDigits(v string) (int, bool) {
	if v == "" || len(v) > 9 || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, _ := strconv.Atoi(v)
	return n, true
}

// observeWindow records what a response served at now says of the window.
func (s *hsServer) observeWindow(res *hsResponse, now time.Time) {
	h := res.header
	if h.Get("Ratelimit-Remaining") == "" && h.Get("Ratelimit-Reset") == "" && h.Get("Retry-After") == "" &&
		res.status != 429 && res.status != 503 {
		return // says nothing: the previous statement stands
	}
	rem, ok1 := hsDigits(h.Get("Ratelimit-Remaining"))
	reset, ok2 := hsDigits(h.Get("Ratelimit-Reset"))
	// A Reset over an hour is no window length: the pacer reads it as a Unix
	// timestamp or ignores it, so it is no clean statement either.
	clean := ok1 && ok2 && reset > 0 && reset <= 3600 && h.Get("Retry-After") == "" && res.status != 429 && res.status != 503
	s.window = hsWindow{clean: clean, at: now, remaining: rem, reset: time.Duration(reset) * time.Second}
}

// checkPacing holds a request arriving at now against the latest window:
// after "nothing left", the first request must wait for the reset (capped
// by WithMaxRateLimitWait); while requests are left, a call's first request
// must not be held at all.
func (s *hsServer) checkPacing(now time.Time) {
	w := &s.window
	defer func() { w.since++ }()
	if !w.clean || !now.Before(w.at.Add(w.reset)) {
		return
	}
	gap := now.Sub(w.at)
	switch {
	case w.remaining == 0 && w.since == 0:
		if want := min(w.reset, s.rateMax); gap < want {
			s.paceViol = append(s.paceViol, hsViolation{"pacing-ignored", fmt.Sprintf(
				"a request went %s after a response said RateLimit-Remaining: 0, RateLimit-Reset: %s (want at least %s)", gap, w.reset, want)})
		}
	case w.remaining-w.since > 0 && s.requests == 1:
		if held := now.Sub(s.callStart); held > 0 {
			s.paceViol = append(s.paceViol, hsViolation{"pacing-held", fmt.Sprintf(
				"the call was held %s although the latest response said RateLimit-Remaining: %d (%d requests since), RateLimit-Reset: %s",
				held, w.remaining, w.since, w.reset)})
		}
	}
}

func (s *hsServer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	s.requests++
	s.cursors = append(s.cursors, req.URL.Query().Get("page[after]"))
	s.checkPacing(time.Now())
	var res hsResponse
	switch {
	case s.requests > s.budget:
		// A runaway call: refuse so that it ends; the checker reports it.
		res = hsResponse{status: 400, body: []byte(`{"errors":[{"title":"runaway"}]}`), label: "budget exhausted"}
	case s.fixed != nil:
		res = *s.fixed
	default:
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res = s.invent(req)
		runtime.ReadMemStats(&after)
		s.selfAlloc += after.TotalAlloc - before.TotalAlloc
	}
	s.log = append(s.log, res.describe())
	ctx := req.Context()
	switch res.action {
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "drop":
		return nil, errHSDrop
	case "slow":
		t := time.NewTimer(res.delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	s.observeWindow(&res, time.Now())
	var body io.Reader = bytes.NewReader(res.body)
	length := int64(len(res.body))
	s.served += uint64(len(res.body))
	if res.cut > 0 && res.cut < len(res.body) {
		body = io.MultiReader(bytes.NewReader(res.body[:res.cut]), hsBrokenReader{ctx: ctx, stall: res.stall})
		s.served -= uint64(len(res.body) - res.cut)
		length = -1
	}
	h := res.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		Status:        strconv.Itoa(res.status) + " " + http.StatusText(res.status),
		StatusCode:    res.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(body),
		ContentLength: length,
		Request:       req,
	}, nil
}

// hsBrokenReader ends a body early: with a dropped connection, or by
// stalling until the attempt's context ends.
type hsBrokenReader struct {
	ctx   context.Context
	stall bool
}

func (b hsBrokenReader) Read([]byte) (int, error) {
	if b.stall {
		<-b.ctx.Done()
		return 0, b.ctx.Err()
	}
	return 0, errHSDrop
}

func (r hsResponse) describe() string {
	if r.action == "hang" || r.action == "drop" {
		return r.action
	}
	var hs []string
	for _, k := range []string{"Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"} {
		if v, ok := r.header[k]; ok {
			hs = append(hs, k+"="+strconv.Quote(strings.Join(v, ",")))
		}
	}
	s := fmt.Sprintf("%d [%s] %s (%d B)", r.status, strings.Join(hs, " "), r.label, len(r.body))
	if r.action == "slow" {
		s = "after " + r.delay.String() + ": " + s
	}
	if r.cut > 0 {
		s += fmt.Sprintf(" cut at %d stall=%v", r.cut, r.stall)
	}
	return s
}

func (s *hsServer) pick(list [][]byte) []byte { return list[s.r.IntN(len(list))] }

// invent makes up a response to req.
func (s *hsServer) invent(req *http.Request) hsResponse {
	r := s.r
	switch n := r.IntN(100); {
	case n < 2:
		return hsResponse{action: "hang"}
	case n < 5:
		return hsResponse{action: "drop"}
	}
	res := hsResponse{status: s.status(), header: s.headers()}
	if r.IntN(20) == 0 {
		res.action = "slow"
		res.delay = time.Duration(r.Int64N(int64(3 * time.Second)))
	}
	res.body, res.label = s.body(res.status, req.URL.Query().Get("page[after]"))
	if len(res.body) > 0 && r.IntN(25) == 0 {
		res.cut, res.stall = r.IntN(len(res.body)), r.IntN(2) == 0
	}
	return res
}

func (s *hsServer) status() int {
	r := s.r
	pick := func(c ...int) int { return c[r.IntN(len(c))] }
	switch n := r.IntN(100); {
	case n < 45:
		return pick(200, 200, 200, 201, 202, 204, 299)
	case n < 50:
		return pick(300, 301, 302, 304, 307, 308)
	case n < 75:
		return pick(400, 401, 403, 404, 405, 408, 409, 409, 410, 422, 429, 429, 451)
	case n < 97:
		return pick(500, 501, 502, 503, 503, 504, 520, 599)
	}
	return pick(600, 799, 999)
}

// headerValue is a random value for a numeric or date header: valid,
// negative, huge, a Unix timestamp, an HTTP date, or garbage.
func (s *hsServer) headerValue() string {
	r := s.r
	now := time.Now()
	switch r.IntN(12) {
	case 0:
		return "0"
	case 1, 2:
		return strconv.Itoa(r.IntN(6))
	case 3:
		return strconv.Itoa(r.IntN(120))
	case 4:
		return "-" + strconv.Itoa(1+r.IntN(100))
	case 5:
		return []string{"99999999999999999999", "9223372036854775807", "2147483648", "86400000"}[r.IntN(4)]
	case 6:
		return strconv.FormatInt(now.Unix()+r.Int64N(7200), 10)
	case 7:
		return now.Add(time.Duration(r.Int64N(int64(2*time.Hour))) - time.Minute).UTC().Format(http.TimeFormat)
	case 8:
		return now.Add(-time.Duration(r.Int64N(int64(time.Hour)))).UTC().Format(http.TimeFormat)
	}
	return []string{"", "abc", "1.5", " 7", "0x10", "1e3", "+5", "10, 20", "Wed, 99 Foo 2000 25:61:61 GMT", "\u221e"}[r.IntN(10)]
}

func (s *hsServer) headers() http.Header {
	r := s.r
	h := http.Header{}
	if r.IntN(4) != 0 {
		h.Set("Request-Id", "req_H"+strconv.Itoa(r.IntN(1000)))
	}
	if r.IntN(5) != 0 {
		h.Set("Content-Type", []string{"application/json", "application/json; charset=utf-8", "text/html", "application/xml"}[r.IntN(4)])
	}
	for _, k := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if r.IntN(2) == 0 {
			h.Set(k, s.headerValue())
		}
	}
	return h
}

// body picks a body for status: mostly what the operation expects on a
// 2xx and an error document otherwise, often mutated, sometimes junk.
func (s *hsServer) body(status int, cursor string) ([]byte, string) {
	r, f, op := s.r, s.f, s.op
	var base []byte
	var label string
	plausible := func() []byte {
		switch {
		case op.tokens && (op.kind == hsList || op.kind == hsAll):
			return s.pick(f.tokenLists)
		case op.tokens:
			return s.pick(f.tokens)
		case op.kind == hsList || op.kind == hsAll:
			return s.pick(f.connLists)
		}
		return s.pick(f.conns)
	}
	other := func() []byte {
		return s.pick([][][]byte{f.tokens, f.tokenLists, f.conns, f.connLists, f.errs, f.other}[r.IntN(6)])
	}
	switch n := r.IntN(100); {
	case n < 8:
		return s.junk()
	case status >= 200 && status < 300 && n < 70, status >= 400 && n < 20:
		base, label = plausible(), "plausible"
	case n < 80:
		base, label = s.pick(f.errs), "error-doc"
	default:
		base, label = other(), "other-fixture"
	}
	if r.IntN(2) == 0 {
		return base, label
	}
	if r.IntN(6) == 0 {
		cut := r.IntN(len(base))
		return base[:cut], label + "/truncated-" + strconv.Itoa(cut)
	}
	var doc map[string]any
	if json.Unmarshal(base, &doc) != nil {
		return base, label
	}
	for range 1 + r.IntN(2) {
		label += "/" + hsMutations[r.IntN(len(hsMutations))](r, doc, cursor)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b, label
}

func (s *hsServer) junk() ([]byte, string) {
	r := s.r
	switch r.IntN(6) {
	case 0:
		b := make([]byte, r.IntN(512))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b, "junk-bytes"
	case 1:
		if r.IntN(10) == 0 {
			return s.f.overCap, "over-cap"
		}
		return nil, "empty"
	case 2:
		return []byte(strings.Repeat("[", 1+r.IntN(20000))), "open-brackets"
	}
	return []byte([]string{"null", "[]", `"data"`, "0", "{", `{"data":[null]}`, `{"data":{"type":null,"id":null}}`}[r.IntN(7)]), "junk-json"
}

// --- the invariants ----------------------------------------------------------------

// hsCall is one call and everything observed about it.
type hsCall struct {
	op                 *hsOp
	res                hsResult
	ctxErr             error // the call's context's error when it returned
	deadline, elapsed  time.Duration
	requests, maxTries int
	allocated, served  uint64
	cursors            []string
	log                []string
	pacing             []hsViolation // pacing promises the server saw broken
}

// hsViolation is one broken promise: its kind (for grouping) and details.
type hsViolation struct{ kind, detail string }

// violations checks every promise the SDK makes whatever the server does.
func (c *hsCall) violations() []hsViolation {
	var v []hsViolation
	add := func(kind, format string, args ...any) {
		v = append(v, hsViolation{kind, fmt.Sprintf(format, args...)})
	}
	op := c.op
	if c.res.panicked != "" {
		add("panic", "%s", c.res.panicked)
		return v
	}
	if c.elapsed > c.deadline+time.Millisecond {
		add("deadline", "returned after %s, deadline %s", c.elapsed, c.deadline)
	}
	if c.res.nilPage {
		add("nil-resource", "List returned a nil page and a nil error")
	}
	if c.res.resWithErr {
		add("resource-with-error", "a resource came back with the error %v", c.res.err)
	}
	for i, item := range c.res.items {
		if id, ok := hsID(item); !ok || id == "" {
			add("nil-resource", "item %d (%T) is nil or has no id, with a nil error", i, item)
		}
		if tok, ok := item.(*connect.ShareToken); ok && tok != nil {
			if d := hsDepth(tok.SourceData); d > hsMaxNesting+1 {
				add("nesting-accepted", "accepted source data nested %d deep", d)
			}
			if op.kind == hsWait && (tok.Status == connect.ShareTokenStatusCreated || tok.Status == connect.ShareTokenStatusPending) {
				add("wait-nonfinal", "Wait returned status %q with a nil error", tok.Status)
			}
		}
	}
	if c.res.err != nil {
		v = append(v, c.errorViolations()...)
	}
	switch op.kind {
	case hsSingle, hsList:
		if c.requests > c.maxTries {
			add("too-many-attempts", "%d requests, at most %d attempts allowed", c.requests, c.maxTries)
		}
	case hsAll:
		if c.requests > hsAllBudget {
			add("runaway", "All sent over %d requests", hsAllBudget)
		}
		if dup, ok := hsRevisited(c.cursors); ok {
			add("cursor-revisited", "All requested cursor %q again: %q", dup, c.cursors)
		}
	}
	v = append(v, c.pacing...)
	if limit := hsAllocFactor*c.served + hsAllocSlack; c.allocated > limit {
		add("allocation", "allocated %d bytes for %d bytes served (limit %d)", c.allocated, c.served, limit)
	}
	return v
}

// errorViolations checks that an error is one of the documented kinds and
// names the call.
func (c *hsCall) errorViolations() []hsViolation {
	var v []hsViolation
	add := func(kind, format string, args ...any) {
		v = append(v, hsViolation{kind, fmt.Sprintf(format, args...)})
	}
	err, op := c.res.err, c.op
	msg := err.Error()
	if strings.Contains(msg, testAPIKey) || strings.Contains(fmt.Sprintf("%+v", err), testAPIKey) {
		add("api-key-leak", "%s", msg)
	}
	prefix := "connect: " + op.method + " " + op.path + ": "
	namesCall := func(kind string) {
		if !strings.HasPrefix(msg, prefix) {
			add(kind, "%T %q does not start with %q", err, msg, prefix)
		}
	}
	var (
		we *connect.WaitError
		ve *connect.ValidationError
		ae *connect.Error
		ue *connect.UnexpectedResponseError
		tl *engine.BodyTooLargeError
	)
	ctxEnded := c.ctxErr != nil && errors.Is(err, c.ctxErr)
	switch {
	case errors.As(err, &we):
		if op.kind != hsWait {
			add("undocumented-error", "%s returned a *WaitError: %v", op.name, err)
		}
		if we.LastStatus != "" && we.LastStatus != connect.ShareTokenStatusCreated && we.LastStatus != connect.ShareTokenStatusPending {
			add("wait-kept-polling", "Wait kept polling after status %q: %v", we.LastStatus, err)
		}
		return v
	case op.kind == hsWait && ctxEnded:
		add("wait-context-not-WaitError", "the context ended and Wait returned %T: %v", err, err)
	}
	switch {
	case errors.As(err, &ve):
		if c.requests > 0 {
			add("undocumented-error", "*ValidationError after %d requests: %v", c.requests, err)
		}
	case errors.As(err, &ae):
		if ae.StatusCode >= 200 && ae.StatusCode <= 299 {
			add("error-on-2xx", "*Error for status %d", ae.StatusCode)
		}
		if ae.Method != op.method || ae.Path != op.path {
			add("error-names-call", "*Error names %s %s", ae.Method, ae.Path)
		}
		namesCall("error-format")
	case errors.As(err, &ue):
		if !errors.Is(err, connect.ErrUnexpectedResponse) {
			add("undocumented-error", "*UnexpectedResponseError does not match ErrUnexpectedResponse")
		}
		if ue.StatusCode != 0 && (ue.StatusCode < 200 || ue.StatusCode > 299) {
			add("undocumented-error", "*UnexpectedResponseError for status %d", ue.StatusCode)
		}
		if ue.Method != op.method || ue.Path != op.path {
			add("error-names-call", "*UnexpectedResponseError names %s %s", ue.Method, ue.Path)
		}
		namesCall("error-names-call")
	default:
		namesCall("error-names-call")
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, connect.ErrRateLimited) && !errors.Is(err, errHSDrop) && !errors.As(err, &tl) {
			add("undocumented-error", "%T: %v", err, err)
		}
	}
	return v
}

func hsID(item any) (string, bool) {
	switch x := item.(type) {
	case *connect.ShareToken:
		if x != nil {
			return x.ID, true
		}
	case *connect.Connection:
		if x != nil {
			return x.ID, true
		}
	}
	return "", false
}

// hsDepth is how deep a snapshot's related objects nest (1 for none).
func hsDepth(s *connect.SourceData) int {
	if s == nil {
		return 0
	}
	d := 0
	for _, r := range s.Related {
		d = max(d, hsDepth(r))
	}
	return d + 1
}

// hsRevisited reports a cursor requested again after another was: retries
// of one page repeat its cursor back to back, a loop comes back to it.
func hsRevisited(cursors []string) (string, bool) {
	runs := slices.Compact(slices.Clone(cursors))
	seen := map[string]bool{}
	for _, c := range runs {
		if seen[c] {
			return c, true
		}
		seen[c] = true
	}
	return "", false
}

// hsAllBudget is the requests one All call may send before the server
// refuses it as a runaway: far above what a random server's pages allow.
const hsAllBudget = 400

// hsReport groups violations by kind, keeping the first of each.
type hsReport struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]string
	order  []string
}

func (r *hsReport) add(kind, detail string) {
	if hsIgnored(kind) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts, r.first = map[string]int{}, map[string]string{}
	}
	if r.counts[kind] == 0 {
		r.first[kind] = detail
		r.order = append(r.order, kind)
	}
	r.counts[kind]++
}

func (r *hsReport) fail(t *testing.T, seed uint64) {
	for _, kind := range r.order {
		t.Errorf("invariant %q broken by %d calls (seed %d); first:\n%s", kind, r.counts[kind], seed, r.first[kind])
	}
}

// --- the property test -------------------------------------------------------------

// hsClientConfig is a client configured for speed, drawn at random.
type hsClientConfig struct {
	retries                  int
	retryMax, rateMax, tmout time.Duration
}

func (c hsClientConfig) options() []connect.ClientOption {
	return []connect.ClientOption{
		connect.WithMaxRetries(c.retries),
		connect.WithRetryWait(time.Millisecond, c.retryMax),
		connect.WithMaxRateLimitWait(c.rateMax),
		connect.WithTimeout(c.tmout),
	}
}

func (c hsClientConfig) String() string {
	return fmt.Sprintf("retries=%d retryWait=1ms..%s maxRateLimitWait=%s timeout=%s", c.retries, c.retryMax, c.rateMax, c.tmout)
}

func hsNewClient(t testing.TB, rt http.RoundTripper, opts ...connect.ClientOption) *connect.Client {
	t.Helper()
	base := []connect.ClientOption{
		connect.WithBaseURL("https://persona.test/api/v1"),
		connect.WithHTTPClient(&http.Client{Transport: rt}),
	}
	c, err := connect.NewClient(testAPIKey, append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// hsMeasure runs op once against srv and returns what was observed. The
// context ends at deadline, or earlier if cancelAfter is positive.
func hsMeasure(t *testing.T, c *connect.Client, srv *hsServer, op *hsOp, deadline, cancelAfter time.Duration, maxTries int) *hsCall {
	budget := maxTries
	switch op.kind {
	case hsAll:
		budget = hsAllBudget
	case hsWait:
		budget = 1 << 30 // Wait sleeps between polls: its deadline bounds it
	}
	srv.startCall(op, budget)
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	if cancelAfter > 0 {
		stop := time.AfterFunc(cancelAfter, cancel)
		defer stop.Stop()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	res := hsRun(ctx, c, *op)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return &hsCall{
		op: op, res: res, ctxErr: ctx.Err(), deadline: deadline, elapsed: elapsed,
		requests: srv.requests, maxTries: maxTries,
		allocated: after.TotalAlloc - before.TotalAlloc - srv.selfAlloc, served: srv.served,
		cursors: slices.Clone(srv.cursors), log: slices.Clone(srv.log), pacing: slices.Clone(srv.paceViol),
	}
}

func (c *hsCall) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  %s, deadline %s, elapsed %s, %d requests, error: %v\n", c.op.name, c.deadline, c.elapsed, c.requests, c.res.err)
	for i, l := range c.log {
		if i == 6 {
			fmt.Fprintf(&b, "  ... %d more responses\n", len(c.log)-i)
			break
		}
		fmt.Fprintf(&b, "  response %d: %s\n", i+1, l)
	}
	return b.String()
}

// TestHostileServer is the property test: see the top of this file.
func TestHostileServer(t *testing.T) {
	seed := *hsSeedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -hostile.seed=%d)", seed, seed)
	f := hsFixturesOnce()
	calls := *hsCallsFlag
	sessions := (calls + hsCallsPerSession - 1) / hsCallsPerSession
	var report hsReport
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	made := 0
	for session := range sessions {
		if *hsSessionFlag >= 0 && session != *hsSessionFlag {
			continue
		}
		synctest.Test(t, func(t *testing.T) {
			made += hsSession(t, f, seed, session, &report)
		})
		if session%16 == 15 || session == sessions-1 {
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base.HeapInuse+hsHeapBound {
				report.add("heap", fmt.Sprintf("  HeapInuse %d MiB after session %d, %d MiB at the start (bound +%d MiB)",
					m.HeapInuse>>20, session, base.HeapInuse>>20, hsHeapBound>>20))
			}
		}
	}
	t.Logf("%d calls", made)
	report.fail(t, seed)
}

// hsSession makes hsCallsPerSession calls through one client, all of
// them drawn from the session's own random source.
func hsSession(t *testing.T, f *hsFixtures, seed uint64, session int, report *hsReport) int {
	r := rand.New(rand.NewPCG(seed, uint64(session)))
	durations := func(ds ...time.Duration) time.Duration { return ds[r.IntN(len(ds))] }
	cfg := hsClientConfig{
		retries:  r.IntN(4),
		retryMax: durations(time.Millisecond, 10*time.Millisecond, 50*time.Millisecond),
		rateMax:  durations(0, 10*time.Millisecond, 100*time.Millisecond, time.Second, 5*time.Second),
		tmout:    durations(10*time.Millisecond, 100*time.Millisecond, time.Second, 10*time.Second),
	}
	srv := &hsServer{r: r, f: f, rateMax: cfg.rateMax}
	c := hsNewClient(t, srv, cfg.options()...)
	for i := range hsCallsPerSession {
		op := &hsOps[r.IntN(len(hsOps))]
		deadline := durations(time.Millisecond, 50*time.Millisecond, 500*time.Millisecond, 2*time.Second, 10*time.Second)
		var cancelAfter time.Duration
		if r.IntN(5) == 0 {
			cancelAfter = time.Duration(r.Int64N(int64(deadline)))
		}
		call := hsMeasure(t, c, srv, op, deadline, cancelAfter, cfg.retries+1)
		for _, v := range call.violations() {
			report.add(v.kind, fmt.Sprintf("  %s\n  seed %d session %d call %d, client %s, cancel after %s\n%s",
				v.detail, seed, session, i, cfg, cancelAfter, call.describe()))
		}
	}
	return hsCallsPerSession
}

// --- regressions -------------------------------------------------------------------

// hsScript serves the n-th request with the n-th response and the last one
// after that; past limit requests it refuses with a 400, which ends any loop.
type hsScript struct {
	mu        sync.Mutex
	responses []func(req *http.Request) (*http.Response, error)
	limit     int
	requests  int
	cursors   []string
}

func (s *hsScript) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	n := s.requests
	s.requests++
	s.cursors = append(s.cursors, req.URL.Query().Get("page[after]"))
	s.mu.Unlock()
	if s.limit > 0 && n >= s.limit {
		return hsPlain(400, nil, `{"errors":[{"title":"runaway"}]}`)(req)
	}
	return s.responses[min(n, len(s.responses)-1)](req)
}

func (s *hsScript) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// hsPlain answers with status, the header pairs kv and body.
func hsPlain(status int, kv []string, body string) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := http.Header{"Request-Id": {"req_HOSTILE"}, "Content-Type": {"application/json"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
			Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
}

// hsHang answers nothing until the attempt ends.
func hsHang(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// hsPageOf is a share token page of ids whose next link carries next.
func hsPageOf(next string, ids ...string) string {
	var data []string
	for _, id := range ids {
		data = append(data, `{"type":"connect/share-token","id":"`+id+`","attributes":{"status":"created"}}`)
	}
	link := "null"
	if next != "" {
		link = strconv.Quote(hsCursorLink(next))
	}
	return `{"data":[` + strings.Join(data, ",") + `],"links":{"next":` + link + `}}`
}

// TestHostileRegressions holds the smallest inputs that broke a promise,
// one subtest each.
func TestHostileRegressions(t *testing.T) {
	fast := []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 10*time.Millisecond)}
	redeemed := string(fixture(t, "sharetokens/redeemed.json"))
	getToken := func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
		return c.ShareTokens.Get(ctx, hsTokenID)
	}
	tokenPath := "/connect/share-tokens/" + hsTokenID

	// giveUpAtOnce: a server-directed wait above WithMaxRateLimitWait ends
	// the call at once with the response's *Error.
	giveUpAtOnce := func(status int, kv ...string) func(t *testing.T) {
		return func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(status, kv, `{"errors":[{"title":"slow down"}]}`), hsPlain(200, nil, redeemed)}}
			c := hsNewClient(t, s, append(fast, connect.WithMaxRateLimitWait(time.Second))...)
			start := time.Now()
			tok, err := getToken(t.Context(), c)
			assert.Nil(t, tok)
			var ae *connect.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, status, ae.StatusCode)
			assert.Equal(t, 1, s.count(), "the call retried after a wait it was told is too long")
			assert.Zero(t, time.Since(start), "the call waited")
		}
	}

	for _, tc := range []struct {
		name string
		test func(t *testing.T)
	}{
		{"404 error names method and path", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(404, nil, string(fixture(t, "errors/404.json")))}}
			_, err := getToken(t.Context(), hsNewClient(t, s, fast...))
			require.Error(t, err)
			assert.Equal(t, "connect: GET "+tokenPath+": 404 Not Found: Record not found (request req_HOSTILE)", err.Error())
		}},
		{"3xx is an *Error naming the call", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(302, []string{"Location", "https://elsewhere.test/"}, "")}}
			_, err := getToken(t.Context(), hsNewClient(t, s, fast...))
			var ae *connect.Error
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 302, ae.StatusCode)
			assert.True(t, strings.HasPrefix(err.Error(), "connect: GET "+tokenPath+": 302 Found"), err.Error())
			assert.Equal(t, 1, s.count())
		}},
		{"409 on GET is retried", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(409, nil, string(fixture(t, "errors/409.json"))), hsPlain(200, nil, redeemed)}}
			tok, err := getToken(t.Context(), hsNewClient(t, s, fast...))
			require.NoError(t, err)
			assert.Equal(t, "cnst_ABC123", tok.ID)
			assert.Equal(t, 2, s.count())
		}},
		{"409 on POST is not retried", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(409, nil, string(fixture(t, "errors/409.json"))), hsPlain(200, nil, redeemed)}}
			_, err := hsNewClient(t, s, fast...).ShareTokens.Expire(t.Context(), hsTokenID)
			assert.ErrorIs(t, err, connect.ErrConflict)
			assert.Equal(t, 1, s.count())
		}},
		{"Retry-After seconds above the max gives up at once", giveUpAtOnce(429, "Retry-After", "3600")},
		{"Retry-After date above the max gives up at once", giveUpAtOnce(503, "Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))},
		{"RateLimit-Reset on 429 above the max gives up at once", giveUpAtOnce(429, "RateLimit-Remaining", "0", "RateLimit-Reset", "120")},
		{"pacing past the deadline fails before sending", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "10"}, redeemed), hsPlain(200, nil, redeemed)}}
			c := hsNewClient(t, s, fast...)
			_, err := getToken(t.Context(), c)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err = getToken(ctx, c)
			assert.ErrorIs(t, err, connect.ErrRateLimited)
			assert.Zero(t, time.Since(start), "the call held although the window outlasts its deadline")
			assert.Equal(t, 1, s.count(), "the held call was sent")
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "connect: GET "+tokenPath+": "), err.Error())
			}
		}},
		{"pacing follows the latest window", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "10"}, redeemed),
				hsPlain(200, []string{"RateLimit-Remaining", "5", "RateLimit-Reset", "9"}, redeemed),
				hsPlain(200, nil, redeemed)}}
			c := hsNewClient(t, s, append(fast, connect.WithMaxRateLimitWait(15*time.Second))...)
			_, err := getToken(t.Context(), c)
			require.NoError(t, err)
			start := time.Now()
			_, err = getToken(t.Context(), c) // holds until the reset, and learns that 5 are left
			require.NoError(t, err)
			assert.Equal(t, 10*time.Second, time.Since(start).Truncate(time.Second), "held until the window's reset")
			start = time.Now()
			_, err = getToken(t.Context(), c)
			require.NoError(t, err)
			assert.Zero(t, time.Since(start), "held although the latest response said 5 requests are left")
		}},
		{"negative RateLimit-Reset does not hold", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, []string{"RateLimit-Remaining", "0", "RateLimit-Reset", "-5"}, redeemed)}}
			c := hsNewClient(t, s, fast...)
			for range 2 {
				start := time.Now()
				_, err := getToken(t.Context(), c)
				require.NoError(t, err)
				assert.Zero(t, time.Since(start))
			}
		}},
		{"Wait returns on a status it does not know", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, nil, string(fixture(t, "sharetokens/forward_compatible.json")))}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			tok, err := hsNewClient(t, s, fast...).ShareTokens.Wait(ctx, hsTokenID)
			require.NoError(t, err)
			assert.Equal(t, connect.ShareTokenStatus("archived"), tok.Status)
			assert.Equal(t, 1, s.count())
		}},
		{"Wait gives a *WaitError when the context ends before any status", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){hsHang}}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := hsNewClient(t, s, fast...).ShareTokens.Wait(ctx, hsTokenID)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Empty(t, we.LastStatus)
		}},
		{"Wait gives a *WaitError when the attempt timeout and the deadline fall together", func(t *testing.T) {
			// Seed 14807372588968055116, session 1412: the per-attempt
			// timeout fired at the deadline's instant, before the context's
			// own timer, and Wait returned the attempt's error.
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){hsHang}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c := hsNewClient(t, s, append(fast, connect.WithTimeout(10*time.Second), connect.WithMaxRetries(1))...)
			_, err := c.ShareTokens.Wait(ctx, hsTokenID)
			var we *connect.WaitError
			require.ErrorAs(t, err, &we)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		}},
		{"All stops when cursors loop", func(t *testing.T) {
			s := &hsScript{limit: 50, responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, nil, hsPageOf("A", "cnst_1")),
				hsPlain(200, nil, hsPageOf("B", "cnst_2")),
				hsPlain(200, nil, hsPageOf("A", "cnst_3")),
				hsPlain(200, nil, hsPageOf("B", "cnst_4")),
			}}
			var ids []string
			var last error
			for tok, err := range hsNewClient(t, s, fast...).ShareTokens.All(t.Context(), nil) {
				if err != nil {
					last = err
					break
				}
				ids = append(ids, tok.ID)
			}
			assert.ErrorIs(t, last, connect.ErrUnexpectedResponse)
			assert.Equal(t, 3, s.count(), "pages requested: %q", s.cursors)
			assert.Equal(t, []string{"cnst_1", "cnst_2", "cnst_3"}, ids)
		}},
		{"All stops on a run of empty pages", func(t *testing.T) {
			var n int
			s := &hsScript{limit: 1000, responses: []func(*http.Request) (*http.Response, error){
				func(req *http.Request) (*http.Response, error) {
					n++
					return hsPlain(200, nil, hsPageOf("e"+strconv.Itoa(n)))(req)
				}}}
			var last error
			for _, err := range hsNewClient(t, s, fast...).ShareTokens.All(t.Context(), nil) {
				if err != nil {
					last = err
					break
				}
			}
			assert.Less(t, s.count(), 100, "All kept paging through empty pages")
			if last != nil {
				assert.ErrorIs(t, last, connect.ErrUnexpectedResponse)
			}
		}},
		{"source data nested past the limit is refused", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, nil, string(hsNestedToken(hsHostileNesting)))}}
			tok, err := hsNewClient(t, s, fast...).ShareTokens.Peek(t.Context(), hsTokenID)
			assert.Nil(t, tok)
			assert.ErrorIs(t, err, connect.ErrUnexpectedResponse)
		}},
		{"shallow source data is accepted", func(t *testing.T) {
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){
				hsPlain(200, nil, string(hsNestedToken(hsLegitNesting)))}}
			tok, err := hsNewClient(t, s, fast...).ShareTokens.Peek(t.Context(), hsTokenID)
			require.NoError(t, err)
			assert.Equal(t, hsLegitNesting, hsDepth(tok.SourceData))
		}},
		{"decoding deep nesting is linear", func(t *testing.T) {
			body := string(hsNestedToken(600))
			s := &hsScript{responses: []func(*http.Request) (*http.Response, error){hsPlain(200, nil, body)}}
			c := hsNewClient(t, s, fast...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _ = c.ShareTokens.Peek(t.Context(), hsTokenID)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			assert.LessOrEqual(t, allocated, uint64(hsAllocFactor*len(body)+hsAllocSlack),
				"a %d-byte body allocated %d bytes", len(body), allocated)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { synctest.Test(t, tc.test) })
	}
}
