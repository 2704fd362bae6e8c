package connecttest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateShareToken(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	e.clock.Advance(1500 * time.Millisecond)
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq))
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	now := t0.Add(1500 * time.Millisecond)
	assert.Regexp(t, `^cnst_[A-Za-z0-9]+$`, r.id())
	assert.Equal(t, "connect/share-token", r.data()["type"])
	assert.Equal(t, "created", r.attr("status"))
	assert.Equal(t, "outbound", r.attr("direction"))
	assert.Equal(t, "2025-03-04T05:06:08.500Z", r.attr("created-at"))
	assert.Equal(t, ts(now), r.attr("updated-at"))
	assert.Equal(t, ts(now.Add(14*24*time.Hour)), r.attr("expires-at"), "default 14 days")
	for _, k := range []string{"pending-at", "redeemed-at", "failed-at", "failure-reason", "redeem-mode"} {
		assert.Nil(t, r.attr(k), k)
	}
	assert.Equal(t, []string{"connection", "creator", "source"}, r.relKeys())
	c, _ := r.rel("creator")
	assert.Equal(t, map[string]any{"type": "api-key", "id": e.src.APIKeyID}, c)
	s, _ := r.rel("source")
	assert.Equal(t, map[string]any{"type": "inquiry", "id": e.inq}, s)
	cx, _ := r.rel("connection")
	assert.Equal(t, map[string]any{"type": "connect/connection", "id": cxn}, cx)
	assert.Equal(t, 1, e.srv.Stats().ShareTokensCreated)

	custom := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq, 86400))
	require.Equal(t, 201, custom.Status)
	assert.Equal(t, ts(now.Add(24*time.Hour)), custom.attr("expires-at"))

	st, ok := e.srv.ShareToken(r.id())
	require.True(t, ok)
	assert.Equal(t, e.inq, st.SourceID)
	assert.Equal(t, e.dst.ID, st.DestinationOrganizationID)
}

func TestCreateShareTokenExpiresInRange(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	for _, n := range []int{60, 3600, 1_814_400} {
		assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq, n)).Status, n)
	}
	for _, n := range []int{-1, 0, 59, 1_814_401, 1 << 40} {
		r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq, n))
		require.Equal(t, 422, r.Status, n)
		assert.Equal(t, "Unprocessable entity", r.errTitle())
		assert.Equal(t, "/data/attributes/expires-in-seconds", r.pointer())
	}
}

func TestCreateShareTokenSourceKinds(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	for id, typ := range map[string]string{
		e.srv.NewAccount(e.src, nil):                                            "account",
		e.srv.NewTransaction(e.src, nil):                                        "txn",
		e.srv.NewVerification(e.src, connecttest.TypeVerificationDatabase, nil): "verification/database",
	} {
		r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, id))
		require.Equal(t, 201, r.Status, "%s", r.Raw)
		s, _ := r.rel("source")
		assert.Equal(t, map[string]any{"type": typ, "id": id}, s)
	}
}

func TestCreateShareTokenPermissions(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()

	// The destination cannot create tokens over the connection.
	dstInq := e.srv.NewInquiry(e.dst, nil)
	r := e.do(e.dst, "POST", "/connect/share-tokens", tokenBody(cxn, dstInq))
	assert.Equal(t, 403, r.Status)
	assert.Equal(t, "Forbidden", r.errTitle())

	// A third organization does not see the connection: a body naming an
	// id the caller cannot see is a 422 with a pointer (the create
	// operation has no 404 in Persona's document).
	otherInq := e.srv.NewInquiry(e.other, nil)
	for _, r := range []result{
		e.do(e.other, "POST", "/connect/share-tokens", tokenBody(cxn, otherInq)),
		e.do(e.src, "POST", "/connect/share-tokens", tokenBody("cxn_nope", e.inq)),
	} {
		assert.Equal(t, 422, r.Status)
		assert.Equal(t, "/data/attributes/connection-id", r.pointer())
	}

	// The source object must be the source's own.
	for _, src := range []string{"inq_nope", dstInq, otherInq} {
		r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, src))
		assert.Equal(t, 422, r.Status, src)
		assert.Equal(t, "/data/attributes/source-id", r.pointer())
		assert.Contains(t, r.errItem()["details"], "source_id is not found")
	}

	// A redacted source cannot be shared.
	red := e.srv.NewInquiry(e.src, map[string]any{"name-first": "Bob"})
	require.NoError(t, e.srv.RedactObject(red))
	r = e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, red))
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "/data/attributes/source-id", r.pointer())
	o, _ := e.srv.Object(red)
	assert.True(t, o.Redacted)
	assert.Nil(t, o.Fields["name-first"])
	assert.Contains(t, o.Fields, "name-first")

	assert.Equal(t, 0, e.srv.Stats().ShareTokensCreated)
}

func TestCreateShareTokenNeedsActiveConnection(t *testing.T) {
	e := newEnv(t)
	p := e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID))
	require.Equal(t, 201, p.Status)
	r := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(p.id(), e.inq))
	assert.Equal(t, 422, r.Status, "pending")
	assert.Equal(t, "/data/attributes/connection-id", r.pointer())

	require.NoError(t, e.srv.AcceptConnection(p.id()))
	require.Equal(t, 200, e.do(e.src, "POST", "/connect/connections/"+p.id()+"/deactivate", nil).Status)
	assert.Equal(t, 422, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(p.id(), e.inq)).Status, "inactive")
}

func TestShareTokenVisibilityBySide(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)

	src := e.get(e.src, tok)
	assert.Equal(t, "outbound", src.attr("direction"))
	assert.Equal(t, []string{"connection", "creator", "source"}, src.relKeys())

	dst := e.get(e.dst, tok)
	assert.Equal(t, "inbound", dst.attr("direction"))
	assert.Equal(t, []string{"connection", "destination"}, dst.relKeys())
	d, ok := dst.rel("destination")
	assert.True(t, ok)
	assert.Nil(t, d)
	assert.Nil(t, dst.attr("source-data"))

	r := e.do(e.other, "GET", "/connect/share-tokens/"+tok, nil)
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, 404, e.do(e.other, "POST", "/connect/share-tokens/"+tok+"/expire", nil).Status)
	assert.Equal(t, 404, e.do(e.other, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)

	// The source gets no source-data, even when it asks.
	peek := e.do(e.src, "GET", "/connect/share-tokens/"+tok+"?peek-source-data=true", nil)
	require.Equal(t, 200, peek.Status)
	assert.NotContains(t, peek.data()["attributes"], "source-data")
	assert.Equal(t, 400, e.do(e.dst, "GET", "/connect/share-tokens/"+tok+"?peek-source-data=yes", nil).Status)
}

func TestPeekSourceData(t *testing.T) {
	e := newEnv(t, connecttest.WithPeekFullFields("country-code", "amount"))
	cxn := e.connect()
	act := e.srv.NewAccount(e.src, map[string]any{"name-first": "Ada", "phone": nil})
	txn := e.srv.NewTransaction(e.src, map[string]any{"amount": 42, "note": "x"})
	ver := e.srv.NewVerification(e.src, connecttest.TypeVerificationDatabase, map[string]any{"country-code": "GB", "birthdate": "1815-12-10"})
	cases := []struct {
		source, want string
	}{
		{e.inq, `{"type":"connect/source-data/inquiry","id":"` + e.inq + `","peekable-attributes":{
			"status":{"visibility":"full","value":"completed"},
			"fields":{"name-first":{"visibility":"presence","value":true},"name-last":{"visibility":"presence","value":true},
			          "birthdate":{"visibility":"presence","value":false}}},"related-objects":[]}`},
		{act, `{"type":"connect/source-data/account","id":"` + act + `","peekable-attributes":{
			"status":{"visibility":"full","value":"active"},
			"fields":{"name-first":{"visibility":"presence","value":true},"phone":{"visibility":"presence","value":false}}}}`},
		{txn, `{"type":"connect/source-data/txn","id":"` + txn + `","peekable-attributes":{
			"status":{"visibility":"full","value":"approved"},
			"fields":{"amount":{"visibility":"full","value":42},"note":{"visibility":"presence","value":true}}}}`},
		{ver, `{"type":"connect/source-data/verification/database","id":"` + ver + `","peekable-attributes":{
			"status":{"visibility":"full","value":"passed"},
			"country-code":{"visibility":"full","value":"GB"},"birthdate":{"visibility":"presence","value":true}}}`},
	}
	for _, c := range cases {
		tok := e.token(cxn, c.source)
		r := e.do(e.dst, "GET", "/connect/share-tokens/"+tok+"?peek-source-data=true", nil)
		require.Equal(t, 200, r.Status)
		got := r.data()["attributes"].(map[string]any)["source-data"]
		assert.JSONEq(t, c.want, mustJSON(t, got), c.source)
		// peek-source-data=false is a plain retrieve.
		plain := e.do(e.dst, "GET", "/connect/share-tokens/"+tok+"?peek-source-data=false", nil)
		assert.NotContains(t, plain.data()["attributes"], "source-data")
	}
}

func TestExpireShareToken(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)

	fb := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/expire", nil)
	assert.Equal(t, 403, fb.Status)

	e.clock.Advance(time.Hour)
	r := e.do(e.src, "POST", "/connect/share-tokens/"+tok+"/expire", nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "expired", r.attr("status"))
	assert.Equal(t, ts(t0.Add(time.Hour)), r.attr("expires-at"))
	assert.Equal(t, ts(t0.Add(time.Hour)), r.attr("updated-at"))

	// Expiring again succeeds and changes nothing.
	e.clock.Advance(time.Hour)
	again := e.do(e.src, "POST", "/connect/share-tokens/"+tok+"/expire", nil)
	require.Equal(t, 200, again.Status)
	assert.Equal(t, string(r.Raw), string(again.Raw))

	// An expired token cannot be redeemed.
	red := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	assert.Equal(t, 422, red.Status)
	assert.Equal(t, "expired", e.get(e.dst, tok).attr("status"))

	// A token whose redemption started cannot be expired.
	tok2 := e.token(cxn, e.inq)
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok2+"/redeem", nil).Status)
	assert.Equal(t, 422, e.do(e.src, "POST", "/connect/share-tokens/"+tok2+"/expire", nil).Status, "redeemed")
}

func TestShareTokenExpiresOnTheClock(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	expiresAt := t0.Add(14 * 24 * time.Hour)

	e.clock.Set(expiresAt.Add(-time.Millisecond))
	assert.Equal(t, "created", e.get(e.dst, tok).attr("status"))

	e.clock.Set(expiresAt)
	r := e.get(e.dst, tok)
	assert.Equal(t, "expired", r.attr("status"))
	assert.Equal(t, ts(expiresAt), r.attr("updated-at"))
	assert.Equal(t, ts(expiresAt), r.attr("expires-at"))

	red := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	assert.Equal(t, 422, red.Status)
	assert.Equal(t, "Unprocessable entity", red.errTitle())
}

func TestRedeemClone(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(30*time.Second))
	cxn := e.connect()
	tok := e.token(cxn, e.inq)

	assert.Equal(t, 403, e.do(e.src, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status, "the source cannot redeem")

	e.clock.Advance(time.Minute)
	pendingAt := t0.Add(time.Minute)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", map[string]any{"data": map[string]any{"attributes": map[string]any{}}})
	require.Equal(t, 202, r.Status, "%s", r.Raw)
	assert.Equal(t, "pending", r.attr("status"))
	assert.Equal(t, "inbound", r.attr("direction"))
	assert.Equal(t, "clone", r.attr("redeem-mode"))
	assert.Equal(t, ts(pendingAt), r.attr("pending-at"))
	assert.Equal(t, ts(pendingAt), r.attr("updated-at"))
	assert.Nil(t, r.attr("redeemed-at"))
	d, ok := r.rel("destination")
	assert.True(t, ok)
	assert.Nil(t, d)
	assert.Equal(t, 1, e.srv.Stats().Redemptions)

	// Redeemed at most once.
	again := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	assert.Equal(t, 409, again.Status)
	assert.Equal(t, "Conflict", again.errTitle())

	// Pending until the delay has passed on the clock.
	e.clock.Advance(29 * time.Second)
	assert.Equal(t, "pending", e.get(e.dst, tok).attr("status"))
	e.clock.Advance(time.Second)
	done := e.get(e.dst, tok)
	assert.Equal(t, "redeemed", done.attr("status"))
	redeemedAt := pendingAt.Add(30 * time.Second)
	assert.Equal(t, ts(redeemedAt), done.attr("redeemed-at"))
	assert.Equal(t, ts(redeemedAt), done.attr("updated-at"))
	assert.Equal(t, ts(pendingAt), done.attr("pending-at"))
	dest, _ := done.rel("destination")
	require.NotNil(t, dest)
	assert.Equal(t, "inquiry", dest["type"])
	cloneID := dest["id"].(string)
	assert.Regexp(t, `^inq_`, cloneID)
	assert.NotEqual(t, e.inq, cloneID)

	clone, ok := e.srv.Object(cloneID)
	require.True(t, ok)
	assert.Equal(t, e.dst.ID, clone.OrganizationID)
	assert.Equal(t, e.inq, clone.ClonedFrom)
	assert.Equal(t, tok, clone.ShareTokenID)
	assert.Equal(t, "completed", clone.Status)
	assert.Equal(t, map[string]any{"name-first": "Ada", "name-last": "Lovelace", "birthdate": nil}, clone.Fields)
	assert.Equal(t, redeemedAt, clone.CreatedAt)

	// The source sees it redeemed too.
	assert.Equal(t, "redeemed", e.get(e.src, tok).attr("status"))
	assert.Equal(t, 409, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)

	// The clone belongs to the destination: it can share it onward.
	back := e.srv.NewActiveConnection(e.dst, e.other)
	assert.Equal(t, 201, e.do(e.dst, "POST", "/connect/share-tokens", tokenBody(back, cloneID)).Status)
}

func TestRedeemWithZeroDelay(t *testing.T) {
	e := newEnv(t)
	tok := e.token(e.connect(), e.inq)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	require.Equal(t, 202, r.Status)
	assert.Equal(t, "pending", r.attr("status"), "the redeem call itself answers pending")
	assert.Equal(t, "redeemed", e.get(e.dst, tok).attr("status"), "the next read sees the outcome")
}

func TestRedeemCloneKinds(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	ver := e.srv.NewVerification(e.src, connecttest.TypeVerificationPhoneNumber, map[string]any{"phone-number": "+15550100"})
	tok := e.token(cxn, ver)
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
	dest, _ := e.get(e.dst, tok).rel("destination")
	assert.Equal(t, "verification/phone-number", dest["type"])
	assert.Regexp(t, `^ver_`, dest["id"])

	for _, src := range []string{e.srv.NewAccount(e.src, nil), e.srv.NewTransaction(e.src, nil)} {
		tok := e.token(cxn, src)
		r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
		assert.Equal(t, 422, r.Status, src)
		assert.Equal(t, "/data/attributes/destination-id", r.pointer())
		assert.Equal(t, "created", e.get(e.dst, tok).attr("status"))
	}

	// Field mappings belong to hydrate.
	tok = e.token(cxn, e.inq)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem",
		map[string]any{"meta": map[string]any{"field-mappings": []any{map[string]any{"source-field-name": "a", "destination-field-name": "b"}}}})
	assert.Equal(t, 422, r.Status)
	assert.Equal(t, "/meta/field-mappings", r.pointer())
}

func TestRedeemHydrate(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Second))
	cxn := e.connect()
	src := e.srv.NewInquiry(e.src, map[string]any{"name-first": "Ada", "address_street_1": "12 St James's Sq"})
	target := e.srv.NewAccount(e.dst, map[string]any{"name-first": "A.", "tier": "gold"})
	tok := e.token(cxn, src)

	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem",
		hydrateBody(target, [2]string{"address_street_1", "street_address"}, [2]string{"missing", "x"}))
	require.Equal(t, 202, r.Status, "%s", r.Raw)
	assert.Equal(t, "hydrate", r.attr("redeem-mode"))
	dest, _ := r.rel("destination")
	assert.Equal(t, map[string]any{"type": "account", "id": target}, dest, "hydrate names its target at once")

	before, _ := e.srv.Object(target)
	assert.Equal(t, "A.", before.Fields["name-first"], "nothing copied while pending")

	e.clock.Advance(time.Second)
	assert.Equal(t, "redeemed", e.get(e.dst, tok).attr("status"))
	after, _ := e.srv.Object(target)
	assert.Equal(t, map[string]any{"name-first": "Ada", "tier": "gold"}, after.Fields,
		"only the fields the destination has; the mapping names a field it lacks")
	assert.Equal(t, src, after.HydratedFrom)
	assert.Equal(t, tok, after.ShareTokenID)
	assert.Empty(t, after.ClonedFrom)
	assert.Len(t, e.srv.Objects(e.dst), 1, "hydrate makes no new object")
}

func TestRedeemHydrateValidation(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	for _, target := range []string{"inq_nope", e.srv.NewInquiry(e.other, nil), e.srv.NewInquiry(e.src, nil)} {
		r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", hydrateBody(target))
		assert.Equal(t, 422, r.Status, "a target the destination does not own: %s", target)
		assert.Equal(t, "/data/attributes/destination-id", r.pointer())
	}
	ver := e.srv.NewVerification(e.dst, connecttest.TypeVerificationDatabase, nil)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", hydrateBody(ver))
	assert.Equal(t, 422, r.Status, "a verification cannot be hydrated")
	assert.Equal(t, "/data/attributes/destination-id", r.pointer())

	vtok := e.token(cxn, e.srv.NewVerification(e.src, connecttest.TypeVerificationDatabase, nil))
	r = e.do(e.dst, "POST", "/connect/share-tokens/"+vtok+"/redeem", hydrateBody(e.srv.NewInquiry(e.dst, nil)))
	assert.Equal(t, 422, r.Status, "a verification token cannot hydrate")

	// Cross-kind hydration among inquiries, accounts and transactions is allowed.
	txnTok := e.token(cxn, e.srv.NewTransaction(e.src, map[string]any{"amount": 1}))
	assert.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+txnTok+"/redeem", hydrateBody(e.srv.NewInquiry(e.dst, nil))).Status)
	assert.Equal(t, "created", e.get(e.dst, tok).attr("status"))
}

func TestRedeemNeedsActiveConnection(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	tok := e.token(cxn, e.inq)
	require.Equal(t, 200, e.do(e.dst, "POST", "/connect/connections/"+cxn+"/deactivate", nil).Status)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	assert.Equal(t, 422, r.Status)
	// Reactivated and accepted again, the token works.
	require.Equal(t, 200, e.do(e.src, "POST", "/connect/connections/"+cxn+"/reactivate", nil).Status)
	assert.Equal(t, 422, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status, "pending")
	require.NoError(t, e.srv.AcceptConnection(cxn))
	assert.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
}

func TestRedemptionFailures(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Minute))
	cxn := e.connect()
	cases := []struct {
		name, reason string
		hydrate      bool
		act          func(src, target string)
	}{
		{"redacted meanwhile", "source_redacted", false, func(src, _ string) { require.NoError(t, e.srv.RedactObject(src)) }},
		{"deleted meanwhile", "source_not_found", false, func(src, _ string) { require.NoError(t, e.srv.DeleteObject(src)) }},
		{"hydrate target deleted", "import_failed", true, func(_, target string) { require.NoError(t, e.srv.DeleteObject(target)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := e.srv.NewInquiry(e.src, map[string]any{"name-first": "Ada"})
			target := e.srv.NewInquiry(e.dst, nil)
			tok := e.token(cxn, src)
			var body any
			if c.hydrate {
				body = hydrateBody(target)
			}
			r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", body)
			require.Equal(t, 202, r.Status)
			pendingAt := e.clock.Now()
			c.act(src, target)
			e.clock.Advance(time.Minute)
			for _, org := range []*connecttest.Organization{e.dst, e.src} {
				g := e.get(org, tok)
				assert.Equal(t, "failed", g.attr("status"))
				assert.Equal(t, c.reason, g.attr("failure-reason"))
				assert.Equal(t, ts(pendingAt.Add(time.Minute)), g.attr("failed-at"))
				assert.Nil(t, g.attr("redeemed-at"))
			}
			assert.Equal(t, 409, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
		})
	}

	// Redacted before the redeem call: accepted, then failed.
	src := e.srv.NewInquiry(e.src, map[string]any{"name-first": "Ada"})
	tok := e.token(cxn, src)
	require.NoError(t, e.srv.RedactObject(src))
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
	e.clock.Advance(time.Minute)
	assert.Equal(t, "source_redacted", e.get(e.dst, tok).attr("failure-reason"))
	n := len(e.srv.Objects(e.dst))
	assert.Equal(t, 2, n, "failed clones make no object: only the targets made above (one of three deleted)")
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t, connecttest.WithRateLimit(0, time.Minute))
	cxn := e.connect()
	const n = 40
	ids := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			r := e.send(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq))
			if r.Status != 201 {
				errs <- fmt.Errorf("create %d: %d", i, r.Status)
				return
			}
			id := r.id()
			if r := e.send(e.dst, "POST", "/connect/share-tokens/"+id+"/redeem", nil); r.Status != 202 {
				errs <- fmt.Errorf("redeem %d: %d", i, r.Status)
				return
			}
			_ = e.srv.Requests()
			e.clock.Advance(time.Millisecond)
			ids <- id
		}()
	}
	seen := map[string]bool{}
	for range n {
		select {
		case id := <-ids:
			seen[id] = true
		case err := <-errs:
			t.Fatal(err)
		}
	}
	assert.Len(t, seen, n)
	assert.Equal(t, n, e.srv.Stats().ShareTokensCreated)
	assert.Len(t, e.srv.Objects(e.dst), n)
}

func TestHydrateMatchesByNameThenMaps(t *testing.T) {
	e := newEnv(t)
	cxn := e.connect()
	src := e.srv.NewInquiry(e.src, map[string]any{
		"name-first": "Ada", "name-last": "Lovelace", "address_street_1": "12 St James's Sq", "birthdate": "1815-12-10",
		"extra": "not copied",
	})
	target := e.srv.NewAccount(e.dst, map[string]any{
		"name-first": "", "surname": "", "street": "", "birthdate": "", "dob": "", "tier": "gold",
	})
	tok := e.token(cxn, src)
	r := e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", hydrateBody(target,
		[2]string{"name-last", "surname"},        // not matched by name: applied
		[2]string{"address_street_1", "street"},  // applied
		[2]string{"birthdate", "dob"},            // birthdate is matched by name: not applied
		[2]string{"name-last", "name-first"},     // name-first is matched by name: not applied
		[2]string{"address_street_1", "nowhere"}, // the destination has no such field
		[2]string{"missing", "tier"},             // no such source field
	))
	require.Equal(t, 202, r.Status, "%s", r.Raw)
	assert.Equal(t, "redeemed", e.get(e.dst, tok).attr("status"))
	got, _ := e.srv.Object(target)
	assert.Equal(t, map[string]any{
		"name-first": "Ada", "surname": "Lovelace", "street": "12 St James's Sq", "birthdate": "1815-12-10",
		"dob": "", "tier": "gold",
	}, got.Fields)
}

func TestFailRedemption(t *testing.T) {
	e := newEnv(t, connecttest.WithRedeemDelay(time.Minute))
	cxn := e.connect()

	// Armed before the redeem call: the call is accepted, the redemption fails.
	tok := e.token(cxn, e.inq)
	require.NoError(t, e.srv.FailRedemption(tok, "unrecoverable_error"))
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
	assert.Equal(t, "pending", e.get(e.dst, tok).attr("status"))
	e.clock.Advance(time.Minute)
	g := e.get(e.dst, tok)
	assert.Equal(t, "failed", g.attr("status"))
	assert.Equal(t, "unrecoverable_error", g.attr("failure-reason"))
	assert.Equal(t, ts(e.clock.Now()), g.attr("failed-at"))
	assert.Equal(t, 409, e.do(e.dst, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)

	// Armed while pending, with a reason Persona may add later.
	tok2 := e.token(cxn, e.inq)
	require.Equal(t, 202, e.do(e.dst, "POST", "/connect/share-tokens/"+tok2+"/redeem", nil).Status)
	require.NoError(t, e.srv.FailRedemption(tok2, "some_new_reason"))
	e.clock.Advance(time.Minute)
	assert.Equal(t, "some_new_reason", e.get(e.src, tok2).attr("failure-reason"))
	assert.Len(t, e.srv.Objects(e.dst), 0, "no clone was made")

	assert.ErrorIs(t, e.srv.FailRedemption("cnst_nope", "unrecoverable_error"), connecttest.ErrNotFound)
	assert.Error(t, e.srv.FailRedemption(tok, "unrecoverable_error"), "already failed")
	assert.Error(t, e.srv.FailRedemption(e.token(cxn, e.inq), ""), "empty reason")
}
