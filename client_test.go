package connect_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

func TestNewClientRejectsBadKeys(t *testing.T) {
	keys := map[string]string{
		"empty":            "",
		"space":            "persona_sandbox_abc def",
		"leading space":    " persona_sandbox_abc",
		"trailing newline": "persona_sandbox_abc\n",
		"header injection": "persona_sandbox_abc\r\nX-Evil: 1",
		"tab":              "persona\tsandbox",
		"NUL":              "persona\x00sandbox",
		"non-ASCII":        "persona_sandbox_clé",
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			c, err := connect.NewClient(key)
			assert.Nil(t, c)
			requireValidationError(t, err, "apiKey")
			if key != "" {
				assert.NotContains(t, err.Error(), key)
			}
		})
	}
}

func TestNewClientRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name  string
		opt   connect.ClientOption
		field string
	}{
		{"http on a public host", connect.WithBaseURL("http://api.withpersona.com/api/v1"), "WithBaseURL"},
		{"http on a host named like loopback", connect.WithBaseURL("http://localhost.evil.example/api/v1"), "WithBaseURL"},
		{"http on a host starting 127", connect.WithBaseURL("http://127.0.0.1.nip.io/api/v1"), "WithBaseURL"},
		{"http on a private address", connect.WithBaseURL("http://10.0.0.1/api/v1"), "WithBaseURL"},
		{"userinfo", connect.WithBaseURL("https://user:" + testAPIKey + "@api.withpersona.com/api/v1"), "WithBaseURL"},
		{"userinfo on loopback", connect.WithBaseURL("http://user@127.0.0.1:8080/api/v1"), "WithBaseURL"},
		{"query", connect.WithBaseURL("https://api.withpersona.com/api/v1?key=x"), "WithBaseURL"},
		{"fragment", connect.WithBaseURL("https://api.withpersona.com/api/v1#x"), "WithBaseURL"},
		{"garbage", connect.WithBaseURL("::not a url::"), "WithBaseURL"},
		{"relative", connect.WithBaseURL("/api/v1"), "WithBaseURL"},
		{"no scheme", connect.WithBaseURL("api.withpersona.com/api/v1"), "WithBaseURL"},
		{"empty", connect.WithBaseURL(""), "WithBaseURL"},
		{"other scheme", connect.WithBaseURL("ftp://127.0.0.1/api/v1"), "WithBaseURL"},
		{"control char", connect.WithBaseURL("https://api.withpersona.com/api\n/v1"), "WithBaseURL"},
		{"nil http client", connect.WithHTTPClient(nil), "WithHTTPClient"},
		{"persona version not a date", connect.WithPersonaVersion("x"), "WithPersonaVersion"},
		{"persona version empty", connect.WithPersonaVersion(""), "WithPersonaVersion"},
		{"persona version with newline", connect.WithPersonaVersion("2025-12-08\n"), "WithPersonaVersion"},
		{"user agent with newline", connect.WithUserAgent("a\nb"), "WithUserAgent"},
		{"user agent empty", connect.WithUserAgent(""), "WithUserAgent"},
		{"user agent non-ASCII", connect.WithUserAgent("acmé/1"), "WithUserAgent"},
		{"max retries -1", connect.WithMaxRetries(-1), "WithMaxRetries"},
		{"max retries 11", connect.WithMaxRetries(11), "WithMaxRetries"},
		{"retry wait min 0", connect.WithRetryWait(0, time.Second), "WithRetryWait"},
		{"retry wait min negative", connect.WithRetryWait(-time.Second, time.Second), "WithRetryWait"},
		{"retry wait min above max", connect.WithRetryWait(2*time.Second, time.Second), "WithRetryWait"},
		{"timeout 0", connect.WithTimeout(0), "WithTimeout"},
		{"timeout negative", connect.WithTimeout(-time.Second), "WithTimeout"},
		{"max rate limit wait negative", connect.WithMaxRateLimitWait(-1), "WithMaxRateLimitWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect.NewClient(testAPIKey, tt.opt)
			assert.Nil(t, c)
			requireValidationError(t, err, tt.field)

			// The first failing option decides, wherever it stands.
			c, err = connect.NewClient(testAPIKey, connect.WithMaxRetries(1), tt.opt, connect.WithTimeout(time.Second))
			assert.Nil(t, c)
			requireValidationError(t, err, tt.field)
		})
	}
}

func TestNewClientAcceptsOptions(t *testing.T) {
	opts := map[string]connect.ClientOption{
		"https":                     connect.WithBaseURL("https://api.withpersona.com/api/v1"),
		"https trailing slash":      connect.WithBaseURL("https://api.withpersona.com/api/v1/"),
		"https with port":           connect.WithBaseURL("https://persona.internal:8443/api/v1"),
		"http 127.0.0.1":            connect.WithBaseURL("http://127.0.0.1:8080/api/v1"),
		"http 127.0.0.2":            connect.WithBaseURL("http://127.0.0.2/api/v1"),
		"http localhost":            connect.WithBaseURL("http://localhost:8080/api/v1"),
		"http LOCALHOST":            connect.WithBaseURL("http://LOCALHOST/api/v1"),
		"http [::1]":                connect.WithBaseURL("http://[::1]:8080/api/v1"),
		"http client":               connect.WithHTTPClient(&http.Client{}),
		"persona version":           connect.WithPersonaVersion("2023-01-05"),
		"user agent":                connect.WithUserAgent("acme-kyc/1.4 (+https://acme.example)"),
		"max retries 0":             connect.WithMaxRetries(0),
		"max retries 10":            connect.WithMaxRetries(10),
		"retry wait equal":          connect.WithRetryWait(time.Second, time.Second),
		"timeout":                   connect.WithTimeout(time.Millisecond),
		"max rate limit wait 0":     connect.WithMaxRateLimitWait(0),
		"nil logger":                connect.WithLogger(nil),
		"nil option":                nil,
		"default (no option given)": func() connect.ClientOption { return connect.WithMaxRetries(3) }(),
	}
	for name, opt := range opts {
		t.Run(name, func(t *testing.T) {
			c, err := connect.NewClient(testAPIKey, opt)
			require.NoError(t, err)
			require.NotNil(t, c)
			assert.NotNil(t, c.ShareTokens)
			assert.NotNil(t, c.Connections)
		})
	}
}

func TestNewClientDoesNoIO(t *testing.T) {
	var dials atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		dials.Add(1)
		return nil, fmt.Errorf("no I/O expected")
	})}
	_, err := connect.NewClient(testAPIKey, connect.WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Zero(t, dials.Load())
}

func TestBaseURLLoopbackAndTrailingSlash(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(respond(http.StatusOK, fixture(t, "connections/active.json"))))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, base := range []string{
		"http://127.0.0.1:" + port + "/api/v1/",
		"http://localhost:" + port + "/api/v1",
	} {
		t.Run(base, func(t *testing.T) {
			c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base))
			require.NoError(t, err)
			_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
			require.NoError(t, err)
			assert.Equal(t, "/api/v1/connect/connections/cxn_ABC123", rec.last(t).Path)
		})
	}
}

func TestDefaultHeaders(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/active.json")))
	_, err := c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)
	r := rec.last(t)
	assertStandardHeaders(t, r, "")
	assert.Equal(t, "connect-go/"+connect.Version+" go/"+strings.TrimPrefix(runtime.Version(), "go"), r.Header.Get("User-Agent"))
	assert.Equal(t, "2025-12-08", connect.DefaultPersonaVersion)
	assert.Equal(t, "https://api.withpersona.com/api/v1", connect.DefaultBaseURL)
}

func TestPersonaVersionAndUserAgentOptions(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/active.json")),
		connect.WithPersonaVersion("2023-01-05"), connect.WithUserAgent("acme-kyc/1.4"))
	_, err := c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)
	r := rec.last(t)
	assert.Equal(t, "2023-01-05", r.Header.Get("Persona-Version"))
	assert.Equal(t, "connect-go/"+connect.Version+" go/"+strings.TrimPrefix(runtime.Version(), "go")+" acme-kyc/1.4", r.Header.Get("User-Agent"))
}

func TestWithHeaderAddsHeadersButNotOwnedOnes(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/active.json")))
	_, err := c.Connections.Deactivate(context.Background(), "cxn_ABC123",
		connect.WithHeader("X-Request-Source", "batch"), connect.WithHeader("x-request-source", "batch-2"))
	require.NoError(t, err)
	r := rec.last(t)
	assert.Equal(t, []string{"batch-2"}, r.Header.Values("X-Request-Source"), "a later WithHeader replaces an earlier one")
	assert.Equal(t, "Bearer "+testAPIKey, r.Header.Get("Authorization"))
	assertStandardHeaders(t, r, "")

	// A request option affects its own call only.
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)
	assert.Empty(t, rec.last(t).Header.Get("X-Request-Source"))
}

func TestWithHTTPClientUsesItsTransport(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(respond(http.StatusOK, fixture(t, "connections/active.json"))))
	t.Cleanup(srv.Close)

	var trips atomic.Int32
	followed := false
	hc := &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			trips.Add(1)
			return http.DefaultTransport.RoundTrip(r)
		}),
		Timeout: time.Hour,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			followed = true
			return nil
		},
	}
	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(srv.URL+"/api/v1"), connect.WithHTTPClient(hc))
	require.NoError(t, err)
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)
	assert.Equal(t, int32(1), trips.Load())
	assert.Equal(t, 1, rec.count())

	// The caller's client is not changed by the SDK.
	assert.Equal(t, time.Hour, hc.Timeout)
	require.NotNil(t, hc.CheckRedirect)
	assert.NoError(t, hc.CheckRedirect(nil, nil))
	followed = false

	// Its redirect policy does not apply: the SDK never follows one.
	other := &recorder{}
	elsewhere := httptest.NewServer(other.wrap(respond(http.StatusOK, fixture(t, "connections/active.json"))))
	t.Cleanup(elsewhere.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	c, err = connect.NewClient(testAPIKey, connect.WithBaseURL(redirector.URL+"/api/v1"), connect.WithHTTPClient(hc))
	require.NoError(t, err)
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
	var apiErr *connect.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusFound, apiErr.StatusCode)
	assert.False(t, followed)
	assert.Equal(t, 0, other.count())
}

func TestWithTimeoutBoundsAnAttempt(t *testing.T) {
	release := make(chan struct{})
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}), connect.WithTimeout(50*time.Millisecond), connect.WithMaxRetries(0))
	defer close(release)
	start := time.Now()
	_, err := c.Connections.Get(context.Background(), "cxn_ABC123")
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, err.Error(), "GET /connect/connections/cxn_ABC123")
	assert.Equal(t, 1, rec.count())
}

func TestClientFormatNeverShowsKey(t *testing.T) {
	c, err := connect.NewClient(testAPIKey, connect.WithUserAgent("acme/1"))
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T", "%p", "%d"} {
		out := fmt.Sprintf(verb, c)
		assert.NotContains(t, out, testAPIKey, "verb %s", verb)
		assert.NotContains(t, out, "SECRET", "verb %s", verb)
	}
	// Inside another value, and as a dereferenced value.
	wrapped := struct {
		Client *connect.Client
		Value  connect.Client
	}{c, *c}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(verb, wrapped), testAPIKey, "verb %s", verb)
		assert.NotContains(t, fmt.Sprintf(verb, *c), testAPIKey, "verb %s", verb)
		assert.NotContains(t, fmt.Sprintf(verb, []any{c, c.ShareTokens, c.Connections}), testAPIKey, "verb %s", verb)
	}
	assert.Contains(t, fmt.Sprint(c), "redacted")
	assert.Contains(t, fmt.Sprint(*c), "redacted")

	// A Client value in an unexported field is printed by reflection, not
	// through Format: the key must still be out of reach.
	hidden := struct{ c connect.Client }{*c}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, hidden), testAPIKey, "verb %s", verb)
	}

	var nilClient *connect.Client
	assert.NotPanics(t, func() { _ = fmt.Sprintf("%v %+v", nilClient, nilClient) })
}

func TestErrorsNeverShowKey(t *testing.T) {
	t.Run("API error", func(t *testing.T) {
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A server that echoes the request's Authorization back.
			personaHeaders(w.Header())
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(fixture(t, "errors/401.json"))
		}), connect.WithMaxRetries(0))
		_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
		var apiErr *connect.Error
		require.ErrorAs(t, err, &apiErr)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, err), testAPIKey, "verb %s", verb)
			assert.NotContains(t, fmt.Sprintf(verb, apiErr), testAPIKey, "verb %s", verb)
			assert.NotContains(t, fmt.Sprintf(verb, *apiErr), testAPIKey, "verb %s", verb)
		}
	})
	t.Run("transport error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL
		srv.Close()
		c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base+"/api/v1"), connect.WithMaxRetries(0))
		require.NoError(t, err)
		_, err = c.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
		require.Error(t, err)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, err), testAPIKey, "verb %s", verb)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}), connect.WithMaxRetries(0))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Connections.Get(ctx, "cxn_ABC123")
		require.Error(t, err)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assert.NotContains(t, fmt.Sprintf(verb, err), testAPIKey, "verb %s", verb)
		}
	})
}

// logRecords parses the JSON lines a slog.JSONHandler wrote.
func logRecords(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line %q", sc.Text())
		out = append(out, m)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the client's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) snapshot() *bytes.Buffer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.NewBuffer(append([]byte(nil), b.buf.Bytes()...))
}

func TestLoggerRecordsAttemptsWithoutSecrets(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := newTestClient(t, sequence(
		respond(http.StatusCreated, fixture(t, "sharetokens/created.json")),
		respond(http.StatusServiceUnavailable, fixture(t, "errors/503.json")),
		respond(http.StatusOK, fixture(t, "connections/active.json")),
	), connect.WithLogger(logger))

	_, err := c.ShareTokens.Create(context.Background(),
		&connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_SOURCEBODY", ExpiresIn: time.Hour},
		connect.WithIdempotencyKey("idem-key-LOGTEST"), connect.WithHeader("X-Private", "header-LOGTEST"))
	require.NoError(t, err)
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)

	out := buf.snapshot()
	text := out.String()
	assert.NotContains(t, text, testAPIKey)
	assert.NotContains(t, text, "Bearer")
	assert.NotContains(t, text, "inq_SOURCEBODY", "the request body was logged")
	assert.NotContains(t, text, "expires-in-seconds", "the request body was logged")
	assert.NotContains(t, text, "idem-key-LOGTEST", "a header was logged")
	assert.NotContains(t, text, "header-LOGTEST", "a header was logged")
	assert.NotContains(t, text, "Record not found")

	recs := logRecords(t, out)
	require.Len(t, recs, 3, "one record per attempt:\n%s", text)
	want := []struct {
		method, path string
		status       float64
		attempt      float64
	}{
		{"POST", "/connect/share-tokens", 201, 1},
		{"GET", "/connect/connections/cxn_ABC123", 503, 1},
		{"GET", "/connect/connections/cxn_ABC123", 200, 2},
	}
	for i, w := range want {
		r := recs[i]
		assert.Equal(t, "DEBUG", r["level"], "record %d", i)
		assert.Equal(t, w.method, r["method"], "record %d", i)
		assert.Equal(t, w.path, r["path"], "record %d", i)
		assert.Equal(t, w.status, r["status"], "record %d", i)
		assert.Equal(t, w.attempt, r["attempt"], "record %d", i)
		assert.Equal(t, "req_TEST123", r["request_id"], "record %d", i)
		assert.Contains(t, r, "duration", "record %d", i)
	}
}

func TestLoggerTransportErrorWithoutSecrets(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base+"/api/v1"), connect.WithMaxRetries(1),
		connect.WithRetryWait(time.Millisecond, time.Millisecond), connect.WithLogger(logger))
	require.NoError(t, err)
	_, err = c.Connections.Get(context.Background(), "cxn_ABC123")
	require.Error(t, err)
	text := buf.snapshot().String()
	assert.NotContains(t, text, testAPIKey)
	assert.Equal(t, 2, strings.Count(text, "connect: attempt"), "log:\n%s", text)
	assert.Contains(t, text, "error=")
	assert.Contains(t, text, "path=/connect/connections/cxn_ABC123")
}

func TestLoggerBelowDebugRecordsNothing(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/active.json")), connect.WithLogger(logger))
	_, err := c.Connections.Get(context.Background(), "cxn_ABC123")
	require.NoError(t, err)
	assert.Empty(t, buf.snapshot().String())
}

func TestClientIsSafeForConcurrentUse(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123", connect.WithHeader("X-N", fmt.Sprint(i)))
			errs <- err
			_, err = c.ShareTokens.Expire(context.Background(), "cnst_ABC123")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	keys := map[string]bool{}
	for _, r := range rec.all() {
		assertStandardHeaders(t, r, "")
		if r.Method == http.MethodPost {
			keys[r.Header.Get("Idempotency-Key")] = true
		}
	}
	assert.Equal(t, 2*n, rec.count())
	assert.Len(t, keys, n, "concurrent POSTs shared an Idempotency-Key")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// captureT is an assert.TestingT that keeps the failure messages instead of
// failing the test, so that a test can read what testify would print.
type captureT struct{ msgs []string }

func (c *captureT) Errorf(format string, args ...any) {
	c.msgs = append(c.msgs, fmt.Sprintf(format, args...))
}

// TestKeyUnreachableByReflection: no reflection-driven printer (testify's
// diff, fmt's verbs on unexported fields, a walker over every reachable
// value) finds the API key in a Client or in anything holding one.
func TestKeyUnreachableByReflection(t *testing.T) {
	a, err := connect.NewClient(testAPIKey)
	require.NoError(t, err)
	// A second key makes testify's diff print the lines around the key.
	b, err := connect.NewClient(testAPIKey+"OTHER", connect.WithUserAgent("other/1"))
	require.NoError(t, err)

	t.Run("testify diff", func(t *testing.T) {
		type holder struct {
			Name   string
			Client *connect.Client
			value  connect.Client
		}
		for name, pair := range map[string][2]any{
			"*Client":          {a, b},
			"Client":           {*a, *b},
			"struct holding":   {holder{"x", a, *a}, holder{"y", b, *b}},
			"service":          {a.ShareTokens, b.ShareTokens},
			"slice of clients": {[]*connect.Client{a}, []*connect.Client{b}},
		} {
			ct := &captureT{}
			assert.False(t, assert.Equal(ct, pair[0], pair[1]), "%s: the values differ, so testify must print a diff", name)
			require.NotEmpty(t, ct.msgs, name)
			for _, m := range ct.msgs {
				assert.False(t, strings.Contains(m, "SECRET"), "%s: testify's message shows the key", name)
			}
		}
	})

	t.Run("walker", func(t *testing.T) {
		var found []string
		walkStrings(reflect.ValueOf(struct{ C *connect.Client }{a}), "", map[uintptr]bool{}, func(path, s string) {
			if strings.Contains(s, "SECRET") {
				found = append(found, path)
			}
		})
		assert.Empty(t, found, "the key is reachable by reflection at these paths")
	})
}

// walkStrings visits every string reachable from v through fields, pointers,
// interfaces, maps, slices and arrays, exported or not, and calls visit with
// its path. Functions are opaque to reflection and are not entered.
func walkStrings(v reflect.Value, path string, seen map[uintptr]bool, visit func(path, s string)) {
	switch v.Kind() {
	case reflect.String:
		visit(path, v.String())
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walkStrings(v.Elem(), path, seen, visit)
	case reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), path, seen, visit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			walkStrings(v.Field(i), path+"."+v.Type().Field(i).Name, seen, visit)
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			visit(path, string(v.Bytes()))
			return
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i), seen, visit)
		}
	case reflect.Map:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		it := v.MapRange()
		for it.Next() {
			walkStrings(it.Key(), path+"{key}", seen, visit)
			walkStrings(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()), seen, visit)
		}
	}
}
