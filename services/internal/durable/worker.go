package durable

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
)

// Worker works a service's Queue between Start and Stop, and answers the
// service's readiness probe. Insert and the rest of Queue pass through.
type Worker struct {
	Queue
	db        *Backend
	replicaID string
	log       *slog.Logger
	started   atomic.Bool
}

// NewWorker wraps q, whose jobs live in b, for the replica named replicaID
// (empty: unnamed; see Start).
func NewWorker(b *Backend, q Queue, replicaID string, log *slog.Logger) *Worker {
	return &Worker{Queue: q, db: b, replicaID: replicaID, log: log}
}

// Start takes back the jobs a named replica left running when it died (see
// Backend.RescueOwnJobs), then begins working jobs. It returns once the
// queue runs; the work goes on until Stop, whatever becomes of ctx.
func (w *Worker) Start(ctx context.Context) error {
	n, err := w.db.RescueOwnJobs(ctx, w.replicaID)
	if err != nil {
		return fmt.Errorf("taking back the jobs replica %q left running: %w", w.replicaID, err)
	}
	if n > 0 {
		w.log.Info("took back jobs this replica left running when it died", "replica_id", w.replicaID, "jobs", n)
	}
	if err := w.Queue.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	w.started.Store(true)
	return nil
}

// Stop stops taking jobs and lets the running ones finish until ctx ends,
// then cancels the rest (River retries them, here or on another replica).
// It returns once every outcome is written, with ctx's error if it had to
// cancel. Stopping a worker that is not started does nothing.
func (w *Worker) Stop(ctx context.Context) error {
	if !w.started.Swap(false) {
		return nil
	}
	err := w.Queue.Stop(ctx)
	if err != nil {
		// Cancelled jobs end with an error, which River records as a
		// retry; Stopped waits for that record.
		_ = w.Queue.StopAndCancel(context.Background())
	}
	<-w.Queue.Stopped()
	return err
}

// Ready answers 200 when the queue runs and the database answers within
// 2 seconds, and 503 otherwise, so that a load balancer sends nothing that
// could not be recorded.
func (w *Worker) Ready(rw http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	switch {
	case !w.started.Load():
		WriteJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "not started"})
	case w.db.DB.PingContext(ctx) != nil:
		WriteJSON(rw, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
	default:
		WriteJSON(rw, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// QueueConfig is what sets one service's job queue apart; the rest is the
// same for every service.
type QueueConfig struct {
	Workers  *river.Workers
	Periodic []*river.PeriodicJob // only the elected leader inserts them
	// PollInterval is how often a replica looks for jobs another process
	// queued when no notification reached it.
	PollInterval time.Duration
	// RescueAfter is how long a job may run before it is taken to belong
	// to a dead replica; each run is bounded to half of it.
	RescueAfter time.Duration
	ReplicaID   string // empty: River picks a name (see Worker.Start)
	RetryPolicy river.ClientRetryPolicy
	Logger      *slog.Logger
}

// NewServiceQueue builds a service's River queue on b (10 workers) and
// wraps it in a Worker.
func (b *Backend) NewServiceQueue(c QueueConfig) (*Worker, error) {
	q, err := b.NewQueue(&river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}},
		Workers:           c.Workers,
		FetchPollInterval: c.PollInterval,
		FetchCooldown:     min(c.PollInterval, 100*time.Millisecond),
		ID:                c.ReplicaID, // empty: River picks one
		// A replica killed mid-job leaves it running; another replica
		// takes it over after this, unless the replica comes back first.
		RescueStuckJobsAfter: c.RescueAfter,
		// River's default job timeout (1m) must stay below the rescue.
		JobTimeout:   min(time.Minute, c.RescueAfter/2),
		RetryPolicy:  c.RetryPolicy,
		Logger:       QuietLogger(c.Logger),
		PeriodicJobs: c.Periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return NewWorker(b, q, c.ReplicaID, c.Logger), nil
}
