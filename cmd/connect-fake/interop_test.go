package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFromNode starts connect-fake (this test binary running its main, see
// TestMain) as a process on a free loopback port and runs testdata/js with
// Node's own test runner: a whole share, driven over HTTP by another
// language, with the webhook signature verified there. No node on PATH
// skips the test, or fails it when CI=true.
func TestFromNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is not on PATH; CI needs it (Node 20 or later) to run testdata/js: %v", err)
		}
		t.Skip("node is not on PATH: install Node 20 or later to run testdata/js against connect-fake")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	self, err := os.Executable()
	require.NoError(t, err)
	fake := exec.CommandContext(ctx, self, "-addr", "127.0.0.1:0", "-json", "-redeem-delay", "50ms")
	fake.Env = append(os.Environ(), asConnectFake+"=1")
	stdout, err := fake.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	fake.Stderr = &stderr
	require.NoError(t, fake.Start())
	seedLine, exited := make(chan string, 1), make(chan error, 1)
	go func() {
		// Drain what follows the seed line, then reap the process.
		sc := bufio.NewScanner(stdout)
		var first string
		if sc.Scan() {
			first = sc.Text()
		}
		seedLine <- first
		for sc.Scan() {
		}
		exited <- fake.Wait()
	}()
	var sd seed
	select {
	case line := <-seedLine:
		require.NoError(t, json.Unmarshal([]byte(line), &sd), "the seed line: %q; stderr: %s", line, stderr.String())
	case <-ctx.Done():
		t.Fatal("connect-fake printed no seed")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		require.NoError(t, fake.Process.Signal(os.Interrupt))
		select {
		case err := <-exited:
			assert.NoError(t, err, "connect-fake's exit")
		case <-ctx.Done():
			t.Error("connect-fake did not stop on SIGINT")
		}
	}
	defer stop()

	root := strings.TrimSuffix(sd.URL, "/api/v1")
	script := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", filepath.Join("testdata", "js", "share.test.mjs"))
	script.Env = append(os.Environ(), "CONNECT_FAKE_URL="+root)
	out, err := script.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	require.NoError(t, err, "the Node script failed; connect-fake's log:\n%s", stderr.String())
	assert.Contains(t, string(out), "pass 2")

	stop()
	log := stderr.String()
	assert.Contains(t, log, " POST /_fake/organizations 200 ", "the request log names control calls")
	assert.Contains(t, log, "connect-fake: stopped")
	assert.NotContains(t, log, sd.Source.APIKey)
}
