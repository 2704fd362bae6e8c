package engine

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRateLimit(t *testing.T) {
	now := time.Date(2025, 12, 8, 10, 0, 0, 0, time.UTC)
	unix := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	for _, tc := range []struct {
		limit, remaining, reset string
		want                    RateLimit
	}{
		{"300", "299", "42", RateLimit{300, 299, 42 * time.Second, true, true, true}},
		{"", "", "", RateLimit{}},
		{"x", "-1", "1.5", RateLimit{}},
		{"300", "0", "3600", RateLimit{300, 0, time.Hour, true, true, true}},
		{"", "", "3601", RateLimit{}},
		{"", "", "86400", RateLimit{}},
		{"", "", unix(90 * time.Second), RateLimit{Reset: 90 * time.Second, HasReset: true}},
		{"", "", unix(-30 * time.Second), RateLimit{HasReset: true}},
		{"", "", unix(2 * time.Hour), RateLimit{}},
		{"", "", "4102444800", RateLimit{}},
		{"99999999999999999999", "9223372036854775807", "99999999999999999999",
			RateLimit{Limit: int(^uint(0) >> 1), Remaining: int(^uint(0) >> 1), HasLimit: true, HasRemaining: true}},
	} {
		h := http.Header{}
		for k, v := range map[string]string{"RateLimit-Limit": tc.limit, "RateLimit-Remaining": tc.remaining, "RateLimit-Reset": tc.reset} {
			if v != "" {
				h.Set(k, v)
			}
		}
		assert.Equal(t, tc.want, ParseRateLimit(h, now), "%v", h)
	}
}

func TestParseRateLimitAllocatesNothing(t *testing.T) {
	now := time.Now()
	for _, h := range []http.Header{
		rateHeader("299", "42"),
		rateHeader("soon", "later"),
		rateHeader("99999999999999999999", strconv.FormatInt(now.Unix()+30, 10)),
	} {
		h.Set("RateLimit-Limit", "300")
		h.Set("Retry-After", "7")
		assert.Zero(t, testing.AllocsPerRun(100, func() {
			ParseRateLimit(h, now)
			ServerWait(h, http.StatusTooManyRequests, now)
		}), "%v", h)
	}
}
