package connect

import (
	"context"
	"iter"
	"net/http"
	"time"
)

// ConnectionsService creates and manages connections: the link from a
// source organization to a destination organization that share tokens
// travel over. Get it from [Client].Connections.
//
// A connection starts pending; the destination accepts it in Persona's
// Dashboard (there is no API call for that), which makes it active. Either
// side may deactivate it; only the source may reactivate it, which makes it
// pending again.
type ConnectionsService struct {
	client *Client
}

// Connection links a source organization to a destination organization.
type Connection struct {
	// ID is the connection's id ("cxn_…").
	ID                        string
	Status                    ConnectionStatus
	SourceOrganizationID      string
	DestinationOrganizationID string
	CreatedAt                 time.Time
	UpdatedAt                 time.Time
	// Creator is the user or API key that created the connection, when shown.
	Creator *ResourceRef
}

// ConnectionStatus is the state of a connection. Persona may add values;
// unknown ones are kept as they arrive.
type ConnectionStatus string

// The states of a connection.
const (
	ConnectionStatusPending  ConnectionStatus = "pending"  // waiting for the destination to accept
	ConnectionStatusActive   ConnectionStatus = "active"   // share tokens may be created and redeemed
	ConnectionStatusInactive ConnectionStatus = "inactive" // deactivated by either side
)

// ConnectionCreateParams are the parameters of [ConnectionsService.Create].
type ConnectionCreateParams struct {
	// DestinationOrganizationID is the partner's organization ("org_…"). Required.
	DestinationOrganizationID string
}

// ConnectionListParams filter and page [ConnectionsService.List] and
// [ConnectionsService.All]. Every field is optional; the filters combine.
type ConnectionListParams struct {
	// Status keeps the connections in this status.
	Status ConnectionStatus `url:"filter[status],omitempty" connect:"enum"`
	// DestinationOrganizationID keeps the connections to this
	// organization ("org_…").
	DestinationOrganizationID string `url:"filter[destination-organization-id],omitempty" connect:"id"`
	ListOptions
}

var connectionListQuery = mustQueryFields[ConnectionListParams]()

var connectionKind = &kind[connectionResource, Connection]{typ: typeConnection, convert: infallible((*connectionResource).connection)}

// Create creates a connection from the caller's organization to a
// destination organization, in status pending. Source only.
//
// It calls POST /connect/connections; see Persona's reference, [Create a Connection].
//
// [Create a Connection]: https://docs.withpersona.com/api-reference/connect/connections/create-a-connect-connection
func (s *ConnectionsService) Create(ctx context.Context, params *ConnectionCreateParams, opts ...RequestOption) (*Connection, error) {
	if params == nil {
		return nil, &ValidationError{Field: "params", Reason: "is nil; DestinationOrganizationID is required"}
	}
	if err := checkID("DestinationOrganizationID", params.DestinationOrganizationID); err != nil {
		return nil, err
	}
	body := requestDocument[connectionCreateAttributes]{Data: requestData[connectionCreateAttributes]{
		Attributes: connectionCreateAttributes{DestinationOrganizationID: params.DestinationOrganizationID},
	}}
	return connectionKind.one(ctx, s.client, http.MethodPost, "/connect/connections", nil, body, opts)
}

// Get returns a connection. Either side may call it.
//
// It calls GET /connect/connections/{id}; see Persona's reference, [Retrieve a Connection].
//
// [Retrieve a Connection]: https://docs.withpersona.com/api-reference/connect/connections/retrieve-a-connect-connection
func (s *ConnectionsService) Get(ctx context.Context, id string, opts ...RequestOption) (*Connection, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return connectionKind.one(ctx, s.client, http.MethodGet, "/connect/connections/"+id, nil, nil, opts)
}

// Deactivate stops a pending or active connection: no token can be created
// or redeemed over it until it is reactivated and accepted again. Either
// side may call it.
//
// It calls POST /connect/connections/{id}/deactivate; see Persona's reference, [Deactivate a Connection].
//
// [Deactivate a Connection]: https://docs.withpersona.com/api-reference/connect/connections/deactivate-a-connect-connection
func (s *ConnectionsService) Deactivate(ctx context.Context, id string, opts ...RequestOption) (*Connection, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return connectionKind.one(ctx, s.client, http.MethodPost, "/connect/connections/"+id+"/deactivate", nil, nil, opts)
}

// Reactivate returns an inactive connection to pending; the destination
// must accept it again. Source only.
//
// It calls POST /connect/connections/{id}/reactivate; see Persona's reference, [Reactivate a Connection].
//
// [Reactivate a Connection]: https://docs.withpersona.com/api-reference/connect/connections/reactivate-a-connect-connection
func (s *ConnectionsService) Reactivate(ctx context.Context, id string, opts ...RequestOption) (*Connection, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	return connectionKind.one(ctx, s.client, http.MethodPost, "/connect/connections/"+id+"/reactivate", nil, nil, opts)
}

// List returns one page of the caller's connections, outbound and inbound,
// newest first. Pass the page's [Page.NextCursor] as After for the next
// page, or use [ConnectionsService.All].
//
// It calls GET /connect/connections; see Persona's reference, [List all Connections].
//
// [List all Connections]: https://docs.withpersona.com/api-reference/connect/connections/list-all-connect-connections
func (s *ConnectionsService) List(ctx context.Context, params *ConnectionListParams, opts ...RequestOption) (*Page[Connection], error) {
	q, err := connectionListQuery.encode(params)
	if err != nil {
		return nil, err
	}
	return connectionKind.list(ctx, s.client, "/connect/connections", q, opts)
}

// All iterates over every connection that matches params, fetching one page
// at a time as the loop advances: nothing is fetched before the loop
// starts, and breaking out of it stops all requests. An error ends the
// iteration after being yielded once. It starts after params.After;
// params.Before is refused.
//
// A list that would never end ends with an [*UnexpectedResponseError]
// ([ErrUnexpectedResponse]), yielded after the items before it: when the
// server hands back a cursor All has already followed, params.After included, or
// when three pages in a row are empty yet point to a next page.
//
// It calls GET /connect/connections once per page; see Persona's reference, [List all Connections].
//
// [List all Connections]: https://docs.withpersona.com/api-reference/connect/connections/list-all-connect-connections
func (s *ConnectionsService) All(ctx context.Context, params *ConnectionListParams, opts ...RequestOption) iter.Seq2[*Connection, error] {
	return all("/connect/connections", params, func(p *ConnectionListParams) (*Page[Connection], error) {
		return s.List(ctx, p, opts...)
	})
}

type connectionCreateAttributes struct {
	DestinationOrganizationID string `json:"destination-organization-id"`
}
