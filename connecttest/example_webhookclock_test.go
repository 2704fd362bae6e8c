package connecttest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// A fake on a manual clock signs its deliveries with that clock's time, so
// the receiver's verifier must read the same clock:
// connect.WithWebhookClock(srv.Clock().Now). Without it the signatures look
// stale, the receiver answers 401, and WaitWebhooks says so.
func ExampleServer_WaitWebhooks_manualClock() {
	clock := connecttest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := connecttest.NewServer(connecttest.WithClock(clock),
		connecttest.WithWebhookRetrySchedule(time.Millisecond)) // 2 attempts, quickly
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	const secret = "wbhsec_example"

	// receiver serves a webhook handler verifying with opts, registered as
	// bank's webhook for inbound-created events.
	var mu sync.Mutex
	var got []string
	var webs []*httptest.Server
	defer func() {
		for _, web := range webs {
			web.Close()
		}
	}()
	receiver := func(opts ...connect.WebhookHandlerOption) {
		h, err := connect.NewWebhookHandler([]string{secret}, func(_ context.Context, ev *connect.WebhookEvent) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev.Name+" "+string(ev.ShareToken.Status))
			return nil
		}, opts...)
		if err != nil {
			panic(err)
		}
		web := httptest.NewServer(h)
		webs = append(webs, web)
		_, err = srv.RegisterWebhook(bank, web.URL, connecttest.WithWebhookSecret(secret),
			connecttest.WithEnabledEvents(connecttest.EventShareTokenInboundCreated))
		if err != nil {
			panic(err)
		}
	}
	share := func() {
		source, _ := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
		defer source.CloseIdleConnections()
		inq := srv.NewInquiry(acme, nil)
		if _, err := source.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq}); err != nil {
			panic(err)
		}
	}

	// Wired to the fake's clock: the event arrives.
	receiver(connect.WithWebhookClock(srv.Clock().Now))
	share()
	fmt.Println("with the clock:", srv.WaitWebhooks(context.Background()), got)

	// A receiver on the wall clock rejects the same kind of delivery, which
	// is signed on 2025-01-01.
	receiver()
	share()
	var failed *connecttest.WebhookFailuresError
	if errors.As(srv.WaitWebhooks(context.Background()), &failed) {
		d := failed.Failures[0]
		fmt.Println("without it:", d.Status, "after", d.Attempt, "attempts")
	}
	// Output:
	// with the clock: <nil> [connect/share-token.inbound-created created]
	// without it: 401 after 2 attempts
}
