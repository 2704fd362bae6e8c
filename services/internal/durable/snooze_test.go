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

// A rate-limited job is snoozed for one to three seconds; other outcomes
// pass through.
func TestSnooze(t *testing.T) {
	assert.NoError(t, Snooze(nil))
	other := errors.New("database down")
	assert.Same(t, other, Snooze(other))

	for range 50 {
		err := Snooze(fmt.Errorf("redeem: %w", connect.ErrRateLimited))
		var snooze *river.JobSnoozeError
		require.ErrorAs(t, err, &snooze)
		assert.GreaterOrEqual(t, snooze.Duration, time.Second)
		assert.Less(t, snooze.Duration, 3*time.Second)
	}
}
