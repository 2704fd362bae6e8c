package connect

import (
	"encoding/json"
	"strconv"
	"time"
)

// Persona's documents are JSON:API shaped. The types here mirror the wire
// exactly and are converted to the public types, so that the public types
// stay plain Go and the wire's quirks (two names for one relationship, null
// timestamps, kebab-case keys) stay in this file.

// requestDocument is a request body. Persona's request bodies carry no type
// member, only attributes and, for redeem, a top-level meta.
type requestDocument[A any] struct {
	Data requestData[A] `json:"data"`
	Meta any            `json:"meta,omitempty"`
}

type requestData[A any] struct {
	Attributes A `json:"attributes"`
}

// document is a response body with one resource. included and meta are not
// read: nothing in them is needed, and unknown members never fail a decode.
// want is the resource type the call expects; check compares it.
type document[R any] struct {
	Data R `json:"data"`
	want string
}

// listDocument is a response body with a page of resources.
type listDocument[R any] struct {
	Data  []R   `json:"data"`
	Links links `json:"links"`
	want  string
	// status and requestID are the response's, for the paging errors of All.
	status    int
	requestID string
}

// received keeps what identifies the response; Client.do calls it on a
// document that has one.
func (d *listDocument[R]) received(status int, requestID string) {
	d.status, d.requestID = status, requestID
}

// The JSON:API types of the resources the SDK decodes.
const (
	typeShareToken = "connect/share-token"
	typeConnection = "connect/connection"
	typeEvent      = "event"
)

// identified is a wire resource: its JSON:API type and id.
type identified interface{ ident() (typ, id string) }

// checkedDocument is a response document that can tell whether it holds
// what the call asked for. check returns "" when it does, or the reason it
// does not; Client.do turns a reason into an *UnexpectedResponseError.
type checkedDocument interface{ check() string }

func (d *document[R]) check() string { return checkResource(any(&d.Data), d.want) }

// check refuses a list without data (absent or null: an empty page is
// "data": []) and any element that is not a resource of the wanted type.
func (d *listDocument[R]) check() string {
	if d.Data == nil {
		return "no data"
	}
	for i := range d.Data {
		if reason := checkResource(any(&d.Data[i]), d.want); reason != "" {
			return "data[" + strconv.Itoa(i) + "]: " + reason
		}
	}
	return ""
}

// checkResource accepts a resource of type want with an id. A resource
// that is absent or null decodes to an empty type and id, so this one check
// also refuses {}, {"data":null} and {"data":{}}. An empty want accepts any
// type (a polymorphic call checks the type itself).
func checkResource(r any, want string) string {
	res, ok := r.(identified)
	if !ok {
		return ""
	}
	typ, id := res.ident()
	switch {
	case typ == "" && id == "":
		return "no data"
	case want != "" && typ != want:
		return "data is of type " + strconv.Quote(typ) + ", want " + strconv.Quote(want)
	case id == "":
		return "data has no id"
	}
	return ""
}

type links struct {
	Prev *string `json:"prev"`
	Next *string `json:"next"`
}

// relationship is {"data": {"type", "id"}} or {"data": null}.
type relationship struct {
	Data *ResourceRef `json:"data"`
}

// ref returns the related resource, or nil when the relationship is absent,
// null or empty.
func (r *relationship) ref() *ResourceRef {
	if r == nil || r.Data == nil || (r.Data.ID == "" && r.Data.Type == "") {
		return nil
	}
	return r.Data
}

type shareTokenResource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Status        ShareTokenStatus `json:"status"`
		Direction     Direction        `json:"direction"`
		CreatedAt     time.Time        `json:"created-at"`
		UpdatedAt     time.Time        `json:"updated-at"`
		PendingAt     *time.Time       `json:"pending-at"`
		RedeemedAt    *time.Time       `json:"redeemed-at"`
		ExpiresAt     *time.Time       `json:"expires-at"`
		FailedAt      *time.Time       `json:"failed-at"`
		FailureReason *FailureReason   `json:"failure-reason"`
		RedeemMode    *RedeemMode      `json:"redeem-mode"`
		SourceData    *SourceData      `json:"source-data"`
	} `json:"attributes"`
	Relationships struct {
		Connection        *relationship `json:"connection"`
		ConnectConnection *relationship `json:"connect-connection"` // the name in older documents
		Creator           *relationship `json:"creator"`
		Source            *relationship `json:"source"`
		Destination       *relationship `json:"destination"`
	} `json:"relationships"`
}

func (r *shareTokenResource) ident() (string, string) { return r.Type, r.ID }

func (r *shareTokenResource) shareToken() *ShareToken {
	a := &r.Attributes
	rel := &r.Relationships
	t := &ShareToken{
		ID:          r.ID,
		Status:      a.Status,
		Direction:   a.Direction,
		CreatedAt:   a.CreatedAt,
		UpdatedAt:   a.UpdatedAt,
		PendingAt:   a.PendingAt,
		RedeemedAt:  a.RedeemedAt,
		ExpiresAt:   a.ExpiresAt,
		FailedAt:    a.FailedAt,
		SourceData:  a.SourceData,
		Connection:  rel.Connection.ref(),
		Creator:     rel.Creator.ref(),
		Source:      rel.Source.ref(),
		Destination: rel.Destination.ref(),
	}
	if t.Connection == nil {
		t.Connection = rel.ConnectConnection.ref()
	}
	if a.FailureReason != nil {
		t.FailureReason = *a.FailureReason
	}
	if a.RedeemMode != nil {
		t.RedeemMode = *a.RedeemMode
	}
	return t
}

type connectionResource struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Status                    ConnectionStatus `json:"status"`
		SourceOrganizationID      string           `json:"source-organization-id"`
		DestinationOrganizationID string           `json:"destination-organization-id"`
		CreatedAt                 time.Time        `json:"created-at"`
		UpdatedAt                 time.Time        `json:"updated-at"`
	} `json:"attributes"`
	Relationships struct {
		Creator *relationship `json:"creator"`
	} `json:"relationships"`
}

func (r *connectionResource) ident() (string, string) { return r.Type, r.ID }

func (r *connectionResource) connection() *Connection {
	a := &r.Attributes
	return &Connection{
		ID:                        r.ID,
		Status:                    a.Status,
		SourceOrganizationID:      a.SourceOrganizationID,
		DestinationOrganizationID: a.DestinationOrganizationID,
		CreatedAt:                 a.CreatedAt,
		UpdatedAt:                 a.UpdatedAt,
		Creator:                   r.Relationships.Creator.ref(),
	}
}

// sourceDataWire is a source-data snapshot as Persona sends it.
type sourceDataWire struct {
	Type               string                     `json:"type"`
	ID                 string                     `json:"id"`
	PeekableAttributes map[string]json.RawMessage `json:"peekable-attributes"`
	RelatedObjects     []*SourceData              `json:"related-objects"`
}

// UnmarshalJSON decodes a source-data snapshot, keeping the raw document in
// Raw. An attribute that is not a {visibility, value} wrapper is kept with
// an empty Visibility and the raw JSON as Value, so that nothing is lost.
func (s *SourceData) UnmarshalJSON(b []byte) error {
	var w sourceDataWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = SourceData{Type: w.Type, ID: w.ID, Related: w.RelatedObjects, Raw: append(json.RawMessage(nil), b...)}
	for name, raw := range w.PeekableAttributes {
		if name == "fields" {
			s.Fields = decodePeekable(raw)
			continue
		}
		if s.Attributes == nil {
			s.Attributes = make(map[string]PeekableAttribute, len(w.PeekableAttributes))
		}
		s.Attributes[name] = peekable(raw)
	}
	return nil
}

// MarshalJSON writes the snapshot back as it arrived.
func (s SourceData) MarshalJSON() ([]byte, error) {
	if len(s.Raw) > 0 {
		return s.Raw, nil
	}
	return json.Marshal(sourceDataWire{Type: s.Type, ID: s.ID, RelatedObjects: s.Related})
}

func decodePeekable(raw json.RawMessage) map[string]PeekableAttribute {
	var bag map[string]json.RawMessage
	if json.Unmarshal(raw, &bag) != nil {
		return nil
	}
	out := make(map[string]PeekableAttribute, len(bag))
	for name, v := range bag {
		out[name] = peekable(v)
	}
	return out
}

func peekable(raw json.RawMessage) PeekableAttribute {
	var a struct {
		Visibility string          `json:"visibility"`
		Value      json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &a) != nil || a.Visibility == "" {
		return PeekableAttribute{Value: raw}
	}
	return PeekableAttribute{Visibility: a.Visibility, Value: a.Value}
}
