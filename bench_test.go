package connect_test

// Benchmarks of the SDK against a hand-written baseline (net/http and
// encoding/json, internal/bench) on one loopback server. BENCHMARKS.md has
// the numbers and the budget; scripts/bench runs them and compares with
// benchstat. Sub-benchmarks are named impl=sdk and impl=baseline so that
// `benchstat -col /impl` sets them side by side.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/internal/bench"
)

// benchTokens is the length of the list that BenchmarkAll walks.
const benchTokens = 1000

// benchSink keeps results alive so that the compiler cannot drop the work.
var benchSink atomic.Pointer[connect.ShareToken]

var baseSink atomic.Pointer[bench.Token]

func newBenchServer(tb testing.TB, total int) *bench.Server {
	tb.Helper()
	srv, err := bench.NewServer(bench.ServerOptions{Testdata: "testdata", ListTotal: total})
	require.NoError(tb, err)
	tb.Cleanup(srv.Close)
	return srv
}

// newBenchSDK is the SDK as a user makes it: the default transport and
// retry policy, pointed at the loopback server.
func newBenchSDK(tb testing.TB, srv *bench.Server, opts ...connect.ClientOption) *connect.Client {
	tb.Helper()
	c, err := connect.NewClient(bench.APIKey, append([]connect.ClientOption{connect.WithBaseURL(srv.BaseURL)}, opts...)...)
	require.NoError(tb, err)
	tb.Cleanup(c.CloseIdleConnections)
	return c
}

func newBenchBaseline(tb testing.TB, srv *bench.Server) *bench.Baseline {
	c := bench.NewBaseline(srv.BaseURL)
	tb.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// onlyImpl skips the sub-benchmark of impl ("sdk" or "baseline") when
// CONNECT_BENCH_IMPL names the other one: scripts/bench runs each side in a
// process of its own, alternately, so that neither inherits the other's
// heap, connections or place in the run.
func onlyImpl(b *testing.B, impl string) {
	if want := os.Getenv("CONNECT_BENCH_IMPL"); want != "" && want != impl {
		b.Skip("CONNECT_BENCH_IMPL=" + want)
	}
}

// benchPair runs the baseline and then the SDK doing the same call in a loop,
// against one server.
func benchPair(b *testing.B, srv *bench.Server,
	base func(context.Context, *bench.Baseline) error,
	sdk func(context.Context, *connect.Client) error,
) {
	ctx := context.Background()
	b.Run("impl=baseline", func(b *testing.B) {
		onlyImpl(b, "baseline")
		c := newBenchBaseline(b, srv)
		b.ReportAllocs()
		for b.Loop() {
			if err := base(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sdk", func(b *testing.B) {
		onlyImpl(b, "sdk")
		c := newBenchSDK(b, srv)
		b.ReportAllocs()
		for b.Loop() {
			if err := sdk(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	benchPair(b, srv,
		func(ctx context.Context, c *bench.Baseline) error {
			t, err := c.Get(ctx, "cnst_ABC123")
			baseSink.Store(t)
			return err
		},
		func(ctx context.Context, c *connect.Client) error {
			t, err := c.ShareTokens.Get(ctx, "cnst_ABC123")
			benchSink.Store(t)
			return err
		})
}

func BenchmarkCreate(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	params := &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}
	benchPair(b, srv,
		func(ctx context.Context, c *bench.Baseline) error {
			t, err := c.Create(ctx, params.ConnectionID, params.SourceID)
			baseSink.Store(t)
			return err
		},
		func(ctx context.Context, c *connect.Client) error {
			t, err := c.ShareTokens.Create(ctx, params)
			benchSink.Store(t)
			return err
		})
}

func BenchmarkRedeem(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	params := &connect.ShareTokenRedeemParams{DestinationID: "inq_XYZ789"}
	benchPair(b, srv,
		func(ctx context.Context, c *bench.Baseline) error {
			t, err := c.Redeem(ctx, "cnst_ABC123", params.DestinationID)
			baseSink.Store(t)
			return err
		},
		func(ctx context.Context, c *connect.Client) error {
			t, err := c.ShareTokens.Redeem(ctx, "cnst_ABC123", params)
			benchSink.Store(t)
			return err
		})
}

// BenchmarkListPage fetches one page of 100 tokens.
func BenchmarkListPage(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	benchPair(b, srv,
		func(ctx context.Context, c *bench.Baseline) error {
			doc, err := c.List(ctx, 100, "")
			if err == nil && len(doc.Data) != 100 {
				err = fmt.Errorf("page of %d", len(doc.Data))
			}
			return err
		},
		func(ctx context.Context, c *connect.Client) error {
			page, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}})
			if err == nil && len(page.Data) != 100 {
				err = fmt.Errorf("page of %d", len(page.Data))
			}
			return err
		})
}

// BenchmarkAll walks 1,000 tokens in pages of 100 (10 requests per op).
func BenchmarkAll(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	benchPair(b, srv,
		func(ctx context.Context, c *bench.Baseline) error {
			n := 0
			err := c.All(ctx, 100, func(t *bench.Token) { n++ })
			if err == nil && n != benchTokens {
				err = fmt.Errorf("walked %d tokens", n)
			}
			return err
		},
		func(ctx context.Context, c *connect.Client) error {
			n := 0
			for t, err := range c.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}}) {
				if err != nil {
					return err
				}
				_ = t
				n++
			}
			if n != benchTokens {
				return fmt.Errorf("walked %d tokens", n)
			}
			return nil
		})
}

// BenchmarkParallelGet runs Get from g goroutines sharing one client; ns/op
// is wall time per call, so its inverse is the throughput. conns is the
// number of TCP connections the server accepted during the measured run
// (the client is new for each run, so the pool starts empty). The baseline
// uses a tuned transport (an idle pool of 256 per host).
func BenchmarkParallelGet(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	for _, g := range []int{1, 8, 64, 256} {
		run := func(b *testing.B, get func(context.Context) error, closeIdle func()) {
			ctx := context.Background()
			srv.ResetCounts()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			var next atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			for range g {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := get(ctx); err != nil {
							failed.CompareAndSwap(nil, err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(srv.Conns()), "conns")
			// CPU time of the whole process (client and server) per call: on
			// two shared cores throughput follows it, and unlike wall time it
			// does not count waiting for the scheduler.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			closeIdle()
		}
		b.Run(fmt.Sprintf("g=%d/impl=baseline", g), func(b *testing.B) {
			onlyImpl(b, "baseline")
			c := bench.NewBaseline(srv.BaseURL)
			run(b, func(ctx context.Context) error {
				t, err := c.Get(ctx, "cnst_ABC123")
				baseSink.Store(t)
				return err
			}, c.HTTP.CloseIdleConnections)
		})
		b.Run(fmt.Sprintf("g=%d/impl=sdk", g), func(b *testing.B) {
			onlyImpl(b, "sdk")
			c, err := connect.NewClient(bench.APIKey, connect.WithBaseURL(srv.BaseURL))
			require.NoError(b, err)
			run(b, func(ctx context.Context) error {
				t, err := c.ShareTokens.Get(ctx, "cnst_ABC123")
				benchSink.Store(t)
				return err
			}, c.CloseIdleConnections)
		})
	}
}

// BenchmarkRetryCost compares Get when every 10th response is a 503 (each
// such call is retried once, after WithRetryWait's 1µs) with the fault-free
// run on the same client settings. requests/op is what the server answered.
func BenchmarkRetryCost(b *testing.B) {
	srv := newBenchServer(b, benchTokens)
	for _, every := range []int64{0, 10} {
		name := "faults=none"
		if every > 0 {
			name = fmt.Sprintf("faults=every%dth", every)
		}
		b.Run(name+"/impl=sdk", func(b *testing.B) {
			onlyImpl(b, "sdk")
			c := newBenchSDK(b, srv, connect.WithRetryWait(time.Microsecond, time.Microsecond))
			ctx := context.Background()
			srv.SetFaultEvery(every)
			defer srv.SetFaultEvery(0)
			srv.ResetCounts()
			b.ReportAllocs()
			for b.Loop() {
				t, err := c.ShareTokens.Get(ctx, "cnst_ABC123")
				if err != nil {
					b.Fatal(err)
				}
				benchSink.Store(t)
			}
			b.ReportMetric(float64(srv.Requests())/float64(b.N), "requests/op")
		})
	}
}

// memTokens is the length of the list the memory benchmark walks, and the
// test with CONNECT_TEST_FULL set.
const memTokens = 100_000

// allMemory walks tokens tokens with All (pages of 100) from a synthetic
// server that generates each page on request (bench.Fixtures.Page; the
// server keeps no list, so what grows is the client's). It samples the heap
// every tokens/100 tokens: HeapInuse as it is (garbage included: the
// envelope the GC allows) and, every tokens/10 tokens, the live heap after
// a forced GC (what the iterator retains). Both are measured from the heap
// before the walk. page is the live size of one decoded 100-token page, as
// List returns it.
func allMemory(tb testing.TB, c *connect.Client, tokens int) (peakInuse, peakLive, page int64) {
	ctx := context.Background()
	var ms runtime.MemStats
	live := func() int64 {
		// Twice: objects dropped into a sync.Pool (net/http's buffers,
		// among others) outlive one collection in its victim cache, and
		// whether they were there at one sample and not at the next
		// would count as the page's size or the walk's growth.
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}

	// A first List opens the connection and fills the caches (encoding/json's
	// type cache among them), which would otherwise count in the page, as
	// much or as little as earlier tests in the process left them warm.
	_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}})
	require.NoError(tb, err)
	before := live()
	p, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}})
	require.NoError(tb, err)
	page = live() - before
	runtime.KeepAlive(p)
	p = nil

	start := live()
	startInuse := int64(ms.HeapInuse)
	n := 0
	for tok, err := range c.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}}) {
		require.NoError(tb, err)
		n++
		if n%(tokens/100) == 0 {
			runtime.ReadMemStats(&ms)
			peakInuse = max(peakInuse, int64(ms.HeapInuse)-startInuse)
		}
		if n%(tokens/10) == 0 {
			peakLive = max(peakLive, live()-start)
		}
		benchSink.Store(tok)
	}
	require.Equal(tb, tokens, n)
	return peakInuse, peakLive, page
}

// BenchmarkAllMemory reports the heap while All walks 100,000 tokens (see
// allMemory); its ns/op includes the forced GCs and means little.
func BenchmarkAllMemory(b *testing.B) {
	onlyImpl(b, "sdk")
	srv := newBenchServer(b, memTokens)
	c := newBenchSDK(b, srv)
	var peakInuse, peakLive, page int64
	for b.Loop() {
		i, l, p := allMemory(b, c, memTokens)
		peakInuse, peakLive, page = max(peakInuse, i), max(peakLive, l), p
	}
	b.ReportMetric(float64(page), "page-B")
	b.ReportMetric(float64(peakLive), "peak-live-B")
	b.ReportMetric(float64(peakInuse), "peak-inuse-B")
	b.ReportMetric(float64(peakLive)/float64(page), "live/page")
}

// TestAllMemoryFlat: walking 100,000 tokens retains no more than a few
// pages (the current page and the one being decoded), not the list, which
// would be about 1,000 pages. By default the walk is 10,000 tokens, whose
// list (100 pages) is still 25 times the bound, at a tenth of the cost;
// CONNECT_TEST_FULL (set by .ci/run) makes it 100,000.
func TestAllMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("walks 100,000 tokens")
	}
	tokens := 10_000
	if fullSize() {
		tokens = memTokens
	}
	srv := newBenchServer(t, tokens)
	c := newBenchSDK(t, srv)
	_, peakLive, page := allMemory(t, c, tokens)
	t.Logf("%d tokens; one page: %d B live; peak live growth over the walk: %d B (%.1f pages)", tokens, page, peakLive, float64(peakLive)/float64(page))
	assert.Positive(t, page)
	assert.LessOrEqual(t, peakLive, 4*page, "All retains more than four pages")
}

// TestBenchBaselineParity keeps the comparison honest: the baseline sends
// the SDK's headers (values aside from the idempotency key) and decodes the
// same fields.
func TestBenchBaselineParity(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	srv, err := bench.NewServer(bench.ServerOptions{Testdata: "testdata", ListTotal: 250, Inspect: func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Clone())
	}})
	require.NoError(t, err)
	defer srv.Close()
	sdk := newBenchSDK(t, srv)
	base := newBenchBaseline(t, srv)
	ctx := context.Background()

	headersOfLastTwo := func() (http.Header, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		require.GreaterOrEqual(t, len(seen), 2)
		return seen[len(seen)-2], seen[len(seen)-1]
	}
	sameHeaders := func(name string) {
		a, b := headersOfLastTwo()
		for _, h := range []http.Header{a, b} {
			h.Del("Accept-Encoding") // added by the transport alike
		}
		require.Equal(t, len(a), len(b), "%s: header sets differ: %v vs %v", name, a, b)
		for k := range a {
			require.Contains(t, b, k, name)
			if k != "Idempotency-Key" {
				assert.Equal(t, a.Get(k), b.Get(k), "%s: %s", name, k)
			}
		}
	}
	sameToken := func(name string, bt *bench.Token, st *connect.ShareToken) {
		a := &bt.Attributes
		assert.Equal(t, bt.ID, st.ID, name)
		assert.Equal(t, a.Status, string(st.Status), name)
		assert.Equal(t, a.Direction, string(st.Direction), name)
		assert.Equal(t, a.CreatedAt, st.CreatedAt, name)
		assert.Equal(t, a.UpdatedAt, st.UpdatedAt, name)
		assert.Equal(t, a.PendingAt, st.PendingAt, name)
		assert.Equal(t, a.RedeemedAt, st.RedeemedAt, name)
		assert.Equal(t, a.ExpiresAt, st.ExpiresAt, name)
		rel := &bt.Relationships
		for _, pair := range []struct {
			r *bench.Rel
			s *connect.ResourceRef
		}{{rel.Connection, st.Connection}, {rel.Creator, st.Creator}, {rel.Source, st.Source}, {rel.Destination, st.Destination}} {
			if pair.r == nil || pair.r.Data == nil {
				assert.Nil(t, pair.s, name)
				continue
			}
			require.NotNil(t, pair.s, name)
			assert.Equal(t, pair.r.Data.ID, pair.s.ID, name)
			assert.Equal(t, pair.r.Data.Type, pair.s.Type, name)
		}
	}

	bt, err := base.Get(ctx, "cnst_ABC123")
	require.NoError(t, err)
	st, err := sdk.ShareTokens.Get(ctx, "cnst_ABC123")
	require.NoError(t, err)
	sameHeaders("get")
	sameToken("get", bt, st)

	bt, err = base.Create(ctx, "cxn_ABC123", "inq_ABC123")
	require.NoError(t, err)
	st, err = sdk.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
	require.NoError(t, err)
	sameHeaders("create")
	sameToken("create", bt, st)
	a, b := headersOfLastTwo()
	assert.NotEmpty(t, a.Get("Idempotency-Key"))
	assert.NotEqual(t, a.Get("Idempotency-Key"), b.Get("Idempotency-Key"))

	bt, err = base.Redeem(ctx, "cnst_ABC123", "inq_XYZ789")
	require.NoError(t, err)
	st, err = sdk.ShareTokens.Redeem(ctx, "cnst_ABC123", &connect.ShareTokenRedeemParams{DestinationID: "inq_XYZ789"})
	require.NoError(t, err)
	sameHeaders("redeem")
	sameToken("redeem", bt, st)

	var baseIDs, sdkIDs []string
	require.NoError(t, base.All(ctx, 100, func(t *bench.Token) { baseIDs = append(baseIDs, t.ID) }))
	for tok, err := range sdk.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 100}}) {
		require.NoError(t, err)
		sdkIDs = append(sdkIDs, tok.ID)
	}
	require.Len(t, sdkIDs, 250)
	assert.Equal(t, baseIDs, sdkIDs)
	assert.Equal(t, bench.TokenID(0), sdkIDs[0])
	assert.Equal(t, bench.TokenID(249), sdkIDs[249])
}

// TestDefaultClientKeepsConnections: under N goroutines the default client
// opens about N connections, not one per request.
func TestDefaultClientKeepsConnections(t *testing.T) {
	srv := newBenchServer(t, benchTokens)
	c := newBenchSDK(t, srv)
	const goroutines, calls = 32, 20
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				_, err := c.ShareTokens.Get(context.Background(), "cnst_ABC123")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*calls), srv.Requests())
	// Up to about 2N can open while the first requests race their dials (an
	// idle connection may serve a request whose own dial then lands in the
	// pool; seen up to 61 on a loaded machine); churn would be one per
	// request, 640 here.
	assert.LessOrEqual(t, srv.Conns(), int64(goroutines*2), "connections churn")
}
