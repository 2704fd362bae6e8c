package connect

import (
	"iter"
	"net/url"
)

// Page is one page of a list, newest first.
type Page[T any] struct {
	Data []*T
	// NextCursor continues the list after this page (pass it as After); empty
	// on the last page.
	NextCursor string
	// PrevCursor goes back to the page before this one (pass it as Before);
	// empty on the first page.
	PrevCursor string
}

// HasNext reports whether a page follows this one.
func (p *Page[T]) HasNext() bool { return p != nil && p.NextCursor != "" }

func newPage[R, T any](doc *listDocument[R], convert func(*R) *T) *Page[T] {
	page := &Page[T]{
		Data:       make([]*T, len(doc.Data)),
		NextCursor: cursor(doc.Links.Next, "page[after]"),
		PrevCursor: cursor(doc.Links.Prev, "page[before]"),
	}
	for i := range doc.Data {
		page.Data[i] = convert(&doc.Data[i])
	}
	return page
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

// paginate turns a page fetcher into a lazy iterator that starts after the
// cursor start. It stops at the last page, at the consumer's break, after
// yielding an error, and when a server hands back the cursor it was given
// (which would loop forever). All walks forward only, so a Before cursor is
// refused rather than silently mixed with forward paging.
func paginate[T any](start, before string, fetch func(after string) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		if before != "" {
			yield(nil, &ValidationError{Field: "Before", Reason: "is not supported by All, which pages forward; use List"})
			return
		}
		after := start
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
			if !page.HasNext() || page.NextCursor == after {
				return
			}
			after = page.NextCursor
		}
	}
}
