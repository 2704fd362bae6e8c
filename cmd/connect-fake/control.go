package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/personaconnect/connect-go/connecttest"
)

// controlPrefix is where the control API lives: a path Persona's API never
// uses (its routes are under /api/v1).
const controlPrefix = "/_fake"

// maxControlBody bounds a control request's body.
const maxControlBody = 1 << 20

// maxWait bounds the control API's waits.
const maxWait = 5 * time.Minute

// controlError is a control API failure: its status and message.
type controlError struct {
	status int
	msg    string
}

func (e *controlError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &controlError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(what, id string) error {
	return &controlError{http.StatusNotFound, fmt.Sprintf("no %s %q", what, id)}
}

func conflict(err error) error { return &controlError{http.StatusConflict, err.Error()} }

// fromLibrary maps an error of connecttest to the control API's status.
func fromLibrary(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, connecttest.ErrNotFound):
		return &controlError{http.StatusNotFound, err.Error()}
	case errors.Is(err, connecttest.ErrWebhookHostNotAllowed):
		return badInput("%v", err)
	}
	return conflict(err)
}

// A control handler gets the current server and the request, and returns
// what to answer as JSON (nil: 204) or an error.
type controlFunc func(srv *connecttest.Server, r *http.Request) (any, error)

func (f *fake) controlHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn controlFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+controlPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			f.serveControl(w, r, fn)
		})
	}
	handle("GET /{$}", f.describe)
	handle("POST /reset", f.resetState)

	handle("GET /organizations", listOrganizations)
	handle("POST /organizations", createOrganization)
	handle("GET /organizations/{id}/objects", listObjects)
	handle("POST /inquiries", objectCreator(connecttest.TypeInquiry))
	handle("POST /accounts", objectCreator(connecttest.TypeAccount))
	handle("POST /transactions", objectCreator(connecttest.TypeTransaction))
	handle("POST /verifications", objectCreator(""))
	handle("GET /objects/{id}", getObject)
	handle("POST /objects/{id}/redact", redactObject)
	handle("DELETE /objects/{id}", deleteObject)

	handle("POST /connections", createConnection)
	handle("GET /connections/{id}", getConnection)
	handle("POST /connections/{id}/accept", acceptConnection)
	handle("GET /share-tokens/{id}", getShareToken)
	handle("POST /share-tokens/{id}/wait", waitShareToken)

	handle("GET /clock", getClock)
	handle("POST /clock/advance", f.advanceClock)
	handle("POST /clock/set", f.setClock)

	handle("POST /faults", injectFault)
	handle("DELETE /faults", clearFaults)

	handle("POST /webhooks", registerWebhook)
	handle("GET /webhooks/{id}", getWebhook)
	handle("POST /webhooks/{id}/rotate-secret", rotateWebhookSecret)
	handle("GET /webhook-deliveries", listDeliveries)
	handle("POST /webhook-deliveries/wait", waitWebhooks)
	handle("POST /events/{id}/resend", resendEvent)

	handle("GET /requests", listRequests)
	handle("DELETE /requests", resetRequests)
	handle("GET /stats", getStats)

	mux.HandleFunc(controlPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, nil, &controlError{http.StatusNotFound, "no control route " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// serveControl runs fn and answers its result, turning a panic (a bug, or
// an input connecttest refuses by panicking) into a 500.
func (f *fake) serveControl(w http.ResponseWriter, r *http.Request, fn controlFunc) {
	var (
		out any
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = &controlError{http.StatusInternalServerError, fmt.Sprint("connect-fake: ", p)}
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxControlBody)
		out, err = fn(f.server(), r)
	}()
	writeControl(w, out, err)
}

func writeControl(w http.ResponseWriter, out any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusInternalServerError
		var ce *controlError
		if errors.As(err, &ce) {
			status = ce.status
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// decode reads the JSON body into v, refusing unknown fields so that a
// misspelt one is an error rather than ignored. An empty body leaves v as
// it is.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return badInput("request body: %v", err)
	}
	if dec.More() {
		return badInput("request body: more than one JSON value")
	}
	return nil
}

// organization finds an organization by id.
func organization(srv *connecttest.Server, field, id string) (*connecttest.Organization, error) {
	if id == "" {
		return nil, badInput("%s is required", field)
	}
	for _, o := range srv.Organizations() {
		if o.ID == id {
			return &o, nil
		}
	}
	return nil, notFound("organization", id)
}

// A duration is a Go duration in JSON: "1.5s", "10m".
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"5s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// -- the server

func (f *fake) describe(srv *connecttest.Server, _ *http.Request) (any, error) {
	return map[string]any{
		"url":          srv.URL,
		"control_url":  "http://" + f.addr.String() + controlPrefix,
		"manual_clock": f.cfg.clock != nil,
		"now":          srv.Clock().Now(),
	}, nil
}

func (f *fake) resetState(_ *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Seed bool `json:"seed"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	srv := f.reset()
	if in.Seed {
		return f.seed(srv), nil
	}
	return map[string]any{}, nil
}

// -- organizations and objects

type organizationJSON struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	APIKey        string    `json:"api_key"`
	APIKeyID      string    `json:"api_key_id"`
	EnvironmentID string    `json:"environment_id"`
	CreatedAt     time.Time `json:"created_at"`
}

func orgJSON(o connecttest.Organization) organizationJSON {
	return organizationJSON{ID: o.ID, Name: o.Name, APIKey: o.APIKey, APIKeyID: o.APIKeyID,
		EnvironmentID: o.EnvironmentID, CreatedAt: o.CreatedAt}
}

func listOrganizations(srv *connecttest.Server, _ *http.Request) (any, error) {
	out := []organizationJSON{}
	for _, o := range srv.Organizations() {
		out = append(out, orgJSON(o))
	}
	return map[string]any{"data": out}, nil
}

func createOrganization(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, badInput("name is required")
	}
	return orgJSON(*srv.NewOrganization(in.Name)), nil
}

var verificationTypes = []string{connecttest.TypeVerificationDatabase,
	connecttest.TypeVerificationPhoneNumber, connecttest.TypeVerificationEmailAddress}

// objectCreator creates objects of typ; "" is a verification, whose type
// the request names.
func objectCreator(typ string) controlFunc {
	return func(srv *connecttest.Server, r *http.Request) (any, error) {
		var in struct {
			OrganizationID string         `json:"organization_id"`
			Type           string         `json:"type"`
			Fields         map[string]any `json:"fields"`
		}
		if err := decode(r, &in); err != nil {
			return nil, err
		}
		org, err := organization(srv, "organization_id", in.OrganizationID)
		if err != nil {
			return nil, err
		}
		var id string
		switch typ {
		case connecttest.TypeInquiry:
			id = srv.NewInquiry(org, in.Fields)
		case connecttest.TypeAccount:
			id = srv.NewAccount(org, in.Fields)
		case connecttest.TypeTransaction:
			id = srv.NewTransaction(org, in.Fields)
		default:
			if !slices.Contains(verificationTypes, in.Type) {
				return nil, badInput("type must be one of %s", strings.Join(verificationTypes, ", "))
			}
			id = srv.NewVerification(org, in.Type, in.Fields)
		}
		return map[string]string{"id": id}, nil
	}
}

type objectJSON struct {
	ID             string         `json:"id"`
	Type           string         `json:"type"`
	OrganizationID string         `json:"organization_id"`
	Status         string         `json:"status"`
	Fields         map[string]any `json:"fields"`
	ClonedFrom     string         `json:"cloned_from,omitempty"`
	HydratedFrom   string         `json:"hydrated_from,omitempty"`
	ShareTokenID   string         `json:"share_token_id,omitempty"`
	Redacted       bool           `json:"redacted"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

func objJSON(o connecttest.Object) objectJSON {
	return objectJSON{ID: o.ID, Type: o.Type, OrganizationID: o.OrganizationID, Status: o.Status,
		Fields: o.Fields, ClonedFrom: o.ClonedFrom, HydratedFrom: o.HydratedFrom, ShareTokenID: o.ShareTokenID,
		Redacted: o.Redacted, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func getObject(srv *connecttest.Server, r *http.Request) (any, error) {
	o, ok := srv.Object(r.PathValue("id"))
	if !ok {
		return nil, notFound("object", r.PathValue("id"))
	}
	return objJSON(o), nil
}

func listObjects(srv *connecttest.Server, r *http.Request) (any, error) {
	org, err := organization(srv, "organization id", r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	out := []objectJSON{}
	for _, o := range srv.Objects(org) {
		out = append(out, objJSON(o))
	}
	return map[string]any{"data": out}, nil
}

func redactObject(srv *connecttest.Server, r *http.Request) (any, error) {
	return nil, fromLibrary(srv.RedactObject(r.PathValue("id")))
}

func deleteObject(srv *connecttest.Server, r *http.Request) (any, error) {
	return nil, fromLibrary(srv.DeleteObject(r.PathValue("id")))
}

// -- connections and share tokens

type connectionJSON struct {
	ID                        string    `json:"id"`
	Status                    string    `json:"status"`
	SourceOrganizationID      string    `json:"source_organization_id"`
	DestinationOrganizationID string    `json:"destination_organization_id"`
	CreatedAt                 time.Time `json:"created_at"`
	UpdatedAt                 time.Time `json:"updated_at"`
}

func connJSON(srv *connecttest.Server, id string) (any, error) {
	c, ok := srv.Connection(id)
	if !ok {
		return nil, notFound("connection", id)
	}
	return connectionJSON{ID: c.ID, Status: c.Status, SourceOrganizationID: c.SourceOrganizationID,
		DestinationOrganizationID: c.DestinationOrganizationID, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}, nil
}

// createConnection makes an active connection, as if created by the source
// and accepted by the destination.
func createConnection(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Source      string `json:"source_organization_id"`
		Destination string `json:"destination_organization_id"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	src, err := organization(srv, "source_organization_id", in.Source)
	if err != nil {
		return nil, err
	}
	dst, err := organization(srv, "destination_organization_id", in.Destination)
	if err != nil {
		return nil, err
	}
	if src.ID == dst.ID {
		return nil, badInput("an organization cannot connect to itself")
	}
	return connJSON(srv, srv.NewActiveConnection(src, dst))
}

func getConnection(srv *connecttest.Server, r *http.Request) (any, error) {
	return connJSON(srv, r.PathValue("id"))
}

func acceptConnection(srv *connecttest.Server, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := srv.AcceptConnection(id); err != nil {
		return nil, fromLibrary(err)
	}
	return connJSON(srv, id)
}

type shareTokenJSON struct {
	ID                        string     `json:"id"`
	Status                    string     `json:"status"`
	ConnectionID              string     `json:"connection_id"`
	SourceOrganizationID      string     `json:"source_organization_id"`
	DestinationOrganizationID string     `json:"destination_organization_id"`
	SourceID                  string     `json:"source_id"`
	DestinationID             string     `json:"destination_id,omitempty"`
	RedeemMode                string     `json:"redeem_mode,omitempty"`
	FailureReason             string     `json:"failure_reason,omitempty"`
	CreatedAt                 time.Time  `json:"created_at"`
	ExpiresAt                 *time.Time `json:"expires_at"`
	PendingAt                 *time.Time `json:"pending_at"`
	RedeemedAt                *time.Time `json:"redeemed_at"`
	FailedAt                  *time.Time `json:"failed_at"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func tokJSON(t connecttest.ShareToken) shareTokenJSON {
	return shareTokenJSON{ID: t.ID, Status: t.Status, ConnectionID: t.ConnectionID,
		SourceOrganizationID: t.SourceOrganizationID, DestinationOrganizationID: t.DestinationOrganizationID,
		SourceID: t.SourceID, DestinationID: t.DestinationID, RedeemMode: t.RedeemMode,
		FailureReason: t.FailureReason, CreatedAt: t.CreatedAt, ExpiresAt: optTime(t.ExpiresAt),
		PendingAt: optTime(t.PendingAt), RedeemedAt: optTime(t.RedeemedAt), FailedAt: optTime(t.FailedAt)}
}

func getShareToken(srv *connecttest.Server, r *http.Request) (any, error) {
	t, ok := srv.ShareToken(r.PathValue("id"))
	if !ok {
		return nil, notFound("share token", r.PathValue("id"))
	}
	return tokJSON(t), nil
}

// waitTimeout reads a wait's "timeout": default 10s, at most maxWait.
func waitTimeout(d *duration) (time.Duration, error) {
	if d == nil {
		return 10 * time.Second, nil
	}
	if *d <= 0 || time.Duration(*d) > maxWait {
		return 0, badInput("timeout must be positive and at most %s", maxWait)
	}
	return time.Duration(*d), nil
}

func waitShareToken(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Status  []string  `json:"status"`
		Timeout *duration `json:"timeout"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if len(in.Status) == 0 {
		return nil, badInput("status is required: the statuses to wait for, such as [\"redeemed\", \"failed\"]")
	}
	timeout, err := waitTimeout(in.Timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	t, err := srv.WaitShareToken(ctx, r.PathValue("id"), func(t connecttest.ShareToken) bool {
		return slices.Contains(in.Status, t.Status)
	})
	switch {
	case errors.Is(err, connecttest.ErrNotFound):
		return nil, notFound("share token", r.PathValue("id"))
	case errors.Is(err, context.DeadlineExceeded):
		return nil, &controlError{http.StatusRequestTimeout,
			fmt.Sprintf("share token %s is still %s after %s", t.ID, t.Status, timeout)}
	case err != nil:
		return nil, &controlError{http.StatusServiceUnavailable, err.Error()}
	}
	return tokJSON(t), nil
}

// -- the clock

func getClock(srv *connecttest.Server, _ *http.Request) (any, error) {
	return map[string]any{"now": srv.Clock().Now()}, nil
}

func (f *fake) manualClock() error {
	if f.cfg.clock == nil {
		return &controlError{http.StatusConflict, "the clock follows the wall clock: start connect-fake with -clock manual to move it"}
	}
	return nil
}

func (f *fake) advanceClock(srv *connecttest.Server, r *http.Request) (any, error) {
	if err := f.manualClock(); err != nil {
		return nil, err
	}
	var in struct {
		Duration *duration `json:"duration"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Duration == nil || *in.Duration < 0 {
		return nil, badInput("duration is required and must not be negative, such as \"5s\"")
	}
	srv.Clock().Advance(time.Duration(*in.Duration))
	return getClock(srv, r)
}

func (f *fake) setClock(srv *connecttest.Server, r *http.Request) (any, error) {
	if err := f.manualClock(); err != nil {
		return nil, err
	}
	var in struct {
		Time *time.Time `json:"time"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	if in.Time == nil {
		return nil, badInput("time is required, in RFC 3339 such as \"2025-01-01T00:00:00Z\"")
	}
	srv.Clock().Set(*in.Time)
	return getClock(srv, r)
}

// -- faults

func injectFault(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Method              string   `json:"method"`
		PathPrefix          string   `json:"path_prefix"`
		Status              int      `json:"status"`
		Body                string   `json:"body"`
		RetryAfter          string   `json:"retry_after"`
		Count               int      `json:"count"`
		DropAfterProcessing bool     `json:"drop_after_processing"`
		Delay               duration `json:"delay"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	switch {
	case in.Status != 0 && (in.Status < 100 || in.Status > 599):
		return nil, badInput("status must be an HTTP status (100 to 599), or 0 to run the request")
	case in.Delay < 0 || time.Duration(in.Delay) > maxWait:
		return nil, badInput("delay must not be negative nor more than %s", maxWait)
	case in.Status == 0 && !in.DropAfterProcessing && in.Delay == 0:
		return nil, badInput("a fault needs a status, drop_after_processing or a delay")
	}
	srv.InjectFault(connecttest.Fault{Method: in.Method, PathPrefix: in.PathPrefix, Status: in.Status,
		Body: in.Body, RetryAfter: in.RetryAfter, Count: in.Count,
		DropAfterProcessing: in.DropAfterProcessing, Delay: time.Duration(in.Delay)})
	return nil, nil
}

func clearFaults(srv *connecttest.Server, _ *http.Request) (any, error) {
	srv.ClearFaults()
	return nil, nil
}

// -- webhooks

type webhookJSON struct {
	ID             string              `json:"id"`
	OrganizationID string              `json:"organization_id"`
	URL            string              `json:"url"`
	Secret         string              `json:"secret"`
	Secrets        []webhookSecretJSON `json:"secrets"`
	EnabledEvents  []string            `json:"enabled_events"`
	KeyInflection  string              `json:"key_inflection"`
	CreatedAt      time.Time           `json:"created_at"`
}

type webhookSecretJSON struct {
	Value     string     `json:"value"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func hookJSON(w connecttest.Webhook) webhookJSON {
	out := webhookJSON{ID: w.ID, OrganizationID: w.OrganizationID, URL: w.URL, Secret: w.Secret,
		EnabledEvents: w.EnabledEvents, KeyInflection: w.KeyInflection, CreatedAt: w.CreatedAt}
	for _, s := range w.Secrets {
		out.Secrets = append(out.Secrets, webhookSecretJSON{Value: s.Value, ExpiresAt: optTime(s.ExpiresAt)})
	}
	return out
}

func registerWebhook(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		OrganizationID string   `json:"organization_id"`
		URL            string   `json:"url"`
		EnabledEvents  []string `json:"enabled_events"`
		Secret         string   `json:"secret"`
		KeyInflection  string   `json:"key_inflection"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	org, err := organization(srv, "organization_id", in.OrganizationID)
	if err != nil {
		return nil, err
	}
	var opts []connecttest.WebhookOption
	if len(in.EnabledEvents) > 0 {
		opts = append(opts, connecttest.WithEnabledEvents(in.EnabledEvents...))
	}
	if in.Secret != "" {
		opts = append(opts, connecttest.WithWebhookSecret(in.Secret))
	}
	if in.KeyInflection != "" {
		opts = append(opts, connecttest.WithWebhookKeyInflection(in.KeyInflection))
	}
	w, err := srv.RegisterWebhook(org, in.URL, opts...)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return hookJSON(w), nil
}

func getWebhook(srv *connecttest.Server, r *http.Request) (any, error) {
	w, ok := srv.Webhook(r.PathValue("id"))
	if !ok {
		return nil, notFound("webhook", r.PathValue("id"))
	}
	return hookJSON(w), nil
}

func rotateWebhookSecret(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		ExpiresIn duration `json:"expires_in"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	w, err := srv.RotateWebhookSecret(r.PathValue("id"), time.Duration(in.ExpiresIn))
	if err != nil {
		return nil, fromLibrary(err)
	}
	return hookJSON(w), nil
}

type deliveryJSON struct {
	EventID        string              `json:"event_id"`
	EventName      string              `json:"event_name"`
	OrganizationID string              `json:"organization_id"`
	WebhookID      string              `json:"webhook_id"`
	URL            string              `json:"url"`
	Attempt        int                 `json:"attempt"`
	AttemptsLeft   int                 `json:"attempts_left"`
	Status         int                 `json:"status"`
	Err            string              `json:"error,omitempty"`
	Outcome        string              `json:"outcome"`
	Header         map[string][]string `json:"header"`
	Body           string              `json:"body"`
	ResponseBody   string              `json:"response_body"`
	Time           time.Time           `json:"time"`
	DurationMS     float64             `json:"duration_ms"`
}

func delJSON(d connecttest.WebhookDelivery) deliveryJSON {
	return deliveryJSON{EventID: d.EventID, EventName: d.EventName, OrganizationID: d.OrganizationID,
		WebhookID: d.WebhookID, URL: d.URL, Attempt: d.Attempt, AttemptsLeft: d.AttemptsLeft,
		Status: d.Status, Err: d.Err, Outcome: d.Outcome, Header: d.Header, Body: string(d.Body),
		ResponseBody: string(d.ResponseBody), Time: d.Time,
		DurationMS: float64(d.Duration.Microseconds()) / 1000}
}

func listDeliveries(srv *connecttest.Server, _ *http.Request) (any, error) {
	out := []deliveryJSON{}
	for _, d := range srv.WebhookDeliveries() {
		out = append(out, delJSON(d))
	}
	return map[string]any{"data": out}, nil
}

// waitWebhooks answers once no delivery is pending, with the deliveries
// given up since the last wait (an empty list when all went through).
func waitWebhooks(srv *connecttest.Server, r *http.Request) (any, error) {
	var in struct {
		Timeout *duration `json:"timeout"`
	}
	if err := decode(r, &in); err != nil {
		return nil, err
	}
	timeout, err := waitTimeout(in.Timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err = srv.WaitWebhooks(ctx)
	failures := []deliveryJSON{}
	var failed *connecttest.WebhookFailuresError
	switch {
	case errors.As(err, &failed):
		for _, d := range failed.Failures {
			failures = append(failures, delJSON(d))
		}
		return map[string]any{"failures": failures, "error": err.Error()}, nil
	case err != nil:
		return nil, &controlError{http.StatusRequestTimeout, fmt.Sprintf("deliveries still pending after %s", timeout)}
	}
	return map[string]any{"failures": failures}, nil
}

func resendEvent(srv *connecttest.Server, r *http.Request) (any, error) {
	return nil, fromLibrary(srv.ResendWebhookEvent(r.PathValue("id")))
}

// -- the record

type requestJSON struct {
	Method         string              `json:"method"`
	Path           string              `json:"path"`
	RawQuery       string              `json:"raw_query"`
	Header         map[string][]string `json:"header"`
	Body           string              `json:"body"`
	OrganizationID string              `json:"organization_id"`
	RequestID      string              `json:"request_id"`
	Time           time.Time           `json:"time"`
	Status         int                 `json:"status"`
	ResponseBody   string              `json:"response_body"`
	Replayed       bool                `json:"replayed"`
	Fault          bool                `json:"fault"`
	Dropped        bool                `json:"dropped"`
}

func listRequests(srv *connecttest.Server, _ *http.Request) (any, error) {
	out := []requestJSON{}
	for _, q := range srv.Requests() {
		h := q.Header.Clone()
		if h.Get("Authorization") != "" {
			h.Set("Authorization", "[redacted]") // organization_id says whose key it was
		}
		out = append(out, requestJSON{Method: q.Method, Path: q.Path, RawQuery: q.RawQuery, Header: h,
			Body: string(q.Body), OrganizationID: q.OrganizationID, RequestID: q.RequestID, Time: q.Time,
			Status: q.Status, ResponseBody: string(q.ResponseBody), Replayed: q.Replayed, Fault: q.Fault,
			Dropped: q.Dropped})
	}
	return map[string]any{"data": out}, nil
}

func resetRequests(srv *connecttest.Server, _ *http.Request) (any, error) {
	srv.ResetRequests()
	return nil, nil
}

func getStats(srv *connecttest.Server, _ *http.Request) (any, error) {
	s := srv.Stats()
	return map[string]int{
		"requests": s.Requests, "unauthorized": s.Unauthorized, "too_many_requests": s.TooManyRequests,
		"faults": s.Faults, "dropped": s.Dropped, "replays": s.Replays,
		"connections_created": s.ConnectionsCreated, "share_tokens_created": s.ShareTokensCreated,
		"redemptions": s.Redemptions,
	}, nil
}
