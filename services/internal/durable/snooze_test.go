package durable

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// A rate-limited job is snoozed for the wait the rate limit asked, within
// bounds and with up to a second of jitter; other outcomes pass through.
func TestSnooze(t *testing.T) {
	assert.NoError(t, Snooze(nil))
	other := errors.New("database down")
	assert.Same(t, other, Snooze(other))

	cases := []struct {
		name     string
		err      error
		min, max time.Duration
	}{
		{"429 with Retry-After", &connect.Error{StatusCode: 429, RetryAfter: 20 * time.Second}, 20 * time.Second, 21 * time.Second},
		{"429 saying nothing", &connect.Error{StatusCode: 429}, time.Second, 2 * time.Second},
		{"a wait of hours", &connect.Error{StatusCode: 429, RetryAfter: 5 * time.Hour}, maxSnooze, maxSnooze + time.Second},
		{"wrapped", fmt.Errorf("redeem: %w", connect.ErrRateLimited), time.Second, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 20 {
				var snooze *river.JobSnoozeError
				require.ErrorAs(t, Snooze(c.err), &snooze)
				assert.GreaterOrEqual(t, snooze.Duration, c.min)
				assert.Less(t, snooze.Duration, c.max)
			}
		})
	}
	var snooze *river.JobSnoozeError
	assert.False(t, errors.As(Snooze(&connect.Error{StatusCode: 503, RetryAfter: time.Second}), &snooze), "a 503 is a failure, not a snooze")
}
