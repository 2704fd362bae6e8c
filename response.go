package connect

import (
	"net/http"
	"time"

	"github.com/personaconnect/connect-go/internal/engine"
)

// Response is the metadata of the final HTTP response of a call, filled by
// [WithResponseInto]. When no response arrived (a transport error), only
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

// RateLimit is the state of the rate-limit window as of a response. A
// header that is absent or not a non-negative integer leaves its field zero.
type RateLimit struct {
	Limit     int
	Remaining int
	// Reset is the time left until the window resets. RateLimit-Reset is
	// read as seconds up to an hour; a larger value as a Unix timestamp
	// (some gateways send one) when it lies within an hour of now, and
	// otherwise not at all: Reset is then zero.
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
	rl := engine.ParseRateLimit(res.Header, time.Now())
	r.RateLimit = RateLimit{Limit: rl.Limit, Remaining: rl.Remaining, Reset: rl.Reset}
	return r
}
