// Package durable is what the services share to keep their state in one
// database, Postgres or an embedded SQLite file: the connection, start-up
// migrations, the River job queue over it, and a webhook deduper whose
// claims hold across replicas.
package durable

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

// Backend is one database, Postgres or SQLite, seen two ways: database/sql
// for the service's own tables, and River's driver for the job queue. Both
// share one connection pool.
type Backend struct {
	// DB is the pool; queries through Exec, QueryRow and Query take ?
	// placeholders on both databases.
	DB *sql.DB
	// Postgres is false for SQLite.
	Postgres bool
	// migrateRiver brings River's tables up to date.
	migrateRiver func(ctx context.Context) error
	newQueue     func(cfg *river.Config) (Queue, error)
	rescueOwn    func(ctx context.Context, replicaID string) (int, error)
	close        func()
}

// Open opens Postgres when databaseURL is set, otherwise the SQLite file at
// sqlitePath (created if missing). Nothing is migrated yet: see Migrate.
func Open(ctx context.Context, databaseURL, sqlitePath string) (*Backend, error) {
	if databaseURL != "" {
		return openPostgres(ctx, databaseURL)
	}
	return openSQLite(sqlitePath)
}

func openPostgres(ctx context.Context, url string) (*Backend, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("DATABASE_URL: cannot be parsed as a Postgres connection string")
	}
	driver := riverpgxv5.New(pool)
	db := stdlib.OpenDBFromPool(pool)
	return &Backend{
		DB:           db,
		Postgres:     true,
		migrateRiver: func(ctx context.Context) error { return migrateRiver(ctx, driver) },
		newQueue:     func(cfg *river.Config) (Queue, error) { return newRiverQueue(driver, cfg) },
		rescueOwn:    func(ctx context.Context, id string) (int, error) { return rescueOwn(ctx, driver, id) },
		close: func() {
			_ = db.Close()
			pool.Close()
		},
	}, nil
}

func openSQLite(path string) (*Backend, error) {
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
	return &Backend{
		DB:           db,
		migrateRiver: func(ctx context.Context) error { return migrateRiver(ctx, driver) },
		newQueue:     func(cfg *river.Config) (Queue, error) { return newRiverQueue(driver, cfg) },
		rescueOwn:    func(ctx context.Context, id string) (int, error) { return rescueOwn(ctx, driver, id) },
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

// migrationLockID serializes start-up migrations of replicas on Postgres,
// whichever service they are (River's tables are shared).
const migrationLockID = 0x72656465656d // "redeem"

// Migrate runs River's migrations and then schema, the service's own
// statements (each safe to run again), once per database even when
// replicas start together: on Postgres under an advisory lock, on SQLite
// under the file's write lock.
func (b *Backend) Migrate(ctx context.Context, schema []string) error {
	if b.Postgres {
		conn, err := b.DB.Conn(ctx)
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
		if _, err := b.DB.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	return nil
}

// rebind turns the ? placeholders of a query into Postgres's $1, $2, …
// (queries here never hold a ? in a literal).
func (b *Backend) rebind(query string) string {
	if !b.Postgres {
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

// Exec runs a statement written with ? placeholders.
func (b *Backend) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return b.DB.ExecContext(ctx, b.rebind(query), args...)
}

// QueryRow runs a query written with ? placeholders that returns one row.
func (b *Backend) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return b.DB.QueryRowContext(ctx, b.rebind(query), args...)
}

// Query runs a query written with ? placeholders.
func (b *Backend) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return b.DB.QueryContext(ctx, b.rebind(query), args...)
}

// NewQueue makes the River client over this database.
func (b *Backend) NewQueue(cfg *river.Config) (Queue, error) { return b.newQueue(cfg) }

// Close closes the pool.
func (b *Backend) Close() { b.close() }

// JobsQueued counts River jobs waiting to run: available, scheduled or
// retryable, of every kind.
func (b *Backend) JobsQueued(ctx context.Context) (int, error) {
	var n int
	err := b.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available','scheduled','retryable')`).Scan(&n)
	return n, err
}

// Queue is the River client, whichever driver it runs on.
type Queue interface {
	// Insert queues a job; a unique job that exists already is not
	// queued again, and that is no error.
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	// Stopped is closed once the client has stopped: no job runs any more
	// and every outcome is written.
	Stopped() <-chan struct{}
}

type riverQueue[TTx any] struct{ c *river.Client[TTx] }

func newRiverQueue[TTx any](driver riverdriver.Driver[TTx], cfg *river.Config) (Queue, error) {
	c, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, err
	}
	return &riverQueue[TTx]{c: c}, nil
}

func (q *riverQueue[TTx]) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	_, err := q.c.Insert(ctx, args, opts)
	return err
}
func (q *riverQueue[TTx]) Start(ctx context.Context) error         { return q.c.Start(ctx) }
func (q *riverQueue[TTx]) Stop(ctx context.Context) error          { return q.c.Stop(ctx) }
func (q *riverQueue[TTx]) StopAndCancel(ctx context.Context) error { return q.c.StopAndCancel(ctx) }
func (q *riverQueue[TTx]) Stopped() <-chan struct{}                { return q.c.Stopped() }
