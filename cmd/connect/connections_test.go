package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectionsLifecycle(t *testing.T) {
	f := newFixture(t)
	third := f.srv.NewOrganization("Credit Union")

	create := f.run(t, f.acme, "connections", "create", "--destination-organization", third.ID, "--idempotency-key", "cxn-1")
	require.Equal(t, 0, create.code, create.stderr)
	id := decodeJSON(t, f.run(t, f.acme, "connections", "list", "--status", "pending", "--json").stdout)["id"].(string)
	assert.Equal(t, "cxn-1", f.srv.Requests()[0].Header.Get("Idempotency-Key"))

	get := f.run(t, third, "connections", "get", id)
	require.NoError(t, f.srv.AcceptConnection(id))
	deactivate := f.run(t, third, "connections", "deactivate", id)
	reactivateByDest := f.run(t, third, "connections", "reactivate", id)
	reactivate := f.run(t, f.acme, "connections", "reactivate", id)
	list := f.run(t, f.acme, "connections", "list")
	for _, r := range []result{get, deactivate, reactivate, list} {
		require.Equal(t, 0, r.code, "%v: %s", r.args, r.stderr)
	}
	assert.Equal(t, 1, reactivateByDest.code, "only the source reactivates")
	golden(t, "connections", create, get, deactivate, reactivateByDest, reactivate, list)

	cxn, ok := f.srv.Connection(id)
	require.True(t, ok)
	assert.Equal(t, "pending", cxn.Status)
}

func TestConnectionsJSON(t *testing.T) {
	f := newFixture(t)
	res := f.run(t, f.acme, "connections", "get", f.cxn, "--json")
	require.Equal(t, 0, res.code, res.stderr)
	got := decodeJSON(t, res.stdout)
	assert.Equal(t, f.cxn, got["id"])
	assert.Equal(t, "active", got["status"])
	assert.Equal(t, f.acme.ID, got["source-organization-id"])
	assert.Equal(t, f.bank.ID, got["destination-organization-id"])
	assert.Equal(t, "2025-01-01T00:00:00.000Z", got["created-at"])
	assert.Contains(t, got, "creator")

	lines := f.run(t, f.bank, "connections", "list", "--all", "--json", "--status", "active",
		"--destination-organization", f.bank.ID, "--page-size", "1")
	require.Equal(t, 0, lines.code, lines.stderr)
	objs := decodeLines(t, lines.stdout)
	require.Len(t, objs, 1)
	assert.Equal(t, f.cxn, objs[0]["id"])
	assert.Contains(t, f.srv.Requests()[1].RawQuery, "filter%5Bdestination-organization-id%5D="+f.bank.ID)
}

func TestConnectionsErrors(t *testing.T) {
	f := newFixture(t)
	dup := f.run(t, f.acme, "connections", "create", "--destination-organization", f.bank.ID)
	assert.Equal(t, 1, dup.code, "a second connection to the same destination is a 409")
	assert.Contains(t, dup.stderr, "status 409, Request-Id req_")

	for _, args := range [][]string{
		{"connections", "create"},
		{"connections", "list", "--status", "open"},
		{"connections", "get"},
		{"connections", "deactivate", "a", "b"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
	}
}
