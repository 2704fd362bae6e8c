package redeem

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/personaconnect/connect-go/services/internal/durable"
)

// metrics are one replica's counters; Prometheus sums them over replicas.
// Each token's outcome is counted by the one replica that recorded it.
type metrics struct {
	reg         *prometheus.Registry
	redemptions *prometheus.CounterVec // by outcome
	apiCalls    *prometheus.CounterVec // by status code ("error": no response)
	webhooks    *prometheus.CounterVec // by status answered
	reconciled  *prometheus.CounterVec // tokens looked at by reconciliation, by state
	caughtUp    prometheus.Counter     // events handled by the Events catch-up
}

func newMetrics(b *durable.Backend) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redeem_redemptions_total",
			Help: "Share tokens that reached a final state, by outcome (redeemed, failed, expired, rejected).",
		}, []string{"outcome"}),
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redeem_persona_api_calls_total",
			Help: "HTTP requests to Persona's API, retries included, by status code (429: rate limited; error: no response).",
		}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redeem_webhook_deliveries_total",
			Help: "Webhook deliveries received, by the status answered (200 handled or duplicate, 401 bad signature, 409 in progress here, 500 failed: Persona retries).",
		}, []string{"code"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redeem_reconciled_tokens_total",
			Help: "Unfinished tokens looked at again by the reconciliation job, by their state then.",
		}, []string{"state"}),
	}
	m.caughtUp = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "redeem_events_caught_up_total",
		Help: "Events read from the Events API and handled because no webhook delivery had been (lost, or the fleet was down).",
	})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "redeem_jobs_queued",
		Help: "River jobs waiting to run (available, scheduled or retryable), in the whole database; NaN if it cannot be read.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := b.JobsQueued(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
	m.reg.MustRegister(m.redemptions, m.apiCalls, m.webhooks, m.reconciled, m.caughtUp, queued)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// countDeliveries wraps the webhook handler to count its answers.
func countDeliveries(h http.Handler, c *prometheus.CounterVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &durable.StatusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.Code == 0 {
			rec.Code = http.StatusOK
		}
		c.WithLabelValues(strconv.Itoa(rec.Code)).Inc()
	})
}
