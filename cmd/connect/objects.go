package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	connect "github.com/personaconnect/connect-go"
)

var objectsGet = &command{
	name:    "get",
	args:    "<type> <id>",
	summary: "show an inquiry, account, transaction or verification, such as a redemption's copy",
	help: `The type is inquiry, account, transaction (or txn, as share tokens name it),
verification, or a specific verification type such as verification/database.
It is what a share token's source or destination shows before the id:

  connect objects get inquiry inq_…

The readable form lists each attribute with its value as compact JSON,
sorted by name ("fields" holds the object's fields). --json prints
{"type", "id", "status", "attributes"}, the attributes as received.`,
	api:     true,
	choices: []string{"inquiry", "account", "transaction", "txn", "verification"},
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "<type>", "<id>"); err != nil {
				return err
			}
			return s.withClient(func(c *connect.Client) error {
				obj, err := c.Objects.Get(ctx, &connect.ResourceRef{Type: args[0], ID: args[1]})
				if err != nil {
					return err
				}
				if s.json {
					return printJSON(s.stdout, objectOutput(obj))
				}
				return printObject(s, obj)
			})
		}
	},
}

// printObject prints the object's type, id and status, then a table of its
// attributes.
func printObject(s *session, obj *connect.Object) error {
	if err := printSummary(s.stdout, []field{
		{"type", obj.Type},
		{"id", obj.ID},
		{"status", orDash(obj.Status)},
	}); err != nil {
		return err
	}
	fmt.Fprintln(s.stdout)
	tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join([]string{"ATTRIBUTE", "VALUE"}, "\t"))
	for _, name := range slices.Sorted(maps.Keys(obj.Attributes)) {
		fmt.Fprintf(tw, "%s\t%s\n", name, compactJSON(obj.Attributes[name]))
	}
	return tw.Flush()
}
