package connecttest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// call is a tiny raw client for the examples; real code uses the connect
// package: connect.NewClient(org.APIKey, connect.WithBaseURL(srv.URL)).
func call(srv *connecttest.Server, org *connecttest.Organization, method, path, body string) (int, map[string]any) {
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+org.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &doc)
	return resp.StatusCode, doc
}

func Example() {
	clock := connecttest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := connecttest.NewServer(connecttest.WithClock(clock), connecttest.WithRedeemDelay(5*time.Second))
	defer srv.Close()

	acme := srv.NewOrganization("Acme KYC")
	bank := srv.NewOrganization("Bank")
	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})

	// The source connects to the destination, which accepts in its Dashboard.
	_, cxn := call(srv, acme, "POST", "/connect/connections",
		`{"data":{"attributes":{"destination-organization-id":"`+bank.ID+`"}}}`)
	cxnID := cxn["data"].(map[string]any)["id"].(string)
	if err := srv.AcceptConnection(cxnID); err != nil {
		panic(err)
	}

	// The source shares the inquiry; the destination redeems the token.
	_, tok := call(srv, acme, "POST", "/connect/share-tokens",
		`{"data":{"attributes":{"connection-id":"`+cxnID+`","source-id":"`+inq+`"}}}`)
	tokID := tok["data"].(map[string]any)["id"].(string)
	status, red := call(srv, bank, "POST", "/connect/share-tokens/"+tokID+"/redeem", "")
	fmt.Println(status, red["data"].(map[string]any)["attributes"].(map[string]any)["status"])

	// Five seconds later, on the fake's clock, the clone exists.
	clock.Advance(5 * time.Second)
	_, got := call(srv, bank, "GET", "/connect/share-tokens/"+tokID, "")
	data := got["data"].(map[string]any)
	dest := data["relationships"].(map[string]any)["destination"].(map[string]any)["data"].(map[string]any)
	clone, _ := srv.Object(dest["id"].(string))
	fmt.Println(data["attributes"].(map[string]any)["status"], clone.ClonedFrom == inq, clone.OrganizationID == bank.ID, clone.Fields["name-first"])
	// Output:
	// 202 pending
	// redeemed true true Ada
}

func TestDefaultClockFollowsWallClockAndAdvances(t *testing.T) {
	srv := connecttest.NewServer()
	defer srv.Close()
	now := time.Now()
	got := srv.Clock().Now()
	assert.WithinDuration(t, now, got, time.Second)

	acme, bank := srv.NewOrganization("a"), srv.NewOrganization("b")
	cxn := srv.NewActiveConnection(acme, bank)
	_, tok := call(srv, acme, "POST", "/connect/share-tokens",
		`{"data":{"attributes":{"connection-id":"`+cxn+`","source-id":"`+srv.NewInquiry(acme, nil)+`","expires-in-seconds":60}}}`)
	id := tok["data"].(map[string]any)["id"].(string)
	srv.Clock().Advance(time.Minute)
	st, ok := srv.ShareToken(id)
	require.True(t, ok)
	assert.Equal(t, "expired", st.Status)

	srv.Clock().Set(now.Add(48 * time.Hour))
	assert.WithinDuration(t, now.Add(48*time.Hour), srv.Clock().Now(), time.Second)
}

func TestWithListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := connecttest.NewServer(connecttest.WithListener(l))
	defer srv.Close()
	assert.Equal(t, "http://"+l.Addr().String()+"/api/v1", srv.URL)
	org := srv.NewOrganization("a")
	status, _ := call(srv, org, "GET", "/connect/connections", "")
	assert.Equal(t, 200, status)
}
