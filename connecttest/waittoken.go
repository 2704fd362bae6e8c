package connecttest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrServerClosed is returned by WaitShareToken when the server is closed
// while it waits.
var ErrServerClosed = errors.New("connecttest: server closed")

// WaitShareToken waits until until returns true for a snapshot of the share
// token with the given id, and returns that snapshot: for example, until
// func(t ShareToken) bool { return t.Status == "redeemed" }. It wakes when
// a request to the server finishes, when the server's Clock is advanced or
// set, and, on a clock that follows the wall clock, when the token's
// expiry or its redemption's completion falls due, so a test neither
// sleeps nor polls. On a manual Clock a pending redemption completes only
// when the clock is advanced past it.
//
// It returns an error wrapping ErrNotFound when no token has the id (it
// does not wait for one to be created), ctx's error when ctx is done
// first, and ErrServerClosed when the server is closed first; with the
// last two it also returns the latest snapshot. until is called without
// any lock held and may call the Server's methods.
func (s *Server) WaitShareToken(ctx context.Context, id string, until func(ShareToken) bool) (ShareToken, error) {
	for {
		// The wake-up channels are taken before the snapshot, so that no
		// change between the two is missed.
		s.mu.Lock()
		finished := s.requests.finishedChan()
		due := s.tokenDueLocked(id)
		s.mu.Unlock()
		moved := s.clock.movedChan()

		tok, ok := s.ShareToken(id)
		if !ok {
			return ShareToken{}, fmt.Errorf("%w: share token %q", ErrNotFound, id)
		}
		if until(tok) {
			return tok, nil
		}
		if err := s.waitChange(ctx, finished, moved, due); err != nil {
			return tok, err
		}
	}
}

// waitChange waits for one of WaitShareToken's wake-ups.
func (s *Server) waitChange(ctx context.Context, finished, moved <-chan struct{}, due time.Time) error {
	var timer <-chan time.Time
	if !due.IsZero() && !s.clock.manual {
		t := time.NewTimer(due.Sub(s.clock.Now()))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-finished:
	case <-moved:
	case <-timer:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrServerClosed
	}
	return nil
}

// tokenDueLocked is when the token next changes by itself on the clock:
// its expiry while created, its completion while pending; zero otherwise.
func (s *Server) tokenDueLocked(id string) time.Time {
	t, ok := s.tokens[id]
	switch {
	case !ok:
		return time.Time{}
	case t.status == tokenCreated:
		return t.expiresAt
	case t.status == tokenPending:
		return t.completeAt
	}
	return time.Time{}
}
