package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	payload = `{"data":{"type":"event","id":"evt_1","attributes":{"name":"connect/share-token.inbound-created"}}}`
	secret  = "wbhsec_test_secret"
)

// webhookRun runs a webhooks leaf with no server; the secret must never
// reach the output.
func webhookRun(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	res := (*fixture)(nil).runEnv(t, env, stdin, args...)
	for _, v := range env {
		assertNoSecret(t, res, v)
	}
	return res
}

func TestWebhooksSign(t *testing.T) {
	env := map[string]string{"PERSONA_WEBHOOK_SECRET": secret}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	res := webhookRun(t, env, payload, "webhooks", "sign", "--time", "2025-01-01T00:00:00Z")
	require.Equal(t, 0, res.code, res.stderr)
	golden(t, "webhooks-sign", res)
	assert.Equal(t, connect.SignWebhookPayload([]byte(payload), secret, at)+"\n", res.stdout)

	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(payload), 0o600))
	unix := webhookRun(t, env, "", "webhooks", "sign", file, "--time", strconv.FormatInt(at.Unix(), 10), "--json")
	require.Equal(t, 0, unix.code, unix.stderr)
	got := decodeJSON(t, unix.stdout)
	assert.Equal(t, "Persona-Signature", got["header"])
	assert.Equal(t, strings.TrimSpace(res.stdout), got["value"], "a file and stdin sign the same bytes")

	secretFile := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret+"\n"), 0o600))
	fromFile := webhookRun(t, nil, payload, "webhooks", "sign", "-", "--secret-file", secretFile, "--time", "2025-01-01T00:00:00Z")
	assert.Equal(t, res.stdout, fromFile.stdout)
	assertNoSecret(t, fromFile, secret)
}

func TestWebhooksSignUsageErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
		want string
	}{
		"no secret":      {nil, []string{"webhooks", "sign"}, "no webhook secret"},
		"two secrets":    {map[string]string{"PERSONA_WEBHOOK_SECRET": "a,b"}, []string{"webhooks", "sign"}, "one secret, found 2"},
		"bad time":       {map[string]string{"PERSONA_WEBHOOK_SECRET": secret}, []string{"webhooks", "sign", "--time", "noon"}, "--time"},
		"missing file":   {map[string]string{"PERSONA_WEBHOOK_SECRET": secret}, []string{"webhooks", "sign", "/nonexistent/x.json"}, "payload"},
		"two files":      {map[string]string{"PERSONA_WEBHOOK_SECRET": secret}, []string{"webhooks", "sign", "a", "b"}, "unexpected argument"},
		"unknown flag":   {map[string]string{"PERSONA_WEBHOOK_SECRET": secret}, []string{"webhooks", "sign", "--secret", "x"}, "flag provided but not defined"},
		"no secret file": {nil, []string{"webhooks", "sign", "--secret-file", "/nonexistent/s"}, "--secret-file"},
	} {
		t.Run(name, func(t *testing.T) {
			res := webhookRun(t, tc.env, payload, tc.args...)
			assert.Equal(t, 2, res.code)
			assert.Contains(t, res.stderr, tc.want)
			assert.Empty(t, res.stdout)
		})
	}
}

func TestWebhooksVerify(t *testing.T) {
	now := time.Now()
	header := connect.SignWebhookPayload([]byte(payload), secret, now)
	env := map[string]string{"PERSONA_WEBHOOK_SECRET": "wbhsec_old, " + secret}

	ok := webhookRun(t, env, payload, "webhooks", "verify", "--signature", header)
	assert.Equal(t, 0, ok.code, ok.stderr)
	assert.Equal(t, "ok\n", ok.stdout)

	pasted := webhookRun(t, env, payload, "webhooks", "verify", "-", "--signature", "Persona-Signature: "+header, "--json")
	assert.Equal(t, 0, pasted.code, pasted.stderr)
	assert.Equal(t, map[string]any{"ok": true}, decodeJSON(t, pasted.stdout))

	tampered := webhookRun(t, env, payload+"\n", "webhooks", "verify", "--signature", header)
	assert.Equal(t, 1, tampered.code)
	assert.Empty(t, tampered.stdout)
	assert.Contains(t, tampered.stderr, "signature does not match")
	assert.Contains(t, tampered.stderr, "ends with a newline")

	wrongSecret := webhookRun(t, map[string]string{"PERSONA_WEBHOOK_SECRET": "wbhsec_other"}, payload,
		"webhooks", "verify", "--signature", header, "--json")
	assert.Equal(t, 1, wrongSecret.code)
	got := decodeJSON(t, wrongSecret.stdout)
	assert.Equal(t, false, got["ok"])
	assert.Contains(t, got["reason"], "no v1 signature matches the body")

	old := connect.SignWebhookPayload([]byte(payload), secret, now.Add(-time.Hour))
	stale := webhookRun(t, env, payload, "webhooks", "verify", "--signature", old)
	assert.Equal(t, 1, stale.code)
	assert.Contains(t, stale.stderr, "outside the tolerance")
	captured := webhookRun(t, env, payload, "webhooks", "verify", "--signature", old, "--ignore-age")
	assert.Equal(t, 0, captured.code, captured.stderr)
	assert.Equal(t, "ok\n", captured.stdout)
	assert.Contains(t, captured.stderr, "note:")

	none := webhookRun(t, env, payload, "webhooks", "verify", "--signature", " ")
	assert.Equal(t, 1, none.code)
	assert.Contains(t, none.stderr, "no Persona-Signature")

	secrets := filepath.Join(t.TempDir(), "secrets")
	require.NoError(t, os.WriteFile(secrets, []byte("wbhsec_old\n"+secret+"\n"), 0o600))
	file := filepath.Join(t.TempDir(), "event.json")
	require.NoError(t, os.WriteFile(file, []byte(payload), 0o600))
	fromFiles := webhookRun(t, nil, "", "webhooks", "verify", file, "--secret-file", secrets, "--signature", header)
	assert.Equal(t, 0, fromFiles.code, fromFiles.stderr)
	assertNoSecret(t, fromFiles, secret)

	golden(t, "webhooks-verify-errors",
		webhookRun(t, env, payload, "webhooks", "verify"),
		webhookRun(t, nil, payload, "webhooks", "verify", "--signature", "t=1,v1=00"),
		webhookRun(t, env, payload, "webhooks", "verify", "--signature", "t=1,v1=00"),
	)
}

func TestWebhooksRotateSecretHidesSecretsUnlessAsked(t *testing.T) {
	f := newFixture(t)
	const original = "wbhsec_original_secret_value"
	hook, err := f.srv.RegisterWebhook(f.acme, "http://127.0.0.1:9/hooks/persona", connecttest.WithWebhookSecret(original))
	require.NoError(t, err)

	hidden := f.run(t, f.acme, "webhooks", "rotate-secret", hook.ID, "--old-secret-expires-in", "1h", "--idempotency-key", "rotate-1")
	require.Equal(t, 0, hidden.code, hidden.stderr)
	golden(t, "webhooks-rotate-secret", hidden)
	afterFirst, ok := f.srv.Webhook(hook.ID)
	require.True(t, ok)
	require.Len(t, afterFirst.Secrets, 2, "the new secret and the old one, valid for an hour")
	for _, sec := range afterFirst.Secrets {
		assertNoSecret(t, hidden, sec.Value)
	}
	assert.Contains(t, string(f.srv.Requests()[0].Body), `"expires-in-seconds":3600`)
	assert.Equal(t, "rotate-1", f.srv.Requests()[0].Header.Get("Idempotency-Key"))

	f.clock.Advance(time.Minute)
	hiddenJSON := f.run(t, f.acme, "webhooks", "rotate-secret", hook.ID, "--json")
	require.Equal(t, 0, hiddenJSON.code, hiddenJSON.stderr)
	now, _ := f.srv.Webhook(hook.ID)
	for _, sec := range now.Secrets {
		assertNoSecret(t, hiddenJSON, sec.Value)
	}
	got := decodeJSON(t, hiddenJSON.stdout)
	assert.Equal(t, true, got["secrets-hidden"])
	assert.Contains(t, got, "current-secret")
	assert.Nil(t, got["current-secret"])
	secrets := got["secrets"].([]any)
	require.Len(t, secrets, 3)
	for _, s := range secrets {
		assert.Nil(t, s.(map[string]any)["value"], "a hidden value is null, never a placeholder a script could use")
	}
	assert.Nil(t, secrets[0].(map[string]any)["expires-at"], "the current secret comes first")

	f.clock.Advance(time.Minute)
	shown := f.run(t, f.acme, "webhooks", "rotate-secret", hook.ID, "--show-secret", "--json")
	require.Equal(t, 0, shown.code, shown.stderr)
	latest, _ := f.srv.Webhook(hook.ID)
	got = decodeJSON(t, shown.stdout)
	assert.Equal(t, false, got["secrets-hidden"])
	assert.Equal(t, latest.Secret, got["current-secret"])
	assert.Equal(t, latest.Secret, got["secrets"].([]any)[0].(map[string]any)["value"])
	assert.NotContains(t, shown.stderr, latest.Secret, "stderr never holds a secret")

	text := f.run(t, f.acme, "webhooks", "rotate-secret", hook.ID, "--show-secret", "--old-secret-expires-in", "0s")
	require.Equal(t, 0, text.code, text.stderr)
	final, _ := f.srv.Webhook(hook.ID)
	assert.Contains(t, text.stdout, final.Secret+"  current")
	assert.Empty(t, text.stderr)
}

func TestWebhooksRotateSecretErrors(t *testing.T) {
	f := newFixture(t)
	hook, err := f.srv.RegisterWebhook(f.bank, "http://127.0.0.1:9/hooks")
	require.NoError(t, err)
	for _, args := range [][]string{
		{"webhooks", "rotate-secret"},
		{"webhooks", "rotate-secret", "bad id"},
		{"webhooks", "rotate-secret", hook.ID, "--old-secret-expires-in", "1500ms"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
	}
	assert.Empty(t, f.srv.Requests())
	other := f.run(t, f.acme, "webhooks", "rotate-secret", hook.ID)
	assert.Equal(t, 1, other.code, "another organization's webhook is not found")
	assert.Contains(t, other.stderr, "status 404")
	unchanged, _ := f.srv.Webhook(hook.ID)
	assert.Equal(t, hook.Secret, unchanged.Secret)
}
