package durable

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/personaconnect/connect-go/redislimit"
)

// Budget is where the replicas of a service share Persona's rate limit:
// a budget in Redis that every replica's client asks before each request.
type Budget struct {
	RedisURL string        // REDIS_URL; empty: no shared budget, each replica paces itself
	Name     string        // -rate-budget; empty: BudgetName of the API key
	Limit    int           // -rate-limit: Persona's limit, requests per Window
	Window   time.Duration // -rate-window
}

// BudgetName names the budget of an API key without revealing it: a hash,
// so that two organizations' services on one Redis never share a budget by
// mistake, and the key is in no Redis key.
func BudgetName(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return "persona:" + hex.EncodeToString(sum[:8])
}

// OpenBudget connects to the budget's Redis (no I/O until the first
// request) and returns its limiter, paced for Persona's Limit per Window as
// redislimit.ForWindow advises, and the client to close at shutdown. It
// returns nil, nil, nil when RedisURL is empty. While Redis is unreachable
// the limiter lets requests go (each replica then paces itself by Persona's
// headers) and logs a warning.
func OpenBudget(b Budget, apiKey string, log *slog.Logger) (*redislimit.Limiter, *redis.Client, error) {
	if b.RedisURL == "" {
		return nil, nil, nil
	}
	opts, err := redis.ParseURL(b.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	name := b.Name
	if name == "" {
		name = BudgetName(apiKey)
	}
	rdb := redis.NewClient(opts)
	l, err := redislimit.New(rdb, name, redislimit.ForWindow(b.Limit, b.Window),
		redislimit.WithOnError(func(err error) { log.Warn("shared rate budget unavailable; pacing alone", "error", err) }))
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("shared rate budget: %w", err)
	}
	return l, rdb, nil
}

// erring is a limiter that counts its failures, as redislimit's does.
type erring interface{ Errors() uint64 }

// RegisterLimiterErrors exports the failures of limiter, if it counts them,
// as <prefix>_rate_limiter_errors_total.
func RegisterLimiterErrors(reg prometheus.Registerer, prefix string, limiter any) {
	l, ok := limiter.(erring)
	if !ok {
		return
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: prefix + "_rate_limiter_errors_total",
		Help: "Requests for which the shared rate budget could not be asked (Redis unreachable); they went paced by Persona's headers alone.",
	}, func() float64 { return float64(l.Errors()) }))
}
