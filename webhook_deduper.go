package connect

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrWebhookEventInProgress is what a shared [WebhookDeduper]'s Claim
// returns, with false, when another replica holds a live claim on the event:
// it is being handled elsewhere, and may still fail there. The handler then
// answers 409, as it does to a repeat within one process, so that Persona
// delivers the event again later: dropped once it is done, handled if the
// claim lapsed because that replica died. Answering 200 instead would end
// Persona's retries, and a replica that died mid-handling would lose the
// event.
var ErrWebhookEventInProgress = errors.New("connect: webhook event is being handled elsewhere")

// WebhookDeduper remembers which events a webhook handler has handled, so
// that repeated deliveries (Persona retries until it sees 200, 201, 202 or
// 204, and may deliver twice anyway) are handled once. [NewWebhookHandler]
// uses a [NewMemoryDeduper] unless [WithWebhookDeduper] gives one, typically
// backed by a database shared by every replica.
//
// The handler calls Claim before it handles an event, and Release when the
// handling failed (an error or a panic), so that Persona's next delivery is
// handled. Within one process that is all it takes: a claim cannot outlive
// the process that holds it, and the handler answers 409 to a repeat that
// arrives while the event is being handled there.
//
// A store shared by replicas should tell "being handled" from "handled",
// which a deduper does by implementing [WebhookDoneDeduper] as well. An event
// is then in one of three states:
//
//   - free (never seen, or released): Claim takes it;
//   - claimed, for a lease: Claim refuses it, with [ErrWebhookEventInProgress],
//     until the lease runs out, then takes it again, so that a replica that dies mid-handling does not keep
//     the event from ever being handled. The lease should outlast a handling
//     (Persona waits 5 seconds for the answer);
//   - done: Claim refuses it for good, however late the repeat. The store may
//     forget it once Persona has stopped repeating, after about two days.
//
// A shared deduper without Done has only free and claimed: if its claims
// lapse, a repeat after the lease is handled again; if they do not, an event
// whose replica died mid-handling is never handled.
type WebhookDeduper interface {
	// Claim marks eventID as being handled, and reports whether it was
	// free: false when it is claimed or done, which the handler answers
	// with 200 (nothing to do). A shared store returns false with an error
	// wrapping [ErrWebhookEventInProgress] while another replica's claim
	// lasts, which the handler answers with 409 (deliver again later). Any
	// other error answers 500 without handling.
	Claim(ctx context.Context, eventID string) (bool, error)
	// Release forgets a claim whose handling failed, so that Persona's next
	// delivery of the event is handled; a done event must stay done. The
	// handler ignores its error: the event then stays claimed, and its
	// repeats are dropped until the claim lapses, if it can.
	Release(ctx context.Context, eventID string) error
}

// WebhookDoneDeduper is a [WebhookDeduper] whose claims lapse after a lease,
// with the step that makes a claim final: Done. [NewWebhookHandler] calls
// Done when the handle func has returned nil, before it answers, once per
// handled delivery; never after an error or a panic (it calls Release). The
// context it passes is not cancelled with the request's, since the work is
// done by then whether or not Persona still waits for the answer.
//
// When Done fails, the handler still answers 200, and keeps the claim: the
// event was handled, and a 500 would make Persona deliver it again for
// certain, with retries spread over about two days, so most likely after
// the lease has run out, and the repeat would be handled a second time. A 200 ends Persona's
// retries, so that only a duplicate Persona sends on its own after the lease
// is handled again. The handler reports the error nowhere: a Done that wants
// its failures seen logs or counts them itself. A handle func should be safe
// to repeat in any case.
type WebhookDoneDeduper interface {
	WebhookDeduper
	// Done marks eventID handled, claimed or not: Claim refuses it from then
	// on, whatever the lease.
	Done(ctx context.Context, eventID string) error
}

// defaultDedupeTTL outlasts Persona's retries of a delivery (about two days).
const defaultDedupeTTL = 72 * time.Hour

// NewMemoryDeduper returns a [WebhookDeduper] for one process that remembers
// an event id for ttl (Persona retries a delivery for about two days, so
// three days is a sound choice). A ttl of zero or less, which would remember
// nothing, returns a [*ValidationError].
//
// A claim lasts ttl unless released, with no lease and no Done: it dies with
// the process, and the handler knows which events this process is handling
// now, so claimed and done need not differ.
func NewMemoryDeduper(ttl time.Duration) (WebhookDeduper, error) {
	if ttl <= 0 {
		return nil, &ValidationError{Field: "ttl", Reason: "must be positive, got " + ttl.String()}
	}
	return newMemoryDeduper(ttl), nil
}

func newMemoryDeduper(ttl time.Duration) *memoryDeduper {
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
