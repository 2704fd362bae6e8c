package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
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
	// WaitOptions are passed to ShareTokens.Wait (tests poll more often
	// than Persona's redemptions, which take seconds, call for).
	WaitOptions []connect.RequestOption
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
	waitOpts    []connect.RequestOption
	mux         *http.ServeMux

	ctx    context.Context // the service's lifetime, cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // one count per running redemption

	mu          sync.Mutex
	closing     bool
	redemptions map[string]*redemption // by token id: running, or finished for good
	// attempts holds, by token id, the attempt number in the token's
	// Idempotency-Key (see redeemKey); absent means 1. A production service
	// keeps it in its database, with the record of the tokens it handled.
	attempts map[string]int
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
	s := &service{client: client, log: cfg.Logger, waitTimeout: cfg.WaitTimeout, waitOpts: cfg.WaitOptions, redemptions: make(map[string]*redemption), attempts: make(map[string]int)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.waitTimeout <= 0 {
		s.waitTimeout = 10 * time.Second
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /share-tokens", s.handleShareToken)
	if len(cfg.WebhookSecrets) > 0 {
		webhooks, err := connect.NewWebhookHandler(cfg.WebhookSecrets, s.handleEvent, cfg.WebhookOptions...)
		if err != nil {
			return nil, fmt.Errorf("webhook handler: %w", err)
		}
		s.mux.Handle("/webhooks/persona", webhooks)
	} else {
		// Hand-overs alone still work; deliveries get 404 until a secret is set.
		s.log.Info("webhooks off: PERSONA_WEBHOOK_SECRETS is empty")
	}
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
	attempt := s.attempt(tokenID)
	_, err := s.client.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey(redeemKey(tokenID, attempt)))
	if err != nil {
		if !storedUnderKey(err) {
			// Unknown outcome (transport error, 429, 502-504): the next run
			// repeats this key and gets Persona's answer to this attempt.
			return outcome{}, err
		}
		s.advance(tokenID, attempt)
		return s.afterRefusal(ctx, tokenID, err)
	}
	s.log.Info("redemption started", "share_token_id", tokenID, "attempt", attempt)
	return s.wait(ctx, tokenID)
}

// afterRefusal settles a redeem that Persona refused. The token's state
// decides: still created means the refusal stands (the next run tries a new
// key); otherwise the token was redeemed (only this organization can
// redeem it, so by an earlier attempt of ours; a 409 says so) and its state
// is adopted. That also covers a refusal stored under a key of an earlier
// attempt that this process no longer knows came before a later success.
func (s *service) afterRefusal(ctx context.Context, tokenID string, refusal error) (outcome, error) {
	tok, err := s.client.ShareTokens.Get(ctx, tokenID)
	if err != nil || tok.Status == connect.ShareTokenStatusCreated {
		return outcome{}, refusal
	}
	s.log.Info("share token was redeemed before; adopting its state", "share_token_id", tokenID, "status", tok.Status, "refusal", refusal)
	if tok.Status.Terminal() {
		return newOutcome(tok), nil
	}
	return s.wait(ctx, tokenID)
}

// wait waits up to the service's wait timeout for a redemption to finish; a
// redemption still running then is reported pending.
func (s *service) wait(ctx context.Context, tokenID string) (outcome, error) {
	waitCtx, cancel := context.WithTimeout(ctx, s.waitTimeout)
	defer cancel()
	tok, err := s.client.ShareTokens.Wait(waitCtx, tokenID, s.waitOpts...)
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		return outcome{ShareTokenID: tokenID, Status: connect.ShareTokenStatusPending}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	return newOutcome(tok), nil
}

// redeemKey is the Idempotency-Key of a token's redemption attempt. Persona
// stores its first answer to a key for 24 hours, refusals included, so a key
// made of the token id alone would repeat a refusal for a day after its cause
// (an inactive connection, say) was fixed; the attempt number moves past it.
func redeemKey(tokenID string, attempt int) string {
	return "redeem-" + tokenID + "-" + strconv.Itoa(attempt)
}

// storedUnderKey reports whether err is an answer Persona stores under the
// Idempotency-Key and would only replay to the same key: a 4xx other than 408
// and 429 (it refused the request for good) or a 500. A new key is safe
// after either even if the attempt did start a redemption: Persona refuses a
// second one with 409. A call whose repeat could act twice, such as Create,
// must keep its key after a 500.
func storedUnderKey(err error) bool {
	var apiErr *connect.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	switch code := apiErr.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return false
	case code >= 400 && code <= 499, code == http.StatusInternalServerError:
		return true
	}
	return false
}

// attempt returns the attempt number of tokenID's next redemption.
func (s *service) attempt(tokenID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.attempts[tokenID], 1)
}

// advance records that attempt's key has an answer stored: the next run
// uses the following one. Advancing from an attempt already passed changes
// nothing.
func (s *service) advance(tokenID string, attempt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[tokenID] = max(s.attempts[tokenID], attempt+1)
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
