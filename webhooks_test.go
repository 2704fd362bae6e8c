package connect_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// The webhook secrets of the tests: whSecret is the current one (in the
// shape of the rotate-secret example), whSecretOld the one being rotated out.
const (
	whSecret    = "wbhsec_abcdefgh-1234-5678-9ijk-lmnopqrstuvw"
	whSecretOld = "wbhsec_zyxwvuts-9876-5432-1abc-defghijklmno"
	whSecretBad = "wbhsec_not-ours-0000-0000-0000-000000000000"
)

// whNow is the tests' "now": 2023-08-17T23:18:13Z, when the fixtures' events
// happen.
var whNow = time.Unix(1692314293, 0)

// whClock pins the tolerance check to whNow.
func whClock() connect.WebhookOption {
	return connect.WithWebhookClock(func() time.Time { return whNow })
}

// whMAC is the signature computed independently of the SDK: hex HMAC-SHA256
// keyed with secret over "<t>.<body>".
func whMAC(secret string, ts int64, body []byte) string {
	return whMACRaw(secret, strconv.FormatInt(ts, 10), body)
}

// whMACRaw is whMAC with the timestamp as written in the header.
func whMACRaw(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}

// whGroup is one "t=…,v1=…" group signed independently of the SDK.
func whGroup(secret string, at time.Time, body []byte) string {
	return fmt.Sprintf("t=%d,v1=%s", at.Unix(), whMAC(secret, at.Unix(), body))
}

// webhookFixture returns testdata/webhooks/<name>.json.
func webhookFixture(t testing.TB, name string) []byte {
	t.Helper()
	return fixture(t, "webhooks/"+name+".json")
}

// webhookFixtureNames are the event fixtures, four Connect events and one
// other.
var webhookFixtureNames = []string{"inbound_created", "inbound_redeemed", "outbound_created", "outbound_redeemed", "inquiry_completed"}

// fixturePayload returns data.attributes.payload of an event body, decoded
// without the SDK.
func fixturePayload(t testing.TB, body []byte) string {
	t.Helper()
	var env struct {
		Data struct {
			Attributes struct {
				Payload json.RawMessage `json:"payload"`
			} `json:"attributes"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &env))
	require.NotEmpty(t, env.Data.Attributes.Payload)
	return string(env.Data.Attributes.Payload)
}

// assertNoSecretIn fails when s carries any test secret or a valid MAC.
func assertNoSecretIn(t testing.TB, s string, body []byte) {
	t.Helper()
	for _, secret := range []string{whSecret, whSecretOld, whSecretBad} {
		assert.NotContains(t, s, secret)
		assert.NotContains(t, s, secret[len("wbhsec_"):len("wbhsec_")+8], "a piece of a secret")
		assert.NotContains(t, s, whMAC(secret, whNow.Unix(), body), "a valid signature")
	}
}

// --- SignWebhookPayload ---

func TestSignWebhookPayloadKnownVector(t *testing.T) {
	// Computed outside Go with:
	//   printf '%s' '1692314293.{"data":{"type":"event","id":"evt_TEST"}}' |
	//   openssl dgst -sha256 -hmac 'wbhsec_abcdefgh-1234-5678-9ijk-lmnopqrstuvw'
	body := []byte(`{"data":{"type":"event","id":"evt_TEST"}}`)
	got := connect.SignWebhookPayload(body, whSecret, whNow)
	assert.Equal(t, "t=1692314293,v1=47ae7823cdbab2f1700a8a6aca932265206662b879cf9d5f8464c60e6ce92a4c", got)
}

func TestSignWebhookPayloadMatchesIndependentHMAC(t *testing.T) {
	format := regexp.MustCompile(`^t=[0-9]+,v1=[0-9a-f]{64}$`)
	cases := []struct {
		name   string
		body   []byte
		secret string
		at     time.Time
	}{
		{"fixture", webhookFixture(t, "inbound_created"), whSecret, whNow},
		{"empty body", nil, whSecret, whNow},
		{"binary body", []byte{0, 0xff, '.', '\n', 0x80}, whSecretOld, whNow},
		{"unicode secret", []byte(`{"a":"é"}`), "wbhsec_ключ-🔑", whNow},
		{"sub-second time truncates", []byte(`{}`), whSecret, whNow.Add(999 * time.Millisecond)},
		{"other zone", []byte(`{}`), whSecret, whNow.In(time.FixedZone("X", -7*3600))},
		{"early time", []byte(`{}`), whSecret, time.Unix(1, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := connect.SignWebhookPayload(tc.body, tc.secret, tc.at)
			assert.Regexp(t, format, got)
			ts := tc.at.Unix()
			assert.Equal(t, "t="+strconv.FormatInt(ts, 10)+",v1="+whMAC(tc.secret, ts, tc.body), got)
		})
	}
	// Different secrets, bodies and times give different signatures.
	b := []byte(`{}`)
	s := connect.SignWebhookPayload(b, whSecret, whNow)
	assert.NotEqual(t, s, connect.SignWebhookPayload(b, whSecretOld, whNow))
	assert.NotEqual(t, s, connect.SignWebhookPayload([]byte(`{ }`), whSecret, whNow))
	assert.NotEqual(t, s, connect.SignWebhookPayload(b, whSecret, whNow.Add(time.Second)))
}

// --- VerifyWebhookSignature ---

func TestVerifyWebhookSignatureValid(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	require.NoError(t, connect.VerifyWebhookSignature(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock()))
	// The SDK's own signer round-trips, with the real clock.
	require.NoError(t, connect.VerifyWebhookSignature(body, connect.SignWebhookPayload(body, whSecret, time.Now()), []string{whSecret}))
	// Upper-case hex is the same MAC.
	upper := fmt.Sprintf("t=%d,v1=%s", whNow.Unix(), strings.ToUpper(whMAC(whSecret, whNow.Unix(), body)))
	require.NoError(t, connect.VerifyWebhookSignature(body, upper, []string{whSecret}, whClock()))
	// Surrounding white space is not a group.
	require.NoError(t, connect.VerifyWebhookSignature(body, "  "+whGroup(whSecret, whNow, body)+"\t", []string{whSecret}, whClock()))
	// Unknown keys (a future scheme) are ignored.
	require.NoError(t, connect.VerifyWebhookSignature(body, whGroup(whSecret, whNow, body)+",v2=abc", []string{whSecret}, whClock()))
}

func TestVerifyWebhookSignatureWrongSecret(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	err := connect.VerifyWebhookSignature(body, whGroup(whSecretBad, whNow, body), []string{whSecret}, whClock())
	require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
	assert.NotErrorIs(t, err, connect.ErrWebhookTooOld)
	assertNoSecretIn(t, err.Error(), body)
}

func TestVerifyWebhookSignatureTamperedBody(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)
	require.NoError(t, connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock()))

	for _, i := range []int{0, len(body) / 2, bytes.Index(body, []byte("cnst_ABC123")) + 5, len(body) - 1} {
		tampered := bytes.Clone(body)
		tampered[i] ^= 0x01
		err := connect.VerifyWebhookSignature(tampered, header, []string{whSecret}, whClock())
		assert.ErrorIs(t, err, connect.ErrWebhookBadSignature, "byte %d flipped", i)
	}
	for name, b := range map[string][]byte{
		"appended":  append(bytes.Clone(body), ' '),
		"truncated": body[:len(body)-1],
		"empty":     nil,
		"reencoded": func() []byte { // the same JSON, compacted: not the raw body
			var buf bytes.Buffer
			require.NoError(t, json.Compact(&buf, body))
			return buf.Bytes()
		}(),
	} {
		assert.ErrorIs(t, connect.VerifyWebhookSignature(b, header, []string{whSecret}, whClock()), connect.ErrWebhookBadSignature, name)
	}
}

func TestVerifyWebhookSignatureTamperedTimestamp(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	sig := whMAC(whSecret, whNow.Unix(), body)
	for _, ts := range []int64{whNow.Unix() + 1, whNow.Unix() - 1, whNow.Unix() + 60} {
		header := fmt.Sprintf("t=%d,v1=%s", ts, sig)
		err := connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock())
		assert.ErrorIs(t, err, connect.ErrWebhookBadSignature, "t=%d", ts)
		assert.NotErrorIs(t, err, connect.ErrWebhookTooOld, "t=%d", ts)
	}
	// Every byte of the MAC counts, the last as much as the first.
	for _, i := range []int{0, 31, 63} {
		b := []byte(sig)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		header := fmt.Sprintf("t=%d,v1=%s", whNow.Unix(), b)
		assert.ErrorIs(t, connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock()), connect.ErrWebhookBadSignature, "hex digit %d changed", i)
	}
	// A timestamp with a leading zero or sign is another string: the MAC over
	// "<t>." no longer matches.
	for _, ts := range []string{"0" + strconv.FormatInt(whNow.Unix(), 10), "+" + strconv.FormatInt(whNow.Unix(), 10)} {
		header := "t=" + ts + ",v1=" + sig
		assert.ErrorIs(t, connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock()), connect.ErrWebhookBadSignature, ts)
	}
}

func TestVerifyWebhookSignatureRotation(t *testing.T) {
	body := webhookFixture(t, "outbound_redeemed")
	oldGroup := whGroup(whSecretOld, whNow, body)
	newGroup := whGroup(whSecret, whNow, body)
	badGroup := whGroup(whSecretBad, whNow, body)

	t.Run("two groups, only the second matches", func(t *testing.T) {
		require.NoError(t, connect.VerifyWebhookSignature(body, badGroup+" "+newGroup, []string{whSecret}, whClock()))
		require.NoError(t, connect.VerifyWebhookSignature(body, oldGroup+" "+newGroup, []string{whSecret}, whClock()))
	})
	t.Run("two groups, only the first matches", func(t *testing.T) {
		require.NoError(t, connect.VerifyWebhookSignature(body, newGroup+" "+badGroup, []string{whSecret}, whClock()))
	})
	t.Run("two groups, either secret of ours", func(t *testing.T) {
		header := oldGroup + " " + newGroup
		require.NoError(t, connect.VerifyWebhookSignature(body, header, []string{whSecretOld}, whClock()))
		require.NoError(t, connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock()))
		assert.ErrorIs(t, connect.VerifyWebhookSignature(body, header, []string{whSecretBad}, whClock()), connect.ErrWebhookBadSignature)
	})
	t.Run("several secrets, only the second matches", func(t *testing.T) {
		require.NoError(t, connect.VerifyWebhookSignature(body, newGroup, []string{whSecretBad, whSecret}, whClock()))
		require.NoError(t, connect.VerifyWebhookSignature(body, newGroup, []string{whSecretOld, whSecret, whSecretBad}, whClock()))
		assert.ErrorIs(t, connect.VerifyWebhookSignature(body, newGroup, []string{whSecretBad, whSecretOld}, whClock()), connect.ErrWebhookBadSignature)
	})
	t.Run("several v1 in one group", func(t *testing.T) {
		header := fmt.Sprintf("t=%d,v1=%s,v1=%s", whNow.Unix(), whMAC(whSecretBad, whNow.Unix(), body), whMAC(whSecret, whNow.Unix(), body))
		require.NoError(t, connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock()))
	})
	t.Run("neither group matches", func(t *testing.T) {
		err := connect.VerifyWebhookSignature(body, oldGroup+" "+badGroup, []string{whSecret}, whClock())
		require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
		assertNoSecretIn(t, err.Error(), body)
	})
}

func TestVerifyWebhookSignatureTolerance(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	cases := []struct {
		name    string
		signed  time.Duration // signing time relative to now
		opts    []connect.WebhookOption
		wantErr error
	}{
		{"now", 0, nil, nil},
		{"4m59s old", -(4*time.Minute + 59*time.Second), nil, nil},
		{"exactly 5m old", -5 * time.Minute, nil, nil},
		{"5m01s old", -(5*time.Minute + time.Second), nil, connect.ErrWebhookTooOld},
		{"a day old", -24 * time.Hour, nil, connect.ErrWebhookTooOld},
		{"4m59s ahead", 4*time.Minute + 59*time.Second, nil, nil},
		{"5m01s ahead", 5*time.Minute + time.Second, nil, connect.ErrWebhookTooOld},
		{"tolerance 30s, 29s old", -29 * time.Second, []connect.WebhookOption{connect.WithWebhookTolerance(30 * time.Second)}, nil},
		{"tolerance 30s, 31s old", -31 * time.Second, []connect.WebhookOption{connect.WithWebhookTolerance(30 * time.Second)}, connect.ErrWebhookTooOld},
		{"tolerance 30s, 31s ahead", 31 * time.Second, []connect.WebhookOption{connect.WithWebhookTolerance(30 * time.Second)}, connect.ErrWebhookTooOld},
		{"tolerance 1h, 59m old", -59 * time.Minute, []connect.WebhookOption{connect.WithWebhookTolerance(time.Hour)}, nil},
		{"tolerance 1h, 61m old", -61 * time.Minute, []connect.WebhookOption{connect.WithWebhookTolerance(time.Hour)}, connect.ErrWebhookTooOld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			header := whGroup(whSecret, whNow.Add(tc.signed), body)
			opts := append([]connect.WebhookOption{whClock()}, tc.opts...)
			err := connect.VerifyWebhookSignature(body, header, []string{whSecret}, opts...)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			// The signature itself is valid: being stale is not a bad signature.
			assert.NotErrorIs(t, err, connect.ErrWebhookBadSignature)
			assertNoSecretIn(t, err.Error(), body)
		})
	}
}

func TestVerifyWebhookSignatureStale(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	stale := whGroup(whSecret, whNow.Add(-time.Hour), body)
	fresh := whGroup(whSecret, whNow, body)
	bad := whGroup(whSecretBad, whNow, body)

	err := connect.VerifyWebhookSignature(body, stale, []string{whSecret}, whClock())
	require.ErrorIs(t, err, connect.ErrWebhookTooOld)
	assert.NotErrorIs(t, err, connect.ErrWebhookBadSignature)
	assert.Contains(t, err.Error(), "2023-08-17T22:18:13Z", "the message says when it was signed")

	// A stale valid group beside a fresh valid one is fine, in either order.
	require.NoError(t, connect.VerifyWebhookSignature(body, stale+" "+fresh, []string{whSecret}, whClock()))
	require.NoError(t, connect.VerifyWebhookSignature(body, fresh+" "+stale, []string{whSecret}, whClock()))
	// Beside a fresh forged group, the stale valid one still reports stale.
	assert.ErrorIs(t, connect.VerifyWebhookSignature(body, bad+" "+stale, []string{whSecret}, whClock()), connect.ErrWebhookTooOld)
	// A stale forged signature is a bad signature, not a stale one: the
	// timestamp of an unauthenticated group says nothing.
	err = connect.VerifyWebhookSignature(body, whGroup(whSecretBad, whNow.Add(-time.Hour), body), []string{whSecret}, whClock())
	require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
	assert.NotErrorIs(t, err, connect.ErrWebhookTooOld)
}

func TestVerifyWebhookSignatureMissing(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	for _, header := range []string{"", " ", "\t \n"} {
		err := connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock())
		require.ErrorIs(t, err, connect.ErrWebhookNoSignature, "header %q", header)
		assert.NotErrorIs(t, err, connect.ErrWebhookBadSignature)
	}
}

// webhookMalformedHeaders are Persona-Signature values that no parser
// should accept, for a body signed with whSecret at whNow. Several carry the
// valid MAC to show that the shape, not the MAC, is refused.
func webhookMalformedHeaders(body []byte) map[string]string {
	ts := strconv.FormatInt(whNow.Unix(), 10)
	sig := whMAC(whSecret, whNow.Unix(), body)
	valid := "t=" + ts + ",v1=" + sig
	nine := strings.TrimSpace(strings.Repeat(whGroup(whSecretBad, whNow, body)+" ", 8) + valid)
	return map[string]string{
		"t= only":               "t=",
		"v1=zz":                 "v1=zz",
		"t= and v1=zz":          "t=" + ts + ",v1=zz",
		"t=abc":                 "t=abc,v1=" + sig,
		"t empty":               "t=,v1=" + sig,
		"t zero":                "t=0,v1=" + sig,
		"t negative":            "t=-" + ts + ",v1=" + sig,
		"t overflows int64":     "t=99999999999999999999,v1=" + sig,
		"t float":               "t=" + ts + ".0,v1=" + sig,
		"t hex":                 "t=0x64dea9d5,v1=" + sig,
		"commas":                ",,,",
		"two t":                 "t=1,t=2,v1=" + sig,
		"two t, same value":     "t=" + ts + ",t=" + ts + ",v1=" + sig,
		"only v1":               "v1=" + sig,
		"only t":                "t=" + ts,
		"v1 empty":              "t=" + ts + ",v1=",
		"v1 short":              "t=" + ts + ",v1=" + sig[:62],
		"v1 odd length":         "t=" + ts + ",v1=" + sig[:63],
		"v1 long":               "t=" + ts + ",v1=" + sig + "00",
		"v1 0x":                 "t=" + ts + ",v1=0x" + sig[:62],
		"v1 base64":             "t=1709686052,v1=n3ulUDfqGSkzarlvyeg2oZe3qx3sQjbSno5s7Icx4dy8CbTPqu8xvQ5ZyEJy",
		"nine valid-shaped":     nine,
		"huge":                  "t=" + ts + ",v1=" + strings.Repeat("a", 1<<20),
		"huge many groups":      strings.Repeat("t=1,v1="+sig+" ", 10000),
		"unicode digits":        "t=١٦٩٢٣١٤٢٩٣,v1=" + sig,
		"unicode key":           "ｔ=" + ts + ",v1=" + sig,
		"unicode junk":          "✓=✓,v1=✗",
		"invalid utf-8":         "t=" + ts + ",v1=" + sig + ",\xff\xfe",
		"equals":                "=",
		"equals equals":         "==,==",
		"no equals":             "t" + ts + ",v1" + sig,
		"space after comma":     "t=" + ts + ", v1=" + sig,
		"space instead of ,":    "t=" + ts + " v1=" + sig,
		"space around =":        "t = " + ts + ",v1 = " + sig,
		"semicolon":             "t=" + ts + ";v1=" + sig,
		"trailing comma":        valid + ",",
		"leading comma":         "," + valid,
		"upper-case keys":       "T=" + ts + ",V1=" + sig,
		"v0 only":               "t=" + ts + ",v0=" + sig,
		"valid then junk group": valid + " junk",
		"junk then valid group": "junk " + valid,
		"NUL":                   "t=" + ts + "\x00,v1=" + sig,
		"quoted":                `t="` + ts + `",v1="` + sig + `"`,
	}
}

func TestVerifyWebhookSignatureMalformed(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	for name, header := range webhookMalformedHeaders(body) {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() {
				err = connect.VerifyWebhookSignature(body, header, []string{whSecret, whSecretOld}, whClock())
			})
			require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
			assert.NotErrorIs(t, err, connect.ErrWebhookTooOld)
			assert.Less(t, len(err.Error()), 300, "the message must not echo a huge header")
			assertNoSecretIn(t, err.Error(), body)
		})
	}
}

func TestVerifyWebhookSignatureNoSecrets(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	for name, secrets := range map[string][]string{
		"nil":          nil,
		"empty":        {},
		"empty string": {""},
		"two empty":    {"", ""},
	} {
		t.Run(name, func(t *testing.T) {
			// Signed with the empty key, which anyone can compute.
			err := connect.VerifyWebhookSignature(body, whGroup("", whNow, body), secrets, whClock())
			require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
			assert.Contains(t, err.Error(), "no webhook secret")
		})
	}
	// An empty secret beside a real one is skipped, not matched.
	err := connect.VerifyWebhookSignature(body, whGroup("", whNow, body), []string{"", whSecret}, whClock())
	require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
	require.NoError(t, connect.VerifyWebhookSignature(body, whGroup(whSecret, whNow, body), []string{"", whSecret}, whClock()))
}

func TestVerifyWebhookSignatureErrorsNeverCarrySecrets(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	secrets := []string{whSecret, whSecretOld}
	headers := []string{
		"",
		whGroup(whSecretBad, whNow, body),
		whGroup(whSecret, whNow.Add(-time.Hour), body),
		whGroup(whSecret, whNow, body[1:]),
		// Headers that quote a secret: a message echoing the header must
		// not carry it either, so these pieces are refused before echoing.
		"t=" + whSecret,
		whSecret + ",v1=00",
	}
	for _, h := range webhookMalformedHeaders(body) {
		headers = append(headers, h)
	}
	for _, h := range headers {
		err := connect.VerifyWebhookSignature(body, h, secrets, whClock())
		require.Error(t, err)
		if strings.Contains(h, whSecret) {
			// The header itself carried the secret; the message may quote
			// a truncated element but never the whole secret.
			assert.NotContains(t, err.Error(), whSecret)
			continue
		}
		assertNoSecretIn(t, err.Error(), body)
	}
}

// --- ParseWebhookEvent ---

func TestParseWebhookEventConnectEvents(t *testing.T) {
	connection := &connect.ResourceRef{Type: "connect/connection", ID: "cxn_ABC123"}
	cases := []struct {
		fixture   string
		id, name  string
		createdAt string
		token     connect.ShareToken // ID, Status, Direction and relationships
	}{
		{
			fixture: "inbound_created", id: "evt_INB0CR8ED1", name: connect.EventShareTokenInboundCreated,
			createdAt: "2023-08-17T23:18:13.000Z",
			token:     connect.ShareToken{ID: "cnst_ABC123", Status: connect.ShareTokenStatusCreated, Direction: connect.DirectionInbound, Connection: connection},
		},
		{
			fixture: "inbound_redeemed", id: "evt_INB0RDM3D2", name: connect.EventShareTokenInboundRedeemed,
			createdAt: "2023-08-17T23:30:15.000Z",
			token: connect.ShareToken{ID: "cnst_ABC123", Status: connect.ShareTokenStatusRedeemed, Direction: connect.DirectionInbound, Connection: connection,
				Destination: &connect.ResourceRef{Type: "inquiry", ID: "inq_XYZ789"}},
		},
		{
			fixture: "outbound_created", id: "evt_OUT0CR8ED3", name: connect.EventShareTokenOutboundCreated,
			createdAt: "2023-08-17T23:18:13.000Z",
			token: connect.ShareToken{ID: "cnst_ABC123", Status: connect.ShareTokenStatusCreated, Direction: connect.DirectionOutbound, Connection: connection,
				Creator: &connect.ResourceRef{Type: "user", ID: "user_ABC123"}, Source: &connect.ResourceRef{Type: "inquiry", ID: "inq_ABC123"}},
		},
		{
			fixture: "outbound_redeemed", id: "evt_OUT0RDM3D4", name: connect.EventShareTokenOutboundRedeemed,
			createdAt: "2023-08-17T23:30:15.000Z",
			token: connect.ShareToken{ID: "cnst_ABC123", Status: connect.ShareTokenStatusRedeemed, Direction: connect.DirectionOutbound, Connection: connection,
				Creator: &connect.ResourceRef{Type: "user", ID: "user_ABC123"}, Source: &connect.ResourceRef{Type: "inquiry", ID: "inq_ABC123"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			body := webhookFixture(t, tc.fixture)
			ev, err := connect.ParseWebhookEvent(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock())
			require.NoError(t, err)
			require.NotNil(t, ev)
			assert.Equal(t, tc.id, ev.ID)
			assert.Equal(t, tc.name, ev.Name)
			assert.True(t, fixtureTime(tc.createdAt).Equal(ev.CreatedAt), "CreatedAt %s", ev.CreatedAt)
			assert.JSONEq(t, fixturePayload(t, body), string(ev.Payload))

			tok := ev.ShareToken
			require.NotNil(t, tok, "a connect/share-token event carries its token")
			assert.Equal(t, tc.token.ID, tok.ID)
			assert.Equal(t, tc.token.Status, tok.Status)
			assert.Equal(t, tc.token.Direction, tok.Direction)
			assert.Equal(t, tc.token.Connection, tok.Connection)
			assert.Equal(t, tc.token.Creator, tok.Creator)
			assert.Equal(t, tc.token.Source, tok.Source)
			assert.Equal(t, tc.token.Destination, tok.Destination)
			assert.True(t, fixtureTime("2023-08-17T23:18:13.000Z").Equal(tok.CreatedAt), "token CreatedAt %s", tok.CreatedAt)
		})
	}
}

func TestParseWebhookEventRedeemedDetails(t *testing.T) {
	// The decoder is the API's: nullable times and enums come through.
	body := webhookFixture(t, "inbound_redeemed")
	ev, err := connect.ParseWebhookEvent(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock())
	require.NoError(t, err)
	tok := ev.ShareToken
	require.NotNil(t, tok)
	assert.Equal(t, connect.RedeemModeHydrate, tok.RedeemMode)
	require.NotNil(t, tok.RedeemedAt)
	assert.True(t, fixtureTime("2023-08-17T23:30:15.000Z").Equal(*tok.RedeemedAt))
	assert.Nil(t, tok.ExpiresAt)
	assert.Nil(t, tok.FailedAt)
	assert.Empty(t, tok.FailureReason)
}

func TestParseWebhookEventNonConnectEvent(t *testing.T) {
	body := webhookFixture(t, "inquiry_completed")
	ev, err := connect.ParseWebhookEvent(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock())
	require.NoError(t, err)
	require.NotNil(t, ev)
	assert.Equal(t, "evt_INQ0C0MPL5", ev.ID)
	assert.Equal(t, "inquiry.completed", ev.Name)
	assert.True(t, fixtureTime("2023-08-17T23:41:57.000Z").Equal(ev.CreatedAt))
	assert.Nil(t, ev.ShareToken)
	assert.JSONEq(t, fixturePayload(t, body), string(ev.Payload))
}

func TestParseWebhookEventUnknownConnectEvent(t *testing.T) {
	// A connect/share-token event Persona adds later is returned, with its
	// token, and unknown members do not fail it.
	body := bytes.Replace(webhookFixture(t, "outbound_created"), []byte(connect.EventShareTokenOutboundCreated), []byte("connect/share-token.outbound-expired"), 1)
	body = bytes.Replace(body, []byte(`"status": "created"`), []byte(`"status": "archived", "new-attribute": {"x": 1}`), 1)
	ev, err := connect.ParseWebhookEvent(body, whGroup(whSecret, whNow, body), []string{whSecret}, whClock())
	require.NoError(t, err)
	assert.Equal(t, "connect/share-token.outbound-expired", ev.Name)
	require.NotNil(t, ev.ShareToken)
	assert.Equal(t, "cnst_ABC123", ev.ShareToken.ID)
	assert.Equal(t, connect.ShareTokenStatus("archived"), ev.ShareToken.Status)
}

func TestParseWebhookEventVerifiesFirst(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	cases := map[string]struct {
		header string
		want   error
	}{
		"missing":   {"", connect.ErrWebhookNoSignature},
		"forged":    {whGroup(whSecretBad, whNow, body), connect.ErrWebhookBadSignature},
		"stale":     {whGroup(whSecret, whNow.Add(-time.Hour), body), connect.ErrWebhookTooOld},
		"malformed": {"t=1,v1=zz", connect.ErrWebhookBadSignature},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ev, err := connect.ParseWebhookEvent(body, tc.header, []string{whSecret}, whClock())
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, ev)
		})
	}
	// An unsigned malformed body reports the signature, not the JSON.
	_, err := connect.ParseWebhookEvent([]byte("{"), whGroup(whSecretBad, whNow, []byte("{")), []string{whSecret}, whClock())
	require.ErrorIs(t, err, connect.ErrWebhookBadSignature)
}

func TestParseWebhookEventMalformed(t *testing.T) {
	valid := string(webhookFixture(t, "inbound_created"))
	bodies := map[string]string{
		"empty":               "",
		"truncated":           valid[:len(valid)/2],
		"not an object":       "[]",
		"null":                "null",
		"string":              `"evt_ABC"`,
		"data a string":       `{"data":"evt_ABC"}`,
		"no id":               `{"data":{"type":"event","attributes":{"name":"inquiry.completed","created-at":"2023-08-17T23:18:13.000Z","payload":{}}}}`,
		"empty id":            `{"data":{"type":"event","id":"","attributes":{"name":"inquiry.completed","payload":{}}}}`,
		"id a number":         `{"data":{"type":"event","id":12,"attributes":{"name":"inquiry.completed","payload":{}}}}`,
		"no name":             `{"data":{"type":"event","id":"evt_ABC","attributes":{"created-at":"2023-08-17T23:18:13.000Z","payload":{}}}}`,
		"bad created-at":      `{"data":{"type":"event","id":"evt_ABC","attributes":{"name":"inquiry.completed","created-at":"yesterday","payload":{}}}}`,
		"share token a list":  `{"data":{"type":"event","id":"evt_ABC","attributes":{"name":"connect/share-token.inbound-created","payload":{"data":[]}}}}`,
		"payload a string":    `{"data":{"type":"event","id":"evt_ABC","attributes":{"name":"connect/share-token.inbound-created","payload":"x"}}}`,
		"bad token timestamp": strings.Replace(valid, `"updated-at": "2023-08-17T23:18:13.000Z"`, `"updated-at": "soon"`, 1),
		"bad relationship":    strings.Replace(valid, `"destination": {`, `"destination": "inq_X", "x": {`, 1),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, valid, body, "the replacement must apply")
			b := []byte(body)
			var ev *connect.WebhookEvent
			var err error
			require.NotPanics(t, func() {
				ev, err = connect.ParseWebhookEvent(b, whGroup(whSecret, whNow, b), []string{whSecret}, whClock())
			})
			require.Error(t, err)
			assert.Nil(t, ev)
			for _, s := range []error{connect.ErrWebhookBadSignature, connect.ErrWebhookNoSignature, connect.ErrWebhookTooOld} {
				assert.NotErrorIs(t, err, s, "the signature was valid")
			}
			assertNoSecretIn(t, err.Error(), b)
		})
	}
}

// --- NewWebhookHandler ---

// newWebhookHandler builds a handler from a valid configuration.
func newWebhookHandler(t testing.TB, secrets []string, handle func(context.Context, *connect.WebhookEvent) error, opts ...connect.WebhookHandlerOption) http.Handler {
	t.Helper()
	h, err := connect.NewWebhookHandler(secrets, handle, opts...)
	require.NoError(t, err)
	require.NotNil(t, h)
	return h
}

// newMemoryDeduper returns a memory deduper with a valid ttl.
func newMemoryDeduper(t testing.TB, ttl time.Duration) connect.WebhookDeduper {
	t.Helper()
	d, err := connect.NewMemoryDeduper(ttl)
	require.NoError(t, err)
	return d
}

// webhookCalls counts handle calls and records their events.
type webhookCalls struct {
	mu     sync.Mutex
	events []*connect.WebhookEvent
	err    func(n int) error // the error of the n-th call (1-based); nil for none
	delay  time.Duration
}

func (c *webhookCalls) handle(_ context.Context, ev *connect.WebhookEvent) error {
	c.mu.Lock()
	c.events = append(c.events, ev)
	n := len(c.events)
	c.mu.Unlock()
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	if c.err != nil {
		return c.err(n)
	}
	return nil
}

func (c *webhookCalls) snapshot() []*connect.WebhookEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*connect.WebhookEvent(nil), c.events...)
}

func (c *webhookCalls) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// deliverWebhook POSTs body with a Persona-Signature header (none when
// header is empty) to h and returns the response.
func deliverWebhook(t testing.TB, h http.Handler, method string, body []byte, header string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "https://hooks.example.com/persona", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Persona-Signature", header)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestWebhookHandlerSuccess(t *testing.T) {
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
	body := webhookFixture(t, "inbound_created")
	w := deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body))
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, 1, calls.count())
	ev := calls.snapshot()[0]
	assert.Equal(t, "evt_INB0CR8ED1", ev.ID)
	assert.Equal(t, connect.EventShareTokenInboundCreated, ev.Name)
	require.NotNil(t, ev.ShareToken)
	assert.Equal(t, "cnst_ABC123", ev.ShareToken.ID)
}

func TestWebhookHandlerCopiesSecrets(t *testing.T) {
	calls := &webhookCalls{}
	secrets := []string{whSecret}
	h := newWebhookHandler(t, secrets, calls.handle, whClock())
	secrets[0] = whSecretBad // the caller's slice changes after the fact
	body := webhookFixture(t, "inbound_created")
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
}

func TestWebhookHandlerMethodNotAllowed(t *testing.T) {
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
	body := webhookFixture(t, "inbound_created")
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		w := deliverWebhook(t, h, m, body, whGroup(whSecret, whNow, body))
		assert.Equal(t, http.StatusMethodNotAllowed, w.Code, m)
		assert.Equal(t, http.MethodPost, w.Header().Get("Allow"), m)
	}
	assert.Zero(t, calls.count())
}

func TestWebhookHandlerBodyTooLarge(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)

	t.Run("configured cap", func(t *testing.T) {
		calls := &webhookCalls{}
		small := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookMaxBodySize(int64(len(body)-1)))
		w := deliverWebhook(t, small, http.MethodPost, body, header)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Zero(t, calls.count())

		exact := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookMaxBodySize(int64(len(body))))
		assert.Equal(t, http.StatusOK, deliverWebhook(t, exact, http.MethodPost, body, header).Code, "a body of exactly the cap is read")
		assert.Equal(t, 1, calls.count())
	})
	t.Run("default 10 MiB", func(t *testing.T) {
		require.EqualValues(t, 10<<20, connect.DefaultWebhookMaxBodySize)
		calls := &webhookCalls{}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
		// A valid event padded with white space to one byte over the cap.
		big := append(bytes.Clone(body), bytes.Repeat([]byte(" "), connect.DefaultWebhookMaxBodySize+1-len(body))...)
		w := deliverWebhook(t, h, http.MethodPost, big, whGroup(whSecret, whNow, big))
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Zero(t, calls.count())
		// At the cap it is handled.
		fits := big[:connect.DefaultWebhookMaxBodySize]
		w = deliverWebhook(t, h, http.MethodPost, fits, whGroup(whSecret, whNow, fits))
		assert.Equal(t, http.StatusOK, w.Code)
		assert.Equal(t, 1, calls.count())
	})
}

func TestWebhookHandlerSignatureFailures(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	cases := []struct {
		name   string
		body   []byte
		header string
		want   int
	}{
		{"missing", body, "", http.StatusBadRequest},
		{"wrong secret", body, whGroup(whSecretBad, whNow, body), http.StatusUnauthorized},
		{"tampered body", append(bytes.Clone(body), '\n'), whGroup(whSecret, whNow, body), http.StatusUnauthorized},
		{"stale", body, whGroup(whSecret, whNow.Add(-6*time.Minute), body), http.StatusUnauthorized},
		{"future", body, whGroup(whSecret, whNow.Add(6*time.Minute), body), http.StatusUnauthorized},
		{"malformed", body, "t=abc,v1=zz", http.StatusUnauthorized},
		{"rotated out", body, whGroup(whSecretOld, whNow, body), http.StatusUnauthorized},
	}
	dedupe := &recordingDeduper{}
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret, "wbhsec_second-secret-of-ours"}, calls.handle, whClock(), connect.WithWebhookDeduper(dedupe))
	var unauthorized []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := deliverWebhook(t, h, http.MethodPost, tc.body, tc.header)
			assert.Equal(t, tc.want, w.Code)
			resp := w.Body.String()
			assertNoSecretIn(t, resp, body)
			assert.NotContains(t, resp, "wbhsec_")
			assert.NotContains(t, strings.ToLower(resp), "secret")
			if tc.want == http.StatusUnauthorized {
				unauthorized = append(unauthorized, resp)
			}
		})
	}
	assert.Zero(t, calls.count(), "handle is never called for an unverified delivery")
	assert.Empty(t, dedupe.log(), "an unverified delivery must not claim its event id")
	// Every 401 says the same thing: nothing tells a prober which check failed.
	require.NotEmpty(t, unauthorized)
	for _, r := range unauthorized {
		assert.Equal(t, unauthorized[0], r)
	}
}

func TestWebhookHandlerMalformedEvent(t *testing.T) {
	calls := &webhookCalls{}
	dedupe := &recordingDeduper{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(dedupe))
	for _, body := range [][]byte{[]byte("{"), []byte(`{"data":{"type":"event","attributes":{"name":"inquiry.completed"}}}`)} {
		w := deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body))
		assert.Equal(t, http.StatusBadRequest, w.Code, string(body))
	}
	assert.Zero(t, calls.count())
	assert.Empty(t, dedupe.log())
}

func TestWebhookHandlerErrorReleasesClaim(t *testing.T) {
	calls := &webhookCalls{err: func(n int) error {
		if n == 1 {
			return errors.New("database down")
		}
		return nil
	}}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)

	w := deliverWebhook(t, h, http.MethodPost, body, header)
	assert.Equal(t, http.StatusInternalServerError, w.Code)
	assert.NotContains(t, w.Body.String(), "database down", "the handler's error is not sent to Persona")
	assert.Equal(t, 1, calls.count())

	// Persona redelivers the same event: it is handled again, and succeeds.
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
	assert.Equal(t, 2, calls.count())
	// Now it is done: a third delivery is dropped.
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
	assert.Equal(t, 2, calls.count())
}

func TestWebhookHandlerPanicReleasesClaim(t *testing.T) {
	var n atomic.Int32
	h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
		if n.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}, whClock())
	body := webhookFixture(t, "inbound_created")
	header := whGroup(whSecret, whNow, body)

	// net/http recovers the panic and drops the connection; Persona retries.
	assert.PanicsWithValue(t, "boom", func() { deliverWebhook(t, h, http.MethodPost, body, header) })
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
	assert.EqualValues(t, 2, n.Load(), "the redelivery after a panic is handled")
}

func TestWebhookHandlerDropsRepeats(t *testing.T) {
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
	body := webhookFixture(t, "inbound_created")

	// The same event three times, each delivery signed afresh (as Persona
	// does on a retry), the last during a secret rotation.
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow.Add(30*time.Second), body)).Code)
	rotated := whGroup(whSecretOld, whNow.Add(time.Minute), body) + " " + whGroup(whSecret, whNow.Add(time.Minute), body)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, rotated).Code)
	assert.Equal(t, 1, calls.count())

	// Other events are not repeats.
	for _, name := range webhookFixtureNames[1:] {
		b := webhookFixture(t, name)
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, b, whGroup(whSecret, whNow, b)).Code, name)
	}
	assert.Equal(t, len(webhookFixtureNames), calls.count())
}

func TestWebhookHandlerConcurrentRepeats(t *testing.T) {
	// Persona may deliver one event several times at once; the handler
	// (served over real HTTP, run with -race) must handle it once.
	calls := &webhookCalls{delay: 20 * time.Millisecond}
	srv := httptest.NewServer(newWebhookHandler(t, []string{whSecret}, calls.handle, whClock()))
	t.Cleanup(srv.Close)

	const n = 16
	bodies := map[string][]byte{}
	for _, name := range webhookFixtureNames {
		bodies[name] = webhookFixture(t, name)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	codes := make(chan int, n*len(bodies))
	for i := range n {
		for _, body := range bodies {
			wg.Go(func() {
				<-start
				req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				if !assert.NoError(t, err) {
					return
				}
				req.Header.Set("Persona-Signature", whGroup(whSecret, whNow.Add(time.Duration(i)*time.Second), body))
				resp, err := srv.Client().Do(req)
				if !assert.NoError(t, err) {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes <- resp.StatusCode
			})
		}
	}
	close(start)
	wg.Wait()
	close(codes)
	ok := 0
	for code := range codes {
		// A repeat that overlaps the first delivery gets 409 so that
		// Persona retries it; any other repeat gets 200.
		assert.Contains(t, []int{http.StatusOK, http.StatusConflict}, code)
		if code == http.StatusOK {
			ok++
		}
	}
	assert.GreaterOrEqual(t, ok, len(bodies))
	assert.Equal(t, len(bodies), calls.count(), "each event handled exactly once")
	seen := map[string]int{}
	for _, ev := range calls.snapshot() {
		seen[ev.ID]++
	}
	for id, k := range seen {
		assert.Equal(t, 1, k, id)
	}
}

func TestWebhookHandlerRepeatDuringFailingDelivery(t *testing.T) {
	// A repeat that arrives while the first delivery runs must not be
	// acknowledged: if the first then fails, Persona must still retry.
	release := make(chan struct{})
	entered := make(chan struct{})
	var calls atomic.Int32
	h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
			return errors.New("database down")
		}
		return nil
	}, whClock())
	body := webhookFixture(t, webhookFixtureNames[0])
	first := make(chan int)
	go func() {
		first <- deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code
	}()
	<-entered
	assert.Equal(t, http.StatusConflict, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
	close(release)
	assert.Equal(t, http.StatusInternalServerError, <-first)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
	assert.Equal(t, int32(2), calls.Load(), "the redelivery after the failure is handled")
}

// recordingDeduper is a WebhookDeduper backed by a map, recording its calls.
type recordingDeduper struct {
	mu       sync.Mutex
	calls    []string // "claim evt_…" or "release evt_…"
	claimed  map[string]bool
	claimErr error
}

func (d *recordingDeduper) Claim(ctx context.Context, id string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "claim "+id)
	if ctx == nil {
		panic("nil context")
	}
	if d.claimErr != nil {
		return false, d.claimErr
	}
	if d.claimed == nil {
		d.claimed = map[string]bool{}
	}
	if d.claimed[id] {
		return false, nil
	}
	d.claimed[id] = true
	return true, nil
}

func (d *recordingDeduper) Release(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, "release "+id)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	delete(d.claimed, id)
	return nil
}

func (d *recordingDeduper) log() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

func TestWebhookHandlerCustomDeduper(t *testing.T) {
	body := webhookFixture(t, "outbound_redeemed")
	header := whGroup(whSecret, whNow, body)
	const id = "evt_OUT0RDM3D4"

	t.Run("success claims and keeps", func(t *testing.T) {
		d := &recordingDeduper{}
		calls := &webhookCalls{}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, []string{"claim " + id, "claim " + id}, d.log())
		assert.Equal(t, 1, calls.count())
	})
	t.Run("failure releases", func(t *testing.T) {
		d := &recordingDeduper{}
		calls := &webhookCalls{err: func(int) error { return errors.New("no") }}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))
		assert.Equal(t, http.StatusInternalServerError, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, http.StatusInternalServerError, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Equal(t, []string{"claim " + id, "release " + id, "claim " + id, "release " + id}, d.log())
		assert.Equal(t, 2, calls.count())
	})
	t.Run("release survives a cancelled request", func(t *testing.T) {
		d := &recordingDeduper{}
		h := newWebhookHandler(t, []string{whSecret}, func(context.Context, *connect.WebhookEvent) error {
			return errors.New("no")
		}, whClock(), connect.WithWebhookDeduper(d))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Persona-Signature", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.Empty(t, d.claimed, "the claim was released despite the cancelled context")
	})
	t.Run("already claimed elsewhere", func(t *testing.T) {
		d := &recordingDeduper{claimed: map[string]bool{id: true}}
		calls := &webhookCalls{}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, header).Code)
		assert.Zero(t, calls.count())
		assert.Equal(t, []string{"claim " + id}, d.log())
	})
	t.Run("claim error is 500 without handling", func(t *testing.T) {
		d := &recordingDeduper{claimErr: errors.New("redis down")}
		calls := &webhookCalls{}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookDeduper(d))
		w := deliverWebhook(t, h, http.MethodPost, body, header)
		assert.Equal(t, http.StatusInternalServerError, w.Code)
		assert.NotContains(t, w.Body.String(), "redis")
		assert.Zero(t, calls.count())
		assert.Equal(t, []string{"claim " + id}, d.log(), "nothing to release after a failed claim")
	})
}

func TestMemoryDeduper(t *testing.T) {
	ctx := context.Background()
	d := newMemoryDeduper(t, time.Hour)
	ok, err := d.Claim(ctx, "evt_A")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, _ = d.Claim(ctx, "evt_A")
	assert.False(t, ok, "a second claim within the ttl")
	ok, _ = d.Claim(ctx, "evt_B")
	assert.True(t, ok, "another id")
	require.NoError(t, d.Release(ctx, "evt_A"))
	ok, _ = d.Claim(ctx, "evt_A")
	assert.True(t, ok, "claimable again after a release")
	require.NoError(t, d.Release(ctx, "evt_never"), "releasing an unknown id is fine")
}

func TestMemoryDeduperForgetsAfterTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		d := newMemoryDeduper(t, time.Hour)
		ok, _ := d.Claim(ctx, "evt_A")
		require.True(t, ok)
		time.Sleep(30 * time.Minute)
		ok, _ = d.Claim(ctx, "evt_B")
		require.True(t, ok)

		time.Sleep(29*time.Minute + 59*time.Second)
		ok, _ = d.Claim(ctx, "evt_A")
		assert.False(t, ok, "59m59s after: still remembered")

		time.Sleep(time.Second)
		ok, _ = d.Claim(ctx, "evt_A")
		assert.True(t, ok, "an hour after: forgotten")
		ok, _ = d.Claim(ctx, "evt_B")
		assert.False(t, ok, "evt_B, 30 minutes old, is still remembered after a sweep")

		time.Sleep(time.Hour)
		for _, id := range []string{"evt_A", "evt_B"} {
			ok, _ = d.Claim(ctx, id)
			assert.True(t, ok, id)
		}
	})
}

func TestMemoryDeduperConcurrent(t *testing.T) {
	d := newMemoryDeduper(t, time.Hour)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if ok, err := d.Claim(context.Background(), "evt_SAME"); err == nil && ok {
				wins.Add(1)
			}
			_, _ = d.Claim(context.Background(), "evt_OTHER")
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, wins.Load())
}

func TestWebhookHandlerMemoryDeduperTTL(t *testing.T) {
	// The default handler remembers an event for three days: a repeat after
	// two days (Persona's retry window) is dropped.
	synctest.Test(t, func(t *testing.T) {
		calls := &webhookCalls{}
		h := newWebhookHandler(t, []string{whSecret}, calls.handle)
		body := webhookFixture(t, "inbound_created")
		deliverWebhook(t, h, http.MethodPost, body, connect.SignWebhookPayload(body, whSecret, time.Now()))
		time.Sleep(48 * time.Hour)
		assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, connect.SignWebhookPayload(body, whSecret, time.Now())).Code)
		assert.Equal(t, 1, calls.count(), "repeat after two days")
		time.Sleep(25 * time.Hour)
		deliverWebhook(t, h, http.MethodPost, body, connect.SignWebhookPayload(body, whSecret, time.Now()))
		assert.Equal(t, 2, calls.count(), "after three days the id is forgotten")
	})
}

func TestWebhookEventNames(t *testing.T) {
	assert.Equal(t, "connect/share-token.inbound-created", connect.EventShareTokenInboundCreated)
	assert.Equal(t, "connect/share-token.inbound-redeemed", connect.EventShareTokenInboundRedeemed)
	assert.Equal(t, "connect/share-token.outbound-created", connect.EventShareTokenOutboundCreated)
	assert.Equal(t, "connect/share-token.outbound-redeemed", connect.EventShareTokenOutboundRedeemed)
}

// --- Configuration refused when built ---

func TestWebhookOptionsRefusedAtCallTime(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	fresh := whGroup(whSecret, whNow, body)
	old := whGroup(whSecret, whNow.Add(-4*time.Minute), body)
	cases := []struct {
		name   string
		opt    connect.WebhookOption
		option string
	}{
		{"zero tolerance", connect.WithWebhookTolerance(0), "WithWebhookTolerance"},
		{"negative tolerance", connect.WithWebhookTolerance(-time.Hour), "WithWebhookTolerance"},
		{"nil clock", connect.WithWebhookClock(nil), "WithWebhookClock"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing is accepted: not a fresh signature, not one the default
			// tolerance would take.
			for _, header := range []string{fresh, old} {
				err := connect.VerifyWebhookSignature(body, header, []string{whSecret}, whClock(), tc.opt)
				require.ErrorIs(t, err, connect.ErrInvalidParams)
				assert.Contains(t, err.Error(), tc.option)
				ev, err := connect.ParseWebhookEvent(body, header, []string{whSecret}, whClock(), tc.opt)
				require.ErrorIs(t, err, connect.ErrInvalidParams)
				assert.Contains(t, err.Error(), tc.option)
				assert.Nil(t, ev)
			}
			var ve *connect.ValidationError
			require.ErrorAs(t, connect.VerifyWebhookSignature(body, fresh, []string{whSecret}, tc.opt), &ve)
			assert.Equal(t, tc.option, ve.Field)
		})
	}
	// A nil option is skipped, as an unset optional one.
	require.NoError(t, connect.VerifyWebhookSignature(body, fresh, []string{whSecret}, whClock(), nil))
}

func TestNewWebhookHandlerRefusesBadConfiguration(t *testing.T) {
	calls := &webhookCalls{}
	cases := []struct {
		name    string
		secrets []string
		handle  func(context.Context, *connect.WebhookEvent) error
		opts    []connect.WebhookHandlerOption
		field   string
	}{
		{"nil handle", []string{whSecret}, nil, nil, "handle"},
		{"nil secrets", nil, calls.handle, nil, "secrets"},
		{"only empty secrets", []string{"", ""}, calls.handle, nil, "secrets"},
		{"zero tolerance", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookTolerance(0)}, "WithWebhookTolerance"},
		{"negative tolerance", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookTolerance(-time.Second)}, "WithWebhookTolerance"},
		{"nil clock", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookClock(nil)}, "WithWebhookClock"},
		{"zero body cap", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookMaxBodySize(0)}, "WithWebhookMaxBodySize"},
		{"negative body cap", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookMaxBodySize(-1)}, "WithWebhookMaxBodySize"},
		{"nil deduper", []string{whSecret}, calls.handle, []connect.WebhookHandlerOption{connect.WithWebhookDeduper(nil)}, "WithWebhookDeduper"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := connect.NewWebhookHandler(tc.secrets, tc.handle, tc.opts...)
			assert.Nil(t, h)
			require.ErrorIs(t, err, connect.ErrInvalidParams)
			var ve *connect.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
	// An empty secret beside a real one is dropped, not refused.
	h := newWebhookHandler(t, []string{"", whSecret}, calls.handle, whClock(), nil)
	body := webhookFixture(t, "inbound_created")
	assert.Equal(t, http.StatusUnauthorized, deliverWebhook(t, h, http.MethodPost, body, whGroup("", whNow, body)).Code)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow, body)).Code)
}

func TestNewMemoryDeduperRefusesNonPositiveTTL(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Hour} {
		d, err := connect.NewMemoryDeduper(ttl)
		assert.Nil(t, d, ttl)
		require.ErrorIs(t, err, connect.ErrInvalidParams, ttl)
		assert.Contains(t, err.Error(), "ttl")
	}
}

func TestWebhookHandlerUsesItsTolerance(t *testing.T) {
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookTolerance(30*time.Second))
	body := webhookFixture(t, "inbound_created")
	assert.Equal(t, http.StatusUnauthorized, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow.Add(-31*time.Second), body)).Code)
	assert.Equal(t, http.StatusOK, deliverWebhook(t, h, http.MethodPost, body, whGroup(whSecret, whNow.Add(-29*time.Second), body)).Code)
}

// --- The header before the body ---

// watchedBody is a request body that records whether it was read.
type watchedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *watchedBody) Close() error { return nil }

func TestWebhookHandlerChecksHeaderBeforeReadingBody(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	cases := []struct {
		name     string
		header   string
		want     int
		wantRead bool
	}{
		{"missing", "", http.StatusBadRequest, false},
		{"blank", "   ", http.StatusBadRequest, false},
		{"malformed", "t=abc,v1=zz", http.StatusUnauthorized, false},
		{"no v1", "t=1692314293", http.StatusUnauthorized, false},
		{"every group stale", whGroup(whSecret, whNow.Add(-time.Hour), body) + " " + whGroup(whSecretOld, whNow.Add(time.Hour), body), http.StatusUnauthorized, false},
		{"fresh but forged", whGroup(whSecretBad, whNow, body), http.StatusUnauthorized, true},
		{"valid", whGroup(whSecret, whNow, body), http.StatusOK, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := &webhookCalls{}
			h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
			b := &watchedBody{r: bytes.NewReader(body)}
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			req.Body = b
			if tc.header != "" {
				req.Header.Set("Persona-Signature", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			assert.Equal(t, tc.want, w.Code)
			assert.Equal(t, tc.wantRead, b.read.Load(), "body read")
		})
	}
}

func TestWebhookHandlerRefusesDeclaredOversizeWithoutReading(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	calls := &webhookCalls{}
	h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock(), connect.WithWebhookMaxBodySize(int64(len(body)-1)))
	b := &watchedBody{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Body, req.ContentLength = b, int64(len(body))
	req.Header.Set("Persona-Signature", whGroup(whSecret, whNow, body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
	assert.False(t, b.read.Load())
}

// --- Delivery headers ---

func TestWebhookHandlerFillsDelivery(t *testing.T) {
	body := webhookFixture(t, "inbound_created")
	cases := []struct {
		name    string
		headers map[string]string
		want    connect.WebhookDelivery
	}{
		{"all set", map[string]string{
			"Persona-Webhook-Attempts-Made":      "2",
			"Persona-Webhook-Attempts-Left":      "6",
			"Persona-Webhook-First-Attempted-At": "1527811200",
		}, connect.WebhookDelivery{AttemptsMade: 2, AttemptsLeft: 6, FirstAttemptedAt: time.Unix(1527811200, 0).UTC()}},
		{"none", nil, connect.WebhookDelivery{}},
		{"last attempt", map[string]string{"Persona-Webhook-Attempts-Made": "8", "Persona-Webhook-Attempts-Left": "0"},
			connect.WebhookDelivery{AttemptsMade: 8}},
		{"malformed", map[string]string{
			"Persona-Webhook-Attempts-Made":      "two",
			"Persona-Webhook-Attempts-Left":      "-1",
			"Persona-Webhook-First-Attempted-At": "2018-06-01T00:00:00Z",
		}, connect.WebhookDelivery{}},
		{"overflowing and fractional", map[string]string{
			"Persona-Webhook-Attempts-Made":      "99999999999999999999999",
			"Persona-Webhook-Attempts-Left":      "1.5",
			"Persona-Webhook-First-Attempted-At": "0",
		}, connect.WebhookDelivery{}},
		{"one malformed leaves the others", map[string]string{
			"Persona-Webhook-Attempts-Made":      " 3",
			"Persona-Webhook-Attempts-Left":      "5",
			"Persona-Webhook-First-Attempted-At": "-1527811200",
		}, connect.WebhookDelivery{AttemptsLeft: 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			calls := &webhookCalls{}
			h := newWebhookHandler(t, []string{whSecret}, calls.handle, whClock())
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("Persona-Signature", whGroup(whSecret, whNow, body))
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, 1, calls.count())
			assert.Equal(t, tc.want, calls.snapshot()[0].Delivery)
		})
	}
	// ParseWebhookEvent sees no headers but the signature.
	assert.Zero(t, parseSigned(t, body).Delivery)
}

func TestWebhookEventInquiryNames(t *testing.T) {
	assert.Equal(t, "inquiry.completed", connect.EventInquiryCompleted)
	assert.Equal(t, "inquiry.approved", connect.EventInquiryApproved)
}
