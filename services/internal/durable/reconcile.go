package durable

import (
	"context"
	"errors"
	"time"
)

// ReconcileBatch bounds the rows one reconciliation run looks at; the next
// run takes the rest.
const ReconcileBatch = 100

// Reconcile is the body of a service's periodic reconciliation job, as of
// now: it forgets the webhook events dedupe holds that are older than
// EventRetention, then calls visit on each row (at most ReconcileBatch)
// that stale lists as unchanged since now less after. One row's error does
// not stop the others; the errors are joined, so that River retries the
// run, and visit must be safe to repeat.
func Reconcile[Row any](ctx context.Context, dedupe *Deduper, now time.Time, after time.Duration,
	stale func(ctx context.Context, before time.Time, limit int) ([]Row, error),
	visit func(ctx context.Context, row Row) error) error {
	if err := dedupe.Purge(ctx, now.Add(-EventRetention)); err != nil {
		return err
	}
	rows, err := stale(ctx, now.Add(-after), ReconcileBatch)
	if err != nil {
		return err
	}
	var errs []error
	for _, row := range rows {
		errs = append(errs, visit(ctx, row))
	}
	return errors.Join(errs...)
}
