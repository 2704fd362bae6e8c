package connect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/personaconnect/connect-go/internal/engine"
)

// Sentinels for [errors.Is]. An [*Error] matches the one for its status
// class; a [*ValidationError] matches ErrInvalidParams.
var (
	ErrBadRequest    = errors.New("connect: bad request")          // 400
	ErrUnauthorized  = errors.New("connect: unauthorized")         // 401: the API key is wrong or revoked
	ErrForbidden     = errors.New("connect: forbidden")            // 403: not allowed, or a quota is exhausted
	ErrNotFound      = errors.New("connect: not found")            // 404
	ErrConflict      = errors.New("connect: conflict")             // 409
	ErrUnprocessable = errors.New("connect: unprocessable entity") // 422: an invalid action or parameter
	ErrRateLimited   = engine.ErrRateLimited                       // 429 after the retries, or a pacing wait the call cannot afford
	ErrServer        = errors.New("connect: server error")         // any 5xx, after the retries
	ErrInvalidParams = errors.New("connect: invalid parameters")   // nothing was sent
	// ErrUnexpectedResponse matches a 2xx whose body is not what the call
	// asked for: malformed JSON, no data, data of another type or without an
	// id, nesting past the decoder's limit; and a list whose cursors loop.
	// The call returns no resource with it.
	ErrUnexpectedResponse = errors.New("connect: unexpected response")
)

// Error is a response from Persona with a status other than 2xx, after any
// retries. It keeps everything the response said.
type Error struct {
	StatusCode int
	// RequestID is Persona's Request-Id ("req_…"), empty if the response had none.
	RequestID string
	// Errors holds every error object of the body, in order; empty when the
	// body was not Persona's JSON (a proxy's HTML page, say).
	Errors []ErrorObject
	// RetryAfter is the wait the response asked for (Retry-After, or
	// RateLimit-Reset on a 429), zero if none.
	RetryAfter time.Duration
	// Method and Path name the call, such as "POST /connect/share-tokens".
	Method, Path string
	// Header is the response's header.
	Header http.Header
	// Body is the raw response body, at most 1 MiB.
	Body []byte
}

// ErrorObject is one entry of a response's errors array. Persona writes its
// message as details; JSON:API's detail lands in Detail too.
type ErrorObject struct {
	Title  string
	Detail string
	Code   string
	// Status is the HTTP status as the object states it, if it does.
	Status string
	Source *ErrorSource
	Meta   map[string]any
}

// ErrorSource points at the part of the request an error object is about.
type ErrorSource struct {
	// Pointer is a JSON Pointer into the request body, such as
	// "/data/attributes/expires-in-seconds".
	Pointer   string `json:"pointer"`
	Parameter string `json:"parameter"`
	Header    string `json:"header"`
}

// Error reads like "connect: GET /connect/share-tokens/cnst_123: 404 Not
// Found: Record not found (request req_123)": the call, the status, every
// error object's title and detail, and the request id. Parts that are empty
// are left out. Control and format characters in the server's text (a
// newline, ESC, a bidi override) are written escaped, as \n or \x1b, so that
// a response cannot forge log lines or terminal output; the fields keep the
// text as sent.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("connect: ")
	writeCall(&b, e.Method, e.Path)
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	for i, o := range e.Errors {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		writeEscaped(&b, o.message(e.StatusCode))
	}
	writeRequestID(&b, e.RequestID)
	return b.String()
}

// writeCall writes "GET /path: ", or nothing for an error without a call.
func writeCall(b *strings.Builder, method, path string) {
	if method == "" && path == "" {
		return
	}
	writeEscaped(b, strings.TrimSpace(method+" "+path))
	b.WriteString(": ")
}

// writeRequestID writes " (request req_…)", or nothing without an id.
func writeRequestID(b *strings.Builder, id string) {
	if id == "" {
		return
	}
	b.WriteString(" (request ")
	writeEscaped(b, id)
	b.WriteString(")")
}

// writeEscaped writes s with every control character (C0, DEL, C1), format
// character (bidi controls, zero-width marks), line or paragraph separator
// and invalid UTF-8 byte escaped Go-style; other text is written as it is.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(b, `\x%02x`, r)
		case unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

// message is the object's title and detail, without a title that only
// repeats the status ("409 Conflict: Conflict: …").
func (o ErrorObject) message(status int) string {
	title := o.Title
	if o.Detail != "" && strings.EqualFold(title, http.StatusText(status)) {
		title = ""
	}
	switch {
	case title == "":
		return o.Detail
	case o.Detail == "" || o.Detail == title:
		return title
	}
	return title + ": " + o.Detail
}

// Is reports whether target is the sentinel of e's status class.
func (e *Error) Is(target error) bool {
	return target != nil && target == sentinelFor(e.StatusCode)
}

// RetryAfter reports how long err says to wait before the call is worth
// trying again: the wait a 429 or 503 asked for (Retry-After, or
// RateLimit-Reset), or the one the client's pacing or [RateLimiter] would
// have needed when the call gave up before sending (an [ErrRateLimited]
// error). It returns false when err says nothing of a wait; the wait
// counts from when err was returned. A job system can use it to put a
// rate-limited job back for that long instead of holding a worker.
func RetryAfter(err error) (time.Duration, bool) {
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter, true
	}
	var pacing *engine.PacingError
	if errors.As(err, &pacing) && pacing.Wait > 0 {
		return pacing.Wait, true
	}
	return 0, false
}

func sentinelFor(status int) error {
	switch {
	case status == http.StatusBadRequest:
		return ErrBadRequest
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusConflict:
		return ErrConflict
	case status == http.StatusUnprocessableEntity:
		return ErrUnprocessable
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500 && status <= 599:
		return ErrServer
	}
	return nil
}

func newError(method, path string, res *engine.Result) *Error {
	e := &Error{
		StatusCode: res.StatusCode,
		RequestID:  res.Header.Get("Request-Id"),
		Method:     method,
		Path:       path,
		Header:     res.Header,
		Body:       res.Body,
		Errors:     decodeErrorObjects(res.Body),
	}
	if wait, ok := engine.ServerWait(res.Header, res.StatusCode, time.Now()); ok {
		e.RetryAfter = wait
	}
	return e
}

// UnexpectedResponseError reports a successful status whose body the SDK
// refused (see [ErrUnexpectedResponse], which it matches). It names the call
// so that the response can be found in the server's logs.
type UnexpectedResponseError struct {
	// Method and Path name the call, such as "GET /connect/share-tokens/cnst_…".
	Method, Path string
	// StatusCode is the response's status; zero when the problem is not one
	// response's (a paging loop).
	StatusCode int
	// RequestID is the response's Request-Id, empty if it had none.
	RequestID string
	// Reason says what was wrong, such as "data is of type connect/connection,
	// want connect/share-token".
	Reason string
	// Err is the decoding error behind Reason, if there was one.
	Err error
}

// Error reads like "connect: GET /connect/share-tokens/cnst_1: unexpected
// 200 response: data has no id (request req_1)", escaped as [Error.Error] is.
func (e *UnexpectedResponseError) Error() string {
	var b strings.Builder
	b.WriteString("connect: ")
	writeCall(&b, e.Method, e.Path)
	b.WriteString("unexpected ")
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode) + " ")
	}
	b.WriteString("response: ")
	writeEscaped(&b, e.Reason)
	writeRequestID(&b, e.RequestID)
	return b.String()
}

// Is reports whether target is ErrUnexpectedResponse.
func (e *UnexpectedResponseError) Is(target error) bool { return target == ErrUnexpectedResponse }

// Unwrap returns the decoding error, if any.
func (e *UnexpectedResponseError) Unwrap() error { return e.Err }

// ValidationError reports a parameter the SDK refused before sending
// anything. It matches [ErrInvalidParams].
type ValidationError struct {
	// Field names the parameter or option, such as "ConnectionID".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error reads like "connect: invalid ConnectionID: is required".
func (e *ValidationError) Error() string {
	return fmt.Sprintf("connect: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidParams.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidParams }

// wireError is an error object as Persona or a JSON:API server writes it.
type wireError struct {
	Title   string         `json:"title"`
	Details string         `json:"details"`
	Detail  string         `json:"detail"`
	Code    looseString    `json:"code"`
	Status  looseString    `json:"status"`
	Source  *ErrorSource   `json:"source"`
	Meta    map[string]any `json:"meta"`
}

// decodeErrorObjects reads the errors array of a body, or nothing when the
// body is not such JSON: the status alone then describes the error.
func decodeErrorObjects(body []byte) []ErrorObject {
	var doc struct {
		Errors []wireError `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil || len(doc.Errors) == 0 {
		return nil
	}
	objs := make([]ErrorObject, len(doc.Errors))
	for i, w := range doc.Errors {
		detail := w.Details
		if detail == "" {
			detail = w.Detail
		}
		objs[i] = ErrorObject{Title: w.Title, Detail: detail, Code: string(w.Code), Status: string(w.Status), Source: w.Source, Meta: w.Meta}
	}
	return objs
}

// looseString accepts a JSON string or number, as older Persona bodies state
// status as a number; anything else leaves it empty.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		*s = looseString(str)
		return nil
	}
	var num json.Number
	if json.Unmarshal(b, &num) == nil {
		*s = looseString(num)
	}
	return nil
}
