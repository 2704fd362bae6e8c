package connect

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/personaconnect/connect-go/internal/engine"
)

const (
	// Version is the version of this SDK, sent in the User-Agent header.
	Version = "0.1.0"
	// DefaultBaseURL is Persona's API root, used unless [WithBaseURL] says otherwise.
	DefaultBaseURL = "https://api.withpersona.com/api/v1"
	// DefaultPersonaVersion is the API version the SDK is written against and
	// sends as Persona-Version unless [WithPersonaVersion] says otherwise.
	DefaultPersonaVersion = "2025-12-08"
)

// Client talks to Persona's Connect API with one API key. Create it once with
// [NewClient] and share it: it is safe for concurrent use, keeps connections
// alive, and holds the rate-limit state that paces all of its callers. Its
// services wrap the API's endpoints; [Client.Do] reaches any other through
// the same pipeline.
//
// Printing a Client with any fmt verb never reveals the API key, and neither
// does anything that walks it by reflection (a testify diff, a struct
// dumper), whether it holds the Client, a pointer to it or a service of it.
type Client struct {
	// ShareTokens creates, redeems and inspects share tokens.
	ShareTokens *ShareTokensService
	// Connections creates and manages connections between organizations.
	Connections *ConnectionsService
	// Events lists and reads the organization's events.
	Events *EventsService
	// Objects reads inquiries, accounts, transactions and verifications.
	Objects *ObjectsService
	// Webhooks rotates webhook secrets.
	Webhooks *WebhooksService

	baseURL string
	// header returns a fresh copy of the headers every request carries,
	// Authorization included. The key lives only in the function's captured
	// variables, which no reflection (fmt on unexported fields, testify's
	// diffs, dumpers) can reach; Format covers the direct fmt cases.
	header func() http.Header
	engine *engine.Engine
	cfg    clientConfig
}

// NewClient returns a Client that authenticates with apiKey. It performs no
// I/O. It fails with a [*ValidationError] when the key is empty or malformed or
// when an option is invalid; the error never contains the key.
func NewClient(apiKey string, opts ...ClientOption) (*Client, error) {
	if err := checkAPIKey(apiKey); err != nil {
		return nil, err
	}
	cfg := defaultClientConfig()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	hc := cfg.buildHTTPClient()
	c := &Client{
		baseURL: cfg.baseURL,
		header:  headerSource(cfg.baseHeader(apiKey)),
		cfg:     cfg,
		engine: engine.New(engine.Config{
			HTTPClient:       hc,
			Timeout:          cfg.timeout,
			TimeoutOption:    cfg.timeoutOption,
			MaxRetries:       cfg.maxRetries,
			RetryWaitMin:     cfg.retryWaitMin,
			RetryWaitMax:     cfg.retryWaitMax,
			MaxRateLimitWait: cfg.maxRateLimitWait,
			MaxBodySize:      maxBodySize,
			MaxErrorBodySize: maxErrorBodySize,
			Logger:           cfg.logger,
			Limiter:          cfg.limiter,
		}),
	}
	c.ShareTokens = &ShareTokensService{client: c}
	c.Connections = &ConnectionsService{client: c}
	c.Events, c.Objects, c.Webhooks = &EventsService{client: c}, &ObjectsService{client: c}, &WebhooksService{client: c}
	return c, nil
}

// headerSource hides h, which holds the key, in a closure that hands out
// copies of it.
func headerSource(h http.Header) func() http.Header {
	return func() http.Header { return h.Clone() }
}

const (
	maxBodySize      = 16 << 20 // a 2xx body; the largest Persona documents are far smaller
	maxErrorBodySize = 1 << 20
)

func checkAPIKey(key string) error {
	if key == "" {
		return &ValidationError{Field: "apiKey", Reason: "is empty"}
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return &ValidationError{Field: "apiKey", Reason: "contains whitespace, control or non-ASCII characters"}
		}
	}
	return nil
}

// CloseIdleConnections closes the connections the client keeps alive between
// calls. Calls made afterwards open new ones; it is useful in tests and before
// a process exits.
func (c *Client) CloseIdleConnections() {
	c.cfg.transport().CloseIdleConnections()
}

// Format renders the client without its API key, whatever the verb. Its
// receiver is a value so that a dereferenced Client, or one held by value in
// a struct, is redacted too; fmt prints a nil *Client as <nil>.
func (c Client) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "connect.Client{BaseURL: %q, PersonaVersion: %q, APIKey: [redacted]}", c.baseURL, c.cfg.personaVersion)
}

// do runs one of the SDK's calls: send, then decode a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, opts []RequestOption) error {
	res, err := c.send(ctx, method, path, query, body, opts)
	if err != nil {
		return err
	}
	return decodeBody(method, path, res, out)
}

// send runs one request through the pipeline: it validates the request
// options, sends the request through the engine, fills a WithResponseInto
// target and turns a non-2xx response into an *Error. A result it returns
// is a 2xx.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any, opts []RequestOption) (*engine.Result, error) {
	if ctx == nil {
		return nil, &ValidationError{Field: "ctx", Reason: "is nil"}
	}
	reqOpts, err := applyRequestOptions(opts)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(method, path, query, body, &reqOpts)
	if err != nil {
		return nil, err
	}
	res, err := c.engine.Do(ctx, req)
	if reqOpts.response != nil {
		*reqOpts.response = newResponse(res)
	}
	if err != nil {
		return nil, &callError{method: method, path: path, err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, newError(method, path, res)
	}
	return res, nil
}

// decodeBody decodes the body of a 2xx into out, unless out is nil, and
// makes a body that does not decode, or that a checkedDocument refuses, an
// *UnexpectedResponseError.
func decodeBody(method, path string, res *engine.Result, out any) error {
	if out == nil {
		return nil
	}
	unexpected := func(reason string, err error) error {
		return &UnexpectedResponseError{Method: method, Path: path, StatusCode: res.StatusCode,
			RequestID: res.Header.Get("Request-Id"), Reason: reason, Err: err}
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		var limit *decodeLimitError
		if errors.As(err, &limit) {
			return unexpected(limit.reason, err)
		}
		return unexpected("malformed body: "+err.Error(), err)
	}
	if c, ok := out.(checkedDocument); ok {
		if reason := c.check(); reason != "" {
			return unexpected(reason, nil)
		}
	}
	if r, ok := out.(interface{ received(int, string) }); ok {
		r.received(res.StatusCode, res.Header.Get("Request-Id"))
	}
	return nil
}

// callError is a call that got no response to judge: a transport error, a
// context that ended, a wait the pacing refused. It reads like an *Error,
// "connect: GET /connect/share-tokens/cnst_1: dial tcp …: connection
// refused", without the *url.Error's repetition of method and URL; the whole
// chain stays reachable through Unwrap.
type callError struct {
	method, path string
	err          error
}

func (e *callError) Error() string {
	msg := e.err.Error()
	// Drop the *url.Error's "Get \"https://…\": " wherever it sits in the
	// chain, keeping what the engine said around it (a named timeout, say).
	var ue *url.Error
	if errors.As(e.err, &ue) && ue.Err != nil {
		msg = strings.Replace(msg, ue.Error(), ue.Err.Error(), 1)
	}
	return "connect: " + e.method + " " + e.path + ": " + msg
}

func (e *callError) Unwrap() error { return e.err }

func (c *Client) newRequest(method, path string, query url.Values, body any, reqOpts *requestConfig) (*engine.Request, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	header := c.header()
	var payload []byte
	switch b := body.(type) {
	case nil:
	case json.RawMessage: // Client.Do's, encoded and checked already
		payload = b
	default:
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("connect: %s %s: encoding request body: %w", method, path, err)
		}
	}
	if payload != nil {
		header["Content-Type"] = []string{"application/json"}
	}
	if method == http.MethodPost {
		key := reqOpts.idempotencyKey
		if key == "" {
			key = rand.Text()
		}
		header["Idempotency-Key"] = []string{key}
	}
	for _, h := range reqOpts.headers {
		header.Set(h.key, h.value)
	}
	return &engine.Request{Method: method, URL: u, Path: path, Header: header, Body: payload}, nil
}

func userAgent(caller string) string {
	ua := "connect-go/" + Version + " go/" + strings.TrimPrefix(runtime.Version(), "go")
	if caller != "" {
		ua += " " + caller
	}
	return ua
}
