package connect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// fuzzSecrets are the secrets the fuzz targets verify with: two, as during
// a rotation.
var fuzzSecrets = []string{whSecretOld, whSecret}

// independentlyValid reports whether header holds a whitespace-separated
// group with a "t=" element within tolerance of now and a "v1=" element equal
// to the HMAC of "<t>.<body>" under one of secrets, checked without the
// SDK's parser. It is the fuzzer's oracle for soundness.
func independentlyValid(body []byte, header string, secrets []string, now time.Time, tolerance time.Duration) bool {
	for _, group := range strings.Fields(header) {
		var ts string
		var sigs []string
		for _, el := range strings.Split(group, ",") {
			switch {
			case strings.HasPrefix(el, "t="):
				ts = el[2:]
			case strings.HasPrefix(el, "v1="):
				sigs = append(sigs, strings.ToLower(el[3:]))
			}
		}
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			continue
		}
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			continue
		}
		for _, secret := range secrets {
			if secret == "" {
				continue
			}
			// The MAC covers the timestamp as written ("+1", "01").
			m := whMACRaw(secret, ts, body)
			for _, s := range sigs {
				if s == m {
					return true
				}
			}
		}
	}
	return false
}

func FuzzVerifyWebhookSignature(f *testing.F) {
	body := webhookFixture(f, "inbound_created")
	valid := whGroup(whSecret, whNow, body)
	old := whGroup(whSecretOld, whNow, body)
	bad := whGroup(whSecretBad, whNow, body)
	f.Add(body, valid)
	f.Add(body, old+" "+valid)
	f.Add(body, bad+" "+valid)
	f.Add(body, valid+" "+bad)
	f.Add(body, whGroup(whSecret, whNow.Add(-time.Hour), body))
	f.Add(body, whGroup(whSecret, whNow.Add(4*time.Minute), body))
	f.Add(body, bad)
	f.Add([]byte{}, whGroup(whSecret, whNow, nil))
	f.Add([]byte("{}"), whGroup(whSecret, whNow, []byte("{}"))+",v1="+whMAC(whSecretBad, whNow.Unix(), []byte("{}")))
	f.Add(body, "")
	for _, h := range webhookMalformedHeaders(body) {
		if len(h) < 4096 {
			f.Add(body, h)
		}
	}
	opts := []connect.WebhookOption{whClock()}
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := connect.VerifyWebhookSignature(body, header, fuzzSecrets, opts...)
		if err == nil {
			// Soundness: nil only when some group really is signed by one
			// of our secrets and fresh.
			if !independentlyValid(body, header, fuzzSecrets, whNow, connect.DefaultWebhookTolerance) {
				t.Fatalf("accepted a header that carries no valid fresh signature: %q", header)
			}
		} else {
			if !errors.Is(err, connect.ErrWebhookNoSignature) && !errors.Is(err, connect.ErrWebhookBadSignature) && !errors.Is(err, connect.ErrWebhookTooOld) {
				t.Fatalf("error wraps no webhook sentinel: %v", err)
			}
			for _, s := range fuzzSecrets {
				if strings.Contains(err.Error(), s) && !strings.Contains(header, s) {
					t.Fatalf("error carries a secret: %v", err)
				}
			}
		}
		// Completeness: a valid header for this body verifies, alone and as
		// the second group of a rotation.
		good := whGroup(whSecret, whNow, body)
		if e := connect.VerifyWebhookSignature(body, good, fuzzSecrets, opts...); e != nil {
			t.Fatalf("a valid signature of a %d-byte body was refused: %v", len(body), e)
		}
		if e := connect.VerifyWebhookSignature(body, whGroup(whSecretBad, whNow, body)+" "+good, fuzzSecrets, opts...); e != nil {
			t.Fatalf("a rotated header was refused: %v", e)
		}
	})
}

func FuzzParseWebhookEvent(f *testing.F) {
	for _, name := range webhookFixtureNames {
		for _, inf := range inflections {
			f.Add(webhookFixture(f, name+inf.suffix))
		}
	}
	f.Add([]byte(`{"Data":{"ID":"evt_A","Attributes":{"Name":"x","CreatedAt":"2023-08-17T23:18:13.000Z","Payload":{"data":{"type":"t","id":"i","attributes":{"fields":{"a_B":1}}}}}}}`))
	f.Add([]byte(`{"data":{"id":"evt_A","attributes":{"name":"connect/share-token.inbound-created","payload":{"data":null}}}}`))
	f.Add([]byte(`{"data":{"id":"evt_A","attributes":{"name":"connect/share-token.x","payload":{"data":{"id":"cnst_A","relationships":{"connect-connection":{"data":{"type":"connect/connection","id":"cxn_A"}}}}}}}}`))
	f.Add([]byte(`{"data":{"id":"evt_A","attributes":{"name":"x","created-at":"2023-08-17T23:18:13.000Z"}}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	opts := []connect.WebhookOption{whClock()}
	f.Fuzz(func(t *testing.T, body []byte) {
		header := connect.SignWebhookPayload(body, whSecret, whNow)
		ev, err := connect.ParseWebhookEvent(body, header, []string{whSecret}, opts...)
		if err != nil {
			if ev != nil {
				t.Fatalf("an event with an error: %+v, %v", ev, err)
			}
			if errors.Is(err, connect.ErrWebhookBadSignature) || errors.Is(err, connect.ErrWebhookTooOld) || errors.Is(err, connect.ErrWebhookNoSignature) {
				t.Fatalf("a validly signed body failed verification: %v", err)
			}
		} else {
			if ev == nil || ev.ID == "" || ev.Name == "" {
				t.Fatalf("an event without id or name: %+v", ev)
			}
			if ev.ShareToken != nil && !strings.HasPrefix(ev.Name, "connect/share-token.") {
				t.Fatalf("a share token in a %q event", ev.Name)
			}
			if ev.ShareToken != nil && ev.ShareToken.ID == "" {
				t.Fatalf("a share token without id")
			}
			assertPayloadIsKebab(t, ev)
		}

		// The handler agrees with ParseWebhookEvent: 200 for an event (handle
		// called once), 400 for a body it cannot decode (handle not called).
		calls := 0
		h := newWebhookHandler(t, []string{whSecret}, func(_ context.Context, got *connect.WebhookEvent) error {
			calls++
			if got.ID != ev.ID || got.Name != ev.Name {
				t.Fatalf("handler decoded %q/%q, ParseWebhookEvent %q/%q", got.ID, got.Name, ev.ID, ev.Name)
			}
			return nil
		}, whClock())
		req, _ := http.NewRequest(http.MethodPost, "https://hooks.example.com/persona", bytes.NewReader(body))
		req.Header.Set("Persona-Signature", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch {
		case err == nil && (w.Code != http.StatusOK || calls != 1):
			t.Fatalf("handler answered %d with %d calls for a valid event", w.Code, calls)
		case err != nil && (w.Code != http.StatusBadRequest || calls != 0):
			t.Fatalf("handler answered %d with %d calls for a malformed event (%v)", w.Code, calls, err)
		}
	})
}

// assertPayloadIsKebab checks that ev.Payload is already in the form the SDK
// gives every inflection: delivered again in a kebab-case envelope, it comes
// back byte for byte, with the same token.
func assertPayloadIsKebab(t *testing.T, ev *connect.WebhookEvent) {
	t.Helper()
	if len(ev.Payload) == 0 {
		return
	}
	id, _ := json.Marshal(ev.ID)
	name, _ := json.Marshal(ev.Name)
	body := []byte(`{"data":{"type":"event","id":` + string(id) + `,"attributes":{"name":` + string(name) + `,"payload":` + string(ev.Payload) + `}}}`)
	again, err := connect.ParseWebhookEvent(body, connect.SignWebhookPayload(body, whSecret, whNow), []string{whSecret}, whClock())
	if err != nil {
		t.Fatalf("the payload of a parsed event does not parse again: %v", err)
	}
	if !bytes.Equal(again.Payload, ev.Payload) {
		t.Fatalf("payload changed on a second parse: %q then %q", ev.Payload, again.Payload)
	}
	if !reflect.DeepEqual(again.ShareToken, ev.ShareToken) {
		t.Fatalf("token changed on a second parse: %+v then %+v", ev.ShareToken, again.ShareToken)
	}
}
