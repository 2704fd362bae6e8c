// Package connecttest is Persona Connect in a box: a stateful, in-memory
// fake of the whole Connect Share Tokens API, for tests and demos of code
// that uses the connect SDK (or any other HTTP client).
//
// Start a server, make two organizations, and point a client at it:
//
//	srv := connecttest.NewServer()
//	defer srv.Close()
//
//	acme := srv.NewOrganization("Acme KYC")    // the source
//	bank := srv.NewOrganization("Bank")        // the destination
//	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})
//
//	source, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
//	...
//	cxn, err := source.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: bank.ID})
//	...
//	err = srv.AcceptConnection(cxn.ID) // the destination's Dashboard-only step
//
// From there the source creates share tokens for inq over the connection,
// and a client made with bank.APIKey peeks at and redeems them. Object
// shows what a redemption copied: the clone's ClonedFrom names the source.
//
// # What it models
//
// The routes under /api/v1/connect (share tokens and connections) with
// Persona's wire format: JSON:API-shaped resources with kebab-case
// attributes, timestamps in UTC with milliseconds, Persona's error bodies
// ({"errors":[{"title":…,"details":…}]}, with source.pointer on 422s),
// the Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset,
// Persona-Organization-Id and Persona-Environment-Id headers (the last
// three kinds only on authenticated responses; a 401 carries Request-Id),
// and cursor paging with filters.
//
// Each organization sees only its own objects and those shared with it,
// with the direction and relationships of its side. Connections go pending
// (created by the source) → active (AcceptConnection) → inactive (either
// side) → pending (reactivated by the source). Share tokens are created by
// the connection's source over an active connection for an object it owns,
// expire on the server's Clock (default 14 days) or when the source expires
// them, and are redeemed once by the destination: clone (inquiries and
// verifications) makes a new object in the destination's organization,
// hydrate (accounts, transactions, inquiries) fills one it owns, copying
// every source field by name and then applying the field mappings. A
// redemption stays pending for WithRedeemDelay on the Clock, then becomes
// redeemed, or failed with failure-reason source_redacted (RedactObject),
// source_not_found (DeleteObject) or import_failed (hydrate target gone).
//
// Idempotency keys, rate limits and faults behave as described on
// InjectFault, WithRateLimit and in idempotency.go: a POST's first response
// for a key is replayed for 24 hours on the Clock, 500s included; 401s and
// 429s are never stored.
//
// # Choices where Persona is silent
//
//   - A request body naming an id the caller cannot see (connection-id,
//     source-id, destination-id, destination-organization-id) is a 422
//     with source.pointer on that member and details such as
//     "data.attributes.source_id is not found" (Persona's document allows
//     no 404 on the create operations); so is a value out of range.
//     An unknown or invisible id in the path is a 404. Malformed JSON,
//     wrong types, missing members and unknown members are 400s.
//   - Acting on the wrong side (destination creating a token or expiring
//     it, source redeeming, destination reactivating) is a 403.
//   - Expiring an expired token answers 200 and changes nothing; expiring a
//     pending, redeemed or failed token is a 422.
//   - Redeeming a token twice is a 409; redeeming an expired one, or over a
//     connection that is not active, is a 422.
//   - Creating a second pending or active connection to the same
//     destination is a 409.
//   - Reusing an Idempotency-Key with other parameters is a 422.
//   - Peek shows status in full and every field by presence (see
//     WithPeekFullFields).
//
// # What it does not model
//
// Webhook deliveries, production keys and environments (every key is a
// sandbox key), users as creators (the creator is always the API key),
// sparse fieldsets and include, Key-Inflection other than kebab, and
// Persona-Version differences.
package connecttest
