package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEventsListAndGet(t *testing.T) {
	f := newFixture(t)
	tok := f.createToken(t)
	f.createToken(t)

	list := f.run(t, f.acme, "events", "list")
	require.Equal(t, 0, list.code, list.stderr)
	all := decodeLines(t, f.run(t, f.acme, "events", "list", "--all", "--json").stdout)
	require.Len(t, all, 3, "the inquiry's completion and two tokens created")
	get := f.run(t, f.acme, "events", "get", all[1]["id"].(string))
	require.Equal(t, 0, get.code, get.stderr)
	golden(t, "events-list-get", list, get)

	newest := all[0]
	assert.Equal(t, "connect/share-token.outbound-created", newest["name"])
	assert.Equal(t, "2025-01-01T00:00:02.000Z", newest["created-at"], "newest first")
	assert.Equal(t, "inquiry.completed", all[2]["name"])
	assert.Equal(t, map[string]any{"type": "inquiry", "id": f.inq}, all[2]["object"])
	payload := all[1]["payload"].(map[string]any)
	data := payload["data"].(map[string]any)
	assert.Equal(t, tok, data["id"], "the payload is the token as received")
	assert.Equal(t, "outbound", data["attributes"].(map[string]any)["direction"])

	one := f.run(t, f.acme, "events", "get", all[2]["id"].(string), "--json")
	require.Equal(t, 0, one.code, one.stderr)
	assert.Equal(t, all[2], decodeJSON(t, one.stdout), "get prints what list printed")

	// The destination sees its own side of the same tokens.
	bank := decodeLines(t, f.run(t, f.bank, "events", "list", "--json").stdout)
	require.Len(t, bank, 2)
	assert.Equal(t, "connect/share-token.inbound-created", bank[0]["name"])
}

func TestEventsListFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	tok := f.createToken(t)
	f.createToken(t)

	byName := decodeLines(t, f.run(t, f.acme, "events", "list", "--name", "inquiry.completed,connect/share-token.inbound-created", "--json").stdout)
	require.Len(t, byName, 1)
	assert.Equal(t, "inquiry.completed", byName[0]["name"])
	q, err := url.ParseQuery(f.srv.Requests()[len(f.srv.Requests())-1].RawQuery)
	require.NoError(t, err)
	assert.Equal(t, "inquiry.completed,connect/share-token.inbound-created", q.Get("filter[name]"))

	byObject := decodeLines(t, f.run(t, f.acme, "events", "list", "--object", tok, "--object", f.inq, "--json").stdout)
	assert.Len(t, byObject, 2, "an event matches any of the repeated values")
	byID := decodeLines(t, f.run(t, f.acme, "events", "list", "--id", byObject[0]["id"].(string), "--json").stdout)
	require.Len(t, byID, 1)
	assert.Equal(t, byObject[0]["id"], byID[0]["id"])

	page := f.run(t, f.acme, "events", "list", "--page-size", "2")
	require.Equal(t, 0, page.code, page.stderr)
	assert.Contains(t, page.stderr, "more: connect events list --after ")
	assert.Equal(t, 3, len(decodeLines(t, f.run(t, f.acme, "events", "list", "--page-size", "1", "--all", "--json").stdout)))
}

func TestEventsErrors(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{
		{"events", "get"},
		{"events", "get", "a", "b"},
		{"events", "list", "extra"},
		{"events", "list", "--name", "inquiry completed"},
		{"events", "list", "--page-size", "101"},
		{"events", "list", "--object", "bad id"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
		assert.Empty(t, res.stdout, "%v", args)
	}
	assert.Empty(t, f.srv.Requests(), "nothing is sent for invalid input")

	missing := f.run(t, f.acme, "events", "get", "evt_missing")
	assert.Equal(t, 1, missing.code)
	assert.Contains(t, missing.stderr, "status 404, Request-Id req_")

	// Another organization's event is not found either.
	f.clock.Advance(time.Second)
	acme := decodeLines(t, f.run(t, f.acme, "events", "list", "--json").stdout)
	require.NotEmpty(t, acme)
	other := f.run(t, f.bank, "events", "get", acme[0]["id"].(string))
	assert.Equal(t, 1, other.code)
	assert.Contains(t, other.stderr, "status 404")
}
