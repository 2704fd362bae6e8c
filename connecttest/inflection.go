package connecttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key inflections, as Persona names them in the Key-Inflection header and a
// webhook's api-key-inflection: the casing of the keys of a JSON body.
// Values are never inflected.
const (
	// InflectionKebab is Persona's default: "created-at".
	InflectionKebab = "kebab"
	// InflectionCamel gives "createdAt".
	InflectionCamel = "camel"
	// InflectionSnake gives "created_at".
	InflectionSnake = "snake"
)

// inflections are the values Persona's document allows, in its order.
var inflections = []string{InflectionCamel, InflectionKebab, InflectionSnake}

// parseInflection reads a Key-Inflection value: one of the three, in any
// letter case; empty means kebab.
func parseInflection(v string) (string, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return InflectionKebab, true
	}
	return v, slices.Contains(inflections, v)
}

// requestInflection is the inflection a request asks its response in, or a
// 400 for a Key-Inflection value the fake does not know.
func requestInflection(r *http.Request) (string, *response) {
	raw := r.Header.Get("Key-Inflection")
	infl, ok := parseInflection(raw)
	if !ok {
		resp := badRequest(fmt.Sprintf("Key-Inflection must be camel, kebab or snake, not %q", raw))
		return "", &resp
	}
	return infl, nil
}

// inflected is resp with the keys of its JSON body in the given
// inflection. The fake renders kebab; a body it did not render (a fault's
// Body) is left as it is.
func (resp response) inflected(to string) response {
	if to == InflectionKebab || resp.verbatim || len(resp.body) == 0 {
		return resp
	}
	if b, err := inflectJSON(resp.body, to); err == nil {
		resp.body = b
	}
	return resp
}

// inflectJSON rewrites every object key of a JSON document into the
// inflection to. Numbers are kept as written.
func inflectJSON(body []byte, to string) ([]byte, error) {
	v, err := decodeAny(body)
	if err != nil {
		return nil, err
	}
	v, err = rekey(v, "", func(k string) string { return inflectKey(k, to) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// kebabJSON rewrites the object keys of a request body written in any
// inflection (connectionId, connection_id) into kebab case (connection-id),
// as Persona accepts all three. Two keys of one object that become the same
// (connectionId beside connection-id) are an error. A body that is not
// JSON is returned as it is, for the decoder to describe.
func kebabJSON(body []byte) ([]byte, error) {
	v, err := decodeAny(body)
	if err != nil {
		return body, nil
	}
	v, err = rekey(v, "", kebabKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func decodeAny(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// rekey applies name to every object key of v, recursively. path names the
// object for errors.
func rekey(v any, path string, name func(string) string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		from := make(map[string]string, len(x))
		for _, k := range sortedKeys(x) {
			nk := name(k)
			if prev, dup := from[nk]; dup {
				where := path
				if where == "" {
					where = "request body"
				}
				return nil, fmt.Errorf("%s has both %s and %s, which name the same member %s", where, prev, k, nk)
			}
			from[nk] = k
			sub, err := rekeyMember(nk, x[k], join(path, nk), name)
			if err != nil {
				return nil, err
			}
			out[nk] = sub
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			sub, err := rekey(e, fmt.Sprintf("%s[%d]", path, i), name)
			if err != nil {
				return nil, err
			}
			out[i] = sub
		}
		return out, nil
	}
	return v, nil
}

// rekeyMember rekeys the value of member key. Persona leaves the keys of a
// fields object as the field names were written ("Keys in `fields` are not
// key inflected"), so only what lies below them is rekeyed.
func rekeyMember(key string, v any, path string, name func(string) string) (any, error) {
	fields, ok := v.(map[string]any)
	if key != "fields" || !ok {
		return rekey(v, path, name)
	}
	out := make(map[string]any, len(fields))
	for k, fv := range fields {
		sub, err := rekey(fv, join(path, k), name)
		if err != nil {
			return nil, err
		}
		out[k] = sub
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// words splits a key in any inflection into its lower-case words:
// "created-at", "createdAt" and "created_at" all give [created at].
func words(key string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range key {
		switch {
		case r == '-' || r == '_':
			flush()
		case unicode.IsUpper(r):
			flush()
			cur.WriteRune(unicode.ToLower(r))
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

// kebabKey is key in kebab case. A key with no separator and no capital
// is returned as it is.
func kebabKey(key string) string {
	if !strings.ContainsAny(key, "_") && strings.ToLower(key) == key {
		return key
	}
	return strings.Join(words(key), "-")
}

// inflectKey turns a kebab key (as the fake renders it; user field names
// may hold underscores) into the inflection to.
func inflectKey(key, to string) string {
	switch to {
	case InflectionSnake:
		return strings.ReplaceAll(key, "-", "_")
	case InflectionCamel:
		ws := words(key)
		if len(ws) == 0 {
			return key
		}
		var b strings.Builder
		b.WriteString(ws[0])
		for _, w := range ws[1:] {
			r, n := utf8.DecodeRuneInString(w)
			b.WriteRune(unicode.ToUpper(r))
			b.WriteString(w[n:])
		}
		return b.String()
	}
	return key
}
