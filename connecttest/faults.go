package connecttest

import (
	"net/http"
	"strings"
	"time"
)

// A Fault makes the server misbehave on purpose for the next Count
// requests that match Method and PathPrefix. Inject one with
// Server.InjectFault.
//
// A fault whose Status is 401, 408, 429, 502, 503 or 504 acts at the edge,
// as a gateway would: right after authentication and rate limiting, before
// idempotency, and its response is never stored under an Idempotency-Key.
// Any other fault acts in the application, after the idempotency layer:
// a request replayed from a stored response does not consume it, and the
// fault's response to a POST with an Idempotency-Key is stored and
// replayed like any other (so an injected 500 is repeated to a retry with
// the same key, as Persona does).
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// PathPrefix matches the start of the request path, given with or
	// without the "/api/v1" prefix (for example "/connect/share-tokens");
	// empty matches any path.
	PathPrefix string
	// Status, when not 0, is answered instead of running the request,
	// with Persona's error body for that status (or Body).
	Status int
	// Body, when not empty, replaces the error body of Status.
	Body string
	// RetryAfter, when not empty, is sent as the Retry-After header with
	// Status (for example "2", or an HTTP date).
	RetryAfter string
	// Count is how many matching requests the fault applies to: 0 means 1,
	// a negative Count means every matching request until ClearFaults.
	Count int
	// DropAfterProcessing processes the request completely (state changes,
	// stored idempotent response) and then closes the connection without
	// writing a response: the client sees EOF or a reset.
	DropAfterProcessing bool
	// Delay holds the request this long (in real time, not on the Clock)
	// before it is processed. If the client gives up first, or the server
	// is closed, the request is abandoned unprocessed.
	Delay time.Duration
}

type faultState struct {
	Fault
	remaining int // < 0: unlimited
}

// InjectFault arms f. Faults are matched in the order they were injected;
// each matching request consumes one use of the first fault that matches.
func (s *Server) InjectFault(f Fault) {
	n := f.Count
	if n == 0 {
		n = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f, remaining: n})
}

// ClearFaults disarms every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// edgeStatus reports the statuses a gateway answers before the
// application (and its idempotency layer) sees the request.
func edgeStatus(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// takeFaultLocked consumes one use of the first armed fault of the phase
// (edge or application) that matches r.
func (s *Server) takeFaultLocked(r *http.Request, edge bool) *Fault {
	for i, f := range s.faults {
		if edgeStatus(f.Status) != edge || !f.matches(r) {
			continue
		}
		if f.remaining > 0 {
			f.remaining--
			if f.remaining == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		s.stats.Faults++
		ff := f.Fault
		return &ff
	}
	return nil
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	p := f.PathPrefix
	return p == "" || strings.HasPrefix(r.URL.Path, p) || strings.HasPrefix(r.URL.Path, BasePath+p)
}

// response is what the fault answers.
func (f *Fault) response() response {
	var resp response
	if f.Body != "" {
		resp = response{status: f.Status, body: []byte(f.Body), verbatim: true}
	} else {
		resp = errResp(f.Status, "connecttest: injected fault")
	}
	resp.retryAfter = f.RetryAfter
	return resp
}
