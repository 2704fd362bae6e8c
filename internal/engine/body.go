package engine

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// BodyTooLargeError reports a response body longer than the cap the pipeline
// reads. The rest of the body is discarded unread.
type BodyTooLargeError struct {
	StatusCode int
	Limit      int64
}

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("%d response body exceeds the %d-byte limit", e.StatusCode, e.Limit)
}

// readBody reads and closes resp's body through the cap that its status
// calls for. An error reading it is a transport error, and may be retried
// like one.
func (e *Engine) readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	limit := e.cfg.MaxErrorBodySize
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		limit = e.cfg.MaxBodySize
	}
	if resp.ContentLength > limit {
		return nil, &BodyTooLargeError{StatusCode: resp.StatusCode, Limit: limit}
	}
	body, err := readCapped(resp.Body, limit, resp.ContentLength)
	if err != nil {
		if errors.Is(err, errOverLimit) {
			return nil, &BodyTooLargeError{StatusCode: resp.StatusCode, Limit: limit}
		}
		return nil, fmt.Errorf("reading %d response body: %w", resp.StatusCode, err)
	}
	return body, nil
}

var errOverLimit = errors.New("over the limit")

// readCapped reads r to EOF, and fails with errOverLimit as soon as more
// than limit bytes arrive. A known size (a Content-Length, -1 if unknown)
// sizes the buffer exactly, with one spare byte so that the EOF is seen
// without growing it: one allocation for the body, none for the reader.
func readCapped(r io.Reader, limit, size int64) ([]byte, error) {
	n := int64(512)
	if size >= 0 {
		n = min(size, limit) + 1
	}
	b := make([]byte, 0, n)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		// Never ask for more than one byte past the limit.
		m, err := r.Read(b[len(b):min(int64(cap(b)), limit+1)])
		b = b[:len(b)+m]
		if int64(len(b)) > limit {
			return nil, errOverLimit
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
