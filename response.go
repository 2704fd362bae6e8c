package connect

import (
	"net/http"
	"strconv"
	"time"

	"github.com/personaconnect/connect-go/internal/engine"
)

// Response is the metadata of the final HTTP response of a call, filled by
// WithResponseInto. When no response arrived (a transport error), only
// Attempts is set.
type Response struct {
	StatusCode int
	Header     http.Header
	// RequestID is Persona's Request-Id ("req_…"): quote it to Persona support.
	RequestID      string
	EnvironmentID  string
	OrganizationID string
	RateLimit      RateLimit
	// Attempts counts the HTTP requests the call sent, retries included.
	Attempts int
}

// RateLimit is the state of the rate-limit window as of a response.
type RateLimit struct {
	Limit     int
	Remaining int
	// Reset is the time left until the window resets.
	Reset time.Duration
}

func newResponse(res *engine.Result) Response {
	r := Response{StatusCode: res.StatusCode, Header: res.Header, Attempts: res.Attempts}
	if res.Header == nil {
		return r
	}
	r.RequestID = res.Header.Get("Request-Id")
	r.EnvironmentID = res.Header.Get("Persona-Environment-Id")
	r.OrganizationID = res.Header.Get("Persona-Organization-Id")
	r.RateLimit.Limit, _ = strconv.Atoi(res.Header.Get("RateLimit-Limit"))
	r.RateLimit.Remaining, _ = strconv.Atoi(res.Header.Get("RateLimit-Remaining"))
	if secs, err := strconv.Atoi(res.Header.Get("RateLimit-Reset")); err == nil {
		r.RateLimit.Reset = time.Duration(secs) * time.Second
	}
	return r
}
