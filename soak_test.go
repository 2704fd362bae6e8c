package connect_test

// The soak run of RELIABILITY.md: many goroutines, thousands of mixed
// operations against connecttest while it injects faults of every kind,
// then an audit of the fake's state and of every operation's outcome.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// soakOutcome names how an operation ended: "ok", an HTTP status, "timeout"
// (every attempt outlived WithTimeout) or "dropped" (the connection ended
// before a response).
func soakOutcome(err error) string {
	if err == nil {
		return "ok"
	}
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		return fmt.Sprint(apiErr.StatusCode)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return "dropped"
	}
	return "unexpected: " + err.Error()
}

// soakAllowed is what the policy lets each operation end with besides
// success: a retried status or transport failure once MaxRetries is spent,
// a POST's 500 (never retried), and the conflicts the operations cause each
// other (a token redeemed by another operation, or expired first).
var soakAllowed = map[string][]string{
	"create": {"500", "502", "503", "504", "408", "429", "timeout", "dropped"},
	"get":    {"500", "502", "503", "504", "408", "429", "timeout", "dropped"},
	"list":   {"500", "502", "503", "504", "408", "429", "timeout", "dropped"},
	"redeem": {"409", "422", "500", "502", "503", "504", "408", "429", "timeout", "dropped"},
	"expire": {"422", "500", "502", "503", "504", "408", "429", "timeout", "dropped"},
}

type soakCreate struct {
	key     string
	id      string // the token returned, on success
	outcome string
}

type soakRedeem struct {
	key, token, outcome string
}

// TestSoak: 32 goroutines make 4,800 operations (2,400 by default, see
// below: create, get, list two pages, redeem, expire) with about 8% of them
// preceded by an injected fault of a random kind. Every operation succeeds or ends as the policy
// allows; the fake holds one token per logical create at most, and only
// for creates that succeeded or whose response was lost; no token is
// redeemed twice; each successful redeem is the one the fake accepted.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak run")
	}
	// 150 operations per goroutine with CONNECT_TEST_FULL (as .ci/run
	// sets it), 75 by default: 2,400 operations and some 190 faults, which
	// still meet every kind of fault on both methods (each goroutine's
	// draws are seeded), at half the cost (9 s under -race at full size).
	opsEach := 75
	if fullSize() {
		opsEach = 150
	}
	// In a bubble, over in-memory pipes: the faults' delays, the attempts'
	// timeouts and the retry waits pass on the bubble's clock, so that the
	// run costs only the CPU it needs.
	synctest.Test(t, func(t *testing.T) { soak(t, opsEach) })
}

func soak(t *testing.T, opsEach int) {
	const (
		workers   = 32
		faultRate = 0.08
		attemptTO = 250 * time.Millisecond
	)
	l := newPipeListener()
	srv := connecttest.NewServer(connecttest.WithRateLimit(0, time.Minute), connecttest.WithListener(l))
	t.Cleanup(srv.Close)
	srcOrg, dstOrg := srv.NewOrganization("Source"), srv.NewOrganization("Destination")
	cxn := srv.NewActiveConnection(srcOrg, dstOrg)
	var inquiries []string
	for i := range 64 {
		inquiries = append(inquiries, srv.NewInquiry(srcOrg, map[string]any{"name-first": fmt.Sprint("Ada", i)}))
	}
	tr := &http.Transport{DialContext: l.dial, MaxIdleConnsPerHost: workers}
	t.Cleanup(tr.CloseIdleConnections)
	opts := []connect.ClientOption{
		connect.WithBaseURL(srv.URL),
		connect.WithHTTPClient(&http.Client{Transport: tr}),
		connect.WithRetryWait(time.Millisecond, 5*time.Millisecond),
		connect.WithMaxRateLimitWait(20 * time.Millisecond),
		connect.WithTimeout(attemptTO),
	}
	src, err := connect.NewClient(srcOrg.APIKey, opts...)
	require.NoError(t, err)
	dst, err := connect.NewClient(dstOrg.APIKey, opts...)
	require.NoError(t, err)

	faultKinds := []connecttest.Fault{
		{Status: 502}, {Status: 503}, {Status: 504}, {Status: 408}, {Status: 429, RetryAfter: "0"}, {Status: 500},
		{DropAfterProcessing: true}, {DropAfterProcessing: true},
		{Delay: 2 * attemptTO}, // the attempt times out; the fake abandons it
		// Bursts as long as a call's attempts (MaxRetries 3 + 1), so that
		// some calls exhaust their retries.
		{Status: 502, Count: 4}, {Status: 503, Count: 4}, {DropAfterProcessing: true, Count: 4}, {Delay: 2 * attemptTO, Count: 4},
	}
	var (
		mu       sync.Mutex
		created  []string // ids of tokens whose create succeeded
		creates  []soakCreate
		redeems  []soakRedeem
		outcomes = map[string]map[string]int{}
		injected = map[string]int{}
		attempts atomic.Int64
		ops      atomic.Int64
		wg       sync.WaitGroup
	)
	record := func(op, outcome string, resp *connect.Response) {
		ops.Add(1)
		attempts.Add(int64(resp.Attempts))
		mu.Lock()
		defer mu.Unlock()
		if outcomes[op] == nil {
			outcomes[op] = map[string]int{}
		}
		outcomes[op][outcome]++
	}
	pickToken := func(r *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		if len(created) == 0 {
			return ""
		}
		return created[r.IntN(len(created))]
	}
	start := time.Now()
	for g := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 42))
			ctx := t.Context()
			for i := range opsEach {
				op := []string{"create", "create", "get", "list", "redeem", "redeem", "expire"}[r.IntN(7)]
				tok := pickToken(r)
				if op != "create" && op != "list" && tok == "" {
					op = "create"
				}
				if r.Float64() < faultRate {
					f := faultKinds[r.IntN(len(faultKinds))]
					// Aimed at this operation's path where it has its own,
					// so that a burst usually hits one call's attempts.
					f.Method, f.PathPrefix = http.MethodPost, "/connect/share-tokens"
					switch op {
					case "get":
						f.Method, f.PathPrefix = http.MethodGet, "/connect/share-tokens/"+tok
					case "list":
						f.Method = http.MethodGet
					case "redeem", "expire":
						f.PathPrefix = "/connect/share-tokens/" + tok + "/" + op
					}
					srv.InjectFault(f)
					mu.Lock()
					injected[fmt.Sprintf("%s %s", f.Method, soakFaultLabel(f))]++
					mu.Unlock()
				}
				var resp connect.Response
				key := fmt.Sprintf("soak-%d-%d", g, i)
				switch op {
				case "create":
					got, err := src.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn, SourceID: inquiries[r.IntN(len(inquiries))]},
						connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
					c := soakCreate{key: key, outcome: soakOutcome(err)}
					mu.Lock()
					if err == nil {
						c.id = got.ID
						created = append(created, got.ID)
					}
					creates = append(creates, c)
					mu.Unlock()
					record(op, c.outcome, &resp)
				case "get":
					got, err := dst.ShareTokens.Get(ctx, tok, connect.WithResponseInto(&resp))
					if err == nil {
						assert.Equal(t, tok, got.ID)
					}
					record(op, soakOutcome(err), &resp)
				case "list":
					page, err := src.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 10}}, connect.WithResponseInto(&resp))
					if err == nil && page.HasNext() {
						record(op, "ok", &resp)
						resp = connect.Response{}
						_, err = src.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 10, After: page.NextCursor}}, connect.WithResponseInto(&resp))
					}
					record(op, soakOutcome(err), &resp)
				case "redeem":
					_, err := dst.ShareTokens.Redeem(ctx, tok, nil, connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
					rd := soakRedeem{key: key, token: tok, outcome: soakOutcome(err)}
					mu.Lock()
					redeems = append(redeems, rd)
					mu.Unlock()
					record(op, rd.outcome, &resp)
				case "expire":
					_, err := src.ShareTokens.Expire(ctx, tok, connect.WithIdempotencyKey(key), connect.WithResponseInto(&resp))
					record(op, soakOutcome(err), &resp)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	srv.ClearFaults()
	st := srv.Stats()

	// Every operation ended as the policy allows.
	for op, byOutcome := range outcomes {
		for outcome, n := range byOutcome {
			if outcome != "ok" {
				assert.Contains(t, soakAllowed[op], outcome, "%s ended %d times with %s", op, n, outcome)
			}
		}
	}

	// What the fake did, from its own record: tokens made per key, and
	// redemptions accepted per token and key.
	tokensByKey := map[string][]string{}
	redeemedBy := map[string][]string{} // token → keys whose redeem was accepted
	for _, rr := range srv.Requests() {
		if rr.Method != http.MethodPost || rr.Replayed {
			continue
		}
		key := rr.Header.Get("Idempotency-Key")
		switch {
		case rr.Path == connecttest.BasePath+"/connect/share-tokens" && rr.Status == http.StatusCreated:
			var doc struct {
				Data struct{ ID string } `json:"data"`
			}
			require.NoError(t, json.Unmarshal(rr.ResponseBody, &doc))
			tokensByKey[key] = append(tokensByKey[key], doc.Data.ID)
		case strings.HasSuffix(rr.Path, "/redeem") && rr.Status == http.StatusAccepted:
			id := strings.TrimSuffix(strings.TrimPrefix(rr.Path, connecttest.BasePath+"/connect/share-tokens/"), "/redeem")
			redeemedBy[id] = append(redeemedBy[id], key)
		}
	}
	var tokens, orphans, redemptions int
	for _, ids := range tokensByKey {
		tokens += len(ids)
	}
	for _, keys := range redeemedBy {
		redemptions += len(keys)
	}
	assert.Equal(t, st.ShareTokensCreated, tokens, "the fake's count and its record agree")
	assert.Equal(t, st.Redemptions, redemptions, "the fake's count and its record agree")

	createOutcome := map[string]string{}
	for _, c := range creates {
		createOutcome[c.key] = c.outcome
		ids := tokensByKey[c.key]
		assert.LessOrEqual(t, len(ids), 1, "create %s made %d tokens", c.key, len(ids))
		switch c.outcome {
		case "ok":
			if assert.Len(t, ids, 1, "successful create %s", c.key) {
				assert.Equal(t, ids[0], c.id, "create %s returned another token than it made", c.key)
			}
		case "500":
			assert.Empty(t, ids, "create %s got a 500 and yet made a token", c.key)
		default:
			// The response of a processed attempt was lost (dropped or
			// timed out) and later attempts failed too: an orphan that
			// the caller repairs by repeating with the same key.
			orphans += len(ids)
		}
	}
	for key := range tokensByKey {
		_, ok := createOutcome[key]
		assert.True(t, ok, "a token was made under key %s that no create used", key)
	}
	redeemOK := map[string][]string{}
	for _, rd := range redeems {
		if rd.outcome == "ok" {
			redeemOK[rd.token] = append(redeemOK[rd.token], rd.key)
		}
	}
	for id, keys := range redeemedBy {
		assert.Len(t, keys, 1, "token %s redeemed %d times", id, len(keys))
		fake, ok := srv.ShareToken(id)
		if assert.True(t, ok) {
			assert.Contains(t, []string{"pending", "redeemed"}, fake.Status, "token %s", id)
		}
	}
	for id, keys := range redeemOK {
		assert.Len(t, keys, 1, "token %s: %d redeems succeeded", id, len(keys))
		assert.Equal(t, redeemedBy[id], keys, "token %s: the successful redeem is not the one the fake accepted", id)
	}

	var sb strings.Builder
	for _, op := range []string{"create", "get", "list", "redeem", "expire"} {
		fmt.Fprintf(&sb, "\n  %-6s %v", op, soakSorted(outcomes[op]))
	}
	var injectedTotal int
	for _, n := range injected {
		injectedTotal += n
	}
	t.Logf("soak: %d goroutines, %d operations (%d HTTP calls, %d attempts: %d retries) in %s on the bubble's clock; "+
		"%d faults injected, %d acted on (%d connections dropped, %d replays); "+
		"%d tokens made (%d orphans of creates whose response was lost), %d redemptions; outcomes by operation:%s\n  faults injected: %v",
		workers, workers*opsEach, ops.Load(), attempts.Load(), attempts.Load()-ops.Load(), elapsed.Round(time.Millisecond),
		injectedTotal, st.Faults, st.Dropped, st.Replays, tokens, orphans, redemptions, sb.String(), soakSorted(injected))
}

func soakFaultName(f connecttest.Fault) string {
	switch {
	case f.DropAfterProcessing:
		return "drop"
	case f.Delay > 0:
		return "delay"
	}
	return fmt.Sprint(f.Status)
}

func soakFaultLabel(f connecttest.Fault) string {
	if f.Count > 1 {
		return fmt.Sprintf("%s×%d", soakFaultName(f), f.Count)
	}
	return soakFaultName(f)
}

func soakSorted(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
