package connecttest

import (
	"net/http"
	"time"
)

// rotateWebhookSecret serves POST /webhooks/{id}/rotate-secret with the
// same rotation as RotateWebhookSecret. meta.expires-in-seconds keeps the
// old secret valid that long; without it the old secret stays valid for
// DefaultOldSecretExpiresIn. Another organization's webhook is a 404.
func (s *Server) rotateWebhookSecret(c *call, r *http.Request) response {
	var req struct {
		Meta *struct {
			ExpiresIn *int64 `json:"expires-in-seconds"`
		} `json:"meta"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return badRequest(err.Error())
	}
	expiresIn := DefaultOldSecretExpiresIn
	if req.Meta != nil && req.Meta.ExpiresIn != nil {
		if *req.Meta.ExpiresIn < 0 {
			return errPointer("expires-in-seconds must not be negative", "/meta/expires-in-seconds")
		}
		expiresIn = time.Duration(*req.Meta.ExpiresIn) * time.Second
	}
	h := s.webhookLocked(r.PathValue("id"))
	if h == nil || h.org != c.org.ID {
		return notFound("")
	}
	h.rotateLocked(expiresIn, c.now)
	return jsonResp(http.StatusOK, document{Data: h.resource()})
}

// DefaultOldSecretExpiresIn is how long the fake's rotate-secret endpoint
// keeps the old secret valid when the request does not say. Persona does
// not document its default; the fake picks one that lets a test see both
// secrets in use.
const DefaultOldSecretExpiresIn = time.Hour

type webhookSecretWire struct {
	Value     string  `json:"value"`
	ExpiresAt *string `json:"expires-at"`
}

type webhookResource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
}

// rotateLocked gives h a fresh current secret; the previous current one
// stays valid for expiresIn (0 or less: it stops at once).
func (h *webhook) rotateLocked(expiresIn time.Duration, now time.Time) {
	h.secrets = h.validSecrets(now)
	if len(h.secrets) > 0 && h.secrets[0].ExpiresAt.IsZero() {
		if expiresIn > 0 {
			h.secrets[0].ExpiresAt = now.Add(expiresIn)
		} else {
			h.secrets = h.secrets[1:]
		}
	}
	h.secrets = append([]WebhookSecret{{Value: newWebhookSecret()}}, h.secrets...)
}

// resource renders the webhook as Persona's webhook-with-secret.
func (h *webhook) resource() webhookResource {
	secrets := make([]webhookSecretWire, len(h.secrets))
	for i, sec := range h.secrets {
		secrets[i] = webhookSecretWire{Value: sec.Value, ExpiresAt: formatTimePtr(sec.ExpiresAt)}
	}
	return webhookResource{Type: "webhook", ID: h.id, Attributes: map[string]any{
		"status": "enabled", "url": h.url, "name": nil, "description": nil,
		"secret": h.secrets[0].Value, "secrets": secrets,
		"api-version": "2025-12-08", "api-key-inflection": "kebab",
		"enabled-events": h.events, "created-at": formatTime(h.createdAt),
	}}
}
