package connecttest

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Rate limiting: a fixed window per organization on the server's clock.
// Windows start at multiples of the window length (whole minutes for the
// default one-minute window). Every authenticated request counts,
// including the ones answered 429. The request that uses the last
// allowance gets RateLimit-Remaining: 0; later ones get 429 until the
// window resets. RateLimit-Reset is the number of whole seconds (rounded
// up) until then.

type rlState struct {
	start time.Time
	count int
}

// rateLimitLocked counts the request, sets the RateLimit headers and
// reports whether it is allowed.
func (s *Server) rateLimitLocked(orgID string, now time.Time, h http.Header) bool {
	if s.rlLimit < 1 {
		h.Set("RateLimit-Limit", strconv.Itoa(math.MaxInt32))
		h.Set("RateLimit-Remaining", strconv.Itoa(math.MaxInt32))
		h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(s.rlWindow.Seconds()))))
		return true
	}
	start := now.Truncate(s.rlWindow)
	st := s.rl[orgID]
	if st == nil || !st.start.Equal(start) {
		st = &rlState{start: start}
		s.rl[orgID] = st
	}
	st.count++
	remaining := max(s.rlLimit-st.count, 0)
	reset := int(math.Ceil(start.Add(s.rlWindow).Sub(now).Seconds()))
	h.Set("RateLimit-Limit", strconv.Itoa(s.rlLimit))
	h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(max(reset, 1)))
	return st.count <= s.rlLimit
}

// windowName renders the window for the 429 message, as Persona words it
// ("300 requests / min").
func windowName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "min"
	case time.Second:
		return "sec"
	case time.Hour:
		return "hour"
	}
	return d.String()
}
