package durable

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
)

// MaxRateLimitWait is how long a service's client may hold one request for
// Persona's rate limit (a spent window, a Retry-After, the shared budget)
// before giving up with connect.ErrRateLimited. Short, so that a job does
// not sit running while it waits: Snooze then puts it back in the queue,
// where a replica that dies does not take it along (a running job waits
// for the rescuer).
const MaxRateLimitWait = 2 * time.Second

// Snooze turns a job's rate-limited failure into a snooze of one to three
// seconds: the job runs again then, on any replica, without using up one of
// its attempts, and nothing about it changes (a redeem keeps its key). Any
// other error, and nil, is returned as it is.
func Snooze(err error) error {
	if err != nil && errors.Is(err, connect.ErrRateLimited) {
		return river.JobSnooze(time.Second + rand.N(2*time.Second))
	}
	return err
}
