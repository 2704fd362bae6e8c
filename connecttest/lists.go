package connecttest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Lists, as Persona pages them: newest first (ties broken by creation
// order), page[size] from 1 to 100 (default 10), page[after]=<id> for the
// items older than that one and page[before]=<id> for the items newer than
// it (the page closest to it). The cursor id must be an item the caller
// can see, whether or not it matches the filters; an unknown cursor, both
// cursors at once, a bad size, an unknown page[…] or filter[…] key or an
// unknown filter value is a 400. links.next and links.prev are relative
// URLs that repeat the filters and page size of the request (brackets
// percent-encoded), or null when there is nothing beyond.

const (
	defaultPageSize = 10
	maxPageSize     = 100
)

type listLinks struct {
	Prev *string `json:"prev"`
	Next *string `json:"next"`
}

type listDocument struct {
	Data  []any     `json:"data"`
	Links listLinks `json:"links"`
}

// listQuery is a parsed list request.
type listQuery struct {
	size          int
	after, before string
	filters       map[string]string
	carry         url.Values // filters and size, to repeat in links
}

// parseListQuery reads page[…] and filter[…] parameters; allowed maps each
// filter name to its valid values (nil: any value).
func parseListQuery(q url.Values, allowed map[string][]string) (*listQuery, string) {
	lq := &listQuery{size: defaultPageSize, filters: map[string]string{}, carry: url.Values{}}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch {
		case key == "page[size]":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxPageSize {
				return nil, "page[size] must be an integer from 1 to 100"
			}
			lq.size = n
			lq.carry.Set(key, v)
		case key == "page[after]":
			lq.after = v
		case key == "page[before]":
			lq.before = v
		case strings.HasPrefix(key, "page["):
			return nil, key + " is not a valid parameter"
		case strings.HasPrefix(key, "filter[") && strings.HasSuffix(key, "]"):
			name := key[len("filter[") : len(key)-1]
			valid, ok := allowed[name]
			if !ok {
				return nil, key + " is not a valid filter"
			}
			if valid != nil && !slices.Contains(valid, v) {
				return nil, key + " must be one of " + strings.Join(valid, ", ")
			}
			lq.filters[name] = v
			lq.carry.Set(key, v)
		}
	}
	if lq.after != "" && lq.before != "" {
		return nil, "page[after] and page[before] cannot be used together"
	}
	return lq, ""
}

// page cuts one page out of items (already newest first and filtered);
// position finds a cursor among all the items the caller can see and
// returns its sequence number. It returns the page and its links.
func page[T any](items []T, seqOf func(T) int64, idOf func(T) string, lq *listQuery, position func(string) (int64, bool), base string) ([]T, listLinks, string) {
	lo, hi := 0, len(items) // the slice of items beyond the cursor
	switch {
	case lq.after != "":
		seq, ok := position(lq.after)
		if !ok {
			return nil, listLinks{}, "page[after] names no object in this list"
		}
		lo = len(items)
		for i, it := range items {
			if seqOf(it) < seq {
				lo = i
				break
			}
		}
	case lq.before != "":
		seq, ok := position(lq.before)
		if !ok {
			return nil, listLinks{}, "page[before] names no object in this list"
		}
		hi = 0
		for i, it := range items {
			if seqOf(it) > seq {
				hi = i + 1
			}
		}
	}
	start, end := lo, min(lo+lq.size, hi)
	if lq.before != "" {
		start, end = max(hi-lq.size, lo), hi
	}
	out := items[start:end]
	var links listLinks
	if len(out) > 0 {
		if end < len(items) {
			links.Next = link(base, lq.carry, "page[after]", idOf(out[len(out)-1]))
		}
		if start > 0 {
			links.Prev = link(base, lq.carry, "page[before]", idOf(out[0]))
		}
	}
	return out, links, ""
}

func link(base string, carry url.Values, cursor, id string) *string {
	v := url.Values{}
	for k, vals := range carry {
		v[k] = vals
	}
	v.Set(cursor, id)
	s := base + "?" + v.Encode()
	return &s
}

func (s *Server) listShareTokens(c *call, r *http.Request) response {
	lq, msg := parseListQuery(r.URL.Query(), map[string][]string{
		"status":        {tokenCreated, tokenPending, tokenRedeemed, tokenExpired, tokenFailed},
		"direction":     {"inbound", "outbound"},
		"connection-id": nil,
	})
	if msg != "" {
		return badRequest(msg)
	}
	var visible, items []*shareToken
	for _, t := range s.tokens {
		if t.sourceOrg != c.org.ID && t.destOrg != c.org.ID {
			continue
		}
		visible = append(visible, t)
		if f, ok := lq.filters["status"]; ok && t.status != f {
			continue
		}
		if f, ok := lq.filters["direction"]; ok && !hasDirection(t, c.org, f) {
			continue
		}
		if f, ok := lq.filters["connection-id"]; ok && t.connID != f {
			continue
		}
		items = append(items, t)
	}
	newestFirst(items, func(t *shareToken) int64 { return t.seq })
	position := func(id string) (int64, bool) {
		for _, t := range visible {
			if t.id == id {
				return t.seq, true
			}
		}
		return 0, false
	}
	out, links, msg := page(items, func(t *shareToken) int64 { return t.seq }, func(t *shareToken) string { return t.id },
		lq, position, BasePath+"/connect/share-tokens")
	if msg != "" {
		return badRequest(msg)
	}
	doc := listDocument{Data: make([]any, len(out)), Links: links}
	for i, t := range out {
		if dir, ok := lq.filters["direction"]; ok {
			doc.Data[i] = s.tokenViewLocked(t, c.org, dir, false)
		} else {
			doc.Data[i] = s.tokenResourceLocked(t, c.org, false)
		}
	}
	return jsonResp(http.StatusOK, doc)
}

func (s *Server) listConnections(c *call, r *http.Request) response {
	lq, msg := parseListQuery(r.URL.Query(), map[string][]string{
		"status":                      {connPending, connActive, connInactive},
		"destination-organization-id": nil,
	})
	if msg != "" {
		return badRequest(msg)
	}
	var visible, items []*connection
	for _, x := range s.conns {
		if x.sourceOrg != c.org.ID && x.destOrg != c.org.ID {
			continue
		}
		visible = append(visible, x)
		if f, ok := lq.filters["status"]; ok && x.status != f {
			continue
		}
		if f, ok := lq.filters["destination-organization-id"]; ok && x.destOrg != f {
			continue
		}
		items = append(items, x)
	}
	newestFirst(items, func(x *connection) int64 { return x.seq })
	position := func(id string) (int64, bool) {
		for _, x := range visible {
			if x.id == id {
				return x.seq, true
			}
		}
		return 0, false
	}
	out, links, msg := page(items, func(x *connection) int64 { return x.seq }, func(x *connection) string { return x.id },
		lq, position, BasePath+"/connect/connections")
	if msg != "" {
		return badRequest(msg)
	}
	doc := listDocument{Data: make([]any, len(out)), Links: links}
	for i, x := range out {
		doc.Data[i] = x.resource()
	}
	return jsonResp(http.StatusOK, doc)
}

// newestFirst sorts by sequence number, highest (newest) first.
func newestFirst[T any](xs []T, seq func(T) int64) {
	slices.SortFunc(xs, func(a, b T) int {
		switch sa, sb := seq(a), seq(b); {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
}

// hasDirection reports whether org sees t in the direction dir: outbound
// as its source, inbound as its destination; an organization connected to
// itself sees its tokens both ways.
func hasDirection(t *shareToken, org *Organization, dir string) bool {
	return (dir == directionOutbound && t.sourceOrg == org.ID) || (dir == directionInbound && t.destOrg == org.ID)
}
