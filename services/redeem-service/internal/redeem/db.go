package redeem

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go: nothing to install
)

// backend is one database, Postgres or SQLite, seen two ways: database/sql
// for the service's own tables, and River's driver for the job queue. Both
// share one connection pool.
type backend struct {
	db       *sql.DB
	postgres bool
	// migrateRiver brings River's tables up to date.
	migrateRiver func(ctx context.Context) error
	// newQueue makes the River client over this database.
	newQueue func(cfg *river.Config) (queue, error)
	close    func()
}

// openBackend opens Postgres when databaseURL is set, otherwise the SQLite
// file at sqlitePath (created if missing).
func openBackend(ctx context.Context, databaseURL, sqlitePath string) (*backend, error) {
	if databaseURL != "" {
		return openPostgres(ctx, databaseURL)
	}
	return openSQLite(sqlitePath)
}

func openPostgres(ctx context.Context, url string) (*backend, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("DATABASE_URL: cannot be parsed as a Postgres connection string")
	}
	driver := riverpgxv5.New(pool)
	db := stdlib.OpenDBFromPool(pool)
	return &backend{
		db:           db,
		postgres:     true,
		migrateRiver: func(ctx context.Context) error { return migrateRiver(ctx, driver) },
		newQueue:     func(cfg *river.Config) (queue, error) { return newRiverQueue(driver, cfg) },
		close: func() {
			_ = db.Close()
			pool.Close()
		},
	}, nil
}

func openSQLite(path string) (*backend, error) {
	if path == "" {
		return nil, errors.New("SQLite path is empty (set -db, or DATABASE_URL for Postgres)")
	}
	// WAL lets several processes share the file; busy_timeout makes a writer
	// wait for another instead of failing at once; IMMEDIATE transactions
	// take the write lock up front, so that two never deadlock upgrading.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	// SQLite runs one write at a time; one connection per process avoids
	// SQLITE_BUSY between River's own goroutines.
	db.SetMaxOpenConns(1)
	driver := riversqlite.New(db)
	return &backend{
		db:           db,
		migrateRiver: func(ctx context.Context) error { return migrateRiver(ctx, driver) },
		newQueue:     func(cfg *river.Config) (queue, error) { return newRiverQueue(driver, cfg) },
		close:        func() { _ = db.Close() },
	}, nil
}

func migrateRiver[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}

// migrationLockID serializes start-up migrations of replicas on Postgres.
const migrationLockID = 0x72656465656d // "redeem"

// migrate runs River's migrations and then the service's own schema, once
// per database even when replicas start together: on Postgres under an
// advisory lock, on SQLite under the file's write lock.
func (b *backend) migrate(ctx context.Context) error {
	if b.postgres {
		conn, err := b.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID)
		}()
	}
	if err := b.migrateRiver(ctx); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	for _, stmt := range schema {
		if _, err := b.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	return nil
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
	`CREATE TABLE IF NOT EXISTS redeem_webhook_events (
		event_id    TEXT PRIMARY KEY,
		state       TEXT NOT NULL,
		lease_until BIGINT NOT NULL,
		updated_at  BIGINT NOT NULL
	)`,
}

// rebind turns the ? placeholders of a query into Postgres's $1, $2, …
// (queries here never hold a ? in a literal).
func (b *backend) rebind(query string) string {
	if !b.postgres {
		return query
	}
	var sb strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func (b *backend) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return b.db.ExecContext(ctx, b.rebind(query), args...)
}

func (b *backend) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return b.db.QueryRowContext(ctx, b.rebind(query), args...)
}

func (b *backend) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return b.db.QueryContext(ctx, b.rebind(query), args...)
}

// queue is the River client, whichever driver it runs on.
type queue interface {
	insert(ctx context.Context, args river.JobArgs) error
	start(ctx context.Context) error
	stop(ctx context.Context) error
	stopAndCancel(ctx context.Context) error
	// stopped is closed once the client has stopped: no job runs any more
	// and every outcome is written.
	stopped() <-chan struct{}
}

type riverQueue[TTx any] struct{ c *river.Client[TTx] }

func newRiverQueue[TTx any](driver riverdriver.Driver[TTx], cfg *river.Config) (queue, error) {
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, err
	}
	return &riverQueue[TTx]{c: c}, nil
}

func (q *riverQueue[TTx]) insert(ctx context.Context, args river.JobArgs) error {
	_, err := q.c.Insert(ctx, args, nil)
	return err
}
func (q *riverQueue[TTx]) start(ctx context.Context) error         { return q.c.Start(ctx) }
func (q *riverQueue[TTx]) stop(ctx context.Context) error          { return q.c.Stop(ctx) }
func (q *riverQueue[TTx]) stopAndCancel(ctx context.Context) error { return q.c.StopAndCancel(ctx) }
func (q *riverQueue[TTx]) stopped() <-chan struct{}                { return q.c.Stopped() }
