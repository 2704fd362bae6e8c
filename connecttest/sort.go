package connecttest

import (
	"slices"
	"strings"
	"time"
)

// sortBy sorts xs oldest first by the time key, ties broken by the string key.
func sortBy[T any](xs []T, at func(T) time.Time, id func(T) string) {
	slices.SortFunc(xs, func(a, b T) int {
		if c := at(a).Compare(at(b)); c != 0 {
			return c
		}
		return strings.Compare(id(a), id(b))
	})
}
