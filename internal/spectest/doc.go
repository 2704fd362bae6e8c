// Package spectest checks the connect SDK and its connecttest fake against
// Persona's OpenAPI documents: the one for Connect (with webhook secret
// rotation), and the one for the Events API and the objects a share token
// names (GET /inquiries/{id} and its kin). A request is validated against
// the document that has its path.
//
// It is a separate, test-only module so that the SDK module does not depend
// on an OpenAPI validator. The documents are not part of the project: the
// tests read them from ../shared/research/ beside the repository root (or
// from the files named by CONNECT_OPENAPI_SPEC and, for the second,
// CONNECT_OBJECTS_OPENAPI_SPEC, which defaults to the first's directory),
// and skip, saying where they looked, when one is absent. Run them with
//
//	cd internal/spectest && go test ./...
package spectest
