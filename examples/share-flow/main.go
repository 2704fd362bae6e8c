// Command share-flow tells the whole Connect story in one run, step by
// step: a source organization shares a completed inquiry with a destination
// organization through a share token, and the destination ends up with its
// own copy.
//
//	go run ./examples/share-flow
//
// With no configuration it runs on connecttest, an in-process fake of
// Persona's Connect API, and finishes in a few seconds. To run the same
// flow against Persona, set all four of
//
//	PERSONA_SOURCE_API_KEY       the source organization's API key
//	PERSONA_DESTINATION_API_KEY  the destination organization's API key
//	PERSONA_CONNECTION_ID        an active connection from source to destination
//	PERSONA_INQUIRY_ID           a completed inquiry of the source
//
// and optionally PERSONA_BASE_URL (default https://api.withpersona.com/api/v1).
// A destination accepts a connection in Persona's Dashboard, which cannot
// be automated, so against Persona the connection must exist and be active
// already.
//
// Exit status: 0 when the destination got its copy, 1 when a step failed,
// 2 when the configuration is incomplete or unusable.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprint(os.Stderr, usage)
		if a := os.Args[1]; a == "-h" || a == "-help" || a == "--help" {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Getenv)
	stop()
	os.Exit(report(os.Stderr, err))
}

// run tells the story on the stage that env selects: the fake when none of
// the PERSONA_* variables is set, Persona when all four are.
func run(ctx context.Context, out io.Writer, env func(string) string) error {
	st, err := newStage(env)
	if err != nil {
		return err
	}
	defer st.close()
	started := time.Now()
	s := &story{out: out}
	src, dst := st.source, st.destination

	s.title("Share flow on %s", st.where)

	// The cast.
	s.step("Two organizations: %s shares, %s receives", src.name, dst.name)
	for _, line := range st.cast {
		s.detail("%s", line)
	}

	// A connection from the source to the destination, accepted by the
	// destination. On Persona that acceptance is a Dashboard click, so the
	// stage decides how the connection comes to be.
	cxnID, err := st.connect(ctx, s)
	if err != nil {
		return s.fail(err)
	}
	s.step("%s checks that the connection is active (Connections.Get)", src.name)
	cxn, err := src.client.Connections.Get(ctx, cxnID)
	if err != nil {
		return s.fail(err)
	}
	s.detail("%s %s: %s → %s, updated %s", cxn.ID, cxn.Status,
		cxn.SourceOrganizationID, cxn.DestinationOrganizationID, stamp(&cxn.UpdatedAt))
	if cxn.Status != connect.ConnectionStatusActive {
		return &configError{fmt.Sprintf(
			"connection %s is %s, not active: share tokens travel only over an active connection.\n"+
				"The destination organization accepts it in Persona's Dashboard (there is no API for that).",
			cxn.ID, cxn.Status)}
	}

	// The source creates a share token for its completed inquiry.
	s.step("%s creates a share token for inquiry %s, valid for 24h (ShareTokens.Create)",
		src.name, st.inquiryID)
	tok, err := src.client.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: cxn.ID,
		SourceID:     st.inquiryID,
		ExpiresIn:    24 * time.Hour,
	})
	if err != nil {
		return s.fail(err)
	}
	s.detail("%s %s (%s), created %s, expires %s",
		tok.ID, tok.Status, tok.Direction, stamp(&tok.CreatedAt), stamp(tok.ExpiresAt))

	// The hand-over: only the token id travels, by any channel.
	s.step("Hand-over: %s sends %s the token id %s", src.name, dst.name, tok.ID)
	s.detail("The id is all that travels (an API call, a redirect, a queue message);")
	s.detail("only the connection's destination can redeem it.")

	// The destination peeks at what it would get.
	s.step("%s peeks at the token before redeeming it (ShareTokens.Peek)", dst.name)
	peek, err := dst.client.ShareTokens.Peek(ctx, tok.ID)
	if err != nil {
		return s.fail(err)
	}
	s.detail("%s %s (%s)", peek.ID, peek.Status, peek.Direction)
	printPeek(s, src.name, peek.SourceData)

	// The destination redeems it, exactly once.
	key := "redeem-" + tok.ID + "-1" // attempt 1: a later attempt after a refusal takes -2
	s.step("%s redeems the token, cloning the inquiry (ShareTokens.Redeem)", dst.name)
	s.detail("Idempotency-Key %s: retries reuse it; Persona refuses a second redemption (409)", key)
	tok, err = dst.client.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey(key))
	if err != nil {
		return s.fail(err)
	}
	s.detail("%s %s, mode %s, pending since %s", tok.ID, tok.Status, tok.RedeemMode, stamp(tok.PendingAt))

	// Redemption is asynchronous: the destination waits for the outcome.
	s.step("%s waits for the asynchronous redemption (ShareTokens.Wait)", dst.name)
	waitCtx, cancel := context.WithTimeout(ctx, st.waitLimit)
	waitStart := time.Now()
	tok, err = dst.client.ShareTokens.Wait(waitCtx, tok.ID, st.waitOptions...)
	cancel()
	if err != nil {
		return s.fail(err)
	}
	if tok.Status != connect.ShareTokenStatusRedeemed {
		return s.fail(fmt.Errorf("the redemption ended %s (failure reason %q) at %s",
			tok.Status, tok.FailureReason, stamp(firstSet(tok.FailedAt, tok.ExpiresAt))))
	}
	s.detail("%s %s at %s, after %s of waiting", tok.ID, tok.Status, stamp(tok.RedeemedAt),
		time.Since(waitStart).Round(10*time.Millisecond))
	if tok.Destination == nil {
		return s.fail(errors.New("the token is redeemed but names no destination object"))
	}
	s.detail("destination: %s %s", tok.Destination.Type, tok.Destination.ID)

	// The destination reads its copy.
	s.step("The copied inquiry, now %s's", dst.name)
	if err := st.inspect(s, tok.Destination); err != nil {
		return s.fail(err)
	}

	// The destination reads its copy through the API, as on Persona.
	s.step("%s reads its copy through the API (Objects.Get)", dst.name)
	obj, err := dst.client.Objects.Get(ctx, tok.Destination)
	if err != nil {
		return s.fail(err)
	}
	s.detail("%s %s, status %s", obj.Type, obj.ID, obj.Status)

	s.done("Done in %s: %s now owns a copy of %s's inquiry.",
		time.Since(started).Round(10*time.Millisecond), dst.name, src.name)
	return nil
}

// ---------------------------------------------------------------------------
// The two stages the story can play on.

// A stage is where the story plays: the in-process fake or Persona. The
// story is the same on both; only these few things differ.
type stage struct {
	where               string
	cast                []string // who is who, for step 1
	source, destination party
	inquiryID           string
	waitLimit           time.Duration
	// waitOptions are passed to ShareTokens.Wait: the fake, which redeems
	// in well under a second, is polled more often than Persona needs.
	waitOptions []connect.RequestOption
	// connect returns the id of a connection from source to destination
	// that the destination has accepted, telling the reader how it came to
	// be.
	connect func(ctx context.Context, s *story) (string, error)
	// inspect shows the object a redemption made, as far as the stage can.
	inspect func(s *story, dest *connect.ResourceRef) error
	close   func()
}

// A party is one organization and the client holding its API key.
type party struct {
	name   string
	client *connect.Client
}

// personaVars are the variables that select Persona; all or none.
var personaVars = []string{
	"PERSONA_SOURCE_API_KEY",
	"PERSONA_DESTINATION_API_KEY",
	"PERSONA_CONNECTION_ID",
	"PERSONA_INQUIRY_ID",
}

func newStage(env func(string) string) (*stage, error) {
	var set, missing []string
	for _, name := range personaVars {
		if strings.TrimSpace(env(name)) != "" {
			set = append(set, name)
		} else {
			missing = append(missing, name)
		}
	}
	switch {
	case len(set) == 0 && strings.TrimSpace(env("PERSONA_BASE_URL")) == "":
		return fakeStage()
	case len(missing) == 0:
		return personaStage(env)
	default:
		return nil, &configError{fmt.Sprintf(
			"incomplete Persona configuration: %s not set.\n"+
				"Set all four of %s to run against Persona,\n"+
				"or none of them (nor PERSONA_BASE_URL) to run on the built-in fake.",
			list(missing, " is", " are"), list(personaVars, "", ""))}
	}
}

// fakeRedeemDelay keeps a redemption pending long enough for the wait to
// be visible, and short enough for the whole run to take a second; the
// wait polls every fakePollInterval.
const (
	fakeRedeemDelay  = 500 * time.Millisecond
	fakePollInterval = 100 * time.Millisecond
)

// fakeStage starts an in-process connecttest server with two organizations
// and a completed inquiry of the source.
func fakeStage() (*stage, error) {
	srv := connecttest.NewServer(
		connecttest.WithRedeemDelay(fakeRedeemDelay), // on the wall clock
		connecttest.WithPeekFullFields("name-first"), // the rest by presence only
	)
	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	inquiry := srv.NewInquiry(acme, map[string]any{
		"name-first":    "Ada",
		"name-last":     "Lovelace",
		"birthdate":     "1815-12-10",
		"email-address": "ada@example.com",
		"address-city":  "London",
	})
	newClient := func(o *connecttest.Organization) (*connect.Client, error) {
		return connect.NewClient(o.APIKey,
			connect.WithBaseURL(srv.URL),
			connect.WithRetryWait(50*time.Millisecond, 250*time.Millisecond),
			connect.WithUserAgent("share-flow-example"))
	}
	src, err1 := newClient(acme)
	dst, err2 := newClient(bank)
	if err := errors.Join(err1, err2); err != nil {
		srv.Close()
		return nil, err
	}
	inq, _ := srv.Object(inquiry)

	return &stage{
		where: "connecttest, an in-process fake of Persona's Connect API (" + srv.URL + ")",
		cast: []string{
			fmt.Sprintf("source       %-8s  %s", acme.Name, acme.ID),
			fmt.Sprintf("destination  %-8s  %s", bank.Name, bank.ID),
			fmt.Sprintf("%s's completed inquiry %s:", acme.Name, inquiry),
			"  " + formatFields(inq.Fields),
		},
		source:      party{acme.Name, src},
		destination: party{bank.Name, dst},
		inquiryID:   inquiry,
		waitLimit:   30 * time.Second,
		waitOptions: []connect.RequestOption{connect.WithPollInterval(fakePollInterval, fakePollInterval)},
		connect: func(ctx context.Context, s *story) (string, error) {
			s.step("%s creates a connection to %s (Connections.Create)", acme.Name, bank.Name)
			cxn, err := src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: bank.ID})
			if err != nil {
				return "", err
			}
			s.detail("%s %s, created %s", cxn.ID, cxn.Status, stamp(&cxn.CreatedAt))
			s.step("%s accepts the connection", bank.Name)
			s.detail("On Persona this is a click in %s's Dashboard; there is no API for it.", bank.Name)
			s.detail("Here, on the fake: srv.AcceptConnection(%q)", cxn.ID)
			return cxn.ID, srv.AcceptConnection(cxn.ID)
		},
		inspect: func(s *story, dest *connect.ResourceRef) error {
			clone, ok := srv.Object(dest.ID)
			if !ok {
				return fmt.Errorf("the fake has no object %s", dest.ID)
			}
			owner := clone.OrganizationID
			if owner == bank.ID {
				owner = bank.Name + " (" + owner + ")"
			}
			s.detail("On the fake: srv.Object(%q)", dest.ID)
			s.detail("%s %s, status %s, owned by %s, created %s",
				clone.Type, clone.ID, clone.Status, owner, stamp(&clone.CreatedAt))
			s.detail("cloned from %s (%s's), by share token %s", clone.ClonedFrom, acme.Name, clone.ShareTokenID)
			for _, k := range slices.Sorted(maps.Keys(clone.Fields)) {
				s.detail("  %-14s %s", k, jsonText(clone.Fields[k]))
			}
			same := "the same as the source's"
			if !reflect.DeepEqual(clone.Fields, inq.Fields) {
				same = "NOT the same as the source's"
			}
			s.detail("fields: %s", same)
			return nil
		},
		close: srv.Close,
	}, nil
}

// personaStage runs on Persona (or anything at PERSONA_BASE_URL, such as
// cmd/connect-fake) with the organizations, connection and inquiry the
// environment names.
func personaStage(env func(string) string) (*stage, error) {
	opts := []connect.ClientOption{
		connect.WithRetryWait(500*time.Millisecond, 5*time.Second),
		connect.WithUserAgent("share-flow-example"),
	}
	where := "Persona (" + connect.DefaultBaseURL + ")"
	if u := strings.TrimSpace(env("PERSONA_BASE_URL")); u != "" {
		opts = append(opts, connect.WithBaseURL(u))
		where = u
	}
	src, err := connect.NewClient(strings.TrimSpace(env("PERSONA_SOURCE_API_KEY")), opts...)
	if err != nil {
		return nil, &configError{"PERSONA_SOURCE_API_KEY or PERSONA_BASE_URL: " + err.Error()}
	}
	dst, err := connect.NewClient(strings.TrimSpace(env("PERSONA_DESTINATION_API_KEY")), opts...)
	if err != nil {
		return nil, &configError{"PERSONA_DESTINATION_API_KEY: " + err.Error()}
	}
	cxnID := strings.TrimSpace(env("PERSONA_CONNECTION_ID"))
	inquiry := strings.TrimSpace(env("PERSONA_INQUIRY_ID"))

	return &stage{
		where: where,
		cast: []string{
			"source       the organization of PERSONA_SOURCE_API_KEY",
			"destination  the organization of PERSONA_DESTINATION_API_KEY",
			"the source's completed inquiry " + inquiry + " (PERSONA_INQUIRY_ID)",
		},
		source:      party{"the source", src},
		destination: party{"the destination", dst},
		inquiryID:   inquiry,
		waitLimit:   5 * time.Minute,
		connect: func(context.Context, *story) (string, error) {
			// Created by the source and accepted in the destination's
			// Dashboard beforehand: acceptance cannot be automated.
			return cxnID, nil
		},
		inspect: func(s *story, dest *connect.ResourceRef) error {
			s.detail("The copy is %s %s, in the destination's environment.", dest.Type, dest.ID)
			s.detail("The next step reads it through the API; the Dashboard shows it too.")
			return nil
		},
		close: func() {
			src.CloseIdleConnections()
			dst.CloseIdleConnections()
		},
	}, nil
}

// ---------------------------------------------------------------------------
// Printing.

// A story prints numbered steps and their indented details.
type story struct {
	out  io.Writer
	n    int
	what string // the current step, for errors
}

func (s *story) title(format string, args ...any) {
	fmt.Fprintf(s.out, format+"\n\n", args...)
}

func (s *story) step(format string, args ...any) {
	s.n++
	s.what = fmt.Sprintf(format, args...)
	s.what = strings.ToUpper(s.what[:1]) + s.what[1:] // "the source creates …" starts a line
	fmt.Fprintf(s.out, "%2d. %s\n", s.n, s.what)
}

func (s *story) detail(format string, args ...any) {
	fmt.Fprintf(s.out, "    "+format+"\n", args...)
}

func (s *story) done(format string, args ...any) {
	fmt.Fprintf(s.out, "\n"+format+"\n", args...)
}

// fail names the step an error happened in.
func (s *story) fail(err error) error {
	fmt.Fprintf(s.out, "    FAILED: %v\n", err)
	return &stepError{step: s.n, what: s.what, err: err}
}

func printPeek(s *story, source string, sd *connect.SourceData) {
	if sd == nil {
		s.detail("no source data: Persona has not enabled peeking for this destination")
		return
	}
	s.detail("source data %s %s, as %s lets it be seen before redemption:", sd.Type, sd.ID, source)
	show := func(name string, a connect.PeekableAttribute) {
		v := string(a.Value)
		if a.Visibility == "presence" {
			v = map[string]string{"true": "(has a value, not shown)", "false": "(no value)"}[v]
		}
		s.detail("  %-14s %-8s %s", name, a.Visibility, v)
	}
	for _, k := range slices.Sorted(maps.Keys(sd.Attributes)) {
		show(k, sd.Attributes[k])
	}
	for _, k := range slices.Sorted(maps.Keys(sd.Fields)) {
		show(k, sd.Fields[k])
	}
	if len(sd.Related) > 0 {
		s.detail("  and %d related object(s)", len(sd.Related))
	}
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "(not set)"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func firstSet(ts ...*time.Time) *time.Time {
	for _, t := range ts {
		if t != nil {
			return t
		}
	}
	return nil
}

func formatFields(fields map[string]any) string {
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, k+" "+jsonText(fields[k]))
	}
	return strings.Join(parts, ", ")
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// list joins names as "A, B and C", followed by one or many.
func list(names []string, one, many string) string {
	if len(names) == 1 {
		return names[0] + one
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + many
}

// ---------------------------------------------------------------------------
// Errors and exit status.

// A configError is a problem with the configuration: exit status 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// A stepError is a step of the story that failed: exit status 1.
type stepError struct {
	step int
	what string
	err  error
}

func (e *stepError) Error() string { return fmt.Sprintf("step %d (%s): %v", e.step, e.what, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// report prints err for a person and returns the exit status.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var cfg *configError
	if errors.As(err, &cfg) {
		fmt.Fprintf(w, "share-flow: %v\n", cfg)
		return 2
	}
	fmt.Fprintf(w, "share-flow: %v\n", err)
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		fmt.Fprintf(w, "  HTTP status: %d %s (%s %s)\n", apiErr.StatusCode, http.StatusText(apiErr.StatusCode), apiErr.Method, apiErr.Path)
		rid := apiErr.RequestID
		if rid == "" {
			rid = "(none in the response)"
		}
		fmt.Fprintf(w, "  request id:  %s (quote it to Persona support)\n", rid)
		if apiErr.StatusCode == http.StatusUnauthorized {
			fmt.Fprintf(w, "  hint:        the API key is wrong, revoked, or of another environment\n")
		}
		for _, e := range apiErr.Errors {
			if e.Source != nil && e.Source.Pointer != "" {
				fmt.Fprintf(w, "  about:       %s\n", e.Source.Pointer)
			}
		}
	}
	return 1
}

const usage = `share-flow: a source organization shares a completed inquiry with a
destination organization through a Persona Connect share token, step by step.

Usage: go run ./examples/share-flow   (no arguments)

With no configuration it runs on an in-process connecttest server.
To run against Persona, set all four of:

  PERSONA_SOURCE_API_KEY       the source organization's API key
  PERSONA_DESTINATION_API_KEY  the destination organization's API key
  PERSONA_CONNECTION_ID        an active connection from source to destination
                               (the destination accepts it in Persona's Dashboard)
  PERSONA_INQUIRY_ID           a completed inquiry of the source

and optionally PERSONA_BASE_URL (default https://api.withpersona.com/api/v1).
`
