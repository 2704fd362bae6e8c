// Package spectest checks the connect SDK and its connecttest fake against
// Persona's OpenAPI document for Connect.
//
// It is a separate, test-only module so that the SDK module does not depend
// on an OpenAPI validator. The document is not part of the project: the
// tests read it from ../shared/research/ beside the repository root (or from
// the file named by CONNECT_OPENAPI_SPEC) and skip, saying where they looked,
// when it is absent. Run them with
//
//	cd internal/spectest && go test ./...
package spectest
