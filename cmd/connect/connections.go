package main

import (
	"context"
	"flag"
	"iter"
	"strings"

	connect "github.com/personaconnect/connect-go"
)

var connectionsCreate = &command{
	name:    "create",
	args:    "--destination-organization <id>",
	summary: "ask another organization for a connection (source side); it accepts in its Dashboard",
	help: `The connection stays pending until the destination accepts it in Persona's
Dashboard; "connect connections get <id>" shows when it is active.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.ConnectionCreateParams
		fs.StringVar(&p.DestinationOrganizationID, "destination-organization", "", "connect to the organization with this `id` (destination-organization-id)")
		key := idempotencyFlag(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := requireFlags(fs, "destination-organization"); err != nil {
				return err
			}
			return s.connectionCall(func(c *connect.Client) (*connect.Connection, error) {
				return c.Connections.Create(ctx, &p, idempotency(*key)...)
			})
		}
	},
}

var connectionsGet = &command{
	name:    "get",
	args:    "<connection-id>",
	summary: "show a connection",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		return oneConnection(func(ctx context.Context, c *connect.Client, id string) (*connect.Connection, error) {
			return c.Connections.Get(ctx, id)
		})
	},
}

var connectionsList = &command{
	name:    "list",
	summary: "list connections, newest first",
	help: `Without --all one page is shown, and stderr tells the --after cursor of the
next one. --json prints one object per line.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.ConnectionListParams
		var status string
		fs.StringVar(&status, "status", "", "only connections in this `status`: "+strings.Join(connectionStatuses, ", "))
		fs.StringVar(&p.DestinationOrganizationID, "destination-organization", "", "only connections to the organization with this `id` (filter[destination-organization-id])")
		pg := pagingFlags(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := oneOf("--status", status, connectionStatuses); err != nil {
				return err
			}
			p.Status = connect.ConnectionStatus(status)
			p.PageSize, p.After = pg.size, pg.after
			return s.withClient(func(c *connect.Client) error {
				var items iter.Seq2[*connect.Connection, error]
				if pg.all {
					items = c.Connections.All(ctx, &p)
				} else {
					page, err := c.Connections.List(ctx, &p)
					if err != nil {
						return err
					}
					items = pageItems(s, page, "connect connections list")
				}
				return printList(s, connectionTable, items)
			})
		}
	},
}

var connectionsDeactivate = &command{
	name:    "deactivate",
	args:    "<connection-id>",
	summary: "deactivate a connection (either side); its tokens can no longer be created or redeemed",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		key := idempotencyFlag(fs)
		return oneConnection(func(ctx context.Context, c *connect.Client, id string) (*connect.Connection, error) {
			return c.Connections.Deactivate(ctx, id, idempotency(*key)...)
		})
	},
}

var connectionsReactivate = &command{
	name:    "reactivate",
	args:    "<connection-id>",
	summary: "reactivate an inactive connection (source side); it is pending until the destination accepts again",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		key := idempotencyFlag(fs)
		return oneConnection(func(ctx context.Context, c *connect.Client, id string) (*connect.Connection, error) {
			return c.Connections.Reactivate(ctx, id, idempotency(*key)...)
		})
	},
}

var connectionStatuses = []string{"pending", "active", "inactive"}

// oneConnection is the action of the leaves that take one connection id and
// print the connection the call returns.
func oneConnection(call func(context.Context, *connect.Client, string) (*connect.Connection, error)) action {
	return func(ctx context.Context, s *session, args []string) error {
		if err := wantArgs(args, "<connection-id>"); err != nil {
			return err
		}
		return s.connectionCall(func(c *connect.Client) (*connect.Connection, error) {
			return call(ctx, c, args[0])
		})
	}
}

func (s *session) connectionCall(call func(*connect.Client) (*connect.Connection, error)) error {
	return s.withClient(func(c *connect.Client) error {
		cxn, err := call(c)
		if err != nil {
			return err
		}
		return printOne(s, cxn, connectionSummary, func(c *connect.Connection) any { return connectionOutput(c) })
	})
}
