package durable

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry is a replica's Prometheus registry, with the gauge every
// service exports: <prefix>_jobs_queued, the River jobs waiting in b (NaN
// when the database does not answer within 2 seconds). The registry is the
// replica's own, so that several replicas in one test process do not clash.
func NewRegistry(prefix string, b *Backend) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: prefix + "_jobs_queued",
		Help: "River jobs waiting to run (available, scheduled or retryable), in the whole database; NaN if it cannot be read.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := b.JobsQueued(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
	return reg
}

// NewCounterVec is a counter with one label, registered with reg.
func NewCounterVec(reg prometheus.Registerer, name, help, label string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	reg.MustRegister(c)
	return c
}

// MetricsHandler serves reg in Prometheus's text format (GET /metrics).
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// CountDeliveries wraps a webhook handler to count its answers in c, by
// status code; a handler that writes nothing has answered 200.
func CountDeliveries(h http.Handler, c *prometheus.CounterVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &StatusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.Code == 0 {
			rec.Code = http.StatusOK
		}
		c.WithLabelValues(strconv.Itoa(rec.Code)).Inc()
	})
}
