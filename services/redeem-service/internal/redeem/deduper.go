package redeem

import (
	"context"
	"time"
)

// Webhook event claims. An event is claimed while a replica handles it, for
// a lease: if the replica dies, the claim lapses and Persona's next delivery
// is handled. Once handled it is done, for good (until purged): a done event
// is never handled again, however late its repeat.
const (
	eventClaimed = "claimed"
	eventDone    = "done"
)

// dbDeduper is connect.WebhookDeduper on the service's database, so that a
// delivery repeated to another replica is dropped too.
type dbDeduper struct {
	st    *store
	lease time.Duration
}

// Claim takes the event if no one has it: never seen, or claimed by a
// replica whose lease ran out. A done event is never claimed again.
func (d *dbDeduper) Claim(ctx context.Context, eventID string) (bool, error) {
	now := d.st.nowMS()
	res, err := d.st.b.exec(ctx, `INSERT INTO redeem_webhook_events (event_id, state, lease_until, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET lease_until = excluded.lease_until, updated_at = excluded.updated_at
		WHERE redeem_webhook_events.state = ? AND redeem_webhook_events.lease_until < ?`,
		eventID, eventClaimed, now+d.lease.Milliseconds(), now, eventClaimed, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Release drops a claim whose handling failed; a done event stays done.
func (d *dbDeduper) Release(ctx context.Context, eventID string) error {
	_, err := d.st.b.exec(ctx, `DELETE FROM redeem_webhook_events WHERE event_id = ? AND state = ?`, eventID, eventClaimed)
	return err
}

// Done marks a claimed event handled. connect.WebhookDeduper has no such
// step yet, so the service's event callback calls it last, after its own
// work is durable.
func (d *dbDeduper) Done(ctx context.Context, eventID string) error {
	_, err := d.st.b.exec(ctx, `UPDATE redeem_webhook_events SET state = ?, updated_at = ? WHERE event_id = ?`,
		eventDone, d.st.nowMS(), eventID)
	return err
}

// purge forgets events last touched before: Persona stops repeating a
// delivery after about two days.
func (d *dbDeduper) purge(ctx context.Context, before time.Time) error {
	_, err := d.st.b.exec(ctx, `DELETE FROM redeem_webhook_events WHERE updated_at < ?`, before.UnixMilli())
	return err
}
