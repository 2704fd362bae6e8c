package connecttest_test

import (
	"errors"
	connect "github.com/personaconnect/connect-go"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnectionLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID))
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	id := r.id()
	assert.Regexp(t, `^cxn_[A-Za-z0-9]+$`, id)
	assert.Equal(t, "connect/connection", r.data()["type"])
	assert.Equal(t, "pending", r.attr("status"))
	assert.Equal(t, e.src.ID, r.attr("source-organization-id"))
	assert.Equal(t, e.dst.ID, r.attr("destination-organization-id"))
	assert.Equal(t, ts(t0), r.attr("created-at"))
	assert.Equal(t, ts(t0), r.attr("updated-at"))
	creator, _ := r.rel("creator")
	assert.Equal(t, map[string]any{"type": "api-key", "id": e.src.APIKeyID}, creator)
	assert.Equal(t, 1, e.srv.Stats().ConnectionsCreated)

	// Both ends see it; nobody else does.
	for _, org := range []*connecttest.Organization{e.src, e.dst} {
		g := e.do(org, "GET", "/connect/connections/"+id, nil)
		require.Equal(t, 200, g.Status)
		assert.Equal(t, string(r.Raw), string(g.Raw))
	}
	assert.Equal(t, 404, e.do(e.other, "GET", "/connect/connections/"+id, nil).Status)
	for _, action := range []string{"deactivate", "reactivate"} {
		assert.Equal(t, 404, e.do(e.other, "POST", "/connect/connections/"+id+"/"+action, nil).Status)
	}

	// Accepting is the test's job (Persona's Dashboard).
	e.clock.Advance(time.Minute)
	require.NoError(t, e.srv.AcceptConnection(id))
	g := e.do(e.dst, "GET", "/connect/connections/"+id, nil)
	assert.Equal(t, "active", g.attr("status"))
	assert.Equal(t, ts(t0.Add(time.Minute)), g.attr("updated-at"))
	assert.Error(t, e.srv.AcceptConnection(id), "an active connection cannot be accepted")
	assert.ErrorIs(t, e.srv.AcceptConnection("cxn_nope"), connecttest.ErrNotFound)

	// Either side deactivates, once.
	d := e.do(e.dst, "POST", "/connect/connections/"+id+"/deactivate", nil)
	require.Equal(t, 200, d.Status)
	assert.Equal(t, "inactive", d.attr("status"))
	again := e.do(e.src, "POST", "/connect/connections/"+id+"/deactivate", nil)
	assert.Equal(t, 422, again.Status)
	assert.Equal(t, "Unprocessable entity", again.errTitle())

	// Only the source reactivates, and only an inactive connection.
	fb := e.do(e.dst, "POST", "/connect/connections/"+id+"/reactivate", nil)
	assert.Equal(t, 403, fb.Status)
	assert.Equal(t, "Forbidden", fb.errTitle())
	re := e.do(e.src, "POST", "/connect/connections/"+id+"/reactivate", nil)
	require.Equal(t, 200, re.Status)
	assert.Equal(t, "pending", re.attr("status"))
	assert.Equal(t, 422, e.do(e.src, "POST", "/connect/connections/"+id+"/reactivate", nil).Status)

	// A pending connection can be deactivated too, by the source.
	require.Equal(t, 200, e.do(e.src, "POST", "/connect/connections/"+id+"/deactivate", nil).Status)
	assert.Error(t, e.srv.AcceptConnection(id), "an inactive connection cannot be accepted")

	c, ok := e.srv.Connection(id)
	require.True(t, ok)
	assert.Equal(t, "inactive", c.Status)
}

func TestCreateConnectionValidation(t *testing.T) {
	e := newEnv(t)
	unknown := e.do(e.src, "POST", "/connect/connections", connBody("org_nope"))
	assert.Equal(t, 422, unknown.Status, "the create operation has no 404 in Persona's document")
	assert.Equal(t, "/data/attributes/destination-organization-id", unknown.pointer())

	first := e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID))
	require.Equal(t, 201, first.Status)
	dup := e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID))
	assert.Equal(t, 409, dup.Status)
	assert.Equal(t, "Conflict", dup.errTitle())

	// The other direction is a different connection.
	assert.Equal(t, 201, e.do(e.dst, "POST", "/connect/connections", connBody(e.src.ID)).Status)

	// Once inactive, a new connection to the same destination may be made.
	require.Equal(t, 200, e.do(e.src, "POST", "/connect/connections/"+first.id()+"/deactivate", nil).Status)
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID)).Status)
}

func TestNewActiveConnectionHelper(t *testing.T) {
	e := newEnv(t)
	id := e.srv.NewActiveConnection(e.src, e.dst)
	r := e.do(e.dst, "GET", "/connect/connections/"+id, nil)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, "active", r.attr("status"))
	creator, _ := r.rel("creator")
	assert.Equal(t, e.src.APIKeyID, creator["id"])
	assert.Equal(t, 201, e.do(e.src, "POST", "/connect/share-tokens", tokenBody(id, e.inq)).Status)
	_, ok := e.srv.Connection("cxn_nope")
	assert.False(t, ok)
	assert.True(t, errors.Is(e.srv.RedactObject("inq_nope"), connecttest.ErrNotFound))
}

// TestSelfConnection follows Persona's advice to test Connect by connecting
// an organization to itself: it creates, accepts, shares and redeems into
// the same organization, sees each token from both sides, and hears both
// sides' events.
func TestSelfConnection(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t, nil)
	wh := e.register(e.src, rc)

	r := e.do(e.src, "POST", "/connect/connections", connBody(e.src.ID))
	require.Equal(t, 201, r.Status, "%s", r.Raw)
	assert.Equal(t, "pending", r.attr("status"))
	assert.Equal(t, e.src.ID, r.attr("source-organization-id"))
	assert.Equal(t, e.src.ID, r.attr("destination-organization-id"))
	cxn := r.id()
	assert.Equal(t, 409, e.do(e.src, "POST", "/connect/connections", connBody(e.src.ID)).Status, "one open self-connection")
	require.NoError(t, e.srv.AcceptConnection(cxn))
	assert.Len(t, e.do(e.src, "GET", "/connect/connections", nil).list(), 1, "listed once")

	created := e.do(e.src, "POST", "/connect/share-tokens", tokenBody(cxn, e.inq))
	require.Equal(t, 201, created.Status, "%s", created.Raw)
	tok := created.id()
	assert.Equal(t, "outbound", created.attr("direction"))
	assert.Equal(t, []string{"connection", "creator", "destination", "source"}, created.relKeys(), "both sides' relationships")

	got := e.get(e.src, tok)
	assert.Equal(t, "outbound", got.attr("direction"), "a read shows the outbound view")
	assert.Equal(t, []string{"connection", "creator", "destination", "source"}, got.relKeys())
	peek := e.do(e.src, "GET", "/connect/share-tokens/"+tok+"?peek-source-data=true", nil)
	assert.NotNil(t, peek.attr("source-data"), "the organization is the destination too")

	// Lists: once without a direction filter (outbound), once in each
	// direction's view with one.
	for _, c := range []struct{ query, dir string }{{"", "outbound"}, {"?filter%5Bdirection%5D=outbound", "outbound"},
		{"?filter%5Bdirection%5D=inbound", "inbound"}} {
		l := e.do(e.src, "GET", "/connect/share-tokens"+c.query, nil).list()
		require.Len(t, l, 1, c.query)
		assert.Equal(t, tok, l[0]["id"])
		assert.Equal(t, c.dir, l[0]["attributes"].(map[string]any)["direction"], c.query)
	}

	// Both events of a creation reach the organization, each in its side's view.
	e.waitWebhooks()
	require.Len(t, rc.got(), 2)
	dirs := map[string]connect.Direction{}
	for _, h := range rc.got() {
		ev := e.parse(h, wh.Secret)
		dirs[ev.Name] = ev.ShareToken.Direction
	}
	assert.Equal(t, map[string]connect.Direction{
		connecttest.EventShareTokenOutboundCreated: connect.DirectionOutbound,
		connecttest.EventShareTokenInboundCreated:  connect.DirectionInbound,
	}, dirs)

	red := e.do(e.src, "POST", "/connect/share-tokens/"+tok+"/redeem", nil)
	require.Equal(t, 202, red.Status, "%s", red.Raw)
	assert.Equal(t, "inbound", red.attr("direction"), "the redeemer acts as the destination")
	e.waitWebhooks()
	done := e.get(e.src, tok)
	assert.Equal(t, "redeemed", done.attr("status"))
	dest, _ := done.rel("destination")
	require.NotNil(t, dest)
	clone, ok := e.srv.Object(dest["id"].(string))
	require.True(t, ok)
	assert.Equal(t, e.src.ID, clone.OrganizationID, "redeemed into the same organization")
	assert.Equal(t, e.inq, clone.ClonedFrom)
	assert.Len(t, rc.got(), 4, "outbound-redeemed and inbound-redeemed")
	assert.Equal(t, 409, e.do(e.src, "POST", "/connect/share-tokens/"+tok+"/redeem", nil).Status)
}
