package connect_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// sharedDeduper stands for a deduper over a table that every replica
// shares: one row per event, holding the end of its claim's lease, or
// marking it done. A map keeps the example self-contained; the SQL is in
// docs/webhooks.md.
type sharedDeduper struct {
	mu    sync.Mutex
	lease time.Duration
	now   func() time.Time
	rows  map[string]time.Time // the claim's lease end; the zero time once done
}

var _ connect.WebhookDoneDeduper = (*sharedDeduper)(nil)

// Claim takes an event no one has: never seen, released, or claimed by a
// replica whose lease ran out. A done event is never taken again; one
// another replica is handling is refused with ErrWebhookEventInProgress.
func (d *sharedDeduper) Claim(_ context.Context, eventID string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until, ok := d.rows[eventID]; ok {
		switch {
		case until.IsZero():
			return false, nil
		case d.now().Before(until):
			return false, connect.ErrWebhookEventInProgress
		}
	}
	d.rows[eventID] = d.now().Add(d.lease)
	return true, nil
}

// Release drops a claim whose handling failed; a done event stays done.
func (d *sharedDeduper) Release(_ context.Context, eventID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if until, ok := d.rows[eventID]; ok && !until.IsZero() {
		delete(d.rows, eventID)
	}
	return nil
}

// Done marks the event handled, for good.
func (d *sharedDeduper) Done(_ context.Context, eventID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows[eventID] = time.Time{}
	return nil
}

// A replica dies while handling an event: the repeat Persona sends while
// the dead replica's claim runs is answered 409 (Persona delivers it again
// later), the one after the claim has lapsed is handled, and, once handled,
// a repeat is dropped with a 200 however late it comes.
func ExampleWebhookDoneDeduper() {
	const secret = "wbhsec_example"
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dedupe := &sharedDeduper{lease: time.Minute, now: clock, rows: map[string]time.Time{}}
	handler, err := connect.NewWebhookHandler([]string{secret}, func(_ context.Context, ev *connect.WebhookEvent) error {
		fmt.Println("handled", ev.ID)
		return nil // then the handler calls dedupe.Done
	}, connect.WithWebhookDeduper(dedupe), connect.WithWebhookClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	payload := `{"data":{"type":"event","id":"evt_EXAMPLE4","attributes":{
		"name":"connect/share-token.inbound-created","created-at":"2025-06-01T12:00:00.000Z",
		"payload":{"data":{"type":"connect/share-token","id":"cnst_EXAMPLE4",
		"attributes":{"status":"created","direction":"inbound"}}}}}}`
	deliver := func(when string) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/persona", strings.NewReader(payload))
		req.Header.Set("Persona-Signature", connect.SignWebhookPayload([]byte(payload), secret, now))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(when+":", rec.Code)
	}

	// Another replica claimed the event, then died before answering.
	if _, err := dedupe.Claim(context.Background(), "evt_EXAMPLE4"); err != nil {
		log.Fatal(err)
	}
	deliver("while claimed")
	now = now.Add(time.Minute) // the dead replica's lease has run out
	deliver("after the lease")
	now = now.Add(48 * time.Hour)
	deliver("two days later")
	// Output:
	// while claimed: 409
	// handled evt_EXAMPLE4
	// after the lease: 200
	// two days later: 200
}
