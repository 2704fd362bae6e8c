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
// route). See docs/operating.md for failures and monitoring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/personaconnect/connect-go/services/internal/durable"
	"github.com/personaconnect/connect-go/services/redeem-service/internal/redeem"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "redeem-service:", err)
		}
		os.Exit(2)
	}
}

// run reads the configuration, opens and migrates the database, serves until
// ctx ends, then shuts down: HTTP first, then the jobs.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("redeem-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: redeem-service [flags]")
		fmt.Fprintln(stderr, "environment: PERSONA_API_KEY (required); DATABASE_URL (Postgres; unset: SQLite at -db), PERSONA_BASE_URL, PERSONA_WEBHOOK_SECRETS (comma separated)")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "localhost:8082", "listen address")
	dbPath := fs.String("db", "redeem-service.db", "SQLite database file, used when DATABASE_URL is unset")
	reconcileEvery := fs.Duration("reconcile-interval", time.Minute, "how often unfinished tokens are looked at")
	reconcileAfter := fs.Duration("reconcile-after", 2*time.Minute, "how long a token may stay unfinished before it is read from Persona")
	catchUpEvery := fs.Duration("catch-up-interval", 5*time.Minute, "how often the Events API is read for events webhooks missed (also at start)")
	rescueAfter := fs.Duration("rescue-after", 5*time.Minute, "how long a job may run before another replica takes it over (its replica died)")
	retryMax := fs.Duration("retry-max", 0, "longest wait between retries of a failed job, doubling from 1s (0: River's default, attempt⁴ seconds)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "how long shutdown waits for requests and jobs in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := redeem.Config{
		DatabaseURL:       getenv("DATABASE_URL"),
		SQLitePath:        *dbPath,
		APIKey:            getenv("PERSONA_API_KEY"),
		BaseURL:           getenv("PERSONA_BASE_URL"),
		WebhookSecrets:    splitList(getenv("PERSONA_WEBHOOK_SECRETS")),
		ReconcileInterval: *reconcileEvery,
		ReconcileAfter:    *reconcileAfter,
		RescueAfter:       *rescueAfter,
		CatchUpInterval:   *catchUpEvery,
		Logger:            log,
	}
	if *retryMax > 0 {
		cfg.RetryPolicy = durable.Backoff{Base: time.Second, Max: *retryMax}
	}
	if cfg.APIKey == "" {
		return errors.New("missing environment variable PERSONA_API_KEY (the destination organization's key)")
	}
	svc, err := redeem.New(ctx, cfg)
	if err != nil {
		return err
	}
	if err := svc.Start(ctx); err != nil {
		_ = svc.Stop(context.Background())
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = svc.Stop(context.Background())
		return err
	}
	db := "sqlite:" + *dbPath
	if cfg.DatabaseURL != "" {
		db = "postgres"
	}
	log.Info("listening", "addr", ln.Addr().String(), "database", db, "webhook_secrets", len(cfg.WebhookSecrets))
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = svc.Stop(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(shutdownCtx)
	svcErr := svc.Stop(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(httpErr, svcErr)
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
