package main

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
)

// fakeConfig is what makes a fresh connecttest.Server, at start and on
// each reset.
type fakeConfig struct {
	clock        *connecttest.Clock // nil: the wall clock
	redeemDelay  time.Duration
	rateLimit    int
	rateWindow   time.Duration
	maxRecorded  int
	peekFull     []string
	webhookLimit time.Duration
}

// A fake is the state behind connect-fake: the current connecttest.Server,
// which a reset replaces by a fresh one. Requests are served by the
// program's own http.Server (timeouts, limits, the control API, the
// request log), so the connecttest.Server's own listener accepts nothing.
type fake struct {
	cfg  fakeConfig
	addr net.Addr

	mu  sync.RWMutex
	cur *connecttest.Server
}

func newFake(cfg fakeConfig, addr net.Addr) *fake {
	f := &fake{cfg: cfg, addr: addr}
	f.cur = f.newServer()
	return f
}

func (f *fake) newServer() *connecttest.Server {
	opts := []connecttest.Option{
		connecttest.WithListener(newIdleListener(f.addr)),
		connecttest.WithRedeemDelay(f.cfg.redeemDelay),
		connecttest.WithRateLimit(f.cfg.rateLimit, f.cfg.rateWindow),
		connecttest.WithRequestRecordLimit(f.cfg.maxRecorded),
		connecttest.WithPeekFullFields(f.cfg.peekFull...),
		connecttest.WithWebhookTimeout(f.cfg.webhookLimit),
	}
	if f.cfg.clock != nil {
		opts = append(opts, connecttest.WithClock(f.cfg.clock))
	}
	return connecttest.NewServer(opts...)
}

// server is the current connecttest.Server. A handler takes it once and
// uses it throughout, so that a reset meanwhile cannot mix two states.
func (f *fake) server() *connecttest.Server {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cur
}

// reset replaces the state with a fresh, empty one (the clock, being the
// program's, keeps its time) and stops the old one's webhooks.
func (f *fake) reset() *connecttest.Server {
	fresh := f.newServer()
	f.mu.Lock()
	old := f.cur
	f.cur = fresh
	f.mu.Unlock()
	old.Close()
	return fresh
}

func (f *fake) close() { f.server().Close() }

// A seed is what connect-fake creates at start (and on a reset that asks
// for it): printed as one JSON object with -json.
type seed struct {
	URL          string  `json:"url"`
	ControlURL   string  `json:"control_url"`
	Source       seedOrg `json:"source"`
	Destination  seedOrg `json:"destination"`
	ConnectionID string  `json:"connection_id"`
	InquiryID    string  `json:"inquiry_id"`
	ManualClock  bool    `json:"manual_clock"`
}

type seedOrg struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	APIKey string `json:"api_key"`
}

func (f *fake) seed(srv *connecttest.Server) seed {
	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	cxn := srv.NewActiveConnection(acme, bank)
	inq := srv.NewInquiry(acme, map[string]any{
		"name-first":    "Ada",
		"name-last":     "Lovelace",
		"birthdate":     "1815-12-10",
		"email-address": "ada@example.com",
	})
	return seed{
		URL:          srv.URL,
		ControlURL:   "http://" + f.addr.String() + controlPrefix,
		Source:       seedOrg{ID: acme.ID, Name: acme.Name, APIKey: acme.APIKey},
		Destination:  seedOrg{ID: bank.ID, Name: bank.Name, APIKey: bank.APIKey},
		ConnectionID: cxn,
		InquiryID:    inq,
		ManualClock:  f.cfg.clock != nil,
	}
}

// handler routes the control API and, for everything else, the fake's
// Persona-shaped API.
func (f *fake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(controlPrefix+"/", f.controlHandler())
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.server().Handler().ServeHTTP(w, r)
	}))
	return mux
}

// serviceLimits are the http.Server settings that keep connect-fake usable
// whatever its clients do.
type serviceLimits struct {
	readHeaderTimeout, readTimeout, idleTimeout time.Duration
}

// maxHeaderBytes bounds a request's headers: Persona's requests need a few
// hundred bytes.
const maxHeaderBytes = 64 << 10

func newHTTPServer(h http.Handler, lim serviceLimits, logger *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.readHeaderTimeout,
		ReadTimeout:       lim.readTimeout,
		// No WriteTimeout: an injected fault's Delay and the control API's
		// waits hold a response on purpose.
		IdleTimeout:    lim.idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       logger,
	}
}

// logRequests writes one line per request to logger: time, method, path
// (never the query, headers or body, so never a key), status, duration and
// Request-Id.
func logRequests(h http.Handler, logger *log.Logger) http.Handler {
	if logger == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Status 0: nothing was written, the connection was dropped
			// (an injected fault) or the client went away.
			status := sw.status
			id := w.Header().Get("Request-Id")
			if id == "" {
				id = "-"
			}
			logger.Printf("%s %s %d %s %s", r.Method, r.URL.Path, status, time.Since(start).Round(time.Microsecond), id)
		}()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status written. Unwrap lets
// http.ResponseController reach the connection (to drop it).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// An idleListener has an address and accepts nothing: it is the listener
// of the connecttest.Server, whose requests arrive through Handler on the
// program's own http.Server instead, so that its URL is the real address.
type idleListener struct {
	addr   net.Addr
	closed chan struct{}
	once   sync.Once
}

func newIdleListener(addr net.Addr) *idleListener {
	return &idleListener{addr: addr, closed: make(chan struct{})}
}

func (l *idleListener) Accept() (net.Conn, error) {
	<-l.closed
	return nil, net.ErrClosed
}

func (l *idleListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *idleListener) Addr() net.Addr { return l.addr }

// writeJSONLine prints v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
