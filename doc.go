// Package connect is a client for Persona's Connect Share Tokens API, with
// which one organization (the source) shares an end user's verified identity
// data with a partner (the destination).
//
// The source creates a share token for one completed object, usually an
// inquiry, over an active connection to the partner, and hands the token's
// id over by any channel:
//
//	client, err := connect.NewClient(os.Getenv("PERSONA_API_KEY"))
//	if err != nil {
//		return err
//	}
//	tok, err := client.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
//		ConnectionID: "cxn_ABC123",
//		SourceID:     "inq_ABC123",
//		ExpiresIn:    24 * time.Hour,
//	})
//	if err != nil {
//		return err
//	}
//	sendToPartner(tok.ID)
//
// The destination redeems the token exactly once, which copies the data into
// its own environment, waits for the asynchronous redemption to finish, and
// reads the copy it now owns:
//
//	// attempt is stored with the token and advanced after a refusal (see Redeem)
//	key := fmt.Sprintf("redeem-%s-%d", tokenID, attempt)
//	tok, err := client.ShareTokens.Redeem(ctx, tokenID, nil, // nil: clone into a new object
//		connect.WithIdempotencyKey(key))
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
//	fmt.Println("copied into", tok.Destination.Type, tok.Destination.ID)
//
// # Requests
//
// Every method takes a context, which bounds the whole call, retries
// included. Parameters are checked before anything is sent: a bad id or
// value returns a *ValidationError naming the field, and no request leaves.
// Every POST carries an Idempotency-Key (a random one unless
// WithIdempotencyKey gives it), the same on every retry of that call.
// Persona stores the first answer to a key for 24 hours, refusals included,
// so a key that outlives one call needs a part that advances after a
// definitive 4xx, such as an attempt number (see WithIdempotencyKey).
//
// Transport failures and 408, 429, 502, 503 and 504 responses are retried
// (three times by default, WithMaxRetries) with jittered exponential backoff;
// a 500 is retried for GET only, because Persona replays a stored 500 for
// the same idempotency key. A 429's Retry-After or RateLimit-Reset is
// honoured up to WithMaxRateLimitWait, and once a response reports the
// rate-limit window exhausted, every call of the client holds until it
// resets. No wait starts that would outlast the context's deadline.
//
// # Errors
//
// A response other than 2xx is an *Error with the status, Persona's
// Request-Id and every error object of the body. Match classes with
// errors.Is and the sentinels (ErrNotFound, ErrRateLimited, ...), and read
// details with errors.As:
//
//	var apiErr *connect.Error
//	if errors.As(err, &apiErr) {
//		log.Printf("persona said %d (request %s)", apiErr.StatusCode, apiErr.RequestID)
//	}
//
// # Lists
//
// List returns one page; All returns an iterator that fetches pages lazily:
//
//	for tok, err := range client.ShareTokens.All(ctx, &connect.ShareTokenListParams{Status: connect.ShareTokenStatusCreated}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(tok.ID)
//	}
//
// # Secrets and safety
//
// The API key never appears in an error, a log record or fmt output of a
// Client. The base URL must be https (plain http only on loopback), and
// redirects are never followed, so the key cannot travel to another host.
// Response bodies are read through a cap (16 MiB, 1 MiB for errors).
//
// # Testing
//
// Package connecttest runs a stateful fake of the whole Connect API in
// process; point a Client at it with WithBaseURL.
package connect
