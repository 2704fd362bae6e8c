package connect_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

func TestShareTokenListPages(t *testing.T) {
	t.Run("first page", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page1.json")))
		page, err := c.ShareTokens.List(context.Background(), nil)
		require.NoError(t, err)
		require.Len(t, page.Data, 2)
		assert.Equal(t, connect.ShareToken{
			ID:         "cnst_ABC123",
			Status:     connect.ShareTokenStatusCreated,
			Direction:  connect.DirectionOutbound,
			CreatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
			UpdatedAt:  fixtureTime("2023-08-17T23:18:13.000Z"),
			Connection: connectionRef,
			Creator:    apiKeyCreator,
			Source:     inquirySource,
		}, *page.Data[0])
		assert.Equal(t, connect.ShareToken{
			ID:          "cnst_ABC456",
			Status:      connect.ShareTokenStatusRedeemed,
			Direction:   connect.DirectionInbound,
			CreatedAt:   fixtureTime("2023-08-17T23:18:13.000Z"),
			UpdatedAt:   fixtureTime("2023-08-17T23:30:15.000Z"),
			PendingAt:   fixtureTimePtr("2023-08-17T23:25:00.000Z"),
			RedeemedAt:  fixtureTimePtr("2023-08-17T23:30:15.000Z"),
			RedeemMode:  connect.RedeemModeHydrate,
			Connection:  connectionRef,
			Destination: inquiryDest,
		}, *page.Data[1])
		assert.Equal(t, "cnst_ABC456", page.NextCursor)
		assert.Empty(t, page.PrevCursor)
		assert.True(t, page.HasNext())
	})
	t.Run("last page", func(t *testing.T) {
		c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page2.json")))
		page, err := c.ShareTokens.List(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: "cnst_ABC456"}})
		require.NoError(t, err)
		require.Len(t, page.Data, 2)
		assert.Equal(t, connect.ShareToken{
			ID:         "cnst_ABC789",
			Status:     connect.ShareTokenStatusExpired,
			Direction:  connect.DirectionOutbound,
			CreatedAt:  fixtureTime("2023-08-16T18:02:41.000Z"),
			UpdatedAt:  fixtureTime("2023-08-17T18:02:41.000Z"),
			ExpiresAt:  fixtureTimePtr("2023-08-17T18:02:41.000Z"),
			Connection: connectionRef,
			Creator:    apiKeyCreator,
			Source:     &connect.ResourceRef{Type: "account", ID: "act_ABC123"},
		}, *page.Data[0])
		assert.Equal(t, connect.ShareToken{
			ID:            "cnst_ABD012",
			Status:        connect.ShareTokenStatusFailed,
			Direction:     connect.DirectionInbound,
			CreatedAt:     fixtureTime("2023-08-15T09:47:05.000Z"),
			UpdatedAt:     fixtureTime("2023-08-15T10:01:33.000Z"),
			PendingAt:     fixtureTimePtr("2023-08-15T10:01:30.000Z"),
			FailedAt:      fixtureTimePtr("2023-08-15T10:01:33.000Z"),
			FailureReason: connect.FailureReasonSourceRedacted,
			RedeemMode:    connect.RedeemModeClone,
			Connection:    connectionRef,
		}, *page.Data[1])
		assert.Empty(t, page.NextCursor)
		assert.Equal(t, "cnst_ABC789", page.PrevCursor)
		assert.False(t, page.HasNext())
	})
}

func TestConnectionListPages(t *testing.T) {
	c, _ := newTestClient(t, sequence(
		respond(http.StatusOK, fixture(t, "connections/list_page1.json")),
		respond(http.StatusOK, fixture(t, "connections/list_page2.json")),
	))
	p1, err := c.Connections.List(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"cxn_ABC123", "cxn_XYZ789"}, connectionIDs(p1.Data))
	assert.Equal(t, "cxn_XYZ789", p1.NextCursor)
	assert.Empty(t, p1.PrevCursor)
	assert.True(t, p1.HasNext())

	p2, err := c.Connections.List(context.Background(), &connect.ConnectionListParams{ListOptions: connect.ListOptions{After: p1.NextCursor}})
	require.NoError(t, err)
	require.Len(t, p2.Data, 1)
	assert.Equal(t, connect.Connection{
		ID:                        "cxn_DEF456",
		Status:                    connect.ConnectionStatusInactive,
		SourceOrganizationID:      "org_ABC123",
		DestinationOrganizationID: "org_DEF456",
		CreatedAt:                 fixtureTime("2018-05-15T00:00:00.000Z"),
		UpdatedAt:                 fixtureTime("2018-05-20T00:00:00.000Z"),
	}, *p2.Data[0])
	assert.Empty(t, p2.NextCursor)
	assert.Equal(t, "cxn_DEF456", p2.PrevCursor)
	assert.False(t, p2.HasNext())
}

func TestPageCursorsFromLinks(t *testing.T) {
	tests := []struct {
		name       string
		links      string
		next, prev string
	}{
		{"relative links", `{"next":"/api/v1/connect/share-tokens?page%5Bafter%5D=cnst_N","prev":"/api/v1/connect/share-tokens?page%5Bbefore%5D=cnst_P"}`, "cnst_N", "cnst_P"},
		{"absolute link with other parameters", `{"next":"https://api.withpersona.com/api/v1/connect/share-tokens?filter%5Bstatus%5D=created&page%5Bsize%5D=5&page%5Bafter%5D=cnst_N","prev":null}`, "cnst_N", ""},
		{"unencoded brackets", `{"next":"/api/v1/connect/share-tokens?page[after]=cnst_N"}`, "cnst_N", ""},
		{"both null", `{"next":null,"prev":null}`, "", ""},
		{"empty strings", `{"next":"","prev":""}`, "", ""},
		{"links absent", `null`, "", ""},
		{"link without the cursor", `{"next":"/api/v1/connect/share-tokens?page%5Bsize%5D=5"}`, "", ""},
		{"unparsable link", `{"next":"%zz://bad"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"data":[],"links":` + tt.links + `}`
			c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
			page, err := c.ShareTokens.List(context.Background(), nil)
			require.NoError(t, err)
			assert.Empty(t, page.Data)
			assert.Equal(t, tt.next, page.NextCursor)
			assert.Equal(t, tt.prev, page.PrevCursor)
			assert.Equal(t, tt.next != "", page.HasNext())
		})
	}
}

func TestNilPageHasNoNext(t *testing.T) {
	var p *connect.Page[connect.ShareToken]
	assert.False(t, p.HasNext())
}

// twoTokenPages serves the share token list fixtures: page 2 when the
// request asks for the page after cnst_ABC456, page 1 otherwise.
func twoTokenPages(t *testing.T) http.HandlerFunc {
	p1, p2 := fixture(t, "sharetokens/list_page1.json"), fixture(t, "sharetokens/list_page2.json")
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page[after]") == "cnst_ABC456" {
			respond(http.StatusOK, p2)(w, r)
			return
		}
		respond(http.StatusOK, p1)(w, r)
	}
}

func TestShareTokenAllWalksEveryPageKeepingFilters(t *testing.T) {
	c, rec := newTestClient(t, twoTokenPages(t))
	params := &connect.ShareTokenListParams{
		ConnectionID: "cxn_ABC123",
		Status:       connect.ShareTokenStatusRedeemed,
		Direction:    connect.DirectionInbound,
		ListOptions:  connect.ListOptions{PageSize: 2},
	}
	saved := *params
	var ids []string
	for tok, err := range c.ShareTokens.All(context.Background(), params) {
		require.NoError(t, err)
		ids = append(ids, tok.ID)
	}
	assert.Equal(t, []string{"cnst_ABC123", "cnst_ABC456", "cnst_ABC789", "cnst_ABD012"}, ids)
	assert.Equal(t, saved, *params, "All must not change the caller's params")

	reqs := rec.all()
	require.Len(t, reqs, 2)
	for i, r := range reqs {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, "/api/v1/connect/share-tokens", r.Path)
		assertStandardHeaders(t, r, "")
		q := parseQuery(t, r.RawQuery)
		assert.Equal(t, "cxn_ABC123", q.Get("filter[connection-id]"), "request %d", i)
		assert.Equal(t, "redeemed", q.Get("filter[status]"), "request %d", i)
		assert.Equal(t, "inbound", q.Get("filter[direction]"), "request %d", i)
		assert.Equal(t, "2", q.Get("page[size]"), "request %d", i)
		assert.NotContains(t, q, "page[before]")
	}
	assert.NotContains(t, parseQuery(t, reqs[0].RawQuery), "page[after]")
	assert.Equal(t,
		"filter%5Bconnection-id%5D=cxn_ABC123&filter%5Bdirection%5D=inbound&filter%5Bstatus%5D=redeemed&page%5Bafter%5D=cnst_ABC456&page%5Bsize%5D=2",
		reqs[1].RawQuery)
}

func TestAllIsLazy(t *testing.T) {
	c, rec := newTestClient(t, twoTokenPages(t))
	tokens := c.ShareTokens.All(context.Background(), nil)
	conns := c.Connections.All(context.Background(), nil)
	assert.Equal(t, 0, rec.count(), "All sent a request before iteration started")

	for range tokens {
		break
	}
	assert.Equal(t, 1, rec.count())
	assert.NotNil(t, conns)
	for _, r := range rec.all() {
		assert.Equal(t, "/api/v1/connect/share-tokens", r.Path, "an iterator that was never ranged over sent a request")
	}
}

func TestAllBreakStopsIO(t *testing.T) {
	t.Run("after the first item", func(t *testing.T) {
		c, rec := newTestClient(t, twoTokenPages(t))
		n := 0
		for tok, err := range c.ShareTokens.All(context.Background(), nil) {
			require.NoError(t, err)
			assert.Equal(t, "cnst_ABC123", tok.ID)
			n++
			break
		}
		assert.Equal(t, 1, n)
		assert.Equal(t, 1, rec.count())
	})
	t.Run("at the end of the first page", func(t *testing.T) {
		c, rec := newTestClient(t, twoTokenPages(t))
		for tok, err := range c.ShareTokens.All(context.Background(), nil) {
			require.NoError(t, err)
			if tok.ID == "cnst_ABC456" {
				break
			}
		}
		assert.Equal(t, 1, rec.count(), "breaking on the last item of a page fetched the next page")
	})
	t.Run("on the second page", func(t *testing.T) {
		c, rec := newTestClient(t, twoTokenPages(t))
		n := 0
		for _, err := range c.ShareTokens.All(context.Background(), nil) {
			require.NoError(t, err)
			n++
			if n == 3 {
				break
			}
		}
		assert.Equal(t, 2, rec.count())
	})
}

func TestAllErrorMidwayIsYieldedOnceAndEnds(t *testing.T) {
	c, rec := newTestClient(t, sequence(
		respond(http.StatusOK, fixture(t, "sharetokens/list_page1.json")),
		respond(http.StatusNotFound, fixture(t, "errors/404.json")),
		respond(http.StatusOK, fixture(t, "sharetokens/list_page2.json")),
	))
	var ids []string
	var errs []error
	for tok, err := range c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 2}}) {
		if err != nil {
			assert.Nil(t, tok)
			errs = append(errs, err)
			continue // the iterator, not the consumer, must end the loop
		}
		ids = append(ids, tok.ID)
	}
	assert.Equal(t, []string{"cnst_ABC123", "cnst_ABC456"}, ids)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], connect.ErrNotFound)
	var apiErr *connect.Error
	require.ErrorAs(t, errs[0], &apiErr)
	assert.Equal(t, http.StatusNotFound, apiErr.StatusCode)
	assert.Equal(t, 2, rec.count())
}

func TestAllErrorOnFirstPage(t *testing.T) {
	c, rec := newTestClient(t, respond(http.StatusUnauthorized, fixture(t, "errors/401.json")))
	n := 0
	for conn, err := range c.Connections.All(context.Background(), nil) {
		n++
		assert.Nil(t, conn)
		assert.ErrorIs(t, err, connect.ErrUnauthorized)
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 1, rec.count())
}

func TestAllInvalidParamsYieldsValidationError(t *testing.T) {
	c, rec := newTestClient(t, twoTokenPages(t))
	n := 0
	for tok, err := range c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 101}}) {
		n++
		assert.Nil(t, tok)
		requireValidationError(t, err, "PageSize")
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, rec.count())
}

// tokenPage is a one-page list body: a token per id, and a next link after
// next unless it is empty.
func tokenPage(next string, ids ...string) []byte {
	var data []string
	for _, id := range ids {
		data = append(data, `{"type":"connect/share-token","id":"`+id+`","attributes":{"status":"created","direction":"outbound",
			"created-at":"2023-08-17T23:18:13.000Z","updated-at":"2023-08-17T23:18:13.000Z"}}`)
	}
	link := "null"
	if next != "" {
		link = `"/api/v1/connect/share-tokens?page%5Bafter%5D=` + next + `"`
	}
	return []byte(`{"data":[` + strings.Join(data, ",") + `],"links":{"prev":null,"next":` + link + `}}`)
}

// pagesByCursor answers each page[after] with its body; the first page is "".
func pagesByCursor(pages map[string][]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Query().Get("page[after]")]
		if !ok {
			respond(http.StatusNotFound, []byte(`{"errors":[{"title":"no such page"}]}`))(w, r)
			return
		}
		respond(http.StatusOK, body)(w, r)
	}
}

// collect ranges over seq, returning the ids and the errors it yielded.
func collect(seq func(func(*connect.ShareToken, error) bool)) (ids []string, errs []error) {
	for tok, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, tok.ID)
	}
	return ids, errs
}

// requireLoopError asserts that err is the paging-loop error of the share
// token list, naming the response that closed the loop.
func requireLoopError(t *testing.T, err error, reason string) {
	t.Helper()
	ue := requireUnexpected(t, err, http.MethodGet, "/connect/share-tokens")
	assert.Contains(t, ue.Reason, reason)
}

// TestAllStopsWhenServerRepeatsTheCursor: a page that points at itself ends
// the iteration with an error after its items, instead of looping.
func TestAllStopsWhenServerRepeatsTheCursor(t *testing.T) {
	c, rec := newTestClient(t, pagesByCursor(map[string][]byte{
		"":          tokenPage("cnst_LOOP", "cnst_1"),
		"cnst_LOOP": tokenPage("cnst_LOOP", "cnst_LOOP"),
	}))
	ids, errs := collect(c.ShareTokens.All(context.Background(), nil))
	assert.Equal(t, []string{"cnst_1", "cnst_LOOP"}, ids)
	require.Len(t, errs, 1)
	requireLoopError(t, errs[0], "cnst_LOOP")
	assert.Equal(t, 2, rec.count())
}

// TestAllStopsOnACursorCycle: cursors that cycle A → B → A end the
// iteration with an error once A comes round again; every item before that
// is yielded once.
func TestAllStopsOnACursorCycle(t *testing.T) {
	c, rec := newTestClient(t, pagesByCursor(map[string][]byte{
		"":       tokenPage("cnst_A", "cnst_1"),
		"cnst_A": tokenPage("cnst_B", "cnst_A"),
		"cnst_B": tokenPage("cnst_A", "cnst_B"),
	}))
	ids, errs := collect(c.ShareTokens.All(context.Background(), nil))
	assert.Equal(t, []string{"cnst_1", "cnst_A", "cnst_B"}, ids)
	require.Len(t, errs, 1)
	requireLoopError(t, errs[0], "cnst_A")
	assert.Equal(t, 3, rec.count())
}

// TestAllStopsOnTheCallersCursorComingBack: the cursor All started from
// counts as followed.
func TestAllStopsOnTheCallersCursorComingBack(t *testing.T) {
	c, rec := newTestClient(t, pagesByCursor(map[string][]byte{
		"cnst_START": tokenPage("cnst_B", "cnst_1"),
		"cnst_B":     tokenPage("cnst_START", "cnst_2"),
	}))
	ids, errs := collect(c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: "cnst_START"}}))
	assert.Equal(t, []string{"cnst_1", "cnst_2"}, ids)
	require.Len(t, errs, 1)
	requireLoopError(t, errs[0], "cnst_START")
	assert.Equal(t, 2, rec.count())
}

// TestAllStopsOnEmptyPagesThatPointOnward: a server that sends empty pages
// with ever new cursors would keep All busy without yielding, so that the
// caller could not even break; three such pages in a row end it.
func TestAllStopsOnEmptyPagesThatPointOnward(t *testing.T) {
	var served atomic.Int32
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		if n > 100 {
			respond(http.StatusBadRequest, fixture(t, "errors/400.json"))(w, r)
			return
		}
		respond(http.StatusOK, tokenPage("cnst_FRESH"+strconv.Itoa(int(n))))(w, r)
	}))
	ids, errs := collect(c.ShareTokens.All(context.Background(), nil))
	assert.Empty(t, ids)
	require.Len(t, errs, 1)
	requireLoopError(t, errs[0], "3 empty pages in a row")
	assert.Equal(t, 3, rec.count())
}

// TestAllCrossesShortRunsOfEmptyPages: fewer than three empty pages in a row
// are followed, and a page with items starts the count again.
func TestAllCrossesShortRunsOfEmptyPages(t *testing.T) {
	c, rec := newTestClient(t, pagesByCursor(map[string][]byte{
		"":        tokenPage("cnst_E1"),
		"cnst_E1": tokenPage("cnst_E2"),
		"cnst_E2": tokenPage("cnst_F1", "cnst_1"),
		"cnst_F1": tokenPage("cnst_E3"),
		"cnst_E3": tokenPage("cnst_E4"),
		"cnst_E4": tokenPage("", "cnst_2"),
	}))
	ids, errs := collect(c.ShareTokens.All(context.Background(), nil))
	assert.Empty(t, errs)
	assert.Equal(t, []string{"cnst_1", "cnst_2"}, ids)
	assert.Equal(t, 6, rec.count())
}

func TestAllStartsFromCallersCursor(t *testing.T) {
	t.Run("after", func(t *testing.T) {
		c, rec := newTestClient(t, twoTokenPages(t))
		var ids []string
		for tok, err := range c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: "cnst_ABC456"}}) {
			require.NoError(t, err)
			ids = append(ids, tok.ID)
		}
		assert.Equal(t, []string{"cnst_ABC789", "cnst_ABD012"}, ids)
		require.Equal(t, 1, rec.count())
		assert.Equal(t, "page%5Bafter%5D=cnst_ABC456", rec.last(t).RawQuery)
	})
	t.Run("before is refused", func(t *testing.T) {
		c, rec := newTestClient(t, twoTokenPages(t))
		n := 0
		for conn, err := range c.Connections.All(context.Background(), &connect.ConnectionListParams{ListOptions: connect.ListOptions{Before: "cxn_DEF456"}}) {
			n++
			assert.Nil(t, conn)
			requireValidationError(t, err, "Before")
		}
		for tok, err := range c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{Status: connect.ShareTokenStatusCreated, ListOptions: connect.ListOptions{Before: "cnst_ABC789"}}) {
			n++
			assert.Nil(t, tok)
			requireValidationError(t, err, "Before")
		}
		assert.Equal(t, 2, n)
		assert.Equal(t, 0, rec.count())
	})
}

func TestAllIteratorCanBeRangedAgain(t *testing.T) {
	c, rec := newTestClient(t, twoTokenPages(t))
	seq := c.ShareTokens.All(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 2}})
	collect := func() []string {
		var ids []string
		for tok, err := range seq {
			require.NoError(t, err)
			ids = append(ids, tok.ID)
		}
		return ids
	}
	want := []string{"cnst_ABC123", "cnst_ABC456", "cnst_ABC789", "cnst_ABD012"}
	assert.Equal(t, want, collect())
	assert.Equal(t, want, collect(), "a second range must start from the first page again")
	reqs := rec.all()
	require.Len(t, reqs, 4)
	assert.Equal(t, "page%5Bsize%5D=2", reqs[2].RawQuery)
	assert.Equal(t, "page%5Bafter%5D=cnst_ABC456&page%5Bsize%5D=2", reqs[3].RawQuery)
}

func TestConnectionAllWalksEveryPageKeepingFilters(t *testing.T) {
	c, rec := newTestClient(t, sequence(
		respond(http.StatusOK, fixture(t, "connections/list_page1.json")),
		respond(http.StatusOK, fixture(t, "connections/list_page2.json")),
		respond(http.StatusInternalServerError, fixture(t, "errors/500.json")),
	), connect.WithUserAgent(testUserAgent))
	params := &connect.ConnectionListParams{DestinationOrganizationID: "org_XYZ789", Status: connect.ConnectionStatusActive, ListOptions: connect.ListOptions{PageSize: 2}}
	var ids []string
	for conn, err := range c.Connections.All(context.Background(), params, connect.WithHeader("X-Trace", "t1")) {
		require.NoError(t, err)
		ids = append(ids, conn.ID)
	}
	assert.Equal(t, []string{"cxn_ABC123", "cxn_XYZ789", "cxn_DEF456"}, ids)
	reqs := rec.all()
	require.Len(t, reqs, 2)
	assert.Equal(t, "filter%5Bdestination-organization-id%5D=org_XYZ789&filter%5Bstatus%5D=active&page%5Bsize%5D=2", reqs[0].RawQuery)
	assert.Equal(t, "filter%5Bdestination-organization-id%5D=org_XYZ789&filter%5Bstatus%5D=active&page%5Bafter%5D=cxn_XYZ789&page%5Bsize%5D=2", reqs[1].RawQuery)
	for _, r := range reqs {
		assert.Equal(t, "/api/v1/connect/connections", r.Path)
		assertStandardHeaders(t, r, testUserAgent)
		assert.Equal(t, "t1", r.Header.Get("X-Trace"), "request options apply to every page")
	}
}

func TestAllStopsWhenContextIsCancelled(t *testing.T) {
	c, rec := newTestClient(t, twoTokenPages(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errs []error
	n := 0
	for tok, err := range c.ShareTokens.All(ctx, nil) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
		if tok.ID == "cnst_ABC456" {
			cancel()
		}
	}
	assert.Equal(t, 2, n)
	require.Len(t, errs, 1)
	assert.True(t, errors.Is(errs[0], context.Canceled), "got %v", errs[0])
	assert.Equal(t, 1, rec.count())
}

func connectionIDs(cs []*connect.Connection) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func parseQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return q
}
