package connect_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// The examples run against connecttest, the SDK's in-memory fake of the
// Connect API. In production, drop WithBaseURL and pass Persona's API key.

// exampleStart is the time the examples' fake clocks read.
var exampleStart = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// exampleClock returns a fake server option that stops its clock at
// exampleStart, so that the times the examples print never change.
func exampleClock() connecttest.Option {
	return connecttest.WithClock(connecttest.NewClock(exampleStart))
}

// demo is the setup most examples share: a source organization (Acme KYC)
// and a destination (Bank), a client for each, an active connection from
// Acme to Bank and a completed inquiry of Acme's.
type demo struct {
	acme, bank   *connecttest.Organization
	source, dest *connect.Client // authenticated as acme and bank
	connectionID string
	inquiryID    string // Ada Lovelace's inquiry, owned by acme
}

func newDemo(srv *connecttest.Server) *demo {
	d := &demo{acme: srv.NewOrganization("Acme KYC"), bank: srv.NewOrganization("Bank")}
	d.source = newExampleClient(srv, d.acme)
	d.dest = newExampleClient(srv, d.bank)
	d.connectionID = srv.NewActiveConnection(d.acme, d.bank)
	d.inquiryID = srv.NewInquiry(d.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	return d
}

// newExampleClient returns a client for org on srv, with short retry waits
// so that a retried request costs the examples no time.
func newExampleClient(srv *connecttest.Server, org *connecttest.Organization) *connect.Client {
	c, err := connect.NewClient(org.APIKey,
		connect.WithBaseURL(srv.URL),
		connect.WithRetryWait(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		panic(err)
	}
	return c
}

// share makes the source create a share token for the demo inquiry and
// returns its id, as the source would hand it to the destination.
func (d *demo) share(ctx context.Context) string {
	tok, err := d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
	})
	if err != nil {
		panic(err)
	}
	return tok.ID
}

// The whole share flow: the source shares an inquiry, the destination peeks,
// redeems it into a copy of its own and waits for the copy.
func Example() {
	srv := connecttest.NewServer(connecttest.WithRedeemDelay(20 * time.Millisecond))
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()

	// Source side: share the completed inquiry over the connection.
	tok, err := d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
		ExpiresIn:    24 * time.Hour,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("source:", tok.Direction, tok.Status)
	tokenID := tok.ID // handed to the destination by any channel

	// Destination side: look first, then redeem exactly once and wait.
	peek, err := d.dest.ShareTokens.Peek(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("peek:", peek.SourceData.Type)

	tok, err = d.dest.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey("redeem-"+tokenID))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("destination:", tok.Direction, tok.Status)
	// The fake redeems within 20ms, so poll often; against Persona, which
	// takes seconds, Wait's default schedule suits.
	tok, err = d.dest.ShareTokens.Wait(ctx, tokenID, connect.WithPollInterval(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("destination:", tok.Status, tok.RedeemMode, "into a new", tok.Destination.Type)

	copied, _ := srv.Object(tok.Destination.ID)
	fmt.Println("copy owned by Bank:", copied.OrganizationID == d.bank.ID, copied.Fields["name-first"], copied.Fields["name-last"])
	// Output:
	// source: outbound created
	// peek: connect/source-data/inquiry
	// destination: inbound pending
	// destination: redeemed clone into a new inquiry
	// copy owned by Bank: true Ada Lovelace
}

func ExampleNewClient() {
	srv := connecttest.NewServer()
	defer srv.Close()
	acme := srv.NewOrganization("Acme KYC")

	// NewClient does no I/O; in production, drop WithBaseURL.
	client, err := connect.NewClient(acme.APIKey,
		connect.WithBaseURL(srv.URL),
		connect.WithUserAgent("acme-kyc/1.4"),
		connect.WithTimeout(10*time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	page, err := client.Connections.List(context.Background(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("connections:", len(page.Data))

	// A bad option fails NewClient, never the first call.
	_, err = connect.NewClient(acme.APIKey, connect.WithBaseURL("http://api.example.com/api/v1"))
	fmt.Println(errors.Is(err, connect.ErrInvalidParams))
	// Output:
	// connections: 0
	// true
}

func ExampleShareTokensService_Create() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)

	tok, err := d.source.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
		ExpiresIn:    48 * time.Hour, // zero means Persona's default, 14 days
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(tok.ID, "cnst_"), tok.Status, tok.Direction)
	fmt.Println("created:", tok.CreatedAt.Format(time.RFC3339))
	fmt.Println("expires:", tok.ExpiresAt.Format(time.RFC3339))
	fmt.Println("source:", tok.Source.Type, tok.Source.ID == d.inquiryID)
	fmt.Println("connection:", tok.Connection.Type, tok.Connection.ID == d.connectionID)
	// Output:
	// true created outbound
	// created: 2025-06-01T12:00:00Z
	// expires: 2025-06-03T12:00:00Z
	// source: inquiry true
	// connection: connect/connection true
}

func ExampleShareTokensService_Get() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)

	// Each side sees the token from where it stands.
	mine, err := d.source.ShareTokens.Get(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	theirs, err := d.dest.ShareTokens.Get(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Acme:", mine.Direction, mine.Status, "source shown:", mine.Source != nil)
	fmt.Println("Bank:", theirs.Direction, theirs.Status, "source shown:", theirs.Source != nil)
	fmt.Println("expires:", theirs.ExpiresAt.Format(time.RFC3339))
	// Output:
	// Acme: outbound created source shown: true
	// Bank: inbound created source shown: false
	// expires: 2025-06-15T12:00:00Z
}

func ExampleShareTokensService_Peek() {
	// The fake shows every field by presence only, unless told otherwise,
	// as a source organization configures its peek in Persona.
	srv := connecttest.NewServer(connecttest.WithPeekFullFields("name-first"))
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)

	tok, err := d.dest.ShareTokens.Peek(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.SourceData.Type)
	status := tok.SourceData.Attributes["status"]
	fmt.Printf("status: %s %s\n", status.Visibility, status.Value)
	names := make([]string, 0, len(tok.SourceData.Fields))
	for name := range tok.SourceData.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := tok.SourceData.Fields[name]
		fmt.Printf("%s: %s %s\n", name, f.Visibility, f.Value)
	}
	// Output:
	// connect/source-data/inquiry
	// status: full "completed"
	// name-first: full "Ada"
	// name-last: presence true
}

func ExampleShareTokensService_Redeem() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)

	// nil params: clone the inquiry into a new one of Bank's. An idempotency
	// key derived from the token makes a repeated call safe.
	tok, err := d.dest.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey("redeem-"+tokenID))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status, tok.RedeemMode, tok.PendingAt.Format(time.RFC3339))

	tok, err = d.dest.ShareTokens.Wait(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status, tok.RedeemedAt.Format(time.RFC3339), tok.Destination.Type)

	clone, _ := srv.Object(tok.Destination.ID)
	fmt.Println(clone.OrganizationID == d.bank.ID, clone.ClonedFrom == d.inquiryID, clone.Fields["name-first"])
	// Output:
	// pending clone 2025-06-01T12:00:00Z
	// redeemed 2025-06-01T12:00:00Z inquiry
	// true true Ada
}

func ExampleShareTokensService_Redeem_hydrate() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)

	// Bank already has an inquiry of its own for this person, with its own
	// field names.
	bankInquiry := srv.NewInquiry(d.bank, map[string]any{"first-name": nil, "reference": "bank-7"})

	tok, err := d.dest.ShareTokens.Redeem(ctx, tokenID, &connect.ShareTokenRedeemParams{
		DestinationID: bankInquiry,
		FieldMappings: []connect.FieldMapping{{SourceField: "name-first", DestinationField: "first-name"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err = d.dest.ShareTokens.Wait(ctx, tok.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status, tok.RedeemMode, tok.Destination.ID == bankInquiry)

	filled, _ := srv.Object(bankInquiry)
	fmt.Println(filled.HydratedFrom == d.inquiryID, filled.Fields["first-name"], filled.Fields["reference"])
	// Output:
	// redeemed hydrate true
	// true Ada bank-7
}

func ExampleShareTokensService_Expire() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	tokenID := d.share(ctx)

	// The source changes its mind before the destination redeems.
	tok, err := d.source.ShareTokens.Expire(ctx, tokenID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status, tok.ExpiresAt.Format(time.RFC3339))

	_, err = d.dest.ShareTokens.Redeem(ctx, tokenID, nil)
	fmt.Println("redeem refused:", errors.Is(err, connect.ErrUnprocessable))
	// Output:
	// expired 2025-06-01T12:00:00Z
	// redeem refused: true
}

func ExampleShareTokensService_List() {
	clock := connecttest.NewClock(exampleStart)
	srv := connecttest.NewServer(connecttest.WithClock(clock))
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	for range 3 {
		d.share(ctx)
		clock.Advance(time.Hour)
	}

	// Newest first, two to a page.
	params := &connect.ShareTokenListParams{Direction: connect.DirectionOutbound, ListOptions: connect.ListOptions{PageSize: 2}}
	for {
		page, err := d.source.ShareTokens.List(ctx, params)
		if err != nil {
			log.Fatal(err)
		}
		for _, tok := range page.Data {
			fmt.Println(tok.CreatedAt.Format(time.Kitchen), tok.Direction, tok.Status)
		}
		if !page.HasNext() {
			break
		}
		fmt.Println("-- next page")
		params.After = page.NextCursor
	}
	// Output:
	// 2:00PM outbound created
	// 1:00PM outbound created
	// -- next page
	// 12:00PM outbound created
}

func ExampleShareTokensService_All() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	for range 5 {
		d.share(ctx)
	}
	_, err := d.source.ShareTokens.Expire(ctx, d.share(ctx))
	if err != nil {
		log.Fatal(err)
	}

	// All fetches page after page (here three of two) as the loop needs them.
	srv.ResetRequests()
	n := 0
	for tok, err := range d.dest.ShareTokens.All(ctx, &connect.ShareTokenListParams{
		Status:      connect.ShareTokenStatusCreated,
		ListOptions: connect.ListOptions{PageSize: 2},
	}) {
		if err != nil {
			log.Fatal(err)
		}
		n++
		if n == 1 {
			fmt.Println("first:", tok.Direction, tok.Status)
		}
	}
	fmt.Println("tokens Bank can redeem:", n)
	fmt.Println("pages fetched:", len(srv.Requests()))
	// Output:
	// first: inbound created
	// tokens Bank can redeem: 5
	// pages fetched: 3
}

func ExampleShareTokensService_Wait() {
	// The fake keeps a redemption pending for 50ms, as Persona does for a
	// few seconds. Wait polls until the redemption ends; WithPollInterval
	// replaces its schedule (1s, then doubling up to 10s) with one that
	// suits the fake: every 10ms.
	srv := connecttest.NewServer(connecttest.WithRedeemDelay(50 * time.Millisecond))
	defer srv.Close()
	d := newDemo(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tokenID := d.share(ctx)

	tok, err := d.dest.ShareTokens.Redeem(ctx, tokenID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Status)

	tok, err = d.dest.ShareTokens.Wait(ctx, tokenID, connect.WithPollInterval(10*time.Millisecond, 10*time.Millisecond))
	if err != nil {
		log.Fatal(err) // the context ended first: a *connect.WaitError
	}
	switch tok.Status {
	case connect.ShareTokenStatusRedeemed:
		fmt.Println(tok.Status, "into a new", tok.Destination.Type)
	default: // failed or expired: no error, check the status
		fmt.Println(tok.Status, tok.FailureReason)
	}
	// Output:
	// pending
	// redeemed into a new inquiry
}

func ExampleConnectionsService_Create() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	source := newExampleClient(srv, acme)
	ctx := context.Background()

	cxn, err := source.Connections.Create(ctx, &connect.ConnectionCreateParams{
		DestinationOrganizationID: bank.ID,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(cxn.ID, "cxn_"), cxn.Status, cxn.CreatedAt.Format(time.RFC3339))
	fmt.Println(cxn.SourceOrganizationID == acme.ID, cxn.DestinationOrganizationID == bank.ID)

	// Bank accepts in Persona's Dashboard; the fake does it here.
	if err := srv.AcceptConnection(cxn.ID); err != nil {
		log.Fatal(err)
	}
	cxn, err = source.Connections.Get(ctx, cxn.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cxn.Status)
	// Output:
	// true pending 2025-06-01T12:00:00Z
	// true true
	// active
}

func ExampleConnectionsService_Deactivate() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()

	// Either side may stop the connection.
	cxn, err := d.dest.Connections.Deactivate(ctx, d.connectionID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cxn.Status)

	_, err = d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
	})
	fmt.Println("share refused:", errors.Is(err, connect.ErrUnprocessable))

	// Only the source may reactivate it; the destination accepts again.
	cxn, err = d.source.Connections.Reactivate(ctx, d.connectionID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cxn.Status)
	// Output:
	// inactive
	// share refused: true
	// pending
}

func ExampleConnectionsService_All() {
	clock := connecttest.NewClock(exampleStart)
	srv := connecttest.NewServer(connecttest.WithClock(clock))
	defer srv.Close()
	acme := srv.NewOrganization("Acme KYC")
	source := newExampleClient(srv, acme)
	ctx := context.Background()

	partners := map[string]string{} // organization id to name
	for _, name := range []string{"Bank", "Broker", "Insurer"} {
		org := srv.NewOrganization(name)
		partners[org.ID] = name
		cxn, err := source.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: org.ID})
		if err != nil {
			log.Fatal(err)
		}
		if name != "Broker" {
			if err := srv.AcceptConnection(cxn.ID); err != nil {
				log.Fatal(err)
			}
		}
		clock.Advance(time.Minute)
	}

	for cxn, err := range source.Connections.All(ctx, &connect.ConnectionListParams{Status: connect.ConnectionStatusActive}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(partners[cxn.DestinationOrganizationID], cxn.Status)
	}
	// Output:
	// Insurer active
	// Bank active
}

func ExampleError() {
	srv := connecttest.NewServer()
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()

	// An id nobody has: 404.
	_, err := d.dest.ShareTokens.Get(ctx, "cnst_NoSuchToken")
	fmt.Println(errors.Is(err, connect.ErrNotFound))
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Method, apiErr.Path)
		fmt.Println("request id:", strings.HasPrefix(apiErr.RequestID, "req_"))
	}

	// An object Acme does not own: 422, pointing at the member.
	_, err = d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     "inq_NotOurs",
	})
	fmt.Println(errors.Is(err, connect.ErrUnprocessable))
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Errors[0].Source.Pointer)
	}
	// Output:
	// true
	// 404 GET /connect/share-tokens/cnst_NoSuchToken
	// request id: true
	// true
	// 422 /data/attributes/source-id
}

func ExampleValidationError() {
	srv := connecttest.NewServer()
	defer srv.Close()
	d := newDemo(srv)

	_, err := d.source.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
		ExpiresIn:    30 * time.Second, // at least a minute
	})
	var verr *connect.ValidationError
	if errors.As(err, &verr) {
		fmt.Println("field:", verr.Field)
	}
	fmt.Println(errors.Is(err, connect.ErrInvalidParams))
	fmt.Println("requests sent:", len(srv.Requests()))
	// Output:
	// field: ExpiresIn
	// true
	// requests sent: 0
}

func ExampleWithResponseInto() {
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)

	var resp connect.Response
	_, err := d.source.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{
		ConnectionID: d.connectionID,
		SourceID:     d.inquiryID,
	}, connect.WithResponseInto(&resp))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, "after", resp.Attempts, "attempt")
	fmt.Println("request id:", strings.HasPrefix(resp.RequestID, "req_"))
	fmt.Println("organization:", resp.OrganizationID == d.acme.ID)
	fmt.Println("environment:", resp.EnvironmentID == d.acme.EnvironmentID)
	fmt.Printf("rate limit: %d of %d left\n", resp.RateLimit.Remaining, resp.RateLimit.Limit)
	// Output:
	// 201 after 1 attempt
	// request id: true
	// organization: true
	// environment: true
	// rate limit: 299 of 300 left
}

func ExampleWithIdempotencyKey() {
	srv := connecttest.NewServer()
	defer srv.Close()
	d := newDemo(srv)
	ctx := context.Background()
	params := &connect.ShareTokenCreateParams{ConnectionID: d.connectionID, SourceID: d.inquiryID}

	// A key derived from what the call is for: after a crash, the same call
	// returns the token the first one made instead of making another.
	key := "share-" + d.inquiryID + "-with-bank"
	first, err := d.source.ShareTokens.Create(ctx, params, connect.WithIdempotencyKey(key))
	if err != nil {
		log.Fatal(err)
	}
	again, err := d.source.ShareTokens.Create(ctx, params, connect.WithIdempotencyKey(key))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same token:", first.ID == again.ID)
	fmt.Println("tokens created:", srv.Stats().ShareTokensCreated)
	// Output:
	// same token: true
	// tokens created: 1
}

func ExampleNewWebhookHandler() {
	const secret = "wbhsec_example" // from the webhook's settings in Persona
	handler, err := connect.NewWebhookHandler([]string{secret}, func(ctx context.Context, ev *connect.WebhookEvent) error {
		if ev.Name == connect.EventShareTokenInboundCreated {
			fmt.Println("handled:", ev.Name, ev.ShareToken.Status, ev.ShareToken.Direction)
		}
		return nil // 200; an error answers 500 and Persona delivers again
	})
	if err != nil {
		log.Fatal(err) // a nil func, no secret or a bad option
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/persona", handler)

	// Deliver an event the way Persona does, twice.
	payload := []byte(`{"data":{"type":"event","id":"evt_EXAMPLE1","attributes":{
		"name":"connect/share-token.inbound-created","created-at":"2025-06-01T12:00:00.000Z",
		"payload":{"data":{"type":"connect/share-token","id":"cnst_EXAMPLE1",
		"attributes":{"status":"created","direction":"inbound"}}}}}}`)
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/persona", strings.NewReader(string(payload)))
		req.Header.Set("Persona-Signature", connect.SignWebhookPayload(payload, secret, time.Now()))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}

	// A forged delivery never reaches the handle func.
	req := httptest.NewRequest(http.MethodPost, "/webhooks/persona", strings.NewReader(string(payload)))
	req.Header.Set("Persona-Signature", connect.SignWebhookPayload(payload, "wbhsec_forged", time.Now()))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// handled: connect/share-token.inbound-created created inbound
	// 200
	// 200
	// 401
}

func ExampleVerifyWebhookSignature() {
	secrets := []string{"wbhsec_new", "wbhsec_old"} // both, during a rotation
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := connect.WithWebhookClock(func() time.Time { return now })
	body := []byte(`{"data":{"type":"event","id":"evt_EXAMPLE2"}}`)

	header := connect.SignWebhookPayload(body, "wbhsec_old", now.Add(-time.Minute))
	fmt.Println(header)
	fmt.Println(connect.VerifyWebhookSignature(body, header, secrets, clock))

	tampered := []byte(`{"data":{"type":"event","id":"evt_EXAMPLE3"}}`)
	err := connect.VerifyWebhookSignature(tampered, header, secrets, clock)
	fmt.Println(errors.Is(err, connect.ErrWebhookBadSignature))

	stale := connect.SignWebhookPayload(body, "wbhsec_new", now.Add(-time.Hour))
	err = connect.VerifyWebhookSignature(body, stale, secrets, clock)
	fmt.Println(errors.Is(err, connect.ErrWebhookTooOld))

	err = connect.VerifyWebhookSignature(body, "", secrets, clock)
	fmt.Println(errors.Is(err, connect.ErrWebhookNoSignature))
	// Output:
	// t=1748779140,v1=91029e1eb701e2aeccf3e494409741ef373bba23f2d34ec2ba13ce5675ba0a78
	// <nil>
	// true
	// true
	// true
}
