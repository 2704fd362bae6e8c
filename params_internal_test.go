package connect

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListParamsEveryFieldIsValidated sets each field a list sends, one at
// a time, to a value its rule must refuse, and expects the refusal to name
// that field: a field added with a url tag but checked by nothing fails.
func TestListParamsEveryFieldIsValidated(t *testing.T) {
	for _, params := range []any{&ShareTokenListParams{}, &ConnectionListParams{}, &EventListParams{}} {
		v := reflect.ValueOf(params).Elem()
		for _, f := range reflect.VisibleFields(v.Type()) {
			if f.Anonymous || f.Tag.Get("url") == "" {
				continue
			}
			t.Run(v.Type().Name()+"."+f.Name, func(t *testing.T) {
				v.SetZero()
				fv := v.FieldByIndex(f.Index)
				switch fv.Kind() {
				case reflect.String:
					fv.SetString("bad value/..")
				case reflect.Int:
					fv.SetInt(-1)
				case reflect.Slice:
					fv.Set(reflect.ValueOf([]string{"ok", "bad, value"}))
				default:
					t.Fatalf("no invalid value for a %s field", fv.Kind())
				}
				_, err := encodeListParams(params)
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				assert.True(t, strings.HasPrefix(ve.Field, f.Name), "error names %q", ve.Field)
			})
		}
	}
}

func encodeListParams(params any) (url.Values, error) {
	switch p := params.(type) {
	case *ShareTokenListParams:
		return shareTokenListQuery.encode(p)
	case *ConnectionListParams:
		return connectionListQuery.encode(p)
	case *EventListParams:
		return eventListQuery.encode(p)
	}
	panic("unknown params")
}

// TestQueryFieldsRefuseDrift: a params struct whose tags disagree cannot
// be built, so that it never reaches a release.
func TestQueryFieldsRefuseDrift(t *testing.T) {
	type unchecked struct {
		ID string `url:"filter[id],omitempty"`
	}
	type untagged struct {
		Name string
	}
	type unknownRule struct {
		ID string `url:"filter[id],omitempty" connect:"uuid"`
	}
	type neverSent struct {
		ID string `url:"-" connect:"id"`
	}
	type embedded struct {
		unchecked
		ListOptions
	}
	for name, build := range map[string]func() error{
		"unchecked":   func() error { _, err := newQueryFields[unchecked](); return err },
		"untagged":    func() error { _, err := newQueryFields[untagged](); return err },
		"unknownRule": func() error { _, err := newQueryFields[unknownRule](); return err },
		"neverSent":   func() error { _, err := newQueryFields[neverSent](); return err },
		"embedded":    func() error { _, err := newQueryFields[embedded](); return err },
	} {
		assert.Error(t, build(), name)
	}
	q, err := newQueryFields[struct {
		ID string `url:"filter[id],omitempty" connect:"id"`
		ListOptions
	}]()
	require.NoError(t, err)
	assert.Len(t, q.fields, 4)
}
