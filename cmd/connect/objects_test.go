package main

import (
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObjectsGet(t *testing.T) {
	f := newFixture(t)
	tok := f.createToken(t)
	require.Equal(t, 0, f.run(t, f.bank, "share-tokens", "redeem", tok).code)
	f.clock.Advance(10 * time.Second)
	redeemed := decodeJSON(t, f.run(t, f.bank, "share-tokens", "get", tok, "--json").stdout)
	require.Equal(t, "redeemed", redeemed["status"])
	copied := redeemed["destination"].(map[string]any)

	// The destination reads the copy the redemption made, by the type and id
	// the token shows.
	res := f.run(t, f.bank, "objects", "get", copied["type"].(string), copied["id"].(string))
	require.Equal(t, 0, res.code, res.stderr)
	golden(t, "objects-get", res)

	js := f.run(t, f.bank, "objects", "get", "inquiry", copied["id"].(string), "--json")
	require.Equal(t, 0, js.code, js.stderr)
	got := decodeJSON(t, js.stdout)
	assert.Equal(t, "inquiry", got["type"])
	assert.Equal(t, copied["id"], got["id"])
	assert.Equal(t, "completed", got["status"])
	attrs := got["attributes"].(map[string]any)
	fields := attrs["fields"].(map[string]any)
	assert.Equal(t, "Ada", fields["name-first"].(map[string]any)["value"], "the copy holds the source's fields")

	acct := f.srv.NewAccount(f.acme, map[string]any{"name-first": "Ada"})
	account := decodeJSON(t, f.run(t, f.acme, "objects", "get", "account", acct, "--json").stdout)
	assert.Equal(t, "account", account["type"])
	assert.Contains(t, account, "status", "every key is present")
	assert.Nil(t, account["status"], "accounts have no status")

	txn := f.srv.NewTransaction(f.acme, nil)
	assert.Equal(t, "transaction", decodeJSON(t, f.run(t, f.acme, "objects", "get", "txn", txn, "--json").stdout)["type"])
	ver := f.srv.NewVerification(f.acme, connecttest.TypeVerificationDatabase, map[string]any{"country-code": "US"})
	verOut := decodeJSON(t, f.run(t, f.acme, "objects", "get", "verification", ver, "--json").stdout)
	assert.Equal(t, connecttest.TypeVerificationDatabase, verOut["type"])
}

func TestObjectsGetErrors(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{
		{"objects", "get"},
		{"objects", "get", "inquiry"},
		{"objects", "get", "inquiry", "a", "b"},
		{"objects", "get", "report", "rep_1"},
		{"objects", "get", "inquiry", "bad id"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
		assert.Empty(t, res.stdout, "%v", args)
	}
	assert.Empty(t, f.srv.Requests(), "nothing is sent for invalid input")

	unknownType := f.run(t, f.acme, "objects", "get", "report", "rep_1")
	other := f.run(t, f.bank, "objects", "get", "inquiry", f.inq)
	assert.Equal(t, 1, other.code, "another organization's object is not found")
	golden(t, "objects-get-errors", unknownType, other)
}
