// Source-backend is the source organization's side of a Persona Connect
// share, built to run as several replicas that restart and crash: when an
// inquiry completes (Persona's inquiry.completed webhook, or the source's
// own systems calling POST /inquiries/{id}/completed) it records the
// inquiry, creates exactly one live share token for it, and hands the
// token's id to the destination through an outbox job with retries. A
// hand-over that fails for good expires the token, durably.
//
// Routes:
//
//	POST /inquiries/{id}/completed  record, queue the sharing, answer
//	GET  /inquiries/{id}            the inquiry's state here
//	POST /webhooks/persona          Persona's deliveries, verified with PERSONA_WEBHOOK_SECRETS
//	GET  /healthz                   liveness; /readyz: the database answers and jobs run
//	GET  /metrics                   Prometheus text format
//
// Both inquiry routes answer its state as JSON ({"inquiry_id", "state",
// "share_token_id", "attempt", "replacements", "received_via",
// "last_error", "created_at", "updated_at"}): 200 once the destination has
// the token (handed-over), 422 when the service gave up on the inquiry
// (ten of its tokens expired), 202 while work remains. 400 names a
// malformed id; 503 means it was not recorded (try again).
//
// # Exactly one live token per inquiry
//
// Each create carries the Idempotency-Key "share-<inquiry>-<attempt>", the
// attempt kept with the inquiry in the database. It advances after a
// definitive refusal (a 4xx other than 408, 409 and 429: Persona would
// replay it for 24 hours) and after the key's token was expired; it stays
// after anything whose outcome is unknown, so that a retry finds the token
// Persona may have made. The create runs in a River job unique per inquiry,
// so a webhook, a notification and their repeats on any replica make one.
// A hand-over that the destination refuses (4xx other than 408 and 429),
// or that fails -handover-attempts times, expires the token; a later
// notification of the inquiry shares it again under the next key.
//
// # Running it
//
// With nothing installed, on an embedded SQLite database (a file, -db):
//
//	PERSONA_API_KEY=persona_sandbox_… PERSONA_CONNECTION_ID=cxn_… \
//	DESTINATION_URL=http://localhost:8082/share-tokens go run ./source-backend
//
// On Postgres, for several replicas: DATABASE_URL=postgres://… (a database
// or schema of its own: River's tables are per service). Optional:
// PERSONA_BASE_URL (a fake such as cmd/connect-fake) and
// PERSONA_WEBHOOK_SECRETS (comma separated; without it there is no webhook
// route), REDIS_URL (replicas then share Persona's rate limit, -rate-limit
// per -rate-window, in Redis; without it each paces itself). See
// docs/operating.md for failures and monitoring.
package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/personaconnect/connect-go/services/internal/durable"
	"github.com/personaconnect/connect-go/services/source-backend/internal/source"
)

func main() { durable.Main("source-backend", run) }

// run reads the configuration, opens and migrates the database, serves until
// ctx ends, then shuts down: HTTP first, then the jobs.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := durable.NewFlagSet("source-backend", "PERSONA_API_KEY, PERSONA_CONNECTION_ID, DESTINATION_URL (required); DATABASE_URL (Postgres; unset: SQLite at -db), PERSONA_BASE_URL, PERSONA_WEBHOOK_SECRETS (comma separated), REDIS_URL (a rate budget shared by the replicas)", stderr)
	flags := durable.Flags{Addr: "localhost:8081", DBPath: "source-backend.db", ReconcileInterval: time.Minute,
		ReconcileAfter: 2 * time.Minute, RescueAfter: time.Minute, RetryMax: 10 * time.Minute, ShutdownTimeout: 20 * time.Second}
	flags.Register(fs, durable.FlagHelp{
		ReconcileInterval: "how often inquiries left waiting are looked at",
		ReconcileAfter:    "how long an inquiry may wait before its job is queued again",
		RetryMax:          "longest wait between retries of a failed job, doubling from 1s",
	})
	ttl := fs.Duration("token-ttl", 0, "lifetime of each share token, 1m to 504h (0: Persona's default of 14 days)")
	handOverTimeout := fs.Duration("handover-timeout", 15*time.Second, "how long the destination may take to answer one hand-over")
	handOverAttempts := fs.Int("handover-attempts", 10, "hand-over tries before the token is expired")
	if err := durable.Parse(fs, args); err != nil {
		return err
	}
	log := durable.NewLogger(stderr)
	env := durable.ReadEnv(getenv)
	cfg := source.Config{
		DatabaseURL:       env.DatabaseURL,
		SQLitePath:        flags.DBPath,
		APIKey:            env.APIKey,
		BaseURL:           env.BaseURL,
		ConnectionID:      getenv("PERSONA_CONNECTION_ID"),
		DestinationURL:    getenv("DESTINATION_URL"),
		WebhookSecrets:    env.WebhookSecrets,
		TokenTTL:          *ttl,
		HandOverTimeout:   *handOverTimeout,
		HandOverAttempts:  *handOverAttempts,
		ReconcileInterval: flags.ReconcileInterval,
		ReconcileAfter:    flags.ReconcileAfter,
		RescueAfter:       flags.RescueAfter,
		ReplicaID:         flags.ReplicaID,
		RetryPolicy:       durable.Backoff{Base: time.Second, Max: max(flags.RetryMax, time.Second)},
		Logger:            log,
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"PERSONA_API_KEY", cfg.APIKey}, {"PERSONA_CONNECTION_ID", cfg.ConnectionID}, {"DESTINATION_URL", cfg.DestinationURL},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing environment variables %v (see go doc ./source-backend)", missing)
	}
	if u, err := url.Parse(cfg.DestinationURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("DESTINATION_URL must be an absolute http(s) URL, got %q", cfg.DestinationURL)
	}
	limiter, rdb, err := durable.OpenBudget(flags.Budget(env), cfg.APIKey, log)
	if err != nil {
		return err
	}
	if limiter != nil {
		cfg.RateLimiter = limiter
		defer rdb.Close()
	}
	svc, err := source.New(ctx, cfg)
	if err != nil {
		return err
	}
	return durable.Serve(ctx, svc, log, flags.Addr, flags.ShutdownTimeout,
		"database", durable.DatabaseLabel(cfg.DatabaseURL, cfg.SQLitePath), "shared_rate_budget", limiter != nil, "connection_id", cfg.ConnectionID,
		"destination_url", cfg.DestinationURL, "webhook_secrets", len(cfg.WebhookSecrets))
}
