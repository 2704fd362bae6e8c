package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/services/internal/durable"
)

// shareArgs creates the inquiry's token. It is unique per inquiry and
// replacement, so that the webhook, the notification and their repeats on
// any replica make one job, and a replacement after an expiry makes another.
type shareArgs struct {
	InquiryID   string `json:"inquiry_id"`
	Replacement int    `json:"replacement"`
}

func (shareArgs) Kind() string { return "share_inquiry" }
func (shareArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// handOverArgs is the outbox job that posts a token to the destination.
type handOverArgs struct {
	InquiryID    string `json:"inquiry_id"`
	ShareTokenID string `json:"share_token_id"`
}

func (handOverArgs) Kind() string { return "hand_over_share_token" }
func (handOverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// expireArgs ends a token whose hand-over failed for good.
type expireArgs struct {
	InquiryID    string `json:"inquiry_id"`
	ShareTokenID string `json:"share_token_id"`
}

func (expireArgs) Kind() string { return "expire_share_token" }
func (expireArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// reconcileArgs is the periodic job that queues again what inquiries left
// waiting need. Only the elected leader among the replicas inserts it.
type reconcileArgs struct{}

func (reconcileArgs) Kind() string { return "reconcile_inquiries" }

// shareKey is the Idempotency-Key of an inquiry's create attempt,
// "share-<inquiry>-<attempt>", hashed if it would pass Persona's limit of
// 255 characters. Persona stores its first answer to a key for 24 hours,
// refusals included, so the attempt (kept in the database) moves past a
// refusal and past an expired token.
func shareKey(inquiryID string, attempt int) string {
	key := "share-" + inquiryID + "-" + strconv.Itoa(attempt)
	if len(key) <= 255 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "share-" + hex.EncodeToString(sum[:])
}

// refusedForGood reports whether err is Persona's final answer under its
// key, with nothing done: a 4xx other than 408, 409 (a conflict with a
// request that may still run under the same key) and 429.
func refusedForGood(err error) bool {
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

type shareWorker struct {
	river.WorkerDefaults[shareArgs]
	s *Service
}

func (w *shareWorker) Timeout(*river.Job[shareArgs]) time.Duration {
	return min(2*time.Minute, w.s.cfg.RescueAfter/2)
}

func (w *shareWorker) Work(ctx context.Context, job *river.Job[shareArgs]) error {
	return w.s.share(ctx, job.Args.InquiryID)
}

// share finds or creates the inquiry's live token under its current key,
// records it, and queues its hand-over. It returns nil once nothing more is
// needed from it, an error to be tried again later (under the same key
// unless the attempt advanced).
func (s *Service) share(ctx context.Context, inquiryID string) error {
	for {
		row, found, err := s.st.get(ctx, inquiryID)
		if err != nil {
			return err
		}
		if !found || row.State != stateReceived {
			return nil
		}
		if row.Replacements >= maxTokensPerInquiry {
			_, err := s.st.update(ctx, inquiryID, stateReceived, `state = ?`, stateGaveUp)
			return err
		}
		tok, err := s.client.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
			ConnectionID: s.cfg.ConnectionID, SourceID: inquiryID, ExpiresIn: s.cfg.TokenTTL,
		}, connect.WithIdempotencyKey(shareKey(inquiryID, row.Attempt)))
		if err != nil {
			s.st.noteError(ctx, inquiryID, err.Error())
			if refusedForGood(err) {
				s.log.Warn("share token refused", "inquiry_id", inquiryID, "attempt", row.Attempt, "error", err)
				if err := s.st.advance(ctx, inquiryID, row.Attempt, false); err != nil {
					return err
				}
			}
			return err
		}
		if mayHaveExpired(tok, s.st.now()) {
			if tok, err = s.client.ShareTokens.Get(ctx, tok.ID); err != nil {
				return err
			}
		}
		if tok.Status != connect.ShareTokenStatusExpired {
			return s.recordToken(ctx, row, tok)
		}
		if err := s.st.advance(ctx, inquiryID, row.Attempt, true); err != nil {
			return err
		}
	}
}

// expiryMargin is how long before its expiry a token still counts as live
// when the service hands it over: time for the hand-over and the redeem, and
// for clocks that disagree.
const expiryMargin = time.Minute

// mayHaveExpired reports whether a token that Create returned may have
// expired since: Persona replays its first answer to a key, which shows the
// token as it was then. Only the clock can have ended it without this
// service knowing (an expiry by this service moves the attempt on first);
// the destination may have redeemed it on its inbound-created webhook, but
// handing over a redeemed token does no harm. So the token is read again
// only when its expiry is unknown or near, which saves a read per token.
func mayHaveExpired(tok *connect.ShareToken, now time.Time) bool {
	return tok.ExpiresAt == nil || tok.ExpiresAt.Before(now.Add(expiryMargin))
}

// recordToken keeps the inquiry's token and queues its hand-over, or, when
// the destination already acted on it, records that it has it.
func (s *Service) recordToken(ctx context.Context, row inquiryRow, tok *connect.ShareToken) error {
	next := stateHandingOver
	if tok.Status != connect.ShareTokenStatusCreated {
		next = stateHandedOver
	}
	changed, err := s.st.update(ctx, row.ID, stateReceived, `state = ?, share_token_id = ?, last_error = ''`, next, tok.ID)
	if err != nil || !changed {
		return err
	}
	s.log.Info("share token ready", "inquiry_id", row.ID, "share_token_id", tok.ID, "status", tok.Status, "attempt", row.Attempt)
	if next == stateHandedOver {
		s.metrics.outcomes.WithLabelValues(stateHandedOver).Inc()
		return nil
	}
	row.State, row.ShareTokenID = next, tok.ID
	return s.queueNext(ctx, row)
}

type handOverWorker struct {
	river.WorkerDefaults[handOverArgs]
	s *Service
}

func (w *handOverWorker) Timeout(*river.Job[handOverArgs]) time.Duration {
	return w.s.cfg.HandOverTimeout + 5*time.Second
}

// Work posts the token to the destination. An error is retried by River
// (with backoff); a refusal, or the last attempt failing, fails the
// hand-over for good: the token is expired, so that no token the
// destination never acknowledged stays redeemable.
func (w *handOverWorker) Work(ctx context.Context, job *river.Job[handOverArgs]) error {
	s := w.s
	row, found, err := s.st.get(ctx, job.Args.InquiryID)
	if err != nil {
		return err
	}
	if !found || row.State != stateHandingOver || row.ShareTokenID != job.Args.ShareTokenID {
		return nil
	}
	err = s.handOver(ctx, row.ShareTokenID)
	if err == nil {
		if changed, err := s.st.update(ctx, row.ID, stateHandingOver, `state = ?, last_error = ''`, stateHandedOver); err != nil {
			return err
		} else if changed {
			s.metrics.outcomes.WithLabelValues(stateHandedOver).Inc()
			s.log.Info("share token handed over", "inquiry_id", row.ID, "share_token_id", row.ShareTokenID)
		}
		return nil
	}
	s.st.noteError(ctx, row.ID, err.Error())
	var refused *refusal
	if !errors.As(err, &refused) && job.Attempt < job.MaxAttempts {
		s.log.Warn("hand-over failed; will retry", "inquiry_id", row.ID, "share_token_id", row.ShareTokenID, "attempt", job.Attempt, "error", err)
		return err
	}
	s.log.Warn("hand-over failed for good; expiring the token", "inquiry_id", row.ID, "share_token_id", row.ShareTokenID, "error", err)
	if _, err := s.st.update(ctx, row.ID, stateHandingOver, `state = ?`, stateExpiring); err != nil {
		return err
	}
	row.State = stateExpiring
	return s.queueNext(ctx, row)
}

// refusal is the destination's definitive no: a 4xx other than 408 and 429.
type refusal struct{ status string }

func (r *refusal) Error() string { return "destination refused: " + r.status }

// handOver posts the token id to the destination. A 2xx is success.
func (s *Service) handOver(ctx context.Context, tokenID string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandOverTimeout)
	defer cancel()
	body, err := json.Marshal(map[string]string{"share_token_id": tokenID})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.DestinationURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.dest.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch c := resp.StatusCode; {
	case c >= 200 && c <= 299:
		return nil
	case c >= 400 && c <= 499 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests:
		return &refusal{status: resp.Status}
	default:
		return fmt.Errorf("destination answered %s", resp.Status)
	}
}

type expireWorker struct {
	river.WorkerDefaults[expireArgs]
	s *Service
}

// Work expires the token. Persona refuses when the destination has started
// redeeming it: then it did arrive, and the inquiry counts as handed over.
func (w *expireWorker) Work(ctx context.Context, job *river.Job[expireArgs]) error {
	s := w.s
	row, found, err := s.st.get(ctx, job.Args.InquiryID)
	if err != nil {
		return err
	}
	if !found || row.State != stateExpiring || row.ShareTokenID != job.Args.ShareTokenID {
		return nil
	}
	tok, err := s.client.ShareTokens.Expire(ctx, row.ShareTokenID)
	if err != nil {
		if !refusedForGood(err) && !errors.Is(err, connect.ErrConflict) {
			return err
		}
		// Refused: the token's state says why.
		if tok, err = s.client.ShareTokens.Get(ctx, row.ShareTokenID); err != nil {
			return err
		}
	}
	next := stateExpired
	switch tok.Status {
	case connect.ShareTokenStatusExpired:
	case connect.ShareTokenStatusCreated:
		return fmt.Errorf("share token %s still created after an expire", tok.ID)
	default:
		next = stateHandedOver
	}
	changed, err := s.st.update(ctx, row.ID, stateExpiring, `state = ?`, next)
	if err == nil && changed {
		s.metrics.outcomes.WithLabelValues(next).Inc()
		s.log.Info("orphan share token settled", "inquiry_id", row.ID, "share_token_id", tok.ID, "status", tok.Status)
	}
	return err
}

type reconcileWorker struct {
	river.WorkerDefaults[reconcileArgs]
	s *Service
}

// Work queues again the job of each inquiry left waiting longer than
// ReconcileAfter (a no-op while it exists; it matters when a replica died
// between recording a state and queueing its job), and forgets old webhook
// events.
func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[reconcileArgs]) error {
	s := w.s
	return durable.Reconcile(ctx, s.dedupe, s.st.now(), s.cfg.ReconcileAfter, s.st.stale, s.reconcile)
}

// reconcile queues again the job row's state waits on, and marks the row
// looked at, so that the next run takes other rows first.
func (s *Service) reconcile(ctx context.Context, row inquiryRow) error {
	s.metrics.reconciled.WithLabelValues(row.State).Inc()
	if err := s.queueNext(ctx, row); err != nil {
		return err
	}
	return s.st.touch(ctx, row.ID)
}
