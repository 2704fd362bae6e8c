package connect_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// The share tokens as the fixtures describe them, field by field.
var (
	connectionRef = &connect.ResourceRef{Type: "connect/connection", ID: "cxn_ABC123"}
	userCreator   = &connect.ResourceRef{Type: "user", ID: "user_ABC123"}
	apiKeyCreator = &connect.ResourceRef{Type: "api-key", ID: "api_ABC123"}
	inquirySource = &connect.ResourceRef{Type: "inquiry", ID: "inq_ABC123"}
	inquiryDest   = &connect.ResourceRef{Type: "inquiry", ID: "inq_XYZ789"}

	tokenCreated = connect.ShareToken{
		ID:         "cnst_ABC123",
		Status:     connect.ShareTokenStatusCreated,
		Direction:  connect.DirectionOutbound,
		CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		ExpiresAt:  fixtureTimePtr("2023-08-31T23:18:13.000Z"),
		Connection: connectionRef,
		Creator:    userCreator,
		Source:     inquirySource,
	}
	tokenPendingClone = connect.ShareToken{
		ID:         "cnst_ABC123",
		Status:     connect.ShareTokenStatusPending,
		Direction:  connect.DirectionInbound,
		CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:  fixtureTime("2023-08-17T23:25:00.000Z"),
		PendingAt:  fixtureTimePtr("2023-08-17T23:25:00.000Z"),
		RedeemMode: connect.RedeemModeClone,
		Connection: connectionRef,
	}
	tokenPendingHydrate = connect.ShareToken{
		ID:          "cnst_DEF456",
		Status:      connect.ShareTokenStatusPending,
		Direction:   connect.DirectionInbound,
		CreatedAt:   fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:   fixtureTime("2023-08-17T23:25:00.000Z"),
		PendingAt:   fixtureTimePtr("2023-08-17T23:25:00.000Z"),
		RedeemMode:  connect.RedeemModeHydrate,
		Connection:  connectionRef,
		Destination: inquiryDest,
	}
	tokenRedeemed = connect.ShareToken{
		ID:          "cnst_ABC123",
		Status:      connect.ShareTokenStatusRedeemed,
		Direction:   connect.DirectionInbound,
		CreatedAt:   fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:   fixtureTime("2023-08-17T23:30:15.000Z"),
		PendingAt:   fixtureTimePtr("2023-08-17T23:25:00.000Z"),
		RedeemedAt:  fixtureTimePtr("2023-08-17T23:30:15.000Z"),
		RedeemMode:  connect.RedeemModeHydrate,
		Connection:  connectionRef,
		Destination: inquiryDest,
	}
	tokenRedeemedOutbound = connect.ShareToken{
		ID:         "cnst_ABC123",
		Status:     connect.ShareTokenStatusRedeemed,
		Direction:  connect.DirectionOutbound,
		CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:  fixtureTime("2023-08-17T23:30:15.000Z"),
		PendingAt:  fixtureTimePtr("2023-08-17T23:25:00.000Z"),
		RedeemedAt: fixtureTimePtr("2023-08-17T23:30:15.000Z"),
		RedeemMode: connect.RedeemModeClone,
		Connection: connectionRef,
		Creator:    userCreator,
		Source:     inquirySource,
	}
	tokenFailed = connect.ShareToken{
		ID:            "cnst_ABC123",
		Status:        connect.ShareTokenStatusFailed,
		Direction:     connect.DirectionInbound,
		CreatedAt:     fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:     fixtureTime("2023-08-17T23:35:20.000Z"),
		PendingAt:     fixtureTimePtr("2023-08-17T23:30:15.000Z"),
		FailedAt:      fixtureTimePtr("2023-08-17T23:35:20.000Z"),
		FailureReason: connect.FailureReasonImportFailed,
		RedeemMode:    connect.RedeemModeHydrate,
		Connection:    connectionRef,
		Destination:   inquiryDest,
	}
	tokenExpired = connect.ShareToken{
		ID:         "cnst_ABC123",
		Status:     connect.ShareTokenStatusExpired,
		Direction:  connect.DirectionOutbound,
		CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:  fixtureTime("2023-08-18T23:18:13.000Z"),
		ExpiresAt:  fixtureTimePtr("2023-08-18T23:18:13.000Z"),
		Connection: connectionRef,
		Creator:    apiKeyCreator,
		Source:     inquirySource,
	}
	tokenForwardCompatible = connect.ShareToken{
		ID:            "cnst_ABC123",
		Status:        connect.ShareTokenStatus("archived"),
		Direction:     connect.DirectionOutbound,
		CreatedAt:     fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:     fixtureTime("2023-08-17T23:35:20.000Z"),
		PendingAt:     fixtureTimePtr("2023-08-17T23:25:00.000Z"),
		ExpiresAt:     fixtureTimePtr("2023-08-31T23:18:13.000Z"),
		FailedAt:      fixtureTimePtr("2023-08-17T23:35:20.000Z"),
		FailureReason: connect.FailureReason("quota_exceeded"),
		RedeemMode:    connect.RedeemModeClone,
		Connection:    connectionRef,
		Creator:       userCreator,
		Source:        inquirySource,
	}
	// tokenPeeked is peek.json without its SourceData, which
	// TestDecodePeekSourceData checks on its own.
	tokenPeeked = connect.ShareToken{
		ID:         "cnst_ABC123",
		Status:     connect.ShareTokenStatusCreated,
		Direction:  connect.DirectionInbound,
		CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		UpdatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
		ExpiresAt:  fixtureTimePtr("2023-08-31T23:18:13.000Z"),
		Connection: connectionRef,
	}
)

// tokenCall is one share token operation as a test drives it.
type tokenCall func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error)

func TestShareTokenOperations(t *testing.T) {
	tests := []struct {
		name     string
		call     tokenCall
		status   int
		response string // fixture the server answers with
		method   string
		path     string
		rawQuery string
		body     string // fixture the request body must equal; "" for no body
		want     connect.ShareToken
	}{
		{
			name: "Create",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}, opts...)
			},
			status: http.StatusCreated, response: "sharetokens/created.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens",
			body: "requests/create_share_token.json",
			want: tokenCreated,
		},
		{
			name: "Create with ExpiresIn",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123", ExpiresIn: 24 * time.Hour}, opts...)
			},
			status: http.StatusCreated, response: "sharetokens/created.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens",
			body: "requests/create_share_token_expires.json",
			want: tokenCreated,
		},
		{
			name: "Get",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Get(ctx, "cnst_ABC123", opts...)
			},
			status: http.StatusOK, response: "sharetokens/redeemed.json",
			method: http.MethodGet, path: "/api/v1/connect/share-tokens/cnst_ABC123",
			want: tokenRedeemed,
		},
		{
			name: "Peek",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Peek(ctx, "cnst_ABC123", opts...)
			},
			status: http.StatusOK, response: "sharetokens/peek.json",
			method: http.MethodGet, path: "/api/v1/connect/share-tokens/cnst_ABC123",
			rawQuery: "peek-source-data=true",
			want:     tokenPeeked,
		},
		{
			name: "Redeem clone with nil params",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Redeem(ctx, "cnst_ABC123", nil, opts...)
			},
			status: http.StatusAccepted, response: "sharetokens/pending_clone.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens/cnst_ABC123/redeem",
			body: "requests/redeem_clone.json",
			want: tokenPendingClone,
		},
		{
			name: "Redeem clone with empty params",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Redeem(ctx, "cnst_ABC123", &connect.ShareTokenRedeemParams{}, opts...)
			},
			status: http.StatusAccepted, response: "sharetokens/pending_clone.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens/cnst_ABC123/redeem",
			body: "requests/redeem_clone.json",
			want: tokenPendingClone,
		},
		{
			name: "Redeem hydrate with field mappings",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Redeem(ctx, "cnst_DEF456", &connect.ShareTokenRedeemParams{
					DestinationID: "inq_XYZ789",
					FieldMappings: []connect.FieldMapping{{SourceField: "address_street_1", DestinationField: "street_address"}},
				}, opts...)
			},
			status: http.StatusAccepted, response: "sharetokens/pending_hydrate.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens/cnst_DEF456/redeem",
			body: "requests/redeem_hydrate.json",
			want: tokenPendingHydrate,
		},
		{
			name: "Expire",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
				return c.ShareTokens.Expire(ctx, "cnst_ABC123", opts...)
			},
			status: http.StatusOK, response: "sharetokens/expired.json",
			method: http.MethodPost, path: "/api/v1/connect/share-tokens/cnst_ABC123/expire",
			want: tokenExpired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newTestClient(t, respond(tt.status, fixture(t, tt.response)), connect.WithUserAgent(testUserAgent))
			got, err := tt.call(context.Background(), c)
			require.NoError(t, err)

			require.Equal(t, 1, rec.count())
			r := rec.last(t)
			assert.Equal(t, tt.method, r.Method)
			assert.Equal(t, tt.path, r.Path)
			assert.Equal(t, tt.rawQuery, r.RawQuery)
			assertStandardHeaders(t, r, testUserAgent)
			if tt.body == "" {
				assert.Empty(t, r.Body, "request body")
				assert.Empty(t, r.Header.Values("Content-Type"))
			} else {
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				assert.JSONEq(t, string(fixture(t, tt.body)), string(r.Body))
			}

			require.NotNil(t, got)
			got.SourceData = nil // checked by TestDecodePeekSourceData
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestShareTokenPostsSendCallersIdempotencyKey(t *testing.T) {
	calls := map[string]tokenCall{
		"Create": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
			return c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}, opts...)
		},
		"Redeem": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
			return c.ShareTokens.Redeem(ctx, "cnst_ABC123", nil, opts...)
		},
		"Expire": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.ShareToken, error) {
			return c.ShareTokens.Expire(ctx, "cnst_ABC123", opts...)
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
			const key = "redeem-cnst_ABC123-attempt-1"
			_, err := call(context.Background(), c, connect.WithIdempotencyKey(key))
			require.NoError(t, err)
			assert.Equal(t, []string{key}, rec.last(t).Header.Values("Idempotency-Key"))

			// Without the option, each call gets a fresh key of its own.
			_, err = call(context.Background(), c)
			require.NoError(t, err)
			_, err = call(context.Background(), c)
			require.NoError(t, err)
			all := rec.all()
			require.Len(t, all, 3)
			k1, k2 := all[1].Header.Get("Idempotency-Key"), all[2].Header.Get("Idempotency-Key")
			assert.NotEmpty(t, k1)
			assert.NotEqual(t, key, k1)
			assert.NotEqual(t, k1, k2, "two calls shared a generated Idempotency-Key")
		})
	}
}

func TestShareTokenGetIgnoresIdempotencyKey(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
	_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123", connect.WithIdempotencyKey("some-key"))
	require.NoError(t, err)
	assert.Empty(t, rec.last(t).Header.Values("Idempotency-Key"))
}

func TestShareTokenList(t *testing.T) {
	tests := []struct {
		name     string
		params   *connect.ShareTokenListParams
		rawQuery string
	}{
		{name: "nil params", params: nil, rawQuery: ""},
		{name: "zero params", params: &connect.ShareTokenListParams{}, rawQuery: ""},
		{
			name: "every filter, page size and after",
			params: &connect.ShareTokenListParams{
				ConnectionID: "cxn_ABC123",
				Status:       connect.ShareTokenStatusRedeemed,
				Direction:    connect.DirectionInbound,
				ListOptions:  connect.ListOptions{PageSize: 25, After: "cnst_ABC456"},
			},
			rawQuery: "filter%5Bconnection-id%5D=cxn_ABC123&filter%5Bdirection%5D=inbound&filter%5Bstatus%5D=redeemed&page%5Bafter%5D=cnst_ABC456&page%5Bsize%5D=25",
		},
		{
			name:     "before",
			params:   &connect.ShareTokenListParams{ListOptions: connect.ListOptions{Before: "cnst_ABC789", PageSize: 100}},
			rawQuery: "page%5Bbefore%5D=cnst_ABC789&page%5Bsize%5D=100",
		},
		{
			name:     "status only",
			params:   &connect.ShareTokenListParams{Status: connect.ShareTokenStatusPending},
			rawQuery: "filter%5Bstatus%5D=pending",
		},
		{
			name:     "unknown status value is sent as is",
			params:   &connect.ShareTokenListParams{Status: "archived", Direction: connect.DirectionOutbound, ListOptions: connect.ListOptions{PageSize: 1}},
			rawQuery: "filter%5Bdirection%5D=outbound&filter%5Bstatus%5D=archived&page%5Bsize%5D=1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page1.json")), connect.WithUserAgent(testUserAgent))
			page, err := c.ShareTokens.List(context.Background(), tt.params)
			require.NoError(t, err)

			require.Equal(t, 1, rec.count())
			r := rec.last(t)
			assert.Equal(t, http.MethodGet, r.Method)
			assert.Equal(t, "/api/v1/connect/share-tokens", r.Path)
			assert.Equal(t, tt.rawQuery, r.RawQuery)
			assert.Empty(t, r.Body)
			assertStandardHeaders(t, r, testUserAgent)

			require.Len(t, page.Data, 2)
			assert.Equal(t, "cnst_ABC123", page.Data[0].ID)
			assert.Equal(t, "cnst_ABC456", page.Data[1].ID)
		})
	}
}

func TestShareTokenListDoesNotChangeParams(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page1.json")))
	params := &connect.ShareTokenListParams{Status: connect.ShareTokenStatusCreated, ListOptions: connect.ListOptions{PageSize: 5, After: "cnst_X"}}
	before := *params
	_, err := c.ShareTokens.List(context.Background(), params)
	require.NoError(t, err)
	assert.Equal(t, before, *params)
}

func TestShareTokenStatusTerminal(t *testing.T) {
	tests := map[connect.ShareTokenStatus]bool{
		connect.ShareTokenStatusCreated:  false,
		connect.ShareTokenStatusPending:  false,
		connect.ShareTokenStatusRedeemed: true,
		connect.ShareTokenStatusExpired:  true,
		connect.ShareTokenStatusFailed:   true,
		"archived":                       false,
		"":                               false,
	}
	for status, want := range tests {
		assert.Equal(t, want, status.Terminal(), "%q.Terminal()", status)
	}
}

// requireUnexpected asserts that err is an *UnexpectedResponseError for the
// call method path, naming the call, status and request id, and returns it.
func requireUnexpected(t testing.TB, err error, method, path string) *connect.UnexpectedResponseError {
	t.Helper()
	require.Error(t, err)
	var ue *connect.UnexpectedResponseError
	require.ErrorAs(t, err, &ue, "got %T: %v", err, err)
	assert.ErrorIs(t, err, connect.ErrUnexpectedResponse)
	assert.Equal(t, method, ue.Method)
	assert.Equal(t, path, ue.Path)
	assert.Equal(t, http.StatusOK, ue.StatusCode)
	assert.Equal(t, "req_TEST123", ue.RequestID)
	assert.NotEmpty(t, ue.Reason)
	for _, part := range []string{method + " " + path, "200", "req_TEST123"} {
		assert.Contains(t, err.Error(), part)
	}
	return ue
}

// Bodies that hold no share token (or no connection), whatever the call.
var notAResource = map[string]string{
	"null":              `null`,
	"empty object":      `{}`,
	"null data":         `{"data":null}`,
	"empty data":        `{"data":{}}`,
	"data without id":   `{"data":{"type":"%s","attributes":{"status":"created"}}}`,
	"data with empty":   `{"data":{"type":"%s","id":""}}`,
	"data without type": `{"data":{"id":"x_ABC123","attributes":{}}}`,
	"data is an array":  `{"data":[]}`,
	"data is a string":  `{"data":"cnst_ABC123"}`,
	"array":             `[]`,
	"number":            `1`,
	"empty body":        ``,
}

// Bodies that hold no list of share tokens (or connections).
var notAList = map[string]string{
	"null":                  `null`,
	"empty object":          `{}`,
	"null data":             `{"data":null}`,
	"data is an object":     `{"data":{}}`,
	"null element":          `{"data":[null]}`,
	"empty element":         `{"data":[{}]}`,
	"element without id":    `{"data":[{"type":"%s"}]}`,
	"second element bad":    `{"data":[{"type":"%s","id":"x_1"},{"type":"%s"}]}`,
	"element of wrong type": `{"data":[{"type":"inquiry","id":"inq_1"}]}`,
}

func fillType(body, typ string) []byte {
	return []byte(strings.ReplaceAll(body, "%s", typ))
}

// TestShareTokenCallsNeverReturnAnEmptyToken: every share-token call refuses
// a 2xx body that holds no share token, a connection included, with an
// *UnexpectedResponseError and no token.
func TestShareTokenCallsNeverReturnAnEmptyToken(t *testing.T) {
	bodies := map[string][]byte{"a connection": fixture(t, "connections/active.json")}
	for name, body := range notAResource {
		bodies[name] = fillType(body, "connect/share-token")
	}
	calls := map[string]struct {
		method, path string
		call         func(context.Context, *connect.Client) (*connect.ShareToken, error)
	}{
		"Create": {http.MethodPost, "/connect/share-tokens", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
		}},
		"Get": {http.MethodGet, "/connect/share-tokens/cnst_ABC123", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Get(ctx, "cnst_ABC123")
		}},
		"Peek": {http.MethodGet, "/connect/share-tokens/cnst_ABC123", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Peek(ctx, "cnst_ABC123")
		}},
		"Redeem": {http.MethodPost, "/connect/share-tokens/cnst_ABC123/redeem", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Redeem(ctx, "cnst_ABC123", nil)
		}},
		"Expire": {http.MethodPost, "/connect/share-tokens/cnst_ABC123/expire", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Expire(ctx, "cnst_ABC123")
		}},
		"Wait": {http.MethodGet, "/connect/share-tokens/cnst_ABC123", func(ctx context.Context, c *connect.Client) (*connect.ShareToken, error) {
			return c.ShareTokens.Wait(ctx, "cnst_ABC123")
		}},
	}
	for callName, tc := range calls {
		for bodyName, body := range bodies {
			t.Run(callName+"/"+bodyName, func(t *testing.T) {
				c, rec := newTestClient(t, respond(http.StatusOK, body))
				tok, err := tc.call(context.Background(), c)
				assert.Nil(t, tok)
				requireUnexpected(t, err, tc.method, tc.path)
				assert.Equal(t, 1, rec.count(), "an unexpected 2xx is not retried")
			})
		}
	}
}

// TestShareTokenListRefusesWhatIsNotAList: List and All refuse a body
// without a list of share tokens, a list of connections included.
func TestShareTokenListRefusesWhatIsNotAList(t *testing.T) {
	bodies := map[string][]byte{"a list of connections": fixture(t, "connections/list_page1.json")}
	for name, body := range notAList {
		bodies[name] = fillType(body, "connect/share-token")
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, body))
			page, err := c.ShareTokens.List(context.Background(), nil)
			assert.Nil(t, page)
			requireUnexpected(t, err, http.MethodGet, "/connect/share-tokens")

			var n int
			for tok, err := range c.ShareTokens.All(context.Background(), nil) {
				n++
				assert.Nil(t, tok)
				requireUnexpected(t, err, http.MethodGet, "/connect/share-tokens")
			}
			assert.Equal(t, 1, n)
		})
	}
}
