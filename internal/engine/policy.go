package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"
)

// retryable reports whether an attempt that ended with resp or err may be
// repeated. Transport failures and 408, 429, 502, 503, 504 are retried for
// every method: each POST carries an Idempotency-Key. A 500 is retried for
// GET only, because Persona replays a stored 500 for the same key; so is a
// 409, which Persona sends when a record was just modified ("please try
// again"), while on a POST it is the answer to that request.
func retryable(method string, resp *http.Response, err error) bool {
	if err != nil {
		return retryableError(err)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError, http.StatusConflict:
		return method == http.MethodGet
	}
	return false
}

// retryableError reports whether a transport error may clear on its own.
// Certificate problems and oversized bodies will not.
func retryableError(err error) bool {
	var (
		tooLarge  *BodyTooLargeError
		unknownCA x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &tooLarge),
		errors.As(err, &unknownCA),
		errors.As(err, &invalid),
		errors.As(err, &hostname),
		errors.As(err, &verifyErr),
		errors.As(err, &recordErr):
		return false
	}
	return true
}

// backoff is full-jitter exponential backoff kept between the bounds: a
// uniform pick in [lo, min(hi, lo·2^retry)].
func backoff(lo, hi time.Duration, retry int) time.Duration {
	if lo <= 0 {
		return 0
	}
	ceiling := hi
	if retry < 32 && lo<<retry > 0 && lo<<retry < hi {
		ceiling = lo << retry
	}
	if ceiling <= lo {
		return lo
	}
	return lo + rand.N(ceiling-lo+1)
}

// ServerWait is the wait a response asks for: Retry-After (seconds or an
// HTTP date) first, then, on a 429 or when no request is left in the
// window, RateLimit-Reset as ResetWait reads it. ok is false when the
// response names none. An absurd Retry-After saturates into a very long
// wait rather than failing: the caller compares it with its limits.
func ServerWait(h http.Header, status int, now time.Time) (wait time.Duration, ok bool) {
	if v := first(h, "Retry-After"); v != "" {
		if secs, ok := parseCount(v); ok {
			return seconds(secs), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	rl := ParseRateLimit(h, now)
	if rl.HasReset && (status == http.StatusTooManyRequests || rl.HasRemaining && rl.Remaining == 0) {
		return rl.Reset, true
	}
	return 0, false
}

// seconds converts without overflowing: absurd hints become a very long
// wait, which the caller caps.
func seconds(n int64) time.Duration {
	const maxSecs = int64(1<<63-1) / int64(time.Second)
	if n > maxSecs {
		n = maxSecs
	}
	return time.Duration(n) * time.Second
}
