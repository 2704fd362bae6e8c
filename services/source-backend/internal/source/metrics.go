package source

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/personaconnect/connect-go/services/internal/durable"
)

// metrics are one replica's counters; Prometheus sums them over replicas.
type metrics struct {
	reg        *prometheus.Registry   // with source_jobs_queued
	outcomes   *prometheus.CounterVec // inquiries settled, by state
	apiCalls   *prometheus.CounterVec // requests to Persona by status code
	handOvers  *prometheus.CounterVec // POSTs to the destination by status code
	webhooks   *prometheus.CounterVec // deliveries by status answered
	reconciled *prometheus.CounterVec // inquiries queued again, by state
}

func newMetrics(b *durable.Backend) *metrics {
	reg := durable.NewRegistry("source", b)
	return &metrics{
		reg:        reg,
		outcomes:   durable.NewCounterVec(reg, "source_inquiries_settled_total", "Inquiries whose token reached the destination (handed-over) or was expired after a failed hand-over (expired).", "outcome"),
		apiCalls:   durable.NewCounterVec(reg, "source_persona_api_calls_total", "HTTP requests to Persona's API, retries included, by status code (429: rate limited; error: no response).", "code"),
		handOvers:  durable.NewCounterVec(reg, "source_hand_overs_total", "POSTs of a token to the destination, by status code (error: no response).", "code"),
		webhooks:   durable.NewCounterVec(reg, "source_webhook_deliveries_total", "Webhook deliveries received, by the status answered.", "code"),
		reconciled: durable.NewCounterVec(reg, "source_reconciled_inquiries_total", "Inquiries whose job reconciliation queued again, by their state then.", "state"),
	}
}
