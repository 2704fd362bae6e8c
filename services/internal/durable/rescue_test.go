package durable

import (
	"context"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/services/internal/testdb"
)

type sleepArgs struct{ N int }

func (sleepArgs) Kind() string { return "sleep" }

// A replica killed while running jobs leaves them running in River's table.
// Started again under the same replica ID, it takes back its own jobs, and
// only those: a job another live replica runs stays running.
func TestRescueOwnJobs(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		ctx := context.Background()
		b, err := Open(ctx, db.DatabaseURL, db.SQLitePath)
		require.NoError(t, err)
		t.Cleanup(b.Close)
		require.NoError(t, b.Migrate(ctx, nil))
		q, err := b.NewQueue(&river.Config{}) // insert only
		require.NoError(t, err)
		for n := range 3 {
			require.NoError(t, q.Insert(ctx, sleepArgs{N: n}, nil))
		}
		// What a kill -9 leaves: jobs 1 and 2 running on "redeem-0", job 3
		// running on "redeem-1", which lives on.
		owner := map[int]string{1: "redeem-0", 2: "redeem-0", 3: "redeem-1"}
		for id, by := range owner {
			attemptedBy := `'["` + by + `"]'`
			if b.Postgres {
				attemptedBy = `ARRAY['` + by + `']`
			}
			_, err := b.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = `+nowSQL(b)+`, attempted_by = `+attemptedBy+` WHERE id = ?`, id)
			require.NoError(t, err)
		}

		n, err := b.RescueOwnJobs(ctx, "redeem-0")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		for id, want := range map[int]string{1: "available", 2: "available", 3: "running"} {
			var state string
			require.NoError(t, b.QueryRow(ctx, `SELECT state FROM river_job WHERE id = ?`, id).Scan(&state))
			assert.Equal(t, want, state, "job %d", id)
		}
		n, err = b.RescueOwnJobs(ctx, "redeem-0")
		require.NoError(t, err)
		assert.Zero(t, n, "nothing left to take back")
		n, err = b.RescueOwnJobs(ctx, "")
		require.NoError(t, err)
		assert.Zero(t, n, "no replica ID: nothing is taken")
	})
}

func nowSQL(b *Backend) string {
	if b.Postgres {
		return "now() - interval '1 minute'"
	}
	return "datetime('now', '-1 minute', 'subsec')" // River's own format
}
