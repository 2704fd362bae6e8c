package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// writes the same content.
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
	// Raw is kept once, on the top snapshot; a related one marshals from
	// what it holds.
	assert.Nil(t, act.Raw)
	assert.Nil(t, ver.Raw)
	assert.JSONEq(t, `{"type":"connect/source-data/account","id":"act_ABC123","peekable-attributes":{"fields":{"name-first":{"visibility":"presence","value":true}}}}`, string(mustMarshal(t, act)))

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

// nestedSourceData is a source-data snapshot whose related-objects nest
// depth levels below the top one, each level carrying pad bytes of values.
func nestedSourceData(depth, pad int) []byte {
	var b strings.Builder
	for i := 0; i <= depth; i++ {
		fmt.Fprintf(&b, `{"type":"connect/source-data/inquiry","id":"inq_%d","peekable-attributes":{"status":{"visibility":"full","value":%q},"fields":{"name-first":{"visibility":"presence","value":true}}}`, i, strings.Repeat("x", pad))
		if i < depth {
			b.WriteString(`,"related-objects":[`)
		}
	}
	b.WriteString(`}`)
	for i := 0; i < depth; i++ {
		b.WriteString(`]}`)
	}
	return []byte(b.String())
}

// wideSourceData is a snapshot with n related objects of fields fields each.
func wideSourceData(n, fields int) []byte {
	// Appended by hand: fmt would take seconds (more under -race) for the
	// 12 MiB snapshots.
	b := make([]byte, 0, 160+n*(90+fields*56))
	b = append(b, `{"type":"connect/source-data/inquiry","id":"inq_top","peekable-attributes":{"status":{"visibility":"full","value":"completed"}},"related-objects":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"connect/source-data/verification","id":"ver_`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","peekable-attributes":{"status":"passed","fields":{`...)
		for f := range fields {
			if f > 0 {
				b = append(b, ',')
			}
			b = append(b, `"field-`...)
			b = strconv.AppendInt(b, int64(f), 10)
			b = append(b, `":{"visibility":"full","value":"value `...)
			b = strconv.AppendInt(b, int64(f), 10)
			b = append(b, " of "...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `"}`...)
		}
		b = append(b, `}}}`...)
	}
	return append(b, `]}`...)
}

// peekBody wraps a source-data snapshot in a share-token document.
func peekBody(sourceData []byte) []byte {
	return []byte(`{"data":{"type":"connect/share-token","id":"cnst_ABC123","attributes":{"status":"created","direction":"inbound",` +
		`"created-at":"2023-08-17T23:18:13.000Z","updated-at":"2023-08-17T23:18:13.000Z","source-data":` + string(sourceData) + `}}}`)
}

// TestDecodeSourceDataDepthLimit: related-objects may nest 32 levels below
// the snapshot; one more is an *UnexpectedResponseError naming the call.
func TestDecodeSourceDataDepthLimit(t *testing.T) {
	t.Run("32 levels", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusOK, peekBody(nestedSourceData(32, 10))))
		tok, err := c.ShareTokens.Peek(context.Background(), "cnst_ABC123")
		require.NoError(t, err)
		sd := tok.SourceData
		for i := 0; i < 32; i++ {
			require.Len(t, sd.Related, 1, "level %d", i)
			sd = sd.Related[0]
		}
		assert.Equal(t, "inq_32", sd.ID)
		assertPeekable(t, sd.Fields, "name-first", "presence", `true`)
	})
	for _, depth := range []int{33, 400} {
		t.Run(strconv.Itoa(depth)+" levels", func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, peekBody(nestedSourceData(depth, 10))))
			tok, err := c.ShareTokens.Peek(context.Background(), "cnst_ABC123")
			assert.Nil(t, tok)
			ue := requireUnexpected(t, err, http.MethodGet, "/connect/share-tokens/cnst_ABC123")
			assert.Contains(t, ue.Reason, "32")
		})
	}
	t.Run("direct unmarshal", func(t *testing.T) {
		var sd connect.SourceData
		err := json.Unmarshal(nestedSourceData(33, 1), &sd)
		assert.ErrorIs(t, err, connect.ErrUnexpectedResponse)
	})
}

// decodeCost decodes sourceData inside a share-token document, as Peek does,
// and measures the heap it adds: peak is the highest live heap any garbage
// collection saw meanwhile (the collector runs often, GOGC=5, and a
// finalizer re-armed every cycle reads /gc/heap/live:bytes) or saw right
// after, with the result still held; allocated is every byte allocated, garbage included.
func decodeCost(t *testing.T, sourceData []byte) (peak, allocated uint64, err error) {
	t.Helper()
	var doc struct {
		Data struct {
			Attributes struct {
				SourceData *connect.SourceData `json:"source-data"`
			} `json:"attributes"`
		} `json:"data"`
	}
	body := peekBody(sourceData)

	defer debug.SetGCPercent(debug.SetGCPercent(5))
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	readLive := func() uint64 {
		metrics.Read(live)
		return live[0].Value.Uint64()
	}
	runtime.GC()
	base := readLive()
	var (
		mu      sync.Mutex
		highest uint64
		stop    atomic.Bool
		arm     func()
	)
	arm = func() {
		runtime.SetFinalizer(new([64]byte), func(*[64]byte) {
			mu.Lock()
			highest = max(highest, readLive())
			mu.Unlock()
			if !stop.Load() {
				arm()
			}
		})
	}
	arm()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err = json.Unmarshal(body, &doc)
	runtime.ReadMemStats(&after)
	runtime.GC() // the result is still live here: its heap counts
	retained := readLive()
	runtime.KeepAlive(&doc)
	runtime.KeepAlive(body) // counted in base, so held to the end
	stop.Store(true)

	mu.Lock()
	defer mu.Unlock()
	highest = max(highest, retained)
	return highest - min(highest, base), after.TotalAlloc - before.TotalAlloc, err
}

// TestDecodeSourceDataIsLinear: the live heap a snapshot adds while it is
// decoded, the result included, stays below four times its size, however it
// nests. It used to keep a copy of each level's subtree: hundreds of MiB
// for a 1 MiB body nested 400 deep.
//
// The wide snapshots are 12 MiB with CONNECT_TEST_FULL (set by .ci/run),
// near the 16 MiB body cap; by default they are 4 MiB, which costs a third
// (the collector runs every 5% of growth) and shows the same ratios, where
// at 1 MiB a hundred objects of 500 fields come too close to the bound.
func TestDecodeSourceDataIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes about 30 MiB of snapshots")
	}
	wide, objects := "4 MiB", 1300
	if fullSize() {
		wide, objects = "12 MiB", 4000
	}
	for _, tc := range []struct {
		name    string
		body    func() []byte // made in the subtest, so that one body at a time is live
		refused bool
	}{
		{"1 MiB nested 400 deep", func() []byte { return nestedSourceData(400, 2500) }, true},
		{"1 MiB nested 32 deep", func() []byte { return nestedSourceData(32, 32<<10) }, false},
		{"1 MiB of one value", func() []byte { return nestedSourceData(0, 1<<20) }, false},
		{fmt.Sprintf("%s, %d objects of 50 fields", wide, objects), func() []byte { return wideSourceData(objects, 50) }, false},
		{fmt.Sprintf("%s, %d objects of 500 fields", wide, objects/10), func() []byte { return wideSourceData(objects/10, 500) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body()
			peak, allocated, err := decodeCost(t, body)
			if tc.refused {
				require.ErrorIs(t, err, connect.ErrUnexpectedResponse)
			} else {
				require.NoError(t, err)
			}
			n := float64(len(body))
			t.Logf("body %d B: peak live %.2f×, allocated %.2f× the body", len(body), float64(peak)/n, float64(allocated)/n)
			if !tc.refused {
				// A kept result is live at the last sample; a refused decode
				// keeps nothing, and may finish between two collections.
				assert.Positive(t, peak, "the measurement saw the result")
			}
			assert.Less(t, float64(peak)/n, 4.0)
		})
	}
}

// TestSourceDataMarshalWritesWhatItHolds: a snapshot built or edited in Go
// marshals its current content, not the document it was decoded from, and
// the output decodes back to the same snapshot.
func TestSourceDataMarshalWritesWhatItHolds(t *testing.T) {
	t.Run("decoded, then round trip", func(t *testing.T) {
		sd := decodeFixtureSourceData(t)
		again := roundTrip(t, sd)
		assert.Equal(t, withoutRaw(sd), withoutRaw(again))
	})
	t.Run("edited", func(t *testing.T) {
		sd := decodeFixtureSourceData(t)
		sd.ID = "inq_EDITED"
		sd.Attributes["status"] = connect.PeekableAttribute{Visibility: "full", Value: json.RawMessage(`"approved"`)}
		delete(sd.Fields, "name-last")
		sd.Related = sd.Related[:1]
		sd.Related[0].Attributes["score"] = connect.PeekableAttribute{Visibility: "presence", Value: json.RawMessage(`true`)}
		again := roundTrip(t, sd)
		assert.Equal(t, "inq_EDITED", again.ID)
		assertPeekable(t, again.Attributes, "status", "full", `"approved"`)
		assert.NotContains(t, again.Fields, "name-last")
		assert.Len(t, again.Fields, 3)
		require.Len(t, again.Related, 1)
		assertPeekable(t, again.Related[0].Attributes, "score", "presence", `true`)
		assert.Equal(t, withoutRaw(sd), withoutRaw(again))
	})
	t.Run("built in Go", func(t *testing.T) {
		sd := &connect.SourceData{
			Type: "connect/source-data/inquiry",
			ID:   "inq_1",
			Attributes: map[string]connect.PeekableAttribute{
				"status": {Visibility: "full", Value: json.RawMessage(`"completed"`)},
				"legacy": {Value: json.RawMessage(`"kept as sent"`)},
			},
			Fields: map[string]connect.PeekableAttribute{"name-first": {Visibility: "presence", Value: json.RawMessage(`true`)}},
			Related: []*connect.SourceData{{Type: "connect/source-data/account", ID: "act_1",
				Fields: map[string]connect.PeekableAttribute{"name-last": {Visibility: "full", Value: json.RawMessage(`"Lovelace"`)}}}},
			Raw: json.RawMessage(`{"type":"stale","id":"old"}`),
		}
		assert.JSONEq(t, `{"type":"connect/source-data/inquiry","id":"inq_1",
			"peekable-attributes":{"status":{"visibility":"full","value":"completed"},"legacy":"kept as sent",
				"fields":{"name-first":{"visibility":"presence","value":true}}},
			"related-objects":[{"type":"connect/source-data/account","id":"act_1",
				"peekable-attributes":{"fields":{"name-last":{"visibility":"full","value":"Lovelace"}}}}]}`,
			string(mustMarshal(t, sd)))
		assert.Equal(t, withoutRaw(sd), withoutRaw(roundTrip(t, sd)))
	})
	t.Run("inside a ShareToken", func(t *testing.T) {
		tok := connect.ShareToken{ID: "cnst_1", SourceData: &connect.SourceData{Type: "t", ID: "i"}}
		assert.Contains(t, string(mustMarshal(t, tok)), `"SourceData":{"type":"t","id":"i"}`)
	})
	t.Run("errors", func(t *testing.T) {
		_, err := json.Marshal(&connect.SourceData{Attributes: map[string]connect.PeekableAttribute{"x": {Value: json.RawMessage(`{bad`)}}})
		assert.Error(t, err, "an invalid value is an error, not invalid JSON")
		cyclic := &connect.SourceData{Type: "t", ID: "i"}
		cyclic.Related = []*connect.SourceData{cyclic}
		assert.NotPanics(t, func() {
			_, err = json.Marshal(cyclic)
		})
		assert.Error(t, err, "a cycle is refused at the depth limit")
	})
}

func decodeFixtureSourceData(t *testing.T) *connect.SourceData {
	t.Helper()
	c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/peek.json")))
	tok, err := c.ShareTokens.Peek(context.Background(), "cnst_ABC123")
	require.NoError(t, err)
	require.NotNil(t, tok.SourceData)
	return tok.SourceData
}

// roundTrip marshals sd and decodes the result.
func roundTrip(t *testing.T, sd *connect.SourceData) *connect.SourceData {
	t.Helper()
	var again connect.SourceData
	require.NoError(t, json.Unmarshal(mustMarshal(t, sd), &again))
	assert.JSONEq(t, string(mustMarshal(t, sd)), string(again.Raw))
	return &again
}

// withoutRaw copies sd without Raw anywhere, for comparing content.
func withoutRaw(sd *connect.SourceData) *connect.SourceData {
	if sd == nil {
		return nil
	}
	c := *sd
	c.Raw = nil
	c.Related = nil
	for _, r := range sd.Related {
		c.Related = append(c.Related, withoutRaw(r))
	}
	return &c
}
