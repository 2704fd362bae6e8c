package engine

import (
	"net/http"
	"time"
)

// The rate-limit headers in Go's canonical spelling. Header.Get would
// allocate to canonicalize "RateLimit-…" on every response; a direct lookup
// with these keys finds what net/http stored, and allocates nothing.
const (
	headerLimit     = "Ratelimit-Limit"
	headerRemaining = "Ratelimit-Remaining"
	headerReset     = "Ratelimit-Reset"
)

// maxWindow is the longest rate-limit window a RateLimit-Reset in seconds
// may describe. A larger value is either a Unix timestamp, which some
// gateways send instead, or nonsense.
const maxWindow = time.Hour

// RateLimit is the rate-limit window as one response reports it. A field
// whose header is absent or unreadable is reported as not known.
type RateLimit struct {
	Limit, Remaining int
	// Reset is the time left until the window resets.
	Reset time.Duration

	HasLimit, HasRemaining, HasReset bool
}

// ParseRateLimit reads RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset from h, which must hold canonical keys (as every header
// net/http builds does). Counts are non-negative decimal integers; a count
// too large for an int saturates. Reset is read by ResetWait. It does not
// allocate.
func ParseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	if n, ok := parseCount(first(h, headerLimit)); ok {
		rl.Limit, rl.HasLimit = clampInt(n), true
	}
	if n, ok := parseCount(first(h, headerRemaining)); ok {
		rl.Remaining, rl.HasRemaining = clampInt(n), true
	}
	if n, ok := parseCount(first(h, headerReset)); ok {
		rl.Reset, rl.HasReset = ResetWait(n, now)
	}
	return rl
}

// ResetWait interprets a RateLimit-Reset of n: up to an hour, it is a
// number of seconds. Beyond, it may only be a Unix timestamp: one within an
// hour of now becomes the time left until it (zero if it has passed); any
// other value is not believed, and ok is false.
func ResetWait(n int64, now time.Time) (wait time.Duration, ok bool) {
	if n <= int64(maxWindow/time.Second) {
		return time.Duration(n) * time.Second, true
	}
	left := n - now.Unix()
	if left < -int64(maxWindow/time.Second) || left > int64(maxWindow/time.Second) {
		return 0, false
	}
	return max(time.Unix(n, 0).Sub(now), 0), true
}

// first is h's first value for the canonical key, "" if none.
func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// parseCount reads a non-negative decimal integer, saturating at the
// largest int64 instead of failing on overflow: an absurd count or hint is
// then too large to act on, not a parse error. Unlike strconv, it never
// allocates, even for a malformed value.
func parseCount(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	const maxInt64 = 1<<63 - 1
	var n int64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		if n > (maxInt64-int64(d))/10 {
			n = maxInt64
			continue
		}
		n = n*10 + int64(d)
	}
	return n, true
}

func clampInt(n int64) int {
	return int(min(n, int64(int(^uint(0)>>1))))
}
