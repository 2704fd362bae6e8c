package main

import (
	"context"
	"flag"
	"time"
)

// A command is one node of the command tree: a group, which only holds
// subcommands, or a leaf, which has a setup. The dispatcher, the help text
// and the shell completion scripts are all made from this tree, so none of
// them can name a command or flag that does not exist.
type command struct {
	name    string
	args    string // the synopsis after the name, such as "<share-token-id>"
	summary string // one line, for the listings
	help    string // paragraphs for --help, after the summary; optional
	subs    []*command

	// setup defines the leaf's own flags on fs and returns the action to
	// run once they are parsed.
	setup func(fs *flag.FlagSet) action
	// api leaves talk to Persona: they get the flags of apiFlags and a
	// client from the session.
	api bool
	// timeout is the default --timeout of an api leaf; zero means
	// defaultTimeout, noTimeout none.
	timeout time.Duration
	// choices, when set, are the values the first argument takes, for the
	// completion scripts.
	choices []string
}

// An action runs a leaf with its positional arguments. Errors decide the
// exit status (see exitStatus).
type action func(ctx context.Context, s *session, args []string) error

const (
	defaultTimeout = time.Minute
	noTimeout      = -1 // for commands that run until stopped
)

// commandTable is the whole command line. Each group's leaves live in the
// group's own file; adding an operation is a leaf there and a line here.
func commandTable() *command {
	return &command{
		name:    "connect",
		summary: "Persona Connect from the terminal: share tokens, connections, events, objects, webhooks",
		subs: []*command{
			{
				name:    "share-tokens",
				summary: "create, inspect, redeem, expire and wait for share tokens",
				subs: []*command{
					shareTokensCreate, shareTokensGet, shareTokensPeek, shareTokensRedeem,
					shareTokensExpire, shareTokensList, shareTokensWait,
				},
			},
			{
				name:    "connections",
				summary: "create, inspect, list, deactivate and reactivate connections",
				subs: []*command{
					connectionsCreate, connectionsGet, connectionsList,
					connectionsDeactivate, connectionsReactivate,
				},
			},
			{
				name:    "events",
				summary: "list and read the organization's events",
				subs:    []*command{eventsList, eventsGet},
			},
			{
				name:    "objects",
				summary: "read inquiries, accounts, transactions and verifications",
				subs:    []*command{objectsGet},
			},
			{
				name:    "webhooks",
				summary: "rotate a webhook's secret; sign and verify payloads offline, to debug a receiver",
				subs:    []*command{webhooksRotateSecret, webhooksSign, webhooksVerify},
			},
			listenCommand,
			completionCommand,
			versionCommand,
		},
	}
}

// find returns the subcommand called name, or nil.
func (c *command) find(name string) *command {
	for _, sub := range c.subs {
		if sub.name == name {
			return sub
		}
	}
	return nil
}

// leaves calls visit for every leaf under c with its path from the root
// (the root's own name excluded), in table order.
func (c *command) leaves(visit func(path []string, leaf *command)) {
	var walk func(prefix []string, n *command)
	walk = func(prefix []string, n *command) {
		for _, sub := range n.subs {
			p := append(prefix[:len(prefix):len(prefix)], sub.name)
			if sub.subs == nil {
				visit(p, sub)
			} else {
				walk(p, sub)
			}
		}
	}
	walk(nil, c)
}

// flagSet returns the leaf's complete flag set, the common flags included,
// and the action bound to it. Parsing, help and completion all use it.
func (c *command) flagSet(s *session) (*flag.FlagSet, action) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	if c.api {
		s.apiFlags(fs, c)
	}
	return fs, c.setup(fs)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
