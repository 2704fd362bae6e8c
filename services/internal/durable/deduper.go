package durable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// Webhook event claims. An event is claimed while a replica handles it, for
// a lease: if the replica dies, the claim lapses and Persona's next delivery
// is handled. Once handled it is done, for good (until purged): a done event
// is never handled again, however late its repeat.
const (
	EventClaimed = "claimed"
	EventDone    = "done"
)

// EventRetention outlasts Persona's repeats of a webhook delivery (about
// two days); Purge forgets events older than this.
const EventRetention = 72 * time.Hour

// DedupeSchema is the statement that makes a Deduper's table.
func DedupeSchema(table string) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
		event_id    TEXT PRIMARY KEY,
		state       TEXT NOT NULL,
		lease_until BIGINT NOT NULL,
		updated_at  BIGINT NOT NULL
	)`, table)
}

// Deduper is connect.WebhookDoneDeduper on the database, so that a
// delivery repeated to another replica is dropped too: the SDK's handler
// claims an event, releases it when the handling failed and marks it done
// when it succeeded. Table is one made by DedupeSchema; it is written into
// the SQL, so it must be a constant of the service.
type Deduper struct {
	B     *Backend
	Table string
	Lease time.Duration
	Now   func() time.Time // nil: time.Now

	// mine holds, for each event this process claimed and has not yet
	// released or marked done, the lease end it wrote: Release deletes
	// that claim only, never a later one another replica took after the
	// lease ran out.
	mine sync.Map // event id → lease end, Unix ms
}

var _ connect.WebhookDoneDeduper = (*Deduper)(nil)

func (d *Deduper) nowMS() int64 {
	if d.Now == nil {
		return time.Now().UnixMilli()
	}
	return d.Now().UnixMilli()
}

// Claim takes the event if no one has it: never seen, or claimed by a
// replica whose lease ran out. A done event is never claimed again (false);
// one whose claim still runs is refused with
// connect.ErrWebhookEventInProgress, which the SDK's handler answers with
// 409, so that Persona delivers it again: if the replica holding it dies,
// a later delivery is handled.
func (d *Deduper) Claim(ctx context.Context, eventID string) (bool, error) {
	now := d.nowMS()
	until := now + d.Lease.Milliseconds()
	res, err := d.B.Exec(ctx, `INSERT INTO `+d.Table+` (event_id, state, lease_until, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id) DO UPDATE SET lease_until = excluded.lease_until, updated_at = excluded.updated_at
		WHERE `+d.Table+`.state = ? AND `+d.Table+`.lease_until < ?`,
		eventID, EventClaimed, until, now, EventClaimed, now)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		if n == 1 {
			d.mine.Store(eventID, until)
		}
		return n == 1, err
	}
	var state string
	err = d.B.QueryRow(ctx, `SELECT state FROM `+d.Table+` WHERE event_id = ?`, eventID).Scan(&state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("claim of webhook event %s: its row vanished; try again", eventID)
	case err != nil:
		return false, err
	case state == EventClaimed:
		return false, connect.ErrWebhookEventInProgress
	default:
		return false, nil
	}
}

// Release drops this process's claim of an event whose handling failed. A
// done event stays done, and a claim another replica took after this one's
// lease ran out stays theirs.
func (d *Deduper) Release(ctx context.Context, eventID string) error {
	until, ok := d.mine.LoadAndDelete(eventID)
	if !ok {
		return nil
	}
	_, err := d.B.Exec(ctx, `DELETE FROM `+d.Table+` WHERE event_id = ? AND state = ? AND lease_until = ?`,
		eventID, EventClaimed, until)
	return err
}

// Done marks an event handled, claimed or not. The SDK's webhook handler
// calls it once the service's callback has returned nil, its work durable;
// a catch-up calls it for what it handled.
func (d *Deduper) Done(ctx context.Context, eventID string) error {
	d.mine.Delete(eventID)
	now := d.nowMS()
	_, err := d.B.Exec(ctx, `INSERT INTO `+d.Table+` (event_id, state, lease_until, updated_at) VALUES (?, ?, 0, ?)
		ON CONFLICT (event_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
		eventID, EventDone, now)
	return err
}

// IsDone reports whether the event was handled already.
func (d *Deduper) IsDone(ctx context.Context, eventID string) (bool, error) {
	var n int
	err := d.B.QueryRow(ctx, `SELECT count(*) FROM `+d.Table+` WHERE event_id = ? AND state = ?`, eventID, EventDone).Scan(&n)
	return n > 0, err
}

// Purge forgets events last touched before: Persona stops repeating a
// delivery after about two days.
func (d *Deduper) Purge(ctx context.Context, before time.Time) error {
	_, err := d.B.Exec(ctx, `DELETE FROM `+d.Table+` WHERE updated_at < ?`, before.UnixMilli())
	return err
}
