// Package redeem is the redeem-service: the destination organization's side
// of a Persona Connect share, run as any number of replicas over one
// database. See the command's documentation and docs/operating.md.
package redeem

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// Config is what a replica needs. Zero durations take the defaults given.
type Config struct {
	// DatabaseURL is a Postgres connection string (pgx syntax). Empty means
	// the embedded SQLite database at SQLitePath.
	DatabaseURL string
	SQLitePath  string

	APIKey  string
	BaseURL string // empty: Persona's
	// WebhookSecrets verify Persona-Signature (several during a rotation).
	// Empty: no webhook route (hand-overs and reconciliation only).
	WebhookSecrets []string

	// ReconcileInterval is how often the reconciliation job runs (1m; at
	// least 1s). ReconcileAfter is how long a token may stay unfinished
	// before reconciliation reads it from Persona (2m).
	ReconcileInterval time.Duration
	ReconcileAfter    time.Duration
	// CatchUpInterval is how often the Events API is read for events that
	// webhooks missed (5m; at least 1s; also once at start). CatchUpWindow
	// is how far back the first catch-up on a new database reads (72h).
	// A negative CatchUpInterval turns the catch-up off.
	CatchUpInterval time.Duration
	CatchUpWindow   time.Duration
	// PollInterval is how often a replica looks for jobs another process
	// queued when no notification reached it (1s).
	PollInterval time.Duration
	// WebhookLease is how long a replica holds a webhook event it is
	// handling before another may take a repeat of it (1m).
	WebhookLease time.Duration
	// RescueAfter is how long a job may run before it is taken to belong
	// to a dead replica and run again elsewhere (1m; at least 10s). A run
	// is bounded to half of it, so that a live replica's job is never
	// taken; River looks for such jobs every 30 seconds, so a dead
	// replica's token waits up to RescueAfter + 30s.
	RescueAfter time.Duration
	// RetryPolicy spaces River's retries of a failed job (nil: River's
	// default, attempt⁴ seconds and jitter).
	RetryPolicy river.ClientRetryPolicy
	// Transport carries the requests to Persona (nil: http.DefaultTransport).
	Transport http.RoundTripper

	Logger *slog.Logger // nil: discard
	// ReplicaID names this replica among the live ones, the same across its
	// restarts (a StatefulSet pod's name, say; at most 100 bytes). Jobs a
	// replica left running when it died are then taken back as soon as it
	// starts again, instead of after RescueAfter. Empty: a random name,
	// and only River's rescuer takes a dead replica's jobs back.
	ReplicaID string
	// RateLimiter is the request budget the replicas share (nil: each
	// replica paces itself by Persona's RateLimit headers, which lets
	// replicas together overspend a window now and then).
	RateLimiter    connect.RateLimiter
	ClientOptions  []connect.ClientOption
	WebhookOptions []connect.WebhookHandlerOption
}

func (c *Config) setDefaults() {
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = time.Minute
	}
	c.ReconcileInterval = max(c.ReconcileInterval, time.Second)
	if c.ReconcileAfter <= 0 {
		c.ReconcileAfter = 2 * time.Minute
	}
	if c.CatchUpInterval == 0 {
		c.CatchUpInterval = 5 * time.Minute
	}
	if c.CatchUpInterval > 0 {
		c.CatchUpInterval = max(c.CatchUpInterval, time.Second)
	}
	if c.CatchUpWindow <= 0 {
		c.CatchUpWindow = 72 * time.Hour
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.WebhookLease <= 0 {
		c.WebhookLease = time.Minute
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = time.Minute
	}
	c.RescueAfter = max(c.RescueAfter, 10*time.Second)
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service is one replica: its HTTP routes and its share of the job queue.
type Service struct {
	cfg     Config
	b       *durable.Backend
	st      *store
	dedupe  *durable.Deduper
	q       *durable.Worker
	client  *connect.Client
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
}

// New opens the database, runs the migrations (River's and the service's)
// and builds the replica. Call Start to work jobs, Stop when done.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.setDefaults()
	if cfg.APIKey == "" {
		return nil, errors.New("APIKey is empty")
	}
	b, err := durable.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath)
	if err != nil {
		return nil, err
	}
	s, err := build(ctx, cfg, b)
	if err != nil {
		b.Close()
		return nil, err
	}
	return s, nil
}

func build(ctx context.Context, cfg Config, b *durable.Backend) (*Service, error) {
	if err := b.Migrate(ctx, schema); err != nil {
		return nil, err
	}
	st := &store{b: b, now: time.Now}
	s := &Service{cfg: cfg, b: b, st: st, dedupe: &durable.Deduper{B: b, Table: webhookEventsTable, Lease: cfg.WebhookLease, Now: st.now}, log: cfg.Logger, metrics: newMetrics(b)}

	client, err := durable.NewClient(durable.ClientConfig{
		Service: "redeem-service", Prefix: "redeem", APIKey: cfg.APIKey, BaseURL: cfg.BaseURL, Transport: cfg.Transport,
		Calls: s.metrics.apiCalls, Registry: s.metrics.reg, RateLimiter: cfg.RateLimiter, Extra: cfg.ClientOptions,
	})
	if err != nil {
		return nil, err
	}
	s.client = client

	workers := river.NewWorkers()
	durable.AddWorker(workers, &redeemWorker{s: s})
	durable.AddWorker(workers, &reconcileWorker{s: s})
	durable.AddWorker(workers, &catchUpWorker{s: s})
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(cfg.ReconcileInterval),
		func() (river.JobArgs, *river.InsertOpts) { return reconcileArgs{}, nil },
		&river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true},
	)}
	if cfg.CatchUpInterval > 0 {
		periodic = append(periodic, river.NewPeriodicJob(
			river.PeriodicInterval(cfg.CatchUpInterval),
			func() (river.JobArgs, *river.InsertOpts) { return catchUpArgs{}, nil },
			&river.PeriodicJobOpts{ID: "catch-up", RunOnStart: true},
		))
	}
	if s.q, err = b.NewServiceQueue(durable.QueueConfig{
		Workers: workers, Periodic: periodic, PollInterval: cfg.PollInterval, RescueAfter: cfg.RescueAfter,
		ReplicaID: cfg.ReplicaID, RetryPolicy: cfg.RetryPolicy, Logger: cfg.Logger,
	}); err != nil {
		return nil, err
	}
	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start takes back the jobs this replica (Config.ReplicaID) left running
// when it died, then begins working jobs. It returns once the queue runs;
// the work goes on until Stop.
func (s *Service) Start(ctx context.Context) error { return s.q.Start(ctx) }

// Stop stops taking jobs, lets the running ones finish until ctx ends,
// cancels the rest (River retries them, here or on another replica), and
// closes the database. It returns ctx's error if it had to cancel.
func (s *Service) Stop(ctx context.Context) error {
	err := s.q.Stop(ctx)
	s.client.CloseIdleConnections()
	s.b.Close()
	return err
}

// accept records the token and queues its redemption, and returns the row
// as it stands. Only once both are durable may the caller be told yes.
func (s *Service) accept(ctx context.Context, tokenID, via string) (tokenRow, error) {
	row, err := s.st.record(ctx, tokenID, via)
	if err != nil {
		return tokenRow{}, err
	}
	if row.State == stateReceived {
		if err := s.q.Insert(ctx, redeemArgs{ShareTokenID: tokenID}, nil); err != nil {
			return tokenRow{}, err
		}
	}
	return row, nil
}

// handleEvent is the webhook callback. inbound-created starts a redemption
// as a hand-over does; inbound-redeemed finishes one. An error makes the
// delivery answer 500 and releases the event's claim: Persona delivers it
// again later. On nil, the SDK's handler marks the event done (the deduper
// is a connect.WebhookDoneDeduper), so the work must be durable by then; it
// is also safe to repeat, since a failed Done lets a repeat after the lease
// through.
func (s *Service) handleEvent(ctx context.Context, ev *connect.WebhookEvent) error {
	switch {
	case ev.ShareToken == nil:
		s.log.Info("webhook event ignored", "event_id", ev.ID, "event", ev.Name)
	case ev.Name == connect.EventShareTokenInboundCreated:
		if err := durable.CheckID(ev.ShareToken.ID); err != nil {
			s.log.Warn("webhook event with a malformed token id ignored", "event_id", ev.ID, "error", err)
			break
		}
		if _, err := s.accept(ctx, ev.ShareToken.ID, "webhook"); err != nil {
			return err
		}
	case ev.Name == connect.EventShareTokenInboundRedeemed:
		if err := s.settle(ctx, ev.ShareToken, "webhook"); err != nil {
			return err
		}
	default:
		s.log.Info("webhook event ignored", "event_id", ev.ID, "event", ev.Name)
	}
	return nil
}
