package connecttest

import (
	"fmt"
	"net/http"
	"time"
)

// Connection statuses.
const (
	connPending  = "pending"
	connActive   = "active"
	connInactive = "inactive"
)

type connection struct {
	id, sourceOrg, destOrg, creatorKeyID, status string
	createdAt, updatedAt                         time.Time
	seq                                          int64
}

// A Connection is a snapshot of a connection held by the fake.
type Connection struct {
	// ID is the connection's token, "cxn_…".
	ID string
	// Status is "pending", "active" or "inactive".
	Status string
	// SourceOrganizationID and DestinationOrganizationID are the two ends.
	SourceOrganizationID, DestinationOrganizationID string
	// CreatedAt and UpdatedAt are on the server's clock.
	CreatedAt, UpdatedAt time.Time
}

// Connection returns a snapshot of the connection with the given id.
func (s *Server) Connection(id string) (Connection, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return Connection{}, false
	}
	return Connection{ID: c.id, Status: c.status, SourceOrganizationID: c.sourceOrg,
		DestinationOrganizationID: c.destOrg, CreatedAt: c.createdAt, UpdatedAt: c.updatedAt}, true
}

// AcceptConnection is the destination's Dashboard-only step: it moves a
// pending connection to active. It fails when the connection does not
// exist or is not pending.
func (s *Server) AcceptConnection(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	if !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, id)
	}
	if c.status != connPending {
		return fmt.Errorf("connecttest: connection %s is %s, not pending", id, c.status)
	}
	c.status, c.updatedAt = connActive, s.nowLocked()
	return nil
}

// NewActiveConnection creates a connection from source to destination
// that is already accepted, as if created through the API by source's key
// and accepted in the Dashboard, and returns its id.
func (s *Server) NewActiveConnection(source, destination *Organization) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	src, dst := s.mustOrgLocked(source), s.mustOrgLocked(destination)
	return s.addConnectionLocked(src, dst.ID, connActive, s.nowLocked()).id
}

func (s *Server) addConnectionLocked(src *Organization, destID, status string, now time.Time) *connection {
	s.seq++
	c := &connection{id: newID("cxn"), sourceOrg: src.ID, destOrg: destID, creatorKeyID: src.APIKeyID,
		status: status, createdAt: now, updatedAt: now, seq: s.seq}
	s.conns[c.id] = c
	return c
}

// connectionLocked finds a connection the organization is an end of.
func (s *Server) connectionLocked(org *Organization, id string) (*connection, bool) {
	c, ok := s.conns[id]
	if !ok || (c.sourceOrg != org.ID && c.destOrg != org.ID) {
		return nil, false
	}
	return c, true
}

type connectionResource struct {
	Type          string                  `json:"type"`
	ID            string                  `json:"id"`
	Attributes    connectionAttributes    `json:"attributes"`
	Relationships map[string]relationship `json:"relationships"`
}

type connectionAttributes struct {
	Status                    string `json:"status"`
	SourceOrganizationID      string `json:"source-organization-id"`
	DestinationOrganizationID string `json:"destination-organization-id"`
	CreatedAt                 string `json:"created-at"`
	UpdatedAt                 string `json:"updated-at"`
}

type relationship struct {
	Data *resourceRef `json:"data"`
}

type resourceRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (c *connection) resource() connectionResource {
	return connectionResource{
		Type: "connect/connection",
		ID:   c.id,
		Attributes: connectionAttributes{
			Status: c.status, SourceOrganizationID: c.sourceOrg, DestinationOrganizationID: c.destOrg,
			CreatedAt: formatTime(c.createdAt), UpdatedAt: formatTime(c.updatedAt),
		},
		Relationships: map[string]relationship{
			"creator": {Data: &resourceRef{Type: "api-key", ID: c.creatorKeyID}},
		},
	}
}

type document struct {
	Data any `json:"data"`
}

func (s *Server) createConnection(c *call, r *http.Request) response {
	var req struct {
		Data *struct {
			Attributes *struct {
				DestinationOrganizationID *string `json:"destination-organization-id"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return badRequest(err.Error())
	}
	switch {
	case req.Data == nil:
		return badRequest("data is missing")
	case req.Data.Attributes == nil:
		return badRequest("data.attributes is missing")
	case req.Data.Attributes.DestinationOrganizationID == nil:
		return badRequest("data.attributes.destination-organization-id is missing")
	case *req.Data.Attributes.DestinationOrganizationID == "":
		return badRequest("data.attributes.destination-organization-id must be filled")
	}
	dest := *req.Data.Attributes.DestinationOrganizationID
	if _, ok := s.orgs[dest]; !ok {
		return errPointer("data.attributes.destination_organization_id is not found", "/data/attributes/destination-organization-id")
	}
	for _, x := range s.conns {
		if x.sourceOrg == c.org.ID && x.destOrg == dest && x.status != connInactive {
			return errResp(http.StatusConflict, "A connection to "+dest+" already exists ("+x.status+"): "+x.id)
		}
	}
	conn := s.addConnectionLocked(c.org, dest, connPending, c.now)
	s.stats.ConnectionsCreated++
	return jsonResp(http.StatusCreated, document{Data: conn.resource()})
}

func (s *Server) getConnection(c *call, r *http.Request) response {
	conn, ok := s.connectionLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	return jsonResp(http.StatusOK, document{Data: conn.resource()})
}

func (s *Server) deactivateConnection(c *call, r *http.Request) response {
	conn, ok := s.connectionLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	if conn.status == connInactive {
		return errPointer("Connection is already inactive", "")
	}
	conn.status, conn.updatedAt = connInactive, c.now
	return jsonResp(http.StatusOK, document{Data: conn.resource()})
}

func (s *Server) reactivateConnection(c *call, r *http.Request) response {
	conn, ok := s.connectionLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	if conn.sourceOrg != c.org.ID {
		return forbidden("Only the source organization can reactivate a connection")
	}
	if conn.status != connInactive {
		return errPointer("Only an inactive connection can be reactivated; this one is "+conn.status, "")
	}
	conn.status, conn.updatedAt = connPending, c.now
	return jsonResp(http.StatusOK, document{Data: conn.resource()})
}
