package source

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/services/internal/testdb"
)

// A hand-over that never gets an answer (the destination is unreachable,
// or slower than HandOverTimeout) fails for good after HandOverAttempts
// tries, and the token is expired.
func TestHandOverWithNoAnswerExpiresTheToken(t *testing.T) {
	cases := map[string]struct {
		breakIt func(t *testing.T, f *fixture)
		err     string
	}{
		"destination unreachable": {
			breakIt: func(_ *testing.T, f *fixture) { f.dest.Close() },
			err:     "connect",
		},
		"destination slower than the timeout": {
			breakIt: func(t *testing.T, f *fixture) {
				release := make(chan struct{})
				t.Cleanup(func() { close(release) }) // before the destination closes
				f.dest.setOnPost(func(ctx context.Context, _ string) {
					select {
					case <-release:
					case <-ctx.Done():
					}
				})
			},
			err: "deadline exceeded",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
				f := newFixture(t, db)
				c.breakIt(t, f)
				r := f.start(t, func(cfg *Config) {
					cfg.HandOverAttempts = 2
					cfg.HandOverTimeout = 50 * time.Millisecond
				})
				inq := f.fake.NewInquiry(f.acme, nil)

				post(t, r.web.URL+"/inquiries/"+inq+"/completed")
				eventually(t, "expired", func() bool { return rowOf(t, r, inq).State == stateExpired })

				row := rowOf(t, r, inq)
				assert.Contains(t, row.LastError, c.err)
				tok, ok := f.fake.ShareToken(row.ShareTokenID)
				require.True(t, ok)
				assert.Equal(t, "expired", tok.Status)
			})
		})
	}
}

// A hand-over that failed for good, but reached a destination that began
// redeeming, is not expired: Persona refuses the expire, the token's state
// says the destination has it, and the inquiry counts as handed over.
func TestFailedHandOverThatReachedTheDestinationIsNotExpired(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		bank := f.client(t, f.bank)
		f.dest.setOnPost(func(ctx context.Context, id string) {
			_, err := bank.ShareTokens.Redeem(ctx, id, nil)
			assert.NoError(t, err)
		})
		f.dest.answer(http.StatusBadRequest) // then fails to answer properly
		r := f.start(t)
		inq := f.fake.NewInquiry(f.acme, nil)

		post(t, r.web.URL+"/inquiries/"+inq+"/completed")
		eventually(t, "handed over", func() bool { return rowOf(t, r, inq).State == stateHandedOver })

		row := rowOf(t, r, inq)
		tok, ok := f.fake.ShareToken(row.ShareTokenID)
		require.True(t, ok)
		assert.Contains(t, []string{"pending", "redeemed"}, tok.Status)
		assert.Equal(t, []string{row.ShareTokenID}, f.dest.posts())
		assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
		assert.Equal(t, 1, f.fake.Stats().Redemptions)
	})
}

// Malformed ids are refused with a 400 naming the field, before anything
// is recorded or sent.
func TestMalformedInquiryIDIs400NamingTheField(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		r := f.start(t)
		for _, id := range []string{"inq%20with%20spaces", strings.Repeat("x", 129), "inq%2F..%2Fadmin", "inq%3Fx%3D1"} {
			for _, path := range []string{"/inquiries/" + id + "/completed", "/inquiries/" + id} {
				method := http.MethodPost
				if !strings.HasSuffix(path, "/completed") {
					method = http.MethodGet
				}
				req, err := http.NewRequest(method, r.web.URL+path, nil)
				require.NoError(t, err)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s %s", method, path)
			}
			code, body := post(t, r.web.URL+"/inquiries/"+id+"/completed")
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, "id", body["field"], id)
		}
		var n int
		require.NoError(t, r.svc.b.QueryRow(context.Background(), `SELECT count(*) FROM source_inquiries`).Scan(&n))
		assert.Zero(t, n, "nothing recorded")
		assert.Zero(t, f.fake.Stats().Requests, "nothing reaches Persona")
		assert.Empty(t, f.dest.posts())
	})
}
