package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	APIKey       string
	BaseURL      string // empty: Persona's
	ConnectionID string // the active connection to the destination
	// DestinationURL receives POST {"share_token_id": "cnst_…"}.
	DestinationURL  string
	HandOverTimeout time.Duration // 0: 15s
	TokenTTL        time.Duration // 0: Persona's default (14 days)
	Logger          *slog.Logger  // nil: discard
	// HTTPClient sends the hand-over; nil: a fresh client.
	HTTPClient *http.Client
	// ClientOptions are added to the SDK client's (tests shorten retry waits).
	ClientOptions []connect.ClientOption
	// WebhookSecrets, when set, serve POST /webhooks/persona: Persona's
	// inquiry.completed events share the inquiry as the route above does.
	WebhookSecrets []string
}

// maxTokensPerInquiry bounds the chain of replacement tokens one inquiry can
// get after failed hand-overs.
const maxTokensPerInquiry = 10

// shareAttempts is what the service remembers of an inquiry's share tokens.
type shareAttempts struct {
	// attempt is the number in the Idempotency-Key of the inquiry's next
	// create (see shareKey); zero means 1.
	attempt int
	// expired counts the inquiry's tokens found expired, each replaced
	// under the next attempt's key.
	expired int
}

// server is the source-backend's HTTP service.
type server struct {
	client       *connect.Client
	connectionID string
	destination  string
	tokenTTL     time.Duration
	handOverTTL  time.Duration
	http         *http.Client
	log          *slog.Logger
	mux          *http.ServeMux

	mu sync.Mutex
	// shares holds, by inquiry id, the attempt numbers of its creates. A
	// production service keeps them in its database.
	shares map[string]shareAttempts
}

// newServer checks cfg and returns the service's handler. It performs no
// I/O.
func newServer(cfg config) (*server, error) {
	opts := []connect.ClientOption{connect.WithUserAgent("source-backend-example/" + connect.Version)}
	if cfg.BaseURL != "" {
		opts = append(opts, connect.WithBaseURL(cfg.BaseURL))
	}
	client, err := connect.NewClient(cfg.APIKey, append(opts, cfg.ClientOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("persona client: %w", err)
	}
	if cfg.ConnectionID == "" || cfg.DestinationURL == "" {
		return nil, errors.New("config: ConnectionID and DestinationURL are required")
	}
	s := &server{
		client: client, connectionID: cfg.ConnectionID, destination: cfg.DestinationURL,
		tokenTTL: cfg.TokenTTL, handOverTTL: cfg.HandOverTimeout, http: cfg.HTTPClient, log: cfg.Logger,
		shares: make(map[string]shareAttempts),
	}
	if s.handOverTTL <= 0 {
		s.handOverTTL = 15 * time.Second
	}
	if s.http == nil {
		s.http = &http.Client{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /inquiries/{id}/completed", s.handleInquiryCompleted)
	s.mux.HandleFunc("POST /share-tokens/{id}/expire", s.handleExpire)
	if len(cfg.WebhookSecrets) > 0 {
		// The handler's default deduper remembers event ids for 72 hours.
		webhooks, err := connect.NewWebhookHandler(cfg.WebhookSecrets, s.handleEvent)
		if err != nil {
			return nil, fmt.Errorf("webhook handler: %w", err)
		}
		s.mux.Handle("POST /webhooks/persona", webhooks)
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handleInquiryCompleted shares the inquiry: it finds or creates its live
// share token and hands it to the destination.
func (s *server) handleInquiryCompleted(w http.ResponseWriter, r *http.Request) {
	status, body := s.shareInquiry(r.Context(), r.PathValue("id"))
	writeJSON(w, status, body)
}

// handleEvent shares the inquiry of an inquiry.completed event, as
// POST /inquiries/{id}/completed does, and ignores other events. A failure
// Persona could fix by retrying (5xx, network) is returned, so that the
// delivery is retried; a refusal (4xx) is logged and not retried.
func (s *server) handleEvent(ctx context.Context, ev *connect.WebhookEvent) error {
	if ev.Name != connect.EventInquiryCompleted || ev.Object == nil {
		return nil
	}
	if status, body := s.shareInquiry(ctx, ev.Object.ID); status >= 500 {
		return fmt.Errorf("sharing inquiry %s for event %s: %d %+v", ev.Object.ID, ev.ID, status, body)
	}
	return nil
}

// shareInquiry finds or creates the inquiry's live share token, hands it to
// the destination, and returns the outcome as an HTTP status and JSON body.
func (s *server) shareInquiry(ctx context.Context, inquiryID string) (int, any) {
	tok, err := s.liveToken(ctx, inquiryID)
	if err != nil {
		s.log.Warn("share token not created", "inquiry_id", inquiryID, "error", err)
		return errorAnswer(err)
	}
	if tok.Status != connect.ShareTokenStatusCreated {
		// The destination already redeemed it (or is redeeming it): a repeated
		// notification after a hand-over whose answer we lost.
		s.log.Info("share token already with the destination", "inquiry_id", inquiryID, "share_token_id", tok.ID, "status", tok.Status)
		return http.StatusOK, completedBody{InquiryID: inquiryID, ShareTokenID: tok.ID, Status: tok.Status}
	}
	if err := s.handOver(ctx, tok.ID); err != nil {
		expired := s.expireOrphan(ctx, tok.ID)
		s.log.Warn("hand-over failed", "inquiry_id", inquiryID, "share_token_id", tok.ID, "token_expired", expired, "error", err)
		return http.StatusBadGateway, errorBody{
			Error: "hand-over to the destination failed: " + err.Error(), ShareTokenID: tok.ID, TokenExpired: &expired,
		}
	}
	s.log.Info("share token handed over", "inquiry_id", inquiryID, "share_token_id", tok.ID)
	return http.StatusOK, completedBody{InquiryID: inquiryID, ShareTokenID: tok.ID, Status: tok.Status}
}

type completedBody struct {
	InquiryID    string                   `json:"inquiry_id"`
	ShareTokenID string                   `json:"share_token_id"`
	Status       connect.ShareTokenStatus `json:"status"` // as the source saw it before the hand-over
}

// liveToken returns the inquiry's share token that is not expired, creating
// it if needed under the Idempotency-Key "share-<inquiry>-<attempt>", so that
// repeated calls find the same token. The attempt advances when Persona
// refused the create for good (its refusal is stored under the key for 24
// hours) and when the key's token has expired (the next key makes its
// replacement); after anything else the next call repeats the key.
func (s *server) liveToken(ctx context.Context, inquiryID string) (*connect.ShareToken, error) {
	for {
		at := s.shareAttempts(inquiryID)
		if at.expired >= maxTokensPerInquiry {
			return nil, fmt.Errorf("inquiry %s already had %d expired share tokens; not creating another", inquiryID, at.expired)
		}
		tok, err := s.client.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
			ConnectionID: s.connectionID, SourceID: inquiryID, ExpiresIn: s.tokenTTL,
		}, connect.WithIdempotencyKey(shareKey(inquiryID, at.attempt)))
		if err != nil {
			if refusedForGood(err) {
				s.advance(inquiryID, at.attempt, false)
			}
			return nil, err
		}
		// A replayed answer shows the token as created; read what it is now.
		tok, err = s.client.ShareTokens.Get(ctx, tok.ID)
		if err != nil {
			return nil, err
		}
		if tok.Status != connect.ShareTokenStatusExpired {
			s.log.Info("share token ready", "inquiry_id", inquiryID, "share_token_id", tok.ID, "status", tok.Status, "attempt", at.attempt)
			return tok, nil
		}
		s.advance(inquiryID, at.attempt, true)
	}
}

// shareKey is the Idempotency-Key of an inquiry's create attempt.
func shareKey(inquiryID string, attempt int) string {
	return idempotencyKey("share", inquiryID, strconv.Itoa(attempt))
}

// refusedForGood reports whether err is Persona's final answer to the
// request, stored under its Idempotency-Key and replayed to it for 24 hours,
// and a sign that nothing was created: a 4xx other than 408, 409 and 429. A
// 409 is left out because Persona describes it as a conflict with another
// request, which may be one still running under the same key: a new key
// could then make a second token. A 500 is left out for the same reason;
// Persona stores it too, so the inquiry cannot be shared until its key
// expires (or an operator intervenes).
func refusedForGood(err error) bool {
	var apiErr *connect.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	switch code := apiErr.StatusCode; code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	default:
		return code >= 400 && code <= 499
	}
}

// shareAttempts returns what the service remembers of the inquiry.
func (s *server) shareAttempts(inquiryID string) shareAttempts {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.shares[inquiryID]
	at.attempt = max(at.attempt, 1)
	return at
}

// advance records that the key of attempt has its answer: the next create
// uses the following attempt. Concurrent calls that saw the same attempt
// advance it once.
func (s *server) advance(inquiryID string, attempt int, expired bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.shares[inquiryID]
	if at.attempt > attempt {
		return
	}
	at.attempt = attempt + 1
	if expired {
		at.expired++
	}
	s.shares[inquiryID] = at
}

// idempotencyKey joins parts with '-', hashing the result if it would pass
// Persona's limit of 255 characters.
func idempotencyKey(parts ...string) string {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(p)
	}
	if b.Len() <= 255 {
		return b.String()
	}
	sum := sha256.Sum256(b.Bytes())
	return parts[0] + "-" + hex.EncodeToString(sum[:])
}

// handOver posts the token id to the destination. Any answer but 2xx is an
// error.
func (s *server) handOver(ctx context.Context, tokenID string) error {
	ctx, cancel := context.WithTimeout(ctx, s.handOverTTL)
	defer cancel()
	body, err := json.Marshal(map[string]string{"share_token_id": tokenID})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.destination, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("destination answered %s", resp.Status)
	}
	return nil
}

// expireOrphan expires a token whose hand-over failed and reports whether it
// is now expired. It runs even when the caller has gone away. Persona refuses
// when the destination has started redeeming it: then it did arrive.
func (s *server) expireOrphan(ctx context.Context, tokenID string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tok, err := s.client.ShareTokens.Expire(ctx, tokenID)
	if err != nil {
		s.log.Warn("orphan share token not expired", "share_token_id", tokenID, "error", err)
		return false
	}
	s.log.Info("orphan share token expired", "share_token_id", tokenID)
	return tok.Status == connect.ShareTokenStatusExpired
}

// handleExpire expires a token on request (the deal fell through).
func (s *server) handleExpire(w http.ResponseWriter, r *http.Request) {
	tok, err := s.client.ShareTokens.Expire(r.Context(), r.PathValue("id"))
	if err != nil {
		s.log.Warn("share token not expired", "share_token_id", r.PathValue("id"), "error", err)
		writeError(w, err)
		return
	}
	s.log.Info("share token expired", "share_token_id", tok.ID)
	writeJSON(w, http.StatusOK, map[string]any{"share_token_id": tok.ID, "status": tok.Status})
}
