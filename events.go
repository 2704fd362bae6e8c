package connect

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"net/http"
	"strings"
	"time"
)

// Event is one of Persona's events: something that happened to an object of
// the organization, such as an inquiry completing or a share token being
// redeemed. The same event reaches a service as a webhook delivery
// ([WebhookEvent]) and through the Events API ([EventsService]).
type Event struct {
	// ID is the event's id ("evt_…"), the same in every delivery of it.
	ID string
	// Name is the event's name, such as [EventShareTokenInboundCreated] or
	// [EventInquiryCompleted].
	Name      string
	CreatedAt time.Time
	// Payload is the event's payload object ({"data": …, "included": …}),
	// with kebab-case keys whatever a webhook's key inflection (see
	// [ParseWebhookEvent]); values as received.
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

// EventsService lists and reads the calling organization's events, as
// webhooks deliver them. A service that was down reads the events it missed
// here (see [EventsService.All]) and feeds them to the same handler as its
// webhook deliveries, deduplicating on the event id. Get it from
// [Client].Events.
type EventsService struct {
	client *Client
}

// EventListParams filter and page [EventsService.List] and
// [EventsService.All]. Every field is optional; the filters combine, and
// within one an event matches any of the values.
type EventListParams struct {
	// Names keeps events with one of these names, such as
	// [EventInquiryCompleted] (filter[name]). A name is printable ASCII
	// without spaces or commas: Persona splits the filter at commas.
	Names []string `url:"filter[name],comma,omitempty" connect:"event-names"`
	// ObjectIDs keeps events whose payload is one of these objects
	// ("inq_…", "cnst_…"; filter[object-id]).
	ObjectIDs []string `url:"filter[object-id],comma,omitempty" connect:"ids"`
	// IDs keeps the events with these ids ("evt_…"; filter[id]).
	IDs []string `url:"filter[id],comma,omitempty" connect:"ids"`
	ListOptions
}

var eventListQuery = mustQueryFields[EventListParams]()

var eventKind = &kind[eventResource, Event]{typ: typeEvent, convert: (*eventResource).apiEvent}

// apiEvent converts an event the Events API returned, wording a payload
// that breaks its name's promise as the reason the response is unexpected.
func (r *eventResource) apiEvent() (*Event, error) {
	ev, err := r.event()
	if err == nil {
		return ev, nil
	}
	var ue *UnexpectedResponseError
	if errors.As(err, &ue) {
		return nil, errors.New(ue.Reason)
	}
	return nil, errors.New("event " + r.ID + " payload: " + err.Error())
}

// List returns one page of the organization's events, newest first. Each
// event is decoded as a webhook delivery is: Object names the payload's
// resource, and Connect events carry their ShareToken. An event whose
// payload does not hold what its name promises fails the call with
// [ErrUnexpectedResponse]. Pass the page's [Page.NextCursor] as After for
// the next page, or use [EventsService.All].
//
// It calls GET /events; see Persona's reference, [List all Events].
//
// [List all Events]: https://docs.withpersona.com/api-reference/events/list-all-events
func (s *EventsService) List(ctx context.Context, params *EventListParams, opts ...RequestOption) (*Page[Event], error) {
	q, err := eventListQuery.encode(params)
	if err != nil {
		return nil, err
	}
	return eventKind.list(ctx, s.client, "/events", q, opts)
}

// All iterates over every event that matches params, newest first,
// fetching one page at a time as the loop advances: nothing is fetched
// before the loop starts, and breaking out of it stops all requests. An
// error ends the iteration after being yielded once. It starts after
// params.After; params.Before is refused.
//
// Events arrive newest first; a service catching up after downtime that
// needs them in order collects them and handles them oldest first, or
// relies on its handler being indifferent to order, as a webhook handler
// must be anyway.
//
// It calls GET /events once per page; see Persona's reference, [List all Events].
//
// [List all Events]: https://docs.withpersona.com/api-reference/events/list-all-events
func (s *EventsService) All(ctx context.Context, params *EventListParams, opts ...RequestOption) iter.Seq2[*Event, error] {
	return all("/events", params, func(p *EventListParams) (*Page[Event], error) {
		return s.List(ctx, p, opts...)
	})
}

// Get returns one event of the organization, decoded as
// [EventsService.List] decodes them.
//
// It calls GET /events/{id}; see Persona's reference, [Retrieve an Event].
//
// [Retrieve an Event]: https://docs.withpersona.com/api-reference/events/retrieve-an-event
func (s *EventsService) Get(ctx context.Context, id string, opts ...RequestOption) (*Event, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return eventKind.one(ctx, s.client, http.MethodGet, "/events/"+id, nil, nil, opts)
}

// checkEventName accepts a printable name without a comma: Persona reads
// filter[name] as a comma-separated list, so a comma would split a name in
// two.
func checkEventName(field, name string) error {
	switch {
	case name == "":
		return &ValidationError{Field: field, Reason: "is empty"}
	case !printableASCII(name) || strings.ContainsAny(name, ", "):
		return &ValidationError{Field: field, Reason: "must be printable ASCII without spaces or commas, such as \"inquiry.completed\""}
	}
	return nil
}
