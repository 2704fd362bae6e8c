package connect

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ShareTokensService creates, redeems and inspects share tokens. A source
// organization creates a token for one of its objects over an active
// connection and hands the token's id to the connection's destination, which
// alone may redeem it. Get it from [Client].ShareTokens.
type ShareTokensService struct {
	client *Client
}

// ShareToken is one share token as the calling organization sees it: which
// relationships are set depends on the side (see [Direction]).
type ShareToken struct {
	// ID is the token ("cnst_…"): the secret a source hands to the destination.
	ID        string
	Status    ShareTokenStatus
	Direction Direction
	CreatedAt time.Time
	UpdatedAt time.Time
	// PendingAt, RedeemedAt, ExpiresAt and FailedAt are nil until they apply.
	PendingAt  *time.Time
	RedeemedAt *time.Time
	ExpiresAt  *time.Time
	FailedAt   *time.Time
	// FailureReason is empty unless Status is ShareTokenStatusFailed.
	FailureReason FailureReason
	// RedeemMode is empty until redemption starts.
	RedeemMode RedeemMode
	// SourceData is the peeked snapshot of the source object; only Peek sets it.
	SourceData *SourceData
	// Connection is the connection the token was created over.
	Connection *ResourceRef
	// Creator is the user or API key that created the token (source side).
	Creator *ResourceRef
	// Source is the shared object (source side), such as an inquiry.
	Source *ResourceRef
	// Destination is the object the redemption filled (destination side):
	// for a clone, nil until Persona has created it.
	Destination *ResourceRef
}

// ResourceRef names a related resource, such as {Type: "inquiry", ID: "inq_…"}.
type ResourceRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// SourceData is a PII-filtered snapshot of a token's source object, returned
// by [ShareTokensService.Peek]. Which attributes appear, and whether with a value or only their
// presence, is the source organization's choice.
type SourceData struct {
	// Type is the snapshot's kind, such as "connect/source-data/inquiry".
	Type string
	ID   string
	// Attributes are the object's scalar attributes, such as "status".
	Attributes map[string]PeekableAttribute
	// Fields are the object's user-space fields, such as "name-first"
	// (inquiries, accounts and transactions only).
	Fields map[string]PeekableAttribute
	// Related are snapshots of related objects, such as an inquiry's
	// verifications, nested at most 32 levels deep.
	Related []*SourceData
	// Raw is the snapshot exactly as received, set on the top snapshot
	// only (the ones in Related are parts of it). The Values of the
	// attributes share its memory: treat it as read-only. MarshalJSON does
	// not use it.
	Raw json.RawMessage
}

// PeekableAttribute is one peeked value. With Visibility "full", Value is the
// attribute's JSON value; with "presence", Value is a JSON boolean telling
// whether the source has a non-null value.
type PeekableAttribute struct {
	Visibility string
	Value      json.RawMessage
}

// ShareTokenStatus is the state of a share token. Persona may add values;
// unknown ones are kept as they arrive.
type ShareTokenStatus string

// The states of a share token: created → pending → redeemed or failed, and
// created → expired.
const (
	ShareTokenStatusCreated  ShareTokenStatus = "created"
	ShareTokenStatusPending  ShareTokenStatus = "pending"
	ShareTokenStatusRedeemed ShareTokenStatus = "redeemed"
	ShareTokenStatusExpired  ShareTokenStatus = "expired"
	ShareTokenStatusFailed   ShareTokenStatus = "failed"
)

// Terminal reports whether the token can no longer change state: redeemed,
// expired or failed.
func (s ShareTokenStatus) Terminal() bool {
	return s == ShareTokenStatusRedeemed || s == ShareTokenStatusExpired || s == ShareTokenStatusFailed
}

// Direction tells the calling organization's side of a share token.
type Direction string

// The two sides of a share token.
const (
	DirectionInbound  Direction = "inbound"  // the caller is the destination
	DirectionOutbound Direction = "outbound" // the caller is the source
)

// RedeemMode is how a share token was redeemed.
type RedeemMode string

// The two redeem modes.
const (
	RedeemModeClone   RedeemMode = "clone"   // a new object was created from the source
	RedeemModeHydrate RedeemMode = "hydrate" // an existing object was filled
)

// FailureReason says why a redemption failed.
type FailureReason string

// The failure reasons Persona documents.
const (
	FailureReasonSourceNotFound     FailureReason = "source_not_found"
	FailureReasonSourceRedacted     FailureReason = "source_redacted"
	FailureReasonImportFailed       FailureReason = "import_failed"
	FailureReasonUnrecoverableError FailureReason = "unrecoverable_error"
)

// ShareTokenCreateParams are the parameters of [ShareTokensService.Create].
type ShareTokenCreateParams struct {
	// ConnectionID is the active connection to share over ("cxn_…"). Required.
	ConnectionID string
	// SourceID is the object to share: an inquiry, account, transaction or
	// verification of the caller ("inq_…", "act_…", "txn_…", "ver_…"). Required.
	SourceID string
	// ExpiresIn is the token's lifetime, in whole seconds from 1 minute to 21
	// days. Zero leaves it to Persona: 14 days.
	ExpiresIn time.Duration
}

// ShareTokenRedeemParams are the parameters of [ShareTokensService.Redeem].
type ShareTokenRedeemParams struct {
	// DestinationID names an existing account, transaction or inquiry of the
	// caller to fill (hydrate). Empty clones the source into a new object.
	DestinationID string
	// FieldMappings map source fields to destination fields when hydrating,
	// for fields whose names differ. They need a DestinationID.
	FieldMappings []FieldMapping
}

// FieldMapping copies one source field into a differently named destination
// field during a hydrate.
type FieldMapping struct {
	SourceField      string `json:"source-field-name"`
	DestinationField string `json:"destination-field-name"`
}

// ShareTokenListParams filter and page [ShareTokensService.List] and
// [ShareTokensService.All]. Every field is optional; the filters combine.
type ShareTokenListParams struct {
	// ConnectionID keeps the tokens created over this connection ("cxn_…").
	ConnectionID string `url:"filter[connection-id],omitempty" connect:"id"`
	// Status keeps the tokens in this status.
	Status ShareTokenStatus `url:"filter[status],omitempty" connect:"enum"`
	// Direction keeps the tokens the caller created (outbound) or
	// received (inbound).
	Direction Direction `url:"filter[direction],omitempty" connect:"enum"`
	ListOptions
}

var shareTokenListQuery = mustQueryFields[ShareTokenListParams]()

var shareTokenKind = &kind[shareTokenResource, ShareToken]{typ: typeShareToken, convert: infallible((*shareTokenResource).shareToken)}

// Create creates a share token for one of the caller's objects over an
// active connection, and returns it in status created. Source only.
//
// It calls POST /connect/share-tokens; see Persona's reference, [Create a Share Token].
//
// [Create a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/create-a-share-token
func (s *ShareTokensService) Create(ctx context.Context, params *ShareTokenCreateParams, opts ...RequestOption) (*ShareToken, error) {
	body, err := params.body()
	if err != nil {
		return nil, err
	}
	return shareTokenKind.one(ctx, s.client, http.MethodPost, "/connect/share-tokens", nil, body, opts)
}

// Get returns a share token. Either side may call it; each sees its own
// direction and relationships.
//
// It calls GET /connect/share-tokens/{id}; see Persona's reference, [Retrieve a Share Token].
//
// [Retrieve a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/retrieve-a-share-token
func (s *ShareTokensService) Get(ctx context.Context, id string, opts ...RequestOption) (*ShareToken, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return shareTokenKind.one(ctx, s.client, http.MethodGet, "/connect/share-tokens/"+id, nil, nil, opts)
}

// Peek returns a share token with [SourceData], the filtered snapshot of what
// redeeming it would copy, so that a destination can decide before
// redeeming. Destination only, and only where Persona has enabled peeking
// for it; otherwise SourceData is nil.
//
// It calls GET /connect/share-tokens/{id}?peek-source-data=true; see Persona's reference, [Retrieve a Share Token].
//
// [Retrieve a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/retrieve-a-share-token
func (s *ShareTokensService) Peek(ctx context.Context, id string, opts ...RequestOption) (*ShareToken, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return shareTokenKind.one(ctx, s.client, http.MethodGet, "/connect/share-tokens/"+id, url.Values{"peek-source-data": {"true"}}, nil, opts)
}

// Redeem starts copying the token's source object into the caller's
// environment and returns the token in status pending; use [ShareTokensService.Wait] to learn the
// outcome. With nil params (or no DestinationID) it clones the source into a
// new object; with a DestinationID it fills that object (hydrate).
// Destination only.
//
// A token is redeemed at most once, whatever the Idempotency-Key: Persona
// answers a Redeem of a token that is pending, redeemed or failed with 409
// Conflict ([ErrConflict]), and one of an expired token with 422. Only the
// destination can redeem, so a 409 means an earlier call of yours did: Get
// the token and adopt its state (pending: wait for the outcome, or for the
// webhook; redeemed: the copy is there; failed: FailureReason says why).
// Within a call, every retry carries the same key, so a lost answer is
// replayed rather than refused. Across calls, a key made of the token id alone is a trap: Persona replays a
// refusal (422 over an inactive connection, say) to the same key for 24
// hours, even after its cause is fixed. Use "redeem-<token>-<attempt>" with an
// attempt number stored with the token, advanced after a 4xx other than 408
// and 429 and kept after a transport error, 408, 429 or 502-504. A new key
// cannot redeem twice, so a Redeem may move on after a 500 as well.
//
// It calls POST /connect/share-tokens/{id}/redeem; see Persona's reference, [Redeem a Share Token].
//
// [Redeem a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/redeem-share-token
func (s *ShareTokensService) Redeem(ctx context.Context, id string, params *ShareTokenRedeemParams, opts ...RequestOption) (*ShareToken, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	body, err := params.body()
	if err != nil {
		return nil, err
	}
	return shareTokenKind.one(ctx, s.client, http.MethodPost, "/connect/share-tokens/"+id+"/redeem", nil, body, opts)
}

// Expire ends a token before its time, so that it can no longer be redeemed,
// and returns it in status expired. Source only.
//
// It calls POST /connect/share-tokens/{id}/expire; see Persona's reference, [Expire a Share Token].
//
// [Expire a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/expire-share-token
func (s *ShareTokensService) Expire(ctx context.Context, id string, opts ...RequestOption) (*ShareToken, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return shareTokenKind.one(ctx, s.client, http.MethodPost, "/connect/share-tokens/"+id+"/expire", nil, nil, opts)
}

// List returns one page of the tokens the caller created or received, newest
// first. Pass the page's [Page.NextCursor] as After for the next page, or
// use [ShareTokensService.All].
//
// It calls GET /connect/share-tokens; see Persona's reference, [List all Share Tokens].
//
// [List all Share Tokens]: https://docs.withpersona.com/api-reference/connect/share-tokens/list-all-share-tokens
func (s *ShareTokensService) List(ctx context.Context, params *ShareTokenListParams, opts ...RequestOption) (*Page[ShareToken], error) {
	q, err := shareTokenListQuery.encode(params)
	if err != nil {
		return nil, err
	}
	return shareTokenKind.list(ctx, s.client, "/connect/share-tokens", q, opts)
}

// All iterates over every token that matches params, fetching one page at a
// time as the loop advances: nothing is fetched before the loop starts, and
// breaking out of it stops all requests. An error ends the iteration after
// being yielded once. The filters of params apply to every page; it
// starts after params.After, and params.Before is refused.
//
// A list that would never end ends with an [*UnexpectedResponseError]
// ([ErrUnexpectedResponse]), yielded after the items before it: when the
// server hands back a cursor All has already followed, params.After included, or
// when three pages in a row are empty yet point to a next page.
//
// It calls GET /connect/share-tokens once per page; see Persona's reference, [List all Share Tokens].
//
// [List all Share Tokens]: https://docs.withpersona.com/api-reference/connect/share-tokens/list-all-share-tokens
func (s *ShareTokensService) All(ctx context.Context, params *ShareTokenListParams, opts ...RequestOption) iter.Seq2[*ShareToken, error] {
	return all("/connect/share-tokens", params, func(p *ShareTokenListParams) (*Page[ShareToken], error) {
		return s.List(ctx, p, opts...)
	})
}

// Wait polls a token while it is created or pending, and returns it as soon
// as its status is anything else: redeemed, failed, expired, or a status
// this SDK does not know, which Persona may add (check Status;
// [ShareTokenStatus.Terminal] tells
// the known final ones). A failed or expired token is returned without an
// error: check Status and FailureReason. Either side may call it.
//
// The polls follow Wait's own schedule, 1s doubling to 10s unless
// [WithPollInterval] says otherwise; the client's retries ([WithRetryWait],
// [WithMaxRetries]) apply inside each poll. When ctx ends first, whether
// between polls or during one, Wait returns a [*WaitError] that wraps the
// context's error and holds the last status seen (empty if no poll
// answered). An error response or a body without the token ends Wait with
// that call's error.
//
// It calls GET /connect/share-tokens/{id} once per poll; see Persona's reference, [Retrieve a Share Token].
//
// [Retrieve a Share Token]: https://docs.withpersona.com/api-reference/connect/share-tokens/retrieve-a-share-token
func (s *ShareTokensService) Wait(ctx context.Context, id string, opts ...RequestOption) (*ShareToken, error) {
	if ctx == nil {
		return nil, &ValidationError{Field: "ctx", Reason: "is nil"}
	}
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	interval, maxInterval, err := pollSchedule(opts)
	if err != nil {
		return nil, err
	}
	var last ShareTokenStatus
	for {
		tok, err := s.Get(ctx, id, opts...)
		if err != nil {
			if ctxErr := contextEnded(ctx); ctxErr != nil {
				// The context ended inside a poll (in flight or in its
				// retry wait): still a wait that ran out.
				return nil, &WaitError{ID: id, LastStatus: last, Err: ctxErr}
			}
			return nil, err
		}
		last = tok.Status
		if !stillWaiting(tok.Status) {
			return tok, nil
		}
		if err := sleep(ctx, interval); err != nil {
			return nil, &WaitError{ID: id, LastStatus: last, Err: err}
		}
		interval = min(interval*2, maxInterval)
	}
}

// contextEnded is ctx's error, or DeadlineExceeded once its deadline has
// passed even if its timer has not fired yet: an attempt timeout that ends at
// the same instant as the deadline can be reported first.
func contextEnded(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// stillWaiting reports whether a token in status st may yet change on its
// own: only created and pending tokens do.
func stillWaiting(st ShareTokenStatus) bool {
	return st == ShareTokenStatusCreated || st == ShareTokenStatusPending
}

// pollSchedule reads Wait's schedule from the request options, refusing
// invalid options before anything is sent.
func pollSchedule(opts []RequestOption) (initial, maxInterval time.Duration, err error) {
	reqOpts, err := applyRequestOptions(opts)
	if err != nil {
		return 0, 0, err
	}
	if reqOpts.pollInitial == 0 {
		return defaultPollInitial, defaultPollMax, nil
	}
	return reqOpts.pollInitial, reqOpts.pollMax, nil
}

// WaitError is returned by [ShareTokensService.Wait] when its context ends while the token is
// still created or pending. It wraps the context's error.
type WaitError struct {
	ID string
	// LastStatus is the status of the last poll answered, empty if none was.
	LastStatus ShareTokenStatus
	Err        error
}

// Error names the token, its last status and the context's error.
func (e *WaitError) Error() string {
	var b strings.Builder
	b.WriteString("connect: waiting for share token " + e.ID + " (")
	if e.LastStatus == "" {
		b.WriteString("no status seen")
	} else {
		b.WriteString("last status ")
		writeEscaped(&b, string(e.LastStatus))
	}
	b.WriteString(")")
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the context's error.
func (e *WaitError) Unwrap() error { return e.Err }

type shareTokenCreateAttributes struct {
	ConnectionID     string `json:"connection-id"`
	SourceID         string `json:"source-id"`
	ExpiresInSeconds int64  `json:"expires-in-seconds,omitempty"`
}

func (p *ShareTokenCreateParams) body() (any, error) {
	if p == nil {
		return nil, &ValidationError{Field: "params", Reason: "is nil; ConnectionID and SourceID are required"}
	}
	if err := checkID("ConnectionID", p.ConnectionID); err != nil {
		return nil, err
	}
	if err := checkID("SourceID", p.SourceID); err != nil {
		return nil, err
	}
	if err := checkExpiresIn(p.ExpiresIn); err != nil {
		return nil, err
	}
	return requestDocument[shareTokenCreateAttributes]{Data: requestData[shareTokenCreateAttributes]{
		Attributes: shareTokenCreateAttributes{
			ConnectionID:     p.ConnectionID,
			SourceID:         p.SourceID,
			ExpiresInSeconds: int64(p.ExpiresIn / time.Second),
		},
	}}, nil
}

type redeemAttributes struct {
	DestinationID string `json:"destination-id,omitempty"`
}

type redeemMeta struct {
	FieldMappings []FieldMapping `json:"field-mappings"`
}

// body is the clone body {"data":{"attributes":{}}} for nil params, as in
// Persona's example, and the hydrate body otherwise.
func (p *ShareTokenRedeemParams) body() (any, error) {
	doc := requestDocument[redeemAttributes]{}
	if p == nil {
		return doc, nil
	}
	if p.DestinationID != "" {
		if err := checkID("DestinationID", p.DestinationID); err != nil {
			return nil, err
		}
	} else if len(p.FieldMappings) > 0 {
		return nil, &ValidationError{Field: "FieldMappings", Reason: "apply only when hydrating: set DestinationID or drop them"}
	}
	for i, m := range p.FieldMappings {
		if err := checkFieldMapping(i, m); err != nil {
			return nil, err
		}
	}
	doc.Data.Attributes.DestinationID = p.DestinationID
	if len(p.FieldMappings) > 0 {
		doc.Meta = redeemMeta{FieldMappings: p.FieldMappings}
	}
	return doc, nil
}
