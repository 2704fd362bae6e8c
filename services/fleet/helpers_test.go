package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// buildBinaries builds connect-fake (SDK module) and both services into a
// temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ moduleDir, pkg string }{
		{"../..", "./cmd/connect-fake"}, {"..", "./redeem-service"}, {"..", "./source-backend"},
	} {
		cmd := exec.Command("go", "build", "-o", dir+"/", b.pkg)
		cmd.Dir = b.moduleDir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", b.pkg, out)
	}
	return dir
}

type org struct {
	ID     string `json:"id"`
	APIKey string `json:"api_key"`
}

// fake is connect-fake, running, and its control API.
type fake struct {
	URL          string `json:"url"`
	ControlURL   string `json:"control_url"`
	Source       org    `json:"source"`
	Destination  org    `json:"destination"`
	ConnectionID string `json:"connection_id"`
}

// startFake runs connect-fake, which allows each organization limit
// requests in each window.
func startFake(t *testing.T, bin string, limit int, window time.Duration) *fake {
	t.Helper()
	cmd := exec.Command(bin+"/connect-fake", "-addr", "127.0.0.1:0", "-json", "-quiet",
		"-redeem-delay", "300ms", "-max-recorded-requests", "200000",
		"-rate-limit", strconv.Itoa(limit), "-rate-window", window.String())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var f fake
	require.NoError(t, json.NewDecoder(stdout).Decode(&f), "connect-fake's -json line")
	return &f
}

func (f *fake) call(t *testing.T, method, path string, in, out any) {
	t.Helper()
	f.callStatus(t, method, path, in, out)
}

// callStatus calls the control API and returns the status: 2xx, or 408 for
// a wait that timed out; anything else fails the test.
func (f *fake) callStatus(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.ControlURL+path, body)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusRequestTimeout {
		return resp.StatusCode
	}
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, raw)
	if out != nil && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode
}

func (f *fake) post(t *testing.T, path string, in, out any) {
	f.call(t, http.MethodPost, path, in, out)
}
func (f *fake) get(t *testing.T, path string, out any) { f.call(t, http.MethodGet, path, nil, out) }

func (f *fake) tokenStatus(t *testing.T, id string) string {
	var tok struct{ Status string }
	f.get(t, "/share-tokens/"+id, &tok)
	return tok.Status
}

// resendGivenUp waits up to timeout for the deliveries in flight, then
// delivers again the inquiry.completed events the fake gave up delivering
// (a replica killed under it, a dropped delivery, a claim still held by a
// replica that died), as Persona would on its longer schedule;
// connect/share-token events given up are left to the redeem-service's
// catch-up and reconciliation. The fake reports each given-up delivery to
// one wait only, so every wait of the test goes through here.
func (f *fake) resendGivenUp(t *testing.T, timeout time.Duration) {
	t.Helper()
	var out struct {
		Failures []struct {
			EventID   string `json:"event_id"`
			EventName string `json:"event_name"`
		} `json:"failures"`
	}
	// 408: deliveries still pending; those given up are reported by a
	// later wait.
	f.callStatus(t, http.MethodPost, "/webhook-deliveries/wait", map[string]any{"timeout": timeout.String()}, &out)
	for _, d := range out.Failures {
		if d.EventName == "inquiry.completed" {
			f.post(t, "/events/"+d.EventID+"/resend", nil, nil)
		}
	}
}

// schema makes a Postgres schema for one service (River's tables are per
// service) and returns its URL.
func schema(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	name := "fleet_" + strings.ToLower(rand.Text()[:12])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		_ = conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + name
}

func queryInt(t *testing.T, dbURL, q string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}

// sourceToken is the token source-backend recorded with the inquiry, once
// handed over.
func sourceToken(t *testing.T, dbURL, inquiryID string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var id string
	err = conn.QueryRow(context.Background(), `SELECT share_token_id FROM source_inquiries WHERE inquiry_id = $1 AND state = 'handed-over'`, inquiryID).Scan(&id)
	if err == pgx.ErrNoRows {
		return ""
	}
	require.NoError(t, err)
	return id
}

// redeemRowsDone reports whether the redeem-service recorded n tokens, all
// redeemed.
func redeemRowsDone(t *testing.T, dbURL string, n int) bool {
	return queryInt(t, dbURL, `SELECT count(*) FROM redeem_tokens WHERE state = 'redeemed'`) == n &&
		queryInt(t, dbURL, `SELECT count(*) FROM redeem_tokens`) == n
}

// front is a round-robin reverse proxy over a service's replicas. Webhook
// deliveries through it are dropped (503, not forwarded), delayed or
// forwarded twice to two replicas at once, a tenth of the time each.
type front struct {
	*httptest.Server
	mu       sync.Mutex
	backends []string
	next     int
}

func newFront(t *testing.T) *front {
	f := &front{}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

func (f *front) add(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.backends = append(f.backends, addr)
}

func (f *front) pick() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	return f.backends[f.next%len(f.backends)]
}

var proxyTransport = &http.Transport{MaxIdleConnsPerHost: 64, ResponseHeaderTimeout: 20 * time.Second}

// forward sends the request to one replica after another until one
// answers: a killed replica refuses connections.
func (f *front) forward(r *http.Request, body []byte) (*http.Response, error) {
	var err error
	for range len(f.backends) {
		req := r.Clone(r.Context())
		req.RequestURI = ""
		req.URL.Scheme, req.URL.Host = "http", f.pick()
		req.Body = io.NopCloser(bytes.NewReader(body))
		var resp *http.Response
		if resp, err = proxyTransport.RoundTrip(req); err == nil {
			return resp, nil
		}
	}
	return nil, err
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if strings.HasPrefix(r.URL.Path, "/webhooks/") {
		switch mrand.N(10) {
		case 0:
			http.Error(w, "dropped by the fleet test", http.StatusServiceUnavailable)
			return
		case 1:
			time.Sleep(time.Duration(mrand.N(500)) * time.Millisecond) // a slow network, not synchronization
		case 2:
			go func() {
				if resp, err := f.forward(r.WithContext(context.WithoutCancel(r.Context())), body); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}
	resp, err := f.forward(r, body)
	if err != nil {
		http.Error(w, "no replica answered: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// replica is one service process on a fixed port, killed and restarted by
// the test.
type replica struct {
	name, bin, addr string
	env, args       []string
	cmd             *exec.Cmd
	log             *os.File
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func startReplica(t *testing.T, bin, name string, fr *front, env, args []string) *replica {
	t.Helper()
	r := &replica{name: name, bin: bin, addr: freeAddr(t), env: append(os.Environ(), env...), args: args}
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	require.NoError(t, err)
	r.log = log
	r.restart(t)
	fr.add(r.addr)
	return r
}

func (r *replica) restart(t *testing.T) {
	t.Helper()
	r.cmd = exec.Command(r.bin, append([]string{"-addr", r.addr, "-replica-id", r.name}, r.args...)...)
	r.cmd.Env = r.env
	r.cmd.Stderr = r.log
	require.NoError(t, r.cmd.Start(), r.name)
}

// kill sends SIGKILL and reaps the process.
func (r *replica) kill() {
	if r.cmd != nil && r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

// waitReady polls /readyz, bounded.
func (r *replica) waitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "%s ready; its log: %s", r.name, tail(r.log.Name()))
}

// tail is the end of a replica's log, for a failure message.
func tail(path string) string {
	raw, _ := os.ReadFile(path)
	return string(raw[max(0, len(raw)-2000):])
}

// stats is the fake's counters.
type stats struct {
	Requests           int `json:"requests"`
	TooManyRequests    int `json:"too_many_requests"`
	ShareTokensCreated int `json:"share_tokens_created"`
	Redemptions        int `json:"redemptions"`
}

func (f *fake) stats(t *testing.T) stats {
	var s stats
	f.get(t, "/stats", &s)
	return s
}

// recorded is one API request in the fake's record.
type recorded struct {
	Method         string    `json:"method"`
	Path           string    `json:"path"`
	OrganizationID string    `json:"organization_id"`
	Status         int       `json:"status"`
	Time           time.Time `json:"time"`
}

func (f *fake) requests(t *testing.T) []recorded {
	var out struct{ Data []recorded }
	f.get(t, "/requests", &out)
	return out.Data
}

// budget is one organization's use of its rate limit.
type budget struct {
	requests, tooMany int
	// fullWindows is the number of windows the organization's requests
	// spanned, less the first and the last (partly outside the run);
	// admitted is the requests admitted in them.
	fullWindows, admitted, limit int
}

// used is the share of the full windows' budget admitted; 0 when the run
// had no full window.
func (b budget) used() float64 {
	if b.fullWindows == 0 {
		return 0
	}
	return float64(b.admitted) / float64(b.fullWindows*b.limit)
}

// percent is used() for the closing line: "n/a" when the run spanned no
// full window, which says nothing of the budget.
func (b budget) percent() string {
	if b.fullWindows == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*b.used())
}

type report struct {
	destCalls int
	breakdown []string          // "POST /connect/share-tokens/{id}/redeem 201: 300", most first
	budget    map[string]budget // by organization
}

// busiest is the budget of the organization that used the most of it.
func (r report) busiest() budget {
	var top budget
	for _, b := range r.budget {
		if b.used() >= top.used() {
			top = b
		}
	}
	return top
}

var idInPath = regexp.MustCompile(`/[a-z]+_[A-Za-z0-9]+`)

// summarize counts the destination's calls by route and status, and each
// organization's budget in the fixed windows of the fake's limiter (limit
// requests per window, windows starting at multiples of its length).
func summarize(reqs []recorded, destination string, window time.Duration, limit int) report {
	r := report{budget: map[string]budget{}}
	routes := map[string]int{}
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for _, q := range reqs {
		w := q.Time.Truncate(window)
		if f, ok := first[q.OrganizationID]; !ok || w.Before(f) {
			first[q.OrganizationID] = w
		}
		if w.After(last[q.OrganizationID]) {
			last[q.OrganizationID] = w
		}
		if q.OrganizationID == destination {
			r.destCalls++
			routes[fmt.Sprintf("%s %s %d", q.Method, idInPath.ReplaceAllString(q.Path, "/{id}"), q.Status)]++
		}
	}
	for org := range first {
		r.budget[org] = budget{limit: limit, fullWindows: max(0, int(last[org].Sub(first[org])/window)-1)}
	}
	for _, q := range reqs {
		b := r.budget[q.OrganizationID]
		b.requests++
		w := q.Time.Truncate(window)
		switch {
		case q.Status == http.StatusTooManyRequests:
			b.tooMany++
		case w.After(first[q.OrganizationID]) && w.Before(last[q.OrganizationID]):
			b.admitted++
		}
		r.budget[q.OrganizationID] = b
	}
	for _, route := range slices.SortedFunc(maps.Keys(routes), func(a, b string) int { return routes[b] - routes[a] }) {
		r.breakdown = append(r.breakdown, fmt.Sprintf("%s: %d", route, routes[route]))
	}
	return r
}

// describe is what both services' databases say of an inquiry that is not
// finished, for a failure message.
func describe(t *testing.T, srcDB, dstDB, inquiryID, tokenID string) string {
	t.Helper()
	src := rowText(t, srcDB, `SELECT state || ' attempt ' || attempt || ' ' || share_token_id || ' ' || last_error FROM source_inquiries WHERE inquiry_id = $1`, inquiryID)
	dst := "(no token yet)"
	if tokenID != "" {
		dst = rowText(t, dstDB, `SELECT state || ' attempt ' || attempt || ' via ' || via || ' ' || last_error FROM redeem_tokens WHERE share_token_id = $1`, tokenID)
	}
	return fmt.Sprintf("%s [source: %s] → %s [destination: %s]", inquiryID, src, tokenID, dst)
}

func rowText(t *testing.T, dbURL, q, arg string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(context.Background(), q, arg).Scan(&s); err != nil {
		return "no row (" + err.Error() + ")"
	}
	return s
}

// rescued is the number of jobs taken back from replicas that died running
// them: by the replica itself when it started again, and by River's
// rescuer (after -rescue-after) for the rest.
func rescued(t *testing.T, dbURL string) (atStart, byRescuer int) {
	return queryInt(t, dbURL, `SELECT count(*) FROM river_job WHERE errors::text LIKE '%rescued at start-up%'`),
		queryInt(t, dbURL, `SELECT count(*) FROM river_job WHERE errors::text LIKE '%Stuck job rescued%'`)
}
