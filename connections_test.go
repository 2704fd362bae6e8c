package connect_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

var (
	connectionPending = connect.Connection{
		ID:                        "cxn_ABC123",
		Status:                    connect.ConnectionStatusPending,
		SourceOrganizationID:      "org_ABC123",
		DestinationOrganizationID: "org_XYZ789",
		CreatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
		UpdatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
		Creator:                   apiKeyCreator,
	}
	connectionActive = connect.Connection{
		ID:                        "cxn_ABC123",
		Status:                    connect.ConnectionStatusActive,
		SourceOrganizationID:      "org_ABC123",
		DestinationOrganizationID: "org_XYZ789",
		CreatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
		UpdatedAt:                 fixtureTime("2018-06-02T09:15:00.000Z"),
		Creator:                   apiKeyCreator,
	}
	connectionInactive = connect.Connection{
		ID:                        "cxn_ABC123",
		Status:                    connect.ConnectionStatusInactive,
		SourceOrganizationID:      "org_ABC123",
		DestinationOrganizationID: "org_XYZ789",
		CreatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
		UpdatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
	}
)

type connectionCall func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error)

func TestConnectionOperations(t *testing.T) {
	tests := []struct {
		name     string
		call     connectionCall
		status   int
		response string
		method   string
		path     string
		body     string
		want     connect.Connection
	}{
		{
			name: "Create",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
				return c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: "org_XYZ789"}, opts...)
			},
			status: http.StatusCreated, response: "connections/pending.json",
			method: http.MethodPost, path: "/api/v1/connect/connections",
			body: "requests/create_connection.json",
			want: connectionPending,
		},
		{
			name: "Get",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
				return c.Connections.Get(ctx, "cxn_ABC123", opts...)
			},
			status: http.StatusOK, response: "connections/active.json",
			method: http.MethodGet, path: "/api/v1/connect/connections/cxn_ABC123",
			want: connectionActive,
		},
		{
			name: "Deactivate",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
				return c.Connections.Deactivate(ctx, "cxn_ABC123", opts...)
			},
			status: http.StatusOK, response: "connections/inactive.json",
			method: http.MethodPost, path: "/api/v1/connect/connections/cxn_ABC123/deactivate",
			want: connectionInactive,
		},
		{
			name: "Reactivate",
			call: func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
				return c.Connections.Reactivate(ctx, "cxn_ABC123", opts...)
			},
			status: http.StatusOK, response: "connections/pending.json",
			method: http.MethodPost, path: "/api/v1/connect/connections/cxn_ABC123/reactivate",
			want: connectionPending,
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
			assert.Empty(t, r.RawQuery)
			assertStandardHeaders(t, r, testUserAgent)
			if tt.body == "" {
				assert.Empty(t, r.Body, "request body")
			} else {
				assert.JSONEq(t, string(fixture(t, tt.body)), string(r.Body))
			}

			require.NotNil(t, got)
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestConnectionPostsSendCallersIdempotencyKey(t *testing.T) {
	calls := map[string]connectionCall{
		"Create": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
			return c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: "org_XYZ789"}, opts...)
		},
		"Deactivate": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
			return c.Connections.Deactivate(ctx, "cxn_ABC123", opts...)
		},
		"Reactivate": func(ctx context.Context, c *connect.Client, opts ...connect.RequestOption) (*connect.Connection, error) {
			return c.Connections.Reactivate(ctx, "cxn_ABC123", opts...)
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/pending.json")))
			const key = "connect-org_XYZ789"
			_, err := call(context.Background(), c, connect.WithIdempotencyKey(key))
			require.NoError(t, err)
			assert.Equal(t, []string{key}, rec.last(t).Header.Values("Idempotency-Key"))

			_, err = call(context.Background(), c)
			require.NoError(t, err)
			generated := rec.last(t).Header.Get("Idempotency-Key")
			assert.NotEmpty(t, generated)
			assert.NotEqual(t, key, generated)
		})
	}
}

func TestConnectionList(t *testing.T) {
	tests := []struct {
		name     string
		params   *connect.ConnectionListParams
		rawQuery string
	}{
		{name: "nil params", rawQuery: ""},
		{
			name: "every filter, page size and before",
			params: &connect.ConnectionListParams{
				Status:                    connect.ConnectionStatusActive,
				DestinationOrganizationID: "org_XYZ789",
				ListOptions:               connect.ListOptions{PageSize: 50, Before: "cxn_DEF456"},
			},
			rawQuery: "filter%5Bdestination-organization-id%5D=org_XYZ789&filter%5Bstatus%5D=active&page%5Bbefore%5D=cxn_DEF456&page%5Bsize%5D=50",
		},
		{
			name:     "after",
			params:   &connect.ConnectionListParams{Status: connect.ConnectionStatusInactive, ListOptions: connect.ListOptions{After: "cxn_XYZ789"}},
			rawQuery: "filter%5Bstatus%5D=inactive&page%5Bafter%5D=cxn_XYZ789",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "connections/list_page1.json")), connect.WithUserAgent(testUserAgent))
			page, err := c.Connections.List(context.Background(), tt.params)
			require.NoError(t, err)

			require.Equal(t, 1, rec.count())
			r := rec.last(t)
			assert.Equal(t, http.MethodGet, r.Method)
			assert.Equal(t, "/api/v1/connect/connections", r.Path)
			assert.Equal(t, tt.rawQuery, r.RawQuery)
			assert.Empty(t, r.Body)
			assertStandardHeaders(t, r, testUserAgent)

			require.Len(t, page.Data, 2)
			assert.Equal(t, connect.Connection{
				ID:                        "cxn_ABC123",
				Status:                    connect.ConnectionStatusActive,
				SourceOrganizationID:      "org_ABC123",
				DestinationOrganizationID: "org_XYZ789",
				CreatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
				UpdatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
			}, *page.Data[0])
			assert.Equal(t, connect.Connection{
				ID:                        "cxn_XYZ789",
				Status:                    connect.ConnectionStatusPending,
				SourceOrganizationID:      "org_XYZ789",
				DestinationOrganizationID: "org_ABC123",
				CreatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
				UpdatedAt:                 fixtureTime("2018-06-01T00:00:00.000Z"),
			}, *page.Data[1])
		})
	}
}

func TestConnectionDecodeFixtures(t *testing.T) {
	tests := map[string]connect.Connection{
		"connections/pending.json":  connectionPending,
		"connections/active.json":   connectionActive,
		"connections/inactive.json": connectionInactive,
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, fixture(t, name)))
			got, err := c.Connections.Get(context.Background(), "cxn_ABC123")
			require.NoError(t, err)
			assert.Equal(t, want, *got)
		})
	}
}

func TestConnectionDecodeUnknownStatusAndFields(t *testing.T) {
	body := `{"data":{"type":"connect/connection","id":"cxn_NEW","attributes":{"status":"suspended",
		"source-organization-id":"org_A","destination-organization-id":"org_B","shiny":true,
		"created-at":"2018-06-01T00:00:00.000Z","updated-at":"2018-06-01T00:00:00.000Z"},
		"relationships":{"creator":{"data":null},"reviewer":{"data":{"type":"user","id":"user_1"}}}},
		"included":[{"type":"user","id":"user_1"}],"meta":{"x":1}}`
	c, _ := newTestClient(t, respond(http.StatusOK, []byte(body)))
	got, err := c.Connections.Get(context.Background(), "cxn_NEW")
	require.NoError(t, err)
	assert.Equal(t, connect.ConnectionStatus("suspended"), got.Status)
	assert.Equal(t, "org_A", got.SourceOrganizationID)
	assert.Equal(t, "org_B", got.DestinationOrganizationID)
	assert.Nil(t, got.Creator, "a null creator must be nil")
}

// TestConnectionCallsNeverReturnAnEmptyConnection: every connection call
// refuses a 2xx body that holds no connection, a share token included.
func TestConnectionCallsNeverReturnAnEmptyConnection(t *testing.T) {
	bodies := map[string][]byte{"a share token": fixture(t, "sharetokens/created.json")}
	for name, body := range notAResource {
		bodies[name] = fillType(body, "connect/connection")
	}
	calls := map[string]struct {
		method, path string
		call         func(context.Context, *connect.Client) (*connect.Connection, error)
	}{
		"Create": {http.MethodPost, "/connect/connections", func(ctx context.Context, c *connect.Client) (*connect.Connection, error) {
			return c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: "org_XYZ789"})
		}},
		"Get": {http.MethodGet, "/connect/connections/cxn_ABC123", func(ctx context.Context, c *connect.Client) (*connect.Connection, error) {
			return c.Connections.Get(ctx, "cxn_ABC123")
		}},
		"Deactivate": {http.MethodPost, "/connect/connections/cxn_ABC123/deactivate", func(ctx context.Context, c *connect.Client) (*connect.Connection, error) {
			return c.Connections.Deactivate(ctx, "cxn_ABC123")
		}},
		"Reactivate": {http.MethodPost, "/connect/connections/cxn_ABC123/reactivate", func(ctx context.Context, c *connect.Client) (*connect.Connection, error) {
			return c.Connections.Reactivate(ctx, "cxn_ABC123")
		}},
	}
	for callName, tc := range calls {
		for bodyName, body := range bodies {
			t.Run(callName+"/"+bodyName, func(t *testing.T) {
				c, _ := newTestClient(t, respond(http.StatusOK, body))
				cxn, err := tc.call(context.Background(), c)
				assert.Nil(t, cxn)
				requireUnexpected(t, err, tc.method, tc.path)
			})
		}
	}
}

// TestConnectionListRefusesWhatIsNotAList: List and All refuse a body
// without a list of connections, a list of share tokens included.
func TestConnectionListRefusesWhatIsNotAList(t *testing.T) {
	bodies := map[string][]byte{"a list of share tokens": fixture(t, "sharetokens/list_page1.json")}
	for name, body := range notAList {
		bodies[name] = fillType(body, "connect/connection")
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, respond(http.StatusOK, body))
			page, err := c.Connections.List(context.Background(), nil)
			assert.Nil(t, page)
			requireUnexpected(t, err, http.MethodGet, "/connect/connections")
			for cxn, err := range c.Connections.All(context.Background(), nil) {
				assert.Nil(t, cxn)
				requireUnexpected(t, err, http.MethodGet, "/connect/connections")
			}
		})
	}
}
