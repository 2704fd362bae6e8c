package connect_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// Catching up after downtime: the events a webhook handler missed are read
// from the Events API and fed to the same handler function, through the
// same deduper, so that an event both delivered and listed is handled once.
func ExampleEventsService_All() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv) // Acme's inquiry completes: one inquiry.completed event
	ctx := context.Background()
	d.share(ctx) // and one connect/share-token.outbound-created

	// The service's handler, as given to NewWebhookHandler.
	handle := func(_ context.Context, ev *connect.WebhookEvent) error {
		fmt.Println("handled", ev.Name, ev.Object.Type)
		return nil
	}
	dedupe, err := connect.NewMemoryDeduper(72 * time.Hour)
	if err != nil {
		log.Fatal(err)
	}

	// Back up: read what happened meanwhile. Events come newest first;
	// handle them oldest first.
	var missed []*connect.Event
	for ev, err := range d.source.Events.All(ctx, &connect.EventListParams{
		Names: []string{connect.EventInquiryCompleted, connect.EventShareTokenOutboundCreated},
	}) {
		if err != nil {
			log.Fatal(err)
		}
		missed = append(missed, ev)
	}
	for _, ev := range slices.Backward(missed) {
		for range 2 { // a repeat (a late delivery, say) is skipped
			if first, err := dedupe.Claim(ctx, ev.ID); err != nil || !first {
				continue
			}
			if err := handle(ctx, &connect.WebhookEvent{Event: *ev}); err != nil {
				_ = dedupe.Release(ctx, ev.ID) // handled again next time
			}
		}
	}
	// Output:
	// handled inquiry.completed inquiry
	// handled connect/share-token.outbound-created connect/share-token
}

// One event, by the id a delivery or a log line gave.
func ExampleEventsService_Get() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	page, err := d.source.Events.List(ctx, &connect.EventListParams{ObjectIDs: []string{d.inquiryID}})
	if err != nil {
		log.Fatal(err)
	}
	ev, err := d.source.Events.Get(ctx, page.Data[0].ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Name, ev.Object.ID == d.inquiryID, ev.CreatedAt.Format(time.RFC3339))
	// Output:
	// inquiry.completed true 2025-06-01T12:00:00Z
}

// The destination reads the copy a redemption made: the token's
// Destination is the reference Objects.Get takes.
func ExampleObjectsService_Get() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)
	if _, err := d.dest.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey("redeem-"+tokenID)); err != nil {
		log.Fatal(err)
	}
	tok, err := d.dest.ShareTokens.Wait(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}

	obj, err := d.dest.Objects.Get(ctx, tok.Destination)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Type, obj.ID == tok.Destination.ID, obj.Status)
	fmt.Println(string(obj.Attributes["fields"]))
	// Output:
	// inquiry true completed
	// {"name-first":{"type":"string","value":"Ada"},"name-last":{"type":"string","value":"Lovelace"}}
}

// Rotating a webhook's secret while keeping the old one valid for an hour,
// long enough to give every receiver the new one.
func ExampleWebhooksService_RotateSecret() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	wh, err := srv.RegisterWebhook(d.acme, "http://127.0.0.1:8081/webhooks/persona")
	if err != nil {
		log.Fatal(err)
	}

	rotated, err := d.source.Webhooks.RotateSecret(context.Background(), wh.ID,
		&connect.WebhookRotateSecretParams{OldSecretExpiresIn: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rotated.CurrentSecret() != wh.Secret, len(rotated.Secrets))
	fmt.Println(rotated.Secrets[1]) // secrets never print
	// Receivers accept both until the old one expires:
	if _, err := connect.NewWebhookHandler([]string{rotated.Secrets[0].Value, rotated.Secrets[1].Value},
		func(context.Context, *connect.WebhookEvent) error { return nil }); err != nil {
		log.Fatal(err)
	}
	// Output:
	// true 2
	// connect.WebhookSecret{Value: [redacted], ExpiresAt: 2025-06-01T13:00:00Z}
}
