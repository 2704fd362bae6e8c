// Source-backend is the source organization's side of a Persona Connect share,
// as a small HTTP service: when the source's own systems report that an
// inquiry completed, it creates a share token for that inquiry over a
// connection and hands the token's id to the destination's endpoint.
//
// Routes:
//
//	POST /inquiries/{id}/completed   create (or reuse) the inquiry's share token and hand it over
//	POST /share-tokens/{id}/expire   expire a token, for example when the deal fell through
//	POST /webhooks/persona           Persona's inquiry.completed webhook (with PERSONA_WEBHOOK_SECRET): shares the inquiry too
//	GET  /healthz                    liveness
//
// POST /inquiries/{id}/completed answers 200 {"inquiry_id", "share_token_id", "status"} once the
// destination has accepted the token, or when it already had it (status is the token's as the
// source last read it: created, or pending/redeemed/failed for a repeat). Errors are JSON
// {"error", …}: 400 for a malformed id ("field" names it; nothing is sent to Persona), Persona's
// 404, 409 and 422 as they are, and 502 for anything else Persona or the network did, each with
// Persona's request id as persona_request_id. A failed hand-over is a 502 carrying share_token_id
// and token_expired. POST /share-tokens/{id}/expire answers 200 {"share_token_id", "status"}
// or an error as above.
//
// # Running it
//
// Against a local fake (go run ./cmd/connect-fake prints the organizations, their keys, a ready
// connection and a completed inquiry it seeded):
//
//	PERSONA_API_KEY=persona_sandbox_… \
//	PERSONA_BASE_URL=http://127.0.0.1:PORT/api/v1 \
//	PERSONA_CONNECTION_ID=cxn_… \
//	DESTINATION_URL=http://localhost:8082/share-tokens \
//	go run ./examples/source-backend -addr localhost:8081
//
//	curl -X POST localhost:8081/inquiries/inq_…/completed
//
// Against Persona, leave PERSONA_BASE_URL unset and use the source organization's API key and an
// active connection. DESTINATION_URL is typically examples/redeem-service's POST /share-tokens.
// Flags: -addr (listen address), -handover-timeout, -token-ttl (see -h).
//
// # Exactly one token per inquiry
//
// Create carries the Idempotency-Key "share-<inquiry id>-<n>", so a repeated notification gets
// Persona's stored answer (the same token) instead of a second token. Persona keeps a key's first
// answer for 24 hours, refusals included, so n, the attempt (from 1), moves on when Persona
// refused the create for good: a 4xx other than 408, 409 and 429, such as the 422 for an inactive
// connection. Without it the inquiry could not be shared for a day after the cause was fixed.
// After a transport error, 408, 429 or a 5xx the outcome is unknown, so the next notification
// repeats the key and finds the token if Persona made one. A 409 keeps the key as well (Persona
// describes it as a conflict with another request, which may be running under the same key), and
// so does a 500, although Persona replays a stored one to that key for 24 hours: a new key could
// make a second token. Because a replayed answer shows the token as it was created, the service
// reads the token's current status before deciding anything.
//
// The attempt numbers live in memory here; a production service keeps them, per inquiry, in its
// database. A restarted service starts again at 1 and walks the same keys: each replays its
// stored answer, and a stored refusal is answered (once) before the service moves past it.
//
// # A failed hand-over expires the token
//
// If the destination cannot be reached, times out or answers anything but 2xx, the service
// answers 502 and expires the token, so that no token the destination never acknowledged stays
// redeemable for its whole lifetime. Only the destination's organization could redeem it anyway,
// so this is defence in depth rather than the only protection; the cost is that a hand-over
// that timed out on our side but reached the destination loses the race: the destination's
// redemption then fails as expired, or, if it started first, Persona refuses the expiry (the
// token is pending or redeemed) and the 502 body says token_expired=false.
//
// Expiring alone would make the notification impossible to retry (the idempotency key would
// replay the expired token for a day). So a retried notification that finds its token expired
// moves to the next attempt's key and creates the replacement under it: every repeat walks the
// same keys, and at most one live token per inquiry exists at any time (at most 10 replacements).
// A consequence: re-notifying an inquiry whose token was expired on purpose (POST …/expire)
// shares it again; the source's systems should not re-notify an inquiry whose deal fell through.
// Expire uses the SDK's own key, new on each call: the token ends expired however often it runs,
// so no earlier answer needs replaying.
// A token already pending, redeemed or failed is not handed over again: the destination has it.
//
// Share token ids are logged: they are the secret handed over, but only the connection's
// destination can redeem one, and operators need them to match Persona's Dashboard. The API key
// is never logged.
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
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "source-backend:", err)
		}
		os.Exit(2)
	}
}

// run parses the configuration, serves until ctx ends, then shuts down
// gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	addr, cfg, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	handler, err := newServer(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	cfg.Logger.Info("listening", "addr", ln.Addr().String(), "connection_id", cfg.ConnectionID, "destination_url", cfg.DestinationURL)
	return serve(ctx, ln, handler, cfg.Logger)
}

// serve runs an http.Server on ln until ctx ends, then gives requests in
// flight 10 seconds to finish.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadConfig reads the flags and the environment. It returns the listen
// address and the service configuration, or an error that says what is
// missing.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (string, config, error) {
	fs := flag.NewFlagSet("source-backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: source-backend [flags]")
		fmt.Fprintln(stderr, "environment: PERSONA_API_KEY, PERSONA_CONNECTION_ID, DESTINATION_URL (required); PERSONA_BASE_URL, PERSONA_WEBHOOK_SECRET (optional)")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "localhost:8081", "listen address")
	timeout := fs.Duration("handover-timeout", 15*time.Second, "how long the destination may take to accept a token (longer than its redemption wait)")
	ttl := fs.Duration("token-ttl", 24*time.Hour, "lifetime of each share token, 1m to 504h (0: Persona's default of 14 days)")
	if err := fs.Parse(args); err != nil {
		return "", config{}, err
	}
	if fs.NArg() > 0 {
		return "", config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg := config{
		APIKey:          getenv("PERSONA_API_KEY"),
		BaseURL:         getenv("PERSONA_BASE_URL"),
		ConnectionID:    getenv("PERSONA_CONNECTION_ID"),
		DestinationURL:  getenv("DESTINATION_URL"),
		HandOverTimeout: *timeout,
		TokenTTL:        *ttl,
	}
	if secret := getenv("PERSONA_WEBHOOK_SECRET"); secret != "" {
		cfg.WebhookSecrets = []string{secret}
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
		return "", config{}, fmt.Errorf("missing environment variables %v (see the top of examples/source-backend/main.go)", missing)
	}
	if u, err := url.Parse(cfg.DestinationURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", config{}, fmt.Errorf("DESTINATION_URL must be an absolute http(s) URL, got %q", cfg.DestinationURL)
	}
	return *addr, cfg, nil
}
