package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// Flood sizes and the memory bound the test holds connect-fake to.
const (
	// floodRequests is the flood with CONNECT_TEST_FULL set (as .ci/run
	// sets it); by default it is floodRequestsShort, 400 MB instead of
	// 2 GB through loopback, still more than ten times the heap bound.
	floodRequests      = 2000
	floodRequestsShort = 400
	floodBodySize      = 1 << 20
	stalledConns       = 300
	floodWorkers       = 16
	heapBoundBytes     = 32 << 20 // HeapInuse after GC, test client included
)

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestFloodLeavesItUsable: hundreds (with CONNECT_TEST_FULL, thousands) of
// unauthenticated 1 MiB requests and hundreds of connections that send
// half a header and stop. The fake keeps
// none of the requests, reads none of the bodies, closes the stalled
// connections after -read-header-timeout, stays within heapBoundBytes, and
// then serves a share as usual.
func TestFloodLeavesItUsable(t *testing.T) {
	if testing.Short() {
		t.Skip("the flood moves 400 MB (2 GB with CONNECT_TEST_FULL) over loopback")
	}
	requests := int64(floodRequestsShort)
	if os.Getenv("CONNECT_TEST_FULL") != "" {
		requests = floodRequests
	}
	r := startJSON(t, "-quiet", "-redeem-delay", "0", "-rate-limit", "0",
		"-read-header-timeout", "300ms", "-read-timeout", "2s", "-idle-timeout", "1s")
	addr := strings.TrimPrefix(strings.TrimSuffix(r.seed.URL, "/api/v1"), "http://")
	before := heapInuse()

	// Stalled connections: half a request header, then nothing.
	stalled := make([]net.Conn, 0, stalledConns)
	for range stalledConns {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = io.WriteString(c, "POST /api/v1/connect/share-tokens HTTP/1.1\r\nHost: x\r\nContent-Le")
		require.NoError(t, err)
		stalled = append(stalled, c)
	}
	defer func() {
		for _, c := range stalled {
			c.Close()
		}
	}()

	// The flood, concurrent with the stalled connections.
	body := bytes.Repeat([]byte("x"), floodBodySize)
	tr := &http.Transport{MaxIdleConnsPerHost: floodWorkers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var next, answered401, cutOff atomic.Int64
	var wg sync.WaitGroup
	for range floodWorkers {
		wg.Go(func() {
			for next.Add(1) <= requests {
				req, _ := http.NewRequest("POST", r.seed.URL+"/connect/share-tokens", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer persona_sandbox_not_a_key")
				resp, err := hc.Do(req)
				if err != nil {
					// The fake answered 401 without reading the body and
					// closed the connection while the client still wrote.
					cutOff.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusUnauthorized {
					answered401.Add(1)
				}
			}
		})
	}
	wg.Wait()
	during := heapInuse()

	// Every stalled connection is closed by the fake (after a 408, or
	// without a word): reading it ends, well before the test's own
	// deadline.
	closedByFake := 0
	for _, c := range stalled {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		got, err := io.ReadAll(c)
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) {
			closedByFake++
		}
		if closedByFake == 1 {
			t.Logf("a stalled connection got %q, %v", got, err)
		}
	}
	assert.Equal(t, stalledConns, closedByFake, "stalled connections closed by the fake")

	var stats map[string]int
	r.control(t, "GET", "/stats", nil, &stats)
	// A request can fail before reaching the fake (a keep-alive connection
	// closed by -idle-timeout as the client reused it); nearly all reach it.
	assert.GreaterOrEqual(t, answered401.Load(), requests*9/10)
	assert.GreaterOrEqual(t, int64(stats["unauthorized"]), answered401.Load(), "every 401 was counted")
	var reqs struct{ Data []requestJSON }
	r.control(t, "GET", "/requests", nil, &reqs)
	assert.Empty(t, reqs.Data, "unauthenticated requests are not kept")

	// A normal share still works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := r.client(t, r.seed.Source.APIKey).ShareTokens.Create(ctx,
		&connect.ShareTokenCreateParams{ConnectionID: r.seed.ConnectionID, SourceID: r.seed.InquiryID})
	require.NoError(t, err)
	dest := r.client(t, r.seed.Destination.APIKey)
	_, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	require.NoError(t, err)
	tok, err = dest.ShareTokens.Wait(ctx, tok.ID)
	require.NoError(t, err)
	assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)

	after := heapInuse()
	t.Logf("flood: %d unauthenticated %d KiB requests (%d answered 401, %d cut off mid-body), %d stalled connections closed; "+
		"HeapInuse after GC: before %.1f MiB, after the flood %.1f MiB, after the share %.1f MiB (bound %d MiB)",
		requests, floodBodySize>>10, answered401.Load(), cutOff.Load(), closedByFake,
		mib(before), mib(during), mib(after), heapBoundBytes>>20)
	assert.Less(t, during, uint64(heapBoundBytes))
	assert.Less(t, after, uint64(heapBoundBytes))
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
