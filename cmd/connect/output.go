package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	connect "github.com/personaconnect/connect-go"
)

// What --json prints. The keys are kebab-case, as in Persona's API, and
// every key is always present: null stands for "not set". Times are UTC
// with milliseconds, as Persona writes them. These structs, not the SDK's,
// are the contract with scripts: a field may be added, never renamed.

type refJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type shareTokenJSON struct {
	ID            string          `json:"id"`
	Status        string          `json:"status"`
	Direction     string          `json:"direction"`
	ConnectionID  *string         `json:"connection-id"`
	Source        *refJSON        `json:"source"`
	Destination   *refJSON        `json:"destination"`
	Creator       *refJSON        `json:"creator"`
	RedeemMode    *string         `json:"redeem-mode"`
	FailureReason *string         `json:"failure-reason"`
	CreatedAt     *string         `json:"created-at"`
	UpdatedAt     *string         `json:"updated-at"`
	ExpiresAt     *string         `json:"expires-at"`
	PendingAt     *string         `json:"pending-at"`
	RedeemedAt    *string         `json:"redeemed-at"`
	FailedAt      *string         `json:"failed-at"`
	SourceData    *sourceDataJSON `json:"source-data,omitempty"` // peek only
}

type sourceDataJSON struct {
	Type       string                  `json:"type"`
	ID         string                  `json:"id"`
	Attributes map[string]peekableJSON `json:"attributes"`
	Fields     map[string]peekableJSON `json:"fields"`
	Related    []*sourceDataJSON       `json:"related"`
}

type peekableJSON struct {
	Visibility string          `json:"visibility"`
	Value      json.RawMessage `json:"value"`
}

type connectionJSON struct {
	ID                        string   `json:"id"`
	Status                    string   `json:"status"`
	SourceOrganizationID      *string  `json:"source-organization-id"`
	DestinationOrganizationID *string  `json:"destination-organization-id"`
	Creator                   *refJSON `json:"creator"`
	CreatedAt                 *string  `json:"created-at"`
	UpdatedAt                 *string  `json:"updated-at"`
}

type signatureJSON struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

func shareTokenOutput(t *connect.ShareToken) shareTokenJSON {
	return shareTokenJSON{
		ID:            t.ID,
		Status:        string(t.Status),
		Direction:     string(t.Direction),
		ConnectionID:  refID(t.Connection),
		Source:        refOutput(t.Source),
		Destination:   refOutput(t.Destination),
		Creator:       refOutput(t.Creator),
		RedeemMode:    nonEmpty(string(t.RedeemMode)),
		FailureReason: nonEmpty(string(t.FailureReason)),
		CreatedAt:     jsonTime(&t.CreatedAt),
		UpdatedAt:     jsonTime(&t.UpdatedAt),
		ExpiresAt:     jsonTime(t.ExpiresAt),
		PendingAt:     jsonTime(t.PendingAt),
		RedeemedAt:    jsonTime(t.RedeemedAt),
		FailedAt:      jsonTime(t.FailedAt),
		SourceData:    sourceDataOutput(t.SourceData),
	}
}

func sourceDataOutput(d *connect.SourceData) *sourceDataJSON {
	if d == nil {
		return nil
	}
	out := &sourceDataJSON{
		Type:       d.Type,
		ID:         d.ID,
		Attributes: peekableOutput(d.Attributes),
		Fields:     peekableOutput(d.Fields),
		Related:    []*sourceDataJSON{},
	}
	for _, r := range d.Related {
		if r != nil {
			out.Related = append(out.Related, sourceDataOutput(r))
		}
	}
	return out
}

func peekableOutput(m map[string]connect.PeekableAttribute) map[string]peekableJSON {
	out := make(map[string]peekableJSON, len(m))
	for k, v := range m {
		out[k] = peekableJSON{Visibility: v.Visibility, Value: v.Value}
	}
	return out
}

func connectionOutput(c *connect.Connection) connectionJSON {
	return connectionJSON{
		ID:                        c.ID,
		Status:                    string(c.Status),
		SourceOrganizationID:      nonEmpty(c.SourceOrganizationID),
		DestinationOrganizationID: nonEmpty(c.DestinationOrganizationID),
		Creator:                   refOutput(c.Creator),
		CreatedAt:                 jsonTime(&c.CreatedAt),
		UpdatedAt:                 jsonTime(&c.UpdatedAt),
	}
}

func refOutput(r *connect.ResourceRef) *refJSON {
	if r == nil || r.ID == "" {
		return nil
	}
	return &refJSON{Type: r.Type, ID: r.ID}
}

func refID(r *connect.ResourceRef) *string {
	if r == nil {
		return nil
	}
	return nonEmpty(r.ID)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const jsonTimeFormat = "2006-01-02T15:04:05.000Z"

func jsonTime(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(jsonTimeFormat)
	return &s
}

// printJSON prints one object, indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// The readable forms.

// A field is one line of a summary.
type field struct{ label, value string }

// printSummary prints label/value lines in two aligned columns.
func printSummary(w io.Writer, fields []field) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s\t%s\n", f.label, f.value)
	}
	return tw.Flush()
}

func shareTokenSummary(t *connect.ShareToken) []field {
	fields := []field{
		{"id", t.ID},
		{"status", string(t.Status)},
		{"direction", string(t.Direction)},
		{"connection-id", refText(t.Connection, false)},
		{"source", refText(t.Source, true)},
		{"destination", refText(t.Destination, true)},
		{"creator", refText(t.Creator, true)},
		{"created-at", humanTime(&t.CreatedAt)},
		{"updated-at", humanTime(&t.UpdatedAt)},
		{"expires-at", humanTime(t.ExpiresAt)},
	}
	optional := []field{
		{"pending-at", humanTime(t.PendingAt)},
		{"redeemed-at", humanTime(t.RedeemedAt)},
		{"failed-at", humanTime(t.FailedAt)},
		{"redeem-mode", string(t.RedeemMode)},
		{"failure-reason", string(t.FailureReason)},
	}
	for _, f := range optional {
		if f.value != "" && f.value != "-" {
			fields = append(fields, f)
		}
	}
	if t.SourceData != nil {
		fields = append(fields, sourceDataSummary(t.SourceData, "")...)
	}
	return fields
}

// sourceDataSummary lists what a peek shows: each attribute and field with
// its visibility and value, sorted by name.
func sourceDataSummary(d *connect.SourceData, indent string) []field {
	fields := []field{{indent + "source-data", d.Type + " " + d.ID}}
	add := func(kind string, m map[string]connect.PeekableAttribute) {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			v := m[name]
			fields = append(fields, field{indent + "  " + kind + " " + name, orDash(v.Visibility) + " " + compactJSON(v.Value)})
		}
	}
	add("attribute", d.Attributes)
	add("field", d.Fields)
	for _, r := range d.Related {
		if r != nil {
			fields = append(fields, sourceDataSummary(r, indent+"  ")...)
		}
	}
	return fields
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func connectionSummary(c *connect.Connection) []field {
	return []field{
		{"id", c.ID},
		{"status", string(c.Status)},
		{"source-organization-id", orDash(c.SourceOrganizationID)},
		{"destination-organization-id", orDash(c.DestinationOrganizationID)},
		{"creator", refText(c.Creator, true)},
		{"created-at", humanTime(&c.CreatedAt)},
		{"updated-at", humanTime(&c.UpdatedAt)},
	}
}

// refText renders a relationship as "type id", or its id alone.
func refText(r *connect.ResourceRef, withType bool) string {
	switch {
	case r == nil || r.ID == "":
		return "-"
	case withType && r.Type != "":
		return r.Type + " " + r.ID
	}
	return r.ID
}

// humanTime renders a time for people: UTC, to the second.
func humanTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// A table is how a list is shown: its columns, and the cells of one item.
type table[T any] struct {
	columns []string
	row     func(*T) []string
	json    func(*T) any
}

var shareTokenTable = table[connect.ShareToken]{
	columns: []string{"ID", "STATUS", "DIRECTION", "CONNECTION", "SOURCE", "CREATED", "EXPIRES"},
	row: func(t *connect.ShareToken) []string {
		return []string{t.ID, string(t.Status), string(t.Direction), refText(t.Connection, false),
			refText(t.Source, false), humanTime(&t.CreatedAt), humanTime(t.ExpiresAt)}
	},
	json: func(t *connect.ShareToken) any { return shareTokenOutput(t) },
}

var connectionTable = table[connect.Connection]{
	columns: []string{"ID", "STATUS", "SOURCE-ORGANIZATION", "DESTINATION-ORGANIZATION", "CREATED"},
	row: func(c *connect.Connection) []string {
		return []string{c.ID, string(c.Status), orDash(c.SourceOrganizationID),
			orDash(c.DestinationOrganizationID), humanTime(&c.CreatedAt)}
	},
	json: func(c *connect.Connection) any { return connectionOutput(c) },
}

// printList prints items as a table, or with --json as one object per
// line as they arrive. On an error it prints what came before it.
func printList[T any](s *session, t table[T], items iter.Seq2[*T, error]) error {
	if s.json {
		enc := json.NewEncoder(s.stdout)
		for item, err := range items {
			if err != nil {
				return err
			}
			if err := enc.Encode(t.json(item)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.columns, "\t"))
	var failed error
	for item, err := range items {
		if err != nil {
			failed = err
			break
		}
		fmt.Fprintln(tw, strings.Join(t.row(item), "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return failed
}

// printOne prints one object: a summary, or with --json the object.
func printOne[T any](s *session, v *T, summary func(*T) []field, out func(*T) any) error {
	if s.json {
		return printJSON(s.stdout, out(v))
	}
	return printSummary(s.stdout, summary(v))
}

// pageItems turns one page into the sequence printList takes, and tells on
// stderr how to get the next page.
func pageItems[T any](s *session, page *connect.Page[T], path string) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for _, item := range page.Data {
			if !yield(item, nil) {
				return
			}
		}
		if page.HasNext() {
			fmt.Fprintf(s.stderr, "more: %s --after %s (or --all)\n", path, page.NextCursor)
		}
	}
}

// An event: its payload is printed as received, with kebab-case keys.
type eventJSON struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	CreatedAt *string         `json:"created-at"`
	Object    *refJSON        `json:"object"`
	Payload   json.RawMessage `json:"payload"`
}

func eventOutput(ev *connect.Event) eventJSON {
	payload := ev.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return eventJSON{ID: ev.ID, Name: ev.Name, CreatedAt: jsonTime(&ev.CreatedAt), Object: refOutput(ev.Object), Payload: payload}
}

func eventSummary(ev *connect.Event) []field {
	fields := []field{
		{"id", ev.ID},
		{"name", ev.Name},
		{"created-at", humanTime(&ev.CreatedAt)},
		{"object", refText(ev.Object, true)},
	}
	if t := ev.ShareToken; t != nil {
		fields = append(fields, field{"share-token-status", string(t.Status)})
	}
	return fields
}

var eventTable = table[connect.Event]{
	columns: []string{"ID", "NAME", "OBJECT", "CREATED"},
	row: func(ev *connect.Event) []string {
		return []string{ev.ID, ev.Name, refText(ev.Object, false), humanTime(&ev.CreatedAt)}
	},
	json: func(ev *connect.Event) any { return eventOutput(ev) },
}

// An object: what every kind has, and its attributes as received.
type objectJSON struct {
	Type       string                     `json:"type"`
	ID         string                     `json:"id"`
	Status     *string                    `json:"status"`
	Attributes map[string]json.RawMessage `json:"attributes"`
}

func objectOutput(o *connect.Object) objectJSON {
	attrs := o.Attributes
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	return objectJSON{Type: o.Type, ID: o.ID, Status: nonEmpty(o.Status), Attributes: attrs}
}

// A webhook after a rotation. The secrets' values are null unless
// --show-secret was given; secrets-hidden says which.
type webhookJSON struct {
	ID            string              `json:"id"`
	Status        string              `json:"status"`
	URL           string              `json:"url"`
	Name          *string             `json:"name"`
	EnabledEvents []string            `json:"enabled-events"`
	APIVersion    *string             `json:"api-version"`
	CreatedAt     *string             `json:"created-at"`
	CurrentSecret *string             `json:"current-secret"`
	Secrets       []webhookSecretJSON `json:"secrets"`
	SecretsHidden bool                `json:"secrets-hidden"`
}

type webhookSecretJSON struct {
	Value     *string `json:"value"`
	ExpiresAt *string `json:"expires-at"`
}

func webhookOutput(w *connect.Webhook, show bool) webhookJSON {
	reveal := func(v string) *string {
		if !show {
			return nil
		}
		return nonEmpty(v)
	}
	out := webhookJSON{
		ID: w.ID, Status: w.Status, URL: w.URL, Name: nonEmpty(w.Name),
		EnabledEvents: w.EnabledEvents, APIVersion: nonEmpty(w.APIVersion),
		CreatedAt: jsonTime(&w.CreatedAt), CurrentSecret: reveal(w.CurrentSecret()),
		Secrets: []webhookSecretJSON{}, SecretsHidden: !show,
	}
	if out.EnabledEvents == nil {
		out.EnabledEvents = []string{}
	}
	for _, sec := range w.Secrets {
		out.Secrets = append(out.Secrets, webhookSecretJSON{Value: reveal(sec.Value), ExpiresAt: jsonTime(sec.ExpiresAt)})
	}
	return out
}

// indentJSON renders raw JSON indented under prefix, or as received when
// it is not valid JSON.
func indentJSON(raw json.RawMessage, prefix string) string {
	if len(raw) == 0 {
		return prefix + "null"
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, "  "); err != nil {
		return prefix + string(raw)
	}
	return prefix + b.String()
}
