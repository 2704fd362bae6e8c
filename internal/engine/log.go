package engine

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// logAttempt records attempt n of r, started at start, and what follows it:
// the status and request id of resp (nil if none arrived), err, and the
// decision. Never a header or a body: they may carry secrets.
func (e *Engine) logAttempt(ctx context.Context, r *Request, n int, start time.Time, resp *http.Response, err error, next decision) {
	log := e.cfg.Logger
	if log == nil || !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.Path),
		slog.Int("attempt", n),
		slog.Duration("duration", time.Since(start)),
	}
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode), slog.String("request_id", resp.Header.Get("Request-Id")))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, slog.Bool("retry", next.retry), slog.String("reason", next.reason))
	if next.retry {
		attrs = append(attrs, slog.Duration("wait", next.wait))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "connect: attempt", attrs...)
}
