package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case err == nil:
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "connect-fake:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "connect-fake:", err)
		os.Exit(1)
	}
}

// options are the parsed command line.
type options struct {
	addr    string
	public  bool
	json    bool
	quiet   bool
	fake    fakeConfig
	limits  serviceLimits
	clockAt string
}

func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("connect-fake", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen on `host:port`; port 0 picks a free port")
	fs.BoolVar(&o.public, "public", false, "allow an -addr that is not loopback (it hands out API keys, and its control API, to anyone who can reach it)")
	fs.BoolVar(&o.json, "json", false, "print the seed (URLs, organizations, keys, connection, inquiry) as one line of JSON on stdout instead of the prose")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log each request on stderr")
	fs.StringVar(&o.clockAt, "clock", "wall", "`wall` (follow the wall clock), manual (stand still at the current time until the control API moves it), or an RFC 3339 time to start a manual clock at")
	fs.DurationVar(&o.fake.redeemDelay, "redeem-delay", 2*time.Second, "keep each redemption pending for this `duration` before it completes; 0 completes it at once")
	fs.IntVar(&o.fake.rateLimit, "rate-limit", 300, "allow `n` requests per organization in each rate-limit window; 0 turns rate limiting off")
	fs.DurationVar(&o.fake.rateWindow, "rate-window", time.Minute, "the length of a rate-limit window, a `duration`")
	fs.IntVar(&o.fake.maxRecorded, "max-recorded-requests", 1000, "keep the last `n` authenticated requests for the control API's GET /_fake/requests")
	fs.DurationVar(&o.fake.webhookLimit, "webhook-timeout", connecttest.DefaultWebhookTimeout, "how long a webhook receiver has to answer, a `duration`")
	peek := fs.String("peek-full-fields", "", "comma-separated field `names` that peeks show in full instead of by presence")
	fs.DurationVar(&o.limits.readHeaderTimeout, "read-header-timeout", 10*time.Second, "close a connection whose request headers take longer than this `duration`")
	fs.DurationVar(&o.limits.readTimeout, "read-timeout", 30*time.Second, "close a connection whose whole request takes longer than this `duration`")
	fs.DurationVar(&o.limits.idleTimeout, "idle-timeout", 60*time.Second, "close a keep-alive connection idle for this `duration`")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError{fmt.Sprintf("unexpected argument %q (see -h)", fs.Arg(0))}
	case o.fake.redeemDelay < 0:
		return nil, usageError{"-redeem-delay must not be negative"}
	case o.fake.rateLimit < 0:
		return nil, usageError{"-rate-limit must not be negative"}
	case o.fake.rateWindow <= 0:
		return nil, usageError{"-rate-window must be positive"}
	case o.fake.maxRecorded < 1:
		return nil, usageError{"-max-recorded-requests must be at least 1"}
	case o.fake.webhookLimit <= 0:
		return nil, usageError{"-webhook-timeout must be positive"}
	case o.limits.readHeaderTimeout <= 0 || o.limits.readTimeout <= 0 || o.limits.idleTimeout <= 0:
		return nil, usageError{"-read-header-timeout, -read-timeout and -idle-timeout must be positive"}
	}
	for _, n := range strings.Split(*peek, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.fake.peekFull = append(o.fake.peekFull, n)
		}
	}
	switch o.clockAt {
	case "wall":
	case "manual":
		o.fake.clock = connecttest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	default:
		t, err := time.Parse(time.RFC3339Nano, o.clockAt)
		if err != nil {
			return nil, usageError{fmt.Sprintf("-clock %q: want wall, manual or an RFC 3339 time such as 2025-01-01T00:00:00Z", o.clockAt)}
		}
		o.fake.clock = connecttest.NewClock(t)
	}
	if err := checkLoopback(o.addr, o.public); err != nil {
		return nil, err
	}
	return o, nil
}

// run serves the fake until ctx ends. The seed and the help go to stdout,
// the request log to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stdout)
	if o == nil || err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	f := newFake(o.fake, l.Addr())
	defer f.close()
	logger := log.New(stderr, "", log.LstdFlags|log.Lmicroseconds)
	var reqLog *log.Logger
	if !o.quiet {
		reqLog = logger
	}
	hs := newHTTPServer(logRequests(f.handler(), reqLog), o.limits, logger)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(l) }()

	sd := f.seed(f.server())
	if o.json {
		err = writeJSONLine(stdout, sd)
	} else {
		err = printSeed(stdout, sd, o)
	}
	if err != nil {
		_ = hs.Close()
		<-served
		return err
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if hs.Shutdown(shutdownCtx) != nil {
		_ = hs.Close() // the requests still in flight are cut off
	}
	<-served
	f.close()
	if o.json {
		fmt.Fprintln(stderr, "connect-fake: stopped")
	} else {
		fmt.Fprintln(stdout, "connect-fake: stopped")
	}
	return nil
}

func printSeed(stdout io.Writer, sd seed, o *options) error {
	limit := "no rate limit"
	if o.fake.rateLimit > 0 {
		limit = fmt.Sprintf("rate limit %d requests per %s per organization", o.fake.rateLimit, o.fake.rateWindow)
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("connect-fake: Persona's Connect API, faked in memory, at %s", sd.URL)
	p("")
	p("  source       %-8s  %s  API key %s", sd.Source.Name, sd.Source.ID, sd.Source.APIKey)
	p("  destination  %-8s  %s  API key %s", sd.Destination.Name, sd.Destination.ID, sd.Destination.APIKey)
	p("  connection   %s  active, %s → %s", sd.ConnectionID, sd.Source.Name, sd.Destination.Name)
	p("  inquiry      %s  completed, owned by %s", sd.InquiryID, sd.Source.Name)
	p("")
	p("Redemptions stay pending for %s; %s.", o.fake.redeemDelay, limit)
	if sd.ManualClock {
		p("The clock is manual: POST %s/clock/advance moves it.", sd.ControlURL)
	}
	p("Control API (no key; for tests only): %s", sd.ControlURL)
	if o.public {
		p("Listening beyond loopback (-public): anyone who can reach %s can use these keys and the control API.", o.addr)
		p("The Go SDK sends plain http only to loopback hosts.")
	}
	p("")
	p("Create a share token as the source:")
	p(`  curl -s -X POST %s/connect/share-tokens -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"data":{"attributes":{"connection-id":"%s","source-id":"%s"}}}'`,
		sd.URL, sd.Source.APIKey, sd.ConnectionID, sd.InquiryID)
	p("")
	p("Or run the SDK's share flow against it:")
	p("  export PERSONA_BASE_URL=%s", sd.URL)
	p("  export PERSONA_SOURCE_API_KEY=%s", sd.Source.APIKey)
	p("  export PERSONA_DESTINATION_API_KEY=%s", sd.Destination.APIKey)
	p("  export PERSONA_CONNECTION_ID=%s", sd.ConnectionID)
	p("  export PERSONA_INQUIRY_ID=%s", sd.InquiryID)
	p("  go run ./examples/share-flow")
	p("")
	p("Ctrl-C stops it; everything is forgotten then.")
	_, err := io.WriteString(stdout, b.String())
	return err
}

// checkLoopback refuses to hand out keys on a non-loopback address unless
// the user said -public.
func checkLoopback(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Sprintf("-addr %q: %v", addr, err)}
	}
	if public {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return usageError{fmt.Sprintf("-addr %q listens on %s, not loopback: the fake hands out API keys to whoever "+
		"can reach it; add -public if that is what you want", addr, host)}
}

// A usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `connect-fake serves a stateful, in-memory fake of Persona's Connect Share
Tokens API (the SDK's connecttest package) on a local port, for programs in
any language. It seeds two organizations with API keys ("Acme KYC", the
source, and "Bank", the destination), an active connection between them and a
completed inquiry of the source, and prints them with the base URL. A control
API under /_fake/ (no key; for tests only) creates organizations and objects,
accepts connections, moves a manual clock, injects faults, registers webhooks
and shows what the fake received; its manual is
"go doc github.com/personaconnect/connect-go/cmd/connect-fake".
State lives in memory; Ctrl-C or SIGTERM stops the server.

Usage:
  connect-fake [flags]

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Point a client at the printed base URL (it ends in /api/v1) and use a printed
API key as the Bearer token. Durations are Go durations such as 500ms, 2s, 1m.
`)
}
