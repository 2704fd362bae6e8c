package connecttest

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// An Organization is a Persona organization known to the fake, with one
// sandbox API key. The Server keeps its own record: changing the fields of
// an Organization value changes nothing on the server.
type Organization struct {
	// ID is the organization's token, "org_…".
	ID string
	// Name is the display name given to NewOrganization.
	Name string
	// APIKey authenticates as this organization: "persona_sandbox_…".
	APIKey string
	// APIKeyID is the key's id, "api_…", as it appears in creator
	// relationships.
	APIKeyID string
	// EnvironmentID is the organization's sandbox environment, "env_…",
	// sent back in the Persona-Environment-Id header.
	EnvironmentID string
	// CreatedAt is when the organization was made, on the server's clock.
	CreatedAt time.Time
}

// NewOrganization creates an organization with a fresh sandbox API key and
// returns a copy of it.
func (s *Server) NewOrganization(name string) *Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Organization{
		ID:            newID("org"),
		Name:          name,
		APIKey:        "persona_sandbox_" + randomString(32),
		APIKeyID:      newID("api"),
		EnvironmentID: newID("env"),
		CreatedAt:     s.nowLocked(),
	}
	s.orgs[o.ID] = o
	s.keys[o.APIKey] = o
	c := *o
	return &c
}

// Organizations returns a copy of every organization, oldest first.
func (s *Server) Organizations() []Organization {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Organization, 0, len(s.orgs))
	for _, o := range s.orgs {
		out = append(out, *o)
	}
	sortBy(out, func(o Organization) time.Time { return o.CreatedAt }, func(o Organization) string { return o.ID })
	return out
}

// mustOrgLocked returns the server's record of org, and panics when org is
// nil or not from this server: that is a mistake in the test, not input.
func (s *Server) mustOrgLocked(org *Organization) *Organization {
	if org == nil {
		panic("connecttest: nil *Organization")
	}
	o, ok := s.orgs[org.ID]
	if !ok {
		panic(fmt.Sprintf("connecttest: organization %q does not belong to this server", org.ID))
	}
	return o
}

// authLocked returns the organization whose key the request carries, or
// nil.
func (s *Server) authLocked(r *http.Request) *Organization {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	return s.keys[strings.TrimSpace(key)]
}
