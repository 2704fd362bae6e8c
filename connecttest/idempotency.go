package connecttest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Idempotency keys, as Persona keeps them: per organization and key, the
// first response to a POST carrying Idempotency-Key is stored for 24 hours
// on the server's clock and replayed (same status and body, a new
// Request-Id; no header marks a replay, as none is documented by Persona:
// RecordedRequest.Replayed does) to any later POST with the same key,
// method, path, query and body (whitespace in a JSON body does not
// matter). A POST that arrives while the first with its key is still
// being processed waits for it and gets its response: one key has one
// effect and one stored response, however many requests race. Failures are stored too, 500 included; 401 and
// 429 are not (authentication and rate limiting run first), nor are the
// gateway-style statuses 408, 502, 503 and 504 of injected faults. The
// same key with a different method, path, query or body is a 422 that is
// not stored. GET requests ignore the header.

type idemKey struct{ org, key string }

// idemFlight is a POST being processed under its key: twins wait for done.
type idemFlight struct {
	fingerprint string
	done        chan struct{}
}

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
		return keyReused(key), false, true
	}
	s.stats.Replays++
	return e.resp, true, true
}

func (s *Server) idemStoreLocked(org, key, fp string, resp response, now time.Time) {
	s.idem[idemKey{org, key}] = &idemEntry{fingerprint: fp, resp: resp, expires: now.Add(s.idemTTL)}
}

func keyReused(key string) response {
	return errResp(http.StatusUnprocessableEntity,
		"Idempotency-Key "+key+" was already used with different request parameters")
}

// claimKeyLocked runs the idempotency layer for a request. answered reports
// that resp is the answer: a replay (replayed true) or a 422 for a key
// reused with other parameters, including while the first request is in
// flight. Otherwise the request holds its key, if it has one, until
// releaseKeyLocked: a twin (same key and parameters) that comes meanwhile
// waits here for it, releasing s.mu while it waits, and then gets the
// stored response, or holds the key itself when the first stored nothing
// (it was abandoned, or answered a status that is never stored). ok is
// false when the request's context ended, or the server closed, during such
// a wait.
func (s *Server) claimKeyLocked(ctx context.Context, org, key, fp string) (resp response, replayed, answered, ok bool) {
	if key == "" {
		return response{}, false, false, true
	}
	k := idemKey{org, key}
	for {
		if resp, replayed, found := s.idemLookupLocked(org, key, fp, s.nowLocked()); found {
			return resp, replayed, true, true
		}
		fl := s.inflight[k]
		if fl == nil {
			s.inflight[k] = &idemFlight{fingerprint: fp, done: make(chan struct{})}
			return response{}, false, false, true
		}
		if fl.fingerprint != fp {
			return keyReused(key), false, true, true
		}
		s.mu.Unlock()
		select {
		case <-fl.done:
			s.mu.Lock()
		case <-ctx.Done():
			s.mu.Lock()
			return response{}, false, false, false
		case <-s.closed:
			s.mu.Lock()
			return response{}, false, false, false
		}
	}
}

// releaseKeyLocked ends the request's hold on its key and wakes its twins.
func (s *Server) releaseKeyLocked(org, key string) {
	k := idemKey{org, key}
	if fl := s.inflight[k]; fl != nil && key != "" {
		delete(s.inflight, k)
		close(fl.done)
	}
}
