package connecttest_test

import (
	"errors"
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
	self := e.do(e.src, "POST", "/connect/connections", connBody(e.src.ID))
	assert.Equal(t, 422, self.Status)
	assert.Equal(t, "/data/attributes/destination-organization-id", self.pointer())

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
