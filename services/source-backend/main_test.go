package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/testdb"
	"github.com/personaconnect/connect-go/services/internal/testlog"
)

// TestRunServesUntilCancelled runs the command in process with its flags and
// environment: it listens, creates a token with -token-ttl's lifetime for a
// notified inquiry and hands it to DESTINATION_URL, and returns nil once ctx
// ends, with no API key in its log.
func TestRunServesUntilCancelled(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		fake := connecttest.NewServer()
		t.Cleanup(fake.Close)
		acme, bank := fake.NewOrganization("Acme KYC"), fake.NewOrganization("Bank")
		cxn := fake.NewActiveConnection(acme, bank)
		inq := fake.NewInquiry(acme, map[string]any{"name-first": "Ada"})
		var mu sync.Mutex
		var handed []string
		dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in struct {
				ShareTokenID string `json:"share_token_id"`
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			mu.Lock()
			handed = append(handed, in.ShareTokenID)
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		t.Cleanup(dest.Close)
		env := map[string]string{
			"PERSONA_API_KEY": acme.APIKey, "PERSONA_BASE_URL": fake.URL, "DATABASE_URL": db.DatabaseURL,
			"PERSONA_CONNECTION_ID": cxn, "DESTINATION_URL": dest.URL + "/share-tokens",
		}
		logs := testlog.NewSink()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "s.db"), "-token-ttl", "2h"},
				func(k string) string { return env[k] }, logs)
		}()
		base := "http://" + logs.ListeningAddr(t)

		resp, err := http.Post(base+"/inquiries/"+inq+"/completed", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		var body map[string]any
		require.Eventually(t, func() bool {
			resp, err := http.Get(base + "/inquiries/" + inq)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			return resp.StatusCode == http.StatusOK
		}, 60*time.Second, 20*time.Millisecond, "handed over")
		id, _ := body["share_token_id"].(string)
		mu.Lock()
		assert.Equal(t, []string{id}, handed)
		mu.Unlock()
		tok, ok := fake.ShareToken(id)
		require.True(t, ok)
		assert.Equal(t, 2*time.Hour, tok.ExpiresAt.Sub(tok.CreatedAt))
		cancel()

		require.NoError(t, <-errc)
		assert.Contains(t, logs.String(), `"connection_id":"`+cxn+`"`)
		assert.Contains(t, logs.String(), `"webhook_secrets":0`)
		assert.Equal(t, 1, logs.Count("shutting down"))
		assert.NotContains(t, logs.String(), acme.APIKey)
	})
}

// A configuration the command cannot run with is an error that names what
// is wrong, before any database is opened, and never shows the API key.
func TestRunRefusesABadConfiguration(t *testing.T) {
	dir := t.TempDir()
	good := map[string]string{
		"PERSONA_API_KEY": "persona_sandbox_secret", "PERSONA_CONNECTION_ID": "cxn_1", "DESTINATION_URL": "http://localhost:8082/share-tokens",
	}
	with := func(k, v string) func(string) string {
		return func(name string) string {
			if name == k {
				return v
			}
			return good[name]
		}
	}
	cases := []struct {
		name string
		args []string
		env  func(string) string
		want []string
	}{
		{"nothing set", nil, func(string) string { return "" }, []string{"missing environment variables [PERSONA_API_KEY PERSONA_CONNECTION_ID DESTINATION_URL]"}},
		{"no connection", nil, with("PERSONA_CONNECTION_ID", ""), []string{"[PERSONA_CONNECTION_ID]"}},
		{"relative destination", nil, with("DESTINATION_URL", "localhost:8082"), []string{`DESTINATION_URL must be an absolute http(s) URL, got "localhost:8082"`}},
		{"an argument", []string{"extra"}, with("", ""), []string{"unexpected arguments: [extra]"}},
		{"a bad duration", []string{"-handover-timeout", "soon"}, with("", ""), []string{"invalid value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), append([]string{"-db", filepath.Join(dir, "s.db")}, c.args...), c.env, &stderr)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error()+stderr.String(), "persona_sandbox_secret")
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no database was created")

	var stderr bytes.Buffer
	require.ErrorIs(t, run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stderr), flag.ErrHelp)
	for _, f := range []string{"-addr", "-db", "-token-ttl", "-handover-timeout", "-handover-attempts", "-reconcile-interval",
		"-reconcile-after", "-rescue-after", "-retry-max", "-shutdown-timeout"} {
		assert.Contains(t, stderr.String(), "  "+f+" ", "usage lists %s", f)
	}
	assert.Contains(t, stderr.String(), `(default "localhost:8081")`)
	assert.Contains(t, stderr.String(), "(default 10m0s)")
	assert.Contains(t, stderr.String(), "usage: source-backend [flags]\nenvironment: PERSONA_API_KEY, PERSONA_CONNECTION_ID, DESTINATION_URL (required)")
}
