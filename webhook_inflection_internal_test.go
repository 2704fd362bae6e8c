package connect

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKebabKeyNames(t *testing.T) {
	for in, want := range map[string]string{
		"created-at":                "created-at",
		"createdAt":                 "created-at",
		"created_at":                "created-at",
		"peekableAttributes":        "peekable-attributes",
		"peekable_attributes":       "peekable-attributes",
		"addressStreet1":            "address-street-1",
		"address_street_1":          "address-street-1",
		"address-street-1":          "address-street-1",
		"ageEstimated18Plus":        "age-estimated-18-plus",
		"age_estimated_18_plus":     "age-estimated-18-plus",
		"socialSecurityNumberLast4": "social-security-number-last-4",
		"status":                    "status",
		"id":                        "id",
		"":                          "",
		"CreatedAt":                 "created-at",
		"aBC":                       "a-b-c",
		"1st":                       "1st",
		"naïveKey":                  "naïve-key",
	} {
		got := in
		if needsKebab([]byte(in)) {
			got = string(appendKebab(nil, []byte(in)))
		}
		assert.Equal(t, want, got, in)
	}
}

func TestKebabKeysRewritesKeysOnly(t *testing.T) {
	for in, want := range map[string]string{
		`{"createdAt":"created_at","redeemMode":"redeemMode"}`: `{"created-at":"created_at","redeem-mode":"redeemMode"}`,
		`{"failureReason":"source_not_found"}`:                 `{"failure-reason":"source_not_found"}`,
		`["createdAt",{"a_b":["c_d",{"eF":1}]}]`:               `["createdAt",{"a-b":["c_d",{"e-f":1}]}]`,
		`{"k_1":"\"quoted\" {\"x_y\":1}","k_2":2}`:             `{"k-1":"\"quoted\" {\"x_y\":1}","k-2":2}`,
		`{"a\u005fb":1,"c_d":2}`:                               `{"a\u005fb":1,"c-d":2}`,
		// fields: the field names and everything below them stay.
		`{"fields":{"name_first":{"type":"hash","value":{"street_1":1}}},"nextStep":1}`:    `{"fields":{"name_first":{"type":"hash","value":{"street_1":1}}},"next-step":1}`,
		`{"fields":[{"a_b":1}],"c_d":{"e_f":2}}`:                                           `{"fields":[{"a_b":1}],"c-d":{"e-f":2}}`,
		`{"fields":"x_y","c_d":{"e_f":2}}`:                                                 `{"fields":"x_y","c-d":{"e-f":2}}`,
		`{"fields":null,"c_d":{"e_f":2}}`:                                                  `{"fields":null,"c-d":{"e-f":2}}`,
		`{"x":"fields","c_d":{"e_f":2}}`:                                                   `{"x":"fields","c-d":{"e-f":2}}`,
		`{"a":{"fields":{"k_1":{"fields":{"k_2":1}}}},"b_c":{"fields":{"k_3":1},"d_e":1}}`: `{"a":{"fields":{"k_1":{"fields":{"k_2":1}}}},"b-c":{"fields":{"k_3":1},"d-e":1}}`,
		" { \"aB\" : [ 1 , true , null ] , \"cD\" :\n{ } }":                                " { \"a-b\" : [ 1 , true , null ] , \"c-d\" :\n{ } }",
	} {
		require.True(t, json.Valid([]byte(in)), in)
		assert.Equal(t, want, string(kebabKeys([]byte(in))), in)
	}
}

func TestKebabKeysKeepsAKebabDocument(t *testing.T) {
	// A kebab body, Persona's default, is returned as is, without a copy.
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	require.NoError(t, err)
	n := 0
	for _, f := range files {
		if strings.Count(filepath.Base(f), ".") > 1 {
			continue // camel and snake
		}
		doc, err := os.ReadFile(f)
		require.NoError(t, err)
		out := kebabKeys(doc)
		assert.Same(t, &doc[0], &out[0], f)
		assert.Zero(t, testing.AllocsPerRun(10, func() { kebabKeys(doc) }), f)
		n++
	}
	assert.Equal(t, 5, n)
}

// referenceKebab restates the key rule on a decoded key: "_" becomes "-",
// an upper-case ASCII letter becomes "-" and its lower case (not at the
// start or after "-" or "_"), and a digit after an ASCII letter gets a "-".
func referenceKebab(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		prevLetter := i > 0 && strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", rune(k[i-1]))
		switch {
		case c == '_':
			b.WriteByte('-')
		case c >= 'A' && c <= 'Z':
			if i > 0 && k[i-1] != '-' && k[i-1] != '_' {
				b.WriteByte('-')
			}
			b.WriteByte(c + 32)
		case c >= '0' && c <= '9' && prevLetter:
			b.WriteByte('-')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// referenceTree applies referenceKebab to every key of a decoded document
// outside "fields"; ok is false when two keys of an object collide.
func referenceTree(v any, verbatim bool) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			nk := k
			if !verbatim {
				nk = referenceKebab(k)
			}
			if _, dup := out[nk]; dup {
				return nil, false
			}
			ne, ok := referenceTree(e, verbatim || k == "fields")
			if !ok {
				return nil, false
			}
			out[nk] = ne
		}
		return out, true
	case []any:
		out := make([]any, len(x))
		for i := range x {
			var ok bool
			if out[i], ok = referenceTree(x[i], verbatim); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return v, true
}

func decodeAny(t *testing.T, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v in %q", err, b)
	}
	return v
}

func FuzzKebabKeys(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{"aB":{"fields":{"c_D":1}},"e_1":[{"gH":"i_J"}]}`, `{"a\"_b":1}`, `"x_y"`, `[]`, `{"fields":{}}`, `{"a":{"b":{"c":{}}}}`, `{"":{"_":1}}`, `{"fields":[],"x_y":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if !json.Valid(doc) {
			return
		}
		out := kebabKeys(doc)
		if !json.Valid(out) {
			t.Fatalf("invalid output %q from %q", out, doc)
		}
		if again := kebabKeys(out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q then %q", out, again)
		}
		if bytes.IndexByte(doc, '\\') >= 0 {
			return // escaped keys are kept as they are; the reference cannot tell them apart
		}
		want, ok := referenceTree(decodeAny(t, doc), false)
		if !ok {
			return
		}
		if got := decodeAny(t, out); !reflect.DeepEqual(want, got) {
			t.Fatalf("kebabKeys(%q) = %q, want the document of %s", doc, out, strconv.Quote(mustMarshal(t, want)))
		}
	})
}

func mustMarshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// BenchmarkKebabKeys measures the rewrite per byte at two payload sizes;
// equal ns/byte shows it linear.
func BenchmarkKebabKeys(b *testing.B) {
	one, err := os.ReadFile(filepath.Join("testdata", "webhooks", "inquiry_completed.camel.json"))
	require.NoError(b, err)
	for _, n := range []int{1, 1000} {
		doc := []byte("[" + strings.Repeat(string(one)+",", n-1) + string(one) + "]")
		b.Run(strconv.Itoa(len(doc))+"B", func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				kebabKeys(doc)
			}
		})
	}
}
