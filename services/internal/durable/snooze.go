package durable

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
)

// MaxRateLimitWait is how long a service's client may hold one request for
// Persona's rate limit (a spent window, a Retry-After, the shared budget)
// before giving up with connect.ErrRateLimited. Short, so that a job does
// not sit running while it waits: Snooze then puts it back in the queue
// until the wait is over,
// where a replica that dies does not take it along (a running job waits
// for the rescuer).
const MaxRateLimitWait = 2 * time.Second

// maxSnooze bounds a snooze whatever the wait asked for: a Retry-After of
// hours is Persona's to give, but a replica looks again sooner.
const maxSnooze = 2 * time.Minute

// Snooze turns a job's rate-limited failure into a snooze for as long as
// the rate limit asked (connect.RetryAfter: the window's reset, a 429's
// Retry-After, the shared budget's next turn; 1 second if it said nothing;
// at most 2 minutes), plus up to a second so that the snoozed jobs do not
// all return at once. The job runs again then, on any replica, without
// using up one of its attempts, and nothing about it changes (a redeem keeps
// its key). Any other error, and nil, is returned as it is.
func Snooze(err error) error {
	if err == nil || !errors.Is(err, connect.ErrRateLimited) {
		return err
	}
	wait, _ := connect.RetryAfter(err)
	return river.JobSnooze(min(max(wait, time.Second), maxSnooze) + rand.N(time.Second))
}

// snoozing is a worker whose rate-limited runs are snoozed.
type snoozing[T river.JobArgs] struct{ river.Worker[T] }

func (w snoozing[T]) Work(ctx context.Context, job *river.Job[T]) error {
	return Snooze(w.Worker.Work(ctx, job))
}

// AddWorker registers w with workers, as river.AddWorker does, with every
// rate-limited run of it snoozed (see Snooze): one place for every job of
// a service, instead of a wrapper in each.
func AddWorker[T river.JobArgs](workers *river.Workers, w river.Worker[T]) {
	river.AddWorker(workers, river.Worker[T](snoozing[T]{w}))
}
