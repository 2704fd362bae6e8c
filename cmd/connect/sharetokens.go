package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	connect "github.com/personaconnect/connect-go"
)

var shareTokensCreate = &command{
	name:    "create",
	args:    "--connection <id> --source <id>",
	summary: "create a share token for an object you own, over an active connection (source side)",
	help: `The token is for the connection's destination, which peeks at and redeems
it. --expires-in sets its lifetime (1m to 504h, whole seconds); Persona's
default applies when it is not given.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.ShareTokenCreateParams
		fs.StringVar(&p.ConnectionID, "connection", "", "share over the connection with this `id` (connection-id)")
		fs.StringVar(&p.SourceID, "source", "", "share the object with this `id` (source-id): an inquiry, account, transaction or verification")
		fs.DurationVar(&p.ExpiresIn, "expires-in", 0, "the token's lifetime, a `duration` such as 24h")
		key := idempotencyFlag(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := requireFlags(fs, "connection", "source"); err != nil {
				return err
			}
			return s.shareTokenCall(func(c *connect.Client) (*connect.ShareToken, error) {
				return c.ShareTokens.Create(ctx, &p, idempotency(*key)...)
			})
		}
	},
}

var shareTokensGet = &command{
	name:    "get",
	args:    "<share-token-id>",
	summary: "show a share token",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		return oneToken(func(ctx context.Context, c *connect.Client, id string) (*connect.ShareToken, error) {
			return c.ShareTokens.Get(ctx, id)
		})
	},
}

var shareTokensPeek = &command{
	name:    "peek",
	args:    "<share-token-id>",
	summary: "show a share token with a preview of the source data (destination side)",
	help: `Each attribute and field is shown with its visibility: "full" values are
the source's, "presence" values only say whether the source has one.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		return oneToken(func(ctx context.Context, c *connect.Client, id string) (*connect.ShareToken, error) {
			return c.ShareTokens.Peek(ctx, id)
		})
	},
}

var shareTokensRedeem = &command{
	name:    "redeem",
	args:    "<share-token-id>",
	summary: "redeem a share token (destination side)",
	help: `Without --destination the source object is cloned into your organization;
with it, the object you name is hydrated, and --map source=destination
(repeatable) renames fields on the way. The redemption usually answers
pending: follow it with "connect share-tokens wait <id>".

A token is redeemed once: redeeming it again answers 409 Conflict, which
means an earlier redemption got through; "get" shows its state.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.ShareTokenRedeemParams
		fs.StringVar(&p.DestinationID, "destination", "", "hydrate your object with this `id` (destination-id) instead of cloning")
		fs.Var((*mappingsFlag)(&p.FieldMappings), "map", "rename a field on the way in, `source=destination`; repeatable; needs --destination")
		key := idempotencyFlag(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "<share-token-id>"); err != nil {
				return err
			}
			return s.shareTokenCall(func(c *connect.Client) (*connect.ShareToken, error) {
				return c.ShareTokens.Redeem(ctx, args[0], &p, idempotency(*key)...)
			})
		}
	},
}

var shareTokensExpire = &command{
	name:    "expire",
	args:    "<share-token-id>",
	summary: "expire a share token now, so that it can no longer be redeemed (source side)",
	api:     true,
	setup: func(fs *flag.FlagSet) action {
		key := idempotencyFlag(fs)
		return oneToken(func(ctx context.Context, c *connect.Client, id string) (*connect.ShareToken, error) {
			return c.ShareTokens.Expire(ctx, id, idempotency(*key)...)
		})
	},
}

var shareTokensList = &command{
	name:    "list",
	summary: "list share tokens, newest first",
	help: `Without --all one page is shown, and stderr tells the --after cursor of the
next one. --json prints one object per line.`,
	api: true,
	setup: func(fs *flag.FlagSet) action {
		var p connect.ShareTokenListParams
		var status, direction string
		fs.StringVar(&p.ConnectionID, "connection", "", "only tokens of the connection with this `id` (filter[connection-id])")
		fs.StringVar(&status, "status", "", "only tokens in this `status`: "+strings.Join(shareTokenStatuses, ", "))
		fs.StringVar(&direction, "direction", "", "only tokens in this `direction`: inbound (you are the destination) or outbound (you are the source)")
		pg := pagingFlags(fs)
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := oneOf("--status", status, shareTokenStatuses); err != nil {
				return err
			}
			if err := oneOf("--direction", direction, []string{"inbound", "outbound"}); err != nil {
				return err
			}
			p.Status, p.Direction = connect.ShareTokenStatus(status), connect.Direction(direction)
			p.PageSize, p.After = pg.size, pg.after
			return s.withClient(func(c *connect.Client) error {
				var items iter.Seq2[*connect.ShareToken, error]
				if pg.all {
					items = c.ShareTokens.All(ctx, &p)
				} else {
					page, err := c.ShareTokens.List(ctx, &p)
					if err != nil {
						return err
					}
					items = pageItems(s, page, "connect share-tokens list")
				}
				return printList(s, shareTokenTable, items)
			})
		}
	},
}

var shareTokensWait = &command{
	name:    "wait",
	args:    "<share-token-id>",
	summary: "wait until a share token is no longer created or pending, then show it",
	help: `It reads the token every --poll interval and tells each change of status on
stderr. It ends with status 0 whatever the final status is (redeemed,
failed, expired): check it in the output. Running out of --timeout is
exit status 1.`,
	api:     true,
	timeout: 10 * time.Minute,
	setup: func(fs *flag.FlagSet) action {
		poll := fs.Duration("poll", 2*time.Second, "read the token every `duration`")
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, "<share-token-id>"); err != nil {
				return err
			}
			if *poll <= 0 {
				return usagef("--poll must be positive, got %s", *poll)
			}
			return s.withClient(func(c *connect.Client) error {
				tok, err := s.waitShareToken(ctx, c, args[0], *poll)
				if err != nil {
					return err
				}
				return printOne(s, tok, shareTokenSummary, func(t *connect.ShareToken) any { return shareTokenOutput(t) })
			})
		}
	},
}

// waitShareToken polls the token until it leaves created and pending (any
// other status ends the wait, so that a status added later cannot make it
// wait forever), or until --timeout on the session's clock.
func (s *session) waitShareToken(ctx context.Context, c *connect.Client, id string, poll time.Duration) (*connect.ShareToken, error) {
	start := s.now()
	limit := "no time limit"
	if s.timeout > 0 {
		limit = "up to " + s.timeout.String()
	}
	fmt.Fprintf(s.stderr, "waiting for %s (every %s, %s)\n", id, poll, limit)
	var last connect.ShareTokenStatus
	for {
		tok, err := c.ShareTokens.Get(ctx, id)
		if err != nil {
			if ctx.Err() != nil && last != "" {
				return nil, s.waitEnded(ctx, id, last)
			}
			return nil, err
		}
		if tok.Status != last {
			fmt.Fprintf(s.stderr, "%8s  %s\n", s.now().Sub(start).Round(time.Second), tok.Status)
			last = tok.Status
		}
		if tok.Status != connect.ShareTokenStatusCreated && tok.Status != connect.ShareTokenStatusPending {
			return tok, nil
		}
		next := poll
		if s.timeout > 0 {
			left := start.Add(s.timeout).Sub(s.now())
			if left <= 0 {
				return nil, s.waitEnded(ctx, id, last)
			}
			next = min(poll, left)
		}
		if err := s.sleep(ctx, next); err != nil {
			return nil, s.waitEnded(ctx, id, last)
		}
	}
}

// waitEnded says why a wait stopped before the token was done.
func (s *session) waitEnded(ctx context.Context, id string, last connect.ShareTokenStatus) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("interrupted: share token %s is still %s", id, last)
	}
	return fmt.Errorf("gave up after --timeout %s: share token %s is still %s", s.timeout, id, last)
}

var shareTokenStatuses = []string{"created", "pending", "redeemed", "expired", "failed"}

// oneToken is the action of the leaves that take one token id and print
// the token the call returns.
func oneToken(call func(context.Context, *connect.Client, string) (*connect.ShareToken, error)) action {
	return func(ctx context.Context, s *session, args []string) error {
		if err := wantArgs(args, "<share-token-id>"); err != nil {
			return err
		}
		return s.shareTokenCall(func(c *connect.Client) (*connect.ShareToken, error) {
			return call(ctx, c, args[0])
		})
	}
}

func (s *session) shareTokenCall(call func(*connect.Client) (*connect.ShareToken, error)) error {
	return s.withClient(func(c *connect.Client) error {
		tok, err := call(c)
		if err != nil {
			return err
		}
		return printOne(s, tok, shareTokenSummary, func(t *connect.ShareToken) any { return shareTokenOutput(t) })
	})
}

// mappingsFlag is the repeatable --map source=destination.
type mappingsFlag []connect.FieldMapping

func (m *mappingsFlag) String() string {
	if m == nil {
		return ""
	}
	parts := make([]string, len(*m))
	for i, f := range *m {
		parts[i] = f.SourceField + "=" + f.DestinationField
	}
	return strings.Join(parts, ",")
}

func (m *mappingsFlag) Set(v string) error {
	src, dst, ok := strings.Cut(v, "=")
	if !ok || src == "" || dst == "" {
		return errors.New("want source-field=destination-field")
	}
	*m = append(*m, connect.FieldMapping{SourceField: src, DestinationField: dst})
	return nil
}

// Flags shared by several leaves.

func idempotencyFlag(fs *flag.FlagSet) *string {
	return fs.String("idempotency-key", "", "send `key` as the Idempotency-Key (1 to 255 printable ASCII characters; default a random one, the same on every retry)")
}

type paging struct {
	size  int
	after string
	all   bool
}

func pagingFlags(fs *flag.FlagSet) *paging {
	var p paging
	fs.IntVar(&p.size, "page-size", 0, "ask for `n` items per page (1 to 100; default Persona's)")
	fs.StringVar(&p.after, "after", "", "start after this `cursor` (the id of the last item seen)")
	fs.BoolVar(&p.all, "all", false, "fetch every page")
	return &p
}

// requireFlags fails when a required flag was not given.
func requireFlags(fs *flag.FlagSet, names ...string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, n := range names {
		if !set[n] {
			return usagef("--%s is required", n)
		}
	}
	return nil
}

func oneOf(flagName, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return usagef("%s %q is not one of %s", flagName, v, strings.Join(allowed, ", "))
}
