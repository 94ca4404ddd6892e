package watch

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test stops its watcher; no goroutine (ours or fsnotify's) may be
// left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
