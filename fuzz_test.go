package connect

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/internal/engine"
)

// addFixtures seeds a fuzzer with every file matching pattern in testdata.
func addFixtures(f *testing.F, patterns ...string) {
	f.Helper()
	for _, pattern := range patterns {
		files, err := filepath.Glob(filepath.Join("testdata", pattern))
		if err != nil || len(files) == 0 {
			f.Fatalf("no fixtures match %s", pattern)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzDecodeShareToken feeds any body to the share token decoder: it may
// refuse it, but never panic, and what it accepts converts cleanly.
func FuzzDecodeShareToken(f *testing.F) {
	addFixtures(f, "sharetokens/*.json")
	f.Add([]byte(`{"data":{"attributes":{"source-data":{"peekable-attributes":{"fields":7,"x":"y"}}}}}`))
	f.Add([]byte(`{"data":{"relationships":{"connection":{"data":null},"connect-connection":{"data":{}}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc document[shareTokenResource]
		if json.Unmarshal(body, &doc) != nil {
			return
		}
		doc.want = typeShareToken
		if doc.check() == "" && doc.Data.ID == "" {
			t.Fatalf("check accepted a token without an id")
		}
		tok := doc.Data.shareToken()
		if tok.ID != doc.Data.ID {
			t.Fatalf("id %q became %q", doc.Data.ID, tok.ID)
		}
		if tok.SourceData != nil {
			out, err := json.Marshal(tok.SourceData)
			if err != nil {
				t.Fatalf("decoded source data does not encode: %v", err)
			}
			// What it writes decodes to a snapshot that writes the same.
			var again SourceData
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("encoded source data does not decode: %v\n%s", err, out)
			}
			if out2, err := json.Marshal(&again); err != nil || string(out2) != string(out) {
				t.Fatalf("source data does not round-trip:\n%s\n%s (%v)", out, out2, err)
			}
		}
	})
}

// FuzzDecodeConnection does the same for connections.
func FuzzDecodeConnection(f *testing.F) {
	addFixtures(f, "connections/pending.json", "connections/active.json", "connections/inactive.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc document[connectionResource]
		if json.Unmarshal(body, &doc) != nil {
			return
		}
		if c := doc.Data.connection(); c.ID != doc.Data.ID {
			t.Fatalf("id %q became %q", doc.Data.ID, c.ID)
		}
	})
}

// FuzzDecodeListPage decodes list pages and takes their cursors apart.
func FuzzDecodeListPage(f *testing.F) {
	addFixtures(f, "sharetokens/list_*.json", "connections/list_*.json")
	f.Add([]byte(`{"data":[],"links":{"next":"%zz?page%5Bafter%5D=","prev":"::"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc listDocument[shareTokenResource]
		if json.Unmarshal(body, &doc) != nil {
			return
		}
		page := pageFrom(&doc, shareTokens(&doc))
		if len(page.Data) != len(doc.Data) {
			t.Fatalf("%d resources became %d", len(doc.Data), len(page.Data))
		}
		for _, tok := range page.Data {
			if tok == nil {
				t.Fatal("nil item in page")
			}
		}
	})
}

// FuzzDecodeErrorBody turns any error body into an *Error whose message can
// be built, whatever the body holds.
func FuzzDecodeErrorBody(f *testing.F) {
	addFixtures(f, "errors/*")
	f.Add([]byte(`{"errors":[{"status":{},"code":[1],"source":"x","meta":[]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e := newError("GET", "/connect/share-tokens/x", &engine.Result{StatusCode: 422, Body: body, Header: map[string][]string{"Retry-After": {string(body)}}})
		if e.Error() == "" {
			t.Fatal("empty error message")
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative retry-after %v", e.RetryAfter)
		}
	})
}

// FuzzCheckID holds the id rule: whatever it accepts is 1 to 128 bytes and
// travels in a URL path unescaped, so no id can reach another endpoint.
func FuzzCheckID(f *testing.F) {
	for _, seed := range []string{"cnst_ABC123", "", "../x", "a/b", "a%2Fb", "a?b", "ç", "a\x00b", string(make([]byte, 129))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if checkID("id", id) != nil {
			return
		}
		if len(id) == 0 || len(id) > maxIDLength {
			t.Fatalf("accepted length %d", len(id))
		}
		if url.PathEscape(id) != id || id == "." || id == ".." {
			t.Fatalf("accepted %q, which is not path-safe", id)
		}
	})
}

// FuzzServerWait parses any Retry-After or RateLimit-Reset without going
// negative.
func FuzzServerWait(f *testing.F) {
	f.Add("7", "3")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT", "")
	f.Add("99999999999999999999", "-1")
	f.Fuzz(func(t *testing.T, retryAfter, reset string) {
		h := map[string][]string{"Retry-After": {retryAfter}, "Ratelimit-Reset": {reset}, "Ratelimit-Remaining": {"0"}}
		if wait, ok := engine.ServerWait(h, 429, time.Unix(1_700_000_000, 0)); ok && wait < 0 {
			t.Fatalf("negative wait %v", wait)
		}
	})
}

// shareTokens converts the tokens of a page as its kind's list does.
func shareTokens(doc *listDocument[shareTokenResource]) []*ShareToken {
	items := make([]*ShareToken, len(doc.Data))
	for i := range doc.Data {
		items[i] = doc.Data[i].shareToken()
	}
	return items
}
