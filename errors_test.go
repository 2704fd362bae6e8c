package connect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		status     int
		sentinel   string
		title      string
		detail     string
		message    string
		retryAfter time.Duration
	}{
		{400, "ErrBadRequest", "Bad Request", "data.attributes.type must be a string",
			"connect: GET /connect/share-tokens/cnst_ABC123: 400 Bad Request: data.attributes.type must be a string (request req_TEST123)", 0},
		{401, "ErrUnauthorized", "Must be authenticated to access this endpoint", "",
			"connect: GET /connect/share-tokens/cnst_ABC123: 401 Unauthorized: Must be authenticated to access this endpoint (request req_TEST123)", 0},
		{403, "ErrForbidden", "Forbidden", "IP address is not permitted access to current environment",
			"connect: GET /connect/share-tokens/cnst_ABC123: 403 Forbidden: IP address is not permitted access to current environment (request req_TEST123)", 0},
		{404, "ErrNotFound", "Record not found", "",
			"connect: GET /connect/share-tokens/cnst_ABC123: 404 Not Found: Record not found (request req_TEST123)", 0},
		{409, "ErrConflict", "Conflict", "Resource already exists as an active resource",
			"connect: GET /connect/share-tokens/cnst_ABC123: 409 Conflict: Resource already exists as an active resource (request req_TEST123)", 0},
		{422, "ErrUnprocessable", "Unprocessable entity", "expires-in-seconds must be between 60 and 1814400",
			"connect: GET /connect/share-tokens/cnst_ABC123: 422 Unprocessable Entity: expires-in-seconds must be between 60 and 1814400 (request req_TEST123)", 0},
		// personaHeaders sends RateLimit-Reset: 42, the wait a 429 asks for.
		{429, "ErrRateLimited", "Rate limit exceeded", "You have hit your rate limit of 300 requests / min. Please reach out to support@withpersona.com if you need this changed.",
			"connect: GET /connect/share-tokens/cnst_ABC123: 429 Too Many Requests: Rate limit exceeded: You have hit your rate limit of 300 requests / min. Please reach out to support@withpersona.com if you need this changed. (request req_TEST123)", 42 * time.Second},
		{500, "ErrServer", "Internal server error", "",
			"connect: GET /connect/share-tokens/cnst_ABC123: 500 Internal Server Error: Internal server error (request req_TEST123)", 0},
		{503, "ErrServer", "Service unavailable", "Please retry shortly.",
			"connect: GET /connect/share-tokens/cnst_ABC123: 503 Service Unavailable: Please retry shortly. (request req_TEST123)", 0},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			body := fixture(t, "errors/"+strconv.Itoa(tt.status)+".json")
			c, rec := newTestClient(t, respond(tt.status, body), connect.WithMaxRetries(0))
			tok, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
			require.Error(t, err)
			assert.Nil(t, tok)
			assert.Equal(t, 1, rec.count())

			var apiErr *connect.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, "req_TEST123", apiErr.RequestID)
			assert.Equal(t, http.MethodGet, apiErr.Method)
			assert.Equal(t, "/connect/share-tokens/cnst_ABC123", apiErr.Path)
			assert.Equal(t, body, apiErr.Body)
			assert.Equal(t, "req_TEST123", apiErr.Header.Get("Request-Id"))
			require.Len(t, apiErr.Errors, 1)
			assert.Equal(t, tt.title, apiErr.Errors[0].Title)
			assert.Equal(t, tt.detail, apiErr.Errors[0].Detail)
			assert.Equal(t, tt.retryAfter, apiErr.RetryAfter)
			assert.Equal(t, tt.message, err.Error())
			assert.NotContains(t, err.Error(), testAPIKey)

			for name, sentinel := range errorSentinels {
				if name == tt.sentinel {
					assert.ErrorIs(t, err, sentinel, name)
				} else {
					assert.NotErrorIs(t, err, sentinel, name)
				}
			}
		})
	}
}

func TestError422SourcePointer(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusUnprocessableEntity, fixture(t, "errors/422.json")))
	_, err := c.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	require.Len(t, apiErr.Errors, 1)
	require.NotNil(t, apiErr.Errors[0].Source)
	assert.Equal(t, "/data/attributes/expires-in-seconds", apiErr.Errors[0].Source.Pointer)
	assert.Empty(t, apiErr.Errors[0].Source.Parameter)
	assert.Equal(t, http.MethodPost, apiErr.Method)
	assert.Equal(t, "/connect/share-tokens", apiErr.Path)
	assert.Nil(t, apiErr.Errors[0].Meta)
	assert.Empty(t, apiErr.Errors[0].Status)
}

func TestErrorJSONAPIStyle(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusUnprocessableEntity, fixture(t, "errors/jsonapi_style.json")))
	_, err := c.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, connect.ErrUnprocessable)
	require.Len(t, apiErr.Errors, 1)
	assert.Equal(t, connect.ErrorObject{
		Title:  "Invalid parameter",
		Detail: "source-id must start with inq_, act_, txn_ or ver_",
		Code:   "invalid_parameter",
		Status: "422",
		Source: &connect.ErrorSource{Pointer: "/data/attributes/source-id"},
		Meta:   map[string]any{"param": "source-id"},
	}, apiErr.Errors[0])
	assert.Equal(t, "connect: POST /connect/share-tokens: 422 Unprocessable Entity: Invalid parameter: source-id must start with inq_, act_, txn_ or ver_ (request req_TEST123)", err.Error())
}

func TestErrorNumericStatus(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusConflict, fixture(t, "errors/numeric_status.json")))
	_, err := c.ShareTokens.Redeem(context.Background(), "cnst_ABC123", nil)
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, connect.ErrConflict)
	require.Len(t, apiErr.Errors, 1)
	assert.Equal(t, "409", apiErr.Errors[0].Status)
	assert.Equal(t, "Conflict", apiErr.Errors[0].Title)
	assert.Equal(t, "Share token already redeemed", apiErr.Errors[0].Detail)
}

func TestErrorProxyHTML(t *testing.T) {
	page := fixture(t, "errors/proxy_502.html")
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write(page)
	}), connect.WithMaxRetries(0))
	_, err := c.Connections.Get(context.Background(), "cxn_ABC123")
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadGateway, apiErr.StatusCode)
	assert.Empty(t, apiErr.Errors)
	assert.Empty(t, apiErr.RequestID)
	assert.Equal(t, page, apiErr.Body)
	assert.ErrorIs(t, err, connect.ErrServer)
	assert.Equal(t, "connect: GET /connect/connections/cxn_ABC123: 502 Bad Gateway", err.Error())
	assert.Equal(t, 1, rec.count())
}

func TestErrorOddBodies(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		message string
		objects int
	}{
		{"two error objects", 400, `{"errors":[{"title":"Bad Request","details":"a is missing"},{"title":"Bad Request","details":"b is missing"}]}`,
			"connect: GET /connect/share-tokens/cnst_ABC123: 400 Bad Request: a is missing; b is missing (request req_TEST123)", 2},
		{"detail equal to title", 404, `{"errors":[{"title":"Not found","details":"Not found"}]}`,
			"connect: GET /connect/share-tokens/cnst_ABC123: 404 Not Found: Not found (request req_TEST123)", 1},
		{"detail without title", 409, `{"errors":[{"details":"Token already redeemed"}]}`,
			"connect: GET /connect/share-tokens/cnst_ABC123: 409 Conflict: Token already redeemed (request req_TEST123)", 1},
		{"empty errors array", 403, `{"errors":[]}`, "connect: GET /connect/share-tokens/cnst_ABC123: 403 Forbidden (request req_TEST123)", 0},
		{"empty body", 401, ``, "connect: GET /connect/share-tokens/cnst_ABC123: 401 Unauthorized (request req_TEST123)", 0},
		{"not an errors document", 400, `["nope"]`, "connect: GET /connect/share-tokens/cnst_ABC123: 400 Bad Request (request req_TEST123)", 0},
		{"unknown status", 418, `{"errors":[{"title":"Teapot"}]}`, "connect: GET /connect/share-tokens/cnst_ABC123: 418 I'm a teapot: Teapot (request req_TEST123)", 1},
		{"status without text", 499, `{}`, "connect: GET /connect/share-tokens/cnst_ABC123: 499 (request req_TEST123)", 0},
		{"status of another type", 400, `{"errors":[{"title":"X","status":{"a":1},"code":7}]}`, "connect: GET /connect/share-tokens/cnst_ABC123: 400 Bad Request: X (request req_TEST123)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(tt.status, []byte(tt.body)), connect.WithMaxRetries(0))
			_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
			var apiErr *connect.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Len(t, apiErr.Errors, tt.objects)
			assert.Equal(t, tt.message, err.Error())
		})
	}
}

func TestErrorUnknownStatusMatchesNoSentinel(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusTeapot, fixture(t, "errors/400.json")))
	_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
	require.Error(t, err)
	for name, sentinel := range errorSentinels {
		assert.NotErrorIs(t, err, sentinel, name)
	}
}

func TestErrorRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		min    time.Duration
		max    time.Duration
	}{
		{"429 Retry-After seconds", 429, map[string]string{"Retry-After": "7"}, 7 * time.Second, 7 * time.Second},
		{"429 Retry-After date", 429, map[string]string{"Retry-After": time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}, 28 * time.Second, 30 * time.Second},
		{"429 RateLimit-Reset only", 429, map[string]string{"RateLimit-Reset": "12", "RateLimit-Remaining": "0"}, 12 * time.Second, 12 * time.Second},
		{"429 Retry-After wins over RateLimit-Reset", 429, map[string]string{"Retry-After": "3", "RateLimit-Reset": "50"}, 3 * time.Second, 3 * time.Second},
		{"503 Retry-After", 503, map[string]string{"Retry-After": "5"}, 5 * time.Second, 5 * time.Second},
		{"503 without hint", 503, map[string]string{"RateLimit-Reset": "50", "RateLimit-Remaining": "10"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Request-Id", "req_TEST123")
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				w.Write(fixture(t, "errors/"+strconv.Itoa(tt.status)+".json"))
			}), connect.WithMaxRetries(0))
			_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
			var apiErr *connect.Error
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.GreaterOrEqual(t, apiErr.RetryAfter, tt.min)
			assert.LessOrEqual(t, apiErr.RetryAfter, tt.max)
			wait, ok := connect.RetryAfter(fmt.Errorf("job: %w", err))
			assert.Equal(t, tt.max > 0, ok)
			assert.Equal(t, apiErr.RetryAfter, wait, "connect.RetryAfter finds the wrapped error's wait")
		})
	}
	_, ok := connect.RetryAfter(errors.New("no wait here"))
	assert.False(t, ok)
	_, ok = connect.RetryAfter(nil)
	assert.False(t, ok)
}

func TestRedirectIsNotFollowed(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(strconv.Itoa(status)+" "+method, func(t *testing.T) {
				other := &recorder{}
				elsewhere := httptest.NewServer(other.wrap(respond(http.StatusOK, fixture(t, "sharetokens/created.json"))))
				t.Cleanup(elsewhere.Close)

				c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Request-Id", "req_REDIRECT")
					http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
				}))
				var err error
				if method == http.MethodGet {
					_, err = c.ShareTokens.Get(context.Background(), "cnst_ABC123")
				} else {
					_, err = c.ShareTokens.Expire(context.Background(), "cnst_ABC123")
				}
				var apiErr *connect.Error
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, status, apiErr.StatusCode)
				assert.Equal(t, "req_REDIRECT", apiErr.RequestID)
				for name, sentinel := range errorSentinels {
					assert.NotErrorIs(t, err, sentinel, name)
				}
				assert.Equal(t, 1, rec.count(), "a redirect was retried")
				assert.Equal(t, 0, other.count(), "the redirect was followed to another host")
			})
		}
	}
}

func TestTransportErrorNamesTheCall(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there any more

	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base+"/api/v1"), connect.WithMaxRetries(0))
	require.NoError(t, err)
	var resp connect.Response
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123", connect.WithResponseInto(&resp))
	require.Error(t, err)
	var apiErr *connect.Error
	assert.False(t, errors.As(err, &apiErr), "no response arrived, so no *Error")
	assert.True(t, strings.HasPrefix(err.Error(), "connect: GET /connect/connections/cxn_ABC123: "), err.Error())
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), `Get "`, "the method and URL are not repeated")
	var ue *url.Error
	assert.ErrorAs(t, err, &ue, "the transport's error stays in the chain")
	assert.NotContains(t, err.Error(), testAPIKey)
	assert.Equal(t, 0, resp.StatusCode)
	assert.Equal(t, 1, resp.Attempts)
	assert.Empty(t, resp.RequestID)
}

func TestWithResponseInto(t *testing.T) {
	assertMeta := func(t *testing.T, resp connect.Response, status, attempts int) {
		t.Helper()
		assert.Equal(t, status, resp.StatusCode)
		assert.Equal(t, "req_TEST123", resp.RequestID)
		assert.Equal(t, "env_TEST123", resp.EnvironmentID)
		assert.Equal(t, "org_ABC123", resp.OrganizationID)
		assert.Equal(t, connect.RateLimit{Limit: 300, Remaining: 299, Reset: 42 * time.Second}, resp.RateLimit)
		assert.Equal(t, attempts, resp.Attempts)
		require.NotNil(t, resp.Header)
		assert.Equal(t, "req_TEST123", resp.Header.Get("Request-Id"))
	}
	t.Run("success", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusCreated, fixture(t, "sharetokens/created.json")))
		var resp connect.Response
		_, err := c.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}, connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assertMeta(t, resp, http.StatusCreated, 1)
	})
	t.Run("error", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusNotFound, fixture(t, "errors/404.json")))
		var resp connect.Response
		_, err := c.Connections.Get(context.Background(), "cxn_ABC123", connect.WithResponseInto(&resp))
		require.ErrorIs(t, err, connect.ErrNotFound)
		assertMeta(t, resp, http.StatusNotFound, 1)
	})
	t.Run("after a retry", func(t *testing.T) {
		c, rec := newTestClient(t, sequence(
			respond(http.StatusServiceUnavailable, fixture(t, "errors/503.json")),
			respond(http.StatusOK, fixture(t, "connections/active.json")),
		))
		var resp connect.Response
		_, err := c.Connections.Get(context.Background(), "cxn_ABC123", connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assertMeta(t, resp, http.StatusOK, 2)
		assert.Equal(t, 2, rec.count())
	})
	t.Run("list", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page2.json")))
		var resp connect.Response
		_, err := c.ShareTokens.List(context.Background(), nil, connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assertMeta(t, resp, http.StatusOK, 1)
	})
	t.Run("missing or odd headers", func(t *testing.T) {
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("RateLimit-Limit", "lots")
			w.WriteHeader(http.StatusOK)
			w.Write(fixture(t, "connections/active.json"))
		}))
		var resp connect.Response
		_, err := c.Connections.Get(context.Background(), "cxn_ABC123", connect.WithResponseInto(&resp))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.RequestID)
		assert.Zero(t, resp.RateLimit)
		assert.Equal(t, 1, resp.Attempts)
	})
}

func TestValidationErrorString(t *testing.T) {
	err := &connect.ValidationError{Field: "ConnectionID", Reason: "is required"}
	assert.Equal(t, "connect: invalid ConnectionID: is required", err.Error())
	assert.ErrorIs(t, err, connect.ErrInvalidParams)
	assert.NotErrorIs(t, err, connect.ErrBadRequest)
}

// TestErrorTextEscapesControlCharacters: what the server wrote cannot forge
// lines or terminal escapes in a log: control and format characters come
// out escaped, and the rest of the text is kept.
func TestErrorTextEscapesControlCharacters(t *testing.T) {
	body := `{"errors":[{"title":"Bad\nRequest","details":"evil\u001b[31m red\r\nINFO forged\u202e\u0000 end"}]}`
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Request-Id", "req_\u0085X") // NEL, a C1 control
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(body))
	}), connect.WithMaxRetries(0))
	_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
	require.Error(t, err)
	assert.Equal(t, `connect: GET /connect/share-tokens/cnst_ABC123: 400 Bad Request: Bad\nRequest: evil\x1b[31m red\r\nINFO forged\u202e\x00 end (request req_\u0085X)`, err.Error())
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "evil\x1b[31m red\r\nINFO forged\u202e\x00 end", apiErr.Errors[0].Detail, "the field keeps the text as sent")
}

// TestErrorTextWithoutCallOrRequestID: an Error built by hand, without a
// call or a request id, leaves those parts out rather than printing them empty.
func TestErrorTextWithoutCallOrRequestID(t *testing.T) {
	assert.Equal(t, "connect: 404 Not Found", (&connect.Error{StatusCode: 404}).Error())
	assert.Equal(t, "connect: GET /x: 404 Not Found: gone",
		(&connect.Error{StatusCode: 404, Method: "GET", Path: "/x", Errors: []connect.ErrorObject{{Detail: "gone"}}}).Error())
}
