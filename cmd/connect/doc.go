// Command connect is the command line for Persona Connect: it creates,
// inspects, redeems, expires and waits for share tokens, manages
// connections, reads events and objects, rotates webhook secrets, forwards
// events to a local webhook receiver, and signs and verifies webhook
// payloads offline, for operators and for debugging a webhook receiver. It is built on the
// connect SDK and behaves like it: retries, idempotency keys, rate limits
// and the checks on input are the SDK's.
//
// # Install
//
//	go install github.com/personaconnect/connect-go/cmd/connect@latest
//
// # Authentication and environment
//
// The API key comes from PERSONA_API_KEY, or from the file named by
// --api-key-file (surrounding whitespace is ignored). It is sent as the
// Bearer token and never printed: not in results, errors, --debug logs or
// help. A source organization's key acts as the source (create and expire
// tokens, create connections), a destination's key as the destination (peek
// at and redeem tokens).
//
//	PERSONA_API_KEY         the API key
//	PERSONA_BASE_URL        the API, default https://api.withpersona.com/api/v1
//	                        (plain http only on loopback, for connect-fake)
//	PERSONA_WEBHOOK_SECRET  webhook secret(s) for webhooks sign and verify
//
// # Commands
//
//	connect share-tokens create --connection <id> --source <id> [--expires-in 24h]
//	connect share-tokens get <id>
//	connect share-tokens peek <id>                  destination: the token and a preview of its data
//	connect share-tokens redeem <id> [--destination <id> --map source=destination ...]
//	connect share-tokens expire <id>
//	connect share-tokens list [--connection <id>] [--status s] [--direction d] [--page-size n] [--after c] [--all]
//	connect share-tokens wait <id> [--poll 2s] [--timeout 10m]
//	connect connections create --destination-organization <id>
//	connect connections get|deactivate|reactivate <id>
//	connect connections list [--status s] [--destination-organization <id>] [--page-size n] [--after c] [--all]
//	connect events list [--name n ...] [--object <id> ...] [--id <id> ...] [--page-size n] [--after c] [--all]
//	connect events get <id>
//	connect objects get <type> <id>                 type: inquiry, account, transaction|txn, verification[/…]
//	connect webhooks rotate-secret <id> [--old-secret-expires-in 1h] [--show-secret]
//	connect listen --forward-to <url> [--events n,...] [--secret S] [--poll 5s] [--since 1h]
//	connect webhooks sign [<payload-file>|-] [--secret-file PATH] [--time T]
//	connect webhooks verify [<payload-file>|-] --signature <header> [--secret-file PATH ...] [--ignore-age]
//	connect completion bash|zsh|fish
//	connect version
//
// Flags may come before or after the arguments; "--" ends the flags. Every
// command and group takes --help ("connect help share-tokens redeem" is the
// same). The commands that call the API also take:
//
//	--json              print JSON instead of the readable form
//	--debug             log each HTTP attempt (method, path, attempt, status,
//	                    Request-Id, duration) to stderr
//	--api-key-file PATH read the key from a file
//	--timeout D         give up after D, retries and waits included
//	                    (default 1m; 10m for wait; no limit for listen)
//
// The commands that POST (create, redeem, expire, deactivate, reactivate,
// rotate-secret) take --idempotency-key. Without it each run sends a random key, the same
// on the SDK's retries within the run; give one to make a repeated run
// safe, and use a new one after a refusal (a 4xx other than 408, 409 and
// 429), since Persona replays its answer to a key for 24 hours.
//
// # Output
//
// On stdout, one object is shown as "label value" lines and a list as a
// table, with times in UTC. Progress (wait), the cursor of the next page
// (list without --all) and errors go to stderr, so stdout holds only the
// result.
//
// With --json one object is printed as an indented JSON object, and a list
// as one compact object per line (NDJSON), streamed page by page. The keys
// are kebab-case like Persona's API, every key is always present (null
// when not set), times are UTC with milliseconds ("2025-01-01T00:00:00.000Z"),
// and relationships are {"type", "id"} objects. A share token:
//
//	{"id", "status", "direction", "connection-id", "source", "destination",
//	 "creator", "redeem-mode", "failure-reason", "created-at", "updated-at",
//	 "expires-at", "pending-at", "redeemed-at", "failed-at"}
//
// plus "source-data" from peek: {"type", "id", "attributes", "fields",
// "related"}, where each attribute and field is {"visibility", "value"}. A
// connection: {"id", "status", "source-organization-id",
// "destination-organization-id", "creator", "created-at", "updated-at"}.
// An event: {"id", "name", "created-at", "object", "payload"}, the payload
// as the API returned it. An object: {"type", "id", "status",
// "attributes"}, the attributes as received. A webhook after
// rotate-secret: {"id", "status", "url", "name", "enabled-events",
// "api-version", "created-at", "current-secret", "secrets",
// "secrets-hidden"}, each secret {"value", "expires-at"}. listen --json
// prints one line per event once its forwarding is over: {"event-id",
// "event-name", "created-at", "delivered", "status", "attempts", "error"}.
// Keys may be added in later versions; none is renamed.
//
// # Exit status
//
//	0  success (wait: the token reached a final status, whichever it is;
//	   listen: stopped by Ctrl-C or --timeout)
//	1  the API answered with an error (its status and Request-Id are on
//	   stderr), the network failed, --timeout ran out, or a webhook
//	   signature did not verify
//	2  a usage or validation error: unknown command or flag, missing
//	   argument, invalid value, no API key; nothing was sent
//
// # A one-off share
//
// The source connects to the destination once; the destination accepts in
// Persona's Dashboard:
//
//	export PERSONA_API_KEY=$SOURCE_KEY
//	connect connections create --destination-organization org_…
//
// Then the source shares an inquiry, and the destination looks, redeems and
// waits for the copy:
//
//	connect share-tokens create --connection cxn_… --source inq_… --expires-in 24h
//	PERSONA_API_KEY=$DESTINATION_KEY connect share-tokens peek cnst_…
//	PERSONA_API_KEY=$DESTINATION_KEY connect share-tokens redeem cnst_…
//	PERSONA_API_KEY=$DESTINATION_KEY connect share-tokens wait cnst_…
//
// In a script, take ids from --json with jq:
//
//	tok=$(connect share-tokens create --connection "$cxn" --source "$inq" --json | jq -r .id)
//
// The destination then reads the copy the redemption made, by the type and
// id the token's destination shows:
//
//	PERSONA_API_KEY=$DESTINATION_KEY connect objects get inquiry inq_…
//
// To try it all without Persona, run "go run ./cmd/connect-fake" in the SDK's
// repository and export the PERSONA_BASE_URL and keys it prints.
//
// # Events
//
// events list shows what happened in the organization, newest first, as
// webhooks would have delivered it; events get shows one with its payload.
// The filters repeat or take commas: an event matches any of the values.
//
//	connect events list --name connect/share-token.inbound-created --object cnst_…
//	connect events get evt_…
//
// listen brings those events to a webhook receiver that Persona cannot
// reach, such as one on a laptop behind NAT. It reads GET /events every
// --poll interval and POSTs each event that is new since it started
// (--since also replays earlier ones), oldest first, to --forward-to: the
// body is {"data": <event>}, exactly the shape of a webhook delivery,
// signed in Persona-Signature with a secret that listen makes and prints at
// start, with Persona-Webhook-Attempts-Made and -Attempts-Left. Give that
// secret to the receiver, and its own verification (NewWebhookHandler,
// ParseWebhookEvent) runs unchanged. The secret is local: it signs only
// these forwards, so printing it reveals nothing of Persona's; a secret
// given with --secret is not printed. A receiver that does not answer 2xx
// is tried 3 more times (after 1s, 2s and 4s), then the event is reported
// and skipped. Each forward is logged on stderr with the receiver's answer.
// A failed read of the events is retried at twice the interval each time,
// up to a minute; a refused key ends listen with status 1.
//
//	connect listen --forward-to http://localhost:8000/webhooks/persona --events inquiry.completed
//
// # Webhooks
//
// webhooks sign prints the Persona-Signature value Persona would send with a
// payload, to replay a delivery to a receiver:
//
//	export PERSONA_WEBHOOK_SECRET=wbhsec_…
//	curl -H "Persona-Signature: $(connect webhooks sign event.json)" \
//	     -H 'Content-Type: application/json' --data-binary @event.json \
//	     http://localhost:8000/webhooks/persona
//
// webhooks rotate-secret gives a webhook a new signing secret; the old one
// stays valid for --old-secret-expires-in, so that receivers can be given
// both meanwhile. Its output hides the secrets unless --show-secret is
// given, in the readable form and in --json (values null, "secrets-hidden":
// true): terminals, CI logs and screen shares keep what they print, and a
// secret that was seen there has to be rotated again. Each run makes a new
// secret, so decide before running; to send it straight to a secret store:
//
//	connect webhooks rotate-secret wbh_… --show-secret --json | jq -r '."current-secret"'
//
// webhooks verify checks a captured body and header as a receiver would,
// with several secrets during a rotation, and prints "ok" or the reason
// (exit status 1). Signatures older than 5 minutes fail unless --ignore-age
// is given. The signature covers the bytes exactly: a newline an editor
// added breaks it, and verify says so.
//
//	connect webhooks verify body.json --signature 't=1735689600,v1=…'
//
// # Shell completion
//
//	source <(connect completion bash)
//	connect completion zsh > "${fpath[1]}/_connect"
//	connect completion fish > ~/.config/fish/completions/connect.fish
package main
