package connect_test

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// hsFuzzConfig is the client every operation of FuzzHostileResponse uses.
var hsFuzzConfig = hsClientConfig{retries: 2, retryMax: 10 * time.Millisecond, rateMax: 500 * time.Millisecond, tmout: time.Second}

// hsFuzzDeadline bounds each call of FuzzHostileResponse.
const hsFuzzDeadline = 2 * time.Second

// FuzzHostileResponse serves one response (status, header lines "Key:
// value", body) to every attempt of every operation, each through a fresh
// client, and checks the invariants of TestHostileServer. With the same
// answer every time, the retry policy is predictable too: a retryable
// status is tried MaxRetries+1 times, any other status once, and a wait the
// server asks for above WithMaxRateLimitWait ends the call at once.
//
//	go test -run '^$' -fuzz FuzzHostileResponse -fuzztime 10m .
func FuzzHostileResponse(f *testing.F) {
	for _, s := range hsFuzzSeeds(f) {
		f.Add(s.status, []byte(s.header), s.body)
	}
	f.Fuzz(func(t *testing.T, status uint16, header, body []byte) {
		code := hsFuzzStatus(status)
		h := hsParseHeader(header)
		synctest.Test(t, func(t *testing.T) {
			for i := range hsOps {
				op := &hsOps[i]
				srv := &hsServer{rateMax: hsFuzzConfig.rateMax, fixed: &hsResponse{status: code, header: h, body: body, label: "fuzz"}}
				c := hsNewClient(t, srv, hsFuzzConfig.options()...)
				call := hsMeasure(t, c, srv, op, hsFuzzDeadline, 0, hsFuzzConfig.retries+1)
				for _, v := range append(call.violations(), call.policyViolations(code, h, len(body))...) {
					if hsIgnored(v.kind) {
						continue
					}
					t.Errorf("invariant %q: %s\n%s", v.kind, v.detail, call.describe())
				}
			}
		})
	})
}

// hsFuzzStatus maps any number to a status a transport can deliver.
func hsFuzzStatus(n uint16) int {
	code := int(n)
	if code < 200 || code > 999 {
		code = 200 + code%800
	}
	return code
}

// hsParseHeader reads "Key: value" lines, skipping what no HTTP/1.1 client
// would deliver (a malformed name, control characters in a value).
func hsParseHeader(b []byte) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || strings.IndexFunc(k, func(r rune) bool { return !hsTokenChar(r) }) >= 0 ||
			strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			continue
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(k), v)
	}
	return h
}

func hsTokenChar(r rune) bool {
	return r < 0x7f && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
}

// policyViolations checks the retry policy of a single-request operation
// answered with the same response every time.
func (c *hsCall) policyViolations(status int, h http.Header, bodyLen int) []hsViolation {
	if c.op.kind != hsSingle && c.op.kind != hsList || bodyLen > 1<<20 {
		return nil // paging and polling send several requests; an over-cap body is never retried
	}
	var v []hsViolation
	wait, directed := hsServerWait(h, status, time.Now())
	switch {
	case (status == 429 || status == 503) && directed && wait > hsFuzzConfig.rateMax:
		if c.requests != 1 || c.elapsed != 0 {
			v = append(v, hsViolation{"give-up-at-once", "the server asked for " + wait.String() + ", above WithMaxRateLimitWait " +
				hsFuzzConfig.rateMax.String() + ", and the call sent " + strconv.Itoa(c.requests) + " requests over " + c.elapsed.String()})
		}
	case h.Get("Retry-After") != "" || h.Get("RateLimit-Remaining") != "" || h.Get("RateLimit-Reset") != "":
		// Server-directed waits and pacing may legitimately cut retries short.
	case hsRetryable(c.op.method, status):
		if c.requests != c.maxTries {
			v = append(v, hsViolation{"retry-policy", c.op.method + " answered " + strconv.Itoa(status) + " was sent " +
				strconv.Itoa(c.requests) + " times, want " + strconv.Itoa(c.maxTries)})
		}
	default:
		if c.requests != 1 {
			v = append(v, hsViolation{"retry-policy", c.op.method + " answered " + strconv.Itoa(status) + " was sent " +
				strconv.Itoa(c.requests) + " times, want once"})
		}
	}
	return v
}

// hsRetryable is the documented retry policy: 408, 429, 502, 503, 504 for
// every method; 500 and 409 for GET only.
func hsRetryable(method string, status int) bool {
	switch status {
	case 408, 429, 502, 503, 504:
		return true
	case 500, 409:
		return method == http.MethodGet
	}
	return false
}

// hsServerWait is the wait a response unambiguously asks for: Retry-After
// in whole seconds or as an HTTP date, else, on a 429 or when no request is
// left, RateLimit-Reset in whole seconds.
func hsServerWait(h http.Header, status int, now time.Time) (time.Duration, bool) {
	secs := func(v string) (time.Duration, bool) {
		if v == "" || len(v) > 9 || strings.Trim(v, "0123456789") != "" {
			return 0, false
		}
		n, _ := strconv.Atoi(v)
		return time.Duration(n) * time.Second, true
	}
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := secs(v); ok {
			return d, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if status == 429 || h.Get("RateLimit-Remaining") == "0" {
		return secs(h.Get("RateLimit-Reset"))
	}
	return 0, false
}

type hsFuzzSeed struct {
	status uint16
	header string
	body   []byte
}

// hsFuzzSeeds are every fixture with its natural status, the statuses and
// headers the policies turn on, and the mutations of the property test.
func hsFuzzSeeds(f *testing.F) []hsFuzzSeed {
	var seeds []hsFuzzSeed
	read := func(pattern string) [][]byte {
		files, _ := filepath.Glob(filepath.Join("testdata", pattern))
		if len(files) == 0 {
			f.Fatalf("no fixtures match %s", pattern)
		}
		var out [][]byte
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	resources := append(read("sharetokens/*.json"), read("connections/*.json")...)
	for _, b := range resources {
		seeds = append(seeds, hsFuzzSeed{200, "Request-Id: req_SEED", b})
	}
	errFiles, _ := filepath.Glob(filepath.Join("testdata", "errors", "*"))
	for _, name := range errFiles {
		b, _ := os.ReadFile(name)
		status, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(name), ".json"))
		if err != nil {
			status = 502
		}
		seeds = append(seeds, hsFuzzSeed{uint16(status), "Request-Id: req_SEED", b})
	}
	tooMany := []byte(`{"errors":[{"title":"Rate limit exceeded"}]}`)
	seeds = append(seeds, []hsFuzzSeed{
		{429, "Retry-After: 3600", tooMany},
		{503, "Retry-After: Sat, 01 Jan 2000 01:00:00 GMT", tooMany},
		{429, "RateLimit-Remaining: 0\nRateLimit-Reset: 120", tooMany},
		{429, "Retry-After: abc\nRateLimit-Reset: -5", tooMany},
		{503, "RateLimit-Remaining: 0\nRateLimit-Reset: 99999999999999999999", tooMany},
		{429, "RateLimit-Remaining: 0\nRateLimit-Reset: 946688400", tooMany},
		{200, "RateLimit-Remaining: 0\nRateLimit-Reset: 10", resources[0]},
		{302, "Location: https://elsewhere.test/", nil},
		{409, "", tooMany},
		{500, "", nil},
		{204, "", nil},
		{999, "", []byte("<html>")},
	}...)
	r := rand.New(rand.NewPCG(1, 2))
	for i, m := range hsMutations {
		for _, base := range [][]byte{resources[0], read("connections/list_page1.json")[0]} {
			var doc map[string]any
			if err := json.Unmarshal(base, &doc); err != nil {
				f.Fatal(err)
			}
			m(r, doc, "c"+strconv.Itoa(i))
			b, err := json.Marshal(doc)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, hsFuzzSeed{200, "", b})
		}
	}
	seeds = append(seeds,
		hsFuzzSeed{200, "", hsNestedToken(hsHostileNesting)},
		hsFuzzSeed{200, "", hsNestedToken(hsLegitNesting)},
		hsFuzzSeed{200, "", resources[0][:len(resources[0])/2]},
	)
	return seeds
}
