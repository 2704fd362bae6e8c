package connecttest

import "time"

// idemSweepEvery is how many requests pass between sweeps of expired
// idempotency entries: often enough that the store holds little more than
// the live entries, rarely enough that the sweep's cost vanishes per
// request.
const idemSweepEvery = 1024

// sweepIdempotencyLocked forgets the idempotency entries that have expired
// on the clock. Lookups ignore expired entries anyway; the sweep is what
// keeps keys that are never reused from piling up in a long-running fake.
func (s *Server) sweepIdempotencyLocked(now time.Time) {
	for k, e := range s.idem {
		if !now.Before(e.expires) {
			delete(s.idem, k)
		}
	}
}
