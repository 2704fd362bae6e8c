package redeem

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/personaconnect/connect-go/services/internal/durable"
)

// metrics are one replica's counters; Prometheus sums them over replicas.
// Each token's outcome is counted by the one replica that recorded it.
type metrics struct {
	reg         *prometheus.Registry   // with redeem_jobs_queued
	redemptions *prometheus.CounterVec // by outcome
	apiCalls    *prometheus.CounterVec // by status code ("error": no response)
	webhooks    *prometheus.CounterVec // by status answered
	reconciled  *prometheus.CounterVec // tokens looked at by reconciliation, by state
	caughtUp    prometheus.Counter     // events handled by the Events catch-up
}

func newMetrics(b *durable.Backend) *metrics {
	reg := durable.NewRegistry("redeem", b)
	m := &metrics{
		reg: reg,
		redemptions: durable.NewCounterVec(reg, "redeem_redemptions_total",
			"Share tokens that reached a final state, by outcome (redeemed, failed, expired, rejected).", "outcome"),
		apiCalls: durable.NewCounterVec(reg, "redeem_persona_api_calls_total",
			"HTTP requests to Persona's API, retries included, by status code (429: rate limited; error: no response).", "code"),
		webhooks: durable.NewCounterVec(reg, "redeem_webhook_deliveries_total",
			"Webhook deliveries received, by the status answered (200 handled or duplicate, 401 bad signature, 409 in progress here, 500 failed: Persona retries).", "code"),
		reconciled: durable.NewCounterVec(reg, "redeem_reconciled_tokens_total",
			"Unfinished tokens looked at again by the reconciliation job, by their state then.", "state"),
		caughtUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redeem_events_caught_up_total",
			Help: "Events read from the Events API and handled because no webhook delivery had been (lost, or the fleet was down).",
		}),
	}
	reg.MustRegister(m.caughtUp)
	return m
}
