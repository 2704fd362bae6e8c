package connect

import (
	"strconv"
	"time"
)

// A WebhookOption adjusts how a webhook's signature is verified. It applies
// to [VerifyWebhookSignature], [ParseWebhookEvent] and [NewWebhookHandler].
// The options are [WithWebhookTolerance] and [WithWebhookClock].
type WebhookOption interface {
	WebhookHandlerOption
	applyToVerifier(*webhookVerifier) error
}

// A WebhookHandlerOption adjusts the handler [NewWebhookHandler] builds.
// Every [WebhookOption] is one; [WithWebhookMaxBodySize] and
// [WithWebhookDeduper] apply to the handler only, so the compiler refuses them
// where nothing would use them ([VerifyWebhookSignature],
// [ParseWebhookEvent]).
type WebhookHandlerOption interface {
	applyToHandler(*webhookHandlerConfig) error
}

// verifierOption is a WebhookOption: it sets the verifier alone or the
// handler's verifier.
type verifierOption func(*webhookVerifier) error

func (o verifierOption) applyToVerifier(v *webhookVerifier) error { return o(v) }

func (o verifierOption) applyToHandler(c *webhookHandlerConfig) error { return o(&c.verifier) }

// handlerOption is a WebhookHandlerOption that only a handler has use for.
type handlerOption func(*webhookHandlerConfig) error

func (o handlerOption) applyToHandler(c *webhookHandlerConfig) error { return o(c) }

// WithWebhookTolerance sets how far a signature's timestamp may be from now,
// in either direction (default [DefaultWebhookTolerance], 5 minutes). A
// tolerance of zero or less is refused: [NewWebhookHandler] returns an error,
// and [VerifyWebhookSignature] and [ParseWebhookEvent] return one for every
// delivery, accepting none.
func WithWebhookTolerance(d time.Duration) WebhookOption {
	return verifierOption(func(v *webhookVerifier) error {
		if d <= 0 {
			return &ValidationError{Field: "WithWebhookTolerance", Reason: "must be positive, got " + d.String()}
		}
		v.tolerance = d
		return nil
	})
}

// WithWebhookClock replaces [time.Now] for the tolerance check, for tests. A
// nil clock is refused as WithWebhookTolerance(0) is. A receiver of
// connecttest's deliveries on a manual clock verifies with
// WithWebhookClock(srv.Clock().Now), since the fake signs on its own clock.
func WithWebhookClock(now func() time.Time) WebhookOption {
	return verifierOption(func(v *webhookVerifier) error {
		if now == nil {
			return &ValidationError{Field: "WithWebhookClock", Reason: "clock is nil"}
		}
		v.now = now
		return nil
	})
}

// WithWebhookMaxBodySize caps the body [NewWebhookHandler] reads (default
// [DefaultWebhookMaxBodySize], 10 MiB); a longer one is answered 413. Zero or
// less makes NewWebhookHandler return an error.
func WithWebhookMaxBodySize(n int64) WebhookHandlerOption {
	return handlerOption(func(c *webhookHandlerConfig) error {
		if n <= 0 {
			return &ValidationError{Field: "WithWebhookMaxBodySize", Reason: "must be positive, got " + strconv.FormatInt(n, 10)}
		}
		c.maxBodySize = n
		return nil
	})
}

// WithWebhookDeduper makes [NewWebhookHandler] drop repeated deliveries with
// d, typically backed by the service's own database and then, with claims
// that lapse, a [WebhookDoneDeduper]. Without it the handler uses a
// [NewMemoryDeduper] of 72 hours, which only sees one process's deliveries.
// A nil d makes NewWebhookHandler return an error.
func WithWebhookDeduper(d WebhookDeduper) WebhookHandlerOption {
	return handlerOption(func(c *webhookHandlerConfig) error {
		if d == nil {
			return &ValidationError{Field: "WithWebhookDeduper", Reason: "deduper is nil"}
		}
		c.deduper = d
		return nil
	})
}
