package connecttest

import (
	"math/rand/v2"
	"time"
)

const idAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"

// newID returns prefix + "_" + 24 random characters, the shape of Persona's
// object tokens (inq_…, cnst_…, req_…).
func newID(prefix string) string {
	return prefix + "_" + randomString(24)
}

func randomString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}

// timeFormat is Persona's timestamp format: ISO 8601, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string {
	return t.UTC().Format(timeFormat)
}

// formatTimePtr renders a nullable timestamp: the zero time is null.
func formatTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
