package connect

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// kind is what the SDK knows about one kind of resource: the JSON:API type
// every response must carry, and how the wire form R becomes the public T.
// A conversion that fails makes the response unexpected, reported like a
// missing id, with the call and its request id.
type kind[R, T any] struct {
	typ     string
	convert func(*R) (*T, error)
}

// infallible adapts a conversion that cannot fail to a kind's.
func infallible[R, T any](convert func(*R) *T) func(*R) (*T, error) {
	return func(r *R) (*T, error) { return convert(r), nil }
}

// one runs a call answered by one resource of kind k.
func (k *kind[R, T]) one(ctx context.Context, c *Client, method, path string, query url.Values, body any, opts []RequestOption) (*T, error) {
	doc := oneDocument[R, T]{document: document[R]{want: k.typ}, kind: k}
	if err := c.do(ctx, method, path, query, body, &doc, opts); err != nil {
		return nil, err
	}
	return doc.item, nil
}

// list fetches one page of the list at path.
func (k *kind[R, T]) list(ctx context.Context, c *Client, path string, query url.Values, opts []RequestOption) (*Page[T], error) {
	doc := &pageDocument[R, T]{listDocument: listDocument[R]{want: k.typ}, kind: k}
	if err := c.do(ctx, http.MethodGet, path, query, nil, doc, opts); err != nil {
		return nil, err
	}
	return doc.release(), nil
}

// oneDocument is a body holding one resource of a kind. Its check converts
// the resource, so that Client.do reports a failed conversion as it reports
// any unexpected body.
type oneDocument[R, T any] struct {
	document[R]
	kind *kind[R, T]
	item *T
}

func (d *oneDocument[R, T]) check() string {
	if reason := d.document.check(); reason != "" {
		return reason
	}
	item, err := d.kind.convert(&d.Data)
	if err != nil {
		return err.Error()
	}
	d.item = item
	return ""
}

// pageDocument is a body holding a page of resources of a kind, converted
// by its check as oneDocument's is. The Page it returns lives in it, one
// allocation fewer per page, and release lets go of everything else it
// holds, so that a Page kept by the caller keeps no wire data alive.
type pageDocument[R, T any] struct {
	listDocument[R]
	kind  *kind[R, T]
	items []*T
	page  Page[T]
}

// release returns the page and drops the wire resources and links.
func (d *pageDocument[R, T]) release() *Page[T] {
	d.page = pageFrom(&d.listDocument, d.items)
	d.listDocument = listDocument[R]{}
	d.items = nil
	return &d.page
}

func (d *pageDocument[R, T]) check() string {
	if reason := d.listDocument.check(); reason != "" {
		return reason
	}
	d.items = make([]*T, len(d.Data))
	for i := range d.Data {
		item, err := d.kind.convert(&d.Data[i])
		if err != nil {
			return "data[" + strconv.Itoa(i) + "]: " + err.Error()
		}
		d.items[i] = item
	}
	return ""
}

// listParams is a pointer to a list's params, which embed ListOptions.
type listParams[P any] interface {
	*P
	listOptions() *ListOptions
}

// all iterates over the list at path, as the services' All methods
// describe: list fetches the page after a cursor, given a copy of params
// whose After is that cursor. params may be nil. Each iteration has a copy
// of its own, reused for every page of it.
func all[P any, PP listParams[P], T any](path string, params PP, list func(PP) (*Page[T], error)) iter.Seq2[*T, error] {
	var base P
	if params != nil {
		base = *params
	}
	return func(yield func(*T, error) bool) {
		p := base
		start := *PP(&p).listOptions()
		paginate(path, start.After, start.Before, func(after string) (*Page[T], error) {
			PP(&p).listOptions().After = after
			return list(&p)
		})(yield)
	}
}
