package connect

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/google/go-querystring/query"
)

// maxIDLength bounds ids: Persona's are a prefix and a short token, far below.
const maxIDLength = 128

// checkID accepts a Persona id: 1 to 128 characters of [A-Za-z0-9_-]. The
// rule keeps every id safe to put in a URL path as it is, so that no value
// can reach another endpoint ("../", "%2F", "?").
func checkID(field, id string) error {
	if id == "" {
		return &ValidationError{Field: field, Reason: "is required"}
	}
	if len(id) > maxIDLength {
		return &ValidationError{Field: field, Reason: "is longer than " + strconv.Itoa(maxIDLength) + " bytes"}
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return &ValidationError{Field: field, Reason: "may contain only letters, digits, '_' and '-'; found " + strconv.QuoteRune(rune(id[i])) + " at byte " + strconv.Itoa(i)}
		}
	}
	return nil
}

func idByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// Persona accepts expires-in-seconds from 60 to 1,814,400 (21 days).
const (
	minExpiresIn = time.Minute
	maxExpiresIn = 21 * 24 * time.Hour
)

func checkExpiresIn(d time.Duration) error {
	switch {
	case d == 0:
		return nil
	case d < minExpiresIn || d > maxExpiresIn:
		return &ValidationError{Field: "ExpiresIn", Reason: "must be between 1m and 504h (21 days), got " + d.String()}
	case d%time.Second != 0:
		return &ValidationError{Field: "ExpiresIn", Reason: "must be whole seconds, got " + d.String()}
	}
	return nil
}

func checkFieldMapping(i int, m FieldMapping) error {
	field := "FieldMappings[" + strconv.Itoa(i) + "]"
	if m.SourceField == "" || m.DestinationField == "" {
		return &ValidationError{Field: field, Reason: "needs both SourceField and DestinationField"}
	}
	if !printableASCII(m.SourceField) || !printableASCII(m.DestinationField) {
		return &ValidationError{Field: field, Reason: "field names must be printable ASCII"}
	}
	return nil
}

// checkEnum accepts an empty filter or a value that could be an enum value
// (Persona may add values, so unknown ones are sent as they are).
func checkEnum(field, v string) error {
	if v == "" {
		return nil
	}
	if err := checkID(field, v); err != nil {
		return &ValidationError{Field: field, Reason: "is not a valid filter value"}
	}
	return nil
}

// queryFields validates and encodes the params of one kind of list. Both
// read the one struct: go-querystring sends each field under the name its
// url tag gives, and validation applies the rule its connect tag names
// (see ruleNamed). Building a queryFields refuses a url-tagged field
// without a known rule, and a rule on a field that is never sent, so that a
// field cannot be sent unchecked; each list's is built when the package
// loads.
type queryFields[P any] struct {
	fields []queryField
}

type queryField struct {
	name  string // the Go field name, as errors name it
	index []int
	rule  paramRule
}

// paramRule validates one field's value; field names it in the error.
type paramRule func(field string, v reflect.Value) error

// ruleNamed returns the rule a connect tag names. Every rule accepts the
// zero value, which go-querystring leaves out of the query (omitempty).
func ruleNamed(name string) (paramRule, bool) {
	switch name {
	case "id": // an optional Persona id, such as a connection to filter by
		return func(field string, v reflect.Value) error { return checkOptionalID(field, v.String()) }, true
	case "enum": // an optional enum value; Persona may add values, so unknown ones are sent as they are
		return func(field string, v reflect.Value) error { return checkEnum(field, v.String()) }, true
	case "ids": // a list of Persona ids
		return eachElement(checkID), true
	case "event-names":
		return eachElement(checkEventName), true
	case "page-size": // 1 to 100, or 0 for Persona's default
		return func(field string, v reflect.Value) error {
			if n := v.Int(); n < 0 || n > 100 {
				return &ValidationError{Field: field, Reason: "must be between 1 and 100 (0 for the default), got " + strconv.FormatInt(n, 10)}
			}
			return nil
		}, true
	case "cursor": // an optional cursor from a Page, shaped like an id
		return func(field string, v reflect.Value) error { return checkOptionalID(field, v.String()) }, true
	}
	return nil, false
}

// eachElement applies check to every string of a slice, naming each
// element Field[i].
func eachElement(check func(field, value string) error) paramRule {
	return func(field string, v reflect.Value) error {
		for i := range v.Len() {
			if err := check(field+"["+strconv.Itoa(i)+"]", v.Index(i).String()); err != nil {
				return err
			}
		}
		return nil
	}
}

// mustQueryFields builds the queryFields of P, panicking when its tags
// disagree: a programming error that any test run reports.
func mustQueryFields[P any]() *queryFields[P] {
	q, err := newQueryFields[P]()
	if err != nil {
		panic(err)
	}
	return q
}

func newQueryFields[P any]() (*queryFields[P], error) {
	q := &queryFields[P]{}
	err := q.collect(reflect.TypeFor[P](), nil)
	return q, err
}

// collect adds the fields of t, whose index path in P is prefix, embedded
// structs' fields included.
func (q *queryFields[P]) collect(t reflect.Type, prefix []int) error {
	for i := range t.NumField() {
		f := t.Field(i)
		index := append(slices.Clone(prefix), i)
		urlTag, sent := f.Tag.Lookup("url")
		ruleName, checked := f.Tag.Lookup("connect")
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct && !sent:
			if err := q.collect(f.Type, index); err != nil {
				return err
			}
		case !f.IsExported() || urlTag == "-":
			if checked {
				return fmt.Errorf("connect: %s.%s has a connect rule but is never sent", t.Name(), f.Name)
			}
		case !sent || !checked:
			return fmt.Errorf("connect: %s.%s needs both a url tag and a connect rule", t.Name(), f.Name)
		default:
			rule, ok := ruleNamed(ruleName)
			if !ok {
				return fmt.Errorf("connect: %s.%s names an unknown connect rule %q", t.Name(), f.Name, ruleName)
			}
			q.fields = append(q.fields, queryField{name: f.Name, index: index, rule: rule})
		}
	}
	return nil
}

// encode validates p and returns its query string; nil params are no
// query. A *ValidationError names the first field found wrong (cursors
// given both ways before anything else), and nothing is sent.
func (q *queryFields[P]) encode(p *P) (url.Values, error) {
	if p == nil {
		return nil, nil
	}
	if lo, ok := any(p).(interface{ listOptions() *ListOptions }); ok {
		if err := lo.listOptions().checkCursors(); err != nil {
			return nil, err
		}
	}
	v := reflect.ValueOf(p).Elem()
	for _, f := range q.fields {
		if err := f.rule(f.name, v.FieldByIndex(f.index)); err != nil {
			return nil, err
		}
	}
	values, err := query.Values(p)
	if err != nil {
		return nil, &ValidationError{Field: "params", Reason: err.Error()}
	}
	return values, nil
}

func checkOptionalID(field, id string) error {
	if id == "" {
		return nil
	}
	return checkID(field, id)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
