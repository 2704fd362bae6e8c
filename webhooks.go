package connect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Connect webhook events. Persona sends the outbound ones to the source
// and the inbound ones to the destination.
const (
	// EventShareTokenInboundCreated tells a destination that a token was
	// created for it; it can redeem at once.
	EventShareTokenInboundCreated = "connect/share-token.inbound-created"
	// EventShareTokenInboundRedeemed tells a destination that its redemption
	// finished.
	EventShareTokenInboundRedeemed = "connect/share-token.inbound-redeemed"
	// EventShareTokenOutboundCreated tells a source that it created a token.
	EventShareTokenOutboundCreated = "connect/share-token.outbound-created"
	// EventShareTokenOutboundRedeemed tells a source that the destination
	// redeemed its token.
	EventShareTokenOutboundRedeemed = "connect/share-token.outbound-redeemed"
)

// Errors of webhook verification, for errors.Is. The errors returned wrap one
// of them with a message saying what was wrong, never which secret failed.
var (
	ErrWebhookNoSignature  = errors.New("connect: webhook has no Persona-Signature")
	ErrWebhookBadSignature = errors.New("connect: webhook signature does not match")
	ErrWebhookTooOld       = errors.New("connect: webhook timestamp outside the tolerance")
)

// DefaultWebhookTolerance is how far a signature's timestamp may be from now.
const DefaultWebhookTolerance = 5 * time.Minute

// DefaultWebhookMaxBodySize caps the body NewWebhookHandler reads.
const DefaultWebhookMaxBodySize = 10 << 20

// WebhookEvent is one verified webhook delivery: the event, and what the
// delivery's headers said about it.
type WebhookEvent struct {
	Event
	// Delivery describes this delivery attempt; it is zero outside a
	// handler built by NewWebhookHandler.
	Delivery WebhookDelivery
}

// WebhookDelivery is what Persona's delivery headers say about one attempt
// to deliver an event (Persona-Webhook-Attempts-Made, -Attempts-Left and
// -First-Attempted-At). A header that is missing or malformed leaves its
// field zero.
type WebhookDelivery struct {
	AttemptsMade     int
	AttemptsLeft     int
	FirstAttemptedAt time.Time
}

// A WebhookOption adjusts webhook verification or the webhook handler.
type WebhookOption func(*webhookConfig)

type webhookConfig struct {
	tolerance   time.Duration
	now         func() time.Time
	maxBodySize int64
	deduper     WebhookDeduper
}

func newWebhookConfig(opts []WebhookOption) webhookConfig {
	cfg := webhookConfig{tolerance: DefaultWebhookTolerance, now: time.Now, maxBodySize: DefaultWebhookMaxBodySize}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	return cfg
}

// WithWebhookTolerance sets how far a signature's timestamp may be from now,
// in either direction (default 5 minutes). Zero or less keeps the default.
func WithWebhookTolerance(d time.Duration) WebhookOption {
	return func(c *webhookConfig) {
		if d > 0 {
			c.tolerance = d
		}
	}
}

// WithWebhookClock replaces time.Now for the tolerance check, for tests.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return func(c *webhookConfig) {
		if now != nil {
			c.now = now
		}
	}
}

// WithWebhookMaxBodySize caps the body NewWebhookHandler reads (default
// 10 MiB); a longer one is answered 413. Zero or less keeps the default.
func WithWebhookMaxBodySize(n int64) WebhookOption {
	return func(c *webhookConfig) {
		if n > 0 {
			c.maxBodySize = n
		}
	}
}

// WithWebhookDeduper makes NewWebhookHandler drop repeated deliveries with
// d, typically backed by the service's own database. Without it the handler
// uses NewMemoryDeduper, which only sees one process's deliveries.
func WithWebhookDeduper(d WebhookDeduper) WebhookOption {
	return func(c *webhookConfig) {
		if d != nil {
			c.deduper = d
		}
	}
}

// SignWebhookPayload returns the Persona-Signature header value Persona would
// send for payload signed with secret at t, so that tests can deliver
// webhooks to their own handlers.
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
// It returns nil, or an error wrapping ErrWebhookNoSignature,
// ErrWebhookBadSignature (a malformed header included) or ErrWebhookTooOld.
func VerifyWebhookSignature(payload []byte, header string, secrets []string, opts ...WebhookOption) error {
	cfg := newWebhookConfig(opts)
	return cfg.verify(payload, header, secrets)
}

func (cfg *webhookConfig) verify(payload []byte, header string, secrets []string) error {
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
	var stale *signatureGroup
	for i := range groups {
		g := &groups[i]
		if !g.matches(payload, secrets) {
			continue
		}
		if cfg.fresh(g.timestamp) {
			return nil
		}
		stale = g
	}
	if stale != nil {
		return fmt.Errorf("%w: signed at %s, tolerance %s", ErrWebhookTooOld, time.Unix(stale.timestamp, 0).UTC().Format(time.RFC3339), cfg.tolerance)
	}
	return fmt.Errorf("%w: no v1 signature matches the body", ErrWebhookBadSignature)
}

func (cfg *webhookConfig) fresh(ts int64) bool {
	skew := cfg.now().Sub(time.Unix(ts, 0))
	return skew <= cfg.tolerance && skew >= -cfg.tolerance
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
// least one v1 (hex); other keys, such as future schemes, are ignored.
func parseSignatureHeader(header string) ([]signatureGroup, error) {
	fields := strings.Fields(header)
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

// ParseWebhookEvent verifies a delivery as VerifyWebhookSignature does and
// decodes it. Event names it does not know are returned, not refused; for
// connect/share-token.* events ShareToken is set.
func ParseWebhookEvent(payload []byte, header string, secrets []string, opts ...WebhookOption) (*WebhookEvent, error) {
	cfg := newWebhookConfig(opts)
	if err := cfg.verify(payload, header, secrets); err != nil {
		return nil, err
	}
	return decodeWebhookEvent(payload)
}

func decodeWebhookEvent(payload []byte) (*WebhookEvent, error) {
	var env struct {
		Data eventResource `json:"data"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("connect: malformed webhook event: %w", err)
	}
	d := &env.Data
	if d.ID == "" || d.Attributes.Name == "" {
		return nil, errors.New("connect: malformed webhook event: no data.id or data.attributes.name")
	}
	ev, err := d.event()
	if err != nil {
		return nil, fmt.Errorf("connect: malformed payload in webhook event %s: %w", d.ID, err)
	}
	return &WebhookEvent{Event: *ev}, nil
}

// WebhookDeduper remembers which events a webhook handler has handled, so
// that repeated deliveries (Persona retries until it sees a 2xx, and may
// deliver twice anyway) are handled once.
type WebhookDeduper interface {
	// Claim marks eventID as being handled. It returns false when the event
	// was already claimed, by this process or (for a shared store) another.
	Claim(ctx context.Context, eventID string) (bool, error)
	// Release forgets a claim whose handling failed, so that Persona's next
	// delivery of the event is handled.
	Release(ctx context.Context, eventID string) error
}

// NewMemoryDeduper returns a WebhookDeduper for one process that remembers
// an event id for ttl (Persona retries a delivery for about two days, so
// three days is a sound choice).
func NewMemoryDeduper(ttl time.Duration) WebhookDeduper {
	return &memoryDeduper{ttl: ttl, seen: make(map[string]time.Time), now: time.Now}
}

type memoryDeduper struct {
	mu    sync.Mutex
	ttl   time.Duration
	seen  map[string]time.Time
	now   func() time.Time
	swept time.Time
}

func (d *memoryDeduper) Claim(_ context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.sweep(now)
	if at, ok := d.seen[id]; ok && now.Sub(at) < d.ttl {
		return false, nil
	}
	d.seen[id] = now
	return true, nil
}

func (d *memoryDeduper) Release(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, id)
	return nil
}

// sweep drops expired ids, at most once per ttl/4, so memory stays bounded
// by the deliveries of one ttl.
func (d *memoryDeduper) sweep(now time.Time) {
	if now.Sub(d.swept) < d.ttl/4 {
		return
	}
	d.swept = now
	for id, at := range d.seen {
		if now.Sub(at) >= d.ttl {
			delete(d.seen, id)
		}
	}
}

// NewWebhookHandler returns the http.Handler for a service's webhook route.
// It accepts POST only (405 otherwise), reads the body through a cap (413
// past it), verifies the signature (400 when missing, 401 when malformed,
// wrong or stale, without saying which secret failed), drops repeated event
// ids (200 without calling handle; 409, so that Persona retries, while the
// first delivery is still being handled in this process), and calls handle
// with the event.
//
// A nil error from handle answers 200; an error answers 500, so that Persona
// delivers the event again later. Persona waits 5 seconds for the answer:
// handle should hand long work to a queue. Deliveries repeat and arrive out
// of order; order by WebhookEvent.CreatedAt if it matters.
func NewWebhookHandler(secrets []string, handle func(context.Context, *WebhookEvent) error, opts ...WebhookOption) http.Handler {
	cfg := newWebhookConfig(opts)
	if cfg.deduper == nil {
		cfg.deduper = NewMemoryDeduper(72 * time.Hour)
	}
	secrets = append([]string(nil), secrets...)
	return &webhookHandler{cfg: cfg, secrets: secrets, handle: handle}
}

type webhookHandler struct {
	cfg     webhookConfig
	secrets []string
	handle  func(context.Context, *WebhookEvent) error

	mu       sync.Mutex
	inFlight map[string]struct{} // events this process is handling now
}

func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBodySize))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if err := h.cfg.verify(body, r.Header.Get("Persona-Signature"), h.secrets); err != nil {
		if errors.Is(err, ErrWebhookNoSignature) {
			http.Error(w, "missing signature", http.StatusBadRequest)
			return
		}
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	ev, err := decodeWebhookEvent(body)
	if err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	h.dispatch(r.Context(), w, ev)
}

func (h *webhookHandler) dispatch(ctx context.Context, w http.ResponseWriter, ev *WebhookEvent) {
	if h.handle == nil {
		http.Error(w, "connect: NewWebhookHandler was given a nil handle func", http.StatusInternalServerError)
		return
	}
	if !h.begin(ev.ID) {
		// The first delivery may still fail; a 200 here would tell Persona
		// that the event needs no retry.
		http.Error(w, "event is being handled; retry later", http.StatusConflict)
		return
	}
	defer h.end(ev.ID)
	first, err := h.cfg.deduper.Claim(ctx, ev.ID)
	if err != nil {
		http.Error(w, "deduplication failed", http.StatusInternalServerError)
		return
	}
	if !first {
		w.WriteHeader(http.StatusOK)
		return
	}
	handled := false
	defer func() {
		// On an error or a panic in handle, release the claim so that
		// Persona's next delivery is handled. A failed release leaves the
		// event claimed: the retry is then dropped, which the deduper's store
		// must make rare.
		if !handled {
			_ = h.cfg.deduper.Release(context.WithoutCancel(ctx), ev.ID)
		}
	}()
	if err := h.handle(ctx, ev); err != nil {
		http.Error(w, "handler failed", http.StatusInternalServerError)
		return
	}
	handled = true
	w.WriteHeader(http.StatusOK)
}

// begin marks an event as in flight in this process, and reports false when
// it already was.
func (h *webhookHandler) begin(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, busy := h.inFlight[id]; busy {
		return false
	}
	if h.inFlight == nil {
		h.inFlight = make(map[string]struct{})
	}
	h.inFlight[id] = struct{}{}
	return true
}

func (h *webhookHandler) end(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.inFlight, id)
}
