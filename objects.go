package connect

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// ObjectsService reads the objects share tokens name: the source a token
// shares and, above all, the object a redemption made or filled
// ([ShareToken].Destination). Get it from [Client].Objects.
type ObjectsService struct {
	client *Client
}

// Object is an inquiry, account, transaction or verification as Persona's
// API returns it. Only what every kind has is decoded; the rest is in
// Attributes and Raw, as received.
type Object struct {
	// Type is the object's JSON:API type: "inquiry", "account",
	// "transaction", or a verification type such as "verification/database".
	Type string
	// ID is the object's id: "inq_…", "act_…", "txn_…" or "ver_…".
	ID string
	// Status is the status attribute, such as "completed" for an inquiry;
	// empty when the object has none (accounts).
	Status string
	// Attributes are the object's attributes by their kebab-case names,
	// each as its raw JSON value ("fields" holds an inquiry's, account's or
	// transaction's fields).
	Attributes map[string]json.RawMessage
	// Raw is the resource (the response's data member) exactly as received,
	// relationships included.
	Raw json.RawMessage
}

// objectKind is one kind of object Get can read.
type objectKind struct {
	path string
	// accepts reports whether a response's data type is consistent with
	// the reference asked for.
	accepts func(refType, dataType string) bool
	want    string // for an error, the type(s) accepted
}

func sameType(refType, dataType string) bool { return refType == dataType }

// objectKindOf maps a ResourceRef's type to its endpoint. Share tokens
// name transactions "txn" and the API "transaction": either is accepted in
// either place. A bare "verification" accepts any verification type; a
// specific one only itself.
func objectKindOf(refType string) (objectKind, bool) {
	switch {
	case refType == "inquiry":
		return objectKind{path: "/inquiries/", accepts: sameType}, true
	case refType == "account":
		return objectKind{path: "/accounts/", accepts: sameType}, true
	case refType == "transaction" || refType == "txn":
		return objectKind{path: "/transactions/", want: `"transaction"`, accepts: func(_, d string) bool {
			return d == "transaction" || d == "txn"
		}}, true
	case refType == "verification":
		return objectKind{path: "/verifications/", want: `"verification/…"`, accepts: func(_, d string) bool {
			return strings.HasPrefix(d, "verification/") && len(d) > len("verification/")
		}}, true
	case strings.HasPrefix(refType, "verification/") && len(refType) > len("verification/"):
		return objectKind{path: "/verifications/", accepts: sameType}, true
	}
	return objectKind{}, false
}

// Get reads the object ref names, choosing the endpoint from ref.Type:
// "inquiry", "account", "transaction" (or "txn", as share tokens name
// transactions), or "verification" or any "verification/…" type. Another
// type, or an invalid ref.ID, is a [*ValidationError] and nothing is sent.
// A response whose data is of a type inconsistent with ref (an account
// for an inquiry, say) or has no id fails with [ErrUnexpectedResponse].
//
// Either organization may read its own objects: the destination its
// copies, the source what it shared.
//
// It calls GET /inquiries/{id}, GET /accounts/{id}, GET /transactions/{id}
// or GET /verifications/{id}; see Persona's reference, [Retrieve an Inquiry],
// [Retrieve an Account], [Retrieve a Transaction] and [Retrieve a Verification].
//
// [Retrieve an Inquiry]: https://docs.withpersona.com/api-reference/inquiries/retrieve-an-inquiry
// [Retrieve an Account]: https://docs.withpersona.com/api-reference/accounts/retrieve-an-account
// [Retrieve a Transaction]: https://docs.withpersona.com/api-reference/transactions/retrieve-a-transaction
// [Retrieve a Verification]: https://docs.withpersona.com/api-reference/verifications/retrieve-a-verification
func (s *ObjectsService) Get(ctx context.Context, ref *ResourceRef, opts ...RequestOption) (*Object, error) {
	if ref == nil {
		return nil, &ValidationError{Field: "ref", Reason: "is nil"}
	}
	kind, ok := objectKindOf(ref.Type)
	if !ok {
		return nil, &ValidationError{Field: "ref.Type", Reason: "must be inquiry, account, transaction, txn or verification/…, got " + strconv.Quote(ref.Type)}
	}
	if err := checkID("ref.ID", ref.ID); err != nil {
		return nil, err
	}
	doc := objectDocument{refType: ref.Type, kind: kind}
	if err := s.client.do(ctx, http.MethodGet, kind.path+ref.ID, nil, nil, &doc, opts); err != nil {
		return nil, err
	}
	return doc.Data.object(), nil
}

// objectResource is any object resource, kept whole in raw.
type objectResource struct {
	Type       string
	ID         string
	Attributes map[string]json.RawMessage
	raw        json.RawMessage
}

func (r *objectResource) ident() (string, string) { return r.Type, r.ID }

func (r *objectResource) UnmarshalJSON(b []byte) error {
	var w struct {
		Type       string                     `json:"type"`
		ID         string                     `json:"id"`
		Attributes map[string]json.RawMessage `json:"attributes"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = objectResource{Type: w.Type, ID: w.ID, Attributes: w.Attributes, raw: append(json.RawMessage(nil), b...)}
	return nil
}

func (r *objectResource) object() *Object {
	o := &Object{Type: r.Type, ID: r.ID, Attributes: r.Attributes, Raw: r.raw}
	if st, ok := r.Attributes["status"]; ok {
		_ = json.Unmarshal(st, &o.Status) // a status that is not a string stays in Attributes only
	}
	return o
}

// objectDocument is the body of an object's GET. Its type is polymorphic,
// so check compares it with the reference asked for.
type objectDocument struct {
	document[objectResource]
	refType string
	kind    objectKind
}

func (d *objectDocument) check() string {
	if reason := d.document.check(); reason != "" {
		return reason
	}
	if !d.kind.accepts(d.refType, d.Data.Type) {
		want := d.kind.want
		if want == "" {
			want = strconv.Quote(d.refType)
		}
		return "data is of type " + strconv.Quote(d.Data.Type) + ", want " + want
	}
	return ""
}
