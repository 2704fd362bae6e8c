package connecttest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
)

// Idempotency keys, as Persona keeps them: per organization and key, the
// first response to a POST carrying Idempotency-Key is stored for 24 hours
// on the server's clock and replayed (same status and body, a new
// Request-Id, and the header Idempotent-Replayed: true) to any later POST
// with the same key, method, path, query and body (whitespace in a JSON
// body does not matter). Failures are stored too, 500 included; 401 and
// 429 are not (authentication and rate limiting run first), nor are the
// gateway-style statuses 408, 502, 503 and 504 of injected faults. The
// same key with a different method, path, query or body is a 422 that is
// not stored. GET requests ignore the header.

type idemKey struct{ org, key string }

type idemEntry struct {
	fingerprint string
	resp        response
	expires     time.Time
}

// fingerprint identifies the parameters of a request for idempotency.
func fingerprint(r *http.Request, body []byte) string {
	b := body
	var buf bytes.Buffer
	if json.Compact(&buf, body) == nil {
		b = buf.Bytes()
	}
	return r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery + "\n" + string(b)
}

func storable(status int) bool {
	return status != http.StatusUnauthorized && status != http.StatusTooManyRequests && !edgeStatus(status)
}

// idemLookupLocked finds a stored response for the key. ok reports that
// the request is answered here: by a replay (replayed true) or by a 422 for
// a key reused with other parameters.
func (s *Server) idemLookupLocked(org, key, fp string, now time.Time) (resp response, replayed, ok bool) {
	if key == "" {
		return response{}, false, false
	}
	k := idemKey{org, key}
	e, found := s.idem[k]
	if !found {
		return response{}, false, false
	}
	if !now.Before(e.expires) {
		delete(s.idem, k)
		return response{}, false, false
	}
	if e.fingerprint != fp {
		return errResp(http.StatusUnprocessableEntity,
			"Idempotency-Key "+key+" was already used with different request parameters"), false, true
	}
	s.stats.Replays++
	return e.resp, true, true
}

func (s *Server) idemStoreLocked(org, key, fp string, resp response, now time.Time) {
	s.idem[idemKey{org, key}] = &idemEntry{fingerprint: fp, resp: resp, expires: now.Add(s.idemTTL)}
}
