package connecttest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// EventInquiryCompleted is the event the fake records, and sends to the
// webhooks that enabled it by name, when an inquiry is completed: one made
// by NewInquiry (without a "status" field saying otherwise) or completed
// by CompleteInquiry. Clones made by a redemption are not "completed" by
// anyone and send none.
const EventInquiryCompleted = "inquiry.completed"

// An Event is a snapshot of an event the fake recorded, as the Events API
// (GET /events) serves it and webhooks deliver it.
type Event struct {
	// ID is the event's id, "evt_…".
	ID string
	// Name is the event's name, such as EventInquiryCompleted.
	Name string
	// OrganizationID is the organization the event belongs to.
	OrganizationID string
	// ObjectType and ObjectID name the payload's resource.
	ObjectType, ObjectID string
	// CreatedAt is when it happened, on the server's clock.
	CreatedAt time.Time
}

// storedEvent is one recorded event. data is its payload's resource as
// rendered at the time, so that the Events API shows what webhooks got.
type storedEvent struct {
	Event
	data any
	seq  int64
}

// Events returns every event recorded for org, newest first, whether or
// not a webhook received it: Persona records events regardless of
// webhooks. It panics when org is not from this server.
func (s *Server) Events(org *Organization) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrgLocked(org)
	s.settleLocked(s.nowLocked())
	var out []Event
	for _, ev := range slices.Backward(s.events) {
		if ev.OrganizationID == o.ID {
			out = append(out, ev.Event)
		}
	}
	return out
}

// CompleteInquiry completes an inquiry that is not completed yet (one made
// by NewInquiry with the field "status" set to "pending", say): its status
// becomes "completed", and an EventInquiryCompleted is recorded and sent
// to its organization's webhooks that enabled it. An inquiry already
// completed is left alone and sends nothing.
func (s *Server) CompleteInquiry(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	s.settleLocked(now)
	obj, ok := s.objects[id]
	if !ok || obj.Type != TypeInquiry {
		return fmt.Errorf("%w: inquiry %q", ErrNotFound, id)
	}
	if obj.Status == inquiryCompleted {
		return nil
	}
	obj.Status, obj.UpdatedAt, obj.completedAt = inquiryCompleted, now, now
	s.inquiryCompletedLocked(obj, now)
	return nil
}

const inquiryCompleted = "completed"

// inquiryCompletedLocked records inquiry.completed for obj, and delivers it.
func (s *Server) inquiryCompletedLocked(obj *object, at time.Time) {
	if obj.completedAt.IsZero() {
		obj.completedAt = at
	}
	s.emitEventLocked(obj.OrganizationID, EventInquiryCompleted, at, obj.resource())
}

// emitEventLocked records an event of the organization and sends it to
// the organization's webhooks that enabled its name.
func (s *Server) emitEventLocked(orgID, name string, at time.Time, data any) {
	s.seq++
	ev := &storedEvent{Event: Event{ID: newID("evt"), Name: name, OrganizationID: orgID, CreatedAt: at}, data: data, seq: s.seq}
	if ref, ok := data.(interface{ ident() (string, string) }); ok {
		ev.ObjectType, ev.ObjectID = ref.ident()
	}
	s.events = append(s.events, ev)
	if s.wh.closed {
		return
	}
	var hooks []*webhook
	for _, h := range s.wh.hooks {
		if h.org == orgID && slices.Contains(h.events, name) {
			hooks = append(hooks, h)
		}
	}
	if len(hooks) == 0 {
		return
	}
	wev := &webhookEvent{id: ev.ID, name: name, org: orgID, hooks: hooks, body: eventBody(ev.ID, name, at, data)}
	s.wh.events[wev.id] = wev
	for _, h := range hooks {
		s.goWebhookLocked(func() { s.runDelivery(wev, h) })
	}
}

// eventResource renders an event for the Events API, whose payload holds
// the resource alone (no included).
type eventResource struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Attributes eventAttributes `json:"attributes"`
}

type eventAttributes struct {
	Name      string       `json:"name"`
	Payload   eventPayload `json:"payload"`
	CreatedAt string       `json:"created-at"`
}

type eventPayload struct {
	Data any `json:"data"`
}

func (ev *storedEvent) resource() eventResource {
	return eventResource{Type: "event", ID: ev.ID,
		Attributes: eventAttributes{Name: ev.Name, Payload: eventPayload{Data: ev.data}, CreatedAt: formatTime(ev.CreatedAt)}}
}

func (s *Server) eventLocked(org *Organization, id string) *storedEvent {
	for _, ev := range s.events {
		if ev.ID == id && ev.OrganizationID == org.ID {
			return ev
		}
	}
	return nil
}

func (s *Server) getEvent(c *call, r *http.Request) response {
	ev := s.eventLocked(c.org, r.PathValue("id"))
	if ev == nil {
		return notFound("")
	}
	return jsonResp(http.StatusOK, document{Data: ev.resource()})
}

// listEvents serves GET /events: the organization's events, newest first,
// filtered by filter[name], filter[object-id] and filter[id], each a
// comma-separated list of which an event must match one value.
func (s *Server) listEvents(c *call, r *http.Request) response {
	lq, msg := parseListQuery(r.URL.Query(), map[string][]string{"name": nil, "object-id": nil, "id": nil})
	if msg != "" {
		return badRequest(msg)
	}
	matches := func(filter, v string) bool {
		f, ok := lq.filters[filter]
		return !ok || slices.Contains(strings.Split(f, ","), v)
	}
	var visible, items []*storedEvent
	for _, ev := range s.events {
		if ev.OrganizationID != c.org.ID {
			continue
		}
		visible = append(visible, ev)
		if matches("name", ev.Name) && matches("object-id", ev.ObjectID) && matches("id", ev.ID) {
			items = append(items, ev)
		}
	}
	seqOf := func(ev *storedEvent) int64 { return ev.seq }
	newestFirst(items, seqOf)
	position := func(id string) (int64, bool) {
		for _, ev := range visible {
			if ev.ID == id {
				return ev.seq, true
			}
		}
		return 0, false
	}
	out, links, msg := page(items, seqOf, func(ev *storedEvent) string { return ev.ID }, lq, position, BasePath+"/events")
	if msg != "" {
		return badRequest(msg)
	}
	doc := listDocument{Data: make([]any, len(out)), Links: links}
	for i, ev := range out {
		doc.Data[i] = ev.resource()
	}
	return jsonResp(http.StatusOK, doc)
}
