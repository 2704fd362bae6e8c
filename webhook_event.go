package connect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The Connect webhook events. Persona sends the outbound ones to the source
// and the inbound ones to the destination; the payload is the share token as
// that side sees it, decoded in [Event.ShareToken].
const (
	// EventShareTokenInboundCreated tells a destination that a token was
	// created for it; it can redeem at once.
	EventShareTokenInboundCreated = "connect/share-token.inbound-created"
	// EventShareTokenInboundRedeemed tells a destination that its redemption
	// finished.
	EventShareTokenInboundRedeemed = "connect/share-token.inbound-redeemed"
	// EventShareTokenOutboundCreated tells a source that it created a token.
	EventShareTokenOutboundCreated = "connect/share-token.outbound-created"
	// EventShareTokenOutboundRedeemed tells a source that the destination
	// redeemed its token.
	EventShareTokenOutboundRedeemed = "connect/share-token.outbound-redeemed"
)

// Inquiry events, which the Events API and webhooks carry besides Connect's.
// Their payload's data is the inquiry: [Event.Object] names it, and
// [Event.Payload] holds its attributes. A source typically shares an inquiry
// when it is completed.
const (
	// EventInquiryCompleted tells that an inquiry was completed by its
	// subject.
	EventInquiryCompleted = "inquiry.completed"
	// EventInquiryApproved tells that an inquiry was approved, by a
	// reviewer or a workflow.
	EventInquiryApproved = "inquiry.approved"
)

// WebhookEvent is one verified webhook delivery: the [Event], and what the
// delivery's headers said about it ([WebhookDelivery]). [NewWebhookHandler]
// passes one to its func; [ParseWebhookEvent] returns one.
type WebhookEvent struct {
	Event
	// Delivery describes this delivery attempt; it is zero outside a
	// handler built by NewWebhookHandler.
	Delivery WebhookDelivery
}

// WebhookDelivery is what Persona's delivery headers say about one attempt
// to deliver an event (Persona-Webhook-Attempts-Made, -Attempts-Left and
// -First-Attempted-At). A header that is missing or malformed (not a
// non-negative decimal integer; for the time, not positive Unix seconds)
// leaves its field zero.
type WebhookDelivery struct {
	// AttemptsMade counts the attempts so far, this one included.
	AttemptsMade int
	// AttemptsLeft counts the attempts Persona will still make if this one
	// fails.
	AttemptsLeft int
	// FirstAttemptedAt is when Persona first tried to deliver the event,
	// in UTC, to the second.
	FirstAttemptedAt time.Time
}

// webhookDelivery reads the delivery headers of a request.
func webhookDelivery(h http.Header) WebhookDelivery {
	d := WebhookDelivery{
		AttemptsMade: headerCount(h, "Persona-Webhook-Attempts-Made"),
		AttemptsLeft: headerCount(h, "Persona-Webhook-Attempts-Left"),
	}
	if sec, err := strconv.ParseInt(h.Get("Persona-Webhook-First-Attempted-At"), 10, 64); err == nil && sec > 0 {
		d.FirstAttemptedAt = time.Unix(sec, 0).UTC()
	}
	return d
}

// headerCount is a header's non-negative integer value, or 0.
func headerCount(h http.Header, name string) int {
	n, err := strconv.Atoi(h.Get(name))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ParseWebhookEvent verifies a delivery as [VerifyWebhookSignature] does and
// decodes it. Event names it does not know are returned, not refused; for
// connect/share-token.* events [Event.ShareToken] is set.
//
// Persona writes each webhook's body in the key inflection chosen in that
// webhook's settings (kebab-case, camelCase or snake_case). All three decode
// to the same event, and Payload always holds the kebab-case form: every
// object key is rewritten ("createdAt" and "created_at" become
// "created-at") except the keys inside a "fields" object, which Persona does
// not inflect and which are field names as the organization defined them.
// Values are never rewritten. Delivery is zero: only the handler
// ([NewWebhookHandler]) sees the delivery headers.
func ParseWebhookEvent(payload []byte, header string, secrets []string, opts ...WebhookOption) (*WebhookEvent, error) {
	v, err := newWebhookVerifier(opts)
	if err != nil {
		return nil, err
	}
	if err := v.verify(payload, header, secrets); err != nil {
		return nil, err
	}
	return decodeWebhookEvent(payload)
}

var errMalformedWebhook = errors.New("connect: malformed webhook event")

func decodeWebhookEvent(payload []byte) (*WebhookEvent, error) {
	if !json.Valid(payload) {
		return nil, fmt.Errorf("%w: not a JSON document", errMalformedWebhook)
	}
	var env struct {
		Data eventResource `json:"data"`
	}
	if err := json.Unmarshal(kebabKeys(payload), &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformedWebhook, err)
	}
	d := &env.Data
	if d.ID == "" || d.Attributes.Name == "" {
		return nil, fmt.Errorf("%w: no data.id or data.attributes.name", errMalformedWebhook)
	}
	ev, err := d.event()
	if err != nil {
		return nil, fmt.Errorf("connect: malformed payload in webhook event %s: %w", d.ID, err)
	}
	return &WebhookEvent{Event: *ev}, nil
}
