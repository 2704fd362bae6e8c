package redeem

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
)

// catchUpArgs is the periodic job that reads the Events API back to the
// last event it processed and feeds what webhooks missed (a replica fleet
// that was down, a delivery Persona gave up on) through the webhook's own
// path. Only the elected leader inserts it, at start and then every
// CatchUpInterval.
type catchUpArgs struct{}

func (catchUpArgs) Kind() string { return "catch_up_events" }

// catchUpOverlap is how far before the last processed event each catch-up
// reads again: events created at nearly the same time may be listed out of
// order. The deduper makes re-reading them free of effect.
const catchUpOverlap = time.Minute

// catchUpCursor names the row of redeem_cursors that holds the creation
// time of the newest event a catch-up processed.
const catchUpCursor = "events"

type catchUpWorker struct {
	river.WorkerDefaults[catchUpArgs]
	s *Service
}

func (w *catchUpWorker) Timeout(*river.Job[catchUpArgs]) time.Duration {
	return min(5*time.Minute, w.s.cfg.RescueAfter/2)
}

func (w *catchUpWorker) Work(ctx context.Context, _ *river.Job[catchUpArgs]) error {
	_, err := w.s.catchUp(ctx)
	return err
}

// catchUp reads inbound-created and inbound-redeemed events newer than the
// cursor less catchUpOverlap (on the first run: CatchUpWindow back), newest
// first as the API lists them, and handles them oldest first as a webhook
// delivery would be: claimed in the same deduper, and marked done once
// handled, so that an event a webhook already handled, or is handling, is
// skipped, and one caught up is never handled again. The cursor advances
// only past events handled. It returns how many events it handled.
func (s *Service) catchUp(ctx context.Context) (int, error) {
	last, found, err := s.st.cursor(ctx, catchUpCursor)
	if err != nil {
		return 0, err
	}
	since := s.st.now().Add(-s.cfg.CatchUpWindow)
	if found {
		since = last.Add(-catchUpOverlap)
	}
	var events []*connect.Event
	for ev, err := range s.client.Events.All(ctx, &connect.EventListParams{
		Names:       []string{connect.EventShareTokenInboundCreated, connect.EventShareTokenInboundRedeemed},
		ListOptions: connect.ListOptions{PageSize: 100},
	}) {
		if err != nil {
			return 0, err
		}
		if ev.CreatedAt.Before(since) {
			break
		}
		events = append(events, ev)
	}
	slices.Reverse(events)
	handled, held := 0, false
	for _, ev := range events {
		claimed, err := s.dedupe.Claim(ctx, ev.ID)
		if errors.Is(err, connect.ErrWebhookEventInProgress) {
			// A webhook delivery is being handled on some replica, which
			// may die: the cursor stays before the event, so that the
			// next catch-up reads it again. Later events are handled now.
			held = true
			continue
		}
		if err != nil {
			return handled, err
		}
		if claimed {
			if err := s.handleEvent(ctx, &connect.WebhookEvent{Event: *ev}); err != nil {
				_ = s.dedupe.Release(context.WithoutCancel(ctx), ev.ID)
				return handled, err
			}
			// As the SDK's webhook handler does after a handling: the
			// claim would lapse, done does not.
			if err := s.dedupe.Done(ctx, ev.ID); err != nil {
				return handled, err
			}
			handled++
			s.metrics.caughtUp.Inc()
		}
		if held {
			continue
		}
		if err := s.st.advanceCursor(ctx, catchUpCursor, ev.CreatedAt); err != nil {
			return handled, err
		}
	}
	if handled > 0 {
		s.log.Info("events caught up", "handled", handled, "read", len(events))
	}
	return handled, nil
}
