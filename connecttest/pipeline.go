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
	body, tooLarge := readBody(r)
	rec := RecordedRequest{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, RequestID: reqID,
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
// handler.
func (s *Server) application(w http.ResponseWriter, r *http.Request, org *Organization, body []byte, tooLarge bool, rec *RecordedRequest) {
	var key, fp string
	if r.Method == http.MethodPost {
		key = r.Header.Get("Idempotency-Key")
		fp = fingerprint(r, body)
	}
	s.mu.Lock()
	if resp, replayed, ok := s.idemLookupLocked(org.ID, key, fp, s.nowLocked()); ok {
		rec.Replayed = replayed
		s.finishLocked(rec, resp)
		s.mu.Unlock()
		markReplay(w, replayed)
		deliver(w, resp, false)
		return
	}
	f := s.takeFaultLocked(r, false)
	s.mu.Unlock()

	if f != nil && f.Delay > 0 {
		if !s.wait(r.Context(), f.Delay) {
			s.abandon(rec)
			return
		}
	}

	s.mu.Lock()
	now := s.nowLocked()
	if f != nil && f.Delay > 0 {
		// A twin request with the same key may have finished meanwhile.
		if resp, replayed, ok := s.idemLookupLocked(org.ID, key, fp, now); ok {
			rec.Replayed = replayed
			s.finishLocked(rec, resp)
			s.mu.Unlock()
			markReplay(w, replayed)
			deliver(w, resp, f.DropAfterProcessing)
			return
		}
	}
	var resp response
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
	drop := f != nil && f.DropAfterProcessing
	rec.Dropped = drop
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

func markReplay(w http.ResponseWriter, replayed bool) {
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
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
