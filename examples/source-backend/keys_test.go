package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

// createKeys lists the Idempotency-Key of every create Persona received, in
// order.
func (f *fixture) createKeys() []string {
	var keys []string
	for _, r := range f.fake.Requests() {
		if r.Method == http.MethodPost && r.Path == connecttest.BasePath+"/connect/share-tokens" {
			keys = append(keys, r.Header.Get("Idempotency-Key"))
		}
	}
	return keys
}

// restart runs a second source-backend against the same fake and
// destination, with no memory of the first: as after a restart.
func (f *fixture) restart(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := newServer(config{
		APIKey: f.acme.APIKey, BaseURL: f.fake.URL, ConnectionID: f.cxn, DestinationURL: f.dest.URL,
		TokenTTL: testTokenTTL, HandOverTimeout: 5 * time.Second,
		ClientOptions: []connect.ClientOption{connect.WithRetryWait(time.Millisecond, 5*time.Millisecond)},
	})
	require.NoError(t, err)
	web := httptest.NewServer(h)
	t.Cleanup(web.Close)
	return web
}

// postTo sends an empty POST to the service at base and decodes its JSON
// answer.
func postTo(t *testing.T, base, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

const createPath = "/connect/share-tokens"

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
			f := newFixture(t)
			c.refuse(t, f)

			status, body := f.post(t, "/inquiries/"+f.inq+"/completed")
			require.Equal(t, http.StatusUnprocessableEntity, status, body)
			assert.Regexp(t, `^req_`, body["persona_request_id"])
			c.fix(t, f)
			status, body = f.post(t, "/inquiries/"+f.inq+"/completed")

			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, []string{"share-" + f.inq + "-1", "share-" + f.inq + "-2"}, f.createKeys())
			assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
			assert.Equal(t, 1, f.tokenCount(t))
			assert.Equal(t, []string{`{"share_token_id":"` + body["share_token_id"].(string) + `"}`}, f.dest.received())
		})
	}
}

// When the outcome of a create is unknown, the next notification repeats its
// key: a token Persona made is found again, never made twice.
func TestUnknownCreateOutcomeRepeatsTheKey(t *testing.T) {
	cases := map[string]struct {
		fault   connecttest.Fault
		created bool // Persona created the token before the failure
	}{
		"connection dropped after processing": {connecttest.Fault{DropAfterProcessing: true}, true},
		"503 at the gateway":                  {connecttest.Fault{Status: http.StatusServiceUnavailable}, false},
		"429":                                 {connecttest.Fault{Status: http.StatusTooManyRequests}, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, func(cfg *config) {
				cfg.ClientOptions = append(cfg.ClientOptions, connect.WithMaxRetries(0)) // the service sees the failure
			})
			c.fault.Method, c.fault.PathPrefix = http.MethodPost, createPath
			f.fake.InjectFault(c.fault)

			status, body := f.post(t, "/inquiries/"+f.inq+"/completed")
			require.Equal(t, http.StatusBadGateway, status, body)
			if c.created {
				require.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
			}
			status, body = f.post(t, "/inquiries/"+f.inq+"/completed")

			require.Equal(t, http.StatusOK, status, body)
			assert.Equal(t, []string{"share-" + f.inq + "-1", "share-" + f.inq + "-1"}, f.createKeys())
			assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
			assert.Equal(t, 1, f.tokenCount(t))
			assert.Len(t, f.dest.received(), 1)
		})
	}
}

// A 500 or a 409 may come from a create that did, or will, make a token, so
// the key is kept, though Persona replays the stored answer to it for 24
// hours: no second token, at the price of a stuck inquiry.
func TestAmbiguousCreateRefusalKeepsTheKey(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusConflict} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			f := newFixture(t)
			f.fake.InjectFault(connecttest.Fault{Method: http.MethodPost, PathPrefix: createPath, Status: code})

			first, _ := f.post(t, "/inquiries/"+f.inq+"/completed")
			second, body := f.post(t, "/inquiries/"+f.inq+"/completed")

			assert.NotEqual(t, http.StatusOK, first)
			assert.Equal(t, first, second, body)
			assert.Equal(t, []string{"share-" + f.inq + "-1", "share-" + f.inq + "-1"}, f.createKeys())
			assert.Equal(t, 1, f.fake.Stats().Replays)
			assert.Zero(t, f.fake.Stats().ShareTokensCreated)
		})
	}
}

// Each expired token is replaced under the next attempt's key, and a
// restarted service with no memory walks the same keys to the same live
// token.
func TestExpiredTokensAreReplacedUnderTheNextKeys(t *testing.T) {
	f := newFixture(t)
	f.dest.status.Store(http.StatusBadGateway)
	_, failed := f.post(t, "/inquiries/"+f.inq+"/completed")
	require.Equal(t, true, failed["token_expired"])
	f.dest.status.Store(http.StatusOK)
	_, shared := f.post(t, "/inquiries/"+f.inq+"/completed")
	replacement := shared["share_token_id"].(string)
	require.NotEqual(t, failed["share_token_id"], replacement)

	status, again := postTo(t, f.restart(t).URL, "/inquiries/"+f.inq+"/completed")

	require.Equal(t, http.StatusOK, status, again)
	assert.Equal(t, replacement, again["share_token_id"])
	one, two := "share-"+f.inq+"-1", "share-"+f.inq+"-2"
	assert.Equal(t, []string{one, one, two, one, two}, f.createKeys())
	assert.Equal(t, 2, f.fake.Stats().ShareTokensCreated)
}
