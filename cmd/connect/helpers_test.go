package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestMain fails the package when a goroutine outlives the tests: a client
// whose idle connections were not closed, a server left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start is the fake's clock at the start of every test, so that times in
// the golden files are the same on every run.
var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// A fixture is a fake Persona with a source (acme) and a destination (bank)
// organization, an active connection between them and an inquiry of the
// source.
type fixture struct {
	srv        *connecttest.Server
	clock      *connecttest.Clock
	acme, bank *connecttest.Organization
	cxn, inq   string
}

func newFixture(t *testing.T, opts ...connecttest.Option) *fixture {
	t.Helper()
	return newFixtureAt(t, start, opts...)
}

// newFixtureAt is newFixture with the fake's clock starting at at.
func newFixtureAt(t *testing.T, at time.Time, opts ...connecttest.Option) *fixture {
	t.Helper()
	clock := connecttest.NewClock(at)
	opts = append([]connecttest.Option{
		connecttest.WithClock(clock),
		connecttest.WithRedeemDelay(5 * time.Second),
		connecttest.WithPeekFullFields("name-first"),
	}, opts...)
	srv := connecttest.NewServer(opts...)
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, clock: clock}
	f.acme = srv.NewOrganization("Acme KYC")
	f.bank = srv.NewOrganization("Bank")
	f.cxn = srv.NewActiveConnection(f.acme, f.bank)
	f.inq = srv.NewInquiry(f.acme, map[string]any{"name-first": "Ada", "name-last": "Lovelace"})
	clock.Advance(time.Second)
	return f
}

// A result is what one run of the command printed and returned.
type result struct {
	args           []string
	code           int
	stdout, stderr string
}

// run runs the command as org against the fixture's server, on the fake's
// clock: the wait loop's sleeps advance it instead of sleeping. It fails
// the test if the key of any organization appears in the output.
func (f *fixture) run(t *testing.T, org *connecttest.Organization, args ...string) result {
	t.Helper()
	env := map[string]string{"PERSONA_BASE_URL": f.srv.URL}
	if org != nil {
		env["PERSONA_API_KEY"] = org.APIKey
	}
	return f.runEnv(t, env, "", args...)
}

func (f *fixture) runEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	s := newSession(strings.NewReader(stdin), &stdout, &stderr, func(k string) string { return env[k] })
	if f != nil {
		s.now = f.clock.Now
		s.sleep = func(ctx context.Context, d time.Duration) error {
			f.clock.Advance(d)
			return ctx.Err()
		}
	}
	code := s.main(context.Background(), args)
	res := result{args: args, code: code, stdout: stdout.String(), stderr: stderr.String()}
	if f != nil {
		for _, o := range f.srv.Organizations() {
			assertNoSecret(t, res, o.APIKey)
		}
	}
	return res
}

func assertNoSecret(t *testing.T, res result, secret string) {
	t.Helper()
	assert.NotContains(t, res.stdout, secret, "a secret on stdout")
	assert.NotContains(t, res.stderr, secret, "a secret on stderr")
}

// personaID matches the fake's object tokens: a prefix, "_", 24 random
// characters.
var personaID = regexp.MustCompile(`\b([a-z]+)_([A-Za-z0-9]{24})\b`)

// normalize replaces every id with prefix_000…n, numbered per prefix in
// order of first appearance, keeping its length so columns stay aligned.
func normalize(text string) string {
	seen := map[string]string{}
	count := map[string]int{}
	return personaID.ReplaceAllStringFunc(text, func(id string) string {
		if r, ok := seen[id]; ok {
			return r
		}
		prefix := id[:strings.IndexByte(id, '_')]
		count[prefix]++
		r := fmt.Sprintf("%s_%024d", prefix, count[prefix])
		seen[id] = r
		return r
	})
}

// golden compares the results, rendered as a transcript, with
// testdata/golden/<name>.txt, or writes the file under -update.
func golden(t *testing.T, name string, results ...result) {
	t.Helper()
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "$ connect %s\nexit %d\n", strings.Join(r.args, " "), r.code)
		if r.stdout != "" {
			b.WriteString("-- stdout --\n" + r.stdout)
		}
		if r.stderr != "" {
			b.WriteString("-- stderr --\n" + r.stderr)
		}
	}
	got := normalize(b.String())
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), got, "%s differs; go test -update rewrites it", path)
}

// createToken makes a share token as the source, through the command.
func (f *fixture) createToken(t *testing.T) string {
	t.Helper()
	res := f.run(t, f.acme, "share-tokens", "create", "--connection", f.cxn, "--source", f.inq, "--json")
	require.Equal(t, 0, res.code, res.stderr)
	id := decodeJSON(t, res.stdout)["id"].(string)
	f.clock.Advance(time.Second)
	return id
}
