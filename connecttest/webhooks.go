package connecttest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The Connect webhook events the fake sends: the outbound ones to the
// token's source organization, the inbound ones to its destination.
const (
	EventShareTokenInboundCreated   = "connect/share-token.inbound-created"
	EventShareTokenInboundRedeemed  = "connect/share-token.inbound-redeemed"
	EventShareTokenOutboundCreated  = "connect/share-token.outbound-created"
	EventShareTokenOutboundRedeemed = "connect/share-token.outbound-redeemed"
)

// connectEvents are the events a webhook receives when it names none, or
// "*".
var connectEvents = []string{
	EventShareTokenInboundCreated, EventShareTokenInboundRedeemed,
	EventShareTokenOutboundCreated, EventShareTokenOutboundRedeemed,
}

// The outcomes of a delivery attempt, in WebhookDelivery.Outcome.
const (
	// WebhookDelivered: the receiver answered 200, 201, 202 or 204 within
	// the timeout. The delivery is done.
	WebhookDelivered = "delivered"
	// WebhookRetrying: the attempt failed and another one is scheduled.
	WebhookRetrying = "retrying"
	// WebhookFailed: the last attempt failed. The delivery is given up.
	WebhookFailed = "failed"
	// WebhookCanceled: the server was closed during the attempt.
	WebhookCanceled = "canceled"
)

// DefaultWebhookTimeout is how long a receiver has to answer a delivery,
// as on Persona.
const DefaultWebhookTimeout = 5 * time.Second

// defaultRetrySchedule is 7 retries, as on Persona, but in about a second
// and a quarter instead of about two days.
var defaultRetrySchedule = []time.Duration{
	10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
	160 * time.Millisecond, 320 * time.Millisecond, 640 * time.Millisecond,
}

// webhookUserAgent is the fake's own User-Agent: Persona does not document
// the one it sends.
const webhookUserAgent = "connecttest-webhooks/1 (+https://github.com/personaconnect/connect-go)"

// maxWebhookResponse is how much of a receiver's answer is recorded.
const maxWebhookResponse = 64 << 10

// ErrWebhookHostNotAllowed is returned by RegisterWebhook for a URL whose
// host is neither a loopback address, "localhost", nor a host named in
// WithWebhookAllowedHosts: the fake never sends traffic off the machine
// unless told to.
var ErrWebhookHostNotAllowed = errors.New("connecttest: webhook host is not loopback")

// A Webhook is a snapshot of a webhook registered with RegisterWebhook.
type Webhook struct {
	// ID is the webhook's id, "wbh_…".
	ID string
	// OrganizationID is the organization whose events the webhook receives.
	OrganizationID string
	// URL is where deliveries are POSTed.
	URL string
	// Secret is the current secret, "wbhsec_…": the one to give a verifier.
	Secret string
	// Secrets are the secrets deliveries are signed with, newest first:
	// the current one, then any earlier one that RotateWebhookSecret left
	// valid until its ExpiresAt.
	Secrets []WebhookSecret
	// EnabledEvents are the event names the webhook receives.
	EnabledEvents []string
	// KeyInflection is the casing of the keys of its deliveries' bodies:
	// InflectionKebab (the default), InflectionCamel or InflectionSnake,
	// as Persona's api-key-inflection.
	KeyInflection string
	// CreatedAt is when the webhook was registered, on the server's clock.
	CreatedAt time.Time
}

// A WebhookSecret is one signing secret of a webhook, as in the secrets
// of Persona's webhook object.
type WebhookSecret struct {
	// Value is the secret, "wbhsec_…".
	Value string
	// ExpiresAt is when the secret stops being used, on the server's clock;
	// the zero time means never (the current secret).
	ExpiresAt time.Time
}

// A WebhookDelivery is one attempt to deliver an event to a webhook, and
// what came of it.
type WebhookDelivery struct {
	// EventID is the event's id, "evt_…": the same on every attempt and
	// every webhook the event goes to.
	EventID string
	// EventName is the event's name, such as
	// EventShareTokenInboundCreated.
	EventName string
	// OrganizationID is the organization the event was sent to.
	OrganizationID string
	// WebhookID and URL name the webhook.
	WebhookID, URL string
	// Attempt counts the attempts of this delivery, from 1. It is the
	// Persona-Webhook-Attempts-Made header sent.
	Attempt int
	// AttemptsLeft is the Persona-Webhook-Attempts-Left header sent: how
	// many more attempts would follow a failure of this one.
	AttemptsLeft int
	// Status is the receiver's status, or 0 when it did not answer in time
	// (see Err).
	Status int
	// Err says why the attempt got no answer (a refused connection, the
	// timeout, the server closing); empty when the receiver answered.
	Err string
	// Outcome is WebhookDelivered, WebhookRetrying, WebhookFailed or
	// WebhookCanceled.
	Outcome string
	// Header and Body are the request sent.
	Header http.Header
	Body   []byte
	// ResponseBody is the receiver's answer (at most 64 KiB of it).
	ResponseBody []byte
	// Time is when the attempt was sent, on the server's clock.
	Time time.Time
	// Duration is how long the attempt took, in real time.
	Duration time.Duration
}

// A WebhookOption configures one webhook given to RegisterWebhook.
type WebhookOption func(*webhookSettings)

type webhookSettings struct {
	events     []string
	secret     string
	inflection string
}

// WithEnabledEvents limits the webhook to the named events: the four
// EventShareToken… constants and EventInquiryCompleted ("*" stands for the
// four Connect events). Without it a webhook receives every Connect event;
// inquiry.completed only goes to a webhook that names it.
func WithEnabledEvents(names ...string) WebhookOption {
	return func(w *webhookSettings) { w.events = append(w.events, names...) }
}

// WithWebhookSecret makes the webhook sign with secret instead of a fresh
// "wbhsec_…" one, for a receiver whose secret is fixed before the webhook
// exists. Persona always makes the secret itself.
func WithWebhookSecret(secret string) WebhookOption {
	return func(w *webhookSettings) { w.secret = secret }
}

// WithWebhookKeyInflection sets the casing of the keys of the webhook's
// deliveries, as Persona's api-key-inflection setting does: InflectionKebab
// ("created-at", the default), InflectionCamel ("createdAt") or
// InflectionSnake ("created_at"). Every key of the body is inflected (the
// event envelope's, the resource's attributes and relationships) except the
// names of fields, which Persona never inflects; no value is, and the
// signature covers the inflected body. RegisterWebhook fails on any other value.
func WithWebhookKeyInflection(inflection string) WebhookOption {
	return func(w *webhookSettings) { w.inflection = inflection }
}

// webhookConfig is the server-wide webhook configuration.
type webhookConfig struct {
	timeout     time.Duration
	schedule    []time.Duration
	scheduleSet bool
	allowed     []string
	tls         *tls.Config
}

// WithWebhookTimeout sets how long a receiver has to answer a delivery
// attempt, in real time, before the attempt counts as failed. The default
// is 5 seconds, as on Persona.
func WithWebhookTimeout(d time.Duration) Option {
	return func(cfg *config) {
		if d > 0 {
			cfg.webhooks.timeout = d
		}
	}
}

// WithWebhookRetrySchedule sets the real-time waits before each retry of a
// failed delivery: a delivery is attempted at most 1+len(delays) times.
// The default is 7 retries after 10ms, 20ms, 40ms, 80ms, 160ms, 320ms and
// 640ms; Persona spreads its 7 retries over about two days. No delays means
// no retries.
func WithWebhookRetrySchedule(delays ...time.Duration) Option {
	return func(cfg *config) {
		cfg.webhooks.schedule = slices.Clone(delays)
		cfg.webhooks.scheduleSet = true
	}
}

// WithWebhookAllowedHosts lets webhooks be registered, and delivered, to
// the named hosts (host names or IP addresses, without port) besides
// loopback ones: for a receiver in another container, say. Without it the
// fake sends nothing off the machine.
func WithWebhookAllowedHosts(hosts ...string) Option {
	return func(cfg *config) { cfg.webhooks.allowed = append(cfg.webhooks.allowed, hosts...) }
}

// WithWebhookTLSConfig sets the TLS configuration of deliveries to https
// URLs, for example RootCAs trusting an httptest.NewTLSServer's
// certificate.
func WithWebhookTLSConfig(c *tls.Config) Option {
	return func(cfg *config) { cfg.webhooks.tls = c }
}

// webhookState is the Server's webhook machinery.
type webhookState struct {
	// Set by initWebhooks, then read only.
	timeout   time.Duration
	schedule  []time.Duration
	allowed   map[string]bool
	transport *http.Transport
	client    *http.Client
	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine of deliveries and wake-ups

	// Guarded by Server.mu.
	closed     bool
	hooks      []*webhook // in registration order
	events     map[string]*webhookEvent
	deliveries []WebhookDelivery
	reported   int           // deliveries[:reported] were looked at by WaitWebhooks
	pending    int           // goroutines that may still deliver something
	idle       chan struct{} // closed while pending is 0
}

type webhook struct {
	id, org, url string
	inflection   string
	secrets      []WebhookSecret // newest first
	events       []string
	createdAt    time.Time
}

type webhookEvent struct {
	id, name, org string
	body          []byte
	hooks         []*webhook // the webhooks it was sent to
}

func (s *Server) initWebhooks(cfg webhookConfig) {
	w := &s.wh
	w.timeout = cfg.timeout
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	w.schedule = slices.Clone(defaultRetrySchedule)
	if cfg.scheduleSet {
		w.schedule = cfg.schedule
	}
	w.allowed = map[string]bool{}
	for _, h := range cfg.allowed {
		w.allowed[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	w.transport = &http.Transport{
		Proxy:               nil, // never through a proxy from the environment
		DialContext:         s.dialWebhook,
		TLSClientConfig:     cfg.tls,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	w.client = &http.Client{
		Transport: w.transport,
		// A redirect is an answer like any other: not a success.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.events = map[string]*webhookEvent{}
	w.idle = make(chan struct{})
	close(w.idle)
}

// closeWebhooks stops every delivery, interrupting attempts in flight and
// waits between retries, and waits for their goroutines to end.
func (s *Server) closeWebhooks() {
	s.mu.Lock()
	s.wh.closed = true
	s.mu.Unlock()
	s.wh.cancel()
	s.wh.wg.Wait()
	s.wh.transport.CloseIdleConnections()
}

// RegisterWebhook registers url to receive org's Connect events, signed
// with a fresh secret (see Webhook.Secret). The URL must be http or https
// on a loopback host (127.0.0.1, ::1 or localhost) unless the host was
// allowed with WithWebhookAllowedHosts: otherwise the error wraps
// ErrWebhookHostNotAllowed. An organization may have several webhooks;
// each receives its own deliveries. It panics when org is not from this
// server.
func (s *Server) RegisterWebhook(org *Organization, rawURL string, opts ...WebhookOption) (Webhook, error) {
	var set webhookSettings
	for _, o := range opts {
		o(&set)
	}
	if err := s.checkWebhookURL(rawURL); err != nil {
		return Webhook{}, err
	}
	events, err := enabledEvents(set.events)
	if err != nil {
		return Webhook{}, err
	}
	inflection, ok := parseInflection(set.inflection)
	if !ok {
		return Webhook{}, fmt.Errorf("connecttest: webhook key inflection %q: must be camel, kebab or snake", set.inflection)
	}
	secret := set.secret
	if secret == "" {
		secret = newWebhookSecret()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.mustOrgLocked(org)
	h := &webhook{id: newID("wbh"), org: o.ID, url: rawURL, events: events, createdAt: s.nowLocked(),
		secrets: []WebhookSecret{{Value: secret}}, inflection: inflection}
	s.wh.hooks = append(s.wh.hooks, h)
	return h.snapshot(), nil
}

// RotateWebhookSecret gives the webhook a fresh current secret, as
// Persona's rotate-secret operation does. The previous current secret
// stays valid for expiresIn on the server's clock (0 or less: it stops at
// once): until then every delivery carries one "t=…,v1=…" group per valid
// secret, space separated, newest first.
func (s *Server) RotateWebhookSecret(id string, expiresIn time.Duration) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.webhookLocked(id)
	if h == nil {
		return Webhook{}, fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	h.rotateLocked(expiresIn, s.nowLocked())
	return h.snapshot(), nil
}

// Webhook returns a snapshot of the webhook with the given id.
func (s *Server) Webhook(id string) (Webhook, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.webhookLocked(id)
	if h == nil {
		return Webhook{}, false
	}
	h.secrets = h.validSecrets(s.nowLocked())
	return h.snapshot(), true
}

// WebhookDeliveries returns a copy of every delivery attempt made so far,
// in the order they finished.
func (s *Server) WebhookDeliveries() []WebhookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.wh.deliveries)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
		out[i].Body = slices.Clone(out[i].Body)
		out[i].ResponseBody = slices.Clone(out[i].ResponseBody)
	}
	return out
}

// WaitWebhooks returns when no delivery is queued, in flight or waiting
// for a retry, or with ctx's error when ctx is done first. It first
// completes the redemptions that are due on the server's clock, so that
// their events are sent, and it keeps waiting for the deliveries that
// deliveries cause (a receiver that redeems on inbound-created, say).
// It does not wait for redemptions that are not yet due on a manual Clock:
// Advance the clock first. After Close it returns nil at once.
//
// When deliveries were given up (every attempt failed) since the last call
// returned, it returns a *WebhookFailuresError naming them, with each
// receiver's last status and the start of its answer, so that a test sees
// why its receiver got nothing.
func (s *Server) WaitWebhooks(ctx context.Context) error {
	for {
		s.mu.Lock()
		if !s.wh.closed {
			s.settleLocked(s.nowLocked())
		}
		if s.wh.pending == 0 {
			defer s.mu.Unlock()
			if s.wh.closed {
				return nil
			}
			return s.unreportedFailuresLocked()
		}
		idle := s.wh.idle
		s.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ResendWebhookEvent delivers an event again, with the same id and body,
// to every webhook it was sent to, with fresh attempt counts: a repeated
// delivery, as Persona may make and as its Dashboard's resend does.
func (s *Server) ResendWebhookEvent(eventID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.wh.events[eventID]
	if ev == nil {
		return fmt.Errorf("%w: event %s", ErrNotFound, eventID)
	}
	if s.wh.closed {
		return errors.New("connecttest: server is closed")
	}
	for _, h := range ev.hooks {
		s.goWebhookLocked(func() { s.runDelivery(ev, h) })
	}
	return nil
}

func (s *Server) webhookLocked(id string) *webhook {
	for _, h := range s.wh.hooks {
		if h.id == id {
			return h
		}
	}
	return nil
}

func (h *webhook) snapshot() Webhook {
	return Webhook{ID: h.id, OrganizationID: h.org, URL: h.url, Secret: h.secrets[0].Value,
		Secrets: slices.Clone(h.secrets), EnabledEvents: slices.Clone(h.events), CreatedAt: h.createdAt,
		KeyInflection: h.inflection}
}

// validSecrets drops the secrets expired at now.
func (h *webhook) validSecrets(now time.Time) []WebhookSecret {
	return slices.DeleteFunc(h.secrets, func(sec WebhookSecret) bool {
		return !sec.ExpiresAt.IsZero() && !now.Before(sec.ExpiresAt)
	})
}

func enabledEvents(names []string) ([]string, error) {
	if len(names) == 0 || slices.Contains(names, "*") {
		return slices.Clone(connectEvents), nil
	}
	var out []string
	for _, n := range names {
		if !slices.Contains(connectEvents, n) && n != EventInquiryCompleted {
			return nil, fmt.Errorf("connecttest: event %q is not a Connect event the fake sends", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// newWebhookSecret returns "wbhsec_" and a random UUID, the shape of
// Persona's secrets.
func newWebhookSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("wbhsec_%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// checkWebhookURL accepts http and https URLs on loopback hosts and on
// the hosts allowed with WithWebhookAllowedHosts.
func (s *Server) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("connecttest: webhook URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("connecttest: webhook URL %q: scheme must be http or https", raw)
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "":
		return fmt.Errorf("connecttest: webhook URL %q has no host", raw)
	case host == "localhost", s.wh.allowed[host]:
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (use 127.0.0.1, ::1 or localhost, or allow the host with WithWebhookAllowedHosts)",
		ErrWebhookHostNotAllowed, raw)
}

// dialWebhook connects to a receiver. Unless the host was allowed by
// name, the address it resolves to must be loopback too, so that a
// "localhost" that resolves elsewhere is refused at the socket.
func (s *Server) dialWebhook(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: s.wh.timeout}
	if !s.wh.allowed[strings.ToLower(host)] {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			h, _, err := net.SplitHostPort(address)
			if ip := net.ParseIP(h); err != nil || ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%w: %s resolves to %s", ErrWebhookHostNotAllowed, host, address)
			}
			return nil
		}
	}
	return d.DialContext(ctx, network, addr)
}

// goWebhookLocked runs fn on a goroutine of its own that WaitWebhooks
// waits for and Close stops.
func (s *Server) goWebhookLocked(fn func()) {
	if s.wh.pending == 0 {
		s.wh.idle = make(chan struct{})
	}
	s.wh.pending++
	s.wh.wg.Add(1)
	go func() {
		defer s.wh.wg.Done()
		defer func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.wh.pending--
			if s.wh.pending == 0 {
				close(s.wh.idle)
			}
		}()
		fn()
	}()
}

// sleepWebhook waits d in real time, and reports false when the server is
// closed first.
func (s *Server) sleepWebhook(d time.Duration) bool {
	if d <= 0 {
		return s.wh.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.wh.ctx.Done():
		return false
	}
}

func (s *Server) hasWebhookLocked(orgID string) bool {
	return slices.ContainsFunc(s.wh.hooks, func(h *webhook) bool { return h.org == orgID })
}

// scheduleCompletionLocked makes a pending redemption complete, and send
// its events, without waiting for the next request: at once when it is
// already due, or after the redeem delay when the clock follows the wall
// clock. On a manual clock a later completion waits for the clock to be
// advanced and the next read (or WaitWebhooks). Nothing is scheduled when
// neither side has a webhook, so that the fake without webhooks runs no
// goroutine of its own.
func (s *Server) scheduleCompletionLocked(t *shareToken) {
	if s.wh.closed || (!s.hasWebhookLocked(t.sourceOrg) && !s.hasWebhookLocked(t.destOrg)) {
		return
	}
	d := t.completeAt.Sub(s.clock.Now())
	if d > 0 && s.clock.manual {
		return
	}
	s.goWebhookLocked(func() {
		if !s.sleepWebhook(d) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.wh.closed {
			s.settleLocked(s.nowLocked())
		}
	})
}

// tokenEventLocked records the events of a share token that was just
// created (what is "created") or redeemed ("redeemed") at the given time,
// and sends them: the outbound event to the source, the inbound one to the
// destination, each with the token as that side sees it.
func (s *Server) tokenEventLocked(t *shareToken, what string, at time.Time) {
	for _, side := range []struct{ org, name, dir string }{
		{t.sourceOrg, "connect/share-token.outbound-" + what, directionOutbound},
		{t.destOrg, "connect/share-token.inbound-" + what, directionInbound},
	} {
		if org := s.orgs[side.org]; org != nil {
			s.emitEventLocked(org.ID, side.name, at, s.tokenViewLocked(t, org, side.dir, false))
		}
	}
}

// eventBody renders Persona's event envelope around a resource.
func eventBody(id, name string, at time.Time, data any) []byte {
	type payload struct {
		Data     any   `json:"data"`
		Included []any `json:"included"`
	}
	type attributes struct {
		Name      string  `json:"name"`
		CreatedAt string  `json:"created-at"`
		Payload   payload `json:"payload"`
	}
	type event struct {
		Type       string     `json:"type"`
		ID         string     `json:"id"`
		Attributes attributes `json:"attributes"`
	}
	b, err := json.Marshal(struct {
		Data event `json:"data"`
	}{event{Type: "event", ID: id, Attributes: attributes{Name: name, CreatedAt: formatTime(at),
		Payload: payload{Data: data, Included: []any{}}}}})
	if err != nil {
		panic("connecttest: encoding a webhook event: " + err.Error())
	}
	return b
}

// signWebhook is the Persona-Signature value for body at ts: one
// "t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">" group per secret, space
// separated. It is written apart from the SDK's signer on purpose, so that
// each checks the other.
func signWebhook(body []byte, ts int64, secrets []WebhookSecret) string {
	t := strconv.FormatInt(ts, 10)
	groups := make([]string, 0, len(secrets))
	for _, sec := range secrets {
		m := hmac.New(sha256.New, []byte(sec.Value))
		m.Write([]byte(t + "."))
		m.Write(body)
		groups = append(groups, "t="+t+",v1="+hex.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(groups, " ")
}

// runDelivery delivers ev to h, retrying on the schedule, and records each
// attempt.
func (s *Server) runDelivery(ev *webhookEvent, h *webhook) {
	body := inflectedEventBody(ev.body, h.inflection)
	total := 1 + len(s.wh.schedule)
	var first int64
	for n := 1; n <= total; n++ {
		if n > 1 && !s.sleepWebhook(s.wh.schedule[n-2]) {
			return
		}
		s.mu.Lock()
		if s.wh.closed {
			s.mu.Unlock()
			return
		}
		now := s.nowLocked()
		h.secrets = h.validSecrets(now)
		sig := signWebhook(body, now.Unix(), h.secrets)
		s.mu.Unlock()
		if n == 1 {
			first = now.Unix()
		}
		hdr := http.Header{}
		hdr.Set("Content-Type", "application/json")
		hdr.Set("User-Agent", webhookUserAgent)
		hdr.Set("Persona-Signature", sig)
		hdr.Set("Persona-Webhook-Attempts-Made", strconv.Itoa(n))
		hdr.Set("Persona-Webhook-Attempts-Left", strconv.Itoa(total-n))
		hdr.Set("Persona-Webhook-First-Attempted-At", strconv.FormatInt(first, 10))
		rec := WebhookDelivery{EventID: ev.id, EventName: ev.name, OrganizationID: ev.org,
			WebhookID: h.id, URL: h.url, Attempt: n, AttemptsLeft: total - n,
			Header: hdr, Body: body, Time: now}
		s.attemptWebhook(&rec)
		switch {
		case rec.Outcome == WebhookDelivered:
		case s.wh.ctx.Err() != nil:
			rec.Outcome = WebhookCanceled
		case n == total:
			rec.Outcome = WebhookFailed
		default:
			rec.Outcome = WebhookRetrying
		}
		s.mu.Lock()
		s.wh.deliveries = append(s.wh.deliveries, rec)
		s.mu.Unlock()
		if rec.Outcome != WebhookRetrying {
			return
		}
	}
}

// attemptWebhook POSTs once and fills in the answer. Success is 200, 201,
// 202 or 204 with the status line received within the timeout.
func (s *Server) attemptWebhook(rec *WebhookDelivery) {
	start := time.Now()
	defer func() { rec.Duration = time.Since(start) }()
	ctx, cancel := context.WithTimeout(s.wh.ctx, s.wh.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.URL, bytes.NewReader(rec.Body))
	if err != nil {
		rec.Err = err.Error()
		return
	}
	req.Header = rec.Header.Clone()
	resp, err := s.wh.client.Do(req)
	if err != nil {
		switch {
		case s.wh.ctx.Err() != nil:
			rec.Err = "server closed"
		case errors.Is(err, context.DeadlineExceeded):
			rec.Err = fmt.Sprintf("no answer within %s", s.wh.timeout)
		default:
			rec.Err = err.Error()
		}
		return
	}
	defer resp.Body.Close()
	rec.Status = resp.StatusCode
	rec.ResponseBody, _ = io.ReadAll(io.LimitReader(resp.Body, maxWebhookResponse))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent:
		rec.Outcome = WebhookDelivered
	}
}

// inflectedEventBody is an event's body (rendered kebab) in the webhook's
// key inflection.
func inflectedEventBody(body []byte, inflection string) []byte {
	if inflection == InflectionKebab || inflection == "" {
		return body
	}
	b, err := inflectJSON(body, inflection)
	if err != nil {
		panic("connecttest: inflecting a webhook event: " + err.Error())
	}
	return b
}
