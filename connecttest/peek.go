package connecttest

// The fake's PII rule for peek (GET share token with peek-source-data=true,
// by the destination): the source object's status is shown in full; every
// field (for verifications, every attribute) is shown by presence only
// (value true when the field is not null), except the field names given to
// WithPeekFullFields, which are shown in full. Inquiries carry an empty
// related-objects list; accounts, transactions and verifications carry
// none. Verifications carry no fields bucket: their attributes sit beside
// status, as Persona's schema for verification source data requires.

type peekable struct {
	Visibility string `json:"visibility"`
	Value      any    `json:"value"`
}

// sourceDataLocked renders the peek envelope of the object, or nil when
// the object no longer exists.
func (s *Server) sourceDataLocked(id string) map[string]any {
	obj, ok := s.objects[id]
	if !ok {
		return nil
	}
	attrs := map[string]any{
		"status": peekable{Visibility: "full", Value: obj.Status},
	}
	wrap := func(name string, v any) peekable {
		if s.peekFull[name] {
			return peekable{Visibility: "full", Value: v}
		}
		return peekable{Visibility: "presence", Value: v != nil}
	}
	if hasFields(obj.Type) {
		fields := map[string]any{}
		for k, v := range obj.Fields {
			fields[k] = wrap(k, v)
		}
		attrs["fields"] = fields
	} else {
		for k, v := range obj.Fields {
			if k == "status" {
				continue
			}
			attrs[k] = wrap(k, v)
		}
	}
	sd := map[string]any{
		"type":                "connect/source-data/" + obj.Type,
		"id":                  obj.ID,
		"peekable-attributes": attrs,
	}
	if obj.Type == TypeInquiry {
		sd["related-objects"] = []any{}
	}
	return sd
}
