// Package bench holds what the SDK's benchmarks measure against: a loopback
// fixture server that counts the TCP connections it accepts, and a
// hand-written baseline client (net/http and encoding/json only) that does
// the same requests as the SDK and decodes the same fields.
//
// It is test support: only the benchmark files import it. See BENCHMARKS.md
// at the repository root.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// APIKey is the key both clients send.
const APIKey = "persona_sandbox_0123456789abcdefBENCH"

// Fixtures are the response bodies the Server sends, compacted as Persona
// sends them (the files in testdata are indented for people).
type Fixtures struct {
	// Token is sharetokens/redeemed.json (GET), Created is created.json (POST
	// create, 201), Pending is pending_hydrate.json (POST redeem, 202) and Peek
	// is peek.json.
	Token, Created, Pending, Peek []byte
	items                         []itemTemplate
}

// itemTemplate is one list item split around its id.
type itemTemplate struct{ before, after []byte }

// LoadFixtures reads the fixtures from the repository's testdata directory.
func LoadFixtures(testdata string) (*Fixtures, error) {
	var err error
	load := func(name string) []byte {
		if err != nil {
			return nil
		}
		var raw []byte
		if raw, err = os.ReadFile(filepath.Join(testdata, "sharetokens", name)); err != nil {
			return nil
		}
		var buf bytes.Buffer
		err = json.Compact(&buf, raw)
		return buf.Bytes()
	}
	f := &Fixtures{
		Token:   load("redeemed.json"),
		Created: load("created.json"),
		Pending: load("pending_hydrate.json"),
		Peek:    load("peek.json"),
	}
	list := load("list_page1.json")
	if err != nil {
		return nil, err
	}
	var page struct{ Data []json.RawMessage }
	if err := json.Unmarshal(list, &page); err != nil {
		return nil, err
	}
	for _, item := range page.Data {
		var head struct{ ID string }
		if err := json.Unmarshal(item, &head); err != nil {
			return nil, err
		}
		quoted := []byte(strconv.Quote(head.ID))
		i := bytes.Index(item, quoted)
		if i < 0 {
			return nil, fmt.Errorf("bench: list item without its id %s", quoted)
		}
		f.items = append(f.items, itemTemplate{before: item[:i+1], after: item[i+len(quoted)-1:]})
	}
	return f, nil
}

// Page is the body of a list page of up to size tokens starting at token
// start, out of total, with links.next naming the last id as page[after]
// while tokens remain. Tokens alternate between the two items of
// list_page1.json (an outbound created one and an inbound redeemed one),
// each with its own id (see TokenID).
func (f *Fixtures) Page(start, size, total int) []byte {
	end := max(min(start+size, total), start)
	buf := make([]byte, 0, 128+(end-start)*(len(f.items[0].before)+len(f.items[0].after)+IDWidth+8))
	buf = append(buf, `{"data":[`...)
	for i := start; i < end; i++ {
		if i > start {
			buf = append(buf, ',')
		}
		t := f.items[i%len(f.items)]
		buf = append(buf, t.before...)
		buf = appendID(buf, i)
		buf = append(buf, t.after...)
	}
	buf = append(buf, `],"links":{"prev":null,"next":`...)
	if end < total {
		buf = append(buf, `"/api/v1/connect/share-tokens?page%5Bafter%5D=`...)
		buf = appendID(buf, end-1)
		buf = append(buf, `&page%5Bsize%5D=`...)
		buf = strconv.AppendInt(buf, int64(size), 10)
		buf = append(buf, '"')
	} else {
		buf = append(buf, "null"...)
	}
	return append(buf, "}}"...)
}

// ServerOptions shape a Server.
type ServerOptions struct {
	// Testdata is the repository's testdata directory.
	Testdata string
	// ListTotal is how many share tokens the list route pages through.
	ListTotal int
	// Inspect, when set, sees every request before it is answered (the
	// parity test compares headers with it).
	Inspect func(*http.Request)
}

// Server is one loopback httptest server for every benchmark: GET, POST
// create and POST redeem answer with the fixtures, and the list route
// generates pages of tokens on the fly (Fixtures.Page), so that a list of any
// length costs the server only a few copies per page and no memory.
// Every response carries Persona's headers (Request-Id, RateLimit-*,
// Persona-Organization-Id, Persona-Environment-Id).
type Server struct {
	*httptest.Server
	*Fixtures
	// BaseURL is the API root to point clients at (…/api/v1).
	BaseURL string

	conns      atomic.Int64
	requests   atomic.Int64
	faultEvery atomic.Int64
	total      int
	inspect    func(*http.Request)
}

// fixed response headers, shared read-only by every response.
var (
	hJSON      = []string{"application/json; charset=utf-8"}
	hRequestID = []string{"req_BENCH0000000000000000000"}
	// A limit no benchmark reaches: the SDK's pacer counts the requests
	// left in the window down from RateLimit-Remaining and holds at zero,
	// and these fixed values must not make it hold (Persona's own default
	// is 300 a minute). The window ends after a second, so the count starts
	// over before any run could spend it.
	hLimit     = []string{"1000000"}
	hRemaining = []string{"999999"}
	hReset     = []string{"1"}
	hOrg       = []string{"org_BENCH000000000000000000"}
	hEnv       = []string{"env_BENCH000000000000000000"}
)

// IDWidth is the number of digits in generated token ids: cnst_00000042.
const IDWidth = 8

// TokenID is the id of the i-th generated token.
func TokenID(i int) string {
	return string(appendID(nil, i))
}

func appendID(b []byte, i int) []byte {
	b = append(b, "cnst_"...)
	s := strconv.Itoa(i)
	for range IDWidth - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// NewServer starts the fixture server. The caller must Close it.
func NewServer(o ServerOptions) (*Server, error) {
	f, err := LoadFixtures(o.Testdata)
	if err != nil {
		return nil, err
	}
	s := &Server{Fixtures: f, total: o.ListTotal, inspect: o.Inspect}
	s.Server = httptest.NewUnstartedServer(s)
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	s.BaseURL = s.URL + "/api/v1"
	return s, nil
}

// Conns is the number of TCP connections the server has accepted.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Requests is the number of requests the server has answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// ResetCounts zeroes Conns and Requests.
func (s *Server) ResetCounts() {
	s.conns.Store(0)
	s.requests.Store(0)
}

// SetFaultEvery makes every n-th response from now on a 503 with Persona's
// error body and no Retry-After (0: none).
func (s *Server) SetFaultEvery(n int64) { s.faultEvery.Store(n) }

// ServeHTTP answers one request; see Server.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if s.inspect != nil {
		s.inspect(r)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	h := w.Header()
	h["Content-Type"] = hJSON
	h["Request-Id"] = hRequestID
	h["Ratelimit-Limit"] = hLimit
	h["Ratelimit-Remaining"] = hRemaining
	h["Ratelimit-Reset"] = hReset
	h["Persona-Organization-Id"] = hOrg
	h["Persona-Environment-Id"] = hEnv
	if every := s.faultEvery.Load(); every > 0 && n%every == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"errors":[{"title":"Service Unavailable","details":"try again"}]}`)
		return
	}
	const prefix = "/api/v1/connect/share-tokens"
	path, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
	case path == "" && r.Method == http.MethodGet:
		s.list(w, r)
		return
	case path == "" && r.Method == http.MethodPost:
		s.write(w, http.StatusCreated, s.Created)
		return
	case strings.HasSuffix(path, "/redeem") && r.Method == http.MethodPost:
		s.write(w, http.StatusAccepted, s.Pending)
		return
	case strings.Count(path, "/") == 1 && r.Method == http.MethodGet:
		if r.URL.Query().Get("peek-source-data") == "true" {
			s.write(w, http.StatusOK, s.Peek)
			return
		}
		s.write(w, http.StatusOK, s.Token)
		return
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, `{"errors":[{"title":"Not Found","details":"Record not found"}]}`)
}

func (s *Server) write(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// list serves page[size] tokens (default 10, at most 100) after the
// page[after] cursor, with links.next until ListTotal.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 10
	if v, err := strconv.Atoi(q.Get("page[size]")); err == nil && v >= 1 && v <= 100 {
		size = v
	}
	start := 0
	if after := q.Get("page[after]"); after != "" {
		i, err := strconv.Atoi(strings.TrimPrefix(after, "cnst_"))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		start = i + 1
	}
	s.write(w, http.StatusOK, s.Page(start, size, s.total))
}

// TunedTransport is what a careful engineer configures for a busy client:
// Go's default transport with an idle pool as large as the concurrency.
func TunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return t
}

// Baseline is the hand-written client: the same requests as the SDK (same
// headers, a fresh Idempotency-Key on every POST), its body read through the
// same 16 MiB cap, its status checked, and the same fields decoded into
// plain structs. It does no validation, retries, pacing or logging.
type Baseline struct {
	HTTP    *http.Client
	BaseURL string
	auth    string
	ua      string
}

// NewBaseline returns a baseline client with a tuned transport and the same
// per-attempt timeout as the SDK's default.
func NewBaseline(baseURL string) *Baseline {
	return &Baseline{
		HTTP:    &http.Client{Transport: TunedTransport(), Timeout: 30 * time.Second},
		BaseURL: baseURL,
		auth:    "Bearer " + APIKey,
		ua:      "connect-go/0.1.0 go/" + strings.TrimPrefix(runtime.Version(), "go"),
	}
}

// Token mirrors a share token resource on the wire: what a hand-written
// client would decode into.
type Token struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Status        string      `json:"status"`
		Direction     string      `json:"direction"`
		CreatedAt     time.Time   `json:"created-at"`
		UpdatedAt     time.Time   `json:"updated-at"`
		PendingAt     *time.Time  `json:"pending-at"`
		RedeemedAt    *time.Time  `json:"redeemed-at"`
		ExpiresAt     *time.Time  `json:"expires-at"`
		FailedAt      *time.Time  `json:"failed-at"`
		FailureReason *string     `json:"failure-reason"`
		RedeemMode    *string     `json:"redeem-mode"`
		SourceData    *SourceData `json:"source-data"`
	} `json:"attributes"`
	Relationships struct {
		Connection        *Rel `json:"connection"`
		ConnectConnection *Rel `json:"connect-connection"`
		Creator           *Rel `json:"creator"`
		Source            *Rel `json:"source"`
		Destination       *Rel `json:"destination"`
	} `json:"relationships"`
}

// Rel is a JSON:API relationship.
type Rel struct {
	Data *Ref `json:"data"`
}

// Ref is a resource identifier.
type Ref struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// SourceData is a peeked snapshot as plain encoding/json decodes it. The
// peekable attributes are a map of wrappers, except "fields", which is a map
// of wrappers itself: a hand-written client decodes them in a second pass.
type SourceData struct {
	Type               string                     `json:"type"`
	ID                 string                     `json:"id"`
	PeekableAttributes map[string]json.RawMessage `json:"peekable-attributes"`
	RelatedObjects     []*SourceData              `json:"related-objects"`
}

// Peekable is one {visibility, value} wrapper.
type Peekable struct {
	Visibility string          `json:"visibility"`
	Value      json.RawMessage `json:"value"`
}

// Attributes decodes the wrappers (the second pass): scalar attributes and
// the fields map.
func (s *SourceData) Attributes() (attrs, fields map[string]Peekable, err error) {
	attrs = make(map[string]Peekable, len(s.PeekableAttributes))
	for name, raw := range s.PeekableAttributes {
		if name == "fields" {
			if err := json.Unmarshal(raw, &fields); err != nil {
				return nil, nil, err
			}
			continue
		}
		var p Peekable
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, err
		}
		attrs[name] = p
	}
	return attrs, fields, nil
}

// Doc is a one-resource document.
type Doc struct {
	Data Token `json:"data"`
}

// ListDoc is a page.
type ListDoc struct {
	Data  []Token `json:"data"`
	Links struct {
		Prev *string `json:"prev"`
		Next *string `json:"next"`
	} `json:"links"`
}

// MaxBody is the cap on a 2xx body, as in the SDK.
const MaxBody = 16 << 20

// StatusError is a non-2xx answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "status " + strconv.Itoa(e.Code) }

func (c *Baseline) do(ctx context.Context, method, url string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Persona-Version", "2025-12-08")
	req.Header.Set("Key-Inflection", "kebab")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", rand.Text())
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return err
	}
	if len(b) > MaxBody {
		return errors.New("body too large")
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{resp.StatusCode}
	}
	return json.Unmarshal(b, out)
}

// Get retrieves a share token.
func (c *Baseline) Get(ctx context.Context, id string) (*Token, error) {
	var doc Doc
	if err := c.do(ctx, http.MethodGet, c.BaseURL+"/connect/share-tokens/"+id, nil, &doc); err != nil {
		return nil, err
	}
	return &doc.Data, nil
}

type createBody struct {
	Data struct {
		Attributes struct {
			ConnectionID     string `json:"connection-id"`
			SourceID         string `json:"source-id"`
			ExpiresInSeconds int64  `json:"expires-in-seconds,omitempty"`
		} `json:"attributes"`
	} `json:"data"`
}

// Create creates a share token.
func (c *Baseline) Create(ctx context.Context, connectionID, sourceID string) (*Token, error) {
	var in createBody
	in.Data.Attributes.ConnectionID = connectionID
	in.Data.Attributes.SourceID = sourceID
	body, err := json.Marshal(&in)
	if err != nil {
		return nil, err
	}
	var doc Doc
	if err := c.do(ctx, http.MethodPost, c.BaseURL+"/connect/share-tokens", body, &doc); err != nil {
		return nil, err
	}
	return &doc.Data, nil
}

type redeemBody struct {
	Data struct {
		Attributes struct {
			DestinationID string `json:"destination-id,omitempty"`
		} `json:"attributes"`
	} `json:"data"`
}

// Redeem redeems a share token into an existing object (hydrate).
func (c *Baseline) Redeem(ctx context.Context, id, destinationID string) (*Token, error) {
	var in redeemBody
	in.Data.Attributes.DestinationID = destinationID
	body, err := json.Marshal(&in)
	if err != nil {
		return nil, err
	}
	var doc Doc
	if err := c.do(ctx, http.MethodPost, c.BaseURL+"/connect/share-tokens/"+id+"/redeem", body, &doc); err != nil {
		return nil, err
	}
	return &doc.Data, nil
}

// List fetches one page of size tokens after the cursor after.
func (c *Baseline) List(ctx context.Context, size int, after string) (*ListDoc, error) {
	u := c.BaseURL + "/connect/share-tokens?page%5Bsize%5D=" + strconv.Itoa(size)
	if after != "" {
		u += "&page%5Bafter%5D=" + after
	}
	var doc ListDoc
	if err := c.do(ctx, http.MethodGet, u, nil, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// All walks every page of size tokens and calls fn for each token; the
// cursor of the next page is the page[after] of links.next.
func (c *Baseline) All(ctx context.Context, size int, fn func(*Token)) error {
	after := ""
	for {
		doc, err := c.List(ctx, size, after)
		if err != nil {
			return err
		}
		for i := range doc.Data {
			fn(&doc.Data[i])
		}
		if doc.Links.Next == nil {
			return nil
		}
		next, err := nextCursor(*doc.Links.Next)
		if err != nil || next == "" || next == after {
			return err
		}
		after = next
	}
}

func nextCursor(link string) (string, error) {
	_, query, _ := strings.Cut(link, "?")
	for part := range strings.SplitSeq(query, "&") {
		if v, ok := strings.CutPrefix(part, "page%5Bafter%5D="); ok {
			return v, nil
		}
	}
	return "", nil
}
