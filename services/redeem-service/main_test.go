package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/personaconnect/connect-go/services/internal/testdb"
	"github.com/personaconnect/connect-go/services/internal/testlog"
)

const testWebhookSecret = "wbhsec_main_test"

// share is a fake Persona with a source (acme), a destination (bank) over
// an active connection, and a completed inquiry of acme.
type share struct {
	fake       *connecttest.Server
	acme, bank *connecttest.Organization
	cxn, inq   string
}

func newShare(t *testing.T) *share {
	t.Helper()
	s := &share{fake: connecttest.NewServer()}
	t.Cleanup(s.fake.Close)
	s.acme = s.fake.NewOrganization("Acme KYC")
	s.bank = s.fake.NewOrganization("Bank")
	s.cxn = s.fake.NewActiveConnection(s.acme, s.bank)
	s.inq = s.fake.NewInquiry(s.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	return s
}

// getJSON reads url and decodes its JSON answer.
func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// eventuallyStatus polls url until it answers want, settling the fake's
// tokens on every round.
func eventuallyStatus(t *testing.T, fake *connecttest.Server, url string, want int) map[string]any {
	t.Helper()
	var body map[string]any
	require.Eventually(t, func() bool {
		_, _ = fake.ShareToken("settle")
		var code int
		code, body = getJSON(t, url)
		return code == want
	}, 60*time.Second, 20*time.Millisecond, "%s never answered %d; last: %v", url, want, body)
	return body
}

// TestRunServesUntilCancelled runs the command in process with its flags and
// environment: it listens, redeems a hand-over (reconciliation reads the
// outcome: no webhook here), and returns nil once ctx ends, with neither the
// API key nor a webhook secret in its log.
func TestRunServesUntilCancelled(t *testing.T) {
	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		s := newShare(t)
		env := map[string]string{
			"PERSONA_API_KEY": s.bank.APIKey, "PERSONA_BASE_URL": s.fake.URL, "DATABASE_URL": db.DatabaseURL,
			"PERSONA_WEBHOOK_SECRETS": " wbhsec_old , " + testWebhookSecret + ",, ",
		}
		logs := testlog.NewSink()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			errc <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "r.db"),
				"-reconcile-interval", "1s", "-reconcile-after", "1ms", "-catch-up-interval", "-1s"},
				func(k string) string { return env[k] }, logs)
		}()
		base := "http://" + logs.ListeningAddr(t)

		tok, err := connectClient(t, s, s.acme).ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: s.cxn, SourceID: s.inq})
		require.NoError(t, err)
		resp, err := http.Post(base+"/share-tokens", "application/json", strings.NewReader(`{"share_token_id":"`+tok.ID+`"}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		body := eventuallyStatus(t, s.fake, base+"/share-tokens/"+tok.ID, http.StatusOK)
		assert.Equal(t, "redeemed", body["state"])
		cancel()

		require.NoError(t, <-errc)
		assert.Contains(t, logs.String(), `"webhook_secrets":2`, "PERSONA_WEBHOOK_SECRETS is a comma-separated list")
		want := `"database":"postgres"`
		if db.DatabaseURL == "" {
			want = `"database":"sqlite:`
		}
		assert.Contains(t, logs.String(), want)
		assert.Equal(t, 1, logs.Count("shutting down"))
		assert.NotContains(t, logs.String(), s.bank.APIKey)
		assert.NotContains(t, logs.String(), testWebhookSecret)
	})
}

func connectClient(t *testing.T, s *share, org *connecttest.Organization) *connect.Client {
	t.Helper()
	c, err := connect.NewClient(org.APIKey, connect.WithBaseURL(s.fake.URL), connect.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	return c
}

// A configuration the command cannot run with is an error that names what
// is wrong, before any database is opened.
func TestRunRefusesABadConfiguration(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PERSONA_API_KEY": "persona_sandbox_secret"}
	cases := []struct {
		name string
		args []string
		env  func(string) string
		want string
	}{
		{"no API key", []string{"-db", filepath.Join(dir, "a.db")}, func(string) string { return "" }, "PERSONA_API_KEY"},
		{"an argument", []string{"-db", filepath.Join(dir, "b.db"), "extra"}, func(k string) string { return env[k] }, "unexpected arguments: [extra]"},
		{"a bad duration", []string{"-reconcile-after", "soon"}, func(k string) string { return env[k] }, "invalid value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), c.args, c.env, &stderr)
			require.ErrorContains(t, err, c.want)
			assert.NotContains(t, err.Error()+stderr.String(), "persona_sandbox_secret")
		})
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no database was created")

	var stderr bytes.Buffer
	require.ErrorIs(t, run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stderr), flag.ErrHelp)
	for _, f := range []string{"-addr", "-db", "-reconcile-interval", "-reconcile-after", "-catch-up-interval", "-rescue-after", "-retry-max", "-shutdown-timeout"} {
		assert.Contains(t, stderr.String(), "  "+f+" ", "usage lists %s", f)
	}
	assert.Contains(t, stderr.String(), `(default "localhost:8082")`)
	assert.Contains(t, stderr.String(), "usage: redeem-service [flags]\nenvironment: PERSONA_API_KEY (required)")
}

// TestEndToEndWithSourceBackend builds both services and runs them as
// programs against one fake Persona, each on a database of its own, the
// source-backend's DESTINATION_URL pointing at the redeem-service: one
// inquiry-completed notification ends with the inquiry's clone in the
// destination's organization, redeemed once.
func TestEndToEndWithSourceBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both services")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./redeem-service", "./source-backend")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	testdb.ForEachBackend(t, func(t *testing.T, db testdb.Target) {
		s := newShare(t)
		sourceDB := testdb.Target{SQLitePath: filepath.Join(t.TempDir(), "source.db")}
		if db.DatabaseURL != "" {
			sourceDB = testdb.Postgres(t) // River's tables are per service
		}
		fast := []string{"-addr", "127.0.0.1:0", "-reconcile-interval", "1s", "-reconcile-after", "1ms", "-shutdown-timeout", "5s"}
		redeem, redeemLogs := start(t, bin+"/redeem-service", append(fast, "-db", db.SQLitePath, "-catch-up-interval", "-1s"),
			"PERSONA_API_KEY="+s.bank.APIKey, "PERSONA_BASE_URL="+s.fake.URL, "DATABASE_URL="+db.DatabaseURL)
		redeemURL := "http://" + redeemLogs.ListeningAddr(t)
		source, sourceLogs := start(t, bin+"/source-backend", append(fast, "-db", sourceDB.SQLitePath),
			"PERSONA_API_KEY="+s.acme.APIKey, "PERSONA_BASE_URL="+s.fake.URL, "DATABASE_URL="+sourceDB.DatabaseURL,
			"PERSONA_CONNECTION_ID="+s.cxn, "DESTINATION_URL="+redeemURL+"/share-tokens")
		sourceURL := "http://" + sourceLogs.ListeningAddr(t)

		resp, err := http.Post(sourceURL+"/inquiries/"+s.inq+"/completed", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		inquiry := eventuallyStatus(t, s.fake, sourceURL+"/inquiries/"+s.inq, http.StatusOK)
		id, _ := inquiry["share_token_id"].(string)
		require.NotEmpty(t, id, "%v", inquiry)
		token := eventuallyStatus(t, s.fake, redeemURL+"/share-tokens/"+id, http.StatusOK)

		dest, _ := token["destination"].(map[string]any)
		require.NotNil(t, dest, "%v", token)
		clone, ok := s.fake.Object(dest["id"].(string))
		require.True(t, ok)
		assert.Equal(t, s.inq, clone.ClonedFrom)
		assert.Equal(t, s.bank.ID, clone.OrganizationID)
		assert.Equal(t, "Lovelace", clone.Fields["name-last"])
		assert.Equal(t, 1, s.fake.Stats().ShareTokensCreated)
		assert.Equal(t, 1, s.fake.Stats().Redemptions)

		for _, p := range []struct {
			cmd  *exec.Cmd
			logs *testlog.Sink
			key  string
		}{{source, sourceLogs, s.acme.APIKey}, {redeem, redeemLogs, s.bank.APIKey}} {
			require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
			require.NoError(t, p.cmd.Wait(), "graceful shutdown; log:\n%s", p.logs.String())
			assert.NotContains(t, p.logs.String(), p.key)
		}
		assert.Equal(t, 1, sourceLogs.Count("share token handed over"))
		assert.Equal(t, 1, redeemLogs.Count("share token finished"))
	})
}

// start runs a built service with args and env added to the test's
// environment; cleanup kills it if the test did not stop it.
func start(t *testing.T, bin string, args []string, env ...string) (*exec.Cmd, *testlog.Sink) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logs := testlog.NewSink()
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, logs
}
