package watch

import (
	"fmt"

	"github.com/fsnotify/fsnotify"
)

// source is the event stream the Watcher consumes: fsnotify in production,
// a hand-written fake in tests that need to inject overflows, errors or a
// full watch table, and to drive time with testing/synctest.
type source interface {
	Add(path string) error
	Remove(path string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

// eventBuffer is the fsnotify channel capacity. The kernel queue holds
// fs.inotify.max_queued_events (16384 by default); this adds a few thousand
// more so that a walk of a new tree by the owning goroutine does not make
// the kernel drop events.
const eventBuffer = 4096

type fsnotifySource struct{ w *fsnotify.Watcher }

func openFsnotify() (source, error) {
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return nil, fmt.Errorf("start fsnotify: %w", err)
	}
	return fsnotifySource{w}, nil
}

func (s fsnotifySource) Add(path string) error         { return s.w.Add(path) }
func (s fsnotifySource) Remove(path string) error      { return s.w.Remove(path) }
func (s fsnotifySource) Events() <-chan fsnotify.Event { return s.w.Events }
func (s fsnotifySource) Errors() <-chan error          { return s.w.Errors }
func (s fsnotifySource) Close() error                  { return s.w.Close() }
