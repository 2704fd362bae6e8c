package source

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/testdb"
)

func TestShareKeyStaysWithinPersonasLimit(t *testing.T) {
	assert.Equal(t, "share-inq_1-2", shareKey("inq_1", 2))
	long := shareKey(strings.Repeat("i", 300), 1)
	assert.LessOrEqual(t, len(long), 255)
	assert.NotEqual(t, long, shareKey(strings.Repeat("i", 300), 2))
}

const createPath = "/connect/share-tokens"

// A definitive refusal of a create (a 422: the connection is inactive, or
// an injected one) advances the attempt in the database: River's retries
// never repeat a refused key, and once the cause is gone the inquiry is
// shared under a new one.
func TestRefusedCreateIsTriedAgainWithANewKey(t *testing.T) {
	cases := map[string]struct {
		refuse func(t *testing.T, f *fixture)
		fix    func(t *testing.T, f *fixture)
	}{
		"connection inactive": {
			refuse: func(t *testing.T, f *fixture) {
				_, err := f.client(t, f.acme).Connections.Deactivate(context.Background(), f.cxn)
				require.NoError(t, err)
			},
			fix: func(t *testing.T, f *fixture) {
				_, err := f.client(t, f.acme).Connections.Reactivate(context.Background(), f.cxn)
				require.NoError(t, err)
				require.NoError(t, f.fake.AcceptConnection(f.cxn))
			},
		},
		"injected 422": {
			refuse: func(_ *testing.T, f *fixture) {
				f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: createPath, Status: http.StatusUnprocessableEntity})
			},
			fix: func(*testing.T, *fixture) {},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
				f := newFixture(t, db)
				inq := f.fake.NewInquiry(f.acme, nil)
				c.refuse(t, f)
				r := f.start(t)

				code, _ := post(t, r.web.URL+"/inquiries/"+inq+"/completed")
				require.Equal(t, http.StatusAccepted, code)
				eventually(t, "attempt 2 after the 422, and the refusal noted", func() bool {
					row := rowOf(t, r, inq)
					return row.Attempt >= 2 && strings.Contains(row.LastError, "422")
				})
				c.fix(t, f)
				eventually(t, "handed over", func() bool { return rowOf(t, r, inq).State == stateHandedOver })

				keys, made := f.createKeys(inq)
				require.GreaterOrEqual(t, len(keys), 2)
				assert.Equal(t, "share-"+inq+"-1", keys[0])
				for i, k := range keys[1:] {
					assert.NotEqual(t, keys[i], k, "each refusal moved to a new key")
				}
				assert.Equal(t, 1, made)
				assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
				assert.Equal(t, []string{rowOf(t, r, inq).ShareTokenID}, f.dest.posts())
			})
		})
	}
}

// When the outcome of a create is unknown (the answer lost after Persona
// made the token, a 503, a 429), River's retry repeats its key: a token
// Persona made is found again, never made twice.
func TestUnknownCreateOutcomeRepeatsTheKey(t *testing.T) {
	cases := map[string]struct {
		fault    connecttest.Fault
		replayed int
	}{
		"connection dropped after processing": {connecttest.Fault{DropAfterProcessing: true}, 1},
		"503 at the gateway":                  {connecttest.Fault{Status: http.StatusServiceUnavailable}, 0},
		"429, wait a second":                  {connecttest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
				f := newFixture(t, db)
				inq := f.fake.NewInquiry(f.acme, nil)
				c.fault.Method, c.fault.PathPrefix = http.MethodPost, createPath
				f.fake.InjectFault(c.fault)
				r := f.start(t, func(cfg *Config) {
					cfg.ClientOptions = append(cfg.ClientOptions, connect.WithMaxRetries(0)) // the job sees the failure
				})

				post(t, r.web.URL+"/inquiries/"+inq+"/completed")
				eventually(t, "handed over", func() bool { return rowOf(t, r, inq).State == stateHandedOver })

				keys, made := f.createKeys(inq)
				assert.Equal(t, []string{"share-" + inq + "-1", "share-" + inq + "-1"}, keys)
				assert.Equal(t, 1, made)
				assert.Equal(t, c.replayed, f.fake.Stats().Replays)
				assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
				assert.Equal(t, 1, rowOf(t, r, inq).Attempt)
				assert.Len(t, f.dest.posts(), 1)
			})
		})
	}
}

// A 500 or a 409 may come from a create that did, or will, make a token, so
// the key is kept, though Persona replays the stored answer to it for 24
// hours: no second token, at the price of an inquiry that waits.
func TestAmbiguousCreateRefusalKeepsTheKey(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusConflict} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
				f := newFixture(t, db)
				inq := f.fake.NewInquiry(f.acme, nil)
				f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: createPath, Status: code})
				r := f.start(t)

				post(t, r.web.URL+"/inquiries/"+inq+"/completed")
				eventually(t, "two replays of the stored answer", func() bool { return f.fake.Stats().Replays >= 2 })

				keys, made := f.createKeys(inq)
				for _, k := range keys {
					assert.Equal(t, "share-"+inq+"-1", k)
				}
				assert.Zero(t, made)
				assert.Zero(t, f.fake.Stats().ShareTokensCreated)
				row := rowOf(t, r, inq)
				assert.Equal(t, stateReceived, row.State)
				assert.Equal(t, 1, row.Attempt)
				assert.Contains(t, row.LastError, http.StatusText(code))
				assert.Empty(t, f.dest.posts())
			})
		})
	}
}
