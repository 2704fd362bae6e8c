package connecttest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBody is the largest request body the fake reads (1 MiB).
const maxBody = 1 << 20

// serveHTTP is the request pipeline, in Persona's order: request id,
// authentication, rate limiting, edge faults (gateway-style statuses that
// never reach the application), idempotency, application faults, then the
// route's handler.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID("req")
	rec := RecordedRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, RequestID: reqID,
	}
	h := w.Header()
	h.Set("Request-Id", reqID)
	h.Set("Content-Type", "application/json; charset=utf-8")

	s.mu.Lock()
	now := s.nowLocked()
	rec.Time = now
	org := s.authLocked(r)
	if org == nil {
		resp := errResp(http.StatusUnauthorized, "")
		s.finishLocked(&rec, resp)
		s.mu.Unlock()
		deliver(w, resp, false)
		return
	}
	s.mu.Unlock()
	// Only now is the body read: an unauthenticated request costs no more
	// than its headers, whatever it sends.
	body, tooLarge := readBody(r)
	rec.Header, rec.Body = r.Header.Clone(), body
	s.mu.Lock()
	rec.OrganizationID = org.ID
	h.Set("Persona-Organization-Id", org.ID)
	h.Set("Persona-Environment-Id", org.EnvironmentID)
	if !s.rateLimitLocked(org.ID, now, h) {
		resp := errResp(http.StatusTooManyRequests,
			"You have hit your rate limit of "+strconv.Itoa(s.rlLimit)+" requests / "+windowName(s.rlWindow)+".")
		s.finishLocked(&rec, resp)
		s.mu.Unlock()
		deliver(w, resp, false)
		return
	}
	f := s.takeFaultLocked(r, true)
	s.mu.Unlock()

	if f != nil {
		if !s.wait(r.Context(), f.Delay) {
			s.abandon(&rec)
			return
		}
		resp := f.response()
		s.mu.Lock()
		rec.Fault = true
		rec.Dropped = f.DropAfterProcessing
		s.finishLocked(&rec, resp)
		s.mu.Unlock()
		deliver(w, resp, f.DropAfterProcessing)
		return
	}
	s.application(w, r, org, body, tooLarge, &rec)
}

// application runs the idempotency layer, application faults and the
// handler. A POST with an Idempotency-Key is the key's only request in
// flight from its lookup to its stored response: a twin that arrives
// meanwhile waits for it (see claimKeyLocked), so one key has one effect
// and one stored response whatever the concurrency.
func (s *Server) application(w http.ResponseWriter, r *http.Request, org *Organization, body []byte, tooLarge bool, rec *RecordedRequest) {
	var key, fp string
	if r.Method == http.MethodPost {
		key = r.Header.Get("Idempotency-Key")
		fp = fingerprint(r, body)
	}
	infl, bad := requestInflection(r)
	if bad != nil {
		// Answered before the idempotency layer: a retry with the header
		// fixed runs.
		s.mu.Lock()
		s.finishLocked(rec, *bad)
		s.mu.Unlock()
		deliver(w, *bad, false)
		return
	}
	s.mu.Lock()
	resp, replayed, answered, ok := s.claimKeyLocked(r.Context(), org.ID, key, fp)
	switch {
	case !ok:
		s.mu.Unlock()
		s.abandon(rec)
		return
	case answered:
		rec.Replayed = replayed
		resp = resp.inflected(infl)
		s.finishLocked(rec, resp)
		s.mu.Unlock()
		deliver(w, resp, false)
		return
	}
	// This request now holds the key (if any) until releaseKeyLocked.
	f := s.takeFaultLocked(r, false)
	s.mu.Unlock()

	if f != nil && !s.wait(r.Context(), f.Delay) {
		s.mu.Lock()
		s.releaseKeyLocked(org.ID, key)
		s.mu.Unlock()
		s.abandon(rec)
		return
	}

	s.mu.Lock()
	now := s.nowLocked()
	switch {
	case f != nil && f.Status != 0:
		resp = f.response()
		rec.Fault = true
	case tooLarge:
		resp = badRequest("Request body is larger than 1 MiB")
	default:
		resp = s.handleLocked(r, org, body, now)
	}
	if key != "" && storable(resp.status) {
		s.idemStoreLocked(org.ID, key, fp, resp, now)
	}
	s.releaseKeyLocked(org.ID, key)
	drop := f != nil && f.DropAfterProcessing
	rec.Dropped = drop
	resp = resp.inflected(infl)
	s.finishLocked(rec, resp)
	s.mu.Unlock()
	deliver(w, resp, drop)
}

type callKey struct{}

// call carries one request's context to its route handler.
type call struct {
	org  *Organization
	body []byte
	now  time.Time
	resp response
}

// handleLocked dispatches to the route's handler through the ServeMux, so
// that handlers can use r.PathValue. A panic in a handler is a bug in the
// fake; it answers 500 rather than killing the connection.
func (s *Server) handleLocked(r *http.Request, org *Organization, body []byte, now time.Time) (resp response) {
	defer func() {
		if p := recover(); p != nil {
			resp = errResp(http.StatusInternalServerError, "connecttest: internal error")
		}
	}()
	s.settleLocked(now)
	c := &call{org: org, body: body, now: now,
		resp: notFound("No route matches " + r.Method + " " + r.URL.Path)}
	s.mux.ServeHTTP(discardWriter{}, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
	return c.resp
}

// routes registers the Connect endpoints, and the Events, objects and
// webhook-rotation endpoints beside them.
func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	handle := func(pattern string, fn func(c *call, r *http.Request) response) {
		m.HandleFunc(pattern, func(_ http.ResponseWriter, r *http.Request) {
			if c, ok := r.Context().Value(callKey{}).(*call); ok {
				c.resp = fn(c, r)
			}
		})
	}
	const st, cx = BasePath + "/connect/share-tokens", BasePath + "/connect/connections"
	handle("GET "+st, s.listShareTokens)
	handle("POST "+st, s.createShareToken)
	handle("GET "+st+"/{id}", s.getShareToken)
	handle("POST "+st+"/{id}/expire", s.expireShareToken)
	handle("POST "+st+"/{id}/redeem", s.redeemShareToken)
	handle("GET "+cx, s.listConnections)
	handle("POST "+cx, s.createConnection)
	handle("GET "+cx+"/{id}", s.getConnection)
	handle("POST "+cx+"/{id}/deactivate", s.deactivateConnection)
	handle("POST "+cx+"/{id}/reactivate", s.reactivateConnection)
	handle("GET "+BasePath+"/events", s.listEvents)
	handle("GET "+BasePath+"/events/{id}", s.getEvent)
	handle("GET "+BasePath+"/inquiries/{id}", s.getObject(isType(TypeInquiry)))
	handle("GET "+BasePath+"/accounts/{id}", s.getObject(isType(TypeAccount)))
	handle("GET "+BasePath+"/transactions/{id}", s.getObject(isType(TypeTransaction)))
	handle("GET "+BasePath+"/verifications/{id}", s.getObject(isVerification))
	handle("POST "+BasePath+"/webhooks/{id}/rotate-secret", s.rotateWebhookSecret)
	return m
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// readBody reads at most maxBody bytes; tooLarge reports a longer body.
func readBody(r *http.Request) (body []byte, tooLarge bool) {
	if r.Body == nil {
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return b, false
	}
	if len(b) > maxBody {
		return b[:maxBody], true
	}
	return b, false
}

// wait sleeps for d, and reports false when the request's context is done
// or the server is closing first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// deliver writes resp, or, when drop is set, closes the connection without
// writing a byte: the client sees EOF while the fake has done the work.
func deliver(w http.ResponseWriter, resp response, drop bool) {
	if drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
			return
		}
		panic(http.ErrAbortHandler)
	}
	if resp.retryAfter != "" {
		w.Header().Set("Retry-After", resp.retryAfter)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = io.Copy(w, bytes.NewReader(resp.body))
}
