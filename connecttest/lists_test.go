package connecttest_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ids(r result) []string {
	var out []string
	for _, x := range r.list() {
		out = append(out, x["id"].(string))
	}
	return out
}

func TestListShareTokensPaging(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	var made []string // oldest first
	for range 25 {
		made = append(made, e.token(cxn, e.inq))
	}
	// Newest first; the clock did not move, so creation order breaks ties.
	want := make([]string, 25)
	for i, id := range made {
		want[24-i] = id
	}

	p1 := e.do(e.src, "GET", "/connect/share-tokens", nil)
	require.Equal(t, 200, p1.Status)
	assert.Equal(t, want[:10], ids(p1), "default page size 10")
	assert.Nil(t, p1.link("prev"))
	assert.Equal(t, "/api/v1/connect/share-tokens?page%5Bafter%5D="+want[9], p1.link("next"))

	p2 := e.do(e.src, "GET", "/connect/share-tokens?page%5Bafter%5D="+want[9], nil)
	assert.Equal(t, want[10:20], ids(p2))
	assert.Equal(t, "/api/v1/connect/share-tokens?page%5Bbefore%5D="+want[10], p2.link("prev"))
	p3 := e.do(e.src, "GET", p2.link("next").(string)[len("/api/v1"):], nil)
	assert.Equal(t, want[20:], ids(p3))
	assert.Nil(t, p3.link("next"))

	// page[before] walks back.
	back := e.do(e.src, "GET", p3.link("prev").(string)[len("/api/v1"):], nil)
	assert.Equal(t, want[10:20], ids(back))
	first := e.do(e.src, "GET", "/connect/share-tokens?page[before]="+want[12], nil)
	assert.Equal(t, want[2:12], ids(first))
	top := e.do(e.src, "GET", "/connect/share-tokens?page[before]="+want[3], nil)
	assert.Equal(t, want[:3], ids(top))
	assert.Nil(t, top.link("prev"))
	assert.Equal(t, "/api/v1/connect/share-tokens?page%5Bafter%5D="+want[2], top.link("next"))

	// The page size is carried along.
	s := e.do(e.src, "GET", "/connect/share-tokens?page[size]=7", nil)
	assert.Equal(t, want[:7], ids(s))
	assert.Equal(t, "/api/v1/connect/share-tokens?page%5Bafter%5D="+want[6]+"&page%5Bsize%5D=7", s.link("next"))
	all := e.do(e.src, "GET", "/connect/share-tokens?page[size]=100", nil)
	assert.Equal(t, want, ids(all))
	assert.Nil(t, all.link("next"))

	// The destination lists them too, as inbound.
	in := e.do(e.dst, "GET", "/connect/share-tokens?page[size]=3", nil)
	for _, x := range in.list() {
		assert.Equal(t, "inbound", x["attributes"].(map[string]any)["direction"])
	}
	// A stranger sees none.
	none := e.do(e.other, "GET", "/connect/share-tokens", nil)
	assert.Empty(t, none.list())
	assert.Equal(t, `{"data":[],"links":{"prev":null,"next":null}}`, string(none.Raw))
}

func TestListShareTokensFilters(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	cxn2 := e.srv.NewActiveConnection(e.src, e.other)
	back := e.srv.NewActiveConnection(e.dst, e.src)
	a := e.token(cxn, e.inq)
	b := e.token(cxn, e.inq)
	c := e.token(cxn2, e.inq)
	e.clock.Advance(time.Second)
	in := e.do(e.dst, "POST", "/connect/share-tokens", tokenBody(back, e.srv.NewInquiry(e.dst, nil)))
	require.Equal(t, 201, in.Status)
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+a+"/redeem", nil).Status)
	require.Equal(t, 200, e.do(e.src, "POST", "/connect/share-tokens/"+c+"/expire", nil).Status)

	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{in.id(), c, b, a}},
		{"filter[direction]=outbound", []string{c, b, a}},
		{"filter[direction]=inbound", []string{in.id()}},
		{"filter[connection-id]=" + cxn, []string{b, a}},
		{"filter[status]=redeemed", []string{a}},
		{"filter[status]=expired", []string{c}},
		{"filter[status]=created", []string{in.id(), b}},
		{"filter[status]=created&filter[direction]=outbound", []string{b}},
		{"filter[connection-id]=cxn_nope", nil},
	}
	for _, tc := range cases {
		r := e.do(e.src, "GET", "/connect/share-tokens?"+tc.query, nil)
		require.Equal(t, 200, r.Status, tc.query)
		assert.Equal(t, tc.want, ids(r), tc.query)
	}

	// Filters ride along in links, with the cursor.
	r := e.do(e.src, "GET", "/connect/share-tokens?filter[direction]=outbound&page[size]=1", nil)
	next := r.link("next").(string)
	u, err := url.Parse(next)
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/connect/share-tokens", u.Path)
	assert.Equal(t, "filter%5Bdirection%5D=outbound&page%5Bafter%5D="+c+"&page%5Bsize%5D=1", u.RawQuery)
	r2 := e.do(e.src, "GET", "/connect/share-tokens?"+u.RawQuery, nil)
	assert.Equal(t, []string{b}, ids(r2))
	assert.Equal(t, "/api/v1/connect/share-tokens?filter%5Bdirection%5D=outbound&page%5Bbefore%5D="+b+"&page%5Bsize%5D=1", r2.link("prev"))

	// A cursor that the filters exclude still works: it is a position.
	r3 := e.do(e.src, "GET", "/connect/share-tokens?filter[status]=created&page[after]="+c, nil)
	assert.Equal(t, []string{b}, ids(r3))
}

func TestListBadParameters(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	for _, q := range []string{
		"page[size]=0", "page[size]=101", "page[size]=x", "page[size]=1.5", "page[size]=",
		"page[after]=cnst_nope", "page[before]=cnst_nope", "page[after]=" + tok + "&page[before]=" + tok,
		"page[number]=2", "filter[color]=red", "filter[status]=done", "filter[direction]=sideways",
	} {
		r := e.do(e.src, "GET", "/connect/share-tokens?"+q, nil)
		assert.Equal(t, 400, r.Status, q)
	}
	for _, q := range []string{"page[size]=0", "filter[status]=created", "filter[connection-id]=" + cxn, "page[after]=" + tok} {
		r := e.do(e.src, "GET", "/connect/connections?"+q, nil)
		assert.Equal(t, 400, r.Status, q)
	}
	// A share token's id is no cursor for someone who cannot see it.
	assert.Equal(t, 400, e.do(e.other, "GET", "/connect/share-tokens?page[after]="+tok, nil).Status)
	// Unrelated parameters are ignored.
	assert.Equal(t, 200, e.do(e.src, "GET", "/connect/share-tokens?include=source&fields[connect/share-token]=status", nil).Status)
}

func TestListConnections(t *testing.T) {
	e := newEnv(t)
	out := e.connect()
	e.clock.Advance(time.Second)
	in := e.do(e.other, "POST", "/connect/connections", connBody(e.src.ID))
	require.Equal(t, 201, in.Status)
	e.clock.Advance(time.Second)
	third := e.do(e.src, "POST", "/connect/connections", connBody(e.other.ID))
	require.Equal(t, 201, third.Status)
	_ = e.srv.NewActiveConnection(e.dst, e.other) // not src's

	r := e.do(e.src, "GET", "/connect/connections", nil)
	assert.Equal(t, []string{third.id(), in.id(), out}, ids(r), "both directions, newest first")
	assert.Nil(t, r.link("next"))
	assert.Nil(t, r.link("prev"))

	cases := map[string][]string{
		"filter[status]=active":                             {out},
		"filter[status]=pending":                            {third.id(), in.id()},
		"filter[destination-organization-id]=" + e.other.ID: {third.id()},
		"filter[destination-organization-id]=" + e.src.ID:   {in.id()},
	}
	for q, want := range cases {
		assert.Equal(t, want, ids(e.do(e.src, "GET", "/connect/connections?"+q, nil)), q)
	}

	p := e.do(e.src, "GET", "/connect/connections?page[size]=2&filter[status]=pending", nil)
	assert.Equal(t, []string{third.id(), in.id()}, ids(p))
	assert.Nil(t, p.link("next"))
	p = e.do(e.src, "GET", "/connect/connections?page[size]=1", nil)
	assert.Equal(t, "/api/v1/connect/connections?page%5Bafter%5D="+third.id()+"&page%5Bsize%5D=1", p.link("next"))
	p = e.do(e.src, "GET", "/connect/connections?page[size]=1&page[after]="+third.id(), nil)
	assert.Equal(t, []string{in.id()}, ids(p))
	assert.Equal(t, "/api/v1/connect/connections?page%5Bbefore%5D="+in.id()+"&page%5Bsize%5D=1", p.link("prev"))
}
