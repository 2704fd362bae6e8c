package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRetryableStatus checks every status the API can send against both
// methods the SDK uses: 408, 429, 502, 503 and 504 always, 409 and 500 on
// GET only, nothing else.
func TestRetryableStatus(t *testing.T) {
	always := map[int]bool{408: true, 429: true, 502: true, 503: true, 504: true}
	statuses := []int{200, 201, 202, 204, 301, 302, 303, 304, 307, 308,
		400, 401, 402, 403, 404, 405, 408, 409, 410, 412, 413, 415, 422, 425, 429,
		500, 501, 502, 503, 504, 505, 507, 511}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for _, status := range statuses {
			want := always[status] || ((status == 409 || status == 500) && method == http.MethodGet)
			retry, _ := classify(method, status, nil)
			assert.Equal(t, want, retry, "%s %d", method, status)
		}
	}
}

// TestRetryableError: transport failures are retried for GET and POST alike;
// certificate problems, oversized bodies and the errors net/http reports for
// a lasting cause never are.
func TestRetryableError(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: "https://persona.test/x", Err: err} }
	cert := &x509.Certificate{}
	retried := map[string]error{
		"EOF":                  urlErr(io.EOF),
		"unexpected EOF":       urlErr(io.ErrUnexpectedEOF),
		"connection reset":     urlErr(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}),
		"connection refused":   urlErr(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
		"per-attempt timeout":  urlErr(context.DeadlineExceeded),
		"body read error":      fmt.Errorf("reading 200 response body: %w", io.ErrUnexpectedEOF),
		"server closed before": urlErr(errors.New("http: server closed idle connection")),
	}
	notRetried := map[string]error{
		"unknown authority": urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: cert}}),
		"bare unknown CA":   x509.UnknownAuthorityError{Cert: cert},
		"hostname":          urlErr(x509.HostnameError{Certificate: cert, Host: "persona.test"}),
		"expired":           urlErr(x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}),
		"not TLS":           urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}),
		"body too large":    &BodyTooLargeError{StatusCode: 200, Limit: 16 << 20},
		"wrapped too large": fmt.Errorf("x: %w", &BodyTooLargeError{StatusCode: 400, Limit: 1 << 20}),
		// What go-retryablehttp's policy knows net/http to report for a lasting cause.
		"unsupported scheme": urlErr(errors.New(`unsupported protocol scheme "ftp"`)),
		"invalid header":     urlErr(errors.New(`net/http: invalid header field value for "X-Key"`)),
		"redirect loop":      urlErr(errors.New("stopped after 10 redirects")),
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		for name, err := range retried {
			retry, _ := classify(method, 0, err)
			assert.True(t, retry, "%s %s", method, name)
		}
		for name, err := range notRetried {
			retry, _ := classify(method, 0, err)
			assert.False(t, retry, "%s %s", method, name)
		}
	}
}

// TestBackoffBounds samples backoff many times per retry: every wait lies in
// [lo, min(hi, lo·2^retry)], the first is exactly lo, and the picks spread
// over the whole range (full jitter).
func TestBackoffBounds(t *testing.T) {
	const samples = 2000
	for _, b := range []struct{ lo, hi time.Duration }{
		{500 * time.Millisecond, 8 * time.Second},
		{time.Millisecond, 2 * time.Millisecond},
		{time.Second, time.Second},
		{3 * time.Second, 10 * time.Second},
	} {
		for retry := 0; retry <= 10; retry++ {
			ceiling := b.hi
			if c := b.lo << retry; c < b.hi {
				ceiling = c
			}
			lowest, highest := b.hi, time.Duration(0)
			for range samples {
				w := backoff(b.lo, b.hi, retry)
				if w < b.lo || w > ceiling {
					t.Fatalf("backoff(%v, %v, %d) = %v, outside [%v, %v]", b.lo, b.hi, retry, w, b.lo, ceiling)
				}
				lowest, highest = min(lowest, w), max(highest, w)
			}
			if retry == 0 || ceiling == b.lo {
				assert.Equal(t, b.lo, lowest)
				assert.Equal(t, b.lo, highest)
				continue
			}
			span := ceiling - b.lo
			assert.Less(t, lowest, b.lo+span/10, "lo %v hi %v retry %d: picks never near the bottom", b.lo, b.hi, retry)
			assert.Greater(t, highest, ceiling-span/10, "lo %v hi %v retry %d: picks never near the top", b.lo, b.hi, retry)
		}
	}
}

// TestBackoffExtremes: no overflow for large retry counts or bounds, and a
// zero minimum means no wait.
func TestBackoffExtremes(t *testing.T) {
	assert.Zero(t, backoff(0, time.Second, 3))
	for _, retry := range []int{31, 32, 33, 62, 63, 64, 100, 1 << 20} {
		for range 100 {
			w := backoff(time.Second, time.Minute, retry)
			require.GreaterOrEqual(t, w, time.Second, "retry %d", retry)
			require.LessOrEqual(t, w, time.Minute, "retry %d", retry)
		}
	}
	huge := time.Duration(1<<62 - 1)
	for _, retry := range []int{0, 1, 2, 10} {
		w := backoff(time.Hour, huge, retry)
		require.GreaterOrEqual(t, w, time.Hour, "retry %d", retry)
		require.LessOrEqual(t, w, huge, "retry %d", retry)
	}
}

func TestServerWait(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)
	const maxDur = time.Duration(1<<63 - 1)
	const maxSecsDur = time.Duration(int64(1<<63-1)/int64(time.Second)) * time.Second
	h := func(kv ...string) http.Header {
		hdr := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hdr.Set(kv[i], kv[i+1])
		}
		return hdr
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		status int
		want   time.Duration
		ok     bool
	}{
		{"no headers", h(), 429, 0, false},
		{"no headers 503", h(), 503, 0, false},
		{"seconds", h("Retry-After", "7"), 429, 7 * time.Second, true},
		{"seconds on 503", h("Retry-After", "120"), 503, 2 * time.Minute, true},
		{"zero seconds", h("Retry-After", "0"), 429, 0, true},
		{"http date", h("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), 429, 90 * time.Second, true},
		{"rfc850 date", h("Retry-After", now.Add(30*time.Second).Format(time.RFC850)), 429, 30 * time.Second, true},
		{"ansi c date", h("Retry-After", now.Add(5*time.Second).Format(time.ANSIC)), 429, 5 * time.Second, true},
		{"past date", h("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), 429, 0, true},
		{"garbage", h("Retry-After", "soon"), 503, 0, false},
		{"negative", h("Retry-After", "-5"), 503, 0, false},
		{"fraction", h("Retry-After", "1.5"), 503, 0, false},
		{"garbage falls back to reset on 429", h("Retry-After", "soon", "RateLimit-Reset", "5"), 429, 5 * time.Second, true},
		{"retry-after beats reset", h("Retry-After", "3", "RateLimit-Reset", "50"), 429, 3 * time.Second, true},
		{"reset only on 429", h("RateLimit-Reset", "5"), 429, 5 * time.Second, true},
		{"reset with remaining on 429", h("RateLimit-Remaining", "12", "RateLimit-Reset", "5"), 429, 5 * time.Second, true},
		{"reset on 503 with requests left", h("RateLimit-Remaining", "299", "RateLimit-Reset", "42"), 503, 0, false},
		{"reset on 503 without remaining", h("RateLimit-Reset", "42"), 503, 0, false},
		{"reset on 200 with requests left", h("RateLimit-Remaining", "1", "RateLimit-Reset", "42"), 200, 0, false},
		{"reset on 200 with remaining 0", h("RateLimit-Remaining", "0", "RateLimit-Reset", "10"), 200, 10 * time.Second, true},
		{"reset on 503 with remaining 0", h("RateLimit-Remaining", "0", "RateLimit-Reset", "10"), 503, 10 * time.Second, true},
		{"reset garbage", h("RateLimit-Reset", "later"), 429, 0, false},
		{"reset negative", h("RateLimit-Reset", "-1"), 429, 0, false},
		{"huge seconds", h("Retry-After", "86400000000000"), 429, maxSecsDur, true},
		{"max int64 seconds", h("Retry-After", strconv.FormatInt(1<<63-1, 10)), 429, maxSecsDur, true},
		{"reset that is no window length", h("RateLimit-Reset", "99999999999"), 429, 0, false},
		{"reset over an hour", h("RateLimit-Reset", "3601"), 429, 0, false},
		{"far future date", h("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"), 429, maxDur, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ServerWait(tc.header, tc.status, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
			assert.GreaterOrEqual(t, got, time.Duration(0))
		})
	}
}

// TestServerWaitOutOfRange: a number of seconds too large for int64 is not
// parsed into a negative or wrapped wait.
func TestServerWaitOutOfRange(t *testing.T) {
	for _, v := range []string{"99999999999999999999", "18446744073709551616"} {
		got, _ := ServerWait(http.Header{"Retry-After": {v}}, 429, time.Now())
		assert.GreaterOrEqual(t, got, time.Duration(0), v)
		got, _ = ServerWait(http.Header{"Ratelimit-Reset": {v}}, 429, time.Now())
		assert.GreaterOrEqual(t, got, time.Duration(0), v)
	}
}

func TestSeconds(t *testing.T) {
	assert.Equal(t, 7*time.Second, seconds(7))
	assert.Equal(t, time.Duration(0), seconds(0))
	big := seconds(1<<63 - 1)
	assert.Greater(t, big, 290*365*24*time.Hour)
	assert.Equal(t, big, seconds(1<<40))
}

// TestDecide: after an attempt the call retries only when the policy allows
// it, retries are left, and the wait fits both WithMaxRateLimitWait and the
// context's deadline; each verdict names its reason.
func TestDecide(t *testing.T) {
	e := New(Config{MaxRetries: 2, RetryWaitMin: time.Second, RetryWaitMax: time.Second, MaxRateLimitWait: 10 * time.Second})
	resp := func(status int, kv ...string) *http.Response {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	refused := &url.Error{Op: "Get", URL: "https://persona.test/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	soon, stop := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer stop()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		method string
		n      int
		resp   *http.Response
		err    error
		want   decision
	}{
		{"final status", t.Context(), "GET", 1, resp(404), nil, decision{reason: "final status"}},
		{"409 on POST is final", t.Context(), "POST", 1, resp(409), nil, decision{reason: "final status"}},
		{"503 backs off", t.Context(), "POST", 1, resp(503), nil, decision{retry: true, reason: "retryable status", wait: time.Second}},
		{"a retried status ignores its body", t.Context(), "GET", 1, resp(502), &BodyTooLargeError{StatusCode: 502, Limit: 1}, decision{retry: true, reason: "retryable status", wait: time.Second}},
		{"429 waits as told", t.Context(), "GET", 2, resp(429, "Retry-After", "3"), nil, decision{retry: true, reason: "retryable status", wait: 3 * time.Second}},
		{"transport error", t.Context(), "POST", 1, nil, refused, decision{retry: true, reason: "transport error", wait: time.Second}},
		{"body read error", t.Context(), "GET", 1, resp(200), io.ErrUnexpectedEOF, decision{retry: true, reason: "transport error", wait: time.Second}},
		{"body too large", t.Context(), "GET", 1, resp(200), &BodyTooLargeError{StatusCode: 200, Limit: 1}, decision{reason: "permanent error"}},
		{"retries exhausted", t.Context(), "GET", 3, resp(503), nil, decision{reason: "retries exhausted"}},
		{"server wait over the cap", t.Context(), "GET", 1, resp(429, "Retry-After", "11"), nil, decision{reason: "server's wait beyond WithMaxRateLimitWait"}},
		{"wait past the deadline", soon, "GET", 1, resp(503), nil, decision{reason: "wait beyond the context's deadline"}},
		{"context done", cancelled, "GET", 1, resp(503), nil, decision{reason: "context done"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, e.decide(tc.ctx, tc.method, tc.n, tc.resp, tc.err))
		})
	}
}

// TestDecidePacing: a retry waits at least for the pacing, and not at all
// when the pacing would outlast WithMaxRateLimitWait.
func TestDecidePacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			limit time.Duration
			want  decision
		}{
			{10 * time.Second, decision{retry: true, reason: "retryable status", wait: 5 * time.Second, paced: 5 * time.Second}},
			{4 * time.Second, decision{reason: "pacing beyond WithMaxRateLimitWait"}},
		} {
			e := New(Config{MaxRetries: 1, RetryWaitMin: time.Second, RetryWaitMax: time.Second, MaxRateLimitWait: tc.limit})
			e.pacer.see(e.pacer.admit(t), "0", "5", time.Now())
			got := e.decide(t.Context(), "GET", 1, &http.Response{StatusCode: 502, Header: http.Header{}}, nil)
			assert.Equal(t, tc.want, got, "limit %s", tc.limit)
		}
	})
}
