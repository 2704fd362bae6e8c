package connecttest_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// A receiver built with connect.NewWebhookHandler, registered as the
// destination's webhook: creating a share token makes the fake POST a signed
// inbound-created event to it. ResendWebhookEvent delivers the same event
// again, as Persona may, and the handler answers the repeat 200 without
// calling its func a second time. The fake's default clock follows the wall
// clock, so the handler verifies signatures with no clock option.
func ExampleServer_RegisterWebhook() {
	ctx := context.Background()
	srv := connecttest.NewServer()
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})

	// Bank's receiver records the tokens it is told about.
	const secret = "wbhsec_example"
	var mu sync.Mutex
	var handled []string
	h, err := connect.NewWebhookHandler([]string{secret}, func(_ context.Context, ev *connect.WebhookEvent) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, ev.Name+" "+string(ev.ShareToken.Status))
		return nil
	})
	if err != nil {
		panic(err)
	}
	receiver := httptest.NewServer(h)
	defer receiver.Close()
	_, err = srv.RegisterWebhook(bank, receiver.URL+"/webhooks/persona",
		connecttest.WithWebhookSecret(secret),
		connecttest.WithEnabledEvents(connecttest.EventShareTokenInboundCreated))
	if err != nil {
		panic(err)
	}

	// Acme shares the inquiry; the fake delivers inbound-created to Bank.
	source, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	defer source.CloseIdleConnections()
	if _, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq}); err != nil {
		panic(err)
	}
	if err := srv.WaitWebhooks(ctx); err != nil { // every delivery answered: no sleeping
		panic(err)
	}

	// Persona may deliver an event twice; the handler's deduper drops it.
	first := srv.WebhookDeliveries()[0]
	if err := srv.ResendWebhookEvent(first.EventID); err != nil {
		panic(err)
	}
	if err := srv.WaitWebhooks(ctx); err != nil {
		panic(err)
	}

	for _, d := range srv.WebhookDeliveries() {
		fmt.Println(d.EventName, "attempt", d.Attempt, "answered", d.Status, d.EventID == first.EventID)
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Println("handled:", handled)
	// Output:
	// connect/share-token.inbound-created attempt 1 answered 200 true
	// connect/share-token.inbound-created attempt 1 answered 200 true
	// handled: [connect/share-token.inbound-created created]
}
