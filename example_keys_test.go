package connect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// A key derived from ids alone freezes a refusal: Persona stores the first
// answer for a key, 4xx included, for 24 hours. Redeeming over an inactive
// connection is refused with 422; once the connection is active again, the
// same key still gets that 422 (replayed, not re-run), and only a new key
// redeems.
func TestRefusalIsFrozenUnderItsKey(t *testing.T) {
	ctx := context.Background()
	srv := connecttest.NewServer()
	defer srv.Close()
	d := newDemo(srv)
	tok, err := d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: d.connectionID, SourceID: d.inquiryID})
	require.NoError(t, err)
	_, err = d.source.Connections.Deactivate(ctx, d.connectionID)
	require.NoError(t, err)

	frozen := connect.WithIdempotencyKey("redeem-" + tok.ID)
	_, first := d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, frozen)
	require.ErrorIs(t, first, connect.ErrUnprocessable)

	_, err = d.source.Connections.Reactivate(ctx, d.connectionID)
	require.NoError(t, err)
	require.NoError(t, srv.AcceptConnection(d.connectionID))
	conn, err := d.source.Connections.Get(ctx, d.connectionID)
	require.NoError(t, err)
	require.Equal(t, connect.ConnectionStatusActive, conn.Status)

	var resp connect.Response
	_, again := d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, frozen, connect.WithResponseInto(&resp))
	var firstErr, againErr *connect.Error
	require.ErrorAs(t, first, &firstErr)
	require.ErrorAs(t, again, &againErr)
	assert.Equal(t, http.StatusUnprocessableEntity, againErr.StatusCode, "the refusal is replayed though the cause is gone")
	assert.Equal(t, firstErr.Errors, againErr.Errors)
	assert.NotEqual(t, firstErr.RequestID, againErr.RequestID, "a replay has its own request id")
	assert.Equal(t, 1, srv.Stats().Replays, "the fake answered from its idempotency store")
	assert.Equal(t, 1, resp.Attempts, "a 422 is not retried by the SDK")

	got, err := d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey("redeem-"+tok.ID+"-2"))
	require.NoError(t, err, "a new key runs the request again")
	assert.Equal(t, connect.ShareTokenStatusPending, got.Status)
	assert.Equal(t, 1, srv.Stats().Redemptions)
}

// A second Redeem of a token that is pending or redeemed, under any other
// key, is refused with 409 Conflict and changes nothing: the way to go on is
// to read the token and adopt its state.
func TestSecondRedeemUnderANewKeyIsConflict(t *testing.T) {
	ctx := context.Background()
	clock := connecttest.NewClock(exampleStart)
	srv := connecttest.NewServer(connecttest.WithClock(clock), connecttest.WithRedeemDelay(time.Minute))
	defer srv.Close()
	d := newDemo(srv)
	tok, err := d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: d.connectionID, SourceID: d.inquiryID})
	require.NoError(t, err)
	_, err = d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey("redeem-"+tok.ID+"-1"))
	require.NoError(t, err)

	for i, want := range []connect.ShareTokenStatus{connect.ShareTokenStatusPending, connect.ShareTokenStatusRedeemed} {
		_, err = d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey(fmt.Sprintf("redeem-%s-%d", tok.ID, i+2)))
		require.ErrorIs(t, err, connect.ErrConflict, "while %s", want)
		got, err := d.dest.ShareTokens.Get(ctx, tok.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got.Status)
		clock.Advance(time.Minute) // the redemption completes
	}
	assert.Equal(t, 1, srv.Stats().Redemptions)
}

// The pattern for a key that outlives one call: the token id and an attempt
// number, kept with the work. The attempt advances after a definitive 4xx
// (Persona answered, and stores that answer under the key), never after a
// transport error, 429 or 5xx, whose outcome is unknown: the next call must
// replay the same key. A 409 means the token was redeemed already (only
// your organization can redeem it, so by you): read it and go on from its
// state.
func Example_idempotencyKeyAcrossCalls() {
	ctx := context.Background()
	srv := connecttest.NewServer(exampleClock())
	defer srv.Close()
	d := newDemo(srv)
	tok, err := d.source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: d.connectionID, SourceID: d.inquiryID})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The connection is down when the first redemption is tried.
	if _, err := d.source.Connections.Deactivate(ctx, d.connectionID); err != nil {
		fmt.Println(err)
		return
	}

	attempt := 1 // in production, stored per token in your database
	redeem := func() {
		key := fmt.Sprintf("redeem-%s-%d", tok.ID, attempt)
		_, err := d.dest.ShareTokens.Redeem(ctx, tok.ID, nil, connect.WithIdempotencyKey(key))
		var apiErr *connect.Error
		switch {
		case err == nil:
			fmt.Printf("attempt %d: redemption started\n", attempt)
		case errors.Is(err, connect.ErrConflict):
			got, err := d.dest.ShareTokens.Get(ctx, tok.ID)
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("attempt %d: redeemed before; the token is %s\n", attempt, got.Status)
		case errors.As(err, &apiErr) && refusedForGood(apiErr.StatusCode):
			attempt++ // this key's answer is stored: the next call needs a new one
			fmt.Printf("refused with %d; the next call uses attempt %d\n", apiErr.StatusCode, attempt)
		default:
			fmt.Printf("attempt %d: outcome unknown; the next call repeats its key\n", attempt)
		}
	}

	redeem()
	// The source reactivates the connection and the destination accepts it.
	if _, err := d.source.Connections.Reactivate(ctx, d.connectionID); err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.AcceptConnection(d.connectionID); err != nil {
		fmt.Println(err)
		return
	}
	redeem()
	redeem() // a repeat, after a crash say
	// Output:
	// refused with 422; the next call uses attempt 2
	// attempt 2: redemption started
	// attempt 2: redemption started
}

// refusedForGood reports whether Persona refused the request for good:
// any 4xx but 408 and 429, which say nothing about the request itself.
func refusedForGood(status int) bool {
	return status >= 400 && status <= 499 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}
