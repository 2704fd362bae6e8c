package engine

import (
	"bytes"
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

// readBody reads and closes the final response's body through the cap that
// its status calls for. An error reading it is a transport error, and may be
// retried like one.
func (c *call) readBody(resp *http.Response) error {
	c.bodyRead = true
	defer resp.Body.Close()
	limit := c.engine.cfg.MaxErrorBodySize
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		limit = c.engine.cfg.MaxBodySize
	}
	if resp.ContentLength > limit {
		return &BodyTooLargeError{StatusCode: resp.StatusCode, Limit: limit}
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("reading %d response body: %w", resp.StatusCode, err)
	}
	if n > limit {
		return &BodyTooLargeError{StatusCode: resp.StatusCode, Limit: limit}
	}
	c.body = buf.Bytes()
	return nil
}
