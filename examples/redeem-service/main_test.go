package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logSink collects a service's JSON log lines and hands over the address of
// its "listening" record.
type logSink struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	addr    chan string
}

func newLogSink() *logSink { return &logSink{addr: make(chan string, 1)} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(l.partial[:i], &rec) == nil && rec.Msg == "listening" {
			l.addr <- rec.Addr
		}
		l.partial = l.partial[i+1:]
	}
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

func (l *logSink) listeningAddr(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-l.addr:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatalf("the service did not start listening; its log:\n%s", l.String())
		return ""
	}
}

func TestRunServesUntilCancelled(t *testing.T) {
	f := newFixture(t, nil)
	env := map[string]string{"PERSONA_API_KEY": f.bank.APIKey, "PERSONA_BASE_URL": f.fake.URL, "PERSONA_WEBHOOK_SECRETS": testWebhookSecret}
	logs := newLogSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, logs)
	}()
	base := "http://" + logs.listeningAddr(t)

	id := f.newToken(t)
	resp, err := http.Post(base+"/share-tokens", "application/json", bytes.NewReader([]byte(tokenBody(id))))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()

	require.NoError(t, <-errc)
	assert.Contains(t, logs.String(), `"msg":"share token redeemed"`)
	assert.NotContains(t, logs.String(), f.bank.APIKey)
	assert.NotContains(t, logs.String(), testWebhookSecret)
}

// TestEndToEndWithSourceBackend runs examples/source-backend, built from
// source, against the same fake, with its DESTINATION_URL pointing at this
// service: one inquiry-completed notification ends with the clone in the
// destination's organization.
func TestEndToEndWithSourceBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/source-backend")
	}
	f := newFixture(t, nil)
	bin := filepath.Join(t.TempDir(), "source-backend")
	out, err := exec.Command("go", "build", "-o", bin, "../source-backend").CombinedOutput()
	require.NoError(t, err, "go build ../source-backend: %s", out)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(),
		"PERSONA_API_KEY="+f.acme.APIKey, "PERSONA_BASE_URL="+f.fake.URL,
		"PERSONA_CONNECTION_ID="+f.cxn, "DESTINATION_URL="+f.web.URL+"/share-tokens")
	logs := newLogSink()
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	source := "http://" + logs.listeningAddr(t)

	resp, err := http.Post(source+"/inquiries/"+f.inq+"/completed", "application/json", nil)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	id := body["share_token_id"].(string)
	got, err := f.svc.Await(context.Background(), id)
	require.NoError(t, err)
	require.NotNil(t, got.Destination)
	clone, ok := f.fake.Object(got.Destination.ID)
	require.True(t, ok)
	assert.Equal(t, f.inq, clone.ClonedFrom)
	assert.Equal(t, f.bank.ID, clone.OrganizationID)
	assert.Equal(t, "Lovelace", clone.Fields["name-last"])
	assert.Equal(t, 1, f.fake.Stats().ShareTokensCreated)
	assert.Equal(t, 1, f.redemptions())

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	require.NoError(t, cmd.Wait(), "graceful shutdown; log:\n%s", logs.String())
	assert.Contains(t, logs.String(), `"msg":"share token handed over"`)
	assert.NotContains(t, logs.String(), f.acme.APIKey)
}
