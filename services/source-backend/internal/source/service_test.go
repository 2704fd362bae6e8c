package source

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/durable"
	"github.com/personaconnect/connect-go/services/internal/testdb"
)

// Two replicas each get every inquiry.completed delivery (two webhooks),
// and the source's systems notify both as well: one token, made under
// share-<inquiry>-1, recorded with the inquiry and handed over once.
func TestWebhooksAndNotificationsOnTwoReplicasMakeOneToken(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		a, b := f.start(t), f.start(t)
		f.registerWebhook(t, a.web.URL)
		f.registerWebhook(t, b.web.URL)

		inq := f.fake.NewInquiry(f.acme, map[string]any{"name-first": "Ada"}) // emits inquiry.completed
		var wg sync.WaitGroup
		for _, r := range []*replica{a, b, a, b} {
			wg.Go(func() {
				code, body := post(t, r.web.URL+"/inquiries/"+inq+"/completed")
				assert.Contains(t, []int{http.StatusOK, http.StatusAccepted}, code, "body %v", body)
			})
		}
		wg.Wait()
		require.NoError(t, f.fake.WaitWebhooks(context.Background()))
		eventually(t, "handed over", func() bool { return rowOf(t, a, inq).State == stateHandedOver })

		row := rowOf(t, b, inq)
		require.NotEmpty(t, row.ShareTokenID)
		assert.Equal(t, 1, row.Attempt)
		keys, made := f.createKeys(inq)
		assert.Equal(t, 1, made, "tokens Persona made for the inquiry")
		for _, k := range keys {
			assert.Equal(t, "share-"+inq+"-1", k)
		}
		assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
		assert.Zero(t, f.reads(), "a token fresh from Create is not read again")
		assert.Equal(t, []string{row.ShareTokenID}, f.dest.posts(), "one hand-over")
		tok, ok := f.fake.ShareToken(row.ShareTokenID)
		require.True(t, ok)
		assert.Equal(t, inq, tok.SourceID)

		var events []string
		for _, d := range f.fake.WebhookDeliveries() {
			if d.EventName == connecttest.EventInquiryCompleted {
				events = append(events, d.EventID)
			}
		}
		require.NotEmpty(t, events)
		var st string
		require.NoError(t, a.svc.b.QueryRow(context.Background(), `SELECT state FROM `+webhookEventsTable+` WHERE event_id = ?`, events[0]).Scan(&st))
		assert.Equal(t, durable.EventDone, st, "the SDK's handler marked it done")
		later := &durable.Deduper{B: a.svc.b, Table: webhookEventsTable, Lease: a.svc.cfg.WebhookLease,
			Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}
		claimed, err := later.Claim(context.Background(), events[0])
		require.NoError(t, err)
		assert.False(t, claimed, "a repeat two days later, long after any lease, is dropped too")

		// A late repeat, and another notification, change nothing.
		require.NoError(t, f.fake.ResendWebhookEvent(events[0]))
		require.NoError(t, f.fake.WaitWebhooks(context.Background()))
		code, body := post(t, b.web.URL+"/inquiries/"+inq+"/completed")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, row.ShareTokenID, body["share_token_id"])
		assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
		assert.Len(t, f.dest.posts(), 1)
	})
}

// A replica made the inquiry's token and died before recording it; the
// token expired before the job ran again. The create's repeat under the
// same key is Persona's replay of its first answer, which shows the token
// live: with its expiry near, the service reads it again, and replaces the
// expired token under the next key instead of handing it over.
func TestReplayedCreateOfAnExpiredTokenIsReplaced(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		clock := connecttest.NewClock(time.Now())
		f := newFixture(t, db, connecttest.WithClock(clock))
		inq := f.fake.NewInquiry(f.acme, nil)
		earlier, err := connect.NewClient(f.acme.APIKey, connect.WithBaseURL(f.fake.URL))
		require.NoError(t, err)
		_, err = earlier.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{
			ConnectionID: f.cxn, SourceID: inq, ExpiresIn: time.Minute,
		}, connect.WithIdempotencyKey(shareKey(inq, 1)))
		require.NoError(t, err)
		clock.Advance(2 * time.Minute)

		r := f.start(t, func(c *Config) { c.TokenTTL = time.Minute })
		post(t, r.web.URL+"/inquiries/"+inq+"/completed")
		eventually(t, "handed over", func() bool { return rowOf(t, r, inq).State == stateHandedOver })
		row := rowOf(t, r, inq)
		assert.Equal(t, 2, row.Attempt)
		keys, made := f.createKeys(inq)
		assert.Equal(t, 2, made, "the expired token and its replacement")
		assert.Equal(t, "share-"+inq+"-2", keys[len(keys)-1])
		assert.Equal(t, []string{row.ShareTokenID}, f.dest.posts(), "only the live token handed over")
		assert.Equal(t, 1, f.reads(), "the replayed token was read; its fresh replacement was not")
	})
}

// A hand-over the destination cannot take yet is retried by the outbox job
// with the same token.
func TestHandOverIsRetried(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		f.dest.answer(http.StatusServiceUnavailable, http.StatusBadGateway)
		r := f.start(t)
		inq := f.fake.NewInquiry(f.acme, nil)

		code, body := post(t, r.web.URL+"/inquiries/"+inq+"/completed")
		require.Equal(t, http.StatusAccepted, code, "body %v", body)
		eventually(t, "handed over", func() bool { return rowOf(t, r, inq).State == stateHandedOver })
		id := rowOf(t, r, inq).ShareTokenID
		assert.Equal(t, []string{id, id, id}, f.dest.posts())
		assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
		tok, _ := f.fake.ShareToken(id)
		assert.Equal(t, "created", tok.Status, "the destination has it; nothing expired it")
	})
}

// A refused hand-over expires the token, durably; a new notification shares
// the inquiry again under the next key, with a new token.
func TestRefusedHandOverExpiresTheToken(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		f.dest.answer(http.StatusBadRequest)
		r := f.start(t)
		inq := f.fake.NewInquiry(f.acme, nil)

		post(t, r.web.URL+"/inquiries/"+inq+"/completed")
		eventually(t, "expired", func() bool { return rowOf(t, r, inq).State == stateExpired })
		first := rowOf(t, r, inq).ShareTokenID
		tok, _ := f.fake.ShareToken(first)
		assert.Equal(t, "expired", tok.Status)

		r.stop() // the state survives the replica
		r2 := f.start(t)
		assert.Equal(t, stateExpired, rowOf(t, r2, inq).State)
		code, body := post(t, r2.web.URL+"/inquiries/"+inq+"/completed")
		assert.Equal(t, http.StatusAccepted, code, "body %v", body)
		eventually(t, "shared again", func() bool { return rowOf(t, r2, inq).State == stateHandedOver })
		row := rowOf(t, r2, inq)
		assert.NotEqual(t, first, row.ShareTokenID)
		assert.Equal(t, 2, row.Attempt)
		assert.Equal(t, 1, row.Replacements)
		keys, made := f.createKeys(inq)
		assert.Equal(t, 2, made)
		assert.Equal(t, "share-"+inq+"-2", keys[len(keys)-1])
		assert.Equal(t, []string{first, row.ShareTokenID}, f.dest.posts())
	})
}

// When the last hand-over attempt fails too, the token is expired.
func TestLastHandOverAttemptExpiresTheToken(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		f.dest.answer(http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		r := f.start(t, func(c *Config) { c.HandOverAttempts = 2 })
		inq := f.fake.NewInquiry(f.acme, nil)

		post(t, r.web.URL+"/inquiries/"+inq+"/completed")
		eventually(t, "expired", func() bool { return rowOf(t, r, inq).State == stateExpired })
		tok, _ := f.fake.ShareToken(rowOf(t, r, inq).ShareTokenID)
		assert.Equal(t, "expired", tok.Status)
		assert.Len(t, f.dest.posts(), 2)
	})
}
