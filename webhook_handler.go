package connect

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// DefaultWebhookMaxBodySize caps the body [NewWebhookHandler] reads, unless
// [WithWebhookMaxBodySize] sets another cap.
const DefaultWebhookMaxBodySize = 10 << 20

// webhookHandlerConfig is what the WebhookHandlerOptions set.
type webhookHandlerConfig struct {
	verifier    webhookVerifier
	maxBodySize int64
	deduper     WebhookDeduper
}

// NewWebhookHandler returns the [http.Handler] for a service's webhook route.
// It accepts POST only (405 otherwise). It checks the Persona-Signature
// header before reading the body: 400 when it is missing, 401 when it is
// malformed or none of its timestamps is within the tolerance. It then
// reads the body through a cap (413 past it), verifies the signature (401
// when wrong, without saying which secret failed), decodes the event as
// [ParseWebhookEvent] does (400 when malformed) and fills its Delivery from
// the delivery headers. It drops repeated event ids (200 without calling
// handle; 409, so that Persona retries, while the first delivery is still
// being handled in this process), and calls handle with the event.
//
// A nil error from handle answers 200, after marking the event done when
// the deduper is a [WebhookDoneDeduper]; an error answers 500 and releases
// the event's claim, so that Persona delivers the event again later (a panic
// propagates, and the event is still released for that later delivery). Persona waits 5 seconds for
// the answer: handle should hand long work to a queue. Deliveries repeat and
// arrive out of order; order by [Event.CreatedAt] if it matters.
//
// Configuration is checked here, not per request: a nil handle, secrets
// without a non-empty secret, or an invalid option returns a
// [*ValidationError] (matching [ErrInvalidParams]) naming it, and no handler.
// Empty secrets are dropped; secrets is copied.
func NewWebhookHandler(secrets []string, handle func(context.Context, *WebhookEvent) error, opts ...WebhookHandlerOption) (http.Handler, error) {
	if handle == nil {
		return nil, &ValidationError{Field: "handle", Reason: "is nil"}
	}
	var kept []string
	for _, s := range secrets {
		if s != "" {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return nil, &ValidationError{Field: "secrets", Reason: "hold no non-empty webhook secret"}
	}
	cfg := webhookHandlerConfig{verifier: defaultWebhookVerifier(), maxBodySize: DefaultWebhookMaxBodySize}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt.applyToHandler(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.deduper == nil {
		cfg.deduper = newMemoryDeduper(defaultDedupeTTL)
	}
	return &webhookHandler{cfg: cfg, secrets: kept, handle: handle}, nil
}

type webhookHandler struct {
	cfg     webhookHandlerConfig
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
	// The header is checked first so that an unsigned or replayed request
	// costs no body read.
	groups, err := parseSignatureHeader(r.Header.Get("Persona-Signature"))
	if err != nil {
		if errors.Is(err, ErrWebhookNoSignature) {
			http.Error(w, "missing signature", http.StatusBadRequest)
			return
		}
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if !h.cfg.verifier.anyFresh(groups) {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	body, ok := h.readBody(w, r)
	if !ok {
		return
	}
	if err := h.cfg.verifier.verifyGroups(body, groups, h.secrets); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	ev, err := decodeWebhookEvent(body)
	if err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	ev.Delivery = webhookDelivery(r.Header)
	h.dispatch(r.Context(), w, ev)
}

// readBody reads the body through the cap, answering the request itself
// when it cannot.
func (h *webhookHandler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > h.cfg.maxBodySize {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBodySize))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

func (h *webhookHandler) dispatch(ctx context.Context, w http.ResponseWriter, ev *WebhookEvent) {
	if !h.begin(ev.ID) {
		// The first delivery may still fail; a 200 here would tell Persona
		// that the event needs no retry.
		http.Error(w, "event is being handled; retry later", http.StatusConflict)
		return
	}
	defer h.end(ev.ID)
	first, err := h.cfg.deduper.Claim(ctx, ev.ID)
	if errors.Is(err, ErrWebhookEventInProgress) {
		http.Error(w, "event is being handled; retry later", http.StatusConflict)
		return
	}
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
	if d, ok := h.cfg.deduper.(WebhookDoneDeduper); ok {
		// A failure answers 200 all the same and keeps the claim: see
		// WebhookDoneDeduper for why that keeps "handled once" best.
		_ = d.Done(context.WithoutCancel(ctx), ev.ID)
	}
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
