// Package source is the source-backend: the source organization's side of a
// Persona Connect share, run as any number of replicas over one database.
// See the command's documentation and docs/operating.md.
package source

import (
	"context"
	"errors"
	"fmt"
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

	APIKey       string // the source organization's
	BaseURL      string // empty: Persona's
	ConnectionID string // the active connection to the destination
	// DestinationURL receives POST {"share_token_id": "cnst_…"}, such as
	// the redeem-service's /share-tokens.
	DestinationURL string
	// WebhookSecrets verify Persona-Signature (several during a rotation).
	// Empty: no webhook route.
	WebhookSecrets []string
	// TokenTTL is each token's lifetime (0: Persona's default, 14 days).
	TokenTTL time.Duration

	// HandOverTimeout bounds one POST to the destination (15s).
	HandOverTimeout time.Duration
	// HandOverAttempts is how many times a hand-over is tried before it
	// failed for good and the token is expired (10; with the default
	// retry policy that is about 40 minutes).
	HandOverAttempts int
	// ReconcileInterval is how often inquiries left waiting are looked at
	// (1m; at least 1s); ReconcileAfter is how long they wait first (2m).
	ReconcileInterval time.Duration
	ReconcileAfter    time.Duration
	// PollInterval is how often a replica looks for jobs another process
	// queued when no notification reached it (1s).
	PollInterval time.Duration
	// WebhookLease is how long a replica holds a webhook event it is
	// handling before another may take a repeat of it (1m).
	WebhookLease time.Duration
	// RescueAfter is how long a job may run before it is taken to belong
	// to a dead replica and run again elsewhere (1m; at least 10s, and at
	// least twice a hand-over's run, HandOverTimeout + 5s, so that a live
	// replica's job is never taken). River looks for such jobs every 30
	// seconds.
	RescueAfter time.Duration
	// RetryPolicy spaces River's retries of a failed job (nil: 1s doubling
	// up to 10m, jittered).
	RetryPolicy river.ClientRetryPolicy
	// Transport carries the requests to Persona, DestinationTransport the
	// hand-overs (nil: http.DefaultTransport).
	Transport            http.RoundTripper
	DestinationTransport http.RoundTripper

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
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HandOverTimeout, 15*time.Second)
	def(&c.ReconcileInterval, time.Minute)
	c.ReconcileInterval = max(c.ReconcileInterval, time.Second)
	def(&c.ReconcileAfter, 2*time.Minute)
	def(&c.PollInterval, time.Second)
	def(&c.WebhookLease, time.Minute)
	def(&c.RescueAfter, time.Minute)
	c.RescueAfter = max(c.RescueAfter, 10*time.Second, 2*(c.HandOverTimeout+5*time.Second))
	if c.HandOverAttempts <= 0 {
		c.HandOverAttempts = 10
	}
	if c.RetryPolicy == nil {
		c.RetryPolicy = durable.Backoff{Base: time.Second, Max: 10 * time.Minute}
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if c.DestinationTransport == nil {
		c.DestinationTransport = http.DefaultTransport
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
	dest    *http.Client
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
}

// New opens the database, runs the migrations (River's and the service's)
// and builds the replica. Call Start to work jobs, Stop when done.
func New(ctx context.Context, cfg Config) (*Service, error) {
	cfg.setDefaults()
	var missing []string
	for _, f := range []struct{ name, v string }{{"APIKey", cfg.APIKey}, {"ConnectionID", cfg.ConnectionID}, {"DestinationURL", cfg.DestinationURL}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("config: %v required", missing)
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
	s := &Service{
		cfg: cfg, b: b, st: st, log: cfg.Logger, metrics: newMetrics(b),
		dedupe: &durable.Deduper{B: b, Table: webhookEventsTable, Lease: cfg.WebhookLease, Now: st.now},
	}
	s.dest = &http.Client{Transport: durable.CountingTransport{Next: cfg.DestinationTransport, Calls: s.metrics.handOvers}}
	client, err := durable.NewClient(durable.ClientConfig{
		Service: "source-backend", Prefix: "source", APIKey: cfg.APIKey, BaseURL: cfg.BaseURL, Transport: cfg.Transport,
		Calls: s.metrics.apiCalls, Registry: s.metrics.reg, RateLimiter: cfg.RateLimiter, Extra: cfg.ClientOptions,
	})
	if err != nil {
		return nil, err
	}
	s.client = client

	workers := river.NewWorkers()
	durable.AddWorker(workers, &shareWorker{s: s})
	durable.AddWorker(workers, &handOverWorker{s: s})
	durable.AddWorker(workers, &expireWorker{s: s})
	durable.AddWorker(workers, &reconcileWorker{s: s})
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(cfg.ReconcileInterval),
		func() (river.JobArgs, *river.InsertOpts) { return reconcileArgs{}, nil },
		&river.PeriodicJobOpts{ID: "reconcile", RunOnStart: true},
	)}
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
	s.dest.CloseIdleConnections()
	s.b.Close()
	return err
}

// accept records that the inquiry completed and queues what it needs next,
// then returns its row. Only once both are durable may the caller be told
// yes. An inquiry whose token was expired (its hand-over failed) is shared
// again under the next key, up to maxTokensPerInquiry tokens.
func (s *Service) accept(ctx context.Context, inquiryID, via string) (inquiryRow, error) {
	row, err := s.st.record(ctx, inquiryID, via)
	if err != nil {
		return inquiryRow{}, err
	}
	if row.State == stateExpired {
		if row.Replacements+1 >= maxTokensPerInquiry {
			if _, err := s.st.update(ctx, inquiryID, stateExpired, `state = ?`, stateGaveUp); err != nil {
				return inquiryRow{}, err
			}
			s.log.Warn("inquiry not shared again: too many of its tokens expired", "inquiry_id", inquiryID, "tokens", row.Replacements+1)
		} else if _, err := s.st.reopen(ctx, inquiryID); err != nil {
			return inquiryRow{}, err
		}
		if row, _, err = s.st.get(ctx, inquiryID); err != nil {
			return inquiryRow{}, err
		}
	}
	return row, s.queueNext(ctx, row)
}

// queueNext queues the job an inquiry in row's state waits on. Jobs are
// unique, so queueing one that exists does nothing.
func (s *Service) queueNext(ctx context.Context, row inquiryRow) error {
	switch row.State {
	case stateReceived:
		return s.q.Insert(ctx, shareArgs{InquiryID: row.ID, Replacement: row.Replacements}, nil)
	case stateHandingOver:
		return s.q.Insert(ctx, handOverArgs{InquiryID: row.ID, ShareTokenID: row.ShareTokenID},
			&river.InsertOpts{MaxAttempts: s.cfg.HandOverAttempts})
	case stateExpiring:
		return s.q.Insert(ctx, expireArgs{InquiryID: row.ID, ShareTokenID: row.ShareTokenID}, nil)
	}
	return nil
}

// handleEvent is the webhook callback: inquiry.completed shares the inquiry
// as POST /inquiries/{id}/completed does; other events are ignored. An
// error makes the delivery answer 500 and releases the event's claim:
// Persona delivers it again later. On nil, the SDK's handler marks the
// event done (the deduper is a connect.WebhookDoneDeduper), so the work must
// be durable by then; it is also safe to repeat, since a failed Done lets a
// repeat after the lease through.
func (s *Service) handleEvent(ctx context.Context, ev *connect.WebhookEvent) error {
	if ev.Name == connect.EventInquiryCompleted && ev.Object != nil {
		if err := durable.CheckID(ev.Object.ID); err != nil {
			s.log.Warn("webhook event with a malformed inquiry id ignored", "event_id", ev.ID, "error", err)
		} else if _, err := s.accept(ctx, ev.Object.ID, "webhook"); err != nil {
			return err
		}
	} else {
		s.log.Info("webhook event ignored", "event_id", ev.ID, "event", ev.Name)
	}
	return nil
}

var errNotRecorded = errors.New("not recorded; try again")
