package spectest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// The statuses the fake answers per operation of the document, as the
// scenario below provokes them. The test fails when the scenario sees a pair
// that is not listed here, when a listed pair is not seen, and when the
// document has an operation that is not listed: a change to the fake, the
// SDK or the document cannot slip past the check unnoticed.
//
// 401 and 429 come from the fake's authentication and rate limiter, and 500,
// 502 and 503 from injected faults (see connecttest.Fault), on every
// operation; the rest from the handlers.
var expectedCoverage = map[string][]int{
	"list-all-connect-connections":    {200, 400, 401, 429, 500, 502, 503},
	"create-a-connect-connection":     {201, 400, 401, 409, 422, 429, 500, 502, 503},
	"retrieve-a-connect-connection":   {200, 401, 404, 429, 500, 502, 503},
	"deactivate-a-connect-connection": {200, 401, 404, 422, 429, 500, 502, 503},
	"reactivate-a-connect-connection": {200, 401, 403, 404, 422, 429, 500, 502, 503},
	"list-all-share-tokens":           {200, 400, 401, 429, 500, 502, 503},
	"create-a-share-token":            {201, 400, 401, 403, 422, 429, 500, 502, 503},
	"retrieve-a-share-token":          {200, 400, 401, 404, 429, 500, 502, 503},
	"expire-share-token":              {200, 401, 403, 404, 422, 429, 500, 502, 503},
	"redeem-share-token":              {202, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503},
	"rotate-a-webhook-secret":         {200, 400, 401, 404, 422, 429, 500, 502, 503},
	// The second document: the Events API and the objects' GETs.
	"list-all-events":         {200, 400, 401, 429, 500, 502, 503},
	"retrieve-an-event":       {200, 401, 404, 429, 500, 502, 503},
	"retrieve-an-inquiry":     {200, 401, 404, 429, 500, 502, 503},
	"retrieve-an-account":     {200, 401, 404, 429, 500, 502, 503},
	"retrieve-a-transaction":  {200, 401, 404, 429, 500, 502, 503},
	"retrieve-a-verification": {200, 401, 404, 429, 500, 502, 503},
}

// env holds what the scenario works with.
type env struct {
	webhookID string // a webhook of the organization "Other"
	t         *testing.T
	ctx       context.Context
	rec       *recorder
}

// client makes an SDK client for key on srv, sending through the recorder.
// Retries are off so that each call is one request, and the client never
// holds a call for the rate limit (the scenario's clock is manual).
func (e *env) client(srv *connecttest.Server, key string) *connect.Client {
	e.t.Helper()
	c, err := connect.NewClient(key,
		connect.WithBaseURL(srv.URL),
		connect.WithHTTPClient(&http.Client{Transport: e.rec}),
		connect.WithMaxRetries(0),
		connect.WithMaxRateLimitWait(0),
		connect.WithRetryWait(time.Millisecond, 10*time.Millisecond),
	)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// status is the HTTP status a call ended with: 2xx for success, the
// *connect.Error's status otherwise, 0 for a transport error.
func status(err error, ok int) int {
	if err == nil {
		return ok
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.StatusCode
	}
	return 0
}

// must checks that a call ended with want, naming the step.
func (e *env) must(step string, want int, err error, ok int) {
	e.t.Helper()
	if got := status(err, ok); got != want {
		e.t.Fatalf("step %q: status %d, want %d (error: %v)", step, got, want, err)
	}
}

// do runs one SDK call as a named step and checks its status.
func do[T any](e *env, step string, want, ok int, call func() (T, error)) T {
	e.t.Helper()
	e.rec.setStep(step)
	v, err := call()
	e.must(step, want, err, ok)
	return v
}

// allOps calls every operation of the SDK once with the given ids and
// expects each to end with want (an error status that does not depend on
// the operation: 401, 429 or an injected fault). before runs before each
// call. With fresh, each call goes through a client of its own, which has
// seen no rate-limit headers: one that had would refuse to send into a
// spent window (the 429 it is after).
func (e *env) allOps(step string, c *connect.Client, fresh func() *connect.Client, want int, before func(), cxn, tok, src, dest string) {
	e.t.Helper()
	ctx := e.ctx
	calls := []struct {
		name string
		ok   int
		fn   func() error
	}{
		{"connections.list", 200, func() error { _, err := c.Connections.List(ctx, nil); return err }},
		{"connections.create", 201, func() error {
			_, err := c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: dest})
			return err
		}},
		{"connections.get", 200, func() error { _, err := c.Connections.Get(ctx, cxn); return err }},
		{"connections.deactivate", 200, func() error { _, err := c.Connections.Deactivate(ctx, cxn); return err }},
		{"connections.reactivate", 200, func() error { _, err := c.Connections.Reactivate(ctx, cxn); return err }},
		{"sharetokens.list", 200, func() error { _, err := c.ShareTokens.List(ctx, nil); return err }},
		{"sharetokens.create", 201, func() error {
			_, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: src})
			return err
		}},
		{"sharetokens.get", 200, func() error { _, err := c.ShareTokens.Get(ctx, tok); return err }},
		{"sharetokens.expire", 200, func() error { _, err := c.ShareTokens.Expire(ctx, tok); return err }},
		{"sharetokens.redeem", 202, func() error { _, err := c.ShareTokens.Redeem(ctx, tok, nil); return err }},
		{"events.list", 200, func() error { _, err := c.Events.List(ctx, nil); return err }},
		{"events.get", 200, func() error { _, err := c.Events.Get(ctx, "evt_ABC123"); return err }},
		{"webhooks.rotate", 200, func() error { _, err := c.Webhooks.RotateSecret(ctx, "wbh_ABC123", nil); return err }},
	}
	for _, ref := range []connect.ResourceRef{{Type: "inquiry", ID: "inq_ABC123"}, {Type: "account", ID: "act_ABC123"},
		{Type: "txn", ID: "txn_ABC123"}, {Type: "verification/database", ID: "ver_ABC123"}} {
		calls = append(calls, struct {
			name string
			ok   int
			fn   func() error
		}{"objects.get " + ref.Type, 200, func() error { _, err := c.Objects.Get(ctx, &ref); return err }})
	}
	for _, call := range calls {
		name := step + ": " + call.name
		if before != nil {
			before()
		}
		if fresh != nil {
			c = fresh() // the calls' closures read c
		}
		e.rec.setStep(name)
		e.must(name, want, call.fn(), call.ok)
	}
}

// TestFakeAndSDKAgainstDocument drives the SDK against connecttest through
// every kind of response the fake produces, records every request and
// response on the wire, and validates each against Persona's document.
func TestFakeAndSDKAgainstDocument(t *testing.T) {
	s := loadSpec(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rec := newRecorder()
	defer rec.close()
	e := &env{t: t, ctx: ctx, rec: rec}

	clock := connecttest.NewClock(time.Date(2025, 12, 8, 9, 30, 0, 0, time.UTC))
	srv := connecttest.NewServer(
		connecttest.WithClock(clock),
		connecttest.WithRedeemDelay(5*time.Minute),
		connecttest.WithPeekFullFields("name-first", "country-code"),
	)
	defer srv.Close()
	// A second server with a small rate limit, for 429s.
	limited := connecttest.NewServer(
		connecttest.WithClock(connecttest.NewClock(time.Date(2025, 12, 8, 9, 30, 0, 0, time.UTC))),
		connecttest.WithRateLimit(3, time.Minute),
	)
	defer limited.Close()

	runScenario(e, srv, clock)
	runPipeline(e, srv, limited)
	scenarioTime := time.Since(start)

	// Everything the fake answered, from its own record, must be among
	// what the recorder saw, except dropped connections, whose would-be
	// response is known only from the record.
	all := rec.exchanges()
	byID := map[string]*exchange{}
	for _, x := range all {
		if x.requestID != "" {
			byID[x.requestID] = x
		}
	}
	var fromRecord []*exchange
	for _, server := range []*connecttest.Server{srv, limited} {
		for _, r := range server.Requests() {
			x, seen := byID[r.RequestID]
			switch {
			case seen:
				if x.status != r.Status || string(x.respBody) != string(r.ResponseBody) {
					t.Errorf("request %s: the wire says %d %s, the fake's record %d %s", r.RequestID, x.status, x.respBody, r.Status, r.ResponseBody)
				}
			case r.Dropped:
				fromRecord = append(fromRecord, &exchange{step: "dropped connection (" + r.Method + " " + r.Path + ")", source: "record",
					method: r.Method, path: r.Path, rawQuery: r.RawQuery, reqHeader: r.Header, reqBody: r.Body,
					status: r.Status, respBody: r.ResponseBody, requestID: r.RequestID})
			case r.Status == 0:
				// Abandoned during an injected delay: no response exists.
			default:
				t.Errorf("the fake answered %s %s with %d (%s), but no such response reached the client", r.Method, r.Path, r.Status, r.RequestID)
			}
		}
	}
	if len(fromRecord) == 0 {
		t.Error("the scenario dropped no connection; the record-only path is not exercised")
	}

	// Validate.
	type key struct {
		op     string
		status int
	}
	type tally struct{ requests, responses int }
	counts := map[key]*tally{}
	count := func(op string, status int) *tally {
		k := key{op, status}
		if counts[k] == nil {
			counts[k] = &tally{}
		}
		return counts[k]
	}
	var violations []violation
	var nReq, nResp int
	for _, x := range all {
		id, _ := s.operation(x.request())
		reqViolations := s.validateRequest(x)
		switch {
		case x.requestInvalid && len(reqViolations) == 0:
			t.Errorf("step %q: the raw request %s %s %s was meant to be malformed, but the document accepts it (the fake answered %d)",
				x.step, x.method, x.target(), x.reqBody, x.status)
		case x.requestInvalid:
			// Rejected, as meant: the fake's 400 answers what the document forbids.
		default:
			violations = append(violations, reqViolations...)
		}
		nReq++
		if x.status == 0 {
			// Transport error (a dropped connection): its response comes
			// from the fake's record below.
			continue
		}
		count(opName(id), x.status).requests++
		violations = append(violations, s.validateResponse(x)...)
		count(opName(id), x.status).responses++
		nResp++
	}
	for _, x := range fromRecord {
		id, _ := s.operation(x.request())
		violations = append(violations, s.validateResponse(x)...)
		count(opName(id), x.status).responses++
		nResp++
	}

	// The table of what was seen.
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.op, b.op); c != 0 {
			return c
		}
		return a.status - b.status
	})
	var table strings.Builder
	fmt.Fprintf(&table, "validated against %s:\n", s.path)
	fmt.Fprintf(&table, "  %-34s %6s %9s %10s\n", "operation", "status", "requests", "responses")
	for _, k := range keys {
		fmt.Fprintf(&table, "  %-34s %6d %9d %10d\n", k.op, k.status, counts[k].requests, counts[k].responses)
	}
	fmt.Fprintf(&table, "  total: %d requests, %d responses (%d from the fake's record of dropped connections); scenario %v, total %v",
		nReq, nResp, len(fromRecord), scenarioTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	t.Log(table.String())

	for _, v := range violations {
		t.Errorf("violation: %s", v)
	}

	// Coverage: every operation of the document is in the table, every
	// pair of the table was seen, and nothing was seen beyond it.
	for _, d := range s.docs() {
		for p, item := range d.model.Paths.PathItems.FromOldest() {
			for method, op := range item.GetOperations().FromOldest() {
				if _, ok := expectedCoverage[op.OperationId]; !ok {
					t.Errorf("the document's operation %s (%s %s) is not in expectedCoverage: decide what the fake answers to it and cover it",
						op.OperationId, strings.ToUpper(method), p)
				}
			}
		}
	}
	for op, statuses := range expectedCoverage {
		for _, st := range statuses {
			if counts[key{op, st}] == nil {
				t.Errorf("coverage: %s → %d is expected but the scenario never produced it", op, st)
			}
		}
	}
	for _, k := range keys {
		if !slices.Contains(expectedCoverage[k.op], k.status) {
			t.Errorf("coverage: the scenario produced %s → %d, which expectedCoverage does not list", k.op, k.status)
		}
	}
}

// runScenario walks through the life of connections and share tokens,
// provoking every answer of the fake's handlers.
func runScenario(e *env, srv *connecttest.Server, clock *connecttest.Clock) {
	t, ctx := e.t, e.ctx
	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	other := srv.NewOrganization("Other")
	src, dst, oth := e.client(srv, acme.APIKey), e.client(srv, bank.APIKey), e.client(srv, other.APIKey)

	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace", "birthdate": nil})
	inqRedacted := srv.NewInquiry(acme, map[string]any{"name-first": "Grace"})
	inqDeleted := srv.NewInquiry(acme, map[string]any{"name-first": "Alan"})
	act := srv.NewAccount(acme, map[string]any{"name-first": "Ada", "address-street-1": "12 St James's Square"})
	txn := srv.NewTransaction(acme, map[string]any{"amount": 125.5, "currency": "EUR"})
	verDB := srv.NewVerification(acme, connecttest.TypeVerificationDatabase, map[string]any{"country-code": "GB", "name-first": "Ada"})
	verPhone := srv.NewVerification(acme, connecttest.TypeVerificationPhoneNumber, map[string]any{"phone-number": "+15555550100"})
	verEmail := srv.NewVerification(acme, connecttest.TypeVerificationEmailAddress, map[string]any{"email-address": nil})
	bankAct := srv.NewAccount(bank, map[string]any{"name-first": nil})
	bankInq := srv.NewInquiry(bank, map[string]any{"name-first": nil})

	// Connections.
	cxn := do(e, "create a connection", 201, 201, func() (*connect.Connection, error) {
		return src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: bank.ID})
	})
	do(e, "create a duplicate connection", 409, 201, func() (*connect.Connection, error) {
		return src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: bank.ID})
	})
	// Persona advises testing Connect with a connection to oneself; the
	// fake allows it (see connecttest's "Where Persona is silent").
	cxnSelf := do(e, "connect to oneself", 201, 201, func() (*connect.Connection, error) {
		return src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: acme.ID})
	})
	do(e, "connect to an unknown organization", 422, 201, func() (*connect.Connection, error) {
		return src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: "org_unknown"})
	})
	do(e, "get a pending connection (source)", 200, 200, func() (*connect.Connection, error) { return src.Connections.Get(ctx, cxn.ID) })
	do(e, "get a pending connection (destination)", 200, 200, func() (*connect.Connection, error) { return dst.Connections.Get(ctx, cxn.ID) })
	do(e, "get an unknown connection", 404, 200, func() (*connect.Connection, error) { return src.Connections.Get(ctx, "cxn_unknown") })
	do(e, "get a connection of others", 404, 200, func() (*connect.Connection, error) { return oth.Connections.Get(ctx, cxn.ID) })
	if err := srv.AcceptConnection(cxn.ID); err != nil {
		t.Fatal(err)
	}
	do(e, "get an active connection", 200, 200, func() (*connect.Connection, error) { return dst.Connections.Get(ctx, cxn.ID) })
	cxnOther := do(e, "create a second connection", 201, 201, func() (*connect.Connection, error) {
		return src.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: other.ID})
	})
	do(e, "create an inbound connection", 201, 201, func() (*connect.Connection, error) {
		return oth.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: acme.ID})
	})

	// Lists of connections: filters, pages and both links.
	do(e, "list connections", 200, 200, func() (*connect.Page[connect.Connection], error) { return src.Connections.List(ctx, nil) })
	do(e, "list connections by status", 200, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{Status: connect.ConnectionStatusActive})
	})
	do(e, "list connections by destination", 200, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{DestinationOrganizationID: bank.ID, ListOptions: connect.ListOptions{PageSize: 5}})
	})
	p1 := do(e, "list connections, first page", 200, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 1}})
	})
	if p1.NextCursor == "" {
		t.Fatal("first page of connections has no next link")
	}
	p2 := do(e, "list connections, middle page", 200, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 1, After: p1.NextCursor}})
	})
	if p2.NextCursor == "" || p2.PrevCursor == "" {
		t.Fatalf("middle page of connections lacks a link: next %q prev %q", p2.NextCursor, p2.PrevCursor)
	}
	do(e, "list connections, page before", 200, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 1, Before: p2.PrevCursor}})
	})
	e.rec.setStep("iterate over all connections")
	n := 0
	for _, err := range src.Connections.All(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 2}}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("All yielded %d connections, want 4 (to Bank, to itself, to Other, from Other)", n)
	}
	do(e, "list connections with an unknown status", 400, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{Status: "archived"})
	})
	do(e, "list connections after an unknown cursor", 400, 200, func() (*connect.Page[connect.Connection], error) {
		return src.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{After: "cxn_unknown"}})
	})

	// Deactivate and reactivate, by either side.
	do(e, "deactivate (destination)", 200, 200, func() (*connect.Connection, error) { return oth.Connections.Deactivate(ctx, cxnOther.ID) })
	do(e, "deactivate an inactive connection", 422, 200, func() (*connect.Connection, error) { return src.Connections.Deactivate(ctx, cxnOther.ID) })
	do(e, "deactivate a connection of others", 404, 200, func() (*connect.Connection, error) { return dst.Connections.Deactivate(ctx, cxnOther.ID) })
	do(e, "reactivate (destination)", 403, 200, func() (*connect.Connection, error) { return oth.Connections.Reactivate(ctx, cxnOther.ID) })
	do(e, "reactivate (source)", 200, 200, func() (*connect.Connection, error) { return src.Connections.Reactivate(ctx, cxnOther.ID) })
	do(e, "reactivate a pending connection", 422, 200, func() (*connect.Connection, error) { return src.Connections.Reactivate(ctx, cxnOther.ID) })
	do(e, "reactivate an unknown connection", 404, 200, func() (*connect.Connection, error) { return src.Connections.Reactivate(ctx, "cxn_unknown") })
	do(e, "deactivate (source)", 200, 200, func() (*connect.Connection, error) { return src.Connections.Deactivate(ctx, cxnOther.ID) })

	// Share tokens: create, for every kind of source.
	create := func(step string, want int, c *connect.Client, p connect.ShareTokenCreateParams, opts ...connect.RequestOption) *connect.ShareToken {
		return do(e, step, want, 201, func() (*connect.ShareToken, error) { return c.ShareTokens.Create(ctx, &p, opts...) })
	}
	tokInq := create("create a share token (inquiry, default expiry)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: inq})
	tokDay := create("create a share token (expires in a day)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: inq, ExpiresIn: 24 * time.Hour})
	tokAct := create("create a share token (account)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: act})
	tokTxn := create("create a share token (transaction)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: txn})
	tokVerDB := create("create a share token (database verification)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: verDB})
	tokVerPhone := create("create a share token (phone verification)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: verPhone})
	tokVerEmail := create("create a share token (email verification)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: verEmail})
	tokRedact := create("create a share token (to be redacted)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: inqRedacted})
	tokDelete := create("create a share token (to be deleted)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: inqDeleted})
	tokShort := create("create a share token (expires in a minute)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: txn, ExpiresIn: time.Minute})
	tokInactive := create("create a share token (connection to be deactivated)", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: verDB})
	create("create with an idempotency key", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: act}, connect.WithIdempotencyKey("spec-key-1"))
	create("replay an idempotency key", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: act}, connect.WithIdempotencyKey("spec-key-1"))
	create("reuse an idempotency key with other parameters", 422, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: txn}, connect.WithIdempotencyKey("spec-key-1"))
	create("create a share token as the destination", 403, dst, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: bankInq})
	create("create a share token for an unknown source", 422, src, connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: "inq_unknown"})
	create("create a share token over an unknown connection", 422, src, connect.ShareTokenCreateParams{ConnectionID: "cxn_unknown", SourceID: inq})
	create("create a share token over an inactive connection", 422, src, connect.ShareTokenCreateParams{ConnectionID: cxnOther.ID, SourceID: inq})

	// Read from both sides, and peek at every kind of source.
	get := func(step string, want int, c *connect.Client, id string) *connect.ShareToken {
		return do(e, step, want, 200, func() (*connect.ShareToken, error) { return c.ShareTokens.Get(ctx, id) })
	}
	get("get a share token (source)", 200, src, tokInq.ID)
	get("get a share token (destination)", 200, dst, tokInq.ID)
	get("get an unknown share token", 404, dst, "cnst_unknown")
	get("get a share token of others", 404, oth, tokInq.ID)
	for _, p := range []struct {
		kind string
		tok  *connect.ShareToken
	}{{"inquiry", tokInq}, {"account", tokAct}, {"transaction", tokTxn}, {"database verification", tokVerDB},
		{"phone verification", tokVerPhone}, {"email verification", tokVerEmail}} {
		got := do(e, "peek ("+p.kind+")", 200, 200, func() (*connect.ShareToken, error) { return dst.ShareTokens.Peek(ctx, p.tok.ID) })
		if got.SourceData == nil {
			t.Fatalf("peek (%s): no source data", p.kind)
		}
	}
	do(e, "peek as the source", 200, 200, func() (*connect.ShareToken, error) { return src.ShareTokens.Peek(ctx, tokInq.ID) })

	// Lists of share tokens.
	list := func(step string, want int, c *connect.Client, p *connect.ShareTokenListParams) *connect.Page[connect.ShareToken] {
		return do(e, step, want, 200, func() (*connect.Page[connect.ShareToken], error) { return c.ShareTokens.List(ctx, p) })
	}
	list("list share tokens", 200, src, nil)
	list("list share tokens (destination)", 200, dst, nil)
	list("list outbound share tokens", 200, src, &connect.ShareTokenListParams{Direction: connect.DirectionOutbound})
	list("list inbound share tokens", 200, dst, &connect.ShareTokenListParams{Direction: connect.DirectionInbound, Status: connect.ShareTokenStatusCreated})
	list("list share tokens by connection", 200, src, &connect.ShareTokenListParams{ConnectionID: cxn.ID, ListOptions: connect.ListOptions{PageSize: 3}})
	tp1 := list("list share tokens, first page", 200, src, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 2}})
	tp2 := list("list share tokens, middle page", 200, src, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 2, After: tp1.NextCursor}})
	if tp2.PrevCursor == "" || tp2.NextCursor == "" {
		t.Fatalf("middle page of share tokens lacks a link: next %q prev %q", tp2.NextCursor, tp2.PrevCursor)
	}
	list("list share tokens, page before", 200, src, &connect.ShareTokenListParams{Direction: connect.DirectionOutbound, ListOptions: connect.ListOptions{PageSize: 2, Before: tp2.PrevCursor}})
	list("list share tokens, empty", 200, oth, nil)
	list("list share tokens with an unknown status", 400, src, &connect.ShareTokenListParams{Status: "archived"})
	list("list share tokens before an unknown cursor", 400, src, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{Before: "cnst_unknown"}})
	e.rec.setStep("iterate over all inbound share tokens")
	for _, err := range dst.ShareTokens.All(ctx, &connect.ShareTokenListParams{Direction: connect.DirectionInbound, ListOptions: connect.ListOptions{PageSize: 4}}) {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Expire.
	expire := func(step string, want int, c *connect.Client, id string) {
		do(e, step, want, 200, func() (*connect.ShareToken, error) { return c.ShareTokens.Expire(ctx, id) })
	}
	expire("expire a share token", 200, src, tokDay.ID)
	expire("expire an expired share token", 200, src, tokDay.ID)
	expire("expire as the destination", 403, dst, tokVerPhone.ID)
	expire("expire an unknown share token", 404, src, "cnst_unknown")

	// Redeem: clone and hydrate (with field mappings), and the refusals.
	redeem := func(step string, want int, c *connect.Client, id string, p *connect.ShareTokenRedeemParams) *connect.ShareToken {
		return do(e, step, want, 202, func() (*connect.ShareToken, error) { return c.ShareTokens.Redeem(ctx, id, p) })
	}
	redeem("clone an account", 422, dst, tokAct.ID, nil)
	redeem("hydrate an unknown destination", 422, dst, tokVerPhone.ID, &connect.ShareTokenRedeemParams{DestinationID: "act_unknown"})
	redeem("redeem by cloning (inquiry)", 202, dst, tokInq.ID, nil)
	redeem("redeem by cloning (verification)", 202, dst, tokVerEmail.ID, &connect.ShareTokenRedeemParams{})
	redeem("redeem by hydrating with field mappings (account)", 202, dst, tokAct.ID, &connect.ShareTokenRedeemParams{
		DestinationID: bankAct,
		FieldMappings: []connect.FieldMapping{{SourceField: "address-street-1", DestinationField: "street-address"}},
	})
	redeem("redeem by hydrating (transaction into an inquiry)", 202, dst, tokTxn.ID, &connect.ShareTokenRedeemParams{DestinationID: bankInq})
	redeem("redeem by cloning (to be redacted)", 202, dst, tokRedact.ID, nil)
	redeem("redeem by cloning (to be deleted)", 202, dst, tokDelete.ID, nil)
	redeem("redeem twice", 409, dst, tokInq.ID, nil)
	redeem("redeem as the source", 403, src, tokVerDB.ID, nil)
	redeem("redeem an unknown share token", 404, dst, "cnst_unknown", nil)
	redeem("redeem an expired share token", 422, dst, tokDay.ID, nil)
	expire("expire a pending share token", 422, src, tokInq.ID)
	get("get a pending clone (destination)", 200, dst, tokInq.ID)
	get("get a pending hydrate (destination)", 200, dst, tokAct.ID)
	get("get a pending share token (source)", 200, src, tokInq.ID)
	list("list pending share tokens", 200, dst, &connect.ShareTokenListParams{Status: connect.ShareTokenStatusPending})

	// The redemptions complete: redeemed, or failed.
	if err := srv.RedactObject(inqRedacted); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteObject(inqDeleted); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5*time.Minute + time.Second)
	for _, c := range []struct {
		step string
		c    *connect.Client
		tok  *connect.ShareToken
		want connect.ShareTokenStatus
	}{
		{"get a redeemed clone (destination)", dst, tokInq, connect.ShareTokenStatusRedeemed},
		{"get a redeemed clone (source)", src, tokInq, connect.ShareTokenStatusRedeemed},
		{"get a redeemed hydrate (destination)", dst, tokAct, connect.ShareTokenStatusRedeemed},
		{"get a redeemed verification clone (destination)", dst, tokVerEmail, connect.ShareTokenStatusRedeemed},
		{"get a redeemed hydrate (source)", src, tokTxn, connect.ShareTokenStatusRedeemed},
		{"get a failed redemption, source redacted (destination)", dst, tokRedact, connect.ShareTokenStatusFailed},
		{"get a failed redemption, source redacted (source)", src, tokRedact, connect.ShareTokenStatusFailed},
		{"get a failed redemption, source deleted (destination)", dst, tokDelete, connect.ShareTokenStatusFailed},
	} {
		got := get(c.step, 200, c.c, c.tok.ID)
		if got.Status != c.want {
			t.Fatalf("%s: status %s, want %s", c.step, got.Status, c.want)
		}
	}
	e.rec.setStep("wait for a redeemed share token")
	if got, err := dst.ShareTokens.Wait(ctx, tokInq.ID); err != nil || got.Status != connect.ShareTokenStatusRedeemed {
		t.Fatalf("Wait: %v, %v", got, err)
	}
	list("list redeemed share tokens", 200, dst, &connect.ShareTokenListParams{Status: connect.ShareTokenStatusRedeemed})
	list("list failed share tokens", 200, src, &connect.ShareTokenListParams{Status: connect.ShareTokenStatusFailed})
	expire("expire a redeemed share token", 422, src, tokInq.ID)

	// Expiry on the clock.
	clock.Advance(2 * time.Minute)
	if got := get("get a share token expired by the clock (source)", 200, src, tokShort.ID); got.Status != connect.ShareTokenStatusExpired {
		t.Fatalf("short-lived token: status %s, want expired", got.Status)
	}
	get("get a share token expired by the clock (destination)", 200, dst, tokShort.ID)
	redeem("redeem a share token expired by the clock", 422, dst, tokShort.ID, nil)
	list("list expired share tokens", 200, src, &connect.ShareTokenListParams{Status: connect.ShareTokenStatusExpired})

	runEventsAndObjects(e, srv, src, dst, oth, other, tokInq, tokVerEmail, act, txn, verDB, bankAct)

	// Redeeming over a connection that is no longer active.
	do(e, "deactivate (destination, with a live token)", 200, 200, func() (*connect.Connection, error) { return dst.Connections.Deactivate(ctx, cxn.ID) })
	redeem("redeem over an inactive connection", 422, dst, tokInactive.ID, nil)

	// An organization connected to itself sees its tokens from both sides.
	if err := srv.AcceptConnection(cxnSelf.ID); err != nil {
		t.Fatal(err)
	}
	tokSelf := create("create a share token to oneself", 201, src, connect.ShareTokenCreateParams{ConnectionID: cxnSelf.ID, SourceID: inq})
	get("get a share token to oneself", 200, src, tokSelf.ID)
	list("list share tokens to oneself, inbound", 200, src,
		&connect.ShareTokenListParams{ConnectionID: cxnSelf.ID, Direction: connect.DirectionInbound})
	redeem("redeem a share token to oneself", 202, src, tokSelf.ID, nil)

	// Answers the SDK cannot provoke, because it never sends such requests:
	// the fake's 400s for malformed bodies and parameters. The document
	// must reject each of these requests too.
	raws := []struct {
		step, method, path, body string
		key                      string
		want                     int
		invalid                  bool
	}{
		{"raw: create a connection without its destination", "POST", "/connect/connections", `{"data":{"attributes":{}}}`, acme.APIKey, 400, true},
		{"raw: create a share token without its source", "POST", "/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn.ID + `"}}}`, acme.APIKey, 400, true},
		{"raw: create a share token with an unknown member", "POST", "/connect/share-tokens", `{"data":{"attributes":{"connection-id":"` + cxn.ID + `","source-id":"` + inq + `","scope":"all"}}}`, acme.APIKey, 400, true},
		{"raw: redeem with a numeric destination", "POST", "/connect/share-tokens/" + tokVerPhone.ID + "/redeem", `{"data":{"attributes":{"destination-id":5}}}`, bank.APIKey, 400, true},
		{"raw: peek with a non-boolean flag", "GET", "/connect/share-tokens/" + tokVerPhone.ID + "?peek-source-data=maybe", "", bank.APIKey, 400, true},
		{"raw: rotate an unknown webhook's secret", "POST", "/webhooks/wbh_ABC123/rotate-secret", `{"meta":{"expires-in-seconds":7200}}`, acme.APIKey, 404, false},
		{"raw: rotate a webhook secret with a string expiry", "POST", "/webhooks/" + e.webhookID + "/rotate-secret", `{"meta":{"expires-in-seconds":"soon"}}`, other.APIKey, 400, true},
		{"raw: rotate a webhook secret with a negative expiry", "POST", "/webhooks/" + e.webhookID + "/rotate-secret", `{"meta":{"expires-in-seconds":-5}}`, other.APIKey, 422, false},
	}
	for _, r := range raws {
		e.rec.setStep(r.step)
		got, err := e.rec.raw(ctx, srv.URL, r.key, r.method, r.path, r.body, r.invalid)
		if err != nil || got != r.want {
			t.Fatalf("%s: %d, %v; want %d", r.step, got, err, r.want)
		}
	}
}

// runPipeline provokes the answers of the fake's pipeline rather than its
// handlers, on every operation: 401, 429 and injected 500, 502 and 503, and
// a connection dropped after processing.
func runPipeline(e *env, srv, limited *connecttest.Server) {
	t, ctx := e.t, e.ctx
	bad := e.client(srv, "persona_sandbox_not_a_key")
	e.allOps("unknown API key", bad, nil, 401, nil, "cxn_ABC123", "cnst_ABC123", "inq_ABC123", "org_ABC123")

	org := srv.NewOrganization("Faulty")
	c := e.client(srv, org.APIKey)
	for _, f := range []connecttest.Fault{
		{Status: http.StatusInternalServerError},
		{Status: http.StatusBadGateway},
		{Status: http.StatusServiceUnavailable, RetryAfter: "1"},
	} {
		e.allOps(fmt.Sprintf("injected %d", f.Status), c, nil, f.Status, func() { srv.InjectFault(f) },
			"cxn_ABC123", "cnst_ABC123", "inq_ABC123", "org_ABC123")
	}

	// A connection dropped after the fake processed the request: only the
	// fake's record knows the response.
	peer := srv.NewOrganization("Peer")
	srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/connections", DropAfterProcessing: true})
	e.rec.setStep("dropped connection")
	// On a fresh connection: net/http silently repeats a request that
	// carries an Idempotency-Key when a reused connection dies before the
	// response, and the client would then see the fake's replay instead.
	e.rec.close()
	if _, err := c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: peer.ID}); err == nil || status(err, 201) != 0 {
		t.Fatalf("dropped connection: want a transport error, got %v", err)
	}

	// Rate limiting, on a server that allows 3 requests a minute.
	throttled := limited.NewOrganization("Throttled")
	tc := e.client(limited, throttled.APIKey)
	for i := range 3 {
		do(e, fmt.Sprintf("use up the rate limit (%d)", i+1), 200, 200, func() (*connect.Page[connect.Connection], error) {
			return tc.Connections.List(ctx, nil)
		})
	}
	e.allOps("rate limited", tc, func() *connect.Client { return e.client(limited, throttled.APIKey) }, 429, nil, "cxn_ABC123", "cnst_ABC123", "inq_ABC123", "org_ABC123")
}

// runEventsAndObjects reads the events the scenario made, the objects its
// redemptions made and shared, and rotates a webhook's secret.
func runEventsAndObjects(e *env, srv *connecttest.Server, src, dst, oth *connect.Client, other *connecttest.Organization,
	tokInq, tokVerEmail *connect.ShareToken, act, txn, verDB, bankAct string) {
	t, ctx := e.t, e.ctx
	type page = *connect.Page[connect.Event]
	evs := do(e, "list events", 200, 200, func() (page, error) { return src.Events.List(ctx, nil) })
	if len(evs.Data) == 0 {
		t.Fatal("the source has no events")
	}
	do(e, "list events by name", 200, 200, func() (page, error) {
		return dst.Events.List(ctx, &connect.EventListParams{Names: []string{connect.EventShareTokenInboundRedeemed, connect.EventShareTokenInboundCreated}})
	})
	do(e, "list events by object and id", 200, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{ObjectIDs: []string{tokInq.ID}, IDs: []string{evs.Data[0].ID}})
	})
	ep1 := do(e, "list events, first page", 200, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{PageSize: 2}})
	})
	ep2 := do(e, "list events, middle page", 200, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{PageSize: 2, After: ep1.NextCursor}})
	})
	do(e, "list events, page before", 200, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{PageSize: 2, Before: ep2.PrevCursor}})
	})
	do(e, "list events after an unknown cursor", 400, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{After: "evt_unknown"}})
	})
	do(e, "list events, empty", 200, 200, func() (page, error) {
		return src.Events.List(ctx, &connect.EventListParams{Names: []string{"account.created"}})
	})
	e.rec.setStep("iterate over all events")
	for _, err := range dst.Events.All(ctx, &connect.EventListParams{ListOptions: connect.ListOptions{PageSize: 3}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range evs.Data[:min(len(evs.Data), 3)] {
		do(e, "get an event ("+ev.Name+")", 200, 200, func() (*connect.Event, error) { return src.Events.Get(ctx, ev.ID) })
	}
	do(e, "get an unknown event", 404, 200, func() (*connect.Event, error) { return src.Events.Get(ctx, "evt_unknown") })
	do(e, "get an event of others", 404, 200, func() (*connect.Event, error) { return oth.Events.Get(ctx, evs.Data[0].ID) })

	// Objects: the copies the redemptions made, and what the source shared.
	inqClone := do(e, "get a redeemed clone's token", 200, 200, func() (*connect.ShareToken, error) { return dst.ShareTokens.Get(ctx, tokInq.ID) })
	verClone := do(e, "get a redeemed verification clone's token", 200, 200, func() (*connect.ShareToken, error) {
		return dst.ShareTokens.Get(ctx, tokVerEmail.ID)
	})
	get := func(step string, want int, c *connect.Client, ref *connect.ResourceRef) {
		do(e, step, want, 200, func() (*connect.Object, error) { return c.Objects.Get(ctx, ref) })
	}
	get("get the cloned inquiry", 200, dst, inqClone.Destination)
	get("get the cloned verification", 200, dst, verClone.Destination)
	get("get a hydrated account", 200, dst, &connect.ResourceRef{Type: "account", ID: bankAct})
	get("get a shared account", 200, src, &connect.ResourceRef{Type: "account", ID: act})
	get("get a shared transaction", 200, src, &connect.ResourceRef{Type: "txn", ID: txn})
	get("get a shared verification", 200, src, &connect.ResourceRef{Type: "verification", ID: verDB})
	get("get the source's inquiry as the destination", 404, dst, tokInq.Source)
	get("get an unknown inquiry", 404, dst, &connect.ResourceRef{Type: "inquiry", ID: "inq_unknown"})
	get("get an unknown account", 404, dst, &connect.ResourceRef{Type: "account", ID: "act_unknown"})
	get("get an unknown transaction", 404, dst, &connect.ResourceRef{Type: "transaction", ID: "txn_unknown"})
	get("get an unknown verification", 404, dst, &connect.ResourceRef{Type: "verification", ID: "ver_unknown"})

	// Webhook secret rotation, on a webhook that receives nothing more.
	wh, err := srv.RegisterWebhook(other, "http://127.0.0.1:9/hook", connecttest.WithEnabledEvents(connecttest.EventInquiryCompleted))
	if err != nil {
		t.Fatal(err)
	}
	e.webhookID = wh.ID
	rotate := func(step string, want int, c *connect.Client, id string, p *connect.WebhookRotateSecretParams) {
		do(e, step, want, 200, func() (*connect.Webhook, error) { return c.Webhooks.RotateSecret(ctx, id, p) })
	}
	rotate("rotate a webhook secret", 200, oth, wh.ID, &connect.WebhookRotateSecretParams{OldSecretExpiresIn: 2 * time.Hour})
	rotate("rotate a webhook secret (default expiry)", 200, oth, wh.ID, nil)
	rotate("rotate another organization's webhook secret", 404, src, wh.ID, nil)
	rotate("rotate an unknown webhook secret", 404, oth, "wbh_unknown", nil)
}
