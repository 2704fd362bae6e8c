package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// A decision is what follows an attempt: another one after wait, or none.
type decision struct {
	retry bool
	// reason says why, for the log.
	reason string
	// wait is the pause before the next attempt; paced is the part of it
	// that rate-limit pacing asked for.
	wait, paced time.Duration
}

// decide judges attempt n of a call, which ended with resp (nil if none
// arrived) and err (a transport or body-read error): whether the policy
// retries it, and whether the call can afford the wait before the retry.
func (e *Engine) decide(ctx context.Context, method string, n int, resp *http.Response, err error) decision {
	if ctx.Err() != nil {
		return decision{reason: "context done"}
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	retry, reason := classify(method, status, err)
	if !retry {
		return decision{reason: reason}
	}
	if n > e.cfg.MaxRetries {
		return decision{reason: "retries exhausted"}
	}
	wait, paced, refused := e.pause(ctx, n, resp)
	if refused != "" {
		return decision{reason: refused}
	}
	return decision{retry: true, reason: reason, wait: wait, paced: paced}
}

// classify is the retry policy: whether an attempt that ended with status
// (0 if no response arrived) and err (a transport or body-read error) may be
// repeated, with the reason.
//
// Transport failures and 408, 429, 502, 503, 504 are retried for every
// method: each POST carries an Idempotency-Key. A 500 is retried for GET
// only, because Persona replays a stored 500 for the same key; so is a 409,
// which Persona sends when a record was just modified ("please try again"),
// while on a POST it is the answer to that request. A retried status is
// retried whatever became of its body, which is dropped.
func classify(method string, status int, err error) (retry bool, reason string) {
	switch {
	case retryableStatus(method, status):
		return true, "retryable status"
	case err == nil:
		return false, "final status"
	case retryableError(err):
		return true, "transport error"
	}
	return false, "permanent error"
}

func retryableStatus(method string, status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case http.StatusInternalServerError, http.StatusConflict:
		return method == http.MethodGet
	}
	return false
}

// retryableError reports whether a transport error may clear on its own.
// go-retryablehttp's DefaultRetryPolicy rules out what it knows net/http to
// report for a lasting cause (a redirect loop, an unsupported scheme, an
// invalid header, an untrusted certificate); certificate and TLS errors in
// any wrapping, and oversized bodies, will not clear either.
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
	// The call's context is decide's to judge, not the policy's.
	retry, _ := retryablehttp.DefaultRetryPolicy(context.Background(), nil, err)
	return retry
}
