package durable

import (
	"cmp"
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

// Main runs a service command: run gets the process's arguments,
// environment and standard error, and a context that ends on SIGINT or
// SIGTERM. An error is printed after name (unless it is flag.ErrHelp, whose
// usage message is out already) and exits with status 2.
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, name+":", err)
		}
		stop()
		os.Exit(2)
	}
}

// Flags are the command-line flags every service takes. Their values when
// Register is called are the defaults; after the flag set is parsed they
// are the values given.
type Flags struct {
	Addr              string        // -addr: listen address
	DBPath            string        // -db: the SQLite file, used when DATABASE_URL is unset
	ReconcileInterval time.Duration // -reconcile-interval
	ReconcileAfter    time.Duration // -reconcile-after
	RescueAfter       time.Duration // -rescue-after
	RetryMax          time.Duration // -retry-max
	ShutdownTimeout   time.Duration // -shutdown-timeout
	ReplicaID         string        // -replica-id
	// The shared rate budget, used when REDIS_URL is set.
	RateLimit  int           // -rate-limit: Persona's limit per window
	RateWindow time.Duration // -rate-window
	RateBudget string        // -rate-budget: the budget's name; empty: a hash of the API key
}

// FlagHelp is the usage text of the flags whose meaning each service words
// for what it reconciles and how it retries.
type FlagHelp struct {
	ReconcileInterval, ReconcileAfter, RetryMax string
}

// NewFlagSet returns the flag set of the command name, which answers -h
// with a usage line, env (the environment variables it reads) and the
// flags. Errors are returned, not fatal, and written to stderr.
func NewFlagSet(name, env string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [flags]\nenvironment: %s\n", name, env)
		fs.PrintDefaults()
	}
	return fs
}

// Register declares the common flags on fs, f's current values as their
// defaults.
func (f *Flags) Register(fs *flag.FlagSet, help FlagHelp) {
	fs.StringVar(&f.Addr, "addr", f.Addr, "listen address")
	fs.StringVar(&f.DBPath, "db", f.DBPath, "SQLite database file, used when DATABASE_URL is unset")
	fs.DurationVar(&f.ReconcileInterval, "reconcile-interval", f.ReconcileInterval, help.ReconcileInterval)
	fs.DurationVar(&f.ReconcileAfter, "reconcile-after", f.ReconcileAfter, help.ReconcileAfter)
	fs.DurationVar(&f.RescueAfter, "rescue-after", f.RescueAfter, "how long a job may run before another replica takes it over (its replica died)")
	fs.DurationVar(&f.RetryMax, "retry-max", f.RetryMax, help.RetryMax)
	fs.StringVar(&f.ReplicaID, "replica-id", f.ReplicaID, "this replica's name, unique among live replicas and kept across its restarts (a StatefulSet pod name): the jobs it left running when it died are taken back at start, not after -rescue-after (default: a random name)")
	fs.DurationVar(&f.ShutdownTimeout, "shutdown-timeout", f.ShutdownTimeout, "how long shutdown waits for requests and jobs in flight")
	fs.IntVar(&f.RateLimit, "rate-limit", cmp.Or(f.RateLimit, 300), "Persona's rate limit, requests per -rate-window (with REDIS_URL, replicas share it in Redis)")
	fs.DurationVar(&f.RateWindow, "rate-window", cmp.Or(f.RateWindow, time.Minute), "the window of -rate-limit")
	fs.StringVar(&f.RateBudget, "rate-budget", f.RateBudget, "the shared budget's name in Redis, the same for every replica (default: a hash of the API key)")
}

// Budget is the shared rate budget the flags and env describe.
func (f *Flags) Budget(env Env) Budget {
	return Budget{RedisURL: env.RedisURL, Name: f.RateBudget, Limit: f.RateLimit, Window: f.RateWindow}
}

// Parse parses args with fs. A command takes no arguments besides its
// flags, so any is an error.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}

// Env is the environment every service reads.
type Env struct {
	DatabaseURL    string   // DATABASE_URL: Postgres; empty means SQLite at -db
	APIKey         string   // PERSONA_API_KEY
	BaseURL        string   // PERSONA_BASE_URL: empty means Persona's
	WebhookSecrets []string // PERSONA_WEBHOOK_SECRETS, comma separated, blanks dropped
	RedisURL       string   // REDIS_URL: the replicas' shared rate budget; empty: none
}

// ReadEnv reads Env through getenv.
func ReadEnv(getenv func(string) string) Env {
	return Env{
		DatabaseURL:    getenv("DATABASE_URL"),
		APIKey:         getenv("PERSONA_API_KEY"),
		BaseURL:        getenv("PERSONA_BASE_URL"),
		WebhookSecrets: SplitList(getenv("PERSONA_WEBHOOK_SECRETS")),
		RedisURL:       getenv("REDIS_URL"),
	}
}

// SplitList splits a comma-separated list, trims each item and drops the
// empty ones: "a , b,," is [a b], "" is nil.
func SplitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// NewLogger is a service's log: JSON records from info level up, to w.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// DatabaseLabel names the database in the "listening" record without its
// connection string, which may hold a password: "postgres", or
// "sqlite:<path>".
func DatabaseLabel(databaseURL, sqlitePath string) string {
	if databaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + sqlitePath
}

// Service is a replica that Serve runs: its routes and its jobs.
type Service interface {
	http.Handler
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Serve starts svc's jobs, listens on addr, logs "listening" with the
// address and attrs, and serves until ctx ends. It then shuts down, within
// shutdownTimeout: HTTP first, so that nothing new is accepted, then the
// jobs (those still running are cancelled and retried elsewhere). svc is
// stopped whatever happens; the error is the first failure, or those of the
// shutdown.
func Serve(ctx context.Context, svc Service, log *slog.Logger, addr string, shutdownTimeout time.Duration, attrs ...any) error {
	if err := svc.Start(ctx); err != nil {
		_ = svc.Stop(context.Background())
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = svc.Stop(context.Background())
		return err
	}
	log.Info("listening", append([]any{"addr", ln.Addr().String()}, attrs...)...)
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
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(shutdownCtx)
	svcErr := svc.Stop(shutdownCtx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return errors.Join(httpErr, svcErr)
}
