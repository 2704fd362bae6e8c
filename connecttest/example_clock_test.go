package connecttest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// A manual Clock stands still until the test moves it: a token made to
// expire in an hour expires when the clock is advanced by an hour, with no
// waiting. A redemption after that is refused with 422.
func ExampleClock() {
	ctx := context.Background()
	clock := connecttest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := connecttest.NewServer(connecttest.WithClock(clock))
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, nil)

	source, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	defer source.CloseIdleConnections()
	dest, err := connect.NewClient(bank.APIKey, connect.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	defer dest.CloseIdleConnections()

	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: cxn, SourceID: inq, ExpiresIn: time.Hour,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Status, "until", tok.ExpiresAt.Format(time.DateTime))

	clock.Advance(time.Hour)
	tok, err = source.ShareTokens.Get(ctx, tok.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Status, "at", clock.Now().Format(time.DateTime))

	_, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	fmt.Println("redeem refused with 422:", errors.Is(err, connect.ErrUnprocessable))
	// Output:
	// created until 2025-01-01 01:00:00
	// expired at 2025-01-01 01:00:00
	// redeem refused with 422: true
}

// WithRedeemDelay keeps a redemption pending for a while on the server's
// Clock. With a manual Clock the test decides when it completes: Advance,
// then read the token. (ShareTokensService.Wait polls in real time, so on a
// manual clock advance first and then call Get or Wait.)
func ExampleWithRedeemDelay() {
	ctx := context.Background()
	clock := connecttest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := connecttest.NewServer(connecttest.WithClock(clock), connecttest.WithRedeemDelay(5*time.Second))
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})

	source, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	defer source.CloseIdleConnections()
	dest, err := connect.NewClient(bank.APIKey, connect.WithBaseURL(srv.URL))
	if err != nil {
		panic(err)
	}
	defer dest.CloseIdleConnections()

	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inq})
	if err != nil {
		panic(err)
	}
	tok, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("after redeem:", tok.Status)

	clock.Advance(4 * time.Second)
	tok, err = dest.ShareTokens.Get(ctx, tok.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("4s later:", tok.Status)

	clock.Advance(time.Second)
	tok, err = dest.ShareTokens.Wait(ctx, tok.ID) // already due: returns at once
	if err != nil {
		panic(err)
	}
	copied, err := dest.Objects.Get(ctx, tok.Destination)
	if err != nil {
		panic(err)
	}
	clone, _ := srv.Object(copied.ID)
	fmt.Println("5s later:", tok.Status, "into", copied.Type, copied.Status)
	fmt.Println("Bank's copy of Acme's inquiry:", clone.OrganizationID == bank.ID && clone.ClonedFrom == inq)
	// Output:
	// after redeem: pending
	// 4s later: pending
	// 5s later: redeemed into inquiry completed
	// Bank's copy of Acme's inquiry: true
}
