package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	connect "github.com/personaconnect/connect-go"
	"github.com/personaconnect/connect-go/connecttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leafFlags returns every leaf's path and flag names, from the table.
func leafFlags(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	commandTable().leaves(func(path []string, leaf *command) {
		fs, _ := leaf.flagSet(&session{})
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		out[strings.Join(path, " ")] = names
	})
	require.Len(t, out, 21, "7 share-tokens, 5 connections, 2 events, 1 objects, 3 webhooks leaves, listen, completion and version")
	return out
}

func TestHelpForEveryCommand(t *testing.T) {
	for path, flags := range leafFlags(t) {
		args := append(strings.Fields(path), "--help")
		res := (*fixture)(nil).runEnv(t, nil, "", args...)
		assert.Equal(t, 0, res.code, path)
		assert.Empty(t, res.stderr, path)
		assert.Contains(t, res.stdout, "Usage:\n  connect "+path, path)
		for _, f := range flags {
			assert.Contains(t, res.stdout, "  --"+f, "%s --help lists --%s", path, f)
		}
		viaHelp := (*fixture)(nil).runEnv(t, nil, "", append([]string{"help"}, strings.Fields(path)...)...)
		assert.Equal(t, 0, viaHelp.code, "connect help %s", path)
		assert.Equal(t, res.stdout, viaHelp.stdout, "connect help %s", path)
	}
	for _, group := range []string{"share-tokens", "connections", "events", "objects", "webhooks"} {
		res := (*fixture)(nil).runEnv(t, nil, "", group, "-h")
		assert.Equal(t, 0, res.code)
		assert.Contains(t, res.stdout, "Usage:\n  connect "+group+" <command>")
		bare := (*fixture)(nil).runEnv(t, nil, "", group)
		assert.Equal(t, 2, bare.code, "a group needs a subcommand")
		assert.Equal(t, res.stdout, bare.stderr, "the help goes to stderr then")
	}
	root := (*fixture)(nil).runEnv(t, nil, "", "--help")
	leafHelp := (*fixture)(nil).runEnv(t, nil, "", "share-tokens", "redeem", "--help")
	golden(t, "help", root, leafHelp)
	bare := (*fixture)(nil).runEnv(t, nil, "")
	assert.Equal(t, 2, bare.code)
	assert.Equal(t, root.stdout, bare.stderr)
}

func TestUsageErrors(t *testing.T) {
	f := newFixture(t)
	for _, args := range [][]string{
		{"share-token"},
		{"share-tokens", "show"},
		{"share-tokens", "get", "--jsn", "x"},
		{"share-tokens", "get", "--", "a", "--json"},
		{"share-tokens", "list", "--page-size", "many"},
		{"share-tokens", "create", "--connection", "c", "--source", "s", "--expires-in", "tomorrow"},
		{"completion"},
		{"completion", "powershell"},
		{"version", "x"},
	} {
		res := f.run(t, f.acme, args...)
		assert.Equal(t, 2, res.code, "%v: %s", args, res.stderr)
		assert.Empty(t, res.stdout, "%v", args)
		assert.NotEmpty(t, res.stderr, "%v", args)
	}
	assert.Empty(t, f.srv.Requests(), "no usage error sends anything")

	dashes := f.run(t, f.acme, "share-tokens", "get", "--", "--json")
	assert.Equal(t, 1, dashes.code, "after -- a flag-like word is the id")
	assert.Equal(t, "/api/v1/connect/share-tokens/--json", f.srv.Requests()[0].Path)
	f.srv.ResetRequests()
	golden(t, "usage-errors",
		f.run(t, f.acme, "share-tokens", "show"),
		f.run(t, f.acme, "share-tokens", "get", "--jsn", "x"),
		f.run(t, f.acme, "share-tokens", "get"),
	)
}

func TestAPIKeyAndBaseURL(t *testing.T) {
	f := newFixture(t)
	noKey := f.run(t, nil, "connections", "list")
	assert.Equal(t, 2, noKey.code)
	assert.Contains(t, noKey.stderr, "no API key: set PERSONA_API_KEY or pass --api-key-file PATH")

	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(f.bank.APIKey+"\n"), 0o600))
	fromFile := f.run(t, f.acme, "connections", "list", "--api-key-file", keyFile, "--json")
	require.Equal(t, 0, fromFile.code, fromFile.stderr)
	assert.Equal(t, f.bank.ID, f.srv.Requests()[0].OrganizationID, "the file wins over PERSONA_API_KEY")

	empty := filepath.Join(t.TempDir(), "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	assert.Equal(t, 2, f.run(t, f.acme, "connections", "list", "--api-key-file", empty).code)
	missing := f.run(t, f.acme, "connections", "list", "--api-key-file", filepath.Join(t.TempDir(), "nope"))
	assert.Equal(t, 2, missing.code)
	assert.Contains(t, missing.stderr, "--api-key-file")

	badKey := "persona_sandbox_with space"
	res := f.runEnv(t, map[string]string{"PERSONA_API_KEY": badKey, "PERSONA_BASE_URL": f.srv.URL}, "", "connections", "list")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "the API key contains whitespace")
	assertNoSecret(t, res, badKey)

	res = f.runEnv(t, map[string]string{"PERSONA_API_KEY": f.acme.APIKey, "PERSONA_BASE_URL": "http://example.com/api/v1"}, "", "connections", "list")
	assert.Equal(t, 2, res.code)
	assert.Contains(t, res.stderr, "PERSONA_BASE_URL must use https")
	assert.Len(t, f.srv.Requests(), 1, "only the --api-key-file run reached the server")
}

func TestDebugLogsAttemptsButNeverTheKey(t *testing.T) {
	f := newFixture(t)
	id := f.createToken(t)
	ok := f.run(t, f.acme, "share-tokens", "get", id, "--debug")
	require.Equal(t, 0, ok.code, ok.stderr)
	assert.Contains(t, ok.stderr, "connect: attempt")
	assert.Contains(t, ok.stderr, "path=/connect/share-tokens/"+id)
	assert.Contains(t, ok.stderr, "status=200")

	notFound := f.run(t, f.acme, "share-tokens", "get", "cnst_nope", "--debug")
	assert.Equal(t, 1, notFound.code)
	assert.Contains(t, notFound.stderr, "status=404")

	wrongKey := "persona_sandbox_thisKeyIsNotKnownToTheFake0001"
	res := f.runEnv(t, map[string]string{"PERSONA_API_KEY": wrongKey, "PERSONA_BASE_URL": f.srv.URL}, "",
		"share-tokens", "list", "--debug", "--json")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "status 401")
	assertNoSecret(t, res, wrongKey)
	assertNoSecret(t, res, "thisKeyIsNotKnown")
}

func TestServerAndTransportErrorsExit1(t *testing.T) {
	f := newFixture(t)
	f.srv.InjectFault(connecttest.Fault{Method: "POST", PathPrefix: "/connect/share-tokens", Status: 500})
	res := f.run(t, f.acme, "share-tokens", "create", "--connection", f.cxn, "--source", f.inq)
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stderr, "status 500, Request-Id req_")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	// Connection refused, retried until --timeout: in a bubble, so that the
	// retry waits pass on its clock (the refusals cost no wait).
	synctest.Test(t, func(t *testing.T) {
		res := f.runEnv(t, map[string]string{"PERSONA_API_KEY": f.acme.APIKey, "PERSONA_BASE_URL": "http://" + addr + "/api/v1"}, "",
			"connections", "get", f.cxn, "--timeout", "1s")
		assert.Equal(t, 1, res.code)
		assert.Contains(t, res.stderr, "connect connections get: connect: GET /connect/connections/"+f.cxn)
	})
}

func TestRunIsTheEntryPoint(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"version"}, strings.NewReader(""), &stdout, &stderr, func(string) string { return "" })
	assert.Equal(t, 0, code)
	assert.Equal(t, "connect "+connect.Version+"\n", stdout.String())
	assert.Empty(t, stderr.String())
}

func TestCompletionScriptsNameEveryCommandAndFlag(t *testing.T) {
	leaves := leafFlags(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		res := (*fixture)(nil).runEnv(t, nil, "", "completion", shell)
		require.Equal(t, 0, res.code, res.stderr)
		script := res.stdout
		for path, flags := range leaves {
			for _, word := range strings.Fields(path) {
				assert.Contains(t, script, word, "%s script names %q", shell, word)
			}
			for _, f := range flags {
				want := "--" + f
				if shell == "fish" {
					want = "-l " + f
				}
				assert.Contains(t, script, want, "%s script offers %s for %s", shell, want, path)
			}
		}
	}
}

// TestBashCompletionCompletes loads the bash script and asks it for
// completions as bash would.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "bash is needed to test the bash script")
	script := (*fixture)(nil).runEnv(t, nil, "", "completion", "bash").stdout
	complete := func(words ...string) []string {
		t.Helper()
		prog := script + "\nCOMP_WORDS=(" + strings.Join(quoteAll(words), " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_connect\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	assert.Equal(t, []string{"share-tokens"}, complete("connect", "sh"))
	assert.ElementsMatch(t, []string{"create", "get", "peek", "redeem", "expire", "list", "wait"}, complete("connect", "share-tokens", ""))
	assert.Equal(t, []string{"reactivate"}, complete("connect", "connections", "re"))
	assert.Equal(t, []string{"--map"}, complete("connect", "share-tokens", "redeem", "--m"))
	assert.Equal(t, []string{"--page-size"}, complete("connect", "share-tokens", "list", "--pa"))
	assert.Equal(t, []string{"--poll"}, complete("connect", "share-tokens", "wait", "x", "--po"))
	assert.Equal(t, []string{"zsh"}, complete("connect", "completion", "z"))
	assert.Equal(t, []string{"--signature"}, complete("connect", "webhooks", "verify", "event.json", "--si"))
	assert.Equal(t, []string{"events"}, complete("connect", "ev"))
	assert.Equal(t, []string{"rotate-secret"}, complete("connect", "webhooks", "ro"))
	assert.Equal(t, []string{"--forward-to"}, complete("connect", "listen", "--fo"))
	assert.Equal(t, []string{"--show-secret"}, complete("connect", "webhooks", "rotate-secret", "wbh_1", "--sh"))
	assert.Equal(t, []string{"transaction", "txn"}, complete("connect", "objects", "get", "t"))
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return out
}

// TestFishAndZshCompletion checks the fish script's completions and the zsh
// script's syntax with the shells themselves. A machine without them skips
// it, except in CI (CI=true), where that is a failure.
func TestFishAndZshCompletion(t *testing.T) {
	t.Run("fish", func(t *testing.T) {
		fish, err := exec.LookPath("fish")
		if err != nil {
			requireInCI(t, "fish is not installed (.ci/run installs it)")
		}
		file := filepath.Join(t.TempDir(), "connect.fish")
		require.NoError(t, os.WriteFile(file, []byte((*fixture)(nil).runEnv(t, nil, "", "completion", "fish").stdout), 0o600))
		complete := func(line string) []string {
			t.Helper()
			out, err := exec.Command(fish, "--no-config", "-c", "source "+shellQuote(file)+"; complete -C "+shellQuote(line)).CombinedOutput()
			require.NoError(t, err, string(out))
			var words []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				words = append(words, strings.SplitN(l, "\t", 2)[0])
			}
			return words
		}
		assert.Equal(t, []string{"redeem"}, complete("connect share-tokens re"))
		assert.Equal(t, []string{"--map"}, complete("connect share-tokens redeem --m"))
		assert.Equal(t, []string{"--destination-organization"}, complete("connect connections list --dest"))
		assert.Equal(t, []string{"webhooks"}, complete("connect web"))
		assert.Equal(t, []string{"transaction", "txn"}, complete("connect objects get t"))
		assert.NotContains(t, complete("connect objects get inquiry "), "account", "the type is the first argument only")
		assert.Equal(t, []string{"--forward-to"}, complete("connect listen --forw"))
	})
	t.Run("zsh", func(t *testing.T) {
		zsh, err := exec.LookPath("zsh")
		if err != nil {
			requireInCI(t, "zsh is not installed (.ci/run installs it)")
		}
		file := filepath.Join(t.TempDir(), "_connect")
		require.NoError(t, os.WriteFile(file, []byte((*fixture)(nil).runEnv(t, nil, "", "completion", "zsh").stdout), 0o600))
		out, err := exec.Command(zsh, "-n", file).CombinedOutput()
		require.NoError(t, err, string(out))
		out, err = exec.Command(zsh, "-f", "-c", "autoload -Uz compinit; compinit -u; source "+shellQuote(file)+"; whence -w _connect").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "_connect: function")
	})
}

// requireInCI skips the test with reason, or fails it when CI=true: CI must
// run every check.
func requireInCI(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}
