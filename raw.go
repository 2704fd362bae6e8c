package connect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// Do sends one request to Persona's API through the same pipeline as the
// SDK's own calls, for an endpoint the SDK does not wrap or an attribute
// its types do not carry. The request gets the client's headers (the API
// key, Persona-Version, Key-Inflection: kebab, User-Agent), a POST gets an
// Idempotency-Key (WithIdempotencyKey's, or a random one) that every retry
// repeats, and the call is paced, retried and bounded like any other: see
// [WithMaxRetries], [WithRetryWait] and [WithMaxRateLimitWait]. The request
// options apply as to any call; [WithPollInterval] is ignored.
//
// method is GET, POST, PATCH, PUT or DELETE. Only a POST carries an
// Idempotency-Key, as Persona accepts one on POST only; a PATCH, PUT or
// DELETE is retried as a POST is (after a transport error, 408, 429, 502,
// 503 or 504), so send one only where repeating it does no harm.
//
// path is relative to the client's base URL, which ends in /api/v1:
// "/inquiries/inq_123" reaches https://api.withpersona.com/api/v1/inquiries/inq_123.
// It starts with "/" and may end with a query string, which is re-encoded
// ("/inquiries?page[size]=5" sends page%5Bsize%5D=5). A path that names a
// scheme or host, carries a fragment, or has an empty, "." or ".."
// segment (even percent-encoded), a percent-encoded '/' or '\', or a
// character a URL path does not allow, is refused, as is one that repeats
// the /api/v1 of the base URL.
//
// body, when not nil, is sent as JSON with Content-Type application/json:
// a json.RawMessage byte for byte (it must be valid JSON), anything else as
// json.Marshal encodes it (so a []byte becomes a base64 string, and a nil
// pointer the JSON null). A GET or DELETE carries no body.
//
// out, when not nil, must be a non-nil pointer; the body of a 2xx response
// is decoded into it with json.Unmarshal, so that a *json.RawMessage
// receives the body as it came. Do checks nothing of the body's shape
// beyond its being JSON: a body that does not decode into out is an
// [*UnexpectedResponseError] (matching [ErrUnexpectedResponse]), though
// the request has then already acted. An empty 2xx body (a 204, say)
// leaves out unchanged. With a nil out the body is read and dropped.
//
// Do returns nil for a 2xx. Invalid arguments are a [*ValidationError] and
// nothing is sent. A non-2xx response, after any retries, is an [*Error],
// as from any other call; a request that got no response (a transport
// error, or ctx ending) is an error that wraps the cause.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) error {
	rawPath, query, err := splitRawPath(path)
	if err != nil {
		return err
	}
	if err := checkRawMethod(method); err != nil {
		return err
	}
	payload, err := rawBody(method, body)
	if err != nil {
		return err
	}
	if out != nil {
		if v := reflect.ValueOf(out); v.Kind() != reflect.Pointer || v.IsNil() {
			return &ValidationError{Field: "out", Reason: "must be nil or a non-nil pointer, got " + v.Type().String()}
		}
	}
	var send any
	if payload != nil {
		send = payload
	}
	res, err := c.send(ctx, method, rawPath, query, send, opts)
	if err != nil {
		return err
	}
	if len(res.Body) == 0 {
		return nil
	}
	return decodeBody(method, rawPath, res, out)
}

func checkRawMethod(method string) error {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return nil
	}
	return &ValidationError{Field: "method", Reason: "must be GET, POST, PATCH, PUT or DELETE"}
}

// rawBody encodes Do's body, or returns nil for none.
func rawBody(method string, body any) (json.RawMessage, error) {
	if body == nil {
		return nil, nil
	}
	if method == http.MethodGet || method == http.MethodDelete {
		return nil, &ValidationError{Field: "body", Reason: "must be nil for a " + method}
	}
	if raw, ok := body.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, &ValidationError{Field: "body", Reason: "is a json.RawMessage that is not valid JSON"}
		}
		return raw, nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, &ValidationError{Field: "body", Reason: "cannot be encoded as JSON: " + err.Error()}
	}
	return raw, nil
}

// splitRawPath checks Do's path and splits off its query. The checks keep
// the request on the API root: no value can name another host, climb out
// of /api/v1 or smuggle a separator past a proxy that decodes it.
func splitRawPath(path string) (string, url.Values, error) {
	refuse := func(reason string) (string, url.Values, error) {
		return "", nil, &ValidationError{Field: "path", Reason: reason}
	}
	p, rawQuery, hasQuery := strings.Cut(path, "?")
	switch {
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return refuse("must start with a single '/', relative to the base URL, such as \"/inquiries/inq_123\"")
	case strings.Contains(path, "#"):
		return refuse("must not carry a fragment")
	case p == apiRootPath || strings.HasPrefix(p, apiRootPath+"/"):
		return refuse("is relative to the base URL, which ends in " + apiRootPath + " already: drop that prefix")
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if reason := badSegment(seg); reason != "" {
			return refuse(reason)
		}
	}
	if !hasQuery {
		return p, nil, nil
	}
	if !printableASCII(rawQuery) || strings.Contains(rawQuery, " ") {
		return refuse("has a query with spaces, control or non-ASCII characters")
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return refuse("has a malformed query: " + err.Error())
	}
	return p, query, nil
}

// badSegment says what is wrong with one segment of Do's path, or "".
func badSegment(seg string) string {
	if seg == "" {
		return "must not have an empty segment (\"//\" or a trailing '/')"
	}
	for i := 0; i < len(seg); i++ {
		if !pathByte(seg[i]) {
			return "must not contain " + quoteByte(seg[i]) + "; percent-encode it"
		}
	}
	decoded, err := url.PathUnescape(seg)
	switch {
	case err != nil:
		return "has a malformed percent-encoding"
	case decoded == "." || decoded == "..":
		return "must not have a \".\" or \"..\" segment"
	case strings.ContainsAny(decoded, "/\\"):
		return "must not percent-encode '/' or '\\'"
	}
	return ""
}

// pathByte reports whether b may appear as it is in a path segment
// (RFC 3986's pchar, with '%' for the escapes badSegment decodes).
func pathByte(b byte) bool {
	return idByte(b) || strings.IndexByte(".~!$&'()*+,;=:@%", b) >= 0
}

func quoteByte(b byte) string {
	if b >= ' ' && b < 0x7f {
		return "'" + string(rune(b)) + "'"
	}
	const hex = "0123456789ABCDEF"
	return "byte 0x" + string(hex[b>>4]) + string(hex[b&0xf])
}
