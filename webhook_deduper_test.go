package connect_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	connect "github.com/personaconnect/connect-go"
)

// leaseDeduper is a deduper over a store shared by replicas, as a database
// would be: a claim holds for lease on its clock, and Done ends it for good.
// It records its calls, and whether each came with a live context.
type leaseDeduper struct {
	mu      sync.Mutex
	lease   time.Duration
	now     time.Time // the store's clock; the test moves it
	claims  map[string]time.Time
	done    map[string]bool
	calls   []string // "claim evt_…", "release evt_…", "done evt_…"
	doneErr error
	deadCtx int // calls whose context was already cancelled
}

var _ connect.WebhookDoneDeduper = (*leaseDeduper)(nil)

func newLeaseDeduper(lease time.Duration) *leaseDeduper {
	return &leaseDeduper{lease: lease, now: whNow, claims: map[string]time.Time{}, done: map[string]bool{}}
}

func (d *leaseDeduper) record(ctx context.Context, call string) {
	d.calls = append(d.calls, call)
	if ctx.Err() != nil {
		d.deadCtx++
	}
}

func (d *leaseDeduper) Claim(ctx context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record(ctx, "claim "+id)
	if d.done[id] {
		return false, nil
	}
	if until, ok := d.claims[id]; ok && d.now.Before(until) {
		return false, connect.ErrWebhookEventInProgress
	}
	d.claims[id] = d.now.Add(d.lease)
	return true, nil
}

func (d *leaseDeduper) Release(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record(ctx, "release "+id)
	delete(d.claims, id)
	return nil
}

func (d *leaseDeduper) Done(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record(ctx, "done "+id)
	if d.doneErr != nil {
		return d.doneErr
	}
	d.done[id] = true
	delete(d.claims, id)
	return nil
}

// advance moves the store's clock.
func (d *leaseDeduper) advance(by time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.now = d.now.Add(by)
}

func (d *leaseDeduper) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// reset forgets the calls recorded so far.
func (d *leaseDeduper) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = nil
}

func (d *leaseDeduper) cancelledCalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadCtx
}

func TestWebhookHandlerDoneAfterSuccess(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)
	const id = "evt_INB0CR8ED1"

	t.Run("once, after handle returned nil", func(t *testing.T) {
		d := newLeaseDeduper(time.Minute)
		var log []string
		h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
			log = append(log, "handle") // Done must come after this
			log = append(log, d.log()...)
			return nil
		}, whClock(), connect.WithWebhookDeduper(d))
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, []string{"handle", "claim " + id}, log, "no Done before handle returned")
		assert.Equal(t, []string{"claim " + id, "done " + id}, d.log())

		d.reset()
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, []string{"claim " + id}, d.log(), "a dropped repeat is not marked done again")
		assert.Len(t, log, 2, "the repeat was not handled")
	})
	t.Run("never after an error: Release", func(t *testing.T) {
		d := newLeaseDeduper(time.Minute)
		calls := &webhookCalls{err: func(int) error { return errors.New("database down") }}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))
		assert.Equal(t, http.StatusInternalServerError, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, []string{"claim " + id, "release " + id}, d.log())
	})
	t.Run("never after a panic: Release", func(t *testing.T) {
		d := newLeaseDeduper(time.Minute)
		h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
			panic("boom")
		}, whClock(), connect.WithWebhookDeduper(d))
		assert.PanicsWithValue(t, "boom", func() { deliverWebhook(t, h, http.MethodPost, body, header) })
		assert.Equal(t, []string{"claim " + id, "release " + id}, d.log())
	})
	t.Run("survives a cancelled request", func(t *testing.T) {
		// Persona gives up on the answer after 5 seconds; the work is done
		// by then, and so must be its record.
		d := newLeaseDeduper(time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
			cancel()
			return nil
		}, whClock(), connect.WithWebhookDeduper(d))
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Persona-Signature", header)
		h.ServeHTTP(httptest.NewRecorder(), req)
		assert.Equal(t, []string{"claim " + id, "done " + id}, d.log())
		assert.Zero(t, d.cancelledCalls(), "Done got a live context")
	})
}

// When Done fails after a successful handling the handler answers 200 and
// keeps the claim: Persona stops delivering, and only a repeat it sends
// after the lease anyway is handled again.
func TestWebhookHandlerDoneFails(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)
	const id = "evt_INB0CR8ED1"
	d := newLeaseDeduper(time.Minute)
	d.doneErr = errors.New("database down")
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))

	w := deliverWebhook(t, h, http.MethodPost, body, header)
	assert.Equal(t, http.StatusOK, w.Code, "handled: a 500 would make Persona repeat it")
	assert.NotContains(t, w.Body.String(), "database down")
	assert.Equal(t, []string{"claim " + id, "done " + id}, d.log(), "the claim is kept, not released")

	d.advance(time.Minute - time.Second)
	assert.Equal(t, http.StatusConflict, deliverWebhook(t, h, http.MethodPost, body, header).Code,
		"a repeat within the lease looks like one another replica is handling")
	assert.Equal(t, 1, calls.count(), "a repeat within the lease is not handled")

	d.advance(time.Second)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
	assert.Equal(t, 2, calls.count(), "the claim lapsed: what a failed Done costs")
}

// Two replicas share a lease-based deduper. A repeat while the first
// replica handles the event is answered 409 and not handled; once that replica has died (its
// claim lapsed), a repeat is handled; once handled, no repeat is, however
// late.
func TestWebhookHandlerLeaseAcrossReplicas(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)
	d := newLeaseDeduper(time.Minute)

	entered, stuck := make(chan struct{}), make(chan struct{})
	dying := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
		close(entered)
		<-stuck // the process dies here: it never answers, releases or marks done
		return nil
	}, whClock(), connect.WithWebhookDeduper(d))
	calls := &webhookCalls{}
	other := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))

	dead := make(chan struct{})
	go func() {
		defer close(dead)
		deliverWebhook(t, dying, http.MethodPost, body, header)
	}()
	t.Cleanup(func() { close(stuck); <-dead })
	<-entered

	assert.Equal(t, http.StatusConflict, deliverWebhook(t, other, http.MethodPost, body, header).Code,
		"a repeat while another replica handles the event: deliver it again later")
	assert.Zero(t, calls.count(), "a repeat while another replica handles the event is not handled")

	d.advance(time.Minute)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, other, http.MethodPost, body, header).Code)
	assert.Equal(t, 1, calls.count(), "the dead replica's claim lapsed: the repeat is handled")

	d.advance(48 * time.Hour)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, other, http.MethodPost, body, header).Code)
	assert.Equal(t, 1, calls.count(), "a repeat of a handled event is dropped, whatever the lease")
}
