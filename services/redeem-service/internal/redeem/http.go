package redeem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

func (s *Service) routes() error {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /share-tokens", s.handleHandOver)
	s.mux.HandleFunc("GET /share-tokens/{id}", s.handleGet)
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
		durable.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "body must be JSON: " + err.Error()})
		return
	}
	if err := durable.CheckID(in.ShareTokenID); err != nil {
		durable.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "share_token_id " + err.Error(), Field: "share_token_id"})
		return
	}
	row, err := s.accept(r.Context(), in.ShareTokenID, "hand-over")
	if err != nil {
		s.log.Error("hand-over not recorded", "share_token_id", in.ShareTokenID, "error", err)
		durable.WriteJSON(w, http.StatusServiceUnavailable, errorBody{Error: "not recorded; try again"})
		return
	}
	durable.WriteJSON(w, statusOfRow(row), newView(row))
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := durable.CheckID(id); err != nil {
		durable.WriteJSON(w, http.StatusBadRequest, errorBody{Error: "share token id " + err.Error()})
		return
	}
	row, found, err := s.st.get(r.Context(), id)
	switch {
	case err != nil:
		durable.WriteJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable"})
	case !found:
		durable.WriteJSON(w, http.StatusNotFound, errorBody{Error: "share token not known here"})
	default:
		durable.WriteJSON(w, statusOfRow(row), newView(row))
	}
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
