package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
)

func noEnv(string) string { return "" }

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestShareFlowOnTheFake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	require.NoError(t, run(ctx, &out, noEnv), out.String())
	got := out.String()
	t.Log("\n" + got)
	assert.Less(t, time.Since(start), 10*time.Second, "the demo should finish in seconds")

	steps := []string{
		"Two organizations: Acme KYC shares, Bank receives",
		"Acme KYC creates a connection to Bank",
		"Bank accepts the connection",
		"Acme KYC checks that the connection is active",
		"Acme KYC creates a share token for inquiry inq_",
		"Hand-over: Acme KYC sends Bank the token id cnst_",
		"Bank peeks at the token",
		"Bank redeems the token",
		"Bank waits for the asynchronous redemption",
		"The copied inquiry, now Bank's",
		"Bank reads its copy through the API (Objects.Get)",
	}
	for i, step := range steps {
		assert.Regexp(t, fmt.Sprintf(`(?m)^ ?%d\. %s`, i+1, regexp.QuoteMeta(step)), got)
	}

	tok := regexp.MustCompile(`token id (cnst_\w+)`).FindStringSubmatch(got)
	require.NotNil(t, tok)
	id := tok[1]
	assert.Contains(t, got, "Idempotency-Key redeem-"+id)
	assert.Regexp(t, `(?m)^\s+cxn_\w+ active: org_\w+ → org_\w+`, got)
	assert.Contains(t, got, id+" created (outbound)")
	assert.Contains(t, got, id+" created (inbound)")
	assert.Regexp(t, `name-first\s+full\s+"Ada"`, got, "a field shown in full by the peek")
	assert.Regexp(t, `name-last\s+presence\s+\(has a value, not shown\)`, got, "a field shown by presence")
	assert.Contains(t, got, id+" pending, mode clone")
	assert.Regexp(t, regexp.QuoteMeta(id)+` redeemed at \d{4}-\d\d-\d\d `, got)

	// The copy: a new inquiry owned by Bank, cloned from the source, with
	// every field of the source.
	source := regexp.MustCompile(`completed inquiry (inq_\w+)`).FindStringSubmatch(got)[1]
	dest := regexp.MustCompile(`destination: inquiry (inq_\w+)`).FindStringSubmatch(got)
	require.NotNil(t, dest)
	assert.NotEqual(t, source, dest[1])
	_, copied, ok := strings.Cut(got, "The copied inquiry")
	require.True(t, ok)
	assert.Contains(t, copied, "owned by Bank")
	assert.Contains(t, copied, "cloned from "+source+" (Acme KYC's), by share token "+id)
	for name, value := range map[string]string{
		"name-first": "Ada", "name-last": "Lovelace", "birthdate": "1815-12-10",
		"email-address": "ada@example.com", "address-city": "London",
	} {
		assert.Regexp(t, `(?m)^\s+`+name+`\s+"`+regexp.QuoteMeta(value)+`"$`, copied)
	}
	assert.Contains(t, copied, "fields: the same as the source's")
	copyRef := regexp.MustCompile(`destination: inquiry (inq_\w+)`).FindStringSubmatch(got)
	require.NotNil(t, copyRef)
	_, read, ok := strings.Cut(got, "reads its copy through the API")
	require.True(t, ok)
	assert.Contains(t, read, "inquiry "+copyRef[1]+", status completed")
	assert.Regexp(t, `Done in [\d.]+m?s: Bank now owns a copy of Acme KYC's inquiry.`, got)
}

func TestPartialConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		env     map[string]string
		missing []string
	}{
		"two of four": {
			env:     map[string]string{"PERSONA_SOURCE_API_KEY": "persona_sandbox_x", "PERSONA_DESTINATION_API_KEY": "persona_sandbox_y"},
			missing: []string{"PERSONA_CONNECTION_ID and PERSONA_INQUIRY_ID are not set"},
		},
		"one missing": {
			env: map[string]string{"PERSONA_SOURCE_API_KEY": "a", "PERSONA_DESTINATION_API_KEY": "b",
				"PERSONA_CONNECTION_ID": "cxn_1"},
			missing: []string{"PERSONA_INQUIRY_ID is not set"},
		},
		"only the base URL": {
			env: map[string]string{"PERSONA_BASE_URL": "https://example.com/api/v1"},
			missing: []string{"PERSONA_SOURCE_API_KEY, PERSONA_DESTINATION_API_KEY, " +
				"PERSONA_CONNECTION_ID and PERSONA_INQUIRY_ID are not set"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			err := run(context.Background(), &out, envOf(tc.env))
			require.Error(t, err)
			assert.Empty(t, out.String(), "nothing runs")
			assert.Equal(t, 2, report(&stderr, err))
			msg := stderr.String()
			for _, m := range tc.missing {
				assert.Contains(t, msg, m)
			}
			assert.Contains(t, msg, "or none of them")
			assert.NotContains(t, msg, "goroutine", "no stack trace")
			assert.Equal(t, 3, strings.Count(msg, "\n"), "three short lines: %q", msg)
		})
	}
}

// The Persona path is the same flow; a connecttest server stands in for
// Persona through PERSONA_BASE_URL.
func TestPersonaConfiguration(t *testing.T) {
	srv := connecttest.NewServer()
	defer srv.Close()
	acme, bank := srv.NewOrganization("Acme KYC"), srv.NewOrganization("Bank")
	inq := srv.NewInquiry(acme, map[string]any{"name-first": "Ada"})
	env := map[string]string{
		"PERSONA_BASE_URL":            srv.URL,
		"PERSONA_SOURCE_API_KEY":      acme.APIKey,
		"PERSONA_DESTINATION_API_KEY": bank.APIKey,
		"PERSONA_CONNECTION_ID":       srv.NewActiveConnection(acme, bank),
		"PERSONA_INQUIRY_ID":          inq,
	}

	t.Run("active connection", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, run(context.Background(), &out, envOf(env)), out.String())
		got := out.String()
		assert.Contains(t, got, "Share flow on "+srv.URL)
		assert.Contains(t, got, "The source checks that the connection is active")
		assert.Contains(t, got, "The source creates a share token for inquiry "+inq)
		assert.Regexp(t, `The copy is inquiry inq_\w+, in the destination's environment`, got)
		assert.NotContains(t, got, acme.APIKey)
	})

	t.Run("connection not active", func(t *testing.T) {
		// A connection the destination never accepted.
		other := srv.NewOrganization("Other")
		src, err := connect.NewClient(acme.APIKey, connect.WithBaseURL(srv.URL))
		require.NoError(t, err)
		c, err := src.Connections.Create(context.Background(),
			&connect.ConnectionCreateParams{DestinationOrganizationID: other.ID})
		require.NoError(t, err)
		cxn := maps.Clone(env)
		cxn["PERSONA_CONNECTION_ID"] = c.ID

		var out, stderr bytes.Buffer
		err = run(context.Background(), &out, envOf(cxn))
		require.Error(t, err)
		assert.Equal(t, 2, report(&stderr, err))
		assert.Contains(t, stderr.String(), "connection "+c.ID+" is pending, not active")
		assert.Contains(t, stderr.String(), "accepts it in Persona's Dashboard")
	})

	t.Run("an API error shows status and request id", func(t *testing.T) {
		bad := maps.Clone(env)
		bad["PERSONA_INQUIRY_ID"] = srv.NewInquiry(bank, nil) // not the source's
		var out, stderr bytes.Buffer
		err := run(context.Background(), &out, envOf(bad))
		require.Error(t, err)
		assert.Contains(t, out.String(), "FAILED:")
		assert.Equal(t, 1, report(&stderr, err))
		msg := stderr.String()
		assert.Contains(t, msg, "step 3 (The source creates a share token")
		assert.Contains(t, msg, "HTTP status: 422 Unprocessable Entity (POST /connect/share-tokens)")
		assert.Regexp(t, `request id:\s+req_\w+`, msg)
		assert.Contains(t, msg, "about:       /data/attributes/source-id")
	})
}
