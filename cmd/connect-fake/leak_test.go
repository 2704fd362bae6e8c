package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// asConnectFake, set to 1 in a child's environment, makes the test binary
// run connect-fake's main with the child's arguments instead of the tests:
// TestFromNode starts connect-fake as a process of its own that way,
// without building it first.
const asConnectFake = "CONNECT_FAKE_TEST_AS_MAIN"

// TestMain fails the package's tests when any goroutine outlives them: an
// unclosed response body, an idle keep-alive connection that was never
// closed, a timer or a server left running.
func TestMain(m *testing.M) {
	if os.Getenv(asConnectFake) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
