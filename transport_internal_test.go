package connect

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hangingTransport answers only when the request's context ends.
type hangingTransport struct{}

func (hangingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// TestAttemptDeadlineTie: when the caller's deadline falls at the same
// instant as the per-attempt timeout, the caller's context has ended by the
// time the attempt fails, so the call reports the caller's deadline rather
// than a per-attempt timeout. Later, the per-attempt timeout ends the attempt
// alone.
func TestAttemptDeadlineTie(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := attemptTransport{rt: hangingTransport{}, timeout: time.Second}
		for _, callerDeadline := range []time.Duration{time.Second, 900 * time.Millisecond} {
			ctx, cancel := context.WithTimeout(t.Context(), callerDeadline)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://persona.test/x", nil)
			require.NoError(t, err)
			_, err = rt.RoundTrip(req)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Error(t, ctx.Err(), "caller's deadline %s: the caller's context has not ended", callerDeadline)
			cancel()
		}

		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://persona.test/x", nil)
		require.NoError(t, err)
		start := time.Now()
		_, err = rt.RoundTrip(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start), "the per-attempt timeout ends the attempt")
		assert.NoError(t, ctx.Err())
	})
}
