package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	connect "github.com/personaconnect/connect-go"
)

// groupUsage prints the help of the root or of a group: its subcommands,
// and for the root every leaf under them.
func (s *session) groupUsage(w io.Writer, cmd *command, path []string) {
	name := commandLine(path)
	fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s <command> [arguments] [flags]\n\nCommands:\n", name, cmd.summary, name)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, sub := range cmd.subs {
		fmt.Fprintf(tw, "  %s\t%s\n", sub.name, sub.summary)
		if len(path) == 0 {
			for _, leaf := range sub.subs {
				fmt.Fprintf(tw, "    %s\t%s\n", leaf.name, leaf.summary)
			}
		}
	}
	tw.Flush()
	if len(path) == 0 {
		fmt.Fprint(w, `
Environment:
  PERSONA_API_KEY         the API key (or --api-key-file PATH); never printed
  PERSONA_BASE_URL        the API's base URL, default `+connect.DefaultBaseURL+`
  PERSONA_WEBHOOK_SECRET  webhook secret(s) for "webhooks sign" and "webhooks verify"
`)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", name)
}

// leafUsage prints a leaf's help: synopsis, text and every flag.
func (s *session) leafUsage(w io.Writer, cmd *command, path []string, fs *flag.FlagSet) {
	synopsis := commandLine(path)
	if cmd.args != "" {
		synopsis += " " + cmd.args
	}
	fmt.Fprintf(w, "Usage:\n  %s [flags]\n\n%s.\n", synopsis, upperFirst(cmd.summary))
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.help))
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if kind != "" {
			name += " " + kind
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	fmt.Fprintf(tw, "  --help\tshow this help\n")
	tw.Flush()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
