package redeem

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// Tokens created while no webhook reaches the service (the fleet was down)
// are found by the Events catch-up, each redeemed exactly once and settled
// by its inbound-redeemed event; events a webhook handled are skipped, and
// a second pass handles nothing.
func TestCatchUpRedeemsWhatWebhooksMissed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		missed := []string{f.newToken(t), f.newToken(t), f.newToken(t)} // no webhook yet, no hand-over

		r := f.start(t, func(c *Config) { c.CatchUpInterval = time.Second })
		f.eventually(t, "redeemed by catch-up alone", func() bool {
			for _, id := range missed {
				if stateOf(t, r, id).State != stateRedeemed {
					return false
				}
			}
			return true
		})
		for _, id := range missed {
			f.assertRedeemedOnce(t, r, id)
			keys, _ := f.redeemCalls(id)
			assert.Equal(t, []string{"redeem-" + id + "-1"}, keys)
			assert.Equal(t, "webhook", stateOf(t, r, id).Via, "recorded through the webhook's path")
		}
		assert.Regexp(t, `redeem_events_caught_up_total [1-9]`, metricsText(t, r))

		// A token whose webhook arrives is not handled again by catch-up.
		f.registerWebhook(t, r)
		live := f.newToken(t)
		f.eventually(t, "redeemed by webhook", func() bool { return stateOf(t, r, live).State == stateRedeemed })
		require.NoError(t, f.fake.WaitWebhooks(context.Background()))
		handled, err := r.svc.catchUp(context.Background())
		require.NoError(t, err)
		assert.Zero(t, handled, "every event was handled already")
		f.assertRedeemedOnce(t, r, live)
		for _, id := range missed {
			_, accepted := f.redeemCalls(id)
			assert.Equal(t, 1, accepted)
		}

		// Every event handled is done, not left to a claim that lapses after
		// the lease (a minute, longer than this wait).
		f.eventually(t, "every event done", func() bool {
			count := func(state string) int {
				var n int
				require.NoError(t, r.svc.b.QueryRow(context.Background(), `SELECT count(*) FROM `+webhookEventsTable+` WHERE state = ?`, state).Scan(&n))
				return n
			}
			return count(durable.EventClaimed) == 0 && count(durable.EventDone) >= 2*len(missed)
		})

		last, found, err := r.svc.st.cursor(context.Background(), catchUpCursor)
		require.NoError(t, err)
		require.True(t, found)
		assert.WithinDuration(t, time.Now(), last, time.Minute, "the cursor is the newest event handled")
	})
}

// An event that another replica's webhook delivery is handling is skipped,
// and the cursor stays before it, so that a later catch-up reads it again
// in case that replica dies; later events are handled meanwhile.
func TestCatchUpHoldsTheCursorBeforeAnEventInProgress(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db target) {
		f := newFixture(t, db)
		r := f.start(t) // catch-up runs only when called
		ctx := context.Background()
		busy := f.newToken(t)
		events, err := r.svc.client.Events.List(ctx, &connect.EventListParams{
			Names: []string{connect.EventShareTokenInboundCreated}, ObjectIDs: []string{busy},
		})
		require.NoError(t, err)
		require.Len(t, events.Data, 1)
		busyEvent := events.Data[0]
		other := &durable.Deduper{B: r.svc.b, Table: webhookEventsTable, Lease: time.Minute} // another replica
		claimed, err := other.Claim(ctx, busyEvent.ID)
		require.NoError(t, err)
		require.True(t, claimed)
		later := f.newToken(t)

		_, err = r.svc.catchUp(ctx)
		require.NoError(t, err)
		assert.NotEmpty(t, stateOf(t, r, later).State, "the later token's event is handled")
		_, found, err := r.svc.st.get(ctx, busy)
		require.NoError(t, err)
		assert.False(t, found, "the event in progress elsewhere is not handled here")
		cursor, found, err := r.svc.st.cursor(ctx, catchUpCursor)
		require.NoError(t, err)
		assert.True(t, !found || cursor.Before(busyEvent.CreatedAt), "cursor %s, event in progress created %s", cursor, busyEvent.CreatedAt)

		require.NoError(t, other.Release(ctx, busyEvent.ID)) // its handling failed
		_, err = r.svc.catchUp(ctx)                          // it may also handle the later token's inbound-redeemed
		require.NoError(t, err)
		_, found, err = r.svc.st.get(ctx, busy)
		require.NoError(t, err)
		assert.True(t, found, "the released event is handled")
		cursor, _, err = r.svc.st.cursor(ctx, catchUpCursor)
		require.NoError(t, err)
		assert.False(t, cursor.Before(busyEvent.CreatedAt), "the cursor moved past it")
	})
}
