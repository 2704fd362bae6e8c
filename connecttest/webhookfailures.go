package connecttest

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// maxFailureSnippet is how much of a receiver's answer an error quotes.
const maxFailureSnippet = 200

// A WebhookFailuresError is what WaitWebhooks returns when deliveries were
// given up: every attempt failed, the last one included. Each failure is
// reported by one WaitWebhooks call only, the first to return after it.
// Use errors.As to get at the deliveries.
type WebhookFailuresError struct {
	// Failures are the last attempts of the deliveries given up, in the
	// order they ended. Status, Err and ResponseBody say what the
	// receiver did.
	Failures []WebhookDelivery
}

// Error lists each failed delivery with the receiver's status (or why it
// gave none) and the start of its answer.
func (e *WebhookFailuresError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connecttest: %d webhook deliver%s failed", len(e.Failures), plural(len(e.Failures), "y", "ies"))
	unauthorized := false
	for _, d := range e.Failures {
		fmt.Fprintf(&b, "; %s %s to %s after %d attempt%s: ", d.EventName, d.EventID, d.URL, d.Attempt, plural(d.Attempt, "", "s"))
		if d.Status == 0 {
			b.WriteString(d.Err)
			continue
		}
		fmt.Fprintf(&b, "last answered %d", d.Status)
		if snippet := failureSnippet(d.ResponseBody); snippet != "" {
			fmt.Fprintf(&b, " %q", snippet)
		}
		unauthorized = unauthorized || d.Status == http.StatusUnauthorized
	}
	if unauthorized {
		b.WriteString(" (a receiver answering 401 usually rejects the signature: check that it verifies with " +
			"Webhook.Secret and, on a manual Clock, with connect.WithWebhookClock(srv.Clock().Now))")
	}
	return b.String()
}

// failureSnippet is the start of a receiver's answer, cut at a character
// boundary.
func failureSnippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) <= maxFailureSnippet {
		return s
	}
	cut := maxFailureSnippet
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// unreportedFailuresLocked returns the deliveries given up since the last
// call, and marks them reported.
func (s *Server) unreportedFailuresLocked() error {
	var failed []WebhookDelivery
	for _, d := range s.wh.deliveries[s.wh.reported:] {
		if d.Outcome == WebhookFailed {
			failed = append(failed, d)
		}
	}
	s.wh.reported = len(s.wh.deliveries)
	if len(failed) == 0 {
		return nil
	}
	return &WebhookFailuresError{Failures: failed}
}
