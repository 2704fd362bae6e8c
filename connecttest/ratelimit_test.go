package connecttest_test

import (
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimitFixedWindow(t *testing.T) {
	e := newEnv(t, connecttest.WithRateLimit(3, time.Minute))
	// t0 is 7 s into its minute: the window resets in 53 s.
	for i, want := range []string{"2", "1", "0"} {
		r := e.do(e.src, "GET", "/connect/connections", nil)
		require.Equal(t, 200, r.Status, i)
		assert.Equal(t, "3", r.Header.Get("RateLimit-Limit"))
		assert.Equal(t, want, r.Header.Get("RateLimit-Remaining"))
		assert.Equal(t, "53", r.Header.Get("RateLimit-Reset"))
	}
	e.clock.Advance(10*time.Second + 500*time.Millisecond)
	r := e.do(e.src, "GET", "/connect/connections", nil)
	require.Equal(t, 429, r.Status)
	assert.JSONEq(t, `{"errors":[{"title":"Rate limit exceeded","details":"You have hit your rate limit of 3 requests / min."}]}`, string(r.Raw))
	assert.Equal(t, "0", r.Header.Get("RateLimit-Remaining"))
	assert.Equal(t, "43", r.Header.Get("RateLimit-Reset"), "42.5 s rounded up")
	assert.Equal(t, e.src.ID, r.Header.Get("Persona-Organization-Id"))
	assert.Equal(t, 429, e.do(e.src, "POST", "/connect/connections", connBody(e.dst.ID)).Status)
	assert.Equal(t, 2, e.srv.Stats().TooManyRequests)
	assert.Equal(t, 0, e.srv.Stats().ConnectionsCreated, "a rate-limited request does nothing")

	// Other organizations have their own window.
	o := e.do(e.dst, "GET", "/connect/connections", nil)
	assert.Equal(t, 200, o.Status)
	assert.Equal(t, "2", o.Header.Get("RateLimit-Remaining"))

	// The next window starts afresh.
	e.clock.Set(t0.Truncate(time.Minute).Add(time.Minute))
	n := e.do(e.src, "GET", "/connect/connections", nil)
	require.Equal(t, 200, n.Status)
	assert.Equal(t, "2", n.Header.Get("RateLimit-Remaining"))
	assert.Equal(t, "60", n.Header.Get("RateLimit-Reset"))
}

func TestRateLimitDefaultAndOff(t *testing.T) {
	e := newEnv(t, connecttest.WithRateLimit(2, 10*time.Second))
	e.do(e.src, "GET", "/connect/connections", nil)
	e.do(e.src, "GET", "/connect/connections", nil)
	r := e.do(e.src, "GET", "/connect/connections", nil)
	require.Equal(t, 429, r.Status)
	assert.Equal(t, "You have hit your rate limit of 2 requests / 10s.", r.errItem()["details"])

	off := newEnv(t, connecttest.WithRateLimit(0, time.Minute))
	for range 400 {
		require.Equal(t, 200, off.send(off.src, "GET", "/connect/connections", nil).Status)
	}

	def := newEnv(t)
	for i := range 300 {
		r := def.send(def.src, "GET", "/connect/connections", nil)
		require.Equal(t, 200, r.Status, i)
	}
	assert.Equal(t, 429, def.do(def.src, "GET", "/connect/connections", nil).Status, "300 a minute by default")
}
