package spectest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
)

const (
	// specEnv names a copy of the document to use instead of the default.
	specEnv = "CONNECT_OPENAPI_SPEC"
	// specFile is the document, in ../shared/research/ beside the
	// repository root.
	specFile = "persona-openapi-connect-2025-12-08.yaml"
	// objectsEnv names a copy of the second document, for the Events API
	// and the objects a share token names.
	objectsEnv = "CONNECT_OBJECTS_OPENAPI_SPEC"
	// objectsFile is the second document, beside specFile.
	objectsFile = "persona-openapi-objects-events-2025-12-08.yaml"
	// rootModule is the module whose go.mod marks the repository root.
	rootModule = "github.com/personaconnect/connect-go"
	// documentServer is the document's only server; recorded requests are
	// mapped onto it before validation.
	documentServer = "https://api.withpersona.com/api/v1"
	// basePath is the path prefix of the fake's routes (connecttest.BasePath).
	basePath = "/api/v1"
)

// repoRoot walks up from the working directory (the test's package
// directory) to the directory whose go.mod declares rootModule. The nested
// go.mod of this module is passed over on the way.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == rootModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod declaring module " + rootModule + " above the test's directory")
		}
		dir = parent
	}
}

// modulePath reads the module line of a go.mod, or "" when there is none.
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// spec is the loaded Connect document and a validator built from it, and
// the second document (Events and the objects' GETs) in objects. A request
// is validated against the document that has its path.
type spec struct {
	objects *spec
	path    string
	model   *v3.Document
	v       validator.Validator
	opts    *config.ValidationOptions
	// errorSchemas are the JSON schemas of the document's shared error
	// responses (components/responses), by name.
	errorSchemas map[string]*base.Schema
}

// validationOptions are the validator's settings. They are the defaults
// (request and response bodies, parameters, headers, security, undeclared
// response statuses) made stricter: formats such as date-time are
// asserted, and a body on an operation that declares none is refused.
func validationOptions() []config.Option {
	return []config.Option{
		config.WithFormatAssertions(),
		config.WithRejectUndeclaredRequestBody(),
	}
}

var (
	specOnce    sync.Once
	loadedSpec  *spec
	specSkip    string
	specFailure error
)

// loadSpec returns the document, or skips the test when it is absent. A
// document named by CONNECT_OPENAPI_SPEC that cannot be read is a failure,
// not a skip.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	specOnce.Do(func() { loadedSpec, specSkip, specFailure = readSpec() })
	switch {
	case specFailure != nil:
		t.Fatal(specFailure)
	case specSkip != "":
		t.Skip(specSkip)
	}
	return loadedSpec
}

func readSpec() (*spec, string, error) {
	s, skip, err := readSpecFile(specEnv, specFile, "")
	if s == nil {
		return nil, skip, err
	}
	s.objects, skip, err = readSpecFile(objectsEnv, objectsFile, filepath.Dir(s.path))
	if s.objects == nil {
		return nil, skip, err
	}
	return s, "", nil
}

// readSpecFile reads one document: the file env names, or file in dir
// (default ../shared/research/ beside the repository root).
func readSpecFile(env, specFile, dir string) (*spec, string, error) {
	specEnv := env
	path, explicit := os.Getenv(specEnv), true
	if path == "" {
		explicit = false
		root, err := repoRoot()
		if err != nil {
			return nil, fmt.Sprintf("Persona's OpenAPI document for Connect is absent: cannot find the repository root (%v), "+
				"so ../shared/research/%s cannot be looked for; set %s to its path. Skipping the spec check.", err, specFile, specEnv), nil
		}
		path = filepath.Join(filepath.Dir(root), "shared", "research", specFile)
		if dir != "" {
			path = filepath.Join(dir, specFile)
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case err != nil && explicit:
		return nil, "", fmt.Errorf("%s=%s: %w", specEnv, path, err)
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Sprintf("Persona's OpenAPI document %s is absent: looked for %s "+
			"(../shared/research/%s beside the repository root; set %s to use another copy). Skipping the spec check.",
			specFile, path, specFile, specEnv), nil
	case err != nil:
		return nil, "", err
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		return nil, "", fmt.Errorf("%s: building the model: %w", path, err)
	}
	v, errs := validator.NewValidator(doc, validationOptions()...)
	if len(errs) > 0 {
		return nil, "", fmt.Errorf("%s: building the validator: %v", path, errors.Join(errs...))
	}
	s := &spec{path: path, model: &model.Model, v: v,
		opts: config.NewValidationOptions(validationOptions()...), errorSchemas: map[string]*base.Schema{}}
	if c := model.Model.Components; c != nil && c.Responses != nil {
		for name, r := range c.Responses.FromOldest() {
			if r.Content == nil {
				continue
			}
			if mt := r.Content.GetOrZero("application/json"); mt != nil && mt.Schema != nil {
				s.errorSchemas[name] = mt.Schema.Schema()
			}
		}
	}
	return s, "", nil
}

// exchange is one request and the response the fake gave it.
type exchange struct {
	// step names the scenario step (or fixture) it came from.
	step string
	// source is "sdk" (sent by the SDK), "raw" (sent by the test itself, to
	// reach a response of the fake the SDK never provokes) or "record" (known
	// only from the fake's record: the connection was dropped).
	source string
	// requestInvalid marks a raw request malformed on purpose: the document
	// must reject it (the fake answered 400 to it).
	requestInvalid bool

	method, path, rawQuery string // path as served, starting with /api/v1
	reqHeader              http.Header
	reqBody                []byte

	status     int
	respHeader http.Header // nil for "record": the fake keeps no response headers
	respBody   []byte
	requestID  string
}

// target is the exchange's URL on the document's server.
func (e *exchange) target() string {
	u := documentServer + strings.TrimPrefix(e.path, basePath)
	if e.rawQuery != "" {
		u += "?" + e.rawQuery
	}
	return u
}

func (e *exchange) request() *http.Request {
	req, err := http.NewRequest(e.method, e.target(), bytes.NewReader(e.reqBody))
	if err != nil {
		panic(err) // the fake parsed the same request line
	}
	req.Header = e.reqHeader.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	return req
}

func (e *exchange) response(req *http.Request) *http.Response {
	h := e.respHeader.Clone()
	if h == nil {
		// Only the fake's record is known: every answer of the fake is
		// JSON (see connecttest's pipeline).
		h = http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	}
	return &http.Response{
		StatusCode: e.status, Status: strconv.Itoa(e.status) + " " + http.StatusText(e.status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(e.respBody)), ContentLength: int64(len(e.respBody)),
		Request: req,
	}
}

// docs are the loaded documents.
func (s *spec) docs() []*spec {
	if s.objects == nil {
		return []*spec{s}
	}
	return []*spec{s, s.objects}
}

// docFor is the document that has the request's path: the second one for
// the Events API and the objects' GETs, the Connect one otherwise (which
// then reports an unknown path).
func (s *spec) docFor(req *http.Request) *spec {
	if s.objects != nil {
		if item, _, _ := paths.FindPath(req, s.objects.model, s.objects.opts); item != nil {
			return s.objects
		}
	}
	return s
}

// operation finds the document's operation for a request, the way the
// validator does.
func (s *spec) operation(req *http.Request) (id string, op *v3.Operation) {
	if d := s.docFor(req); d != s {
		return d.operation(req)
	}
	item, _, _ := paths.FindPath(req, s.model, s.opts)
	if item == nil {
		return "", nil
	}
	op = helpers.ExtractOperation(req, item)
	if op == nil {
		return "", nil
	}
	return op.OperationId, op
}

// violation is one thing the document rejects.
type violation struct {
	step, source string
	what         string // "request" or "response"
	operation    string
	method, url  string
	status       int
	message      string
	reason       string
	fields       []string // "field path: reason" of schema failures
	body         []byte
}

func (v violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s of %s %s → %d [step %q, %s]: %s", v.operation, v.what, v.method, v.url, v.status, v.step, v.source, v.message)
	if v.reason != "" && v.reason != v.message {
		fmt.Fprintf(&b, "\n\treason: %s", v.reason)
	}
	for _, f := range v.fields {
		fmt.Fprintf(&b, "\n\tfield %s", f)
	}
	if len(v.body) > 0 {
		body := v.body
		if len(body) > 600 {
			body = append(slices.Clip(body[:600]), "…"...)
		}
		fmt.Fprintf(&b, "\n\tbody: %s", body)
	}
	return b.String()
}

func toViolations(base violation, errs []*verrors.ValidationError) []violation {
	var out []violation
	for _, e := range errs {
		v := base
		v.message, v.reason = e.Message, e.Reason
		for _, f := range e.SchemaValidationErrors {
			path := f.FieldPath
			if path == "" {
				path = "$"
			}
			loc := ""
			if f.KeywordLocation != "" {
				loc = " (schema " + f.KeywordLocation + ")"
			}
			v.fields = append(v.fields, path+": "+f.Reason+loc)
		}
		out = append(out, v)
	}
	return out
}

// validateRequest validates the request of e against its operation.
func (s *spec) validateRequest(e *exchange) []violation {
	req := e.request()
	s = s.docFor(req)
	id, _ := s.operation(req)
	_, errs := s.v.ValidateHttpRequest(req)
	return toViolations(violation{step: e.step, source: e.source, what: "request", operation: opName(id),
		method: e.method, url: e.target(), status: e.status, body: e.reqBody}, errs)
}

// validateResponse validates the response of e against its operation.
//
// Persona's document declares no 5xx response on any operation (each
// operation's `responses` lists 2xx and 4xx codes only, with no `5XX` and no
// `default`), though the API, like any, answers 500, 502 and 503. For those
// statuses alone, and only when the operation declares neither the code, its
// range nor a default, the validator's "response code does not exist"
// finding is set aside and replaced by a check that is no weaker than the
// document allows: the response must be JSON and its body must validate
// against one of the document's shared error responses
// (#/components/responses/*), which is how Persona documents its error body.
func (s *spec) validateResponse(e *exchange) []violation {
	req := e.request()
	s = s.docFor(req)
	id, op := s.operation(req)
	resp := e.response(req)
	_, errs := s.v.ValidateHttpResponse(req, resp)
	base := violation{step: e.step, source: e.source, what: "response", operation: opName(id),
		method: e.method, url: e.target(), status: e.status, body: e.respBody}
	if e.status >= 500 && op != nil && !declares(op, e.status) {
		var rest []*verrors.ValidationError
		for _, err := range errs {
			if err.ValidationSubType != helpers.ResponseBodyResponseCode {
				rest = append(rest, err)
			}
		}
		return append(toViolations(base, rest), s.undocumentedError(base, req, e)...)
	}
	return toViolations(base, errs)
}

// declares reports whether op documents a response for status.
func declares(op *v3.Operation, status int) bool {
	if op.Responses == nil {
		return false
	}
	if op.Responses.Default != nil {
		return true
	}
	if op.Responses.Codes == nil {
		return false
	}
	return op.Responses.Codes.GetOrZero(strconv.Itoa(status)) != nil ||
		op.Responses.Codes.GetOrZero(fmt.Sprintf("%dXX", status/100)) != nil
}

// undocumentedError checks the body of a 5xx response the operation does
// not document against the document's shared error responses.
func (s *spec) undocumentedError(base violation, req *http.Request, e *exchange) []violation {
	ct := e.contentType()
	if !strings.HasPrefix(ct, "application/json") {
		base.message = fmt.Sprintf("undocumented %d response is %q, not Persona's JSON error body", e.status, ct)
		return []violation{base}
	}
	names := make([]string, 0, len(s.errorSchemas))
	for name := range s.errorSchemas {
		names = append(names, name)
	}
	slices.Sort(names)
	var firstErrs []*verrors.ValidationError
	for _, name := range names {
		ok, errs := responses.ValidateResponseSchema(&responses.ValidateResponseSchemaInput{
			Request: req, Response: e.response(req), Schema: s.errorSchemas[name],
			Version: 3.1, Options: validationOptions(),
		})
		if ok {
			return nil
		}
		if firstErrs == nil {
			firstErrs = errs
		}
	}
	base.message = fmt.Sprintf("undocumented %d response body matches none of the document's error responses (#/components/responses/%s)",
		e.status, strings.Join(names, ", "))
	vs := toViolations(base, firstErrs)
	for i := range vs {
		vs[i].message = base.message + "; e.g. " + vs[i].message
	}
	return vs
}

func (e *exchange) contentType() string {
	if e.respHeader == nil {
		return "application/json; charset=utf-8"
	}
	return e.respHeader.Get("Content-Type")
}

func opName(id string) string {
	if id == "" {
		return "(no operation)"
	}
	return id
}
