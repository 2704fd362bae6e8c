package connect_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// invalidIDs are values no id may take: each could reach another endpoint,
// break the URL or is not an id at all.
var invalidIDs = map[string]string{
	"empty":          "",
	"129 bytes":      "cnst_" + strings.Repeat("A", 124),
	"dot dot":        "../x",
	"slash":          "a/b",
	"encoded slash":  "a%2Fb",
	"question mark":  "a?b",
	"space":          "a b",
	"control char":   "a\x00b",
	"newline":        "cnst_1\n",
	"hash":           "a#b",
	"non-ASCII":      "cnst_ç",
	"unicode letter": "ç",
	"dot":            ".",
}

// idTarget is one place an id goes: a method argument or a parameter field.
type idTarget struct {
	field string
	call  func(ctx context.Context, c *connect.Client, id string) error
}

func idTargets() map[string]idTarget {
	return map[string]idTarget{
		"ShareTokens.Get": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Get(ctx, id)
			return err
		}},
		"ShareTokens.Peek": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Peek(ctx, id)
			return err
		}},
		"ShareTokens.Redeem": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Redeem(ctx, id, nil)
			return err
		}},
		"ShareTokens.Expire": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Expire(ctx, id)
			return err
		}},
		"ShareTokens.Wait": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			// Bounded: if an id got through, Wait would poll the
			// non-terminal fixture until the deadline and fail the test.
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := c.ShareTokens.Wait(ctx, id)
			return err
		}},
		"Connections.Get": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.Get(ctx, id)
			return err
		}},
		"Connections.Deactivate": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.Deactivate(ctx, id)
			return err
		}},
		"Connections.Reactivate": {"id", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.Reactivate(ctx, id)
			return err
		}},
		"ShareTokens.Create ConnectionID": {"ConnectionID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: id, SourceID: "inq_ABC123"})
			return err
		}},
		"ShareTokens.Create SourceID": {"SourceID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: id})
			return err
		}},
		"Connections.Create DestinationOrganizationID": {"DestinationOrganizationID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.Create(ctx, &connect.ConnectionCreateParams{DestinationOrganizationID: id})
			return err
		}},
	}
}

// optionalIDTargets take an id where empty means "not set".
func optionalIDTargets() map[string]idTarget {
	return map[string]idTarget{
		"ShareTokens.Redeem DestinationID": {"DestinationID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.Redeem(ctx, "cnst_ABC123", &connect.ShareTokenRedeemParams{DestinationID: id})
			return err
		}},
		"ShareTokens.List ConnectionID": {"ConnectionID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ConnectionID: id})
			return err
		}},
		"ShareTokens.List After": {"After", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: id}})
			return err
		}},
		"ShareTokens.List Before": {"Before", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{Before: id}})
			return err
		}},
		"ShareTokens.All After": {"After", func(ctx context.Context, c *connect.Client, id string) error {
			for _, err := range c.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: id}}) {
				return err
			}
			return nil
		}},
		"Connections.List DestinationOrganizationID": {"DestinationOrganizationID", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{DestinationOrganizationID: id})
			return err
		}},
		"Connections.List After": {"After", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{After: id}})
			return err
		}},
		"Connections.List Before": {"Before", func(ctx context.Context, c *connect.Client, id string) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{Before: id}})
			return err
		}},
		"Connections.All Before": {"Before", func(ctx context.Context, c *connect.Client, id string) error {
			for _, err := range c.Connections.All(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{Before: id}}) {
				return err
			}
			return nil
		}},
	}
}

// newRefusingClient returns a client whose server answers anything with a
// valid token, so that a request that should not have been sent succeeds
// and shows up in the recorder.
func newRefusingClient(t *testing.T) (*connect.Client, *recorder) {
	t.Helper()
	return newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/created.json")))
}

func TestInvalidIDsAreRefusedBeforeSending(t *testing.T) {
	for name, target := range idTargets() {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			for idName, id := range invalidIDs {
				err := target.call(context.Background(), c, id)
				requireValidationError(t, err, target.field)
				assert.NotContains(t, err.Error(), "\n", "%s: the error repeats a raw control character", idName)
			}
			assert.Equal(t, 0, rec.count(), "a request went out with an invalid id")
		})
	}
	for name, target := range optionalIDTargets() {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			for idName, id := range invalidIDs {
				if id == "" {
					continue // empty means unset here
				}
				err := target.call(context.Background(), c, id)
				requireValidationError(t, err, target.field)
				_ = idName
			}
			assert.Equal(t, 0, rec.count(), "a request went out with an invalid id")
		})
	}
}

func TestLongestValidIDIsSent(t *testing.T) {
	id := "cnst_" + strings.Repeat("a", 123) // 128 bytes
	require.Len(t, id, 128)
	for name, target := range idTargets() {
		if name == "ShareTokens.Wait" {
			continue // polls until terminal; the fixture is not
		}
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			// The fixtures decode as a share token or a connection; either
			// way the request must have gone out.
			_ = target.call(context.Background(), c, id)
			assert.Equal(t, 1, rec.count())
		})
	}
}

func TestShareTokenCreateValidation(t *testing.T) {
	valid := connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}
	with := func(f func(*connect.ShareTokenCreateParams)) *connect.ShareTokenCreateParams {
		p := valid
		f(&p)
		return &p
	}
	tests := []struct {
		name   string
		params *connect.ShareTokenCreateParams
		field  string
	}{
		{"nil params", nil, "params"},
		{"zero params", &connect.ShareTokenCreateParams{}, "ConnectionID"},
		{"missing ConnectionID", with(func(p *connect.ShareTokenCreateParams) { p.ConnectionID = "" }), "ConnectionID"},
		{"missing SourceID", with(func(p *connect.ShareTokenCreateParams) { p.SourceID = "" }), "SourceID"},
		{"ExpiresIn 59s", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = 59 * time.Second }), "ExpiresIn"},
		{"ExpiresIn 1ns", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = 1 }), "ExpiresIn"},
		{"ExpiresIn negative", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = -time.Hour }), "ExpiresIn"},
		{"ExpiresIn 21d+1s", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = 21*24*time.Hour + time.Second }), "ExpiresIn"},
		{"ExpiresIn 90.5s", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = 90*time.Second + 500*time.Millisecond }), "ExpiresIn"},
		{"ExpiresIn 21d+1ms", with(func(p *connect.ShareTokenCreateParams) { p.ExpiresIn = 21*24*time.Hour + time.Millisecond }), "ExpiresIn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			tok, err := c.ShareTokens.Create(context.Background(), tt.params)
			assert.Nil(t, tok)
			requireValidationError(t, err, tt.field)
			assert.Equal(t, 0, rec.count())
		})
	}
}

func TestShareTokenCreateExpiresInBounds(t *testing.T) {
	tests := map[string]struct {
		in   time.Duration
		body string
	}{
		"1 minute": {time.Minute, `{"data":{"attributes":{"connection-id":"cxn_ABC123","source-id":"inq_ABC123","expires-in-seconds":60}}}`},
		"21 days":  {21 * 24 * time.Hour, `{"data":{"attributes":{"connection-id":"cxn_ABC123","source-id":"inq_ABC123","expires-in-seconds":1814400}}}`},
		"zero":     {0, `{"data":{"attributes":{"connection-id":"cxn_ABC123","source-id":"inq_ABC123"}}}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			_, err := c.ShareTokens.Create(context.Background(), &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123", ExpiresIn: tt.in})
			require.NoError(t, err)
			assert.JSONEq(t, tt.body, string(rec.last(t).Body))
		})
	}
}

func TestShareTokenRedeemValidation(t *testing.T) {
	tests := []struct {
		name   string
		params *connect.ShareTokenRedeemParams
		field  string
	}{
		{"field mappings without DestinationID", &connect.ShareTokenRedeemParams{
			FieldMappings: []connect.FieldMapping{{SourceField: "a", DestinationField: "b"}},
		}, "FieldMappings"},
		{"mapping without SourceField", &connect.ShareTokenRedeemParams{
			DestinationID: "inq_XYZ789",
			FieldMappings: []connect.FieldMapping{{SourceField: "", DestinationField: "b"}},
		}, "FieldMappings[0]"},
		{"second mapping without DestinationField", &connect.ShareTokenRedeemParams{
			DestinationID: "inq_XYZ789",
			FieldMappings: []connect.FieldMapping{{SourceField: "a", DestinationField: "b"}, {SourceField: "c"}},
		}, "FieldMappings[1]"},
		{"mapping with a non-ASCII name", &connect.ShareTokenRedeemParams{
			DestinationID: "inq_XYZ789",
			FieldMappings: []connect.FieldMapping{{SourceField: "straße", DestinationField: "street"}},
		}, "FieldMappings[0]"},
		{"mapping with a control char", &connect.ShareTokenRedeemParams{
			DestinationID: "inq_XYZ789",
			FieldMappings: []connect.FieldMapping{{SourceField: "street", DestinationField: "a\nb"}},
		}, "FieldMappings[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			tok, err := c.ShareTokens.Redeem(context.Background(), "cnst_ABC123", tt.params)
			assert.Nil(t, tok)
			requireValidationError(t, err, tt.field)
			assert.Equal(t, 0, rec.count())
		})
	}
}

func TestListValidation(t *testing.T) {
	tests := []struct {
		name  string
		call  func(ctx context.Context, c *connect.Client) error
		field string
	}{
		{"share tokens PageSize -1", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: -1}})
			return err
		}, "PageSize"},
		{"share tokens PageSize 101", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 101}})
			return err
		}, "PageSize"},
		{"share tokens After and Before", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{After: "cnst_A", Before: "cnst_B"}})
			return err
		}, "After"},
		{"share tokens bad Status", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{Status: "created&filter[x]=y"})
			return err
		}, "Status"},
		{"share tokens Status with space", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{Status: "not created"})
			return err
		}, "Status"},
		{"share tokens bad Direction", func(ctx context.Context, c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, &connect.ShareTokenListParams{Direction: "in/out"})
			return err
		}, "Direction"},
		{"share tokens All PageSize 101", func(ctx context.Context, c *connect.Client) error {
			for _, err := range c.ShareTokens.All(ctx, &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: 101}}) {
				return err
			}
			return nil
		}, "PageSize"},
		{"connections PageSize -1", func(ctx context.Context, c *connect.Client) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: -1}})
			return err
		}, "PageSize"},
		{"connections PageSize 101", func(ctx context.Context, c *connect.Client) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: 101}})
			return err
		}, "PageSize"},
		{"connections After and Before", func(ctx context.Context, c *connect.Client) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{After: "cxn_A", Before: "cxn_B"}})
			return err
		}, "After"},
		{"connections bad Status", func(ctx context.Context, c *connect.Client) error {
			_, err := c.Connections.List(ctx, &connect.ConnectionListParams{Status: "active?x=1"})
			return err
		}, "Status"},
		{"connections All Before", func(ctx context.Context, c *connect.Client) error {
			for _, err := range c.Connections.All(ctx, &connect.ConnectionListParams{ListOptions: connect.ListOptions{Before: "cxn_B"}}) {
				return err
			}
			return nil
		}, "Before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			requireValidationError(t, tt.call(context.Background(), c), tt.field)
			assert.Equal(t, 0, rec.count())
		})
	}
}

func TestListPageSizeBounds(t *testing.T) {
	for _, size := range []int{1, 100} {
		c, rec := newTestClient(t, respond(http.StatusOK, fixture(t, "sharetokens/list_page1.json")))
		_, err := c.ShareTokens.List(context.Background(), &connect.ShareTokenListParams{ListOptions: connect.ListOptions{PageSize: size}})
		require.NoError(t, err, "PageSize %d", size)
		assert.Equal(t, 1, rec.count())
		c, rec = newTestClient(t, respond(http.StatusOK, fixture(t, "connections/list_page1.json")))
		_, err = c.Connections.List(context.Background(), &connect.ConnectionListParams{ListOptions: connect.ListOptions{PageSize: size}})
		require.NoError(t, err, "PageSize %d", size)
		assert.Equal(t, 1, rec.count())
	}
}

func TestConnectionCreateValidation(t *testing.T) {
	tests := []struct {
		name   string
		params *connect.ConnectionCreateParams
		field  string
	}{
		{"nil params", nil, "params"},
		{"empty destination", &connect.ConnectionCreateParams{}, "DestinationOrganizationID"},
		{"destination with a slash", &connect.ConnectionCreateParams{DestinationOrganizationID: "org_A/deactivate"}, "DestinationOrganizationID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			conn, err := c.Connections.Create(context.Background(), tt.params)
			assert.Nil(t, conn)
			requireValidationError(t, err, tt.field)
			assert.Equal(t, 0, rec.count())
		})
	}
}

func TestRequestOptionValidation(t *testing.T) {
	tests := []struct {
		name  string
		opt   connect.RequestOption
		field string
	}{
		{"empty idempotency key", connect.WithIdempotencyKey(""), "WithIdempotencyKey"},
		{"256-byte idempotency key", connect.WithIdempotencyKey(strings.Repeat("k", 256)), "WithIdempotencyKey"},
		{"idempotency key with newline", connect.WithIdempotencyKey("key\nInjected: 1"), "WithIdempotencyKey"},
		{"idempotency key non-ASCII", connect.WithIdempotencyKey("clé"), "WithIdempotencyKey"},
		{"Authorization header", connect.WithHeader("Authorization", "Bearer other"), "WithHeader"},
		{"authorization header lower case", connect.WithHeader("authorization", "Bearer other"), "WithHeader"},
		{"Idempotency-Key header", connect.WithHeader("Idempotency-Key", "k"), "WithHeader"},
		{"Content-Type header", connect.WithHeader("content-type", "text/plain"), "WithHeader"},
		{"empty header name", connect.WithHeader("", "v"), "WithHeader"},
		{"header name with colon", connect.WithHeader("X-A:", "v"), "WithHeader"},
		{"header name with space", connect.WithHeader("X A", "v"), "WithHeader"},
		{"header value with newline", connect.WithHeader("X-Trace", "a\r\nAuthorization: Bearer x"), "WithHeader"},
	}
	calls := map[string]func(ctx context.Context, c *connect.Client, opt connect.RequestOption) error{
		"POST": func(ctx context.Context, c *connect.Client, opt connect.RequestOption) error {
			_, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"}, opt)
			return err
		},
		"GET": func(ctx context.Context, c *connect.Client, opt connect.RequestOption) error {
			_, err := c.Connections.Get(ctx, "cxn_ABC123", opt)
			return err
		},
	}
	for _, tt := range tests {
		for method, call := range calls {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				c, rec := newRefusingClient(t)
				requireValidationError(t, call(context.Background(), c, tt.opt), tt.field)
				assert.Equal(t, 0, rec.count())
			})
		}
	}
}

func TestRequestOptionsAccepted(t *testing.T) {
	c, rec := newRefusingClient(t)
	key := strings.Repeat("k", 255)
	_, err := c.ShareTokens.Create(context.Background(),
		&connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"},
		connect.WithIdempotencyKey(key), connect.WithHeader("x-trace-id", "trace 1"), nil)
	require.NoError(t, err)
	r := rec.last(t)
	assert.Equal(t, key, r.Header.Get("Idempotency-Key"))
	assert.Equal(t, "trace 1", r.Header.Get("X-Trace-Id"))
	assert.Equal(t, "Bearer "+testAPIKey, r.Header.Get("Authorization"))
}

func TestNilContext(t *testing.T) {
	var ctx context.Context // nil
	calls := map[string]func(c *connect.Client) error{
		"ShareTokens.Get": func(c *connect.Client) error {
			_, err := c.ShareTokens.Get(ctx, "cnst_ABC123")
			return err
		},
		"ShareTokens.Create": func(c *connect.Client) error {
			_, err := c.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{ConnectionID: "cxn_ABC123", SourceID: "inq_ABC123"})
			return err
		},
		"ShareTokens.List": func(c *connect.Client) error {
			_, err := c.ShareTokens.List(ctx, nil)
			return err
		},
		"ShareTokens.All": func(c *connect.Client) error {
			for _, err := range c.ShareTokens.All(ctx, nil) {
				return err
			}
			return nil
		},
		"Connections.Reactivate": func(c *connect.Client) error {
			_, err := c.Connections.Reactivate(ctx, "cxn_ABC123")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			c, rec := newRefusingClient(t)
			var err error
			require.NotPanics(t, func() { err = call(c) })
			requireValidationError(t, err, "ctx")
			assert.Equal(t, 0, rec.count())
		})
	}
}

// TestWithHeaderRefusesEveryOwnedHeader: each header the SDK sets itself is
// refused, in any spelling, with a reason that names what to use instead;
// nothing is sent.
func TestWithHeaderRefusesEveryOwnedHeader(t *testing.T) {
	for name, instead := range map[string]string{
		"Authorization":   "NewClient",
		"Idempotency-Key": "WithIdempotencyKey",
		"Content-Type":    "application/json",
		"Accept":          "application/json",
		"Key-Inflection":  "kebab",
		"Persona-Version": "WithPersonaVersion",
		"User-Agent":      "WithUserAgent",
	} {
		for _, spelling := range []string{name, strings.ToLower(name), strings.ToUpper(name)} {
			t.Run(spelling, func(t *testing.T) {
				c, rec := newRefusingClient(t)
				_, err := c.Connections.Get(context.Background(), "cxn_ABC123", connect.WithHeader(spelling, "x"))
				ve := requireValidationError(t, err, "WithHeader")
				assert.Contains(t, ve.Reason, name)
				assert.Contains(t, ve.Reason, instead)
				assert.Equal(t, 0, rec.count())
			})
		}
	}
}

// TestBaseURLMustEndInAPIV1: a base URL without the API root's path is
// refused with a reason that says what to add.
func TestBaseURLMustEndInAPIV1(t *testing.T) {
	for _, base := range []string{
		"https://api.withpersona.com",
		"https://api.withpersona.com/",
		"https://api.withpersona.com/api",
		"https://api.withpersona.com/api/v2",
		"https://api.withpersona.com/api/v1/connect",
		"http://127.0.0.1:8080",
	} {
		t.Run(base, func(t *testing.T) {
			c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base))
			assert.Nil(t, c)
			ve := requireValidationError(t, err, "WithBaseURL")
			assert.Contains(t, ve.Reason, "/api/v1")
		})
	}
	for _, base := range []string{
		"https://api.withpersona.com/api/v1",
		"https://api.withpersona.com/api/v1/",
		"https://proxy.example/persona/api/v1",
		"http://127.0.0.1:8080/api/v1",
	} {
		c, err := connect.NewClient(testAPIKey, connect.WithBaseURL(base))
		assert.NoError(t, err, base)
		assert.NotNil(t, c, base)
	}
}
