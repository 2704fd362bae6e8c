package connect

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors of webhook verification, for [errors.Is]. The errors
// [VerifyWebhookSignature] and [ParseWebhookEvent] return wrap one of them
// with a message saying what was wrong, never which secret failed.
var (
	ErrWebhookNoSignature  = errors.New("connect: webhook has no Persona-Signature")
	ErrWebhookBadSignature = errors.New("connect: webhook signature does not match")
	ErrWebhookTooOld       = errors.New("connect: webhook timestamp outside the tolerance")
)

// DefaultWebhookTolerance is how far a signature's timestamp may be from now,
// in either direction, unless [WithWebhookTolerance] sets another bound.
// Persona documents none; five minutes keeps a captured delivery from being
// replayed for long.
const DefaultWebhookTolerance = 5 * time.Minute

// SignWebhookPayload returns the Persona-Signature header value Persona would
// send for payload signed with secret at t, so that tests can deliver
// webhooks to their own handlers (see [NewWebhookHandler]).
func SignWebhookPayload(payload []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, payload))
}

func webhookMAC(secret, ts string, payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// VerifyWebhookSignature checks a Persona-Signature header against the raw
// request body and any of secrets (several during a secret rotation; the
// header may then carry two space-separated "t=…,v1=…" groups, and a match
// on either is enough). The signature is an HMAC-SHA256 of "<t>.<body>",
// compared in constant time, and t must lie within the tolerance of now.
// Empty secrets are ignored, so that an unset variable cannot make every
// signature made with an empty key valid.
//
// It returns nil, or an error wrapping [ErrWebhookNoSignature],
// [ErrWebhookBadSignature] (a malformed header, and secrets holding no
// non-empty secret, included) or [ErrWebhookTooOld]. An invalid option (see
// [WithWebhookTolerance]) returns a [*ValidationError] naming it, whatever the
// delivery. [ParseWebhookEvent] verifies and decodes in one call.
func VerifyWebhookSignature(payload []byte, header string, secrets []string, opts ...WebhookOption) error {
	v, err := newWebhookVerifier(opts)
	if err != nil {
		return err
	}
	return v.verify(payload, header, secrets)
}

// webhookVerifier checks signatures with a tolerance and a clock that
// newWebhookVerifier or NewWebhookHandler has validated.
type webhookVerifier struct {
	tolerance time.Duration
	now       func() time.Time
}

func defaultWebhookVerifier() webhookVerifier {
	return webhookVerifier{tolerance: DefaultWebhookTolerance, now: time.Now}
}

// newWebhookVerifier applies opts; a nil option is skipped.
func newWebhookVerifier(opts []WebhookOption) (webhookVerifier, error) {
	v := defaultWebhookVerifier()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.applyToVerifier(&v); err != nil {
			return webhookVerifier{}, err
		}
	}
	return v, nil
}

func (v *webhookVerifier) verify(payload []byte, header string, secrets []string) error {
	if strings.TrimSpace(header) == "" {
		return ErrWebhookNoSignature
	}
	if !slices.ContainsFunc(secrets, func(s string) bool { return s != "" }) {
		return fmt.Errorf("%w: no webhook secret configured", ErrWebhookBadSignature)
	}
	groups, err := parseSignatureHeader(header)
	if err != nil {
		return err
	}
	return v.verifyGroups(payload, groups, secrets)
}

// verifyGroups accepts payload when a fresh group carries a MAC of it under
// one of secrets.
func (v *webhookVerifier) verifyGroups(payload []byte, groups []signatureGroup, secrets []string) error {
	var stale *signatureGroup
	for i := range groups {
		g := &groups[i]
		if !g.matches(payload, secrets) {
			continue
		}
		if v.fresh(g.timestamp) {
			return nil
		}
		stale = g
	}
	if stale != nil {
		return fmt.Errorf("%w: signed at %s, tolerance %s", ErrWebhookTooOld, time.Unix(stale.timestamp, 0).UTC().Format(time.RFC3339), v.tolerance)
	}
	return fmt.Errorf("%w: no v1 signature matches the body", ErrWebhookBadSignature)
}

// anyFresh reports whether some group's timestamp is within the tolerance,
// which a delivery must have before its body is worth reading.
func (v *webhookVerifier) anyFresh(groups []signatureGroup) bool {
	return slices.ContainsFunc(groups, func(g signatureGroup) bool { return v.fresh(g.timestamp) })
}

func (v *webhookVerifier) fresh(ts int64) bool {
	skew := v.now().Sub(time.Unix(ts, 0))
	return skew <= v.tolerance && skew >= -v.tolerance
}

// signatureGroup is one "t=…,v1=…[,v1=…]" group of a Persona-Signature.
type signatureGroup struct {
	ts         string
	timestamp  int64
	signatures [][]byte
}

func (g *signatureGroup) matches(payload []byte, secrets []string) bool {
	for _, secret := range secrets {
		if secret == "" {
			// An empty key is public: a MAC keyed with it proves nothing.
			continue
		}
		want := webhookMAC(secret, g.ts, payload)
		for _, sig := range g.signatures {
			if hmac.Equal(sig, want) {
				return true
			}
		}
	}
	return false
}

// maxSignatureGroups bounds the work a hostile header can cause.
const maxSignatureGroups = 8

// parseSignatureHeader reads every space-separated group of the header. A
// group is comma-separated key=value pairs with one t (Unix seconds) and at
// least one v1 (hex); other keys, such as future schemes, are ignored. A
// blank header is ErrWebhookNoSignature.
func parseSignatureHeader(header string) ([]signatureGroup, error) {
	fields := strings.Fields(header)
	if len(fields) == 0 {
		return nil, ErrWebhookNoSignature
	}
	if len(fields) > maxSignatureGroups {
		return nil, fmt.Errorf("%w: more than %d signature groups", ErrWebhookBadSignature, maxSignatureGroups)
	}
	groups := make([]signatureGroup, 0, len(fields))
	for _, field := range fields {
		g, err := parseSignatureGroup(field)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func parseSignatureGroup(field string) (signatureGroup, error) {
	var g signatureGroup
	for pair := range strings.SplitSeq(field, ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok {
			return g, fmt.Errorf("%w: malformed header element %q", ErrWebhookBadSignature, truncate(pair, 32))
		}
		switch key {
		case "t":
			ts, err := strconv.ParseInt(value, 10, 64)
			if err != nil || ts <= 0 || g.ts != "" {
				return g, fmt.Errorf("%w: malformed or repeated timestamp", ErrWebhookBadSignature)
			}
			g.ts, g.timestamp = value, ts
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return g, fmt.Errorf("%w: v1 is not a hex SHA-256 MAC", ErrWebhookBadSignature)
			}
			if len(g.signatures) < maxSignatureGroups {
				g.signatures = append(g.signatures, sig)
			}
		}
	}
	if g.ts == "" || len(g.signatures) == 0 {
		return g, fmt.Errorf("%w: a signature group needs t and v1", ErrWebhookBadSignature)
	}
	return g, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
