// Redeem-service is the destination organization's side of a Persona Connect share, as a
// small HTTP service: it learns of share tokens from the source (an API hand-over) or from
// Persona (the connect/share-token.inbound-created webhook), redeems each exactly once by
// cloning the shared object into its own organization, waits for the asynchronous redemption
// to finish, and reports the copy.
//
// Routes:
//
//	POST /share-tokens     {"share_token_id": "cnst_…"}: redeem, wait, report (what the source calls)
//	POST /webhooks/persona Persona's webhook deliveries, verified with PERSONA_WEBHOOK_SECRETS
//	GET  /healthz          liveness
//
// POST /share-tokens answers {"share_token_id", "status", "destination": {"type", "id"},
// "failure_reason"}: 200 when redeemed, 422 when the redemption failed or the token expired
// (status says which, failure_reason why), 202 when it is still pending after -wait-timeout (ask again
// later: the same request is safe to repeat), 400 for a malformed id, Persona's 404, 409 or 422
// when it refused to redeem a token that is still unredeemed (a repeat tries again), and 502 when
// Persona could not be reached or failed. Errors carry Persona's request id as persona_request_id.
//
// # Running it
//
// Against a local fake (go run ./cmd/connect-fake prints the organizations and their keys):
//
//	PERSONA_API_KEY=persona_sandbox_… \
//	PERSONA_BASE_URL=http://127.0.0.1:PORT/api/v1 \
//	PERSONA_WEBHOOK_SECRETS=wbhsec_… \
//	go run ./examples/redeem-service -addr localhost:8082
//
//	curl -X POST localhost:8082/share-tokens -d '{"share_token_id":"cnst_…"}'
//
// Against Persona, leave PERSONA_BASE_URL unset, use the destination organization's API key, and
// register https://<your host>/webhooks/persona for the connect/share-token.inbound-created event
// in the Dashboard; PERSONA_WEBHOOK_SECRETS holds its secret (two, comma separated, while one is
// being rotated). Without secrets the webhook route answers 401 to everything. Flags: -addr,
// -wait-timeout, -shutdown-timeout (see -h).
//
// # Exactly once
//
// Every redemption of token T carries the Idempotency-Key "redeem-T-<n>", whichever route asked
// for it, so an API hand-over and a webhook for the same token, or a repeat after a crash, make
// one redemption: Persona replays its first answer to a key for 24 hours. n is the attempt,
// starting at 1. Persona stores refusals as well, so a key made of T alone would repeat a 422
// (an inactive connection, say) for a day after the cause was fixed: n therefore advances after
// an answer Persona stores and that a new key may safely overtake, a 4xx other than 408 and 429,
// or a 500. It stays after a transport error, 408, 429, 502, 503 or 504, whose outcome is
// unknown: the next try repeats the key and gets Persona's answer to what it did. A new key can
// never redeem twice: Persona answers 409 to a second redemption.
//
// After a refusal the service reads the token and goes by its state: still created, the refusal
// stands (reported as Persona's status, the next request tries again under the next key); pending,
// it waits for the outcome; redeemed, failed or expired, it reports that. This is how a 409 is
// handled (only this organization can redeem the token, so an earlier attempt did), and it also
// covers a refusal replayed from an earlier attempt's key after a restart has lost the counter.
// Within the process, a record of the tokens handled joins a repeat to the redemption in flight
// or answers it with the earlier final result, without calling Persona. A production service
// keeps that record and the attempt numbers in its database.
//
// # Webhooks are answered at once
//
// Persona waits 5 seconds for a webhook answer, so the webhook handler only starts the
// redemption, in a goroutine bounded by the service's lifetime, and answers 200. On shutdown
// the service stops accepting work (webhooks then get 500, and Persona delivers them again
// later), waits up to -shutdown-timeout for redemptions in flight, then cancels them. A
// redemption cancelled that way after its webhook was answered is not retried by Persona: a
// service that cannot accept that hands the event to a durable queue instead.
//
// Business events are logged at info level with log/slog; the API key and webhook secrets
// never are.
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

// options are the settings that are not part of the service itself.
type options struct {
	addr            string
	shutdownTimeout time.Duration
}

// run parses the configuration, serves until ctx ends, then shuts down: first
// the HTTP server, then the redemptions still running.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	opts, cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg.Logger = log
	svc, err := newService(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String(), "webhook_secrets", len(cfg.WebhookSecrets))
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = svc.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), opts.shutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(shutdownCtx)
	svcErr := svc.Shutdown(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(httpErr, svcErr)
}

// loadConfig reads the flags and the environment, or says what is missing.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (options, config, error) {
	fs := flag.NewFlagSet("redeem-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: redeem-service [flags]")
		fmt.Fprintln(stderr, "environment: PERSONA_API_KEY (required); PERSONA_BASE_URL, PERSONA_WEBHOOK_SECRETS (comma separated) (optional)")
		fs.PrintDefaults()
	}
	var opts options
	fs.StringVar(&opts.addr, "addr", "localhost:8082", "listen address")
	fs.DurationVar(&opts.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long shutdown waits for requests and redemptions in flight")
	wait := fs.Duration("wait-timeout", 10*time.Second, "how long a redemption is awaited before answering 202 pending")
	if err := fs.Parse(args); err != nil {
		return options{}, config{}, err
	}
	if fs.NArg() > 0 {
		return options{}, config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg := config{
		APIKey:         getenv("PERSONA_API_KEY"),
		BaseURL:        getenv("PERSONA_BASE_URL"),
		WebhookSecrets: splitSecrets(getenv("PERSONA_WEBHOOK_SECRETS")),
		WaitTimeout:    *wait,
	}
	if cfg.APIKey == "" {
		return options{}, config{}, errors.New("missing environment variable PERSONA_API_KEY (see the top of examples/redeem-service/main.go)")
	}
	return opts, cfg, nil
}

// splitSecrets splits a comma-separated list, dropping blanks.
func splitSecrets(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
