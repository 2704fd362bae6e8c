package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// config is what the service needs; main fills it from flags and the
// environment, tests from connecttest.
type config struct {
	APIKey  string
	BaseURL string // empty: Persona's
	// WebhookSecrets verify Persona-Signature; several during a rotation.
	WebhookSecrets []string
	// WaitTimeout bounds the wait for a redemption to finish (0: 10s).
	WaitTimeout time.Duration
	Logger      *slog.Logger // nil: discard
	// ClientOptions are added to the SDK client's (tests shorten retry waits).
	ClientOptions []connect.ClientOption
	// WebhookOptions are passed to connect.NewWebhookHandler.
	WebhookOptions []connect.WebhookHandlerOption
}

// errShuttingDown refuses new work once Shutdown has begun.
var errShuttingDown = errors.New("redeem-service is shutting down")

// service is the redeem-service: its HTTP routes, and the redemptions it
// runs in the background, bounded by its lifetime context.
type service struct {
	client      *connect.Client
	log         *slog.Logger
	waitTimeout time.Duration
	mux         *http.ServeMux

	ctx    context.Context // the service's lifetime, cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // one count per running redemption

	mu          sync.Mutex
	closing     bool
	redemptions map[string]*redemption // by token id: running, or finished for good
}

// redemption is one attempt at redeeming a token. result and err are set
// before done is closed.
type redemption struct {
	tokenID string
	done    chan struct{}
	result  outcome
	err     error
}

// final reports whether a finished redemption's answer stands for good:
// the token reached a terminal state. Errors and a redemption still pending
// are tried again on the next request.
func (r *redemption) final() bool { return r.err == nil && r.result.Status.Terminal() }

// outcome is what the service reports about a token.
type outcome struct {
	ShareTokenID  string                   `json:"share_token_id"`
	Status        connect.ShareTokenStatus `json:"status"`
	Destination   *connect.ResourceRef     `json:"destination"`
	FailureReason *connect.FailureReason   `json:"failure_reason"`
}

func newOutcome(tok *connect.ShareToken) outcome {
	o := outcome{ShareTokenID: tok.ID, Status: tok.Status, Destination: tok.Destination}
	if tok.FailureReason != "" {
		o.FailureReason = &tok.FailureReason
	}
	return o
}

// newService checks cfg and returns the service. It performs no I/O. Call
// Shutdown when done.
func newService(cfg config) (*service, error) {
	opts := []connect.ClientOption{connect.WithUserAgent("redeem-service-example/" + connect.Version)}
	if cfg.BaseURL != "" {
		opts = append(opts, connect.WithBaseURL(cfg.BaseURL))
	}
	client, err := connect.NewClient(cfg.APIKey, append(opts, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("persona client: %w", err)
	}
	s := &service{client: client, log: cfg.Logger, waitTimeout: cfg.WaitTimeout, redemptions: make(map[string]*redemption)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.waitTimeout <= 0 {
		s.waitTimeout = 10 * time.Second
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /share-tokens", s.handleShareToken)
	webhooks, err := connect.NewWebhookHandler(cfg.WebhookSecrets, s.handleEvent, cfg.WebhookOptions...)
	if err != nil {
		return nil, fmt.Errorf("webhook handler: %w", err)
	}
	s.mux.Handle("/webhooks/persona", webhooks)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s, nil
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handleShareToken redeems the token the source handed over, waits for the
// outcome and reports it.
func (s *service) handleShareToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ShareTokenID string `json:"share_token_id"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "body must be JSON: " + err.Error()})
		return
	}
	if in.ShareTokenID == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "share_token_id is required", Field: "share_token_id"})
		return
	}
	rd, err := s.redeem(in.ShareTokenID)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
		return
	}
	select {
	case <-rd.done:
	case <-r.Context().Done():
		return // the caller left; the redemption goes on
	}
	writeRedemption(w, rd)
}

// writeRedemption answers a finished redemption: 200 redeemed, 422 failed or
// expired, 202 still pending, or the error's status.
func writeRedemption(w http.ResponseWriter, rd *redemption) {
	var verr *connect.ValidationError
	if errors.As(rd.err, &verr) {
		// The only parameter is the token id.
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "share_token_id " + verr.Reason, Field: "share_token_id"})
		return
	}
	if rd.err != nil {
		writeError(w, rd.err)
		return
	}
	status := http.StatusAccepted
	switch rd.result.Status {
	case connect.ShareTokenStatusRedeemed:
		status = http.StatusOK
	case connect.ShareTokenStatusFailed, connect.ShareTokenStatusExpired:
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, rd.result)
}

// handleEvent is the webhook handler's callback: it starts the redemption of
// an inbound-created token and returns at once, and ignores other events.
// An error (only while shutting down) makes the webhook answer 500, so that
// Persona delivers the event again.
func (s *service) handleEvent(_ context.Context, ev *connect.WebhookEvent) error {
	if ev.Name != connect.EventShareTokenInboundCreated {
		s.log.Info("webhook event ignored", "event_id", ev.ID, "event", ev.Name)
		return nil
	}
	if ev.ShareToken == nil {
		s.log.Warn("webhook event without a share token ignored", "event_id", ev.ID, "event", ev.Name)
		return nil
	}
	if _, err := s.redeem(ev.ShareToken.ID); err != nil {
		return err
	}
	s.log.Info("webhook event accepted", "event_id", ev.ID, "event", ev.Name, "share_token_id", ev.ShareToken.ID)
	return nil
}

// redeem returns the redemption of tokenID: the one running or finished for
// good, or a new one started in the background.
func (s *service) redeem(tokenID string) (*redemption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, errShuttingDown
	}
	if rd, ok := s.redemptions[tokenID]; ok {
		return rd, nil
	}
	rd := &redemption{tokenID: tokenID, done: make(chan struct{})}
	s.redemptions[tokenID] = rd
	s.wg.Add(1)
	go s.run(rd)
	return rd, nil
}

// run performs one redemption and publishes its result. A result that is not
// final is forgotten, so that the next request tries again.
func (s *service) run(rd *redemption) {
	defer s.wg.Done()
	rd.result, rd.err = s.redeemAndWait(s.ctx, rd.tokenID)
	s.mu.Lock()
	if !rd.final() {
		delete(s.redemptions, rd.tokenID)
	}
	s.mu.Unlock()
	close(rd.done)
	s.logResult(rd)
}

// redeemAndWait clones the token's source into this organization, exactly
// once, and waits for the outcome.
func (s *service) redeemAndWait(ctx context.Context, tokenID string) (outcome, error) {
	_, err := s.client.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey("redeem-"+tokenID))
	switch {
	case errors.Is(err, connect.ErrConflict):
		// Redeemed before: only this organization can redeem it, so by an
		// earlier run whose idempotency key Persona no longer keeps.
		s.log.Info("share token was redeemed before; reading its state", "share_token_id", tokenID)
	case err != nil:
		return outcome{}, err
	default:
		s.log.Info("redemption started", "share_token_id", tokenID)
	}
	waitCtx, cancel := context.WithTimeout(ctx, s.waitTimeout)
	defer cancel()
	tok, err := s.client.ShareTokens.Wait(waitCtx, tokenID)
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		return outcome{ShareTokenID: tokenID, Status: connect.ShareTokenStatusPending}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	return newOutcome(tok), nil
}

func (s *service) logResult(rd *redemption) {
	o := rd.result
	switch {
	case rd.err != nil:
		s.log.Warn("redemption error", "share_token_id", rd.tokenID, "error", rd.err)
	case o.Status == connect.ShareTokenStatusRedeemed && o.Destination != nil:
		s.log.Info("share token redeemed", "share_token_id", o.ShareTokenID, "destination_type", o.Destination.Type, "destination_id", o.Destination.ID)
	case o.FailureReason != nil:
		s.log.Warn("redemption failed", "share_token_id", o.ShareTokenID, "status", o.Status, "failure_reason", *o.FailureReason)
	default:
		s.log.Info("redemption not finished", "share_token_id", o.ShareTokenID, "status", o.Status)
	}
}

// Await waits for the redemption of tokenID that is running or finished for
// good, and returns its result. It fails when there is none (never started,
// or ended without a final answer) or ctx ends first. Tests use it to wait
// for the redemptions webhooks start.
func (s *service) Await(ctx context.Context, tokenID string) (outcome, error) {
	s.mu.Lock()
	rd, ok := s.redemptions[tokenID]
	s.mu.Unlock()
	if !ok {
		return outcome{}, fmt.Errorf("no redemption of %s running or finished", tokenID)
	}
	select {
	case <-rd.done:
		return rd.result, rd.err
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
}

// Shutdown stops accepting redemptions, waits for those running until ctx
// ends, then cancels the rest and waits for them to return. No goroutine of
// the service outlives it. It returns ctx's error if it had to cancel.
func (s *service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		s.log.Warn("cancelling redemptions still running")
	}
	s.cancel()
	<-idle
	s.client.CloseIdleConnections()
	return err
}
