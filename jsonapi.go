package connect

import (
	"bytes"
	"encoding/json"
	"errors"
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

// maxSourceDataDepth is how deep related-objects may nest below a snapshot.
// Persona's snapshots go two or three levels deep (an inquiry, its
// verifications, their reports); the limit keeps a hostile body from
// building a chain of thousands of objects.
const maxSourceDataDepth = 32

// errSourceDataTooDeep refuses a snapshot nested past maxSourceDataDepth.
var errSourceDataTooDeep = &decodeLimitError{reason: "source-data related-objects nest deeper than " +
	strconv.Itoa(maxSourceDataDepth) + " levels"}

// decodeLimitError is a body the decoder refused for its shape rather than
// its syntax. It matches ErrUnexpectedResponse; Client.do reports its reason.
type decodeLimitError struct{ reason string }

func (e *decodeLimitError) Error() string        { return "connect: unexpected response: " + e.reason }
func (e *decodeLimitError) Is(target error) bool { return target == ErrUnexpectedResponse }

// sourceDataWire is a source-data snapshot as Persona sends it. The whole
// tree decodes in one pass of encoding/json: related objects are plain
// structs, and attribute values are spans of the buffer being decoded
// (rawSpan), parsed once each while converting.
type sourceDataWire struct {
	Type               string             `json:"type"`
	ID                 string             `json:"id"`
	PeekableAttributes map[string]rawSpan `json:"peekable-attributes"`
	RelatedObjects     []*sourceDataWire  `json:"related-objects"`
}

// rawSpan keeps the bytes of a JSON value without copying them: it aliases
// the buffer passed to json.Unmarshal (encoding/json hands an Unmarshaler a
// slice of its input), so it is used only to decode a buffer the SDK owns
// and keeps unchanged: SourceData.Raw, which every Value then shares.
type rawSpan []byte

func (r *rawSpan) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// UnmarshalJSON decodes a source-data snapshot and keeps one copy of it in
// Raw; the snapshots in Related have no Raw of their own (it would repeat
// part of this one), and every attribute's Value is a slice of Raw, so that
// the snapshot is held in memory once. Decoding costs time and memory in proportion to the
// snapshot, whatever its shape. An attribute that is not a {visibility,
// value} wrapper is kept with an empty Visibility and the raw JSON as Value,
// so that nothing is lost. related-objects nested more than 32 levels deep
// are an error matching ErrUnexpectedResponse. A JSON null leaves s as it is.
func (s *SourceData) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	raw := append(json.RawMessage(nil), b...)
	var w sourceDataWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return err
	}
	sd, err := w.sourceData(0)
	if err != nil {
		return err
	}
	*s = *sd
	s.Raw = raw
	return nil
}

// sourceData converts the snapshot at depth below the top one. Its values
// are spans of the decode buffer, which becomes the top snapshot's Raw.
func (w *sourceDataWire) sourceData(depth int) (*SourceData, error) {
	if depth > maxSourceDataDepth {
		return nil, errSourceDataTooDeep
	}
	s := &SourceData{Type: w.Type, ID: w.ID}
	for name, span := range w.PeekableAttributes {
		if name == "fields" {
			s.Fields = decodePeekable(span)
			continue
		}
		if s.Attributes == nil {
			s.Attributes = make(map[string]PeekableAttribute, len(w.PeekableAttributes))
		}
		s.Attributes[name] = peekable(span)
	}
	for _, rw := range w.RelatedObjects {
		if rw == nil {
			continue
		}
		r, err := rw.sourceData(depth + 1)
		if err != nil {
			return nil, err
		}
		s.Related = append(s.Related, r)
	}
	return s, nil
}

func decodePeekable(raw []byte) map[string]PeekableAttribute {
	var bag map[string]rawSpan
	if json.Unmarshal(raw, &bag) != nil {
		return nil
	}
	out := make(map[string]PeekableAttribute, len(bag))
	for name, v := range bag {
		out[name] = peekable(v)
	}
	return out
}

// peekable reads a {visibility, value} wrapper, or keeps raw as the value of
// an attribute without visibility. Value is a span of raw, so of Raw.
func peekable(raw []byte) PeekableAttribute {
	var a struct {
		Visibility rawSpan `json:"visibility"`
		Value      rawSpan `json:"value"`
	}
	if json.Unmarshal(raw, &a) != nil {
		return PeekableAttribute{Value: json.RawMessage(raw)}
	}
	visibility := visibilityName(a.Visibility)
	if visibility == "" {
		return PeekableAttribute{Value: json.RawMessage(raw)}
	}
	return PeekableAttribute{Visibility: visibility, Value: json.RawMessage(a.Value)}
}

// visibilityName decodes a visibility string without allocating for the two
// that Persona sends; anything but a non-empty string reads as "".
func visibilityName(raw rawSpan) string {
	switch string(raw) {
	case `"full"`:
		return "full"
	case `"presence"`:
		return "presence"
	}
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// MarshalJSON writes the snapshot as it is now, in Persona's form: type, id,
// peekable-attributes (Attributes, with Fields as its "fields" member) and
// related-objects. Raw is not consulted, so a snapshot built or edited in Go
// writes what it holds; a decoded one writes the same content it arrived
// with, though not byte for byte (keys are sorted). An attribute with an
// empty Visibility is written as its bare Value. It fails on a Value that is
// not valid JSON, on an Attributes entry named "fields" beside non-nil
// Fields, and on Related nested more than 32 levels deep (a cycle, say).
func (s SourceData) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := s.appendJSON(&buf, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *SourceData) appendJSON(buf *bytes.Buffer, depth int) error {
	if depth > maxSourceDataDepth {
		return errors.New("connect: SourceData.Related nests deeper than " + strconv.Itoa(maxSourceDataDepth) + " levels")
	}
	buf.WriteString(`{"type":`)
	buf.WriteString(strconv.Quote(s.Type))
	buf.WriteString(`,"id":`)
	buf.WriteString(strconv.Quote(s.ID))
	if attrs, err := s.peekableAttributes(); err != nil {
		return err
	} else if attrs != nil {
		b, err := json.Marshal(attrs)
		if err != nil {
			return err
		}
		buf.WriteString(`,"peekable-attributes":`)
		buf.Write(b)
	}
	wrote := false
	for _, r := range s.Related {
		if r == nil {
			continue
		}
		if wrote {
			buf.WriteByte(',')
		} else {
			buf.WriteString(`,"related-objects":[`)
			wrote = true
		}
		if err := r.appendJSON(buf, depth+1); err != nil {
			return err
		}
	}
	if wrote {
		buf.WriteByte(']')
	}
	buf.WriteByte('}')
	return nil
}

// peekableAttributes merges Attributes and Fields into the wire's one map,
// or returns nil when there is nothing to write.
func (s *SourceData) peekableAttributes() (map[string]any, error) {
	if len(s.Attributes) == 0 && s.Fields == nil {
		return nil, nil
	}
	if _, clash := s.Attributes["fields"]; clash && s.Fields != nil {
		return nil, errors.New(`connect: SourceData has both Fields and an attribute named "fields"`)
	}
	out := make(map[string]any, len(s.Attributes)+1)
	for name, a := range s.Attributes {
		out[name] = peekableOut(a)
	}
	if s.Fields != nil {
		fields := make(map[string]peekableOut, len(s.Fields))
		for name, a := range s.Fields {
			fields[name] = peekableOut(a)
		}
		out["fields"] = fields
	}
	return out, nil
}

// peekableOut writes a PeekableAttribute as Persona does: a {visibility,
// value} wrapper, or the bare value when it has no visibility.
type peekableOut PeekableAttribute

func (a peekableOut) MarshalJSON() ([]byte, error) {
	value := a.Value
	if len(value) == 0 {
		value = json.RawMessage("null")
	}
	if a.Visibility == "" {
		return value, nil
	}
	return json.Marshal(struct {
		Visibility string          `json:"visibility"`
		Value      json.RawMessage `json:"value"`
	}{a.Visibility, value})
}
