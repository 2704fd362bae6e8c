package durable

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// A rate-limited job is snoozed for the wait the rate limit asked, within
// bounds and with up to a second of jitter; other outcomes pass through.
func TestSnooze(t *testing.T) {
	assert.NoError(t, Snooze(nil))
	other := errors.New("database down")
	assert.Same(t, other, Snooze(other))

	cases := []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"429 with Retry-After", &connect.Error{StatusCode: 429, RetryAfter: 20 * time.Second}, 20 * time.Second, 21 * time.Second},
		{"429 saying nothing", &connect.Error{StatusCode: 429}, time.Second, 2 * time.Second},
		{"a wait of hours", &connect.Error{StatusCode: 429, RetryAfter: 5 * time.Hour}, maxSnooze, maxSnooze + time.Second},
		{"wrapped", fmt.Errorf("redeem: %w", connect.ErrRateLimited), time.Second, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				var snooze *river.JobSnoozeError
				require.ErrorAs(t, Snooze(c.err), &snooze)
				assert.GreaterOrEqual(t, snooze.Duration, c.min)
				assert.Less(t, snooze.Duration, c.max)
			}
		})
	}
	var snooze *river.JobSnoozeError
	assert.False(t, errors.As(Snooze(&connect.Error{StatusCode: 503, RetryAfter: time.Second}), &snooze), "a 503 is a failure, not a snooze")
}

type limitedArgs struct{}

func (limitedArgs) Kind() string { return "limited" }

type limitedWorker struct {
	river.WorkerDefaults[limitedArgs]
	err error
}

func (w *limitedWorker) Work(context.Context, *river.Job[limitedArgs]) error { return w.err }

func (w *limitedWorker) Timeout(*river.Job[limitedArgs]) time.Duration { return 7 * time.Second }

// A worker registered through AddWorker has its rate-limited runs snoozed,
// and keeps its own Timeout.
func TestAddWorkerSnoozes(t *testing.T) {
	workers := river.NewWorkers()
	AddWorker(workers, &limitedWorker{}) // registers without complaint

	limited := snoozing[limitedArgs]{&limitedWorker{err: &connect.Error{StatusCode: 429, RetryAfter: 5 * time.Second}}}
	var snooze *river.JobSnoozeError
	require.ErrorAs(t, limited.Work(context.Background(), &river.Job[limitedArgs]{}), &snooze)
	assert.GreaterOrEqual(t, snooze.Duration, 5*time.Second)
	assert.Equal(t, 7*time.Second, limited.Timeout(nil), "the worker's own Timeout")

	failing := snoozing[limitedArgs]{&limitedWorker{err: errors.New("database down")}}
	assert.EqualError(t, failing.Work(context.Background(), &river.Job[limitedArgs]{}), "database down")
}
