package redeem

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// redeemArgs is the job that redeems one token. It is unique per token while
// queued, running or retrying, and for River's retention of completed jobs
// (24 hours) after: a hand-over, its webhook and their repeats on any
// replica make one job.
type redeemArgs struct {
	ShareTokenID string `json:"share_token_id"`
}

func (redeemArgs) Kind() string { return "redeem_share_token" }

func (redeemArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// reconcileArgs is the periodic job that looks at tokens left unfinished.
// Only the elected leader among the replicas inserts it.
type reconcileArgs struct{}

func (reconcileArgs) Kind() string { return "reconcile_share_tokens" }

// redeemKey is the Idempotency-Key of a token's redemption attempt. Persona
// stores its first answer to a key for 24 hours, refusals included, so the
// attempt (kept in the database) moves past a refusal.
func redeemKey(tokenID string, attempt int) string {
	return "redeem-" + tokenID + "-" + strconv.Itoa(attempt)
}

// definitiveRefusal reports whether Persona refused the redeem for good
// under this key: a 4xx other than 408 and 429 (whose outcome is unknown)
// and 409 (the token was redeemed, by us: read it). Nothing was done, and
// only a new key tries again.
func definitiveRefusal(err error) bool {
	var apiErr *connect.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	switch code := apiErr.StatusCode; code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	default:
		return code >= 400 && code <= 499
	}
}

func statusOf(err error) int {
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

type redeemWorker struct {
	river.WorkerDefaults[redeemArgs]
	s *Service
}

// Timeout bounds one run; the SDK's own retries fit well within it, and it
// ends before the rescuer would take the job for one of a dead replica.
func (w *redeemWorker) Timeout(*river.Job[redeemArgs]) time.Duration {
	return min(2*time.Minute, w.s.cfg.RescueAfter/2)
}

// Work redeems the token under the attempt's key. An error leaves the job to
// River's retries (with backoff), which repeat the same key unless the
// attempt advanced.
func (w *redeemWorker) Work(ctx context.Context, job *river.Job[redeemArgs]) error {
	return w.s.redeem(ctx, job.Args.ShareTokenID)
}

// redeem is one try at a token. It returns nil when the token needs nothing
// more from this job (redeeming, finished, or rejected), an error to be
// tried again later, or river.JobCancel for what no retry can fix.
func (s *Service) redeem(ctx context.Context, tokenID string) error {
	row, found, err := s.st.get(ctx, tokenID)
	if err != nil {
		return err
	}
	if !found || row.State != stateReceived {
		return nil
	}
	tok, err := s.client.ShareTokens.Redeem(ctx, tokenID, nil, connect.WithIdempotencyKey(redeemKey(tokenID, row.Attempt)))
	switch {
	case err == nil:
		s.log.Info("redemption accepted", "share_token_id", tokenID, "attempt", row.Attempt, "status", tok.Status)
		if err := s.st.markRedeeming(ctx, tokenID); err != nil {
			return err
		}
		return s.settle(ctx, tok, "redeem")
	case errors.Is(err, connect.ErrConflict):
		// Only this organization can redeem the token, so an earlier attempt
		// did, unless the conflict was with something else: adopt the
		// token's state, or try again under the next key.
		return s.adopt(ctx, tokenID, row.Attempt, err)
	case definitiveRefusal(err):
		if err := s.st.advance(ctx, tokenID, row.Attempt); err != nil {
			return err
		}
		return s.adopt(ctx, tokenID, 0, err)
	case statusOf(err) >= 500:
		// Persona may have stored this answer under the key for 24 hours,
		// so the next try takes a new key. A redemption cannot happen twice
		// whatever the key: if this one got through, the next answer is a
		// 409, and the token's state is adopted.
		_ = s.st.noteError(ctx, tokenID, err.Error())
		if err := s.st.advance(ctx, tokenID, row.Attempt); err != nil {
			return err
		}
		return err
	default:
		// Unknown outcome (transport error, 408, 429): River tries again
		// under the same key, and Persona replays what it did.
		_ = s.st.noteError(ctx, tokenID, err.Error())
		return err
	}
}

// adopt reads the token after a refusal and goes by its state: created
// means the refusal stands, and the next try takes a new key (Persona
// replays a refusal for 24 hours): adopt moves past attempt's, unless it is
// 0 (moved past already); anything else means an earlier attempt got
// through.
func (s *Service) adopt(ctx context.Context, tokenID string, attempt int, refusal error) error {
	tok, err := s.client.ShareTokens.Get(ctx, tokenID)
	if statusOf(err) == http.StatusNotFound {
		if changed, err := s.st.reject(ctx, tokenID, refusal.Error()); err != nil {
			return err
		} else if changed {
			s.metrics.redemptions.WithLabelValues(stateRejected).Inc()
		}
		s.log.Warn("share token rejected: Persona does not know it", "share_token_id", tokenID, "refusal", refusal)
		return river.JobCancel(refusal)
	}
	if err != nil {
		_ = s.st.noteError(ctx, tokenID, refusal.Error())
		return err
	}
	switch tok.Status {
	case connect.ShareTokenStatusCreated:
		_ = s.st.noteError(ctx, tokenID, refusal.Error())
		s.log.Warn("redemption refused", "share_token_id", tokenID, "refusal", refusal)
		if attempt > 0 {
			if err := s.st.advance(ctx, tokenID, attempt); err != nil {
				return err
			}
		}
		return refusal
	case connect.ShareTokenStatusPending:
		return s.st.markRedeeming(ctx, tokenID)
	}
	if err := s.st.markRedeeming(ctx, tokenID); err != nil {
		return err
	}
	return s.settle(ctx, tok, "read")
}

// settle records tok if it is terminal, and counts the outcome once.
func (s *Service) settle(ctx context.Context, tok *connect.ShareToken, via string) error {
	changed, err := s.st.settle(ctx, tok)
	if err != nil || !changed {
		return err
	}
	s.metrics.redemptions.WithLabelValues(string(tok.Status)).Inc()
	s.log.Info("share token finished", "share_token_id", tok.ID, "status", tok.Status, "learned_by", via, "failure_reason", tok.FailureReason)
	return nil
}

type reconcileWorker struct {
	river.WorkerDefaults[reconcileArgs]
	s *Service
}

// Work looks at tokens unfinished for longer than ReconcileAfter: a received
// one gets its redeem job again (a no-op while one is queued), a redeeming
// one is read from Persona, in case its inbound-redeemed webhook was lost or
// its redemption failed (Persona sends no webhook for that).
func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[reconcileArgs]) error {
	s := w.s
	return durable.Reconcile(ctx, s.dedupe, s.st.now(), s.cfg.ReconcileAfter, s.st.stale, s.reconcile)
}

func (s *Service) reconcile(ctx context.Context, row tokenRow) error {
	s.metrics.reconciled.WithLabelValues(row.State).Inc()
	if row.State == stateReceived {
		if err := s.q.Insert(ctx, redeemArgs{ShareTokenID: row.ID}, nil); err != nil {
			return err
		}
		return s.st.touch(ctx, row.ID)
	}
	tok, err := s.client.ShareTokens.Get(ctx, row.ID)
	if err != nil {
		return err
	}
	if tok.Status.Terminal() {
		return s.settle(ctx, tok, "reconciliation")
	}
	return s.st.touch(ctx, row.ID)
}
