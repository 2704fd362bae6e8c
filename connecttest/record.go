package connecttest

import (
	"net/http"
	"slices"
	"time"
)

// A RecordedRequest is one request the server received and what it
// answered.
type RecordedRequest struct {
	// Method, Path and RawQuery are the request line's.
	Method, Path, RawQuery string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the request body (at most 1 MiB of it).
	Body []byte
	// OrganizationID is the organization the API key belongs to; empty
	// when the request was not authenticated.
	OrganizationID string
	// RequestID is the Request-Id the server gave the request.
	RequestID string
	// Time is when the request arrived, on the server's clock.
	Time time.Time
	// Status is the status answered (or, for a dropped connection, the
	// status that would have been answered). 0 means no response: the
	// client gave up, or the server closed, during an injected delay.
	Status int
	// ResponseBody is the body answered (or that would have been).
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

// Requests returns a copy of every request received, in arrival order.
func (s *Server) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.requests)
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
	s.requests = nil
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
	s.requests = append(s.requests, *rec)
}

// abandon records a request given up during an injected delay.
func (s *Server) abandon(rec *RecordedRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(rec, response{})
}
