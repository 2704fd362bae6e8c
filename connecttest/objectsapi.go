package connecttest

import (
	"maps"
	"net/http"
	"slices"
	"time"
)

// The fake serves its objects as Persona's Inquiries, Accounts,
// Transactions and Verifications APIs do (GET /inquiries/{id} and so on),
// to the organization that owns them: a destination reads the copies its
// redemptions made, a source what it shares. The resources carry every
// attribute Persona's document requires, with the fake's fields in
// "fields" ({"type", "value"} per field) for inquiries, accounts and
// transactions, and as attributes for verifications.

// objectResource is an object as the API renders it.
type objectResource struct {
	Type          string         `json:"type"`
	ID            string         `json:"id"`
	Attributes    map[string]any `json:"attributes"`
	Relationships map[string]any `json:"relationships"`
}

func (r objectResource) ident() (string, string) { return r.Type, r.ID }

func (r shareTokenResource) ident() (string, string) { return r.Type, r.ID }

// apiType is the object's JSON:API type in the objects' own APIs, where a
// transaction is "transaction" (share tokens call it "txn").
func apiType(typ string) string {
	if typ == TypeTransaction {
		return "transaction"
	}
	return typ
}

func (o *object) resource() objectResource {
	res := objectResource{Type: apiType(o.Type), ID: o.ID, Relationships: map[string]any{}}
	redactedAt := timeOrNil(o.UpdatedAt, o.Redacted)
	switch {
	case o.Type == TypeInquiry:
		res.Attributes = map[string]any{
			"status": o.Status, "reference-id": nil, "note": nil, "behaviors": map[string]any{}, "tags": []string{},
			"creator": "API", "reviewer-comment": nil,
			"created-at": formatTime(o.CreatedAt), "updated-at": formatTime(o.UpdatedAt),
			"started-at": formatTime(o.CreatedAt), "expires-at": nil,
			"completed-at": timeOrNil(o.completedAt, o.Status == inquiryCompleted && !o.completedAt.IsZero()),
			"failed-at":    nil, "marked-for-review-at": nil, "decisioned-at": nil, "expired-at": nil,
			"redacted-at": redactedAt, "previous-step-name": "start", "next-step-name": "success",
			"fields": typedFields(o.Fields),
		}
	case o.Type == TypeAccount:
		res.Attributes = map[string]any{
			"reference-id": nil, "account-type-name": "User", "account-status": o.Status, "tags": []string{},
			"created-at": formatTime(o.CreatedAt), "updated-at": formatTime(o.UpdatedAt), "redacted-at": redactedAt,
			"fields": typedFields(o.Fields),
		}
	case o.Type == TypeTransaction:
		res.Attributes = map[string]any{
			"status": o.Status, "reference-id": nil, "tags": []string{},
			"created-at": formatTime(o.CreatedAt), "updated-at": formatTime(o.UpdatedAt),
			"fields": typedFields(o.Fields),
		}
	default: // a verification: its fields are its attributes
		a := map[string]any{"country-code": nil}
		maps.Copy(a, o.Fields)
		delete(a, "status")
		maps.Copy(a, map[string]any{
			"status": o.Status, "tags": []string{}, "checks": []any{},
			"created-at": formatTime(o.CreatedAt), "created-at-ts": o.CreatedAt.Unix(),
			"submitted-at": formatTime(o.CreatedAt), "submitted-at-ts": o.CreatedAt.Unix(),
			"completed-at": formatTime(o.CreatedAt), "completed-at-ts": o.CreatedAt.Unix(),
			"redacted-at": redactedAt,
		})
		res.Attributes = a
	}
	return res
}

func timeOrNil(t time.Time, set bool) any {
	if !set {
		return nil
	}
	return formatTime(t)
}

// typedFields renders fields as Persona does: {"name": {"type", "value"}}.
func typedFields(fields map[string]any) map[string]any {
	out := make(map[string]any, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if k == "status" {
			continue
		}
		v := copyValue(fields[k])
		out[k] = map[string]any{"type": fieldType(v), "value": v}
	}
	return out
}

func fieldType(v any) string {
	switch v.(type) {
	case float64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "hash"
	case []any:
		return "array"
	}
	return "string"
}

// getObject serves GET /inquiries/{id} and its kin: the caller's object of
// that kind, or 404.
func (s *Server) getObject(kind func(typ string) bool) func(c *call, r *http.Request) response {
	return func(c *call, r *http.Request) response {
		obj, ok := s.objects[r.PathValue("id")]
		if !ok || obj.OrganizationID != c.org.ID || !kind(obj.Type) {
			return notFound("")
		}
		return jsonResp(http.StatusOK, document{Data: obj.resource()})
	}
}

func isType(t string) func(string) bool { return func(typ string) bool { return typ == t } }
