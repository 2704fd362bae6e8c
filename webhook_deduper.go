package connect

import (
	"context"
	"sync"
	"time"
)

// WebhookDeduper remembers which events a webhook handler has handled, so
// that repeated deliveries (Persona retries until it sees 200, 201, 202 or
// 204, and may deliver twice anyway) are handled once. [NewWebhookHandler]
// uses a [NewMemoryDeduper] unless [WithWebhookDeduper] gives one, typically
// backed by a database shared by every replica: Claim is then an insert that
// fails when the id is there, and Release a delete.
type WebhookDeduper interface {
	// Claim marks eventID as being handled. It returns false when the event
	// was already claimed, by this process or (for a shared store) another.
	Claim(ctx context.Context, eventID string) (bool, error)
	// Release forgets a claim whose handling failed, so that Persona's next
	// delivery of the event is handled.
	Release(ctx context.Context, eventID string) error
}

// defaultDedupeTTL outlasts Persona's retries of a delivery (about two days).
const defaultDedupeTTL = 72 * time.Hour

// NewMemoryDeduper returns a [WebhookDeduper] for one process that remembers
// an event id for ttl (Persona retries a delivery for about two days, so
// three days is a sound choice). A ttl of zero or less, which would remember
// nothing, returns a [*ValidationError].
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
