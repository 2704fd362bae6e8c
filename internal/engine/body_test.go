package engine

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trackedBody counts what was read from it and whether it was closed.
type trackedBody struct {
	r      io.Reader
	read   int64
	closed bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

// endless is a body that never ends, like a hostile or broken server's.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

type failingReader struct{ after io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.after.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func bodyEngine(maxBody, maxErrBody int64) *Engine {
	return &Engine{cfg: Config{MaxBodySize: maxBody, MaxErrorBodySize: maxErrBody}}
}

func bodyResp(status int, contentLength int64, r io.Reader) (*http.Response, *trackedBody) {
	b := &trackedBody{r: r}
	return &http.Response{StatusCode: status, Header: http.Header{}, ContentLength: contentLength, Body: b}, b
}

func TestReadBodyWithinCap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		size   int
		cl     bool
	}{
		{"2xx empty", 200, 0, true},
		{"2xx at cap", 201, 100, true},
		{"2xx at cap chunked", 200, 100, false},
		{"error at cap", 404, 10, true},
		{"error at cap chunked", 503, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := bodyEngine(100, 10)
			payload := bytes.Repeat([]byte("a"), tc.size)
			cl := int64(-1)
			if tc.cl {
				cl = int64(tc.size)
			}
			resp, b := bodyResp(tc.status, cl, bytes.NewReader(payload))
			body, err := e.readBody(resp)
			require.NoError(t, err)
			assert.Equal(t, payload, append([]byte{}, body...))
			assert.True(t, b.closed)
		})
	}
}

func TestReadBodyOverCap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		limit  int64
		cl     int64
		body   io.Reader
	}{
		{"2xx one byte over, chunked", 200, 100, -1, strings.NewReader(strings.Repeat("a", 101))},
		{"2xx endless", 200, 100, -1, endless{}},
		{"2xx Content-Length lies low", 200, 100, 50, endless{}},
		{"error one byte over", 400, 10, -1, strings.NewReader(strings.Repeat("a", 11))},
		{"error endless", 500, 10, -1, endless{}},
		{"3xx uses the error cap", 302, 10, -1, endless{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := bodyEngine(100, 10)
			resp, b := bodyResp(tc.status, tc.cl, tc.body)
			body, err := e.readBody(resp)
			var tooLarge *BodyTooLargeError
			require.ErrorAs(t, err, &tooLarge)
			assert.Equal(t, tc.status, tooLarge.StatusCode)
			assert.Equal(t, tc.limit, tooLarge.Limit)
			assert.LessOrEqual(t, b.read, tc.limit+1+bytes.MinRead, "read far past the cap")
			assert.True(t, b.closed)
			assert.Nil(t, body)
			assert.Contains(t, err.Error(), "exceeds")
			assert.False(t, retryableError(err), "an oversized body is not retried")
		})
	}
}

// TestReadBodyDeclaredTooLarge: a Content-Length over the cap fails before
// a single byte is read.
func TestReadBodyDeclaredTooLarge(t *testing.T) {
	e := bodyEngine(16<<20, 1<<20)
	resp, b := bodyResp(200, 16<<20+1, endless{})
	_, err := e.readBody(resp)
	var tooLarge *BodyTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	assert.Equal(t, "200 response body exceeds the 16777216-byte limit", err.Error())
	assert.Zero(t, b.read)
	assert.True(t, b.closed)

	resp, b = bodyResp(422, 1<<20+1, endless{})
	_, err = e.readBody(resp)
	require.ErrorAs(t, err, &tooLarge)
	assert.Equal(t, "422 response body exceeds the 1048576-byte limit", err.Error())
	assert.Zero(t, b.read)
	assert.True(t, b.closed)
}

// TestReadBodyTruncated: a body cut short is a (retryable) read error that
// names the status.
func TestReadBodyTruncated(t *testing.T) {
	e := bodyEngine(100, 10)
	resp, b := bodyResp(200, 50, failingReader{strings.NewReader("partial")})
	_, err := e.readBody(resp)
	require.Error(t, err)
	assert.True(t, errors.Is(err, io.ErrUnexpectedEOF))
	assert.Contains(t, err.Error(), "reading 200 response body")
	assert.True(t, b.closed)
	assert.True(t, retryableError(err))
}
