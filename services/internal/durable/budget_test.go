package durable

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The default budget name tells organizations apart without holding the key.
func TestBudgetName(t *testing.T) {
	a, b := BudgetName("persona_sandbox_aaaa"), BudgetName("persona_sandbox_bbbb")
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, BudgetName("persona_sandbox_aaaa"), "every replica derives the same name")
	assert.NotContains(t, a, "persona_sandbox")
	assert.True(t, strings.HasPrefix(a, "persona:"))
}

func TestOpenBudgetWithoutRedisIsNone(t *testing.T) {
	l, rdb, err := OpenBudget(Budget{Limit: 300, Window: time.Minute}, "persona_sandbox_k", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Nil(t, l)
	assert.Nil(t, rdb)
}

func TestOpenBudgetRefusesABadURL(t *testing.T) {
	_, _, err := OpenBudget(Budget{RedisURL: "http://nope", Limit: 300, Window: time.Minute}, "persona_sandbox_k", slog.New(slog.DiscardHandler))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "REDIS_URL")
	assert.NotContains(t, err.Error(), "persona_sandbox_k")
}

// Against the real Redis: the budget admits a burst, then asks for a wait;
// a Redis that cannot be reached lets requests go and counts the failure in
// the metric.
func TestOpenBudget(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("REDIS_URL is not set: this test needs a Redis, such as redis://127.0.0.1:6379/0")
	}
	ctx := context.Background()
	key := "persona_sandbox_budget_test_" + time.Now().Format(time.RFC3339Nano)
	l, rdb, err := OpenBudget(Budget{RedisURL: url, Limit: 60, Window: time.Minute}, key, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	waited := false
	for range 10 {
		wait, err := l.Take(ctx)
		require.NoError(t, err)
		if wait > 0 {
			waited = true
			break
		}
	}
	assert.True(t, waited, "60 a minute admits a small burst, then asks for a wait")
	_ = rdb.Del(ctx, "rate:"+BudgetName(key)).Err()

	down, downRDB, err := OpenBudget(Budget{RedisURL: "redis://127.0.0.1:1/0", Limit: 60, Window: time.Minute}, key, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = downRDB.Close() })
	reg := prometheus.NewRegistry()
	RegisterLimiterErrors(reg, "test", down)
	wait, err := down.Take(ctx)
	require.NoError(t, err, "fails open")
	assert.Zero(t, wait)
	n, err := testutil.GatherAndCount(reg, "test_rate_limiter_errors_total")
	require.NoError(t, err)
	require.Equal(t, 1, n, "the metric is exported")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	assert.Equal(t, 1.0, mfs[0].GetMetric()[0].GetCounter().GetValue(), "the failure is counted")
}
