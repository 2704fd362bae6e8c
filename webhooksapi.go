package connect

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// WebhooksService manages the organization's webhooks. Get it from
// [Client].Webhooks. (Receiving deliveries is [NewWebhookHandler]'s job.)
type WebhooksService struct {
	client *Client
}

// Webhook is one of the organization's webhooks, as Persona returns it
// after a change.
type Webhook struct {
	// ID is the webhook's id ("wbh_…").
	ID string
	// Status is the webhook's state, such as "enabled" or "disabled".
	Status string
	// URL is where Persona delivers the events.
	URL string
	// Name and Description are the labels given in the Dashboard; empty
	// when unset.
	Name, Description string
	// EnabledEvents are the event names the webhook receives ("*": all).
	EnabledEvents []string
	// APIVersion is the Persona-Version the payloads are rendered in.
	APIVersion string
	CreatedAt  time.Time
	// Secrets are the webhook's signing secrets as Persona lists them: the
	// current one has a nil ExpiresAt; one that a rotation left valid for a
	// while carries when it stops. Printing a WebhookSecret with fmt never
	// shows its value.
	Secrets []WebhookSecret
}

// WebhookSecret is one signing secret of a webhook. Its Format hides the
// value, so that a Webhook can be logged; read Value to configure a
// receiver.
type WebhookSecret struct {
	// Value is the secret ("wbhsec_…"), as [NewWebhookHandler] takes it.
	Value string
	// ExpiresAt is when the secret stops being used; nil for the current one.
	ExpiresAt *time.Time
}

// Format renders the secret without its value, whatever the verb.
func (s WebhookSecret) Format(f fmt.State, _ rune) {
	exp := "never"
	if s.ExpiresAt != nil {
		exp = s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(f, "connect.WebhookSecret{Value: [redacted], ExpiresAt: %s}", exp)
}

// CurrentSecret returns the value of the secret without an expiry: the
// one every delivery will be signed with from now on. It is empty when the
// webhook carries none.
func (w *Webhook) CurrentSecret() string {
	if w == nil {
		return ""
	}
	for _, s := range w.Secrets {
		if s.ExpiresAt == nil {
			return s.Value
		}
	}
	return ""
}

// WebhookRotateSecretParams are the parameters of
// [WebhooksService.RotateSecret].
type WebhookRotateSecretParams struct {
	// OldSecretExpiresIn keeps the current secret valid this long after the
	// rotation, in whole seconds, so that receivers can be given the new
	// one meanwhile: deliveries carry a signature for each valid secret.
	// Zero leaves it to Persona's default.
	OldSecretExpiresIn time.Duration
}

// RotateSecret gives a webhook a new signing secret and returns the
// webhook with its secrets: the new current one, and the old one while
// params.OldSecretExpiresIn lasts. Nil params use Persona's default. Give
// receivers both secrets ([NewWebhookHandler] takes several) until the old
// one expires.
//
// It calls POST /webhooks/{id}/rotate-secret; see Persona's reference, [Rotate a Webhook's secret].
//
// [Rotate a Webhook's secret]: https://docs.withpersona.com/api-reference/webhooks/rotate-a-webhook-secret
func (s *WebhooksService) RotateSecret(ctx context.Context, webhookID string, params *WebhookRotateSecretParams, opts ...RequestOption) (*Webhook, error) {
	if err := checkID("webhookID", webhookID); err != nil {
		return nil, err
	}
	body, err := params.body()
	if err != nil {
		return nil, err
	}
	return webhookKind.one(ctx, s.client, http.MethodPost, "/webhooks/"+webhookID+"/rotate-secret", nil, body, opts)
}

var webhookKind = &kind[webhookResource, Webhook]{typ: "webhook", convert: infallible((*webhookResource).webhook)}

type rotateSecretMeta struct {
	ExpiresInSeconds int64 `json:"expires-in-seconds,omitempty"`
}

// body is {"meta":{"expires-in-seconds":n}}, or {} for Persona's default:
// the document allows a body without meta, and a POST always carries one.
func (p *WebhookRotateSecretParams) body() (any, error) {
	var meta *rotateSecretMeta
	if p != nil && p.OldSecretExpiresIn != 0 {
		d := p.OldSecretExpiresIn
		switch {
		case d < time.Second:
			return nil, &ValidationError{Field: "OldSecretExpiresIn", Reason: "must be at least 1s (or 0 for Persona's default), got " + d.String()}
		case d%time.Second != 0:
			return nil, &ValidationError{Field: "OldSecretExpiresIn", Reason: "must be whole seconds, got " + d.String()}
		}
		meta = &rotateSecretMeta{ExpiresInSeconds: int64(d / time.Second)}
	}
	return struct {
		Meta *rotateSecretMeta `json:"meta,omitempty"`
	}{meta}, nil
}

type webhookResource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Status        string    `json:"status"`
		URL           string    `json:"url"`
		Name          *string   `json:"name"`
		Description   *string   `json:"description"`
		Secret        string    `json:"secret"`
		EnabledEvents []string  `json:"enabled-events"`
		APIVersion    string    `json:"api-version"`
		CreatedAt     time.Time `json:"created-at"`
		Secrets       []struct {
			Value     string     `json:"value"`
			ExpiresAt *time.Time `json:"expires-at"`
		} `json:"secrets"`
	} `json:"attributes"`
}

func (r *webhookResource) ident() (string, string) { return r.Type, r.ID }

// webhook converts the wire form. A body with only the deprecated single
// secret gives it as the current one.
func (r *webhookResource) webhook() *Webhook {
	a := &r.Attributes
	w := &Webhook{ID: r.ID, Status: a.Status, URL: a.URL, EnabledEvents: a.EnabledEvents,
		APIVersion: a.APIVersion, CreatedAt: a.CreatedAt}
	if a.Name != nil {
		w.Name = *a.Name
	}
	if a.Description != nil {
		w.Description = *a.Description
	}
	for _, s := range a.Secrets {
		w.Secrets = append(w.Secrets, WebhookSecret{Value: s.Value, ExpiresAt: s.ExpiresAt})
	}
	if len(w.Secrets) == 0 && a.Secret != "" {
		w.Secrets = []WebhookSecret{{Value: a.Secret}}
	}
	return w
}
