// Package testdb gives the services' tests a fresh database: an SQLite file
// (the embedded default) or a Postgres schema of its own through
// DATABASE_URL.
package testdb

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SkipNoDatabaseURL is the message of every test skipped for want of
// Postgres; .ci/run fails when it finds it.
const SkipNoDatabaseURL = "DATABASE_URL is not set: Postgres variant skipped"

// Target is one database for a test. Several services opened on it share
// it, as replicas do.
type Target struct {
	DatabaseURL string // Postgres, with search_path set to the test's schema
	SQLitePath  string
}

// ForEachBackend runs fn on the embedded default (SQLite) and on Postgres
// (DATABASE_URL, in a schema of its own, dropped afterwards).
func ForEachBackend(t *testing.T, fn func(t *testing.T, db Target)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Target{SQLitePath: filepath.Join(t.TempDir(), "service.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Postgres(t))
	})
}

// Postgres makes a fresh schema in DATABASE_URL's database, dropped when
// the test ends, and skips the test with SkipNoDatabaseURL when the
// variable is unset.
func Postgres(t testing.TB) Target {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Skip(SkipNoDatabaseURL)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err, "connect to DATABASE_URL")
	schema := "svc_test_" + strings.ToLower(rand.Text()[:12])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
		_ = conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	// pgx passes unknown parameters to the server: every connection of the
	// pool works in the test's schema.
	return Target{DatabaseURL: base + sep + "search_path=" + schema}
}
