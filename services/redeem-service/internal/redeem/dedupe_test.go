package redeem

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/services/internal/durable"
)

var fmtSscan = fmt.Sscan

// The database deduper: a claim excludes others until released or its lease
// runs out; a done event is never claimed again.
func TestDBDeduper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t)
		now := time.Unix(1_700_000_000, 0)
		clock := func() time.Time { return now }
		d1 := &durable.Deduper{B: r.svc.b, Table: webhookEventsTable, Lease: time.Minute, Now: clock}
		d2 := &durable.Deduper{B: r.svc.b, Table: webhookEventsTable, Lease: time.Minute, Now: clock} // another replica
		ctx := context.Background()

		claim := func(d *durable.Deduper, id string) bool {
			ok, err := d.Claim(ctx, id)
			require.NoError(t, err)
			return ok
		}
		assert.True(t, claim(d1, "evt_a"))
		assert.False(t, claim(d2, "evt_a"), "claimed elsewhere")
		require.NoError(t, d1.Release(ctx, "evt_a"))
		assert.True(t, claim(d2, "evt_a"), "released")

		now = now.Add(time.Minute + time.Millisecond)
		assert.True(t, claim(d1, "evt_a"), "the lease ran out: its holder died")

		require.NoError(t, d1.Done(ctx, "evt_a"))
		require.NoError(t, d2.Release(ctx, "evt_a"), "a late release of a done event")
		now = now.Add(48 * time.Hour)
		assert.False(t, claim(d2, "evt_a"), "done is for good, whatever the lease")

		require.NoError(t, d1.Purge(ctx, now.Add(-time.Hour)))
		assert.True(t, claim(d2, "evt_a"), "purged after retention")
	})
}
