package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	connect "github.com/personaconnect/connect-go"
)

var listenCommand = &command{
	name:    "listen",
	args:    "--forward-to <url>",
	summary: "forward the organization's new events to a local webhook receiver, signed as Persona signs them",
	help: `For a receiver Persona cannot reach (a laptop behind NAT, a container): it
reads GET /events every --poll interval and POSTs each new event, oldest
first, to --forward-to with the body and headers of a webhook delivery:
{"data": <event>}, Persona-Signature, Persona-Webhook-Attempts-Made and
-Attempts-Left. The receiver's own verification runs unchanged, with the
secret printed at start (or the one given with --secret, which is not
printed). That secret is made here and signs only these local forwards;
it is not a secret of Persona's.

Only events created after the start are forwarded, unless --since asks for
earlier ones too. A receiver that answers anything but 2xx, or not within
10s, is tried again after 1s, 2s and 4s; then the event is reported and
skipped. Each forward is logged on stderr with the receiver's status (with
--json, also one object per line on stdout). When reading events fails,
the next read waits twice as long, up to a minute. Ctrl-C stops it; it
runs without a time limit unless --timeout is given.

  connect listen --forward-to http://localhost:8000/webhooks/persona --events inquiry.completed`,
	api:     true,
	timeout: noTimeout,
	setup: func(fs *flag.FlagSet) action {
		var l listener
		var since string
		fs.StringVar(&l.target, "forward-to", "", "POST each event to this `url` (http or https)")
		fs.Var((*listFlag)(&l.names), "events", "forward only events with these `names`, comma-separated or repeated (default every event)")
		fs.StringVar(&l.secret, "secret", "", "sign with this `secret` instead of a new one")
		fs.DurationVar(&l.poll, "poll", 5*time.Second, "read new events every `duration`")
		fs.StringVar(&since, "since", "", "also forward the events created since this `time`: a duration ago such as 1h, or RFC 3339")
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args); err != nil {
				return err
			}
			if err := requireFlags(fs, "forward-to"); err != nil {
				return err
			}
			if err := checkForwardURL(l.target); err != nil {
				return err
			}
			if l.poll <= 0 {
				return usagef("--poll must be positive, got %s", l.poll)
			}
			from, err := sinceTime(since, s.now)
			if err != nil {
				return err
			}
			return s.withClient(func(c *connect.Client) error {
				l.s, l.events = s, c.Events
				return l.run(ctx, from)
			})
		}
	},
}

// How listen forwards: attempts per event and the waits between them, and
// how long one attempt may take.
var forwardRetryWaits = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}

const (
	forwardTimeout = 10 * time.Second
	// lateGrace is how far before the newest event seen listen still looks
	// for events it has not seen, for an event that the API lists a little
	// after a newer one.
	lateGrace = time.Minute
	// maxPollBackoff caps the wait after failed reads.
	maxPollBackoff = time.Minute
)

// A listener follows the Events API and forwards what is new.
type listener struct {
	s      *session
	events *connect.EventsService
	names  []string
	target string
	secret string
	poll   time.Duration
	client *http.Client

	// seen holds the ids of the events at or after floor that were
	// forwarded or were there at the start, with their creation times.
	// Events created before floor are never forwarded; floor follows the
	// newest event, lateGrace behind, so that seen stays small.
	seen  map[string]time.Time
	floor time.Time
}

// run forwards events until ctx ends, which is how listen stops (exit
// status 0). An error that another read would only repeat (a refused key,
// an invalid filter) ends it with that error.
func (l *listener) run(ctx context.Context, since time.Time) error {
	generated := l.secret == ""
	if generated {
		l.secret = newLocalSecret()
	}
	l.client = &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		// A redirect is an answer like any other, as for Persona.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer l.client.CloseIdleConnections()
	l.seen = map[string]time.Time{}

	if since.IsZero() {
		if err := l.markExisting(ctx); err != nil {
			return l.endedBy(ctx, err)
		}
	} else {
		l.floor = since
	}
	l.banner(generated)
	if !since.IsZero() {
		if err := l.pollOnce(ctx); err != nil {
			return l.endedBy(ctx, err)
		}
	}
	failures := 0
	for {
		if err := l.s.sleep(ctx, pollDelay(l.poll, failures)); err != nil {
			return l.endedBy(ctx, err)
		}
		err := l.pollOnce(ctx)
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil || lastingError(err):
			return l.endedBy(ctx, err)
		default:
			failures++
			fmt.Fprintf(l.s.stderr, "%s reading events failed: %v; next try in %s\n",
				l.stamp(), err, pollDelay(l.poll, failures))
		}
	}
}

func (l *listener) banner(generated bool) {
	what := "every event"
	if len(l.names) > 0 {
		what = strings.Join(l.names, ", ")
	}
	fmt.Fprintf(l.s.stderr, "Forwarding %s to %s, reading new events every %s. Ctrl-C stops.\n", what, l.target, l.poll)
	if generated {
		fmt.Fprintf(l.s.stderr, "Webhook secret: %s\n(give it to your receiver as its webhook secret; it signs only these forwards)\n", l.secret)
	} else {
		fmt.Fprintln(l.s.stderr, "Signing with the secret from --secret.")
	}
}

// markExisting records the events there already are as seen, so that only
// later ones are forwarded.
func (l *listener) markExisting(ctx context.Context) error {
	var newest time.Time
	for ev, err := range l.events.All(ctx, l.params()) {
		if err != nil {
			return err
		}
		if newest.IsZero() {
			newest = ev.CreatedAt
		} else if ev.CreatedAt.Before(newest.Add(-lateGrace)) {
			break
		}
		l.seen[ev.ID] = ev.CreatedAt
	}
	l.advance(newest)
	return nil
}

// pollOnce reads the events down to floor, newest first, and forwards
// those not seen yet, oldest first. Nothing read before an error is
// marked seen: the next read finds it again.
func (l *listener) pollOnce(ctx context.Context) error {
	var fresh []*connect.Event
	newest := l.floor
	for ev, err := range l.events.All(ctx, l.params()) {
		if err != nil {
			return err
		}
		if ev.CreatedAt.Before(l.floor) {
			break
		}
		if ev.CreatedAt.After(newest) {
			newest = ev.CreatedAt
		}
		if _, ok := l.seen[ev.ID]; !ok {
			fresh = append(fresh, ev)
		}
	}
	for _, ev := range slices.Backward(fresh) {
		l.seen[ev.ID] = ev.CreatedAt
		l.forward(ctx, ev)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	l.advance(newest)
	return nil
}

func (l *listener) params() *connect.EventListParams {
	return &connect.EventListParams{Names: l.names, ListOptions: connect.ListOptions{PageSize: 100}}
}

// advance moves floor to lateGrace before newest, and forgets the events
// before it.
func (l *listener) advance(newest time.Time) {
	if newest.IsZero() {
		return
	}
	if f := newest.Add(-lateGrace); f.After(l.floor) {
		l.floor = f
	}
	for id, at := range l.seen {
		if at.Before(l.floor) {
			delete(l.seen, id)
		}
	}
}

// forward delivers one event, retrying on forwardRetryWaits, and logs
// every attempt.
func (l *listener) forward(ctx context.Context, ev *connect.Event) {
	body, err := webhookBody(ev)
	if err != nil {
		fmt.Fprintf(l.s.stderr, "%s %s %s: cannot render it: %v; skipped\n", l.stamp(), ev.ID, ev.Name, err)
		return
	}
	total := 1 + len(forwardRetryWaits)
	first := l.s.now()
	rec := forwardJSON{EventID: ev.ID, EventName: ev.Name, CreatedAt: jsonTime(&ev.CreatedAt)}
	for n := 1; n <= total; n++ {
		if n > 1 {
			if l.s.sleep(ctx, forwardRetryWaits[n-2]) != nil {
				return
			}
		}
		rec.Attempts = n
		status, answer, err := l.post(ctx, body, n, total, first)
		if ctx.Err() != nil {
			return
		}
		rec.Status, rec.Error = nil, nil
		if status != 0 {
			rec.Status = &status
		}
		outcome := ""
		switch {
		case err != nil:
			msg := err.Error()
			rec.Error, outcome = &msg, msg
		default:
			outcome = strconv.Itoa(status) + " " + http.StatusText(status)
			if answer != "" && !success(status) {
				outcome += ": " + answer
			}
		}
		rec.Delivered = err == nil && success(status)
		switch {
		case rec.Delivered:
			fmt.Fprintf(l.s.stderr, "%s %s %s -> %s\n", l.stamp(), ev.ID, ev.Name, outcome)
		case n < total:
			fmt.Fprintf(l.s.stderr, "%s %s %s -> %s (attempt %d of %d; again in %s)\n",
				l.stamp(), ev.ID, ev.Name, outcome, n, total, forwardRetryWaits[n-1])
		default:
			fmt.Fprintf(l.s.stderr, "%s %s %s -> %s (attempt %d of %d); gave up on this event\n",
				l.stamp(), ev.ID, ev.Name, outcome, n, total)
		}
		if rec.Delivered || n == total {
			break
		}
	}
	if l.s.json {
		_ = json.NewEncoder(l.s.stdout).Encode(rec)
	}
}

// post makes one attempt and returns the receiver's status and the start
// of its answer, on one line.
func (l *listener) post(ctx context.Context, body []byte, n, total int, first time.Time) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.target, strings.NewReader(string(body)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "connect-cli-listen/"+connect.Version)
	req.Header.Set("Persona-Signature", connect.SignWebhookPayload(body, l.secret, l.s.now()))
	req.Header.Set("Persona-Webhook-Attempts-Made", strconv.Itoa(n))
	req.Header.Set("Persona-Webhook-Attempts-Left", strconv.Itoa(total-n))
	req.Header.Set("Persona-Webhook-First-Attempted-At", strconv.FormatInt(first.Unix(), 10))
	resp, err := l.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is in every log line already
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", forwardTimeout)
		}
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return resp.StatusCode, strings.Join(strings.Fields(string(b)), " "), nil
}

func success(status int) bool { return status >= 200 && status < 300 }

// webhookBody renders an event as a webhook delivery's body:
// {"data": <event resource>}, the payload as the Events API returned it.
func webhookBody(ev *connect.Event) ([]byte, error) {
	type attributes struct {
		Name      string          `json:"name"`
		CreatedAt string          `json:"created-at"`
		Payload   json.RawMessage `json:"payload"`
	}
	type resource struct {
		Type       string     `json:"type"`
		ID         string     `json:"id"`
		Attributes attributes `json:"attributes"`
	}
	payload := ev.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Data resource `json:"data"`
	}{resource{Type: "event", ID: ev.ID, Attributes: attributes{
		Name: ev.Name, CreatedAt: ev.CreatedAt.UTC().Format(jsonTimeFormat), Payload: payload,
	}}})
}

// forwardJSON is what listen --json prints for each event, once its
// forwarding is over.
type forwardJSON struct {
	EventID   string  `json:"event-id"`
	EventName string  `json:"event-name"`
	CreatedAt *string `json:"created-at"`
	Delivered bool    `json:"delivered"`
	Status    *int    `json:"status"`
	Attempts  int     `json:"attempts"`
	Error     *string `json:"error"`
}

// pollDelay is the wait before the next read: poll, doubled for each
// failed read in a row up to maxPollBackoff (or poll, if longer).
func pollDelay(poll time.Duration, failures int) time.Duration {
	d := poll
	for range failures {
		if d >= maxPollBackoff {
			break
		}
		d *= 2
	}
	return min(d, max(poll, maxPollBackoff))
}

// lastingError reports whether reading again cannot help: invalid
// parameters, or a 4xx answer other than 408 and 429 (a refused key, a
// missing permission).
func lastingError(err error) bool {
	if errors.Is(err, connect.ErrInvalidParams) {
		return true
	}
	var apiErr *connect.Error
	if errors.As(err, &apiErr) {
		st := apiErr.StatusCode
		return st >= 400 && st < 500 && st != http.StatusRequestTimeout && st != http.StatusTooManyRequests
	}
	return false
}

// endedBy turns the end of the loop into the command's result: ctx ending
// (Ctrl-C, --timeout) is a normal stop.
func (l *listener) endedBy(ctx context.Context, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		fmt.Fprintf(l.s.stderr, "%s stopped after --timeout %s\n", l.stamp(), l.s.timeout)
		return nil
	case ctx.Err() != nil:
		fmt.Fprintf(l.s.stderr, "%s stopped\n", l.stamp())
		return nil
	}
	return err
}

func (l *listener) stamp() string { return l.s.now().UTC().Format("15:04:05") }

// newLocalSecret makes the secret listen signs with when --secret is not
// given. "local" in it tells it apart from Persona's secrets.
func newLocalSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "wbhsec_local_" + hex.EncodeToString(b)
}

// checkForwardURL accepts an absolute http or https URL.
func checkForwardURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--forward-to %q must be an http or https URL, such as http://localhost:8000/webhooks", raw)
	}
	return nil
}

// sinceTime parses --since: a duration before now, or an RFC 3339 time;
// empty is the zero time (from the start of listen).
func sinceTime(v string, now func() time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, usagef("--since %s must be positive", v)
		}
		return now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("--since %q is neither a duration (1h) nor RFC 3339 (2025-01-02T15:04:05Z)", v)
	}
	return t, nil
}
