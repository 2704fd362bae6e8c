package connecttest_test

import (
	"context"
	"fmt"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// A 503 on the next create: the SDK retries it, and the call succeeds on the
// second attempt. WithRetryWait shortens the backoff so that the example
// runs at once.
func ExampleServer_InjectFault() {
	ctx := context.Background()
	srv := connecttest.NewServer()
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, nil)

	source, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL),
		connect.WithRetryWait(time.Millisecond, 10*time.Millisecond))
	if err != nil {
		panic(err)
	}
	defer source.CloseIdleConnections()

	srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", Status: 503})
	var resp connect.Response
	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq},
		connect.WithResponseInto(&resp))
	if err != nil {
		panic(err)
	}

	st := srv.Stats()
	fmt.Println(tok.Status, "after", resp.Attempts, "attempts")
	fmt.Println("faults:", st.Faults, "tokens created:", st.ShareTokensCreated)
	// Output:
	// created after 2 attempts
	// faults: 1 tokens created: 1
}

// The fake redeems the token and then drops the connection without an
// answer, as a network failure after Persona acted would. The SDK retries
// with the call's Idempotency-Key, and the fake replays its first answer
// instead of redeeming twice.
func ExampleServer_InjectFault_dropAfterProcessing() {
	ctx := context.Background()
	srv := connecttest.NewServer()
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})

	newClient := func(org *connecttest.Organization) *connect.Client {
		c, err := connect.NewClient(org.APIKey, connect.WithBaseURL(srv.URL),
			connect.WithRetryWait(time.Millisecond, 10*time.Millisecond))
		if err != nil {
			panic(err)
		}
		return c
	}
	source, dest := newClient(acme), newClient(bank)
	defer source.CloseIdleConnections()
	defer dest.CloseIdleConnections()

	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	if err != nil {
		panic(err)
	}

	srv.InjectFault(connecttest.Fault{Method: "POST",
		PathPrefix: "/connect/share-tokens/" + tok.ID + "/redeem", DropAfterProcessing: true})
	var resp connect.Response
	tok, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey("redeem-"+tok.ID+"-1"),
		connect.WithResponseInto(&resp))
	if err != nil {
		panic(err)
	}

	st := srv.Stats()
	fmt.Println(tok.Status, "after", resp.Attempts, "attempts")
	fmt.Println("dropped:", st.Dropped, "redemptions:", st.Redemptions, "replays:", st.Replays)
	// Output:
	// pending after 2 attempts
	// dropped: 1 redemptions: 1 replays: 1
}
