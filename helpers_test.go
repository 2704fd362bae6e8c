package connect_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

const testAPIKey = "persona_sandbox_0123456789abcdefSECRET"

// fixture returns testdata/<name>.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// recorded is one request as the test server saw it.
type recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// recorder keeps every request a test server received.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, req)
	})
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) last(t testing.TB) recorded {
	t.Helper()
	all := r.all()
	require.NotEmpty(t, all, "the server received no request")
	return all[len(all)-1]
}

// newTestClient starts an httptest server running h and returns a client
// pointed at it, with millisecond retry waits so that retries cost nothing.
func newTestClient(t testing.TB, h http.Handler, opts ...connect.ClientOption) (*connect.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(h))
	t.Cleanup(srv.Close)
	base := []connect.ClientOption{
		connect.WithBaseURL(srv.URL + "/api/v1"),
		connect.WithRetryWait(time.Millisecond, 2*time.Millisecond),
	}
	c, err := connect.NewClient(testAPIKey, append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c, rec
}

// respond answers every request with status and body, and Persona's headers.
func respond(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		personaHeaders(w.Header())
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		w.Write(body)
	}
}

func personaHeaders(h http.Header) {
	h.Set("Request-Id", "req_TEST123")
	h.Set("Persona-Environment-Id", "env_TEST123")
	h.Set("Persona-Organization-Id", "org_ABC123")
	h.Set("RateLimit-Limit", "300")
	h.Set("RateLimit-Remaining", "299")
	h.Set("RateLimit-Reset", "42")
}

// sequence answers the n-th request with the n-th handler, and the last
// handler for every request after that.
func sequence(handlers ...http.HandlerFunc) http.Handler {
	var mu sync.Mutex
	n := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handlers[min(n, len(handlers)-1)]
		n++
		mu.Unlock()
		h(w, r)
	})
}

// handlerTransport runs a handler in process instead of dialing: inside a
// testing/synctest bubble, where sockets would stall the fake clock, retry
// waits then take no real time.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	if req.Body == nil {
		// A server never sees a nil body; handlers may rely on that.
		r := *req
		r.Body = http.NoBody
		req = &r
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, req)
	if req.Body != nil {
		req.Body.Close()
	}
	resp := w.Result()
	resp.Request = req
	return resp, nil
}

// newBubbleClient returns a client whose requests h serves in process; use
// it inside synctest.Test.
func newBubbleClient(t testing.TB, h http.Handler, opts ...connect.ClientOption) (*connect.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	base := []connect.ClientOption{
		connect.WithBaseURL("https://persona.test/api/v1"),
		connect.WithHTTPClient(&http.Client{Transport: handlerTransport{rec.wrap(h)}}),
	}
	c, err := connect.NewClient(testAPIKey, append(base, opts...)...)
	require.NoError(t, err)
	return c, rec
}

// newPipeClient returns a client whose requests an http.Server running h
// answers over in-memory pipes: real HTTP on the wire (a response may stall
// after its headers, a connection may drop), with no socket to keep a
// synctest bubble's clock from advancing. Use it inside synctest.Test.
func newPipeClient(t testing.TB, h http.Handler, opts ...connect.ClientOption) (*connect.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	l := newPipeListener()
	srv := &http.Server{Handler: rec.wrap(h)}
	go srv.Serve(l)
	tr := &http.Transport{DialContext: l.dial}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
	})
	base := []connect.ClientOption{
		connect.WithBaseURL("http://127.0.0.1/api/v1"), // loopback: plain http is allowed
		connect.WithHTTPClient(&http.Client{Transport: tr}),
		connect.WithRetryWait(time.Millisecond, 2*time.Millisecond),
	}
	c, err := connect.NewClient(testAPIKey, append(base, opts...)...)
	require.NoError(t, err)
	return c, rec
}

// fixtureTime parses a fixture timestamp such as "2023-08-17T23:18:13.000Z".
func fixtureTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixtureTimePtr is fixtureTime for the nullable timestamps.
func fixtureTimePtr(s string) *time.Time {
	t := fixtureTime(s)
	return &t
}

// testUserAgent is the caller's product token the header tests send.
const testUserAgent = "acme-kyc/1.4"

// assertStandardHeaders checks the headers every request carries, with the
// body-dependent ones (Content-Type, Idempotency-Key) as the request calls for.
func assertStandardHeaders(t testing.TB, r recorded, callerUA string) {
	t.Helper()
	h := r.Header
	assert.Equal(t, "Bearer "+testAPIKey, h.Get("Authorization"))
	assert.Equal(t, "application/json", h.Get("Accept"))
	assert.Equal(t, connect.DefaultPersonaVersion, h.Get("Persona-Version"))
	assert.Equal(t, "2025-12-08", h.Get("Persona-Version"))
	assert.Equal(t, "kebab", h.Get("Key-Inflection"))
	ua := h.Get("User-Agent")
	assert.True(t, strings.HasPrefix(ua, "connect-go/"+connect.Version+" go/"), "User-Agent %q", ua)
	if callerUA != "" {
		assert.True(t, strings.HasSuffix(ua, " "+callerUA), "User-Agent %q lacks the caller's token", ua)
	} else {
		assert.Len(t, strings.Fields(ua), 2, "User-Agent %q", ua)
	}
	if len(r.Body) > 0 {
		assert.Equal(t, "application/json", h.Get("Content-Type"))
	} else {
		assert.Empty(t, h.Values("Content-Type"), "Content-Type on a request without a body")
	}
	if r.Method == http.MethodPost {
		assert.NotEmpty(t, h.Get("Idempotency-Key"), "POST without Idempotency-Key")
	} else {
		assert.Empty(t, h.Values("Idempotency-Key"), "Idempotency-Key on %s", r.Method)
	}
}

// requireValidationError asserts that err is a *connect.ValidationError
// naming field and matching ErrInvalidParams, and returns it.
func requireValidationError(t testing.TB, err error, field string) *connect.ValidationError {
	t.Helper()
	require.Error(t, err)
	var ve *connect.ValidationError
	require.ErrorAs(t, err, &ve, "got %T: %v", err, err)
	assert.Equal(t, field, ve.Field, "error: %v", err)
	assert.ErrorIs(t, err, connect.ErrInvalidParams)
	assert.NotEmpty(t, ve.Reason)
	assert.Contains(t, err.Error(), field)
	assert.NotContains(t, err.Error(), testAPIKey)
	return ve
}

// errorSentinels are every sentinel error of the package, by name.
var errorSentinels = map[string]error{
	"ErrBadRequest":    connect.ErrBadRequest,
	"ErrUnauthorized":  connect.ErrUnauthorized,
	"ErrForbidden":     connect.ErrForbidden,
	"ErrNotFound":      connect.ErrNotFound,
	"ErrConflict":      connect.ErrConflict,
	"ErrUnprocessable": connect.ErrUnprocessable,
	"ErrRateLimited":   connect.ErrRateLimited,
	"ErrServer":        connect.ErrServer,
	"ErrInvalidParams": connect.ErrInvalidParams,
}

// fullSize reports whether CONNECT_TEST_FULL is set, as .ci/run sets it:
// the heaviest measurements (the soak, the decoding and memory bounds) then
// run at the sizes their documentation states. By default they run smaller,
// each test saying what it keeps, so that go test ./... stays fast.
func fullSize() bool { return os.Getenv("CONNECT_TEST_FULL") != "" }
