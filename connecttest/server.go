package connecttest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// BasePath is the path prefix of every Connect route, as on Persona.
const BasePath = "/api/v1"

// A Server is a stateful, in-memory fake of Persona's Connect API, served
// by an httptest.Server on a loopback address. Create one with NewServer
// and stop it with Close. All of its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give to connect.WithBaseURL:
	// "http://127.0.0.1:port/api/v1", with no trailing slash.
	URL string

	ts        *httptest.Server
	mux       *http.ServeMux
	closed    chan struct{}
	closeOnce sync.Once

	clock       *Clock
	redeemDelay time.Duration
	rlLimit     int
	rlWindow    time.Duration
	idemTTL     time.Duration
	peekFull    map[string]bool

	mu       sync.Mutex
	seq      int64
	orgs     map[string]*Organization // by id
	keys     map[string]*Organization // by API key
	objects  map[string]*object
	conns    map[string]*connection
	tokens   map[string]*shareToken
	events   []*storedEvent // every event recorded, oldest first (events.go)
	idem     map[idemKey]*idemEntry
	inflight map[idemKey]*idemFlight
	rl       map[string]*rlState // by organization id
	faults   []*faultState
	requests requestRing // record.go
	stats    Stats

	wh webhookState // webhooks.go
}

// An Option configures a Server.
type Option func(*config)

type config struct {
	clock       *Clock
	redeemDelay time.Duration
	rlLimit     int
	rlWindow    time.Duration
	listener    net.Listener
	peekFull    []string
	webhooks    webhookConfig
	maxRequests int
}

// WithClock makes the server measure time on c: expiry, the redeem delay,
// rate-limit windows and idempotency-key lifetimes. Without it the server
// uses a Clock that follows the wall clock (see Server.Clock).
func WithClock(c *Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithRedeemDelay sets how long, on the server's clock, a redemption stays
// pending before it completes (redeemed or failed). The default is 0: the
// redeem call itself answers pending, and the next read sees the outcome.
func WithRedeemDelay(d time.Duration) Option {
	return func(cfg *config) {
		if d >= 0 {
			cfg.redeemDelay = d
		}
	}
}

// WithRateLimit sets the rate limit: limit requests per organization in
// each fixed window of the given length, on the server's clock. The
// default is 300 requests a minute, Persona's default. A limit below 1
// turns rate limiting off (the RateLimit headers then report a limit of
// 2147483647).
func WithRateLimit(limit int, window time.Duration) Option {
	return func(cfg *config) {
		cfg.rlLimit = limit
		if window > 0 {
			cfg.rlWindow = window
		}
	}
}

// WithListener serves the fake on l instead of a fresh loopback port, for
// a program that wants a fixed address. The Server takes ownership of l.
func WithListener(l net.Listener) Option {
	return func(cfg *config) { cfg.listener = l }
}

// WithPeekFullFields shows the named fields (and verification attributes)
// in full in peeked source data, instead of by presence only.
func WithPeekFullFields(names ...string) Option {
	return func(cfg *config) { cfg.peekFull = append(cfg.peekFull, names...) }
}

// NewServer starts a fake Connect API on a loopback port. The caller must
// call Close when done.
func NewServer(opts ...Option) *Server {
	cfg := config{rlLimit: 300, rlWindow: time.Minute, maxRequests: DefaultRequestRecordLimit}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = newRealClock()
	}
	s := &Server{
		closed:      make(chan struct{}),
		clock:       cfg.clock,
		redeemDelay: cfg.redeemDelay,
		rlLimit:     cfg.rlLimit,
		rlWindow:    cfg.rlWindow,
		idemTTL:     24 * time.Hour,
		peekFull:    map[string]bool{},
		orgs:        map[string]*Organization{},
		keys:        map[string]*Organization{},
		objects:     map[string]*object{},
		conns:       map[string]*connection{},
		tokens:      map[string]*shareToken{},
		idem:        map[idemKey]*idemEntry{},
		inflight:    map[idemKey]*idemFlight{},
		rl:          map[string]*rlState{},
		requests:    requestRing{limit: cfg.maxRequests},
	}
	for _, n := range cfg.peekFull {
		s.peekFull[n] = true
	}
	s.initWebhooks(cfg.webhooks)
	s.mux = s.routes()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if cfg.listener != nil {
		s.ts.Listener.Close()
		s.ts.Listener = cfg.listener
	}
	s.ts.Start()
	s.URL = s.ts.URL + BasePath
	return s
}

// Close shuts the server down, interrupting injected delays and webhook
// deliveries (attempts in flight and waits between retries; nothing more
// is sent), and waits for every request in flight to finish. It leaves no
// goroutine behind. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.closeWebhooks()
		s.ts.Close()
	})
}

// Client returns an *http.Client configured for the server (the
// httptest.Server's client).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Clock returns the clock the server measures time on. Advance it to
// expire share tokens, complete pending redemptions, reset rate-limit
// windows and age idempotency keys.
func (s *Server) Clock() *Clock { return s.clock }

// nowLocked is the clock's time, truncated to Persona's millisecond
// precision so that what is stored is what is rendered.
func (s *Server) nowLocked() time.Time {
	return s.clock.Now().UTC().Truncate(time.Millisecond)
}
