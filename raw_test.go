package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// TestDoUnwrappedEndpoint reaches an endpoint the SDK has no method for,
// with the SDK's headers, and decodes the answer into the caller's type.
func TestDoUnwrappedEndpoint(t *testing.T) {
	c, rec := newTestClient(t, respond(200, []byte(`{"data":{"type":"report/watchlist","id":"rep_1","attributes":{"status":"ready","new-attribute":7}}}`)))
	var out struct {
		Data struct {
			ID         string `json:"id"`
			Attributes struct {
				Status       string `json:"status"`
				NewAttribute int    `json:"new-attribute"`
			} `json:"attributes"`
		} `json:"data"`
	}
	var resp connect.Response
	err := c.Do(t.Context(), http.MethodGet, "/reports/rep_1?include=account&fields[report/watchlist]=status", nil, &out, connect.WithResponseInto(&resp))
	require.NoError(t, err)
	assert.Equal(t, "rep_1", out.Data.ID)
	assert.Equal(t, 7, out.Data.Attributes.NewAttribute)
	assert.Equal(t, "req_TEST123", resp.RequestID)

	r := rec.last(t)
	assert.Equal(t, "/api/v1/reports/rep_1", r.Path)
	assert.Equal(t, "fields%5Breport%2Fwatchlist%5D=status&include=account", r.RawQuery)
	assertStandardHeaders(t, r, "")
}

// TestDoPostBody: a struct is marshalled, a json.RawMessage sent as it is,
// and a *json.RawMessage receives the body as it came.
func TestDoPostBody(t *testing.T) {
	answer := `{"data": {"type":"inquiry", "id":"inq_1"}}`
	c, rec := newTestClient(t, respond(201, []byte(answer)))

	var raw json.RawMessage
	body := json.RawMessage(`{"data": {"attributes": {"inquiry-template-id": "itmpl_1"}}}`)
	require.NoError(t, c.Do(t.Context(), http.MethodPost, "/inquiries", body, &raw))
	assert.Equal(t, answer, string(raw))
	r := rec.last(t)
	assert.Equal(t, string(body), string(r.Body), "a json.RawMessage goes out byte for byte")
	assertStandardHeaders(t, r, "")

	type attrs struct {
		Note string `json:"note"`
	}
	require.NoError(t, c.Do(t.Context(), http.MethodPatch, "/inquiries/inq_1", map[string]any{"data": map[string]any{"attributes": attrs{"hi"}}}, nil))
	r = rec.last(t)
	assert.Equal(t, http.MethodPatch, r.Method)
	assert.JSONEq(t, `{"data":{"attributes":{"note":"hi"}}}`, string(r.Body))
	assert.Empty(t, r.Header.Values("Idempotency-Key"), "only a POST carries a key")
}

// TestDoErrorIsAPIError: a non-2xx is an *Error with the call's method and
// path, after the same retries as any call; a 2xx that does not decode into
// out is ErrUnexpectedResponse.
func TestDoErrorIsAPIError(t *testing.T) {
	c, rec := newTestClient(t, sequence(rtStatus(503),
		respond(404, []byte(`{"errors":[{"title":"Record not found"}]}`))))
	err := c.Do(t.Context(), http.MethodGet, "/reports/rep_404", nil, nil)
	apiErr := requireAPIError(t, err, 404)
	assert.ErrorIs(t, err, connect.ErrNotFound)
	assert.Equal(t, 2, rec.count(), "the 503 was retried")
	assert.Contains(t, apiErr.Error(), "GET /reports/rep_404")
	assert.NotContains(t, apiErr.Error(), testAPIKey)

	c, _ = newTestClient(t, respond(200, []byte(`{"data":[]}`)))
	var out struct {
		Data map[string]any `json:"data"`
	}
	err = c.Do(t.Context(), http.MethodGet, "/reports", nil, &out)
	var ue *connect.UnexpectedResponseError
	require.ErrorAs(t, err, &ue)
	assert.ErrorIs(t, err, connect.ErrUnexpectedResponse)
	assert.Equal(t, "req_TEST123", ue.RequestID)
}

// TestDoIdempotencyKeyAcrossRetries: a POST's key, random or the caller's,
// is the same on every attempt of the call.
func TestDoIdempotencyKeyAcrossRetries(t *testing.T) {
	for _, opts := range [][]connect.RequestOption{nil, {connect.WithIdempotencyKey("inquiry-42-1")}} {
		c, rec := newTestClient(t, sequence(rtStatus(502), rtStatus(429), respond(201, []byte(`{}`))))
		require.NoError(t, c.Do(t.Context(), http.MethodPost, "/inquiries/inq_1/resume", nil, nil, opts...))
		all := rec.all()
		require.Len(t, all, 3)
		key := all[0].Header.Get("Idempotency-Key")
		require.NotEmpty(t, key)
		if opts != nil {
			assert.Equal(t, "inquiry-42-1", key)
		}
		for i, r := range all {
			assert.Equal(t, []string{key}, r.Header.Values("Idempotency-Key"), "attempt %d", i+1)
			assert.Empty(t, r.Body)
		}
	}
}

// TestDoEmptyBody: a 2xx without a body leaves out as it was.
func TestDoEmptyBody(t *testing.T) {
	c, _ := newTestClient(t, respond(204, nil))
	out := map[string]any{"kept": true}
	require.NoError(t, c.Do(t.Context(), http.MethodDelete, "/reports/rep_1", nil, &out))
	assert.Equal(t, map[string]any{"kept": true}, out)
}

// TestDoValidation: arguments that could leave the API root, or that the
// call could not honour, fail before anything is sent.
func TestDoValidation(t *testing.T) {
	c, rec := newTestClient(t, respond(200, []byte(`{}`)))
	var out map[string]any
	for _, tc := range []struct {
		name, method, path string
		body, out          any
		field              string
	}{
		{"absolute URL", "GET", "https://evil.example/api/v1/x", nil, nil, "path"},
		{"scheme-relative", "GET", "//evil.example/x", nil, nil, "path"},
		{"relative", "GET", "inquiries/inq_1", nil, nil, "path"},
		{"empty", "GET", "", nil, nil, "path"},
		{"dot-dot", "GET", "/inquiries/../../admin", nil, nil, "path"},
		{"encoded dot-dot", "GET", "/inquiries/%2e%2E/admin", nil, nil, "path"},
		{"encoded slash", "GET", "/inquiries/a%2Fb", nil, nil, "path"},
		{"backslash", "GET", `/inquiries\admin`, nil, nil, "path"},
		{"empty segment", "GET", "/inquiries//x", nil, nil, "path"},
		{"trailing slash", "GET", "/inquiries/", nil, nil, "path"},
		{"fragment", "GET", "/inquiries#x", nil, nil, "path"},
		{"space", "GET", "/inquiries/a b", nil, nil, "path"},
		{"bad escape", "GET", "/inquiries/%zz", nil, nil, "path"},
		{"api root repeated", "GET", "/api/v1/inquiries", nil, nil, "path"},
		{"bad query", "GET", "/inquiries?a=%zz", nil, nil, "path"},
		{"control in query", "GET", "/inquiries?a=\x01", nil, nil, "path"},
		{"method", "HEAD", "/inquiries", nil, nil, "method"},
		{"lowercase method", "get", "/inquiries", nil, nil, "method"},
		{"GET with body", "GET", "/inquiries", map[string]any{}, nil, "body"},
		{"DELETE with body", "DELETE", "/inquiries/inq_1", map[string]any{}, nil, "body"},
		{"invalid raw body", "POST", "/inquiries", json.RawMessage(`{"data":`), nil, "body"},
		{"unencodable body", "POST", "/inquiries", map[string]any{"f": func() {}}, nil, "body"},
		{"out not a pointer", "GET", "/inquiries", nil, out, "out"},
		{"out nil pointer", "GET", "/inquiries", nil, (*map[string]any)(nil), "out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Do(t.Context(), tc.method, tc.path, tc.body, tc.out)
			requireValidationError(t, err, tc.field)
		})
	}
	requireValidationError(t, c.Do(t.Context(), "POST", "/inquiries", nil, nil, connect.WithIdempotencyKey("")), "WithIdempotencyKey")
	var nilCtx context.Context
	requireValidationError(t, c.Do(nilCtx, "GET", "/inquiries", nil, nil), "ctx")
	assert.Zero(t, rec.count(), "nothing is sent")
}

// TestDoTransportError: a call that got no response wraps the cause and
// names the call without its query.
func TestDoTransportError(t *testing.T) {
	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL("http://127.0.0.1:1/api/v1"), connect.WithMaxRetries(0))
	require.NoError(t, err)
	err = c.Do(t.Context(), http.MethodGet, "/reports/rep_1?include=account", nil, nil)
	require.Error(t, err)
	var apiErr *connect.Error
	assert.False(t, errors.As(err, &apiErr))
	assert.True(t, strings.HasPrefix(err.Error(), "connect: GET /reports/rep_1: "), err.Error())
}
