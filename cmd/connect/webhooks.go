package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	connect "github.com/personaconnect/connect-go"
)

var webhooksSign = &command{
	name:    "sign",
	args:    "[<payload-file> | -]",
	summary: "print the Persona-Signature header value Persona would send with a payload",
	help: `The payload is read byte for byte from the file, or from stdin when the file
is "-" or not given; the signature covers exactly those bytes, a trailing
newline included. The secret comes from PERSONA_WEBHOOK_SECRET or
--secret-file and is never printed. To replay a delivery to a receiver:

  sig=$(connect webhooks sign event.json)
  curl -H "Persona-Signature: $sig" -H 'Content-Type: application/json' \
       --data-binary @event.json http://localhost:8000/webhooks/persona`,
	setup: func(fs *flag.FlagSet) action {
		secretFile := fs.String("secret-file", "", "read the webhook secret from `PATH` instead of PERSONA_WEBHOOK_SECRET")
		at := fs.String("time", "", "sign as of this `time`, Unix seconds or RFC 3339 (default now)")
		asJSON := fs.Bool("json", false, `print {"header": "Persona-Signature", "value": …}`)
		return func(ctx context.Context, s *session, args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q", args[1])
			}
			t, err := signTime(*at, s.now)
			if err != nil {
				return err
			}
			secrets, err := s.webhookSecrets(*secretFile)
			if err != nil {
				return err
			}
			if len(secrets) != 1 {
				return usagef("signing takes one secret, found %d", len(secrets))
			}
			payload, err := s.readPayload(args)
			if err != nil {
				return err
			}
			value := connect.SignWebhookPayload(payload, secrets[0], t)
			if *asJSON {
				return printJSON(s.stdout, signatureJSON{Header: "Persona-Signature", Value: value})
			}
			_, err = fmt.Fprintln(s.stdout, value)
			return err
		}
	},
}

var webhooksVerify = &command{
	name:    "verify",
	args:    "[<payload-file> | -] --signature <header>",
	summary: "check a payload against a Persona-Signature header, as a receiver would",
	help: `It prints "ok" when a signature in the header matches the payload with one of
the secrets and was made within 5 minutes of now, and otherwise says why
and ends with exit status 1. --ignore-age accepts a matching signature of
any age, to check a delivery captured earlier.

Secrets come from PERSONA_WEBHOOK_SECRET (several separated by commas or
spaces, as during a rotation) or from --secret-file (one secret a line;
repeatable). They are never printed.`,
	setup: func(fs *flag.FlagSet) action {
		var secretFiles stringsFlag
		fs.Var(&secretFiles, "secret-file", "read webhook secrets from `PATH`, one a line; repeatable (default PERSONA_WEBHOOK_SECRET)")
		header := fs.String("signature", "", "the Persona-Signature header `value` (a leading \"Persona-Signature:\" is ignored)")
		ignoreAge := fs.Bool("ignore-age", false, "accept a matching signature however old it is")
		asJSON := fs.Bool("json", false, `print {"ok": true} or {"ok": false, "reason": …}`)
		return func(ctx context.Context, s *session, args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q", args[1])
			}
			if err := requireFlags(fs, "signature"); err != nil {
				return err
			}
			secrets, err := s.webhookSecrets(secretFiles...)
			if err != nil {
				return err
			}
			payload, err := s.readPayload(args)
			if err != nil {
				return err
			}
			verr := connect.VerifyWebhookSignature(payload, trimHeaderName(*header), secrets)
			if *ignoreAge && errors.Is(verr, connect.ErrWebhookTooOld) {
				fmt.Fprintf(s.stderr, "note: %v\n", verr)
				verr = nil
			}
			if verr != nil && bytes.HasSuffix(payload, []byte("\n")) {
				fmt.Fprintln(s.stderr, "note: the payload ends with a newline; Persona signs the body exactly as sent")
			}
			if *asJSON {
				out := verifyJSON{OK: verr == nil}
				if verr != nil {
					out.Reason = verr.Error()
				}
				if err := printJSON(s.stdout, out); err != nil {
					return err
				}
			} else if verr == nil {
				fmt.Fprintln(s.stdout, "ok")
			}
			return verr
		}
	},
}

type verifyJSON struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// webhookSecrets reads the secrets from the files, or else from
// PERSONA_WEBHOOK_SECRET. Blank entries are dropped.
func (s *session) webhookSecrets(files ...string) ([]string, error) {
	files = slices.DeleteFunc(files, func(f string) bool { return f == "" })
	if len(files) == 0 {
		secrets := strings.FieldsFunc(s.getenv("PERSONA_WEBHOOK_SECRET"), func(r rune) bool {
			return r == ',' || unicode.IsSpace(r)
		})
		if len(secrets) == 0 {
			return nil, usagef("no webhook secret: set PERSONA_WEBHOOK_SECRET or pass --secret-file PATH")
		}
		return secrets, nil
	}
	var secrets []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usagef("--secret-file: %v", err)
		}
		secrets = append(secrets, strings.Fields(string(b))...)
	}
	if len(secrets) == 0 {
		return nil, usagef("--secret-file: no secret in %s", strings.Join(files, ", "))
	}
	return secrets, nil
}

// maxPayload bounds what is read, as a receiver would.
const maxPayload = connect.DefaultWebhookMaxBodySize

// readPayload reads the file named by args[0], or stdin.
func (s *session) readPayload(args []string) ([]byte, error) {
	r := s.stdin
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return nil, usagef("payload: %v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("reading the payload: %w", err)
	}
	if len(b) > maxPayload {
		return nil, usagef("payload is larger than %d bytes", maxPayload)
	}
	return b, nil
}

// signTime parses --time: Unix seconds or RFC 3339; empty is now.
func signTime(v string, now func() time.Time) (time.Time, error) {
	if v == "" {
		return now(), nil
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("--time %q is neither Unix seconds nor RFC 3339 (2025-01-02T15:04:05Z)", v)
	}
	return t, nil
}

// trimHeaderName accepts a header pasted whole, "Persona-Signature: t=…".
func trimHeaderName(h string) string {
	h = strings.TrimSpace(h)
	if name, value, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Persona-Signature") {
		return strings.TrimSpace(value)
	}
	return h
}

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (f *stringsFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(*f, ",")
}

func (f *stringsFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

var webhooksRotateSecret = &command{
	name:    "rotate-secret",
	args:    "<webhook-id>",
	summary: "give a webhook a new signing secret, keeping the old one valid for a while",
	help: `Deliveries are signed with every valid secret, so receivers keep working
while they are given the new one: pass both to NewWebhookHandler until
--old-secret-expires-in runs out (Persona's default when not given).

The new secret is printed only with --show-secret; without it the secrets
are hidden, in the readable form and in --json (values null,
"secrets-hidden": true). Terminals, CI logs, screen shares and shell
scrollback keep what is printed, and a secret seen there has to be rotated
again. Each run makes a new secret, so decide before running: read it
later from Persona's Dashboard, or send it straight where it belongs:

  connect webhooks rotate-secret wbh_… --show-secret --json | jq -r '."current-secret"' > secret`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.WebhookRotateSecretParams
		fs.DurationVar(&p.OldSecretExpiresIn, "old-secret-expires-in", 0, "keep the old secret valid for this `duration`, whole seconds, such as 1h (default Persona's)")
		show := fs.Bool("show-secret", false, "print the secrets' values (they are hidden otherwise, since terminals are logged)")
		key := idempotencyFlag(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "<webhook-id>"); err != nil {
				return err
			}
			return s.withClient(func(c *connect.Client) error {
				w, err := c.Webhooks.RotateSecret(ctx, args[0], &p, idempotency(*key)...)
				if err != nil {
					return err
				}
				if s.json {
					return printJSON(s.stdout, webhookOutput(w, *show))
				}
				if err := printSummary(s.stdout, webhookSummary(w, *show)); err != nil {
					return err
				}
				if !*show {
					fmt.Fprintln(s.stderr, "note: the secrets are hidden; --show-secret prints them (each run rotates again)")
				}
				return nil
			})
		}
	},
}

// webhookSummary shows the webhook and its secrets, newest first; their
// values only when show is set.
func webhookSummary(w *connect.Webhook, show bool) []field {
	fields := []field{
		{"id", w.ID},
		{"status", w.Status},
		{"url", w.URL},
		{"enabled-events", orDash(strings.Join(w.EnabledEvents, ","))},
		{"api-version", orDash(w.APIVersion)},
		{"created-at", humanTime(&w.CreatedAt)},
	}
	for _, sec := range w.Secrets {
		value := "(hidden)"
		if show {
			value = sec.Value
		}
		when := "current"
		if sec.ExpiresAt != nil {
			when = "expires " + humanTime(sec.ExpiresAt)
		}
		fields = append(fields, field{"secret", value + "  " + when})
	}
	return fields
}
