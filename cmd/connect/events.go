package main

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"strings"

	connect "github.com/personaconnect/connect-go"
)

var eventsList = &command{
	name:    "list",
	summary: "list the organization's events, newest first",
	help: `The filters take several values, repeated or separated by commas; an event
matches a filter when it matches one of its values. Without --all one page
is shown, and stderr tells the --after cursor of the next one. --json
prints one object per line, each with the event's payload as received.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.EventListParams
		fs.Var((*listFlag)(&p.Names), "name", "only events with this `name`, such as inquiry.completed (filter[name]); repeatable")
		fs.Var((*listFlag)(&p.ObjectIDs), "object", "only events about the object with this `id` (filter[object-id]); repeatable")
		fs.Var((*listFlag)(&p.IDs), "id", "only the event with this `id` (filter[id]); repeatable")
		pg := pagingFlags(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			p.PageSize, p.After = pg.size, pg.after
			return s.withClient(func(c *connect.Client) error {
				var items iter.Seq2[*connect.Event, error]
				if pg.all {
					items = c.Events.All(ctx, &p)
				} else {
					page, err := c.Events.List(ctx, &p)
					if err != nil {
						return err
					}
					items = pageItems(s, page, "connect events list")
				}
				return printList(s, eventTable, items)
			})
		}
	},
}

var eventsGet = &command{
	name:    "get",
	args:    "<event-id>",
	summary: "show an event with its payload",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "<event-id>"); err != nil {
				return err
			}
			return s.withClient(func(c *connect.Client) error {
				ev, err := c.Events.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if s.json {
					return printJSON(s.stdout, eventOutput(ev))
				}
				if err := printSummary(s.stdout, eventSummary(ev)); err != nil {
					return err
				}
				_, err = fmt.Fprintf(s.stdout, "\npayload:\n%s\n", indentJSON(ev.Payload, "  "))
				return err
			})
		}
	},
}

// listFlag is a repeatable flag whose values may also be comma-separated,
// as filters are: "--name a --name b" is "--name a,b".
type listFlag []string

func (f *listFlag) String() string { return (*stringsFlag)(f).String() }

func (f *listFlag) Set(v string) error {
	for _, item := range splitList(v) {
		*f = append(*f, item)
	}
	return nil
}

// splitList splits a comma-separated value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
