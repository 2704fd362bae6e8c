package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m), s)
	return m
}

// decodeLines decodes one JSON object per line.
func decodeLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line != "" {
			out = append(out, decodeJSON(t, line))
		}
	}
	return out
}

func TestShareTokensCreate(t *testing.T) {
	f := newFixture(t)
	res := f.run(t, f.acme, "share-tokens", "create", "--connection", f.cxn, "--source", f.inq, "--expires-in", "24h")
	require.Equal(t, 0, res.code, res.stderr)
	golden(t, "share-tokens-create", res)

	f.clock.Advance(time.Second)
	res = f.run(t, f.acme, "share-tokens", "create", "--connection", f.cxn, "--source", f.inq,
		"--expires-in", "1h", "--idempotency-key", "share-1", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	got := decodeJSON(t, res.stdout)
	assert.Equal(t, "created", got["status"])
	assert.Equal(t, "outbound", got["direction"])
	assert.Equal(t, f.cxn, got["connection-id"])
	assert.Equal(t, map[string]any{"type": "inquiry", "id": f.inq}, got["source"])
	assert.Nil(t, got["destination"])
	assert.Equal(t, "2025-01-01T00:00:02.000Z", got["created-at"])
	assert.Equal(t, "2025-01-01T01:00:02.000Z", got["expires-at"])
	for _, key := range []string{"redeem-mode", "failure-reason", "pending-at", "redeemed-at", "failed-at"} {
		assert.Contains(t, got, key, "every key is present, null when not set")
		assert.Nil(t, got[key], key)
	}
	assert.NotContains(t, got, "source-data", "only peek has source data")

	reqs := f.srv.Requests()
	assert.Equal(t, "share-1", reqs[len(reqs)-1].Header.Get("Idempotency-Key"))
	tok, ok := f.srv.ShareToken(got["id"].(string))
	require.True(t, ok)
	assert.Equal(t, f.inq, tok.SourceID)
}

func TestShareTokensCreateNeedsItsFlags(t *testing.T) {
	f := newFixture(t)
	res := f.run(t, f.acme, "share-tokens", "create", "--source", f.inq)
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "--connection is required")

	res = f.run(t, f.acme, "share-tokens", "create", "--connection", f.cxn, "--source", f.inq, "--expires-in", "10s")
	assert.Equal(t, 2, res.code, "ErrInvalidParams is a usage error")
	assert.Contains(t, res.stderr, "ExpiresIn")
	golden(t, "share-tokens-create-invalid", res)
	assert.Empty(t, f.srv.Requests(), "nothing is sent for invalid input")
}

func TestShareTokensGetAndPeek(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	get := f.run(t, f.acme, "share-tokens", "get", id)
	peek := f.run(t, f.bank, "share-tokens", "peek", id)
	require.Equal(t, 0, get.code, get.stderr)
	require.Equal(t, 0, peek.code, peek.stderr)
	golden(t, "share-tokens-get-peek", get, peek)

	// Flags may follow the argument.
	res := f.run(t, f.bank, "share-tokens", "peek", id, "--json")
	require.Equal(t, 0, res.code, res.stderr)
	got := decodeJSON(t, res.stdout)
	assert.Equal(t, "inbound", got["direction"])
	sd := got["source-data"].(map[string]any)
	assert.Equal(t, f.inq, sd["id"])
	fields := sd["fields"].(map[string]any)
	assert.Equal(t, map[string]any{"visibility": "full", "value": "Ada"}, fields["name-first"])
	assert.Equal(t, map[string]any{"visibility": "presence", "value": true}, fields["name-last"])
}

func TestShareTokensRedeemAndWait(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	redeem := f.run(t, f.bank, "share-tokens", "redeem", id, "--idempotency-key", "redeem-1")
	require.Equal(t, 0, redeem.code, redeem.stderr)
	wait := f.run(t, f.bank, "share-tokens", "wait", id, "--poll", "2s")
	require.Equal(t, 0, wait.code, wait.stderr)
	golden(t, "share-tokens-redeem-wait", redeem, wait)

	again := f.run(t, f.bank, "share-tokens", "wait", id, "--json")
	require.Equal(t, 0, again.code, again.stderr)
	got := decodeJSON(t, again.stdout)
	assert.Equal(t, "redeemed", got["status"])
	assert.Equal(t, "clone", got["redeem-mode"])
	dest := got["destination"].(map[string]any)
	clone, ok := f.srv.Object(dest["id"].(string))
	require.True(t, ok)
	assert.Equal(t, f.inq, clone.ClonedFrom)
	assert.Equal(t, f.bank.ID, clone.OrganizationID)

	second := f.run(t, f.bank, "share-tokens", "redeem", id)
	assert.Equal(t, 1, second.code, "a second redemption is a 409")
	assert.Contains(t, second.stderr, "status 409")
}

func TestShareTokensRedeemHydratesWithMappings(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	target := f.srv.NewInquiry(f.bank, map[string]any{"given-name": nil})
	res := f.run(t, f.bank, "share-tokens", "redeem", id, "--destination", target,
		"--map", "name-first=given-name", "--map", "name-last=family-name", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	got := decodeJSON(t, res.stdout)
	assert.Equal(t, "pending", got["status"])

	body := string(f.srv.Requests()[len(f.srv.Requests())-1].Body)
	assert.Contains(t, body, `"destination-id":"`+target+`"`)
	assert.Contains(t, body, `{"source-field-name":"name-first","destination-field-name":"given-name"}`)
	assert.Contains(t, body, `{"source-field-name":"name-last","destination-field-name":"family-name"}`)

	bad := f.run(t, f.bank, "share-tokens", "redeem", id, "--map", "name-first")
	assert.Equal(t, 2, bad.code)
	assert.Contains(t, bad.stderr, "want source-field=destination-field")
	noDest := f.run(t, f.bank, "share-tokens", "redeem", id, "--map", "a=b")
	assert.Equal(t, 2, noDest.code, "mappings without --destination are invalid parameters")
	assert.Contains(t, noDest.stderr, "FieldMappings")
}

func TestShareTokensExpire(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	res := f.run(t, f.acme, "share-tokens", "expire", id)
	require.Equal(t, 0, res.code, res.stderr)
	wrongSide := f.run(t, f.bank, "share-tokens", "expire", id)
	assert.Equal(t, 1, wrongSide.code)
	golden(t, "share-tokens-expire", res, wrongSide)

	tok, _ := f.srv.ShareToken(id)
	assert.Equal(t, "expired", tok.Status)
}

func TestShareTokensList(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		f.createToken(t)
	}
	page := f.run(t, f.acme, "share-tokens", "list", "--page-size", "2")
	all := f.run(t, f.acme, "share-tokens", "list", "--page-size", "2", "--all")
	require.Equal(t, 0, page.code, page.stderr)
	require.Equal(t, 0, all.code, all.stderr)
	golden(t, "share-tokens-list", page, all)
	assert.Contains(t, page.stderr, "--after ")
	assert.Equal(t, 4, strings.Count(all.stdout, "\n"), "a header and three rows")
	assert.Empty(t, all.stderr)

	lines := f.run(t, f.bank, "share-tokens", "list", "--all", "--json", "--direction", "inbound", "--status", "created",
		"--connection", f.cxn)
	require.Equal(t, 0, lines.code, lines.stderr)
	objs := decodeLines(t, lines.stdout)
	require.Len(t, objs, 3)
	for _, o := range objs {
		assert.Equal(t, "inbound", o["direction"])
	}
	q := f.srv.Requests()[len(f.srv.Requests())-1].RawQuery
	assert.Contains(t, q, "filter%5Bstatus%5D=created")
	assert.Contains(t, q, "filter%5Bdirection%5D=inbound")

	// The cursor from stderr gets the next page.
	cursor := strings.Fields(page.stderr[strings.Index(page.stderr, "--after"):])[1]
	next := f.run(t, f.acme, "share-tokens", "list", "--page-size", "2", "--after", cursor, "--json")
	require.Equal(t, 0, next.code, next.stderr)
	assert.Len(t, decodeLines(t, next.stdout), 1)

	bad := f.run(t, f.acme, "share-tokens", "list", "--status", "done")
	assert.Equal(t, 2, bad.code)
	assert.Contains(t, bad.stderr, `--status "done" is not one of created, pending, redeemed, expired, failed`)
	bad = f.run(t, f.acme, "share-tokens", "list", "--page-size", "500")
	assert.Equal(t, 2, bad.code)
	assert.Contains(t, bad.stderr, "PageSize")
}

func TestShareTokensWaitGivesUp(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	res := f.run(t, f.bank, "share-tokens", "wait", id, "--poll", "2s", "--timeout", "5s")
	assert.Equal(t, 1, res.code)
	assert.Empty(t, res.stdout)
	golden(t, "share-tokens-wait-timeout", res)
	gets := 0
	for _, r := range f.srv.Requests() {
		if r.Method == "GET" {
			gets++
		}
	}
	assert.Equal(t, 4, gets, "reads at 0s, 2s, 4s and 5s on the clock")
}

func TestShareTokensWaitEndsOnFailure(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	require.Equal(t, 0, f.run(t, f.bank, "share-tokens", "redeem", id).code)
	require.NoError(t, f.srv.RedactObject(f.inq))
	res := f.run(t, f.bank, "share-tokens", "wait", id, "--json")
	require.Equal(t, 0, res.code, "wait succeeds whatever the final status: %s", res.stderr)
	got := decodeJSON(t, res.stdout)
	assert.Equal(t, "failed", got["status"])
	assert.Equal(t, "source_redacted", got["failure-reason"])
	assert.Contains(t, res.stderr, "failed")
}

func TestShareTokensArgs(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{
		{"share-tokens", "get"},
		{"share-tokens", "get", "a", "b"},
		{"share-tokens", "wait", "x", "--poll", "0s"},
		{"share-tokens", "get", "bad id"},
		{"share-tokens", "list", "extra"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
		assert.Empty(t, res.stdout, "%v", args)
	}
	assert.Empty(t, f.srv.Requests())

	missing := f.run(t, f.acme, "share-tokens", "get", "cnst_missing")
	assert.Equal(t, 1, missing.code)
	golden(t, "share-tokens-get-not-found", missing)
	rec := f.srv.Requests()[0]
	assert.Contains(t, missing.stderr, "status 404, Request-Id "+rec.RequestID)
}

func TestShareTokensWaitInterruptedAndUnlimited(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)

	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newSession(strings.NewReader(""), &stdout, &stderr, func(k string) string {
		return map[string]string{"PERSONA_API_KEY": f.bank.APIKey, "PERSONA_BASE_URL": f.srv.URL}[k]
	})
	s.sleep = func(ctx context.Context, _ time.Duration) error {
		cancel() // Ctrl-C during the first pause
		return ctx.Err()
	}
	assert.Equal(t, 1, s.main(ctx, []string{"share-tokens", "wait", id}))
	assert.Contains(t, stderr.String(), "interrupted: share token "+id+" is still created")
	assert.Empty(t, stdout.String())

	require.Equal(t, 0, f.run(t, f.bank, "share-tokens", "redeem", id).code)
	res := f.run(t, f.bank, "share-tokens", "wait", id, "--timeout", "0", "--poll", "1m", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stderr, "every 1m0s, no time limit")
	assert.Equal(t, "redeemed", decodeJSON(t, res.stdout)["status"])

	assert.Equal(t, 2, f.run(t, f.bank, "share-tokens", "wait", id, "--timeout", "-1s").code)
}
