package connecttest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExpiredIdempotencyKeysAreForgotten: keys that are never reused do
// not pile up; once they expire on the clock, the periodic sweep drops them.
func TestExpiredIdempotencyKeysAreForgotten(t *testing.T) {
	clock := NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	s := NewServer(WithClock(clock), WithRateLimit(0, time.Minute))
	defer s.Close()
	org := s.NewOrganization("a")
	send := func(key string) {
		req := httptest.NewRequest(http.MethodPost, BasePath+"/connect/connections", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+org.APIKey)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		require.Equal(t, http.StatusBadRequest, w.Code)
	}
	for i := range 100 {
		send("k" + strconv.Itoa(i))
	}
	count := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.idem)
	}
	require.Equal(t, 100, count())

	clock.Advance(24*time.Hour - time.Millisecond)
	for range idemSweepEvery {
		send("")
	}
	assert.Equal(t, 100, count(), "not yet expired: kept")
	clock.Advance(time.Millisecond)
	send("fresh")
	for range idemSweepEvery {
		send("")
	}
	assert.Equal(t, 1, count(), "only the fresh key is left")
}
