package connecttest

import (
	"encoding/json"
	"net/http"
)

// response is what a handler decides: a status and a JSON body. The
// pipeline adds the headers and writes it (or drops the connection).
type response struct {
	status     int
	body       []byte
	retryAfter string
	verbatim   bool // a body given by the test: never inflected
}

// errorTitles are the titles Persona's OpenAPI examples use per status.
var errorTitles = map[int]string{
	http.StatusBadRequest:          "Bad Request",
	http.StatusUnauthorized:        "Must be authenticated to access this endpoint",
	http.StatusForbidden:           "Forbidden",
	http.StatusNotFound:            "Record not found",
	http.StatusRequestTimeout:      "Request Timeout",
	http.StatusConflict:            "Conflict",
	http.StatusUnprocessableEntity: "Unprocessable entity",
	http.StatusTooManyRequests:     "Rate limit exceeded",
	http.StatusInternalServerError: "Internal Server Error",
	http.StatusBadGateway:          "Bad Gateway",
	http.StatusServiceUnavailable:  "Service Unavailable",
	http.StatusGatewayTimeout:      "Gateway Timeout",
}

func errorTitle(status int) string {
	if t, ok := errorTitles[status]; ok {
		return t
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

type errorSource struct {
	Pointer string `json:"pointer"`
}

type errorItem struct {
	Title   string       `json:"title"`
	Details string       `json:"details,omitempty"`
	Source  *errorSource `json:"source,omitempty"`
}

type errorBody struct {
	Errors []errorItem `json:"errors"`
}

// errResp builds Persona's error body for status. A 401 carries only a
// title, as the OpenAPI schema for 401 allows nothing else.
func errResp(status int, details string) response {
	item := errorItem{Title: errorTitle(status), Details: details}
	if status == http.StatusUnauthorized {
		item.Details = ""
	}
	return jsonResp(status, errorBody{Errors: []errorItem{item}})
}

// errPointer is a 422 whose error names the offending request member.
func errPointer(details, pointer string) response {
	item := errorItem{Title: errorTitle(http.StatusUnprocessableEntity), Details: details}
	if pointer != "" {
		item.Source = &errorSource{Pointer: pointer}
	}
	return jsonResp(http.StatusUnprocessableEntity, errorBody{Errors: []errorItem{item}})
}

func notFound(details string) response { return errResp(http.StatusNotFound, details) }

func badRequest(details string) response { return errResp(http.StatusBadRequest, details) }

func forbidden(details string) response { return errResp(http.StatusForbidden, details) }

func jsonResp(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value marshalled here is built by the fake from JSON-safe
		// parts; this is a bug in the fake, reported as Persona would.
		b = []byte(`{"errors":[{"title":"Internal Server Error","details":"connecttest: cannot encode response"}]}`)
		status = http.StatusInternalServerError
	}
	return response{status: status, body: b}
}
