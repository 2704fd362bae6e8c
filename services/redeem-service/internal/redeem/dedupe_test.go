package redeem

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

var fmtSscan = fmt.Sscan

// The database deduper: a claim excludes others (in progress) until its
// holder releases it or its lease runs out, and only its holder's release
// counts; a done event is never claimed again.
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
		inProgress := func(d *durable.Deduper, id string) {
			ok, err := d.Claim(ctx, id)
			assert.False(t, ok)
			assert.ErrorIs(t, err, connect.ErrWebhookEventInProgress)
		}
		assert.True(t, claim(d1, "evt_a"))
		inProgress(d2, "evt_a")
		require.NoError(t, d2.Release(ctx, "evt_a"), "a release by a replica that holds no claim")
		inProgress(d2, "evt_a") // d1's claim stands
		require.NoError(t, d1.Release(ctx, "evt_a"))
		assert.True(t, claim(d2, "evt_a"), "released")

		now = now.Add(time.Minute + time.Millisecond)
		assert.True(t, claim(d1, "evt_a"), "the lease ran out: its holder died")
		require.NoError(t, d2.Release(ctx, "evt_a"), "d2, late, releases the claim that lapsed")
		inProgress(d2, "evt_a") // d1's new claim stands

		require.NoError(t, d1.Done(ctx, "evt_a"))
		require.NoError(t, d2.Release(ctx, "evt_a"), "a late release of a done event")
		now = now.Add(48 * time.Hour)
		assert.False(t, claim(d2, "evt_a"), "done is for good, whatever the lease")

		require.NoError(t, d1.Purge(ctx, now.Add(-time.Hour)))
		assert.True(t, claim(d2, "evt_a"), "purged after retention")
	})
}
