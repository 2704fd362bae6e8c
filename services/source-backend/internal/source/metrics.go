package source

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
type metrics struct {
	reg        *prometheus.Registry
	outcomes   *prometheus.CounterVec // inquiries settled, by state
	apiCalls   *prometheus.CounterVec // requests to Persona by status code
	handOvers  *prometheus.CounterVec // POSTs to the destination by status code
	webhooks   *prometheus.CounterVec // deliveries by status answered
	reconciled *prometheus.CounterVec // inquiries queued again, by state
}

func newMetrics(b *durable.Backend) *metrics {
	counter := func(name, help, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	m := &metrics{
		reg:        prometheus.NewRegistry(),
		outcomes:   counter("source_inquiries_settled_total", "Inquiries whose token reached the destination (handed-over) or was expired after a failed hand-over (expired).", "outcome"),
		apiCalls:   counter("source_persona_api_calls_total", "HTTP requests to Persona's API, retries included, by status code (429: rate limited; error: no response).", "code"),
		handOvers:  counter("source_hand_overs_total", "POSTs of a token to the destination, by status code (error: no response).", "code"),
		webhooks:   counter("source_webhook_deliveries_total", "Webhook deliveries received, by the status answered.", "code"),
		reconciled: counter("source_reconciled_inquiries_total", "Inquiries whose job reconciliation queued again, by their state then.", "state"),
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "source_jobs_queued",
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
	m.reg.MustRegister(m.outcomes, m.apiCalls, m.handOvers, m.webhooks, m.reconciled, queued)
	return m
}

func (m *metrics) handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// countDeliveries wraps the webhook handler to count its answers.
func (m *metrics) countDeliveries(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &durable.StatusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.Code == 0 {
			rec.Code = http.StatusOK
		}
		m.webhooks.WithLabelValues(strconv.Itoa(rec.Code)).Inc()
	})
}
