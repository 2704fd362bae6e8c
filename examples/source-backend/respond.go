package main

import (
	"encoding/json"
	"errors"
	"net/http"

	connect "github.com/personaconnect/connect-go"
)

// errorBody is every error answer's JSON.
type errorBody struct {
	Error string `json:"error"`
	// Field names the parameter the SDK refused (400).
	Field string `json:"field,omitempty"`
	// PersonaRequestID is Persona's Request-Id, to quote to Persona support.
	PersonaRequestID string `json:"persona_request_id,omitempty"`
	// ShareTokenID and TokenExpired describe a failed hand-over.
	ShareTokenID string `json:"share_token_id,omitempty"`
	TokenExpired *bool  `json:"token_expired,omitempty"`
}

// writeError answers err, as errorAnswer says.
func writeError(w http.ResponseWriter, err error) {
	status, body := errorAnswer(err)
	writeJSON(w, status, body)
}

// errorAnswer is the answer to err: a parameter the SDK refused is 400;
// Persona's 404, 409 and 422 pass through; anything else Persona or the
// network did is 502.
func errorAnswer(err error) (int, errorBody) {
	var verr *connect.ValidationError
	if errors.As(err, &verr) {
		return http.StatusBadRequest, errorBody{Error: verr.Error(), Field: verr.Field}
	}
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		status := http.StatusBadGateway
		switch apiErr.StatusCode {
		case http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
			status = apiErr.StatusCode
		}
		return status, errorBody{Error: apiErr.Error(), PersonaRequestID: apiErr.RequestID}
	}
	return http.StatusBadGateway, errorBody{Error: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
