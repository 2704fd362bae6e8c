// Redeem-service is the destination organization's side of a Persona Connect
// share, built to run as several replicas that restart and crash: it learns of
// share tokens from the source (an API hand-over) or from Persona (the
// connect/share-token.inbound-created webhook), records each in its database
// before saying yes, and redeems each exactly once through a River job.
//
// Routes:
//
//	POST /share-tokens      {"share_token_id": "cnst_…"}: record, queue the redemption, answer
//	GET  /share-tokens/{id} the token's state here
//	POST /webhooks/persona  Persona's deliveries, verified with PERSONA_WEBHOOK_SECRETS
//	GET  /healthz           liveness; /readyz: the database answers and jobs run
//	GET  /metrics           Prometheus text format
//
// Both token routes answer the token's state as JSON ({"share_token_id",
// "state", "attempt", "received_via", "destination", "failure_reason",
// "last_error", "created_at", "updated_at"}) with 202 while it is received
// or redeeming, 200 once redeemed, 422 once failed, expired or rejected (Persona does not
// know it). A hand-over is safe to repeat, to any replica. 400 names a
// malformed id; 503 means it was not recorded (try again).
//
// # Running it
//
// With nothing installed, on an embedded SQLite database (a file, -db):
//
//	PERSONA_API_KEY=persona_sandbox_… go run ./redeem-service
//
// On Postgres, for several replicas: DATABASE_URL=postgres://…. The
// migrations (River's and the service's) run at start-up, once per database.
// Optional: PERSONA_BASE_URL (a fake such as cmd/connect-fake), and
// PERSONA_WEBHOOK_SECRETS (comma separated; without it there is no webhook
// route), REDIS_URL (replicas then share Persona's rate limit, -rate-limit
// per -rate-window, in Redis; without it each paces itself). See
// docs/operating.md for failures and monitoring.
package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/personaconnect/connect-go/services/internal/durable"
	"github.com/personaconnect/connect-go/services/redeem-service/internal/redeem"
)

func main() { durable.Main("redeem-service", run) }

// run reads the configuration, opens and migrates the database, serves until
// ctx ends, then shuts down: HTTP first, then the jobs.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := durable.NewFlagSet("redeem-service", "PERSONA_API_KEY (required); DATABASE_URL (Postgres; unset: SQLite at -db), PERSONA_BASE_URL, PERSONA_WEBHOOK_SECRETS (comma separated), REDIS_URL (a rate budget shared by the replicas)", stderr)
	flags := durable.Flags{Addr: "localhost:8082", DBPath: "redeem-service.db", ReconcileInterval: time.Minute,
		ReconcileAfter: 2 * time.Minute, RescueAfter: time.Minute, ShutdownTimeout: 20 * time.Second}
	flags.Register(fs, durable.FlagHelp{
		ReconcileInterval: "how often unfinished tokens are looked at",
		ReconcileAfter:    "how long a token may stay unfinished before it is read from Persona",
		RetryMax:          "longest wait between retries of a failed job, doubling from 1s (0: River's default, attempt⁴ seconds)",
	})
	catchUpEvery := fs.Duration("catch-up-interval", 5*time.Minute, "how often the Events API is read for events webhooks missed (also at start)")
	if err := durable.Parse(fs, args); err != nil {
		return err
	}
	log := durable.NewLogger(stderr)
	env := durable.ReadEnv(getenv)
	cfg := redeem.Config{
		DatabaseURL:       env.DatabaseURL,
		SQLitePath:        flags.DBPath,
		APIKey:            env.APIKey,
		BaseURL:           env.BaseURL,
		WebhookSecrets:    env.WebhookSecrets,
		ReconcileInterval: flags.ReconcileInterval,
		ReconcileAfter:    flags.ReconcileAfter,
		RescueAfter:       flags.RescueAfter,
		ReplicaID:         flags.ReplicaID,
		CatchUpInterval:   *catchUpEvery,
		Logger:            log,
	}
	if flags.RetryMax > 0 {
		cfg.RetryPolicy = durable.Backoff{Base: time.Second, Max: flags.RetryMax}
	}
	if cfg.APIKey == "" {
		return errors.New("missing environment variable PERSONA_API_KEY (the destination organization's key)")
	}
	limiter, rdb, err := durable.OpenBudget(flags.Budget(env), cfg.APIKey, log)
	if err != nil {
		return err
	}
	if limiter != nil {
		cfg.RateLimiter = limiter
		defer rdb.Close()
	}
	svc, err := redeem.New(ctx, cfg)
	if err != nil {
		return err
	}
	return durable.Serve(ctx, svc, log, flags.Addr, flags.ShutdownTimeout,
		"database", durable.DatabaseLabel(cfg.DatabaseURL, cfg.SQLitePath), "shared_rate_budget", limiter != nil, "webhook_secrets", len(cfg.WebhookSecrets))
}
