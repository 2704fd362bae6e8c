package connecttest

import (
	"fmt"
	"net/http"
	"time"
)

// Share token statuses, redeem modes and failure reasons, as on the wire.
const (
	tokenCreated  = "created"
	tokenPending  = "pending"
	tokenRedeemed = "redeemed"
	tokenExpired  = "expired"
	tokenFailed   = "failed"

	modeClone   = "clone"
	modeHydrate = "hydrate"

	reasonSourceNotFound = "source_not_found"
	reasonSourceRedacted = "source_redacted"
	reasonImportFailed   = "import_failed"
)

const (
	minExpiresIn     = 60
	maxExpiresIn     = 1_814_400 // 21 days
	defaultExpiresIn = 14 * 24 * time.Hour
)

type fieldMapping struct {
	Source      *string `json:"source-field-name"`
	Destination *string `json:"destination-field-name"`
}

type shareToken struct {
	id, connID, sourceOrg, destOrg, creatorKeyID string
	sourceID, sourceType                         string
	status                                       string
	createdAt, updatedAt                         time.Time
	pendingAt, redeemedAt, expiresAt, failedAt   time.Time
	completeAt                                   time.Time
	failureReason, redeemMode                    string
	destID, destType                             string
	mappings                                     []fieldMapping
	failWith                                     string // FailRedemption's reason
	seq                                          int64
}

// A ShareToken is a snapshot of a share token held by the fake.
type ShareToken struct {
	// ID is the token's id, "cnst_…".
	ID string
	// Status is "created", "pending", "redeemed", "expired" or "failed".
	Status string
	// ConnectionID is the connection the token was created over.
	ConnectionID string
	// SourceOrganizationID and DestinationOrganizationID are the
	// connection's ends.
	SourceOrganizationID, DestinationOrganizationID string
	// SourceID is the shared object.
	SourceID string
	// DestinationID is the object the redemption filled or created, once
	// known.
	DestinationID string
	// RedeemMode is "clone", "hydrate" or empty.
	RedeemMode string
	// FailureReason is set when Status is "failed".
	FailureReason string
	// CreatedAt, ExpiresAt, PendingAt, RedeemedAt and FailedAt are on the
	// server's clock; the zero time stands for null.
	CreatedAt, ExpiresAt, PendingAt, RedeemedAt, FailedAt time.Time
}

// ShareToken returns a snapshot of the share token with the given id, after
// completing redemptions and expiries that are due on the clock.
func (s *Server) ShareToken(id string) (ShareToken, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(s.nowLocked())
	t, ok := s.tokens[id]
	if !ok {
		return ShareToken{}, false
	}
	return ShareToken{ID: t.id, Status: t.status, ConnectionID: t.connID,
		SourceOrganizationID: t.sourceOrg, DestinationOrganizationID: t.destOrg,
		SourceID: t.sourceID, DestinationID: t.destID, RedeemMode: t.redeemMode,
		FailureReason: t.failureReason, CreatedAt: t.createdAt, ExpiresAt: t.expiresAt,
		PendingAt: t.pendingAt, RedeemedAt: t.redeemedAt, FailedAt: t.failedAt}, true
}

// tokenLocked finds a share token the organization is an end of.
func (s *Server) tokenLocked(org *Organization, id string) (*shareToken, bool) {
	t, ok := s.tokens[id]
	if !ok || (t.sourceOrg != org.ID && t.destOrg != org.ID) {
		return nil, false
	}
	return t, true
}

// settleLocked brings every share token up to date with the clock:
// created tokens past expires-at become expired, and pending redemptions
// whose delay has passed complete. It runs before every request and every
// read by a test helper, so the outcome does not depend on timers.
func (s *Server) settleLocked(now time.Time) {
	var due []*shareToken
	for _, t := range s.tokens {
		switch {
		case t.status == tokenCreated && !now.Before(t.expiresAt):
			t.status, t.updatedAt = tokenExpired, t.expiresAt
		case t.status == tokenPending && !now.Before(t.completeAt):
			due = append(due, t)
		}
	}
	sortBy(due, func(t *shareToken) time.Time { return t.completeAt }, func(t *shareToken) string { return t.id })
	for _, t := range due {
		s.completeLocked(t)
	}
}

// completeLocked finishes a redemption at its completion time.
func (s *Server) completeLocked(t *shareToken) {
	at := t.completeAt
	fail := func(reason string) {
		t.status, t.failureReason, t.failedAt, t.updatedAt = tokenFailed, reason, at, at
	}
	src, ok := s.objects[t.sourceID]
	switch {
	case t.failWith != "":
		fail(t.failWith)
		return
	case !ok:
		fail(reasonSourceNotFound)
		return
	case src.Redacted:
		fail(reasonSourceRedacted)
		return
	}
	if t.redeemMode == modeClone {
		obj := s.addObjectLocked(t.destOrg, src.Type, copyFields(src.Fields), at)
		obj.Status, obj.ClonedFrom, obj.ShareTokenID = src.Status, src.ID, t.id
		t.destID, t.destType = obj.ID, obj.Type
	} else {
		dst, ok := s.objects[t.destID]
		if !ok || dst.OrganizationID != t.destOrg {
			fail(reasonImportFailed)
			return
		}
		hydrate(dst.Fields, src.Fields, t.mappings)
		dst.HydratedFrom, dst.ShareTokenID, dst.UpdatedAt = src.ID, t.id, at
	}
	t.status, t.redeemedAt, t.updatedAt = tokenRedeemed, at, at
	s.tokenEventLocked(t, "redeemed", at)
}

// hydrate fills dst from src as Persona's hydrate does: a source field whose
// name the destination has is copied; then each field mapping copies its
// source field into its destination field when the destination has that
// field and neither field was matched by name. Fields the destination does
// not have are never added.
func hydrate(dst, src map[string]any, mappings []fieldMapping) {
	byName := map[string]bool{}
	for k, v := range src {
		if _, ok := dst[k]; ok {
			dst[k] = copyValue(v)
			byName[k] = true
		}
	}
	for _, m := range mappings {
		from, to := *m.Source, *m.Destination
		v, ok := src[from]
		if _, has := dst[to]; !ok || !has || byName[from] || byName[to] {
			continue
		}
		dst[to] = copyValue(v)
	}
}

// FailRedemption makes the redemption of the share token fail with the
// given failure-reason when it completes, whatever the objects hold: for
// "unrecoverable_error" (connect.FailureReasonUnrecoverableError), which
// nothing else provokes, or a reason Persona may add. The token may be created (the redeem call is still accepted
// with 202) or pending. It fails when the token does not exist (the error
// wraps ErrNotFound), has already been redeemed, failed or expired, or
// reason is empty.
func (s *Server) FailRedemption(tokenID, reason string) error {
	if reason == "" {
		return fmt.Errorf("connecttest: FailRedemption of %s: empty reason", tokenID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked(s.nowLocked())
	t, ok := s.tokens[tokenID]
	if !ok {
		return fmt.Errorf("%w: share token %q", ErrNotFound, tokenID)
	}
	if t.status != tokenCreated && t.status != tokenPending {
		return fmt.Errorf("connecttest: share token %s is %s; only a created or pending one can be made to fail", tokenID, t.status)
	}
	t.failWith = reason
	return nil
}

type shareTokenResource struct {
	Type          string                  `json:"type"`
	ID            string                  `json:"id"`
	Attributes    shareTokenAttributes    `json:"attributes"`
	Relationships map[string]relationship `json:"relationships"`
}

type shareTokenAttributes struct {
	Status        string         `json:"status"`
	Direction     string         `json:"direction"`
	CreatedAt     string         `json:"created-at"`
	UpdatedAt     string         `json:"updated-at"`
	PendingAt     *string        `json:"pending-at"`
	RedeemedAt    *string        `json:"redeemed-at"`
	ExpiresAt     *string        `json:"expires-at"`
	FailedAt      *string        `json:"failed-at"`
	FailureReason *string        `json:"failure-reason"`
	RedeemMode    *string        `json:"redeem-mode"`
	SourceData    map[string]any `json:"source-data,omitempty"`
}

// Share token directions, as on the wire.
const (
	directionOutbound = "outbound"
	directionInbound  = "inbound"
)

// tokenResourceLocked renders the token as org sees it. The source sees
// direction outbound and the relationships creator, source and connection;
// the destination sees direction inbound and destination (null until a
// clone exists) and connection, as in Persona's examples. An organization
// connected to itself is both: it sees direction outbound and all four
// relationships (see tokenViewLocked for its inbound view).
func (s *Server) tokenResourceLocked(t *shareToken, org *Organization, peek bool) shareTokenResource {
	dir := directionInbound
	if org.ID == t.sourceOrg {
		dir = directionOutbound
	}
	return s.tokenViewLocked(t, org, dir, peek)
}

// tokenViewLocked renders the token as org sees it from the given side.
// Only a token over a connection from an organization to itself has two
// views: they differ in direction alone.
func (s *Server) tokenViewLocked(t *shareToken, org *Organization, dir string, peek bool) shareTokenResource {
	res := shareTokenResource{
		Type: "connect/share-token",
		ID:   t.id,
		Attributes: shareTokenAttributes{
			Status: t.status, CreatedAt: formatTime(t.createdAt), UpdatedAt: formatTime(t.updatedAt),
			PendingAt: formatTimePtr(t.pendingAt), RedeemedAt: formatTimePtr(t.redeemedAt),
			ExpiresAt: formatTimePtr(t.expiresAt), FailedAt: formatTimePtr(t.failedAt),
			FailureReason: strPtr(t.failureReason), RedeemMode: strPtr(t.redeemMode),
		},
		Relationships: map[string]relationship{
			"connection": {Data: &resourceRef{Type: "connect/connection", ID: t.connID}},
		},
	}
	res.Attributes.Direction = dir
	if org.ID == t.sourceOrg {
		res.Relationships["creator"] = relationship{Data: &resourceRef{Type: "api-key", ID: t.creatorKeyID}}
		res.Relationships["source"] = relationship{Data: &resourceRef{Type: t.sourceType, ID: t.sourceID}}
	}
	if org.ID == t.destOrg {
		var dest *resourceRef
		if t.destID != "" {
			dest = &resourceRef{Type: t.destType, ID: t.destID}
		}
		res.Relationships["destination"] = relationship{Data: dest}
		if peek {
			res.Attributes.SourceData = s.sourceDataLocked(t.sourceID)
		}
	}
	return res
}

func (s *Server) createShareToken(c *call, r *http.Request) response {
	var req struct {
		Data *struct {
			Attributes *struct {
				ConnectionID *string `json:"connection-id"`
				SourceID     *string `json:"source-id"`
				ExpiresIn    *int64  `json:"expires-in-seconds"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return badRequest(err.Error())
	}
	if req.Data == nil {
		return badRequest("data is missing")
	}
	a := req.Data.Attributes
	switch {
	case a == nil:
		return badRequest("data.attributes is missing")
	case a.ConnectionID == nil:
		return badRequest("data.attributes.connection-id is missing")
	case a.SourceID == nil:
		return badRequest("data.attributes.source-id is missing")
	case *a.ConnectionID == "":
		return badRequest("data.attributes.connection-id must be filled")
	case *a.SourceID == "":
		return badRequest("data.attributes.source-id must be filled")
	}
	expiresIn := defaultExpiresIn
	if a.ExpiresIn != nil {
		if n := *a.ExpiresIn; n < minExpiresIn || n > maxExpiresIn {
			return errPointer(fmt.Sprintf("expires-in-seconds must be between %d and %d", minExpiresIn, maxExpiresIn),
				"/data/attributes/expires-in-seconds")
		}
		expiresIn = time.Duration(*a.ExpiresIn) * time.Second
	}
	conn, ok := s.connectionLocked(c.org, *a.ConnectionID)
	if !ok {
		return errPointer("data.attributes.connection_id is not found", "/data/attributes/connection-id")
	}
	if conn.sourceOrg != c.org.ID {
		return forbidden("Only the connection's source organization can create share tokens")
	}
	if conn.status != connActive {
		return errPointer("Connection "+conn.id+" is "+conn.status+"; share tokens need an active connection",
			"/data/attributes/connection-id")
	}
	src, ok := s.objects[*a.SourceID]
	if !ok || src.OrganizationID != c.org.ID {
		return errPointer("data.attributes.source_id is not found", "/data/attributes/source-id")
	}
	if src.Redacted {
		return errPointer("Source "+src.ID+" has been redacted", "/data/attributes/source-id")
	}
	s.seq++
	t := &shareToken{
		id: newID("cnst"), connID: conn.id, sourceOrg: conn.sourceOrg, destOrg: conn.destOrg,
		creatorKeyID: c.org.APIKeyID, sourceID: src.ID, sourceType: src.Type, status: tokenCreated,
		createdAt: c.now, updatedAt: c.now, expiresAt: c.now.Add(expiresIn), seq: s.seq,
	}
	s.tokens[t.id] = t
	s.stats.ShareTokensCreated++
	s.tokenEventLocked(t, "created", c.now)
	return jsonResp(http.StatusCreated, document{Data: s.tokenResourceLocked(t, c.org, false)})
}

func (s *Server) getShareToken(c *call, r *http.Request) response {
	peek := false
	switch v := r.URL.Query().Get("peek-source-data"); v {
	case "", "false":
	case "true":
		peek = true
	default:
		return badRequest("peek-source-data must be true or false")
	}
	t, ok := s.tokenLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	return jsonResp(http.StatusOK, document{Data: s.tokenResourceLocked(t, c.org, peek)})
}

func (s *Server) expireShareToken(c *call, r *http.Request) response {
	t, ok := s.tokenLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	if t.sourceOrg != c.org.ID {
		return forbidden("Only the source organization can expire a share token")
	}
	switch t.status {
	case tokenCreated:
		t.status, t.expiresAt, t.updatedAt = tokenExpired, c.now, c.now
	case tokenExpired:
		// Expiring an expired token changes nothing and succeeds.
	default:
		return errPointer("A share token in status "+t.status+" cannot be expired", "")
	}
	return jsonResp(http.StatusOK, document{Data: s.tokenResourceLocked(t, c.org, false)})
}

func (s *Server) redeemShareToken(c *call, r *http.Request) response {
	var req struct {
		Data *struct {
			Attributes *struct {
				DestinationID *string `json:"destination-id"`
			} `json:"attributes"`
		} `json:"data"`
		Meta *struct {
			FieldMappings []fieldMapping `json:"field-mappings"`
		} `json:"meta"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return badRequest(err.Error())
	}
	var destID string
	if req.Data != nil && req.Data.Attributes != nil && req.Data.Attributes.DestinationID != nil {
		destID = *req.Data.Attributes.DestinationID
		if destID == "" {
			return badRequest("data.attributes.destination-id must be filled")
		}
	}
	var mappings []fieldMapping
	if req.Meta != nil {
		mappings = req.Meta.FieldMappings
		for i, m := range mappings {
			if m.Source == nil || m.Destination == nil || *m.Source == "" || *m.Destination == "" {
				return badRequest(fmt.Sprintf("meta.field-mappings[%d] needs source-field-name and destination-field-name", i))
			}
		}
	}

	t, ok := s.tokenLocked(c.org, r.PathValue("id"))
	if !ok {
		return notFound("")
	}
	if t.destOrg != c.org.ID {
		return forbidden("Only the destination organization can redeem a share token")
	}
	switch t.status {
	case tokenExpired:
		return errPointer("Share token has expired", "")
	case tokenPending, tokenRedeemed, tokenFailed:
		return errResp(http.StatusConflict, "Share token has already been redeemed")
	}
	if conn := s.conns[t.connID]; conn == nil || conn.status != connActive {
		return errPointer("Share tokens can be redeemed only over an active connection", "")
	}
	mode := modeClone
	var destType string
	if destID == "" {
		if len(mappings) > 0 {
			return errPointer("Field mappings are used only when hydrating; omit them to clone", "/meta/field-mappings")
		}
		if t.sourceType != TypeInquiry && !isVerification(t.sourceType) {
			return errPointer("A share token for a "+t.sourceType+" cannot be cloned; give destination-id to hydrate",
				"/data/attributes/destination-id")
		}
	} else {
		mode = modeHydrate
		dst, ok := s.objects[destID]
		if !ok || dst.OrganizationID != c.org.ID {
			return errPointer("data.attributes.destination_id is not found", "/data/attributes/destination-id")
		}
		if !hasFields(t.sourceType) {
			return errPointer("A share token for a "+t.sourceType+" cannot hydrate; omit destination-id to clone",
				"/data/attributes/destination-id")
		}
		if !hasFields(dst.Type) {
			return errPointer("Only an account, transaction or inquiry can be hydrated", "/data/attributes/destination-id")
		}
		destType = dst.Type
	}
	t.status, t.redeemMode, t.pendingAt, t.updatedAt = tokenPending, mode, c.now, c.now
	t.destID, t.destType, t.mappings = destID, destType, mappings
	t.completeAt = c.now.Add(s.redeemDelay)
	s.stats.Redemptions++
	s.scheduleCompletionLocked(t)
	// The redeemer acts as the destination, also when it is the source.
	return jsonResp(http.StatusAccepted, document{Data: s.tokenViewLocked(t, c.org, directionInbound, false)})
}
