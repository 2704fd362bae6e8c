package connect

import (
	"hash/maphash"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// Page is one page of a list, newest first, as the services' List methods
// return it.
type Page[T any] struct {
	Data []*T
	// NextCursor continues the list after this page (pass it as
	// [ListOptions].After); empty on the last page.
	NextCursor string
	// PrevCursor goes back to the page before this one (pass it as
	// [ListOptions].Before); empty on the first page.
	PrevCursor string

	// status and requestID are the response's, for the errors of All.
	status    int
	requestID string
}

// HasNext reports whether a page follows this one: whether NextCursor is
// set. It is false on a nil page.
func (p *Page[T]) HasNext() bool { return p != nil && p.NextCursor != "" }

// pageFrom is the page doc holds, its resources converted to items.
func pageFrom[R, T any](doc *listDocument[R], items []*T) Page[T] {
	return Page[T]{
		Data:       items,
		NextCursor: cursor(doc.Links.Next, "page[after]"),
		PrevCursor: cursor(doc.Links.Prev, "page[before]"),
		status:     doc.status,
		requestID:  doc.requestID,
	}
}

// ListOptions page a list. Every list's params embed it, so that its fields
// read as the params' own (params.PageSize, params.After); a composite
// literal names it: &ShareTokenListParams{ListOptions: ListOptions{PageSize: 50}}.
type ListOptions struct {
	// PageSize is 1 to 100; zero leaves Persona's default of 10.
	PageSize int `url:"page[size],omitempty" connect:"page-size"`
	// After and Before are cursors from a [Page]: its NextCursor continues
	// the list, its PrevCursor goes back. At most one may be set, and the
	// services' All methods refuse Before.
	After  string `url:"page[after],omitempty" connect:"cursor"`
	Before string `url:"page[before],omitempty" connect:"cursor"`
}

// listOptions is promoted to every params struct that embeds ListOptions,
// so that paging code reaches the cursors of any of them.
func (o *ListOptions) listOptions() *ListOptions { return o }

func (o *ListOptions) checkCursors() error {
	if o.After != "" && o.Before != "" {
		return &ValidationError{Field: "After", Reason: "cannot be combined with Before"}
	}
	return nil
}

// cursor takes the page[after] or page[before] id out of a links URL such as
// "/api/v1/connect/share-tokens?page%5Bafter%5D=cnst_1". A link that is
// null, unparsable or without that parameter means no such page.
func cursor(link *string, param string) string {
	if link == nil || *link == "" {
		return ""
	}
	u, err := url.Parse(*link)
	if err != nil {
		return ""
	}
	return u.Query().Get(param)
}

// maxEmptyPages is how many empty pages in a row All follows while they
// still point to a next page. Persona ends a list with a page without a next
// link; a run of empty pages with fresh cursors would keep All fetching
// without yielding anything, so that its caller could not even break.
const maxEmptyPages = 3

// paginate turns a page fetcher into a lazy iterator over the list at path
// that starts after the cursor start. It stops at the last page, at the
// consumer's break and after yielding an error. It also stops, yielding an
// *UnexpectedResponseError, when the server hands back a cursor it has
// already followed (the start included), or when maxEmptyPages empty pages
// in a row still point onward: either would loop forever. All walks forward
// only, so a Before cursor is refused rather than mixed with forward paging.
func paginate[T any](path, start, before string, fetch func(after string) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		if before != "" {
			yield(nil, &ValidationError{Field: "Before", Reason: "is not supported by All, which pages forward; use List"})
			return
		}
		after := start
		followed := newCursorSet()
		if start != "" {
			followed.add(start)
		}
		empty := 0
		for {
			page, err := fetch(after)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, item := range page.Data {
				if !yield(item, nil) {
					return
				}
			}
			if !page.HasNext() {
				return
			}
			if len(page.Data) == 0 {
				empty++
			} else {
				empty = 0
			}
			if reason := loopReason(followed, page.NextCursor, empty); reason != "" {
				yield(nil, &UnexpectedResponseError{Method: http.MethodGet, Path: path,
					StatusCode: page.status, RequestID: page.requestID, Reason: reason})
				return
			}
			followed.add(page.NextCursor)
			after = page.NextCursor
		}
	}
}

// loopReason says why following next would not end, or "" if it may.
func loopReason(followed cursorSet, next string, empty int) string {
	if followed.has(next) {
		return "the list loops: next cursor " + strconv.Quote(next) + " was already followed"
	}
	if empty >= maxEmptyPages {
		return strconv.Itoa(empty) + " empty pages in a row still point to a next page"
	}
	return ""
}

// cursorSet remembers the cursors an iteration has followed as 64-bit hashes
// under a seed of its own: 8 bytes a page instead of the cursor, so that
// walking a long list stays flat in memory. A server cannot aim for a
// collision without the seed; by chance, two cursors of one walk collide with
// a probability of about 2^-64.
type cursorSet struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

func newCursorSet() cursorSet {
	return cursorSet{seed: maphash.MakeSeed(), hashes: map[uint64]struct{}{}}
}

func (s cursorSet) add(cursor string) { s.hashes[maphash.String(s.seed, cursor)] = struct{}{} }

func (s cursorSet) has(cursor string) bool {
	_, ok := s.hashes[maphash.String(s.seed, cursor)]
	return ok
}
