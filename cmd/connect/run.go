package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the API refused, the network failed, a signature did not match
	exitUsage = 2 // the command line or its input is wrong; nothing was sent
)

// A session is one run of the command: its streams and environment, and the
// common flags of the leaf being run.
type session struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	root           *command

	// now and sleep are the clock; tests replace them with the fake's.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	// clientOptions are added to every client's options; tests use them
	// to turn the SDK's retries, which wait on the wall clock, off.
	clientOptions []connect.ClientOption

	// Common flags of api leaves.
	json       bool
	debug      bool
	apiKeyFile string
	timeout    time.Duration
}

// run is the command line as a function: main calls it with the process's
// arguments (without the program name), streams and os.Getenv, and exits
// with what it returns.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	return newSession(stdin, stdout, stderr, getenv).main(ctx, args)
}

func newSession(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *session {
	return &session{
		stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		root:  commandTable(),
		now:   time.Now,
		sleep: sleepContext,
	}
}

// main walks args down the command tree to a leaf and runs it.
func (s *session) main(ctx context.Context, args []string) int {
	cmd, path := s.root, []string{}
	for cmd.subs != nil {
		if len(args) == 0 {
			s.groupUsage(s.stderr, cmd, path)
			return exitUsage
		}
		switch arg := args[0]; arg {
		case "-h", "-help", "--help":
			s.groupUsage(s.stdout, cmd, path)
			return exitOK
		case "help":
			// "connect help share-tokens create" is "connect share-tokens create --help".
			return s.main(ctx, append(append(path, args[1:]...), "--help"))
		default:
			sub := cmd.find(arg)
			if sub == nil {
				fmt.Fprintf(s.stderr, "%s: unknown command %q\nRun '%s --help' for the commands.\n",
					commandLine(path), arg, commandLine(path))
				return exitUsage
			}
			cmd, path, args = sub, append(path, arg), args[1:]
		}
	}
	return s.runLeaf(ctx, cmd, path, args)
}

func (s *session) runLeaf(ctx context.Context, cmd *command, path []string, args []string) int {
	fs, act := cmd.flagSet(s)
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		s.leafUsage(s.stdout, cmd, path, fs)
		return exitOK
	}
	if err != nil {
		return s.exitStatus(path, usageError{err.Error()})
	}
	if cmd.api && s.timeout < 0 {
		return s.exitStatus(path, usagef("--timeout must not be negative, got %s", s.timeout))
	}
	if cmd.api && s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	return s.exitStatus(path, act(ctx, s, positional))
}

// parseInterspersed parses flags wherever they are, so that both
// "get ID --json" and "get --json ID" work; after "--" everything is an
// argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// A usageError is a mistake on the command line or in its input: exit
// status 2, and nothing was sent.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitStatus reports err on stderr and maps it to the exit status.
func (s *session) exitStatus(path []string, err error) int {
	if err == nil {
		return exitOK
	}
	name := commandLine(path)
	var usage usageError
	var apiErr *connect.Error
	switch {
	case errors.As(err, &usage):
		fmt.Fprintf(s.stderr, "%s: %s\nRun '%s --help' for usage.\n", name, usage.msg, name)
		return exitUsage
	case errors.Is(err, connect.ErrInvalidParams):
		fmt.Fprintf(s.stderr, "%s: %s\n", name, err)
		return exitUsage
	case errors.As(err, &apiErr):
		fmt.Fprintf(s.stderr, "%s: %s\n", name, err)
		fmt.Fprintf(s.stderr, "status %d, Request-Id %s\n", apiErr.StatusCode, orDash(apiErr.RequestID))
		return exitError
	default:
		fmt.Fprintf(s.stderr, "%s: %s\n", name, err)
		return exitError
	}
}

func commandLine(path []string) string {
	return strings.Join(append([]string{"connect"}, path...), " ")
}

// apiFlags defines the flags every api leaf shares.
func (s *session) apiFlags(fs *flag.FlagSet, cmd *command) {
	timeout := cmd.timeout
	switch {
	case timeout == 0:
		timeout = defaultTimeout
	case timeout < 0:
		timeout = 0 // noTimeout
	}
	fs.BoolVar(&s.json, "json", false, "print the result as JSON (one object per line for lists)")
	fs.BoolVar(&s.debug, "debug", false, "log each HTTP attempt to stderr (the API key is never logged)")
	fs.StringVar(&s.apiKeyFile, "api-key-file", "", "read the API key from `PATH` instead of PERSONA_API_KEY")
	fs.DurationVar(&s.timeout, "timeout", timeout, "give up after this `duration`, retries and waits included; 0 for no limit")
}

// client makes a client from the environment and the common flags. Its
// errors are usage errors: nothing has been sent yet.
func (s *session) client() (*connect.Client, error) {
	key, err := s.apiKey()
	if err != nil {
		return nil, err
	}
	opts := []connect.ClientOption{connect.WithUserAgent("connect-cli/" + connect.Version)}
	if base := s.getenv("PERSONA_BASE_URL"); base != "" {
		opts = append(opts, connect.WithBaseURL(base))
	}
	if s.debug {
		h := slog.NewTextHandler(s.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
		opts = append(opts, connect.WithLogger(slog.New(h)))
	}
	opts = append(opts, s.clientOptions...)
	c, err := connect.NewClient(key, opts...)
	var v *connect.ValidationError
	if errors.As(err, &v) {
		switch v.Field {
		case "WithBaseURL":
			return nil, usagef("PERSONA_BASE_URL %s", v.Reason)
		case "apiKey":
			return nil, usagef("the API key %s", v.Reason)
		}
	}
	return c, err
}

// apiKey reads the key from --api-key-file or PERSONA_API_KEY. The key
// itself never appears in an error.
func (s *session) apiKey() (string, error) {
	if s.apiKeyFile == "" {
		key := s.getenv("PERSONA_API_KEY")
		if key == "" {
			return "", usagef("no API key: set PERSONA_API_KEY or pass --api-key-file PATH")
		}
		return key, nil
	}
	b, err := os.ReadFile(s.apiKeyFile)
	if err != nil {
		return "", usagef("--api-key-file: %v", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", usagef("--api-key-file %s is empty", s.apiKeyFile)
	}
	return key, nil
}

// withClient runs f with a client and closes its idle connections after.
func (s *session) withClient(f func(*connect.Client) error) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	return f(c)
}

// idempotency returns the request options for an --idempotency-key value.
func idempotency(key string) []connect.RequestOption {
	if key == "" {
		return nil
	}
	return []connect.RequestOption{connect.WithIdempotencyKey(key)}
}

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, names ...string) error {
	switch {
	case len(args) < len(names):
		return usagef("missing %s", names[len(args)])
	case len(args) > len(names):
		return usagef("unexpected argument %q", args[len(names)])
	}
	return nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
