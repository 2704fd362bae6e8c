package source

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/personaconnect/connect-go/services/internal/durable"
)

// An inquiry's state in this service:
//
//	received → handing-over → handed-over
//	                       ↘ expiring → expired (→ received again, on a new notification)
const (
	stateReceived    = "received"     // recorded; a share job will create its token
	stateHandingOver = "handing-over" // the token exists; a hand-over job posts it to the destination
	stateHandedOver  = "handed-over"  // the destination has the token
	stateExpiring    = "expiring"     // the hand-over failed for good; an expire job ends the token
	stateExpired     = "expired"      // the token was expired; a new notification shares again
	stateGaveUp      = "gave-up"      // maxTokensPerInquiry tokens expired; no more are made
)

// maxTokensPerInquiry bounds the chain of replacement tokens one inquiry can
// get after failed hand-overs.
const maxTokensPerInquiry = 10

// inquiryRow is one inquiry the service was told completed.
type inquiryRow struct {
	ID string
	// State is one of the state constants.
	State string
	// Attempt is the number in the Idempotency-Key of the inquiry's next
	// create, "share-<inquiry>-<attempt>".
	Attempt int
	// Replacements counts the inquiry's tokens that were expired.
	Replacements int
	ShareTokenID string
	Via          string // "notification" or "webhook": who told us first
	LastError    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// store is the service's durable state. Every method is one statement, safe
// for any number of replicas at once; each change is guarded by the state it
// expects, so two replicas racing make one change.
type store struct {
	b   *durable.Backend
	now func() time.Time
}

func (s *store) nowMS() int64 { return s.now().UnixMilli() }

const inquiryColumns = `inquiry_id, state, attempt, replacements, share_token_id, via, last_error, created_at, updated_at`

func scanInquiry(scan func(...any) error) (inquiryRow, error) {
	var r inquiryRow
	var created, updated int64
	err := scan(&r.ID, &r.State, &r.Attempt, &r.Replacements, &r.ShareTokenID, &r.Via, &r.LastError, &created, &updated)
	r.CreatedAt, r.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return r, err
}

// record remembers the inquiry, if it is new, as received, and returns the
// row as it now stands.
func (s *store) record(ctx context.Context, inquiryID, via string) (inquiryRow, error) {
	now := s.nowMS()
	if _, err := s.b.Exec(ctx, `INSERT INTO source_inquiries (inquiry_id, state, attempt, replacements, via, created_at, updated_at)
		VALUES (?, ?, 1, 0, ?, ?, ?) ON CONFLICT (inquiry_id) DO NOTHING`, inquiryID, stateReceived, via, now, now); err != nil {
		return inquiryRow{}, err
	}
	row, _, err := s.get(ctx, inquiryID)
	return row, err
}

func (s *store) get(ctx context.Context, inquiryID string) (inquiryRow, bool, error) {
	row, err := scanInquiry(s.b.QueryRow(ctx, `SELECT `+inquiryColumns+` FROM source_inquiries WHERE inquiry_id = ?`, inquiryID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return inquiryRow{}, false, nil
	}
	return row, err == nil, err
}

// update applies set to the inquiry if it is still in state from, and
// reports whether it did.
func (s *store) update(ctx context.Context, inquiryID, from, set string, args ...any) (bool, error) {
	args = append(append(args, s.nowMS()), inquiryID, from)
	res, err := s.b.Exec(ctx, `UPDATE source_inquiries SET `+set+`, updated_at = ? WHERE inquiry_id = ? AND state = ?`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// reopen turns an expired inquiry back to received, under the next key, so
// that a new notification makes a replacement token.
func (s *store) reopen(ctx context.Context, inquiryID string) (bool, error) {
	return s.update(ctx, inquiryID, stateExpired,
		`state = ?, attempt = attempt + 1, replacements = replacements + 1, share_token_id = '', last_error = ''`, stateReceived)
}

// advance moves a received inquiry's key past from, after Persona stored a
// refusal (or an expired token) under it.
func (s *store) advance(ctx context.Context, inquiryID string, from int, expired bool) error {
	more := 0
	if expired {
		more = 1
	}
	_, err := s.b.Exec(ctx, `UPDATE source_inquiries SET attempt = ?, replacements = replacements + ?, updated_at = ?
		WHERE inquiry_id = ? AND attempt = ? AND state = ?`, from+1, more, s.nowMS(), inquiryID, from, stateReceived)
	return err
}

func (s *store) noteError(ctx context.Context, inquiryID, msg string) {
	_, _ = s.b.Exec(ctx, `UPDATE source_inquiries SET last_error = ?, updated_at = ? WHERE inquiry_id = ?`, msg, s.nowMS(), inquiryID)
}

// touch marks an open inquiry as looked at now.
func (s *store) touch(ctx context.Context, inquiryID string) error {
	_, err := s.b.Exec(ctx, `UPDATE source_inquiries SET updated_at = ? WHERE inquiry_id = ?`, s.nowMS(), inquiryID)
	return err
}

// stale returns up to limit inquiries in a state that waits on a job and
// unchanged since before, oldest first.
func (s *store) stale(ctx context.Context, before time.Time, limit int) ([]inquiryRow, error) {
	rows, err := s.b.Query(ctx, `SELECT `+inquiryColumns+` FROM source_inquiries
		WHERE state IN (?, ?, ?) AND updated_at <= ? ORDER BY updated_at LIMIT ?`,
		stateReceived, stateHandingOver, stateExpiring, before.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inquiryRow
	for rows.Next() {
		r, err := scanInquiry(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// webhookEventsTable holds the webhook deduper's claims.
const webhookEventsTable = "source_webhook_events"

// schema is the service's own tables, in SQL that Postgres and SQLite both
// take; times are Unix milliseconds.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS source_inquiries (
		inquiry_id     TEXT PRIMARY KEY,
		state          TEXT NOT NULL,
		attempt        INTEGER NOT NULL DEFAULT 1,
		replacements   INTEGER NOT NULL DEFAULT 0,
		share_token_id TEXT NOT NULL DEFAULT '',
		via            TEXT NOT NULL,
		last_error     TEXT NOT NULL DEFAULT '',
		created_at     BIGINT NOT NULL,
		updated_at     BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS source_inquiries_open ON source_inquiries (state, updated_at)`,
	durable.DedupeSchema(webhookEventsTable),
}
