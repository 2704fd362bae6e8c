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
// Webhooks: RegisterWebhook gives an organization a webhook (a loopback URL
// and a fresh "wbhsec_…" secret). Creating a share token sends
// connect/share-token.outbound-created to the source's webhooks and
// connect/share-token.inbound-created to the destination's; a redemption
// that completes as redeemed sends outbound-redeemed and inbound-redeemed
// likewise. The body is Persona's event envelope,
// {"data":{"type":"event","id":"evt_…","attributes":{"name":…,"created-at":…,
// "payload":{"data":<token>,"included":[]}}}}, where the token is rendered
// exactly as that organization's GET would show it (direction and
// relationships of its side) at the event's created-at on the Clock. Each
// delivery is a POST with Content-Type: application/json, a User-Agent,
// Persona-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">,
// one space-separated group per valid secret during a rotation, see
// RotateWebhookSecret), Persona-Webhook-Attempts-Made,
// Persona-Webhook-Attempts-Left and Persona-Webhook-First-Attempted-At. A
// delivery succeeds on 200, 201, 202 or 204 within the timeout (5 seconds,
// WithWebhookTimeout); otherwise it is retried up to 7 more times
// (WithWebhookRetrySchedule), with the same event id and body, and then
// given up. WebhookDeliveries records every attempt; WaitWebhooks waits
// until none is pending, so tests need not sleep.
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
//   - Only a redemption that completes as redeemed sends the -redeemed
//     events: Persona documents no event for a failed redemption (nor for
//     expiry), and a "-redeemed" event for a failure would mislead a
//     receiver that trusts the name. Receivers learn of failures by
//     reading the token.
//   - Deliveries run in the background, one goroutine each, as soon as the
//     event happens: a delivery may reach its receiver before the API
//     response that caused it reaches the caller, and deliveries to one
//     URL may arrive in any order (dedupe on the event id, order by
//     created-at). An event goes to every enabled webhook of its
//     organization under one evt_ id.
//   - Signatures carry t from the server's Clock, so a receiver of a fake
//     with a manual Clock verifies with that clock
//     (connect.WithWebhookClock(srv.Clock().Now)). The first attempt sends
//     Persona-Webhook-Attempts-Made 1 and Attempts-Left 7 (the two add up
//     to the 8 attempts, as in Persona's examples, 2 and 6); each attempt is
//     signed anew at its own time with the secrets valid then.
//   - Retries wait in real time (the receiver is a real HTTP server), on a
//     short schedule of 10ms doubling to 640ms, where Persona spreads its 7
//     retries over about two days. A redirect, any other status, a refused
//     connection or no status line within the timeout is a failure.
//   - A redemption that is due completes, and sends its events, right away
//     when either side has a webhook (the fake otherwise completes it on the
//     next read); with a manual Clock and WithRedeemDelay, after Advance on
//     the next request, helper read or WaitWebhooks.
//   - Webhook URLs must be http or https on a loopback host (127.0.0.1, ::1,
//     localhost) unless WithWebhookAllowedHosts names the host, and the
//     address dialed must be loopback too: the fake sends nothing off the
//     machine by accident. Enabled events are the four Connect events
//     (default all of them); the included array is empty (Persona's
//     include_none default) and relationships are present (its
//     include_all default). The User-Agent is the fake's own.
//   - During a rotation (RotateWebhookSecret, like Persona's rotate-secret with
//     expires-in-seconds) the new secret's group comes first, then the old
//     one's until it expires on the Clock. WithWebhookSecret fixes a webhook's
//     secret for a receiver configured in advance (Persona always makes it).
//     ResendWebhookEvent repeats a delivery with the same event id and body,
//     as Persona's own repeats do, so that deduplication can be tested.
//   - Deliveries use their own HTTP client: no proxy from the environment, no
//     redirects followed, TLS per WithWebhookTLSConfig.
//
// # What it does not model
//
// Production keys and environments (every key is a sandbox key), users as
// creators (the creator is always the API key), sparse fieldsets and
// include, Key-Inflection other than kebab, Persona-Version differences,
// Persona's webhook API (webhooks are registered by test helpers; their
// api-version, payload filters, attribute blocklists and included or
// relationship allowlists are not modeled), and events other than the
// four Connect share token events.
package connecttest
