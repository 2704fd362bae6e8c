package connect

import (
	"context"
	"net/url"
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

// checkListParams validates what every list shares: an optional id filter,
// the page size and the cursors.
func checkListParams(filterID, filterField string, pageSize int, after, before string) error {
	if filterID != "" {
		if err := checkID(filterField, filterID); err != nil {
			return err
		}
	}
	if pageSize < 0 || pageSize > 100 {
		return &ValidationError{Field: "PageSize", Reason: "must be between 1 and 100 (0 for the default), got " + strconv.Itoa(pageSize)}
	}
	if after != "" && before != "" {
		return &ValidationError{Field: "After", Reason: "cannot be combined with Before"}
	}
	if after != "" {
		if err := checkID("After", after); err != nil {
			return err
		}
	}
	if before != "" {
		return checkID("Before", before)
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

func encodeQuery(params any) (url.Values, error) {
	q, err := query.Values(params)
	if err != nil {
		return nil, &ValidationError{Field: "params", Reason: err.Error()}
	}
	return q, nil
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
