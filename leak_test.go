package connect_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: an
// unclosed response body, an idle keep-alive connection that was never
// closed, a timer or a server left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
