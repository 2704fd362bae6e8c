package connecttest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Object kinds, as they appear in relationship types.
const (
	// TypeInquiry is the type of inquiries, "inq_…".
	TypeInquiry = "inquiry"
	// TypeAccount is the type of accounts, "act_…".
	TypeAccount = "account"
	// TypeTransaction is the type of transactions, "txn_…".
	TypeTransaction = "txn"
	// TypeVerificationDatabase is a database verification, "ver_…".
	TypeVerificationDatabase = "verification/database"
	// TypeVerificationPhoneNumber is a phone number verification, "ver_…".
	TypeVerificationPhoneNumber = "verification/phone-number"
	// TypeVerificationEmailAddress is an email address verification, "ver_…".
	TypeVerificationEmailAddress = "verification/email-address"
)

// ErrNotFound is returned by the Server's test helpers when no object,
// connection or share token has the given id.
var ErrNotFound = errors.New("connecttest: not found")

// An Object is a snapshot of a source or destination object held by the
// fake: an inquiry, account, transaction or verification.
type Object struct {
	// ID is the object's token: "inq_…", "act_…", "txn_…" or "ver_…".
	ID string
	// Type is TypeInquiry, TypeAccount, TypeTransaction or a verification
	// type such as TypeVerificationDatabase.
	Type string
	// OrganizationID is the organization that owns the object.
	OrganizationID string
	// Status is the object's own status: "completed" for inquiries,
	// "active" for accounts, "approved" for transactions and "passed" for
	// verifications, unless the fields given at creation say otherwise
	// under the key "status".
	Status string
	// Fields are the object's fields. For verifications they stand for the
	// verification's scalar attributes.
	Fields map[string]any
	// ClonedFrom is the id of the source object, when this object was made
	// by a clone redemption.
	ClonedFrom string
	// HydratedFrom is the id of the source object that last filled this
	// object through a hydrate redemption.
	HydratedFrom string
	// ShareTokenID is the share token whose redemption made or last filled
	// this object.
	ShareTokenID string
	// Redacted reports whether RedactObject was called on the object.
	Redacted bool
	// CreatedAt and UpdatedAt are on the server's clock.
	CreatedAt, UpdatedAt time.Time
}

type object struct {
	Object
	seq         int64
	completedAt time.Time // inquiries: when completed (events.go)
}

var defaultStatus = map[string]string{
	TypeInquiry:     "completed",
	TypeAccount:     "active",
	TypeTransaction: "approved",
}

var idPrefix = map[string]string{
	TypeInquiry:     "inq",
	TypeAccount:     "act",
	TypeTransaction: "txn",
}

// verificationTypes are the verification kinds the fake can hold: the ones
// Persona's OpenAPI document has a top-level source-data schema for.
var verificationTypes = map[string]bool{
	TypeVerificationDatabase:     true,
	TypeVerificationPhoneNumber:  true,
	TypeVerificationEmailAddress: true,
}

func isVerification(typ string) bool { return strings.HasPrefix(typ, "verification/") }

// hasFields reports whether objects of the type carry user-space fields
// (and so may be hydrated, and hydrate others).
func hasFields(typ string) bool {
	return typ == TypeInquiry || typ == TypeAccount || typ == TypeTransaction
}

// NewInquiry creates a completed inquiry owned by org with the given fields
// (for example "name-first") and returns its id. It records an
// EventInquiryCompleted, as Persona would (unless the field "status" says
// the inquiry is not completed; see CompleteInquiry). Field values must be
// encodable as JSON; they are stored as encoding/json decodes them (numbers
// become float64).
func (s *Server) NewInquiry(org *Organization, fields map[string]any) string {
	return s.newObject(org, TypeInquiry, fields)
}

// NewAccount creates an account owned by org and returns its id.
func (s *Server) NewAccount(org *Organization, fields map[string]any) string {
	return s.newObject(org, TypeAccount, fields)
}

// NewTransaction creates a transaction ("txn_…") owned by org and returns
// its id.
func (s *Server) NewTransaction(org *Organization, fields map[string]any) string {
	return s.newObject(org, TypeTransaction, fields)
}

// NewVerification creates a passed verification of the given type
// (TypeVerificationDatabase, TypeVerificationPhoneNumber or
// TypeVerificationEmailAddress) owned by org and returns its id ("ver_…").
// Its attributes (for example "country-code") are given as fields. It
// panics on any other type.
func (s *Server) NewVerification(org *Organization, typ string, attributes map[string]any) string {
	if !verificationTypes[typ] {
		panic(fmt.Sprintf("connecttest: unsupported verification type %q", typ))
	}
	return s.newObject(org, typ, attributes)
}

func (s *Server) newObject(org *Organization, typ string, fields map[string]any) string {
	norm := normalizeFields(fields)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrgLocked(org)
	obj := s.addObjectLocked(o.ID, typ, norm, s.nowLocked())
	if obj.Type == TypeInquiry && obj.Status == inquiryCompleted {
		s.inquiryCompletedLocked(obj, obj.CreatedAt)
	}
	return obj.ID
}

func (s *Server) addObjectLocked(orgID, typ string, fields map[string]any, now time.Time) *object {
	prefix, ok := idPrefix[typ]
	if !ok {
		prefix = "ver"
	}
	status := defaultStatus[typ]
	if status == "" {
		status = "passed"
	}
	if st, ok := fields["status"].(string); ok && st != "" {
		status = st
	}
	if fields == nil {
		fields = map[string]any{}
	}
	s.seq++
	obj := &object{seq: s.seq, Object: Object{
		ID: newID(prefix), Type: typ, OrganizationID: orgID, Status: status,
		Fields: fields, CreatedAt: now, UpdatedAt: now,
	}}
	s.objects[obj.ID] = obj
	return obj
}

// normalizeFields turns the caller's values into what encoding/json would
// decode, so that snapshots can be deep-copied and compared. It panics when
// a value cannot be encoded: a mistake in the test.
func normalizeFields(fields map[string]any) map[string]any {
	if len(fields) == 0 {
		return map[string]any{}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		panic(fmt.Sprintf("connecttest: fields are not JSON: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("connecttest: fields are not JSON: %v", err))
	}
	return out
}

// Object returns a snapshot of the object with the given id, including
// objects made by clone redemptions. Pending redemptions whose delay has
// passed on the clock are completed first.
func (s *Server) Object(id string) (Object, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(s.nowLocked())
	obj, ok := s.objects[id]
	if !ok {
		return Object{}, false
	}
	return obj.snapshot(), true
}

// Objects returns snapshots of every object org owns, oldest first.
func (s *Server) Objects(org *Organization) []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrgLocked(org)
	s.settleLocked(s.nowLocked())
	var objs []*object
	for _, obj := range s.objects {
		if obj.OrganizationID == o.ID {
			objs = append(objs, obj)
		}
	}
	slices.SortFunc(objs, func(a, b *object) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Object, len(objs))
	for i, obj := range objs {
		out[i] = obj.snapshot()
	}
	return out
}

// RedactObject redacts an object as Persona's redaction does: its fields
// are kept as keys with null values. A share token for it that is redeemed
// afterwards, or whose redemption completes afterwards, fails with
// failure-reason source_redacted; creating a share token for it is a 422.
func (s *Server) RedactObject(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(s.nowLocked())
	obj, ok := s.objects[id]
	if !ok {
		return fmt.Errorf("%w: object %q", ErrNotFound, id)
	}
	for k := range obj.Fields {
		obj.Fields[k] = nil
	}
	obj.Redacted = true
	obj.UpdatedAt = s.nowLocked()
	return nil
}

// DeleteObject removes an object. A share token for it whose redemption
// completes afterwards fails with failure-reason source_not_found.
func (s *Server) DeleteObject(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(s.nowLocked())
	if _, ok := s.objects[id]; !ok {
		return fmt.Errorf("%w: object %q", ErrNotFound, id)
	}
	delete(s.objects, id)
	return nil
}

func (o *object) snapshot() Object {
	c := o.Object
	c.Fields = copyFields(o.Fields)
	return c
}

func copyFields(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyFields(x)
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = copyValue(e)
		}
		return c
	default:
		return v
	}
}
