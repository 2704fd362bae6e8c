// Package fleet holds the fleet test: connect-fake, a Postgres database, 3
// replicas of redeem-service and 2 of source-backend as OS processes behind
// round-robin fronts, webhooks duplicated, delayed and dropped, and a
// replica killed with SIGKILL every couple of seconds. It runs when
// FLEET_INQUIRIES is set (.ci/run sets 300, the size of the figures in
// docs/operating.md) and DATABASE_URL names Postgres. With
// REDIS_URL, each service's replicas share one rate budget in Redis;
// FLEET_RATE_WINDOW keeps Persona's 300 a minute in shorter windows.
package fleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/services/internal/testdb"
)

const webhookSecret = "wbhsec_fleet"

func TestFleet(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("FLEET_INQUIRIES"))
	if n <= 0 {
		t.Skip("FLEET_INQUIRIES is not set: fleet test skipped (.ci/run sets it)")
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		t.Skip(testdb.SkipNoDatabaseURL)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Persona's 300 requests a minute; FLEET_RATE_WINDOW=20s, say, keeps
	// the rate but in windows short enough for a run to span full ones.
	window := time.Minute
	if w := os.Getenv("FLEET_RATE_WINDOW"); w != "" {
		var err error
		window, err = time.ParseDuration(w)
		require.NoError(t, err, "FLEET_RATE_WINDOW")
	}
	limit := int(300 * window / time.Minute)
	bin := buildBinaries(t)
	fake := startFake(t, bin, limit, window)

	srcDB, dstDB := schema(t, databaseURL), schema(t, databaseURL)
	redeemFront := newFront(t)
	sourceFront := newFront(t)
	fake.post(t, "/webhooks", map[string]any{"organization_id": fake.Destination.ID, "url": redeemFront.URL + "/webhooks/persona",
		"secret": webhookSecret, "enabled_events": []string{"connect/share-token.inbound-created", "connect/share-token.inbound-redeemed"}}, nil)
	fake.post(t, "/webhooks", map[string]any{"organization_id": fake.Source.ID, "url": sourceFront.URL + "/webhooks/persona",
		"secret": webhookSecret, "enabled_events": []string{"inquiry.completed"}}, nil)

	common := []string{"PERSONA_BASE_URL=" + fake.URL, "PERSONA_WEBHOOK_SECRETS=" + webhookSecret}
	fast := []string{"-reconcile-interval", "2s", "-reconcile-after", "5s", "-rescue-after", "10s", "-retry-max", "2s", "-shutdown-timeout", "1s",
		"-rate-limit", strconv.Itoa(limit), "-rate-window", window.String()}
	// With REDIS_URL (the replicas inherit the environment), each
	// service's replicas share one rate budget in Redis.
	shared := os.Getenv("REDIS_URL") != ""
	var replicas []*replica
	for i := range 3 {
		replicas = append(replicas, startReplica(t, bin+"/redeem-service", fmt.Sprintf("redeem-%d", i), redeemFront,
			append(common, "DATABASE_URL="+dstDB, "PERSONA_API_KEY="+fake.Destination.APIKey),
			append(fast, "-catch-up-interval", "30s")))
	}
	for i := range 2 {
		replicas = append(replicas, startReplica(t, bin+"/source-backend", fmt.Sprintf("source-%d", i), sourceFront,
			append(common, "DATABASE_URL="+srcDB, "PERSONA_API_KEY="+fake.Source.APIKey,
				"PERSONA_CONNECTION_ID="+fake.ConnectionID, "DESTINATION_URL="+redeemFront.URL+"/share-tokens"),
			append(fast, "-handover-attempts", "50", "-handover-timeout", "5s")))
	}
	t.Cleanup(func() {
		for _, r := range replicas {
			r.kill()
		}
	})
	for _, r := range replicas {
		r.waitReady(t)
	}

	// A few API faults: a create and a redeem that Persona did but whose
	// answer is lost, and 503s.
	for _, f := range []map[string]any{
		{"method": "POST", "path_prefix": "/connect/share-tokens", "drop_after_processing": true, "count": 3},
		{"method": "POST", "path_prefix": "/connect/share-tokens/", "drop_after_processing": true, "count": 3},
		{"method": "POST", "path_prefix": "/connect/share-tokens", "status": 503, "count": 5},
	} {
		fake.post(t, "/faults", f, nil)
	}

	start := time.Now()
	var inquiries []string
	var created atomic.Bool
	go func() {
		defer created.Store(true)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < n && ctx.Err() == nil; i++ {
			<-tick.C
			var out struct{ ID string }
			fake.post(t, "/inquiries", map[string]any{"organization_id": fake.Source.ID, "fields": map[string]any{"name-first": "Ada" + strconv.Itoa(i)}}, &out)
			inquiries = append(inquiries, out.ID)
		}
	}()

	// Kill a random replica every 2 seconds for as long as the work goes
	// on, until nine in ten inquiries' tokens are redeemed (and at least 6
	// times); resend webhook deliveries the fake gave up on.
	kills := 0
	var lastKill time.Time
	tick := time.NewTicker(2 * time.Second)
	for !created.Load() || kills < 6 || fake.stats(t).Redemptions < n*9/10 {
		<-tick.C
		r := replicas[rand.N(len(replicas))]
		r.kill()
		r.restart(t)
		kills++
		lastKill = time.Now()
		fake.resendGivenUp(t, 100*time.Millisecond)
		require.Less(t, time.Since(start), 10*time.Minute, "the fleet did not redeem nine in ten tokens in 10 minutes")
	}
	tick.Stop()
	for _, r := range replicas {
		r.waitReady(t)
	}

	// Drain: every inquiry's token redeemed, by the fake's own record.
	tokens := map[string]string{}
	deadline := time.Now().Add(4 * time.Minute)
	for {
		fake.resendGivenUp(t, 100*time.Millisecond)
		done := 0
		var open []string
		for _, inq := range inquiries {
			if tokens[inq] == "" {
				tokens[inq] = sourceToken(t, srcDB, inq)
			}
			if tokens[inq] != "" && fake.tokenStatus(t, tokens[inq]) == "redeemed" {
				done++
			} else {
				open = append(open, describe(t, srcDB, dstDB, inq, tokens[inq]))
			}
		}
		if done == len(inquiries) && redeemRowsDone(t, dstDB, len(inquiries)) {
			break
		}
		require.True(t, time.Now().Before(deadline), "drained %d of %d within the deadline; open: %v", done, len(inquiries), open)
		fake.resendGivenUp(t, time.Second)
	}
	drain := time.Since(lastKill)

	// The fake's record.
	stats := fake.stats(t)
	assert.Equal(t, n, stats.ShareTokensCreated, "exactly one token per inquiry")
	assert.Equal(t, n, stats.Redemptions, "each token redeemed exactly once")
	seen := map[string]string{}
	for inq, tok := range tokens {
		if other, dup := seen[tok]; dup {
			t.Errorf("inquiries %s and %s share token %s", inq, other, tok)
		}
		seen[tok] = inq
	}
	var clones struct {
		Data []struct {
			ShareTokenID string `json:"share_token_id"`
			ClonedFrom   string `json:"cloned_from"`
		} `json:"data"`
	}
	fake.get(t, "/organizations/"+fake.Destination.ID+"/objects", &clones)
	perToken := map[string]int{}
	for _, c := range clones.Data {
		perToken[c.ShareTokenID]++
		assert.Equal(t, seen[c.ShareTokenID], c.ClonedFrom, "clone of token %s", c.ShareTokenID)
	}
	assert.Len(t, perToken, n, "a clone for each token")
	for tok, k := range perToken {
		assert.Equal(t, 1, k, "redemptions of %s", tok)
	}

	reqs := fake.requests(t)
	rep := summarize(reqs, fake.Destination.ID, window, limit)
	for _, line := range rep.breakdown {
		t.Logf("destination calls: %s", line)
	}
	for org, b := range rep.budget {
		t.Logf("organization %s: %d full windows, %.1f%% of their budget used, %d of %d requests answered 429",
			org, b.fullWindows, 100*b.used(), b.tooMany, b.requests)
	}
	if shared {
		assert.LessOrEqual(t, float64(stats.TooManyRequests), 0.02*float64(stats.Requests),
			"with the shared budget, at most 2 percent of requests answered 429")
	}
	busiest := rep.busiest()
	srcStart, srcRescuer := rescued(t, srcDB)
	dstStart, dstRescuer := rescued(t, dstDB)
	t.Logf("fleet: shared_rate_budget=%t inquiries=%d tokens=%d redemptions=%d kills=%d jobs_taken_back_at_restart=%d jobs_rescued_by_river=%d dest_calls_per_redemption=%.2f drain_after_last_kill=%s 429_share=%.1f%% budget_used=%s (busiest organization, its full windows of %d per %s) elapsed=%s",
		shared, n, stats.ShareTokensCreated, stats.Redemptions, kills, srcStart+dstStart, srcRescuer+dstRescuer, float64(rep.destCalls)/float64(max(stats.Redemptions, 1)),
		drain.Round(100*time.Millisecond), 100*float64(stats.TooManyRequests)/float64(max(stats.Requests, 1)), busiest.percent(), limit, window, time.Since(start).Round(time.Second))
}
