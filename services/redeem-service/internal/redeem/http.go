package redeem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	connect "github.com/personaconnect/connect-go"
)

func (s *Service) routes() error {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /share-tokens", s.handleHandOver)
	s.mux.HandleFunc("GET /share-tokens/{id}", s.handleGet)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", s.metrics.handler())
	if len(s.cfg.WebhookSecrets) == 0 {
		s.log.Info("webhooks off: no webhook secret")
		return nil
	}
	opts := append([]connect.WebhookHandlerOption{connect.WithWebhookDeduper(s.dedupe)}, s.cfg.WebhookOptions...)
	webhooks, err := connect.NewWebhookHandler(s.cfg.WebhookSecrets, s.handleEvent, opts...)
	if err != nil {
		return fmt.Errorf("webhook handler: %w", err)
	}
	s.mux.Handle("/webhooks/persona", countDeliveries(webhooks, s.metrics.webhooks))
	return nil
}

// ServeHTTP serves the service's routes.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// view is the JSON of a token's state.
type view struct {
	ShareTokenID  string               `json:"share_token_id"`
	State         string               `json:"state"`
	Attempt       int                  `json:"attempt"`
	ReceivedVia   string               `json:"received_via"`
	Destination   *connect.ResourceRef `json:"destination"`
	FailureReason string               `json:"failure_reason,omitempty"`
	LastError     string               `json:"last_error,omitempty"`
	CreatedAt     time.Time            `json:"created_at"`
	UpdatedAt     time.Time            `json:"updated_at"`
}

func newView(r tokenRow) view {
	v := view{ShareTokenID: r.ID, State: r.State, Attempt: r.Attempt, ReceivedVia: r.Via,
		FailureReason: r.FailureReason, LastError: r.LastError, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if r.DestinationID != "" {
		v.Destination = &connect.ResourceRef{Type: r.DestinationType, ID: r.DestinationID}
	}
	return v
}

// statusOfRow is the HTTP status that reports a token: 200 redeemed, 422
// failed, expired or rejected, 202 still in progress.
func statusOfRow(r tokenRow) int {
	switch r.State {
	case stateRedeemed:
		return http.StatusOK
	case stateFailed, stateExpired, stateRejected:
		return http.StatusUnprocessableEntity
	}
	return http.StatusAccepted
}

// handleHandOver records the token the source handed over and queues its
// redemption; it answers once both are durable, without waiting for
// Persona. Repeats are safe and report the state.
func (s *Service) handleHandOver(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ShareTokenID string `json:"share_token_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "body must be JSON: " + err.Error()})
		return
	}
	if err := checkTokenID(in.ShareTokenID); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "share_token_id " + err.Error(), Field: "share_token_id"})
		return
	}
	row, err := s.accept(r.Context(), in.ShareTokenID, "hand-over")
	if err != nil {
		s.log.Error("hand-over not recorded", "share_token_id", in.ShareTokenID, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not recorded; try again"})
		return
	}
	writeJSON(w, statusOfRow(row), newView(row))
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := checkTokenID(id); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "share token id " + err.Error()})
		return
	}
	row, found, err := s.st.get(r.Context(), id)
	switch {
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable"})
	case !found:
		writeJSON(w, http.StatusNotFound, errorBody{Error: "share token not known here"})
	default:
		writeJSON(w, statusOfRow(row), newView(row))
	}
}

// handleReady answers 200 when the database answers and the queue runs
// (migrations ran before it started); 503 otherwise, so that a load
// balancer sends no hand-over that could not be recorded.
func (s *Service) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if !s.started.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not started"})
		return
	}
	if err := s.b.DB.PingContext(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// checkTokenID accepts what Persona's ids are made of: 1 to 128 of
// [A-Za-z0-9_-]. Anything else never reaches the database or Persona.
func checkTokenID(id string) error {
	if id == "" {
		return errors.New("is required")
	}
	if len(id) > 128 {
		return errors.New("is longer than 128 bytes")
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return fmt.Errorf("may contain only letters, digits, '_' and '-'; found %q at byte %d", rune(b), i)
		}
	}
	return nil
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
