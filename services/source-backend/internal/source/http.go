package source

import (
	"fmt"
	"net/http"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

func (s *Service) routes() error {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /inquiries/{id}/completed", s.handleCompleted)
	s.mux.HandleFunc("GET /inquiries/{id}", s.handleGet)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		durable.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.q.Ready)
	s.mux.Handle("GET /metrics", durable.MetricsHandler(s.metrics.reg))
	if len(s.cfg.WebhookSecrets) == 0 {
		s.log.Info("webhooks off: no webhook secret")
		return nil
	}
	opts := append([]connect.WebhookHandlerOption{connect.WithWebhookDeduper(s.dedupe)}, s.cfg.WebhookOptions...)
	webhooks, err := connect.NewWebhookHandler(s.cfg.WebhookSecrets, s.handleEvent, opts...)
	if err != nil {
		return fmt.Errorf("webhook handler: %w", err)
	}
	s.mux.Handle("/webhooks/persona", durable.CountDeliveries(webhooks, s.metrics.webhooks))
	return nil
}

// ServeHTTP serves the service's routes.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// view is the JSON of an inquiry's state.
type view struct {
	InquiryID    string    `json:"inquiry_id"`
	State        string    `json:"state"`
	ShareTokenID string    `json:"share_token_id,omitempty"`
	Attempt      int       `json:"attempt"`
	Replacements int       `json:"replacements"`
	ReceivedVia  string    `json:"received_via"`
	LastError    string    `json:"last_error,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func newView(r inquiryRow) view {
	return view{InquiryID: r.ID, State: r.State, ShareTokenID: r.ShareTokenID, Attempt: r.Attempt,
		Replacements: r.Replacements, ReceivedVia: r.Via, LastError: r.LastError, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// statusOfRow: 200 once the destination has the token, 422 when the
// inquiry will not be shared (gave up), 202 while work remains.
func statusOfRow(r inquiryRow) int {
	switch r.State {
	case stateHandedOver:
		return http.StatusOK
	case stateGaveUp:
		return http.StatusUnprocessableEntity
	}
	return http.StatusAccepted
}

// handleCompleted records that the inquiry completed and queues its
// sharing; it answers once that is durable, without waiting for Persona or
// the destination. Repeats are safe and report the state.
func (s *Service) handleCompleted(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := durable.CheckID(id); err != nil {
		durable.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "inquiry id " + err.Error(), Field: "id"})
		return
	}
	row, err := s.accept(r.Context(), id, "notification")
	if err != nil {
		s.log.Error("inquiry not recorded", "inquiry_id", id, "error", err)
		durable.WriteJSON(w, http.StatusServiceUnavailable, errorBody{Error: errNotRecorded.Error()})
		return
	}
	durable.WriteJSON(w, statusOfRow(row), newView(row))
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := durable.CheckID(id); err != nil {
		durable.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "inquiry id " + err.Error(), Field: "id"})
		return
	}
	row, found, err := s.st.get(r.Context(), id)
	switch {
	case err != nil:
		durable.WriteJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable"})
	case !found:
		durable.WriteJSON(w, http.StatusNotFound, errorBody{Error: "inquiry not known here"})
	default:
		durable.WriteJSON(w, statusOfRow(row), newView(row))
	}
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
