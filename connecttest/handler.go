package connecttest

import "net/http"

// Handler returns the handler that serves the fake's API (the routes
// under BasePath), for a program that serves it from an http.Server of its
// own: one with timeouts and limits for a long-running service, or one
// that mounts more routes beside it, as cmd/connect-fake does. Requests to
// it change the same state as requests to URL. Close still stops the
// Server's webhooks and its own listener, but not other servers using the
// handler: stop those first.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }
