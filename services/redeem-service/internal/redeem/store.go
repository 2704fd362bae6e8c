package redeem

import (
	"context"
	"database/sql"
	"errors"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// A token's state in this service. received → redeeming → redeemed, failed
// or expired (Persona's terminal statuses), or rejected (Persona does not
// know the token, or it is not ours to redeem).
const (
	stateReceived  = "received"  // recorded; a redeem job will call Persona
	stateRedeeming = "redeeming" // Persona accepted the redeem; the outcome is awaited
	stateRedeemed  = "redeemed"
	stateFailed    = "failed"
	stateExpired   = "expired"
	stateRejected  = "rejected"
)

// terminalStates is SQL for the states that never change again.
const terminalStates = `('redeemed','failed','expired','rejected')`

// tokenRow is one token the service was told about.
type tokenRow struct {
	ID              string
	State           string
	Attempt         int
	Via             string // "hand-over" or "webhook": who told us first
	DestinationType string
	DestinationID   string
	FailureReason   string
	LastError       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// store is the service's durable state: tokens, and the webhook events it
// has claimed. Every method is a single statement, safe for any number of
// replicas at once.
type store struct {
	b   *durable.Backend
	now func() time.Time
}

func (s *store) nowMS() int64 { return s.now().UnixMilli() }

// record remembers tokenID, if it is new, as received. It reports the row as
// it now stands.
func (s *store) record(ctx context.Context, tokenID, via string) (tokenRow, error) {
	now := s.nowMS()
	_, err := s.b.Exec(ctx, `INSERT INTO redeem_tokens (share_token_id, state, attempt, via, created_at, updated_at)
		VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (share_token_id) DO NOTHING`,
		tokenID, stateReceived, via, now, now)
	if err != nil {
		return tokenRow{}, err
	}
	row, _, err := s.get(ctx, tokenID)
	return row, err
}

const tokenColumns = `share_token_id, state, attempt, via, destination_type, destination_id, failure_reason, last_error, created_at, updated_at`

func scanToken(scan func(...any) error) (tokenRow, error) {
	var r tokenRow
	var created, updated int64
	err := scan(&r.ID, &r.State, &r.Attempt, &r.Via, &r.DestinationType, &r.DestinationID, &r.FailureReason, &r.LastError, &created, &updated)
	r.CreatedAt, r.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return r, err
}

// get returns the token's row; found is false when the service never heard of it.
func (s *store) get(ctx context.Context, tokenID string) (row tokenRow, found bool, err error) {
	row, err = scanToken(s.b.QueryRow(ctx, `SELECT `+tokenColumns+` FROM redeem_tokens WHERE share_token_id = ?`, tokenID).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return tokenRow{}, false, nil
	}
	return row, err == nil, err
}

// markRedeeming records that Persona accepted a redeem of a received token.
func (s *store) markRedeeming(ctx context.Context, tokenID string) error {
	_, err := s.b.Exec(ctx, `UPDATE redeem_tokens SET state = ?, last_error = '', updated_at = ?
		WHERE share_token_id = ? AND state = ?`, stateRedeeming, s.nowMS(), tokenID, stateReceived)
	return err
}

// settle records a terminal status Persona reported for tok. It reports
// whether this call made the token terminal (false: it was already, or tok
// is not terminal), so that each outcome is counted once across replicas.
func (s *store) settle(ctx context.Context, tok *connect.ShareToken) (bool, error) {
	if !tok.Status.Terminal() {
		return false, nil
	}
	var destType, destID string
	if tok.Destination != nil {
		destType, destID = tok.Destination.Type, tok.Destination.ID
	}
	return s.finish(ctx, tok.ID, string(tok.Status), destType, destID, string(tok.FailureReason), "")
}

// reject records that the token cannot be redeemed by this organization.
func (s *store) reject(ctx context.Context, tokenID, why string) (bool, error) {
	return s.finish(ctx, tokenID, stateRejected, "", "", "", why)
}

// finish moves a token to a terminal state, inserting it if unknown (an
// inbound-redeemed webhook may reach a replica before anything else did).
func (s *store) finish(ctx context.Context, tokenID, state, destType, destID, reason, lastErr string) (bool, error) {
	now := s.nowMS()
	res, err := s.b.Exec(ctx, `INSERT INTO redeem_tokens (share_token_id, state, attempt, via, destination_type, destination_id, failure_reason, last_error, created_at, updated_at)
		VALUES (?, ?, 1, 'webhook', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (share_token_id) DO UPDATE SET state = excluded.state, destination_type = excluded.destination_type,
			destination_id = excluded.destination_id, failure_reason = excluded.failure_reason,
			last_error = excluded.last_error, updated_at = excluded.updated_at
		WHERE redeem_tokens.state NOT IN `+terminalStates,
		tokenID, state, destType, destID, reason, lastErr, now, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// advance moves the token's attempt past from, after Persona stored a
// refusal under from's key. A concurrent advance from the same attempt
// changes nothing more.
func (s *store) advance(ctx context.Context, tokenID string, from int) error {
	_, err := s.b.Exec(ctx, `UPDATE redeem_tokens SET attempt = ?, updated_at = ? WHERE share_token_id = ? AND attempt = ?`,
		from+1, s.nowMS(), tokenID, from)
	return err
}

// noteError keeps the last error of a token that is not finished, for GET
// /share-tokens/{id} and the logs.
func (s *store) noteError(ctx context.Context, tokenID, msg string) error {
	_, err := s.b.Exec(ctx, `UPDATE redeem_tokens SET last_error = ?, updated_at = ?
		WHERE share_token_id = ? AND state NOT IN `+terminalStates, msg, s.nowMS(), tokenID)
	return err
}

// touch marks an open token as looked at now, so that reconciliation comes
// back to it only after another while.
func (s *store) touch(ctx context.Context, tokenID string) error {
	_, err := s.b.Exec(ctx, `UPDATE redeem_tokens SET updated_at = ? WHERE share_token_id = ? AND state NOT IN `+terminalStates,
		s.nowMS(), tokenID)
	return err
}

// stale returns up to limit tokens that are not finished and have not
// changed since before, oldest first.
func (s *store) stale(ctx context.Context, before time.Time, limit int) ([]tokenRow, error) {
	rows, err := s.b.Query(ctx, `SELECT `+tokenColumns+` FROM redeem_tokens
		WHERE state IN (?, ?) AND updated_at <= ? ORDER BY updated_at LIMIT ?`,
		stateReceived, stateRedeeming, before.UnixMilli(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []tokenRow
	for rows.Next() {
		r, err := scanToken(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// schema is the service's own tables, in SQL that Postgres and SQLite both
// take. Times are Unix milliseconds, the one type both store alike. Adding a
// version means appending statements that are safe to run again.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS redeem_tokens (
		share_token_id   TEXT PRIMARY KEY,
		state            TEXT NOT NULL,
		attempt          INTEGER NOT NULL DEFAULT 1,
		via              TEXT NOT NULL,
		destination_type TEXT NOT NULL DEFAULT '',
		destination_id   TEXT NOT NULL DEFAULT '',
		failure_reason   TEXT NOT NULL DEFAULT '',
		last_error       TEXT NOT NULL DEFAULT '',
		created_at       BIGINT NOT NULL,
		updated_at       BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS redeem_tokens_open ON redeem_tokens (state, updated_at)`,
	durable.DedupeSchema(webhookEventsTable),
	`CREATE TABLE IF NOT EXISTS redeem_cursors (
		name  TEXT PRIMARY KEY,
		at_ms BIGINT NOT NULL
	)`,
}

// webhookEventsTable holds the webhook deduper's claims.
const webhookEventsTable = "redeem_webhook_events"

// cursor returns the time stored under name.
func (s *store) cursor(ctx context.Context, name string) (time.Time, bool, error) {
	var ms int64
	err := s.b.QueryRow(ctx, `SELECT at_ms FROM redeem_cursors WHERE name = ?`, name).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(ms).UTC(), err == nil, err
}

// advanceCursor moves the time under name forward to at; never back.
func (s *store) advanceCursor(ctx context.Context, name string, at time.Time) error {
	_, err := s.b.Exec(ctx, `INSERT INTO redeem_cursors (name, at_ms) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET at_ms = excluded.at_ms WHERE redeem_cursors.at_ms < excluded.at_ms`,
		name, at.UnixMilli())
	return err
}
