package durable

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitList(t *testing.T) {
	assert.Nil(t, SplitList(""))
	assert.Nil(t, SplitList(" , ,"))
	assert.Equal(t, []string{"wbhsec_old", "wbhsec_new"}, SplitList(" wbhsec_old , wbhsec_new,, "))
}

func TestDatabaseLabelHidesTheConnectionString(t *testing.T) {
	assert.Equal(t, "postgres", DatabaseLabel("postgres://u:secret@db/x", "ignored.db"))
	assert.Equal(t, "sqlite:s.db", DatabaseLabel("", "s.db"))
}

// Reconcile purges old events first, bounds the batch, visits every stale
// row even after one fails, and returns the failures joined.
func TestReconcileVisitsEveryStaleRow(t *testing.T) {
	b, err := Open(context.Background(), "", filepath.Join(t.TempDir(), "r.db"))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	require.NoError(t, b.Migrate(context.Background(), []string{DedupeSchema("t_events")}))
	now := time.Unix(1_700_000_000, 0)
	d := &Deduper{B: b, Table: "t_events", Lease: time.Minute, Now: func() time.Time { return now.Add(-EventRetention - time.Hour) }}
	ok, err := d.Claim(context.Background(), "evt_old")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, d.Done(context.Background(), "evt_old"))

	var before time.Time
	var limit int
	var visited []string
	boom := errors.New("boom")
	err = Reconcile(context.Background(), d, now, 2*time.Minute,
		func(_ context.Context, b time.Time, l int) ([]string, error) {
			before, limit = b, l
			return []string{"a", "b", "c"}, nil
		},
		func(_ context.Context, row string) error {
			visited = append(visited, row)
			if row == "b" {
				return boom
			}
			return nil
		})

	require.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"a", "b", "c"}, visited)
	assert.Equal(t, now.Add(-2*time.Minute), before)
	assert.Equal(t, ReconcileBatch, limit)
	done, err := d.IsDone(context.Background(), "evt_old")
	require.NoError(t, err)
	assert.False(t, done, "purged: older than EventRetention")

	staleErr := errors.New("database down")
	err = Reconcile(context.Background(), d, now, time.Minute,
		func(context.Context, time.Time, int) ([]string, error) { return nil, staleErr },
		func(context.Context, string) error { t.Fatal("no row to visit"); return nil })
	require.ErrorIs(t, err, staleErr)
}

// fakeService records what Serve does with it.
type fakeService struct {
	http.Handler
	startErr         error
	started, stopped int
}

func (f *fakeService) Start(context.Context) error { f.started++; return f.startErr }
func (f *fakeService) Stop(context.Context) error  { f.stopped++; return nil }

// Serve stops the service whatever fails: its start, or the listener.
func TestServeStopsTheServiceOnFailure(t *testing.T) {
	log := NewLogger(io.Discard)
	svc := &fakeService{startErr: errors.New("no queue")}
	require.ErrorIs(t, Serve(context.Background(), svc, log, "127.0.0.1:0", time.Second), svc.startErr)
	assert.Equal(t, 1, svc.stopped)

	svc = &fakeService{}
	require.Error(t, Serve(context.Background(), svc, log, "not an address", time.Second))
	assert.Equal(t, 1, svc.started)
	assert.Equal(t, 1, svc.stopped)
}
