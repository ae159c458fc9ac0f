package input

import (
	"os"
	"testing"
)

// bigTest skips a test that writes files of hundreds of MB or more, or
// runs for long, unless ACTPROF_BIG_TESTS is set (make test-big).
func bigTest(t *testing.T, what string) {
	t.Helper()
	if v := os.Getenv("ACTPROF_BIG_TESTS"); v == "" || v == "0" {
		t.Skipf("%s: set ACTPROF_BIG_TESTS=1 (make test-big) to run", what)
	}
}
