package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// CheckID accepts what Persona's ids are made of: 1 to 128 of
// [A-Za-z0-9_-]. Anything else never reaches the database or Persona.
func CheckID(id string) error {
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

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// StatusRecorder remembers the status a handler answered: Code is zero
// until the handler writes, and 200 once it writes a body without a status.
type StatusRecorder struct {
	http.ResponseWriter
	Code int
}

// WriteHeader records code, the first time, and passes it on.
func (r *StatusRecorder) WriteHeader(code int) {
	if r.Code == 0 {
		r.Code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (r *StatusRecorder) Write(b []byte) (int, error) {
	if r.Code == 0 {
		r.Code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
