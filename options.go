package connect

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A ClientOption configures a [Client] in [NewClient]. An invalid value makes
// NewClient fail with a [*ValidationError] that names the option.
type ClientOption func(*clientConfig) error

type clientConfig struct {
	baseURL          string
	httpClient       *http.Client
	personaVersion   string
	userAgent        string
	maxRetries       int
	retryWaitMin     time.Duration
	retryWaitMax     time.Duration
	maxRateLimitWait time.Duration
	timeout          time.Duration
	timeoutSet       bool   // WithTimeout was given
	timeoutOption    string // names the option the attempt timeout came from, for errors
	logger           *slog.Logger
	limiter          RateLimiter       // nil: no budget shared with other clients
	roundTripper     http.RoundTripper // the transport attempts finally go through
}

func defaultClientConfig() clientConfig {
	return clientConfig{
		baseURL:          DefaultBaseURL,
		personaVersion:   DefaultPersonaVersion,
		maxRetries:       3,
		retryWaitMin:     500 * time.Millisecond,
		retryWaitMax:     8 * time.Second,
		maxRateLimitWait: 60 * time.Second,
		timeout:          30 * time.Second,
	}
}

// WithBaseURL sends requests to base instead of [DefaultBaseURL], for example
// to a connecttest server or a proxy. base is the API root: its path must
// end in /api/v1, as DefaultBaseURL's does, so that a base missing it fails
// here instead of every call answering 404. The URL must use https, except on
// a loopback host (localhost, 127.0.0.0/8, ::1), and must carry no
// credentials, query or fragment. A trailing slash is ignored.
func WithBaseURL(base string) ClientOption {
	return func(c *clientConfig) error {
		u, err := url.Parse(base)
		switch {
		case err != nil || u.Host == "":
			return &ValidationError{Field: "WithBaseURL", Reason: "is not an absolute URL"}
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return &ValidationError{Field: "WithBaseURL", Reason: "must not carry credentials, a query or a fragment"}
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopback(u.Hostname()):
		default:
			return &ValidationError{Field: "WithBaseURL", Reason: "must use https (plain http only on a loopback host)"}
		}
		trimmed := strings.TrimSuffix(base, "/")
		if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), apiRootPath) {
			return &ValidationError{Field: "WithBaseURL", Reason: "must be the API root, ending in " + apiRootPath +
				": use " + strconv.Quote(trimmed+apiRootPath) + " if the API is served there"}
		}
		c.baseURL = trimmed
		return nil
	}
}

// apiRootPath ends the path of every base URL: the paths the services add
// ("/connect/share-tokens") are relative to it.
const apiRootPath = "/api/v1"

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WithHTTPClient sends each attempt through hc, so that its Transport (proxy,
// TLS, connection pool) is used. The client keeps its own copy of hc, and
// never follows a redirect whatever hc's CheckRedirect says; hc itself is not
// changed.
//
// A non-zero hc.Timeout bounds each attempt, reading the body included, as
// WithTimeout does (never the whole call: retries and their waits are
// bounded by the call's context). Without [WithTimeout] it replaces the
// default of 30s; with it, the smaller of the two applies. An attempt that
// runs out of it fails with an error naming the option it came from.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *clientConfig) error {
		if hc == nil {
			return &ValidationError{Field: "WithHTTPClient", Reason: "is nil"}
		}
		c.httpClient = hc
		return nil
	}
}

// WithPersonaVersion pins the Persona-Version header, a date such as
// "2025-12-08". Responses are decoded the same way whatever the version.
func WithPersonaVersion(version string) ClientOption {
	return func(c *clientConfig) error {
		if _, err := time.Parse(time.DateOnly, version); err != nil {
			return &ValidationError{Field: "WithPersonaVersion", Reason: "must be a date like 2025-12-08"}
		}
		c.personaVersion = version
		return nil
	}
}

// WithUserAgent adds the caller's product token, such as "acme-kyc/1.4", after
// the SDK's own in the User-Agent header.
func WithUserAgent(product string) ClientOption {
	return func(c *clientConfig) error {
		if product == "" || !printableASCII(product) {
			return &ValidationError{Field: "WithUserAgent", Reason: "must be non-empty printable ASCII"}
		}
		c.userAgent = product
		return nil
	}
}

// WithMaxRetries sets how many times a failed attempt is repeated (default 3,
// at most 10). Zero turns retries off.
func WithMaxRetries(n int) ClientOption {
	return func(c *clientConfig) error {
		if n < 0 || n > 10 {
			return &ValidationError{Field: "WithMaxRetries", Reason: "must be between 0 and 10"}
		}
		c.maxRetries = n
		return nil
	}
}

// WithRetryWait sets the bounds of the jittered exponential backoff between
// attempts (default 500ms and 8s). [ShareTokensService.Wait]'s polling has
// its own schedule, set with [WithPollInterval].
func WithRetryWait(minWait, maxWait time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if minWait <= 0 || maxWait < minWait {
			return &ValidationError{Field: "WithRetryWait", Reason: "needs 0 < min <= max"}
		}
		c.retryWaitMin, c.retryWaitMax = minWait, maxWait
		return nil
	}
}

// WithMaxRateLimitWait caps a wait the server asks for with Retry-After or
// RateLimit-Reset, the rate-limit pacing of the client, and the waits a
// [RateLimiter] asks for before one attempt (default 60s).
func WithMaxRateLimitWait(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d < 0 {
			return &ValidationError{Field: "WithMaxRateLimitWait", Reason: "must not be negative"}
		}
		c.maxRateLimitWait = d
		return nil
	}
}

// A RateLimiter is a request budget shared by every client that uses one
// API key: replicas of a service, or several processes. Persona's rate limit
// (300 requests a minute by default) is per environment, whoever sends; a
// client paces itself by the RateLimit headers of its own responses only,
// which others' requests reach too late to keep a busy key from 429s at the
// window's end. Give every such client the same limiter with
// [WithRateLimiter]; package github.com/personaconnect/connect-go/redislimit
// is one shared through Redis.
//
// A RateLimiter must be safe for concurrent use.
type RateLimiter interface {
	// Take asks to send one request now. It returns 0 when the request may
	// go, having taken it from the budget, or how long to wait before
	// asking again, having taken nothing. An error fails the call, which
	// sends nothing; a limiter that would rather let requests through when
	// its store is unreachable returns 0 instead. Take should honour ctx:
	// the call waits for it.
	Take(ctx context.Context) (wait time.Duration, err error)
}

// WithRateLimiter makes the client ask l before every attempt, retries
// included, and hold while l says to wait; the client's own pacing (see
// [WithMaxRateLimitWait]) still applies after l admits the attempt. The
// waits before one attempt add up to at most [WithMaxRateLimitWait] and
// never outlast the context's deadline: a wait of l's beyond either is not
// begun, and the call fails at once, sends nothing, and matches
// [ErrRateLimited], its message saying how long l asked to wait. An error
// from l fails the call with that error wrapped, and nothing is sent. A
// request l admitted counts against its budget even when the client's own
// pacing then refuses to hold for it. A nil l is refused.
func WithRateLimiter(l RateLimiter) ClientOption {
	return func(c *clientConfig) error {
		if l == nil {
			return &ValidationError{Field: "WithRateLimiter", Reason: "is nil"}
		}
		c.limiter = l
		return nil
	}
}

// WithTimeout bounds each attempt, reading the response included (default
// 30s). The context passed to a call bounds the whole call, retries included.
// When [WithHTTPClient]'s client has a smaller Timeout, that one applies.
func WithTimeout(d time.Duration) ClientOption {
	return func(c *clientConfig) error {
		if d <= 0 {
			return &ValidationError{Field: "WithTimeout", Reason: "must be positive"}
		}
		c.timeout, c.timeoutSet = d, true
		return nil
	}
}

// WithLogger sends one debug record per attempt (method, path, status,
// attempt, duration, request id, error, and whether it is retried, why and
// after what wait; never headers or bodies) to l. Without it, or with nil,
// the client logs nothing.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *clientConfig) error {
		c.logger = l
		return nil
	}
}

func (c *clientConfig) baseHeader(apiKey string) http.Header {
	ua := userAgent(c.userAgent)
	return http.Header{
		"Authorization":   {"Bearer " + apiKey},
		"Accept":          {"application/json"},
		"Persona-Version": {c.personaVersion},
		"Key-Inflection":  {"kebab"},
		"User-Agent":      {ua},
	}
}

// buildHTTPClient makes the client's private http.Client: the caller's or a
// tuned default transport, the per-attempt timeout, and no redirects. It
// settles c.timeout, which the caller's http.Client.Timeout may lower.
func (c *clientConfig) buildHTTPClient() *http.Client {
	var hc http.Client
	if c.httpClient != nil {
		hc = *c.httpClient
	}
	c.timeoutOption = "WithTimeout"
	if hc.Timeout > 0 && (!c.timeoutSet || hc.Timeout < c.timeout) {
		c.timeout, c.timeoutOption = hc.Timeout, "WithHTTPClient's http.Client.Timeout"
	}
	c.roundTripper = hc.Transport
	if c.roundTripper == nil {
		if c.httpClient != nil {
			c.roundTripper = http.DefaultTransport
		} else {
			c.roundTripper = defaultTransport()
		}
	}
	hc.Transport = attemptTransport{rt: c.roundTripper, timeout: c.timeout}
	hc.Timeout = 0 // attemptTransport bounds each attempt instead
	hc.CheckRedirect = refuseRedirect
	return &hc
}

func (c *clientConfig) transport() interface{ CloseIdleConnections() } {
	if t, ok := c.roundTripper.(interface{ CloseIdleConnections() }); ok {
		return t
	}
	return noIdle{}
}

type noIdle struct{}

func (noIdle) CloseIdleConnections() {}

// defaultTransport keeps enough idle connections per host for heavily
// concurrent use; Go's default keeps two, which makes a busy client open and
// close a connection per request.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return t
}

// attemptTransport is what the client's http.Client sends each attempt
// through. It bounds the attempt by the per-attempt timeout (WithTimeout or
// the caller's http.Client.Timeout), reading the body included,
// with a context deadline that ends when the body is closed. (Setting
// http.Client.Timeout instead would cost, on any wrapped transport, a
// goroutine, a timer and two channels per request: net/http enforces the
// timeout that way on transports it does not know.)
type attemptTransport struct {
	rt      http.RoundTripper
	timeout time.Duration
}

func (t attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := attemptContext(req.Context(), t.timeout)
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// attemptContext bounds an attempt by timeout, unless the caller's deadline
// comes no later: then that deadline alone ends the attempt, so that the
// caller's context has ended by the time the attempt reports it. (With two
// timers due at one instant, the attempt's could fire first, and the call
// would report a per-attempt timeout to a caller whose context had ended.)
func attemptContext(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(timeout)
	if d, ok := parent.Deadline(); ok && !d.After(end) {
		return context.WithCancel(parent)
	}
	return context.WithDeadline(parent, end)
}

// cancelOnClose ends an attempt's deadline once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// refuseRedirect returns a 3xx as the response: the API never redirects, and
// following one could carry the Authorization header to another host.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// A RequestOption adjusts one call, of a service or [Client.Do]. An invalid
// one fails the call with a [*ValidationError] before anything is sent.
type RequestOption func(*requestConfig)

type requestConfig struct {
	idempotencyKey string
	headers        []headerOption
	response       *Response
	// pollInitial and pollMax are Wait's schedule; zero for the default.
	pollInitial, pollMax time.Duration
	err                  error
}

type headerOption struct{ key, value string }

// applyRequestOptions applies opts in order, skipping nil ones, and returns
// the error of an invalid one.
func applyRequestOptions(opts []RequestOption) (requestConfig, error) {
	var reqOpts requestConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&reqOpts)
		}
	}
	return reqOpts, reqOpts.err
}

// WithIdempotencyKey sends key as the Idempotency-Key of a POST instead of a
// random one, so that repeating the call (after a crash, say) cannot act
// twice: Persona stores its first answer to a key for 24 hours and replays it
// to any later request with that key. Within one call the SDK sends the same
// key on every retry, yours or its own.
//
// Persona stores failures too (only 401 and 429 run before that layer), so a
// key derived from ids alone repeats a refusal for a day after its cause was
// fixed. Give a derived key a part that advances after a definitive failure,
// such as an attempt number stored with the work ("share-<inquiry>-<n>"):
// advance it after a 4xx other than 408, 409 and 429, when nothing was done,
// and keep it after a transport error, 408, 429 or 5xx, when the request may
// have acted and only the same key finds out safely (though a stored 500 is
// replayed to it). Keep it after a 409 too: Persona describes it as a
// conflict with another request, which may be one still running under the
// same key ([ShareTokensService.Redeem]'s 409 means something firmer; see
// there).
//
// The key is 1 to 255 printable ASCII characters; any other fails the call
// with a [*ValidationError], and nothing is sent. Only a POST carries it:
// it is ignored on a GET, and on the PATCH, PUT or DELETE that [Client.Do]
// may send.
func WithIdempotencyKey(key string) RequestOption {
	return func(r *requestConfig) {
		if key == "" || len(key) > 255 || !printableASCII(key) {
			r.err = &ValidationError{Field: "WithIdempotencyKey", Reason: "must be 1 to 255 printable ASCII characters"}
			return
		}
		r.idempotencyKey = key
	}
}

// WithHeader sets an extra header on the request; a later WithHeader for the
// same name replaces an earlier one. The headers the SDK owns cannot be set
// this way (Authorization, Idempotency-Key, Content-Type, Accept,
// Key-Inflection, Persona-Version, User-Agent): the call fails with a
// [*ValidationError] that names the option to use instead, and sends nothing.
func WithHeader(key, value string) RequestOption {
	return func(r *requestConfig) {
		canonical := http.CanonicalHeaderKey(key)
		if key == "" || !printableASCII(key) || strings.ContainsAny(key, " :") || !printableASCII(value) {
			r.err = &ValidationError{Field: "WithHeader", Reason: "needs a header name and printable ASCII value"}
			return
		}
		if instead, owned := ownedHeaders[canonical]; owned {
			r.err = &ValidationError{Field: "WithHeader", Reason: canonical + " is set by the SDK: " + instead}
			return
		}
		r.headers = append(r.headers, headerOption{canonical, value})
	}
}

// ownedHeaders are the headers the SDK sets on every request, each with what
// a caller should do instead of setting it.
var ownedHeaders = map[string]string{
	"Authorization":   "it carries the API key given to NewClient; use another Client for another key",
	"Idempotency-Key": "use WithIdempotencyKey",
	"Content-Type":    "request bodies are always application/json",
	"Accept":          "responses are always read as application/json",
	"Key-Inflection":  "the SDK sends and reads kebab-case keys only",
	"Persona-Version": "use WithPersonaVersion on NewClient",
	"User-Agent":      "use WithUserAgent on NewClient to add a product token",
}

// WithResponseInto fills *resp with the final HTTP response's metadata (a
// [Response]) once the call returns, whether it succeeded or not.
func WithResponseInto(resp *Response) RequestOption {
	return func(r *requestConfig) { r.response = resp }
}

// The polling schedule of ShareTokensService.Wait without WithPollInterval:
// a redemption usually takes seconds, so the first polls come quickly, and
// a slow one is then polled every 10 seconds.
const (
	defaultPollInitial = time.Second
	defaultPollMax     = 10 * time.Second
)

// WithPollInterval sets the polling schedule of [ShareTokensService.Wait]: the
// second poll follows the first by initial, and each gap then doubles up to
// max, where it stays. Without it Wait polls after 1s, then 2s, 4s and 8s,
// then every 10s. The schedule is Wait's own: [WithRetryWait] paces only the
// retries inside each poll. Other calls ignore it. Bounds that are not
// 0 < initial <= max make the call fail with a [*ValidationError] before
// anything is sent.
func WithPollInterval(initial, max time.Duration) RequestOption {
	return func(r *requestConfig) {
		if initial <= 0 || max < initial {
			r.err = &ValidationError{Field: "WithPollInterval", Reason: "needs 0 < initial <= max, got " + initial.String() + " and " + max.String()}
			return
		}
		r.pollInitial, r.pollMax = initial, max
	}
}
