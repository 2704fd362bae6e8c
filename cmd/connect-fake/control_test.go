package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// running is connect-fake run in-process with -json.
type running struct {
	seed   seed
	stderr *syncBuffer
	hc     *http.Client
}

// startJSON runs the fake with -json and args until the test ends, and
// returns the seed it printed.
func startJSON(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-json"}, args...), &out, &errOut)
	}()
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
			assert.Contains(t, errOut.String(), "connect-fake: stopped")
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, errOut.String())
		default:
		}
		return strings.HasSuffix(out.String(), "\n")
	}, 10*time.Second, 5*time.Millisecond)
	r := &running{stderr: &errOut, hc: hc}
	require.Equal(t, 1, strings.Count(out.String(), "\n"), "one line of JSON: %s", out.String())
	require.NoError(t, json.Unmarshal([]byte(out.String()), &r.seed))
	return r
}

// control calls the control API and decodes its answer into out (when not
// nil), returning the status.
func (r *running) control(t *testing.T, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(t, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.seed.ControlURL+path, body)
	require.NoError(t, err)
	resp, err := r.hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, out), "%s", raw)
	}
	return resp.StatusCode
}

func (r *running) client(t *testing.T, key string) *connect.Client {
	t.Helper()
	// Short retry waits: a retried fault costs no real time.
	c, err := connect.NewClient(key, connect.WithBaseURL(r.seed.URL), connect.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestJSONSeed(t *testing.T) {
	r := startJSON(t)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api/v1$`, r.seed.URL)
	assert.Equal(t, strings.TrimSuffix(r.seed.URL, "/api/v1")+"/_fake", r.seed.ControlURL)
	assert.Regexp(t, `^org_\w+$`, r.seed.Source.ID)
	assert.Regexp(t, `^persona_sandbox_\w+$`, r.seed.Destination.APIKey)
	assert.Regexp(t, `^cxn_\w+$`, r.seed.ConnectionID)
	assert.Regexp(t, `^inq_\w+$`, r.seed.InquiryID)
	assert.False(t, r.seed.ManualClock)

	c, err := r.client(t, r.seed.Source.APIKey).Connections.Get(context.Background(), r.seed.ConnectionID)
	require.NoError(t, err)
	assert.Equal(t, connect.ConnectionStatusActive, c.Status)
}

func TestRequestLogHasNoKeys(t *testing.T) {
	r := startJSON(t)
	_, err := r.client(t, r.seed.Source.APIKey).Connections.Get(context.Background(), r.seed.ConnectionID)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, r.control(t, "GET", "/nope", nil, nil))
	require.Eventually(t, func() bool { return strings.Count(r.stderr.String(), "\n") >= 2 }, 5*time.Second, 5*time.Millisecond)
	log := r.stderr.String()
	assert.Regexp(t, `(?m) GET /api/v1/connect/connections/`+r.seed.ConnectionID+` 200 [\d.]+[µm]?s req_\w+$`, log)
	assert.Regexp(t, `(?m) GET /_fake/nope 404 [\d.]+[µm]?s -$`, log)
	for _, secret := range []string{r.seed.Source.APIKey, r.seed.Destination.APIKey} {
		assert.NotContains(t, log, secret)
	}
}

// TestControlAPIShare drives a whole share through the control API and the
// SDK: a new pair of organizations, a pending connection accepted, objects,
// a webhook, a fault, the clock, the record and a reset.
func TestControlAPIShare(t *testing.T) {
	r := startJSON(t, "-clock", "2025-01-01T00:00:00Z", "-redeem-delay", "10s", "-quiet")
	require.True(t, r.seed.ManualClock)
	ctx := context.Background()

	var src, dst organizationJSON
	require.Equal(t, 200, r.control(t, "POST", "/organizations", map[string]any{"name": "Src"}, &src))
	require.Equal(t, 200, r.control(t, "POST", "/organizations", map[string]any{"name": "Dst"}, &dst))
	assert.Regexp(t, `^persona_sandbox_`, src.APIKey)
	var inq struct{ ID string }
	require.Equal(t, 200, r.control(t, "POST", "/inquiries", map[string]any{"organization_id": src.ID,
		"fields": map[string]any{"name-first": "Grace"}}, &inq))
	var ver struct{ ID string }
	require.Equal(t, 200, r.control(t, "POST", "/verifications", map[string]any{"organization_id": src.ID,
		"type": "verification/database", "fields": map[string]any{"country-code": "US"}}, &ver))
	assert.Regexp(t, `^ver_`, ver.ID)

	// Webhook receiver: the destination's, signed as Persona signs.
	var mu sync.Mutex
	var events []*connect.WebhookEvent
	var hook webhookJSON
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mu.Lock()
		defer mu.Unlock()
		ev, err := connect.ParseWebhookEvent(body, req.Header.Get("Persona-Signature"), []string{hook.Secret},
			connect.WithWebhookClock(func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }))
		if err != nil {
			w.WriteHeader(401)
			return
		}
		events = append(events, ev)
	}))
	defer web.Close()
	require.Equal(t, 200, r.control(t, "POST", "/webhooks", map[string]any{"organization_id": dst.ID, "url": web.URL,
		"enabled_events": []string{"connect/share-token.inbound-created"}, "key_inflection": "camel"}, &hook))
	assert.Equal(t, "camel", hook.KeyInflection, "deliveries come camelCase; the SDK decodes them like kebab")
	var bad map[string]string
	assert.Equal(t, 400, r.control(t, "POST", "/webhooks", map[string]any{"organization_id": dst.ID, "url": "http://example.com/"}, &bad))
	assert.Contains(t, bad["error"], "not loopback")

	source, dest := r.client(t, src.APIKey), r.client(t, dst.APIKey)
	cxn, err := source.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: dst.ID})
	require.NoError(t, err)
	var accepted connectionJSON
	require.Equal(t, 200, r.control(t, "POST", "/connections/"+cxn.ID+"/accept", nil, &accepted))
	assert.Equal(t, "active", accepted.Status)
	assert.Equal(t, 409, r.control(t, "POST", "/connections/"+cxn.ID+"/accept", nil, nil), "not pending any more")

	// A fault first: the SDK retries through one 503.
	require.Equal(t, 204, r.control(t, "POST", "/faults", map[string]any{"method": "POST", "path_prefix": "/connect/share-tokens", "status": 503}, nil))
	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: cxn.ID, SourceID: inq.ID})
	require.NoError(t, err)
	var stats map[string]int
	r.control(t, "GET", "/stats", nil, &stats)
	assert.Equal(t, 1, stats["faults"])

	var waited map[string]any
	require.Equal(t, 200, r.control(t, "POST", "/webhook-deliveries/wait", map[string]any{"timeout": "10s"}, &waited))
	assert.Empty(t, waited["failures"])
	mu.Lock()
	require.Len(t, events, 1)
	assert.Equal(t, tok.ID, events[0].ShareToken.ID)
	assert.Equal(t, connect.ShareTokenStatusCreated, events[0].ShareToken.Status)
	assert.False(t, events[0].ShareToken.CreatedAt.IsZero(), "createdAt decoded from the camel body")
	assert.Contains(t, string(events[0].Payload), `"created-at"`, "the payload comes out kebab")
	mu.Unlock()

	_, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	require.NoError(t, err)
	var still map[string]string
	assert.Equal(t, 408, r.control(t, "POST", "/share-tokens/"+tok.ID+"/wait", map[string]any{"status": []string{"redeemed"}, "timeout": "1ms"}, &still))
	assert.Contains(t, still["error"], "still pending")
	var clock map[string]time.Time
	require.Equal(t, 200, r.control(t, "POST", "/clock/advance", map[string]any{"duration": "10s"}, &clock))
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC), clock["now"].UTC())
	var redeemed shareTokenJSON
	require.Equal(t, 200, r.control(t, "POST", "/share-tokens/"+tok.ID+"/wait", map[string]any{"status": []string{"redeemed", "failed"}}, &redeemed))
	assert.Equal(t, "redeemed", redeemed.Status)

	var clone objectJSON
	require.Equal(t, 200, r.control(t, "GET", "/objects/"+redeemed.DestinationID, nil, &clone))
	assert.Equal(t, inq.ID, clone.ClonedFrom)
	assert.Equal(t, dst.ID, clone.OrganizationID)
	assert.Equal(t, "Grace", clone.Fields["name-first"])

	var reqs struct{ Data []requestJSON }
	require.Equal(t, 200, r.control(t, "GET", "/requests", nil, &reqs))
	require.NotEmpty(t, reqs.Data)
	for _, q := range reqs.Data {
		assert.Equal(t, []string{"[redacted]"}, q.Header["Authorization"])
	}

	var rotated webhookJSON
	require.Equal(t, 200, r.control(t, "POST", "/webhooks/"+hook.ID+"/rotate-secret", map[string]any{"expires_in": "1h"}, &rotated))
	assert.NotEqual(t, hook.Secret, rotated.Secret)
	require.Len(t, rotated.Secrets, 2)
	assert.Equal(t, hook.Secret, rotated.Secrets[1].Value)

	// Reset: everything is forgotten; the seed is made anew on request.
	var fresh seed
	require.Equal(t, 200, r.control(t, "POST", "/reset", map[string]any{"seed": true}, &fresh))
	assert.NotEqual(t, r.seed.Source.APIKey, fresh.Source.APIKey)
	assert.Equal(t, 404, r.control(t, "GET", "/objects/"+clone.ID, nil, nil))
	_, err = r.client(t, fresh.Source.APIKey).Connections.Get(ctx, fresh.ConnectionID)
	require.NoError(t, err)
	require.Equal(t, 200, r.control(t, "GET", "/clock", nil, &clock))
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 10, 0, time.UTC), clock["now"].UTC(), "the clock keeps its time")
}

func TestControlAPIRefusesBadInput(t *testing.T) {
	r := startJSON(t, "-quiet")
	for _, c := range []struct {
		method, path string
		in           any
		status       int
		want         string
	}{
		{"POST", "/organizations", map[string]any{}, 400, "name is required"},
		{"POST", "/organizations", map[string]any{"name": "x", "nmae": "y"}, 400, `unknown field "nmae"`},
		{"POST", "/inquiries", map[string]any{"organization_id": "org_nope"}, 404, `no organization "org_nope"`},
		{"POST", "/verifications", map[string]any{"organization_id": r.seed.Source.ID, "type": "verification/selfie"}, 400, "type must be one of"},
		{"POST", "/clock/advance", map[string]any{"duration": "1s"}, 409, "-clock manual"},
		{"POST", "/faults", map[string]any{"status": 42}, 400, "status must be an HTTP status"},
		{"POST", "/faults", map[string]any{}, 400, "a fault needs"},
		{"POST", "/connections", map[string]any{"source_organization_id": r.seed.Source.ID, "destination_organization_id": r.seed.Source.ID}, 400, "itself"},
		{"GET", "/share-tokens/cnst_nope", nil, 404, "no share token"},
		{"POST", "/webhooks/wbh_nope/rotate-secret", nil, 404, "not found"},
		{"POST", "/share-tokens/x/wait", map[string]any{"status": []string{"redeemed"}, "timeout": "1h"}, 400, "timeout must be"},
	} {
		var got map[string]string
		assert.Equal(t, c.status, r.control(t, c.method, c.path, c.in, &got), "%s %s", c.method, c.path)
		assert.Contains(t, got["error"], c.want, "%s %s", c.method, c.path)
	}
}
