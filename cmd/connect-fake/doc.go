// Command connect-fake serves connecttest, the SDK's stateful in-memory fake
// of Persona's Connect API, on a local port, so that programs in any
// language can be developed and tested against it, and drives it through a
// control API over plain HTTP and JSON.
//
// # Install and run
//
//	go install github.com/personaconnect/connect-go/cmd/connect-fake@latest
//	connect-fake                              # http://127.0.0.1:8080/api/v1
//	connect-fake -addr 127.0.0.1:0 -json      # a free port; the seed as JSON
//
// At start it seeds two organizations ("Acme KYC", the source, and "Bank",
// the destination), an active connection between them and a completed
// inquiry of the source, and prints them with their API keys: as prose, or
// with -json as one line of JSON on stdout:
//
//	{"url":"http://127.0.0.1:PORT/api/v1","control_url":"http://127.0.0.1:PORT/_fake",
//	 "source":{"id":"org_…","name":"Acme KYC","api_key":"persona_sandbox_…"},
//	 "destination":{"id":"org_…","name":"Bank","api_key":"persona_sandbox_…"},
//	 "connection_id":"cxn_…","inquiry_id":"inq_…","manual_clock":false}
//
// State lives in memory and is gone when the program stops (Ctrl-C or
// SIGTERM). Each request is logged on stderr (time, method, path, status,
// duration, Request-Id; never a query, header or body, so never a key)
// unless -quiet is given. Run it with -h for every flag.
//
// # In another project's CI
//
//	connect-fake -addr 127.0.0.1:0 -json >fake.json 2>fake.log &
//	fake_pid=$!
//	for _ in $(seq 100); do [ -s fake.json ] && break; sleep 0.1; done
//	export PERSONA_BASE_URL="$(jq -r .url fake.json)"
//	export PERSONA_API_KEY="$(jq -r .source.api_key fake.json)"
//	export CONNECT_FAKE_CONTROL_URL="$(jq -r .control_url fake.json)"
//	npm test   # or pytest, go test, …
//	kill "$fake_pid"
//
// # As a service
//
// It is meant to run for as long as a test suite, whatever its clients
// send. Its http.Server closes a connection whose headers take longer than
// -read-header-timeout (default 10s), whose request takes longer than
// -read-timeout (30s), or that is idle longer than -idle-timeout (60s), and
// refuses headers over 64 KiB. An unauthenticated request is answered 401
// without its body being read, and is counted (GET /_fake/stats) but not
// kept. The record of requests keeps the last -max-recorded-requests (1000)
// authenticated ones, with at most 64 KiB of each body and response.
// Idempotency keys are forgotten 24 hours after use on the fake's clock.
// What grows without bound is what authenticated clients create
// (organizations, objects, tokens, webhook deliveries): POST /_fake/reset
// forgets it.
//
// By default it listens on loopback only: it hands out API keys, and its
// control API needs none. -public allows another address; do that only on
// a network of your own.
//
// # The control API
//
// Everything under /_fake/ is the control API: for tests only, with no
// API key, JSON in and out. It can do what the connecttest package's Go API
// does. A request body is a JSON object (at most 1 MiB; unknown fields are
// refused); durations are Go durations as strings ("1.5s", "10m"); times
// are RFC 3339. An error answers 4xx or 5xx with {"error":"…"}: 400 for bad
// input, 404 for an unknown id or route, 409 for a state that forbids the
// call, 408 for a wait that timed out. A call that returns nothing answers
// 204.
//
//	GET    /_fake/                         {"url","control_url","manual_clock","now"}
//	POST   /_fake/reset                    {"seed":bool}: forget everything (the clock keeps its time);
//	                                       → {} or, with seed, a new seed as -json prints it
//
//	POST   /_fake/organizations            {"name"} → {"id","name","api_key","api_key_id","environment_id","created_at"}
//	GET    /_fake/organizations            → {"data":[organization…]}
//	POST   /_fake/inquiries                {"organization_id","fields":{…}} → {"id"}
//	POST   /_fake/accounts                 likewise → {"id"}
//	POST   /_fake/transactions             likewise → {"id"}
//	POST   /_fake/verifications            {"organization_id","type","fields"} → {"id"}; type is
//	                                       verification/database, verification/phone-number or
//	                                       verification/email-address
//	GET    /_fake/objects/{id}             → {"id","type","organization_id","status","fields","cloned_from",
//	                                       "hydrated_from","share_token_id","redacted","created_at","updated_at"}
//	GET    /_fake/organizations/{id}/objects → {"data":[object…]}
//	POST   /_fake/objects/{id}/redact      redact it: a later redemption fails source_redacted
//	DELETE /_fake/objects/{id}             delete it: a later completion fails source_not_found
//
//	POST   /_fake/connections              {"source_organization_id","destination_organization_id"}: an
//	                                       active connection → connection
//	GET    /_fake/connections/{id}         → {"id","status","source_organization_id",
//	                                       "destination_organization_id","created_at","updated_at"}
//	POST   /_fake/connections/{id}/accept  the destination's Dashboard step: pending → active (409 otherwise)
//	GET    /_fake/share-tokens/{id}        → {"id","status","connection_id","source_id","destination_id",
//	                                       "redeem_mode","failure_reason","created_at","expires_at",
//	                                       "pending_at","redeemed_at","failed_at",…}
//	POST   /_fake/share-tokens/{id}/wait   {"status":["redeemed","failed"],"timeout":"10s"}: answers the
//	                                       token once its status is one of those (408 after the timeout,
//	                                       default 10s, at most 5m); wakes on requests and clock moves
//
//	GET    /_fake/clock                    → {"now"}
//	POST   /_fake/clock/advance            {"duration":"1h"} → {"now"}
//	POST   /_fake/clock/set                {"time":"2025-01-01T00:00:00Z"} → {"now"}
//	                                       (both 409 unless started with -clock manual or -clock <time>)
//
//	POST   /_fake/faults                   {"method","path_prefix","status","body","retry_after","count",
//	                                       "drop_after_processing","delay"}: the next count matching
//	                                       requests (default 1, negative: all) misbehave, as
//	                                       connecttest.Fault describes
//	DELETE /_fake/faults                   disarm every fault
//
//	POST   /_fake/webhooks                 {"organization_id","url","enabled_events":[…],"secret",
//	                                       "key_inflection":"kebab|camel|snake"} → {"id","organization_id",
//	                                       "url","secret","secrets":[{"value","expires_at"}],"enabled_events",
//	                                       "key_inflection","created_at"}; the URL must be loopback
//	GET    /_fake/webhooks/{id}            → webhook
//	POST   /_fake/webhooks/{id}/rotate-secret {"expires_in":"1h"}: a new secret; the old one signs too
//	                                       until then → webhook
//	GET    /_fake/webhook-deliveries       → {"data":[{"event_id","event_name","organization_id","webhook_id",
//	                                       "url","attempt","attempts_left","status","error","outcome",
//	                                       "header","body","response_body","time","duration_ms"}…]}
//	POST   /_fake/webhook-deliveries/wait  {"timeout":"10s"}: answers once no delivery is pending →
//	                                       {"failures":[delivery…],"error"}: the deliveries given up
//	                                       since the last wait (each is reported once), with why
//	POST   /_fake/events/{id}/resend       deliver an event again, same id and body
//
//	GET    /_fake/requests                 → {"data":[{"method","path","raw_query","header","body",
//	                                       "organization_id","request_id","time","status","response_body",
//	                                       "replayed","fault","dropped"}…]}, oldest first; the
//	                                       Authorization header reads "[redacted]"
//	DELETE /_fake/requests                 forget the record
//	GET    /_fake/stats                    → {"requests","unauthorized","too_many_requests","faults",
//	                                       "dropped","replays","connections_created","share_tokens_created",
//	                                       "redemptions"}
//
// The connecttest options are flags: -redeem-delay (WithRedeemDelay),
// -rate-limit and -rate-window (WithRateLimit), -clock (WithClock with a
// manual Clock), -max-recorded-requests (WithRequestRecordLimit),
// -peek-full-fields (WithPeekFullFields) and -webhook-timeout
// (WithWebhookTimeout). Deliveries are retried on connecttest's default
// schedule (7 retries within about a second and a quarter); webhooks may
// only point at loopback, and https receivers are not supported.
//
// A webhook's signature carries the fake's clock: with -clock manual a
// receiver must verify against that clock (GET /_fake/clock), or it will
// reject every delivery as stale.
package main
