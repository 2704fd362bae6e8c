// Package connecttest is Persona Connect in a box: a stateful, in-memory
// fake of the whole Connect Share Tokens API, for tests and demos of code
// that uses the [connect] SDK (or any other HTTP client).
//
// Start a [Server] with [NewServer], make two organizations
// ([Server.NewOrganization]), and point a client at it:
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
// and a client made with bank.APIKey peeks at and redeems them.
// [Server.Object] shows what a redemption copied: the clone's
// [Object.ClonedFrom] names the source.
//
// # Examples
//
// Each runnable example is self-contained and shows one part, with its
// output: the package example, a whole share over raw HTTP; [Clock]'s, a
// manual clock expiring a token; [WithRedeemDelay]'s, a pending redemption
// completed by Advance; [Server.InjectFault]'s, a 503 the SDK retries
// through and a dropped answer replayed by its idempotency key;
// [Server.RegisterWebhook]'s, a receiver built with connect.NewWebhookHandler
// and a repeated delivery it drops; [Server.WaitWebhooks]'s, a receiver
// wired to a manual clock.
//
// # What it models
//
// The routes under /api/v1/connect (share tokens and connections), the
// events (GET /events and /events/{id}), the objects' GETs (inquiries,
// accounts, transactions, verifications) and a webhook's rotate-secret,
// with Persona's wire format: JSON:API-shaped resources with kebab-case
// attributes (or camel or snake, see below), timestamps in UTC with milliseconds, Persona's error bodies
// ({"errors":[{"title":…,"details":…}]}, with source.pointer on 422s),
// the Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset,
// Persona-Organization-Id and Persona-Environment-Id headers (the last
// three kinds only on authenticated responses; a 401 carries Request-Id),
// and cursor paging with filters.
//
// Each organization sees only its own objects and those shared with it,
// with the direction and relationships of its side. Connections go pending
// (created by the source) → active (AcceptConnection) → inactive (either
// side) → pending (reactivated by the source). An organization may connect
// to itself, as Persona advises for testing Connect (see below). Share
// tokens are created by the connection's source over an active connection
// for an object it owns, expire on the server's Clock (default 14 days) or
// when the source expires them, and are redeemed once by the destination:
// clone (inquiries and verifications) makes a new object in the
// destination's organization, hydrate (accounts, transactions, inquiries)
// fills one it owns: each source field whose name the destination has is
// copied, then each field mapping copies its source field into its
// destination field when neither was matched by name and the destination
// has that field; no field is added to the destination. A redemption stays
// pending for [WithRedeemDelay] on the [Clock], then becomes redeemed, or
// failed with failure-reason source_redacted ([Server.RedactObject]),
// source_not_found ([Server.DeleteObject]), import_failed (hydrate target
// gone) or any reason given to [Server.FailRedemption] (unrecoverable_error,
// say).
//
// Events: every event is recorded per organization ([Server.Events]) and
// served by GET /events. [Server.NewInquiry] and [Server.CompleteInquiry]
// emit inquiry.completed ([EventInquiryCompleted]), delivered to webhooks
// that enable it by name.
//
// Key inflection: request bodies may name their members in kebab, camel or
// snake case (connection-id, connectionId, connection_id), as on Persona.
// Responses use the inflection the Key-Inflection request header asks for,
// kebab (the default when the header is absent or empty), camel or snake
// (any letter case); every key of the body is inflected, field names
// included, and no value is (types, enum values, links). Any other value is
// a 400 whose details name Key-Inflection.
//
// Webhooks: [Server.RegisterWebhook] gives an organization a webhook (a loopback URL
// and a fresh "wbhsec_…" secret). Creating a share token sends
// connect/share-token.outbound-created to the source's webhooks and
// connect/share-token.inbound-created to the destination's; a redemption
// that completes as redeemed sends outbound-redeemed and inbound-redeemed
// likewise. The body is Persona's event envelope,
// {"data":{"type":"event","id":"evt_…","attributes":{"name":…,"created-at":…,
// "payload":{"data":<token>,"included":[]}}}}, where the token is rendered
// exactly as that organization's GET would show it (direction and
// relationships of its side) at the event's created-at on the Clock, with
// its keys in the webhook's inflection ([WithWebhookKeyInflection]: kebab by
// default, camel or snake, as Persona's api-key-inflection). Each
// delivery is a POST with Content-Type: application/json, a User-Agent,
// Persona-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">,
// one space-separated group per valid secret during a rotation, see
// [Server.RotateWebhookSecret]), Persona-Webhook-Attempts-Made,
// Persona-Webhook-Attempts-Left and Persona-Webhook-First-Attempted-At. A
// delivery succeeds on 200, 201, 202 or 204 within the timeout (5 seconds,
// [WithWebhookTimeout]); otherwise it is retried up to 7 more times
// ([WithWebhookRetrySchedule]), with the same event id and body, and then
// given up. [Server.WebhookDeliveries] records every attempt;
// [Server.WaitWebhooks] waits until none is pending, so tests need not
// sleep.
//
// Idempotency keys, rate limits and faults behave as described on
// [Server.InjectFault], [Fault] and [WithRateLimit]: a POST's first response for a key is
// replayed for 24 hours on the Clock, 500s included, with the same status
// and body and a new Request-Id (no header marks a replay: Persona
// documents none; [RecordedRequest.Replayed] and [Stats.Replays] count them);
// 401s and 429s are never stored.
//
// # Where Persona is silent
//
// Each choice the fake makes where Persona's documents say nothing
// definite, with what it rests on ("no source": the fake's own choice).
// Quotes are from Persona's OpenAPI document unless said otherwise.
//
//   - A request body naming an id the caller cannot see (connection-id,
//     source-id, destination-id, destination-organization-id) is a 422 with
//     source.pointer on that member and details such as
//     "data.attributes.source_id is not found"; so is a value out of range.
//     Source: the create and redeem operations list 400, 401, 403, 409, 422
//     and 429 but no 404, and 422 is "an invalid action or parameter". An
//     unknown or invisible id in the path is a 404 ("The requested resource
//     doesn't exist"). Malformed JSON, wrong types, missing members and
//     unknown members are 400s ("often due to invalid parameters").
//   - Acting on the wrong side (destination creating a token or expiring
//     it, source redeeming, destination reactivating) is a 403. Source: 403
//     is "doesn't have permissions to perform the request"; "Only the source
//     organization can reactivate a connection".
//   - Expiring an expired token answers 200 and changes nothing; expiring a
//     pending, redeemed or failed token is a 422. Source: expire is
//     "setting its status to expired and preventing further use"; the rest
//     is no source.
//   - Redeeming a token that is pending, redeemed or failed is a 409
//     (details "Share token has already been redeemed"), with no change to
//     the token; continue by reading it (GET) for the outcome. Redeeming an
//     expired token, or one over a connection that is not active, is a 422.
//     A redeem repeated with the first one's Idempotency-Key is not a 409:
//     it replays the first 202 (the token as pending then). Source: 409 is
//     "conflicts with another request"; a connection must be active,
//     "share tokens cannot be redeemed through the connection until then".
//   - Creating a second pending or active connection to the same
//     destination is a 409; after the first is inactive, a new one may be
//     made. Source: 409 is "often due to attempting to create a duplicate
//     resource".
//   - An organization may connect to itself: create, AcceptConnection,
//     tokens, redeem into the same organization (a clone is a new object of
//     its own). Such a connection is listed once. Its tokens are both
//     outbound and inbound: a read (GET, create, expire, and a list without
//     filter[direction]) shows direction outbound; a list with
//     filter[direction]=inbound or outbound shows each token once, in that
//     direction; the redeem call answers inbound (the caller acts as the
//     destination); every view carries all four relationships (creator,
//     source, destination, connection) and peek shows source-data.
//     Webhooks get both events, outbound-… and inbound-…, each in its
//     side's direction. Source: Persona's Connect FAQ advises testing by
//     connecting an organization to itself; the list's direction filter
//     "Defaults to returning both inbound and outbound"; the views are no
//     source.
//   - Reusing an Idempotency-Key with other parameters (method, path, query
//     or body) is a 422, not stored. Source: no source for the status
//     (422: "an invalid action or parameter").
//   - A POST arriving while the first with its Idempotency-Key is still
//     being processed waits for it and gets its response (or, when the
//     first stored nothing, because its client gave up during an injected
//     delay, runs itself); with other parameters it is the 422 above. No
//     source: Persona documents no concurrent behaviour (its 409 "conflicts
//     with another request" would also fit); waiting gives an SDK that
//     retries a timed-out POST with the same key the real answer instead of
//     a conflict it cannot resolve.
//   - A Key-Inflection value other than camel, kebab or snake is a 400,
//     answered before the idempotency layer (not stored). Source: the
//     header's schema is the enum camel, kebab, snake; the status is no
//     source. Replays answer in the inflection of the request that replays
//     (the fake stores the response, not its rendering): no source. Two
//     spellings of one member in a body (connectionId beside
//     connection-id) are a 400: no source.
//   - Hydrate copies by name only fields the destination has, and a
//     mapping applies only when neither its source nor its destination
//     field was matched by name and the destination has that field. Source:
//     "If a source field name matches the destination field name, it is
//     copied directly. These mappings are applied for fields not already
//     matched by name."; not adding fields is no source.
//   - Peek shows status in full and every field by presence (see
//     [WithPeekFullFields]). No source.
//   - Only a redemption that completes as redeemed sends the -redeemed
//     events: Persona documents no event for a failed redemption (nor for
//     expiry), and a "-redeemed" event for a failure would mislead a
//     receiver that trusts the name. Receivers learn of failures by
//     reading the token.
//   - Deliveries run in the background, one goroutine each, as soon as the
//     event happens: a delivery may reach its receiver before the API
//     response that caused it reaches the caller, and deliveries to one
//     URL may arrive in any order (dedupe on the event id, order by
//     created-at; Persona's webhook documentation asks the same). An event
//     goes to every enabled webhook of its organization under one evt_ id.
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
//     the next request, helper read or WaitWebhooks. No source.
//   - Webhook URLs must be http or https on a loopback host (127.0.0.1, ::1,
//     localhost) unless [WithWebhookAllowedHosts] names the host, and the
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
//     redirects followed, TLS per [WithWebhookTLSConfig].
//
// # What it does not model
//
// Production keys and environments (every key is a sandbox key), users as
// creators (the creator is always the API key), sparse fieldsets and
// include, Persona-Version differences,
// Persona's webhook API (webhooks are registered by test helpers; their
// api-version, payload filters, attribute blocklists and included or
// relationship allowlists are not modeled), and events other than the
// four Connect share token events and inquiry.completed.
//
// [connect]: https://pkg.go.dev/github.com/personaconnect/connect-go
package connecttest
