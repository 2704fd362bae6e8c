// Package connect is a client for Persona's Connect Share Tokens API, with
// which one organization (the source) shares an end user's verified identity
// data with a partner (the destination).
//
// The source creates a share token for one completed object, usually an
// inquiry, over an active connection to the partner, and hands the token's
// id over by any channel. The destination redeems it exactly once, which
// copies the data into its own environment, waits for the asynchronous
// redemption, and reads the copy it now owns:
//
//	client, err := connect.NewClient(os.Getenv("PERSONA_API_KEY"))
//	if err != nil {
//		return err
//	}
//	// attempt is stored with the token and advanced after a refusal (see ShareTokensService.Redeem)
//	key := fmt.Sprintf("redeem-%s-%d", tokenID, attempt)
//	tok, err := client.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey(key))
//	if errors.Is(err, connect.ErrConflict) {
//		tok, err = client.ShareTokens.Get(ctx, tokenID) // redeemed before, by this destination
//	}
//	if err != nil {
//		return err
//	}
//	tok, err = client.ShareTokens.Wait(ctx, tok.ID)
//	if err != nil {
//		return err
//	}
//	if tok.Status != connect.ShareTokenStatusRedeemed {
//		return fmt.Errorf("redemption %s: %s", tok.Status, tok.FailureReason)
//	}
//	copied, err := client.Objects.Get(ctx, tok.Destination)
//
// # The client and its services
//
// [NewClient] makes a [Client] from an API key and [ClientOption] values
// ([WithBaseURL], [WithTimeout], [WithMaxRetries], [WithLogger], ...); it does
// no I/O, and one Client is meant to be shared by all goroutines that use
// the key. Its services group the calls:
//
//   - [Client.ShareTokens] ([ShareTokensService]): Create, Get, Peek, Redeem,
//     Expire, Wait, List and All.
//   - [Client.Connections] ([ConnectionsService]): the link from a source to
//     a destination that tokens travel over.
//   - [Client.Objects] ([ObjectsService]): read the inquiry, account,
//     transaction or verification a token names, such as a redemption's copy.
//   - [Client.Events] ([EventsService]): the organization's events, to catch
//     up on webhook deliveries a receiver missed.
//   - [Client.Webhooks] ([WebhooksService]): rotate a webhook's secret.
//
// Every method takes a context, which bounds the whole call, retries
// included, and [RequestOption] values such as [WithIdempotencyKey],
// [WithResponseInto] and [WithPollInterval]. List returns one [Page]; All
// returns an iterator that fetches pages as the loop needs them.
//
// # Requests, retries and idempotency
//
// Parameters are checked before anything is sent. Every POST carries an
// Idempotency-Key (a random one unless [WithIdempotencyKey] gives it), the
// same on every retry of that call. Transport failures and 408, 429, 502,
// 503 and 504 responses are retried with jittered exponential backoff; a 500
// or 409 only on GET. A wait the server asks for is honoured up to
// [WithMaxRateLimitWait], and a client paces all its calls against the
// rate-limit window the responses report. Clients that share an API key
// (replicas of a service) share Persona's budget too: give them one
// [RateLimiter] with [WithRateLimiter] (package redislimit keeps one in
// Redis), which every attempt asks first. No wait starts that would outlast
// the context's deadline.
//
// # Errors
//
// Bad input is a [*ValidationError] naming the field, and nothing is sent
// ([ErrInvalidParams]). A response other than 2xx is an [*Error] with the
// status, Persona's Request-Id and every error object of the body; match
// its class with errors.Is and a sentinel ([ErrNotFound], [ErrConflict],
// [ErrRateLimited], ...). A 2xx whose body is not what the call asked for is
// an [*UnexpectedResponseError] ([ErrUnexpectedResponse]). [*WaitError]
// reports a Wait whose context ended first.
//
// # Webhooks
//
// [NewWebhookHandler] returns the http.Handler for a webhook route: it
// verifies the Persona-Signature header, decodes the [WebhookEvent], drops
// repeated deliveries with a [WebhookDeduper], and calls a func of yours.
// [VerifyWebhookSignature] and [ParseWebhookEvent] do the same checks for
// your own router; [SignWebhookPayload] signs a body as Persona would, for
// tests.
//
// # Secrets and safety
//
// The API key never appears in an error, a log record or fmt output of a
// Client. The base URL must be https (plain http only on loopback), and
// redirects are never followed, so the key cannot travel to another host.
// Response bodies are read through a cap (16 MiB, 1 MiB for errors).
//
// # Testing and guides
//
// Package [connecttest] runs a stateful fake of the whole Connect API in
// process, with a manual clock, injected faults and webhook deliveries;
// point a Client at it with [WithBaseURL]. The guides cover each side in
// depth: [source backend], [destination service], [webhooks], [testing],
// [errors and retries] and [the command line].
//
// [connecttest]: https://pkg.go.dev/github.com/personaconnect/connect-go/connecttest
// [source backend]: https://github.com/personaconnect/connect-go/blob/main/docs/source-backend.md
// [destination service]: https://github.com/personaconnect/connect-go/blob/main/docs/destination-service.md
// [webhooks]: https://github.com/personaconnect/connect-go/blob/main/docs/webhooks.md
// [testing]: https://github.com/personaconnect/connect-go/blob/main/docs/testing.md
// [errors and retries]: https://github.com/personaconnect/connect-go/blob/main/docs/errors-and-retries.md
// [the command line]: https://github.com/personaconnect/connect-go/blob/main/docs/command-line.md
package connect
