package durable

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
)

// QuietLogger is the logger for River: its routine info logs (job counts
// every few seconds) are left out, warnings and errors kept.
func QuietLogger(l *slog.Logger) *slog.Logger {
	return slog.New(minLevel{l.Handler(), slog.LevelWarn}).With("component", "river")
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

// CountingTransport counts every request it carries by its answer's status
// code ("error": no response).
type CountingTransport struct {
	Next  http.RoundTripper
	Calls *prometheus.CounterVec
}

// RoundTrip sends r through Next and counts the outcome.
func (t CountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.Next.RoundTrip(r)
	if err != nil {
		t.Calls.WithLabelValues("error").Inc()
		return resp, err
	}
	t.Calls.WithLabelValues(strconv.Itoa(resp.StatusCode)).Inc()
	return resp, nil
}

// Backoff is a River retry policy: Base doubled at each attempt, up to Max,
// with full jitter in its upper half. River's own default (attempt⁴
// seconds) waits 16 s before the second retry and 81 s before the third,
// too long for a hand-over a customer is waiting on.
type Backoff struct {
	Base, Max time.Duration
}

// NextRetry is when the job's next attempt runs.
func (b Backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.Base
	for i := 1; i < job.Attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	d = d/2 + rand.N(d/2+1)
	return time.Now().Add(d)
}
