// Command connect-fake serves connecttest, the SDK's stateful in-memory fake
// of Persona's Connect API, on a local port, so that programs in any
// language can be developed and tested against it.
//
//	go run ./cmd/connect-fake                 # http://127.0.0.1:8080/api/v1
//	go run ./cmd/connect-fake -addr 127.0.0.1:0 -redeem-delay 5s
//
// It seeds two organizations ("Acme KYC", the source, and "Bank", the
// destination), an active connection between them and a completed inquiry
// of the source, and prints their ids and API keys. State lives in memory
// and is gone when the program stops (Ctrl-C or SIGTERM). Run it with -h
// for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	err := run(ctx, os.Args[1:], os.Stdout)
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

// run serves the fake until ctx ends. Everything it prints, the help
// included, goes to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("connect-fake", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `host:port`; port 0 picks a free port")
	public := fs.Bool("public", false, "allow an -addr that is not loopback (it hands out API keys to anyone who can reach it)")
	redeemDelay := fs.Duration("redeem-delay", 2*time.Second, "keep each redemption pending for this `duration` before it completes; 0 completes it at once")
	rateLimit := fs.Int("rate-limit", 300, "allow `n` requests per organization in each rate-limit window; 0 turns rate limiting off")
	rateWindow := fs.Duration("rate-window", time.Minute, "the length of a rate-limit window, a `duration`")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Sprintf("unexpected argument %q (see -h)", fs.Arg(0))}
	case *redeemDelay < 0:
		return usageError{"-redeem-delay must not be negative"}
	case *rateLimit < 0:
		return usageError{"-rate-limit must not be negative"}
	case *rateWindow <= 0:
		return usageError{"-rate-window must be positive"}
	}
	if err := checkLoopback(*addr, *public); err != nil {
		return err
	}

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := connecttest.NewServer(
		connecttest.WithListener(l),
		connecttest.WithRedeemDelay(*redeemDelay),
		connecttest.WithRateLimit(*rateLimit, *rateWindow),
	)
	defer srv.Close()

	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, map[string]any{
		"name-first":    "Ada",
		"name-last":     "Lovelace",
		"birthdate":     "1815-12-10",
		"email-address": "ada@example.com",
	})

	limit := "no rate limit"
	if *rateLimit > 0 {
		limit = fmt.Sprintf("rate limit %d requests per %s per organization", *rateLimit, *rateWindow)
	}
	p := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	p("connect-fake: Persona's Connect API, faked in memory, at %s", srv.URL)
	p("")
	p("  source       %-8s  %s  API key %s", acme.Name, acme.ID, acme.APIKey)
	p("  destination  %-8s  %s  API key %s", bank.Name, bank.ID, bank.APIKey)
	p("  connection   %s  active, %s → %s", cxn, acme.Name, bank.Name)
	p("  inquiry      %s  completed, owned by %s", inq, acme.Name)
	p("")
	p("Redemptions stay pending for %s; %s.", *redeemDelay, limit)
	if *public {
		p("Listening beyond loopback (-public): anyone who can reach %s can use these keys.", l.Addr())
		p("The Go SDK sends plain http only to loopback hosts.")
	}
	p("")
	p("Create a share token as the source:")
	p(`  curl -s -X POST %s/connect/share-tokens -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{"data":{"attributes":{"connection-id":"%s","source-id":"%s"}}}'`,
		srv.URL, acme.APIKey, cxn, inq)
	p("")
	p("Or run the SDK's share flow against it:")
	p("  export PERSONA_BASE_URL=%s", srv.URL)
	p("  export PERSONA_SOURCE_API_KEY=%s", acme.APIKey)
	p("  export PERSONA_DESTINATION_API_KEY=%s", bank.APIKey)
	p("  export PERSONA_CONNECTION_ID=%s", cxn)
	p("  export PERSONA_INQUIRY_ID=%s", inq)
	p("  go run ./examples/share-flow")
	p("")
	p("Ctrl-C stops it; everything is forgotten then.")

	<-ctx.Done()
	srv.Close()
	p("connect-fake: stopped")
	return nil
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
completed inquiry of the source, and prints them with the base URL. State
lives in memory; Ctrl-C or SIGTERM stops the server.

Usage:
  go run ./cmd/connect-fake [flags]

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Point a client at the printed base URL (it ends in /api/v1) and use a printed
API key as the Bearer token. Durations are Go durations such as 500ms, 2s, 1m.
`)
}
