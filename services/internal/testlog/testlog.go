// Package testlog collects the JSON log of a service command run by a test,
// in process or as a child process, and hands over the address its
// "listening" record names.
package testlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sink is an io.Writer for a service's log. It is safe for the service's
// writes and the test's reads at once. A record split over several writes
// (as a child process's pipe may split it) is read once its line ends.
type Sink struct {
	mu      sync.Mutex
	all     bytes.Buffer
	partial []byte
	addr    chan string
}

// NewSink returns an empty Sink.
func NewSink() *Sink { return &Sink{addr: make(chan string, 1)} }

// Write keeps p and looks for the "listening" record in the lines it ends.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(s.partial[:i], &rec) == nil && rec.Msg == "listening" {
			select {
			case s.addr <- rec.Addr:
			default: // a second "listening": the test asked for the first
			}
		}
		s.partial = s.partial[i+1:]
	}
}

// String is everything written so far.
func (s *Sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// Count counts the records whose message is msg.
func (s *Sink) Count(msg string) int {
	return strings.Count(s.String(), `"msg":"`+msg+`"`)
}

// ListeningAddr waits, up to 60 seconds (a child process may first migrate
// its database), for the "listening" record and returns its address; the
// test fails with the log so far when none comes.
func (s *Sink) ListeningAddr(t testing.TB) string {
	t.Helper()
	select {
	case addr := <-s.addr:
		return addr
	case <-time.After(60 * time.Second):
		t.Fatalf("the service did not start listening; its log:\n%s", s.String())
		return ""
	}
}
