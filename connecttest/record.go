package connecttest

import (
	"net/http"
	"slices"
	"time"
)

// DefaultRequestRecordLimit is how many requests a Server's record keeps
// unless WithRequestRecordLimit says otherwise.
const DefaultRequestRecordLimit = 10_000

// maxRecordedBody is how much of a request's body, and of the response's,
// the record keeps.
const maxRecordedBody = 64 << 10

// WithRequestRecordLimit sets how many requests Server.Requests keeps: the
// most recent n; older ones are forgotten as new ones arrive (Stats still
// count them). The default is DefaultRequestRecordLimit. n below 1 keeps
// the default. Each record holds the request's headers and at most 64 KiB
// of its body and of the response's, so the record's memory is bounded by
// n times that.
func WithRequestRecordLimit(n int) Option {
	return func(cfg *config) {
		if n > 0 {
			cfg.maxRequests = n
		}
	}
}

// requestRing is the Server's bounded record of requests: the most recent
// limit of them, oldest first from next.
type requestRing struct {
	limit int
	buf   []RecordedRequest
	next  int // where the next record goes once buf is full
	// finished is closed, and replaced, whenever a request finishes: what
	// WaitShareToken waits on. Nil until someone waits.
	finished chan struct{}
}

func (q *requestRing) add(rec RecordedRequest) {
	if len(q.buf) < q.limit {
		q.buf = append(q.buf, rec)
		return
	}
	q.buf[q.next] = rec
	q.next = (q.next + 1) % q.limit
}

// ordered returns the records oldest first, sharing q's memory.
func (q *requestRing) ordered() []RecordedRequest {
	return slices.Concat(q.buf[q.next:], q.buf[:q.next])
}

func (q *requestRing) reset() { q.buf, q.next = nil, 0 }

// finishedChan returns a channel closed when the next request finishes.
func (q *requestRing) finishedChan() <-chan struct{} {
	if q.finished == nil {
		q.finished = make(chan struct{})
	}
	return q.finished
}

func (q *requestRing) signal() {
	if q.finished != nil {
		close(q.finished)
		q.finished = nil
	}
}

// capBody keeps the first maxRecordedBody bytes of b, in memory of their
// own, so that a record never pins a larger buffer.
func capBody(b []byte) []byte {
	if len(b) > maxRecordedBody {
		return slices.Clone(b[:maxRecordedBody])
	}
	return b
}

// A RecordedRequest is one request the server received and what it
// answered.
type RecordedRequest struct {
	// Method, Path and RawQuery are the request line's.
	Method, Path, RawQuery string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body (at most 64 KiB of it).
	Body []byte
	// OrganizationID is the organization the API key belongs to. Requests
	// that were not authenticated are not recorded (Stats.Unauthorized
	// counts them), so that anyone who can reach the server cannot fill
	// the record, nor push the requests of a test out of it.
	OrganizationID string
	// RequestID is the Request-Id the server gave the request.
	RequestID string
	// Time is when the request arrived, on the server's clock.
	Time time.Time
	// Status is the status answered (or, for a dropped connection, the
	// status that would have been answered). 0 means no response: the
	// client gave up, or the server closed, during an injected delay.
	Status int
	// ResponseBody is the body answered (or that would have been), at
	// most 64 KiB of it.
	ResponseBody []byte
	// Replayed reports a response replayed from the idempotency store.
	Replayed bool
	// Fault reports a response decided by an injected Fault's Status.
	Fault bool
	// Dropped reports that the connection was closed instead of answered.
	Dropped bool
}

// Stats counts what the server has done since it started.
type Stats struct {
	// Requests is the number of requests received.
	Requests int
	// Unauthorized is the number of 401 responses served.
	Unauthorized int
	// TooManyRequests is the number of 429 responses served, by the rate
	// limiter or by injected faults.
	TooManyRequests int
	// Faults is the number of requests an injected Fault acted on
	// (status, drop or delay).
	Faults int
	// Dropped is the number of connections closed without a response.
	Dropped int
	// Replays is the number of responses replayed for an Idempotency-Key.
	Replays int
	// ConnectionsCreated is the number of connections created through the
	// API.
	ConnectionsCreated int
	// ShareTokensCreated is the number of share tokens created.
	ShareTokensCreated int
	// Redemptions is the number of redeem calls accepted (202).
	Redemptions int
}

// Requests returns a copy of the authenticated requests received, in the
// order they finished: the most recent ones, up to the limit set by
// WithRequestRecordLimit.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests.ordered()
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = slices.Clone(out[i].Body)
		out[i].ResponseBody = slices.Clone(out[i].ResponseBody)
	}
	return out
}

// ResetRequests forgets the recorded requests (Stats are kept).
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.reset()
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// finishLocked records a request with its response.
func (s *Server) finishLocked(rec *RecordedRequest, resp response) {
	rec.Status = resp.status
	rec.ResponseBody = resp.body
	s.stats.Requests++
	switch resp.status {
	case http.StatusUnauthorized:
		s.stats.Unauthorized++
	case http.StatusTooManyRequests:
		s.stats.TooManyRequests++
	}
	if rec.Dropped {
		s.stats.Dropped++
	}
	if s.stats.Requests%idemSweepEvery == 0 {
		s.sweepIdempotencyLocked(s.nowLocked())
	}
	s.requests.signal()
	if rec.OrganizationID == "" {
		return
	}
	rec.Body, rec.ResponseBody = capBody(rec.Body), capBody(rec.ResponseBody)
	s.requests.add(*rec)
}

// abandon records a request given up during an injected delay.
func (s *Server) abandon(rec *RecordedRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(rec, response{})
}
