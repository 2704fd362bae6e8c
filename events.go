package connect

import (
	"encoding/json"
	"strings"
	"time"
)

// Event is one of Persona's events: something that happened to an object of
// the organization, such as an inquiry completing or a share token being
// redeemed. The same event reaches a service as a webhook delivery
// (WebhookEvent) and through the Events API.
type Event struct {
	// ID is the event's id ("evt_…"), the same in every delivery of it.
	ID string
	// Name is the event's name, such as EventShareTokenInboundCreated or
	// EventInquiryCompleted.
	Name      string
	CreatedAt time.Time
	// Payload is the event's payload object ({"data": …, "included": …}),
	// with kebab-case keys whatever a webhook's key inflection (see
	// ParseWebhookEvent); values as received.
	Payload json.RawMessage
	// Object names the resource the payload carries, such as
	// {Type: "inquiry", ID: "inq_…"}; nil when the payload has none.
	Object *ResourceRef
	// ShareToken is the token in the payload of connect/share-token.*
	// events, decoded as API responses are; nil for other events.
	ShareToken *ShareToken
}

// eventResource is an event as the API and webhook bodies carry it.
type eventResource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Name      string          `json:"name"`
		CreatedAt time.Time       `json:"created-at"`
		Payload   json.RawMessage `json:"payload"`
	} `json:"attributes"`
}

func (r *eventResource) ident() (string, string) { return r.Type, r.ID }

// event converts the wire form. It reads the payload's data for Object, and
// for connect/share-token.* events decodes it as a share token; a payload
// that does not hold what its name promises is an error naming the event.
func (r *eventResource) event() (*Event, error) {
	a := &r.Attributes
	ev := &Event{ID: r.ID, Name: a.Name, CreatedAt: a.CreatedAt, Payload: a.Payload}
	if len(a.Payload) == 0 || string(a.Payload) == "null" {
		return ev, nil
	}
	if strings.HasPrefix(ev.Name, "connect/share-token.") {
		doc := document[shareTokenResource]{want: typeShareToken}
		if err := json.Unmarshal(a.Payload, &doc); err != nil {
			return nil, err
		}
		if reason := doc.check(); reason != "" {
			return nil, &UnexpectedResponseError{Reason: "event " + ev.ID + " payload: " + reason}
		}
		ev.ShareToken = doc.Data.shareToken()
		ev.Object = &ResourceRef{Type: doc.Data.Type, ID: doc.Data.ID}
		return ev, nil
	}
	var head struct {
		Data *ResourceRef `json:"data"`
	}
	if err := json.Unmarshal(a.Payload, &head); err != nil {
		return nil, err
	}
	if head.Data != nil && head.Data.ID != "" {
		ev.Object = head.Data
	}
	return ev, nil
}
