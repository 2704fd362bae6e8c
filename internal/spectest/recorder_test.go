package spectest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
)

// recorder is an http.RoundTripper that keeps every request it carries and
// the response it got, headers and bodies included: what the SDK really
// sent and what the fake really answered.
type recorder struct {
	base http.RoundTripper

	mu   sync.Mutex
	step string
	log  []*exchange
}

func newRecorder() *recorder {
	return &recorder{base: http.DefaultTransport.(*http.Transport).Clone()}
}

// setStep names the scenario step the next requests belong to.
func (r *recorder) setStep(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step = step
}

func (r *recorder) exchanges() []*exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*exchange(nil), r.log...)
}

func (r *recorder) close() {
	if t, ok := r.base.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

type rawKey struct{}

// rawMark marks a request the test sends itself rather than through the SDK.
type rawMark struct{ invalid bool }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	out := req.Clone(req.Context())
	out.Body, out.ContentLength = http.NoBody, 0
	if len(body) > 0 {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	ex := &exchange{source: "sdk", method: req.Method, path: req.URL.Path, rawQuery: req.URL.RawQuery,
		reqHeader: req.Header.Clone(), reqBody: body}
	if m, ok := req.Context().Value(rawKey{}).(rawMark); ok {
		ex.source, ex.requestInvalid = "raw", m.invalid
	}
	r.mu.Lock()
	ex.step = r.step
	r.mu.Unlock()

	resp, err := r.base.RoundTrip(out)
	if err == nil {
		var rb []byte
		rb, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(rb))
		ex.status, ex.respHeader, ex.respBody = resp.StatusCode, resp.Header.Clone(), rb
		ex.requestID = resp.Header.Get("Request-Id")
	}
	r.mu.Lock()
	r.log = append(r.log, ex)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// raw sends a request the SDK would never send (a malformed body, a
// parameter out of the SDK's reach), through the recorder. invalid says
// that the document must reject the request.
func (r *recorder) raw(ctx context.Context, baseURL, apiKey, method, path, body string, invalid bool) (int, error) {
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx = context.WithValue(ctx, rawKey{}, rawMark{invalid: invalid})
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Transport: r}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
