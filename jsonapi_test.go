package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

func TestDecodeShareTokenFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    connect.ShareToken
	}{
		{"sharetokens/created.json", tokenCreated},
		{"sharetokens/pending_clone.json", tokenPendingClone},
		{"sharetokens/pending_hydrate.json", tokenPendingHydrate},
		{"sharetokens/redeemed.json", tokenRedeemed},
		{"sharetokens/redeemed_outbound.json", tokenRedeemedOutbound},
		{"sharetokens/failed.json", tokenFailed},
		{"sharetokens/expired.json", tokenExpired},
		// The relationship named connect-connection, as in older documents,
		// fills Connection.
		{"sharetokens/legacy_connect_connection.json", tokenCreated},
		// An unknown attribute, relationship, status and failure reason, and
		// top-level included and meta: no error, unknown values kept as is.
		{"sharetokens/forward_compatible.json", tokenForwardCompatible},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, tt.fixture)))
			got, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
			require.NoError(t, err)
			require.NotNil(t, got)
			assert.Equal(t, tt.want, *got)
			assert.Nil(t, got.SourceData, "only a peek carries source data")
		})
	}
}

func TestDecodeNullTimestampsAreNil(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
	got, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
	require.NoError(t, err)
	assert.Nil(t, got.PendingAt)
	assert.Nil(t, got.RedeemedAt)
	assert.Nil(t, got.FailedAt)
	require.NotNil(t, got.ExpiresAt)
	assert.True(t, got.ExpiresAt.Equal(got.CreatedAt.AddDate(0, 0, 14)), "expires-at is 14 days after created-at in the fixture")
	assert.Empty(t, got.FailureReason)
	assert.Empty(t, got.RedeemMode)
}

func TestDecodeRelationshipVariants(t *testing.T) {
	const attrs = `"attributes":{"status":"created","direction":"outbound","created-at":"2023-08-17T23:18:13.000Z","updated-at":"2023-08-17T23:18:13.000Z"}`
	tests := []struct {
		name          string
		relationships string
		connection    *connect.ResourceRef
		destination   *connect.ResourceRef
	}{
		{
			name:          "connection wins over connect-connection",
			relationships: `{"connection":{"data":{"type":"connect/connection","id":"cxn_NEW"}},"connect-connection":{"data":{"type":"connect/connection","id":"cxn_OLD"}}}`,
			connection:    &connect.ResourceRef{Type: "connect/connection", ID: "cxn_NEW"},
		},
		{
			name:          "null connection falls back to connect-connection",
			relationships: `{"connection":{"data":null},"connect-connection":{"data":{"type":"connect/connection","id":"cxn_OLD"}}}`,
			connection:    &connect.ResourceRef{Type: "connect/connection", ID: "cxn_OLD"},
		},
		{
			name:          "null data and missing relationships are nil",
			relationships: `{"destination":{"data":null}}`,
		},
		{
			name:          "relationships member absent",
			relationships: `null`,
		},
		{
			name:          "relationship without data member",
			relationships: `{"destination":{"links":{"related":"/x"}},"connection":{"data":{"type":"connect/connection","id":"cxn_1"}}}`,
			connection:    &connect.ResourceRef{Type: "connect/connection", ID: "cxn_1"},
		},
		{
			name:          "destination set",
			relationships: `{"destination":{"data":{"type":"account","id":"act_1"}}}`,
			destination:   &connect.ResourceRef{Type: "account", ID: "act_1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"data":{"type":"connect/share-token","id":"cnst_1",` + attrs + `,"relationships":` + tt.relationships + `}}`
			c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
			got, err := c.ShareTokens.Get(context.Background(), "cnst_1")
			require.NoError(t, err)
			assert.Equal(t, tt.connection, got.Connection)
			assert.Equal(t, tt.destination, got.Destination)
			assert.Nil(t, got.Creator)
			assert.Nil(t, got.Source)
		})
	}
}

func TestDecodeUnknownFailureReasonAndRedeemMode(t *testing.T) {
	body := `{"data":{"type":"connect/share-token","id":"cnst_1","attributes":{"status":"failed","direction":"sideways",
		"created-at":"2023-08-17T23:18:13.000Z","updated-at":"2023-08-17T23:18:13.000Z",
		"failure-reason":"cosmic_rays","redeem-mode":"teleport","brand-new":{"nested":[1,2]}}}}`
	c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
	got, err := c.ShareTokens.Get(context.Background(), "cnst_1")
	require.NoError(t, err)
	assert.Equal(t, connect.ShareTokenStatusFailed, got.Status)
	assert.Equal(t, connect.Direction("sideways"), got.Direction)
	assert.Equal(t, connect.FailureReason("cosmic_rays"), got.FailureReason)
	assert.Equal(t, connect.RedeemMode("teleport"), got.RedeemMode)
}

func TestDecodePeekSourceData(t *testing.T) {
	raw := fixture(t, "sharetokens/peek.json")
	c, _ := newTestClient(t, respond(http.StatusOK, raw))
	got, err := c.ShareTokens.Peek(context.Background(), "cnst_ABC123")
	require.NoError(t, err)

	sd := got.SourceData
	require.NotNil(t, sd)
	assert.Equal(t, "connect/source-data/inquiry", sd.Type)
	assert.Equal(t, "inq_ABC123", sd.ID)

	// Attributes hold the scalar attributes, not the fields bag.
	require.Len(t, sd.Attributes, 2)
	assert.NotContains(t, sd.Attributes, "fields")
	assertPeekable(t, sd.Attributes, "status", "full", `"completed"`)
	assertPeekable(t, sd.Attributes, "created-at", "full", `"2023-08-17T23:10:00.000Z"`)

	// Fields: presence attributes carry a boolean, full ones the value.
	require.Len(t, sd.Fields, 4)
	assertPeekable(t, sd.Fields, "name-first", "presence", `true`)
	assertPeekable(t, sd.Fields, "name-last", "presence", `false`)
	assertPeekable(t, sd.Fields, "address-country-code", "full", `"US"`)
	assertPeekable(t, sd.Fields, "birthdate", "full", `null`)

	require.Len(t, sd.Related, 2)
	ver := sd.Related[0]
	assert.Equal(t, "connect/source-data/verification/database", ver.Type)
	assert.Equal(t, "ver_ABC123", ver.ID)
	require.Len(t, ver.Attributes, 1)
	assertPeekable(t, ver.Attributes, "status", "full", `"passed"`)
	assert.Empty(t, ver.Fields)
	assert.Empty(t, ver.Related)

	act := sd.Related[1]
	assert.Equal(t, "connect/source-data/account", act.Type)
	assert.Equal(t, "act_ABC123", act.ID)
	assert.Empty(t, act.Attributes)
	require.Len(t, act.Fields, 1)
	assertPeekable(t, act.Fields, "name-first", "presence", `true`)

	// Raw is the source-data member exactly as received, and marshalling
	// writes it back.
	var doc struct {
		Data struct {
			Attributes struct {
				SourceData json.RawMessage `json:"source-data"`
			} `json:"attributes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.JSONEq(t, string(doc.Data.Attributes.SourceData), string(sd.Raw))
	assert.JSONEq(t, string(doc.Data.Attributes.SourceData), string(mustMarshal(t, sd)))
	assert.JSONEq(t, `{"type":"connect/source-data/account","id":"act_ABC123","peekable-attributes":{"fields":{"name-first":{"visibility":"presence","value":true}}}}`, string(act.Raw))

	// The rest of the token decodes as a plain Get would.
	got.SourceData = nil
	assert.Equal(t, tokenPeeked, *got)
}

func TestDecodePeekAttributeWithoutWrapperIsKept(t *testing.T) {
	body := `{"data":{"type":"connect/share-token","id":"cnst_1","attributes":{"status":"created","direction":"inbound",
		"created-at":"2023-08-17T23:18:13.000Z","updated-at":"2023-08-17T23:18:13.000Z",
		"source-data":{"type":"connect/source-data/txn","id":"txn_1","peekable-attributes":{"status":"approved","score":{"visibility":"full","value":0.5}}}}}}`
	c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
	got, err := c.ShareTokens.Peek(context.Background(), "cnst_1")
	require.NoError(t, err)
	require.NotNil(t, got.SourceData)
	assertPeekable(t, got.SourceData.Attributes, "status", "", `"approved"`)
	assertPeekable(t, got.SourceData.Attributes, "score", "full", `0.5`)
}

func TestDecodePeekWithoutSourceData(t *testing.T) {
	// A destination without the peek capability gets the token alone.
	c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
	got, err := c.ShareTokens.Peek(context.Background(), "cnst_ABC123")
	require.NoError(t, err)
	assert.Nil(t, got.SourceData)
}

func TestDecodeMalformedBodyIsAnErrorNamingTheCall(t *testing.T) {
	bodies := map[string]string{
		"truncated":         `{"data": {"type": "connect/share-token", "id": `,
		"empty":             ``,
		"html":              `<html>oops</html>`,
		"data is a string":  `{"data": "cnst_ABC123"}`,
		"bad timestamp":     `{"data":{"id":"cnst_1","attributes":{"created-at":"yesterday"}}}`,
		"attributes number": `{"data":{"id":"cnst_1","attributes":42}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
			var got *connect.ShareToken
			var err error
			require.NotPanics(t, func() { got, err = c.ShareTokens.Get(context.Background(), "cnst_ABC123") })
			require.Error(t, err)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), "GET /connect/share-tokens/cnst_ABC123")
			assert.Contains(t, err.Error(), "req_TEST123")
			var apiErr *connect.Error
			assert.False(t, errors.As(err, &apiErr), "a malformed 2xx is not an API error")
			assert.NotContains(t, err.Error(), testAPIKey)
		})
	}
}

func TestDecodeMalformedListBody(t *testing.T) {
	c, _ := newTestClient(t, respond(http.StatusOK, []byte(`{"data": {"not": "a list"}}`)))
	page, err := c.Connections.List(context.Background(), &connect.ConnectionListParams{Status: connect.ConnectionStatusActive})
	require.Error(t, err)
	assert.Nil(t, page)
	assert.Contains(t, err.Error(), "GET /connect/connections")
}

func assertPeekable(t *testing.T, m map[string]connect.PeekableAttribute, name, visibility, value string) {
	t.Helper()
	a, ok := m[name]
	if !assert.True(t, ok, "attribute %q missing", name) {
		return
	}
	assert.Equal(t, visibility, a.Visibility, "visibility of %q", name)
	assert.JSONEq(t, value, string(a.Value), "value of %q", name)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}
