package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	connect "github.com/personaconnect/connect-go"
)

// syncBuffer is a bytes.Buffer that run can write to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs the fake with args until the test ends, and returns what it
// printed once it is ready, with the exported variables it listed.
func start(t *testing.T, args ...string) (string, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), &out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
			assert.Contains(t, out.String(), "connect-fake: stopped")
		case <-time.After(10 * time.Second):
			t.Error("run did not return after its context ended")
		}
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, out.String())
		default:
		}
		return strings.Contains(out.String(), "Ctrl-C stops it")
	}, 10*time.Second, 10*time.Millisecond)

	printed := out.String()
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+export (PERSONA_\w+)=(\S+)$`).FindAllStringSubmatch(printed, -1) {
		vars[m[1]] = m[2]
	}
	return printed, vars
}

func client(t *testing.T, vars map[string]string, key string, opts ...connect.ClientOption) *connect.Client {
	t.Helper()
	c, err := connect.NewClient(vars[key], append([]connect.ClientOption{connect.WithBaseURL(vars["PERSONA_BASE_URL"])}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestPrintedKeysWorkWithTheSDK(t *testing.T) {
	printed, vars := start(t, "-redeem-delay", "0")
	t.Log("\n" + printed)
	for _, k := range []string{"PERSONA_BASE_URL", "PERSONA_SOURCE_API_KEY", "PERSONA_DESTINATION_API_KEY",
		"PERSONA_CONNECTION_ID", "PERSONA_INQUIRY_ID"} {
		require.NotEmpty(t, vars[k], k)
	}
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/api/v1$`, vars["PERSONA_BASE_URL"])
	assert.Regexp(t, `source\s+Acme KYC\s+org_\w+\s+API key `+regexp.QuoteMeta(vars["PERSONA_SOURCE_API_KEY"]), printed)
	assert.Regexp(t, `destination\s+Bank\s+org_\w+\s+API key `+regexp.QuoteMeta(vars["PERSONA_DESTINATION_API_KEY"]), printed)
	assert.Contains(t, printed, "curl -s -X POST "+vars["PERSONA_BASE_URL"]+"/connect/share-tokens")
	assert.Contains(t, printed, "Redemptions stay pending for 0s; rate limit 300 requests per 1m0s per organization.")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	source := client(t, vars, "PERSONA_SOURCE_API_KEY")
	dest := client(t, vars, "PERSONA_DESTINATION_API_KEY")

	cxn, err := source.Connections.Get(ctx, vars["PERSONA_CONNECTION_ID"])
	require.NoError(t, err)
	assert.Equal(t, connect.ConnectionStatusActive, cxn.Status)

	tok, err := source.ShareTokens.Create(ctx, &connect.ShareTokenCreateParams{
		ConnectionID: vars["PERSONA_CONNECTION_ID"],
		SourceID:     vars["PERSONA_INQUIRY_ID"],
	})
	require.NoError(t, err)
	assert.Equal(t, connect.ShareTokenStatusCreated, tok.Status)

	_, err = dest.ShareTokens.Redeem(ctx, tok.ID, nil)
	require.NoError(t, err)
	tok, err = dest.ShareTokens.Wait(ctx, tok.ID)
	require.NoError(t, err)
	assert.Equal(t, connect.ShareTokenStatusRedeemed, tok.Status)
	require.NotNil(t, tok.Destination)
	assert.Equal(t, "inquiry", tok.Destination.Type)
}

func TestRateLimitFlags(t *testing.T) {
	printed, vars := start(t, "-rate-limit", "2", "-rate-window", "1h")
	assert.Contains(t, printed, "rate limit 2 requests per 1h0m0s per organization")
	source := client(t, vars, "PERSONA_SOURCE_API_KEY", connect.WithMaxRetries(0), connect.WithMaxRateLimitWait(time.Millisecond))
	ctx := context.Background()
	for range 2 {
		_, err := source.Connections.Get(ctx, vars["PERSONA_CONNECTION_ID"])
		require.NoError(t, err)
	}
	_, err := source.Connections.Get(ctx, vars["PERSONA_CONNECTION_ID"])
	assert.ErrorIs(t, err, connect.ErrRateLimited)
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-h"}, &out, io.Discard))
	help := out.String()
	assert.Contains(t, help, "fake of Persona's Connect Share")
	for _, flag := range []string{"-addr", "-public", "-redeem-delay", "-rate-limit", "-rate-window", "-json", "-quiet",
		"-clock", "-max-recorded-requests", "-peek-full-fields", "-webhook-timeout", "-read-header-timeout",
		"-read-timeout", "-idle-timeout"} {
		assert.Regexp(t, `(?m)^  `+flag+`\b`, help, "flag %s", flag)
	}
	assert.Contains(t, help, `(default "127.0.0.1:8080")`)
}

func TestRefusesNonLoopbackWithoutPublic(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080", "example.com:80"} {
		var out bytes.Buffer
		err := run(context.Background(), []string{"-addr", addr}, &out, io.Discard)
		var usage usageError
		require.True(t, errors.As(err, &usage), "%s: %v", addr, err)
		assert.Contains(t, err.Error(), "add -public", addr)
		assert.Empty(t, out.String(), "no keys printed for %s", addr)
	}
	for _, addr := range []string{"localhost:8080", "127.0.0.2:1", "[::1]:8080"} {
		assert.NoError(t, checkLoopback(addr, false), addr)
	}
	assert.NoError(t, checkLoopback("0.0.0.0:8080", true))
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"-redeem-delay", "-1s"},
		{"-rate-window", "0s"},
		{"-rate-limit", "-3"},
		{"extra"},
		{"-addr", "no-port"},
		{"-clock", "tomorrow"},
		{"-max-recorded-requests", "0"},
		{"-read-header-timeout", "0s"},
		{"-webhook-timeout", "-1s"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, &out, io.Discard)
		var usage usageError
		assert.True(t, errors.As(err, &usage), "%v: %v", args, err)
	}
}
