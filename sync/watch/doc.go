// Package watch owns the local change hints of one sync root: a recursive
// watcher on top of fsnotify that turns filesystem events into debounced
// batches saying which directories to rescan, or that everything must be
// rescanned. Events are hints, never state: the scan is the truth.
//
// # Contract with the engine
//
//   - Coverage. For every change under the root after Run has sent its first
//     batch, some later batch covers it: the change's parent directory is in
//     Batch.Dirs, one of its ancestors (or itself, for a new directory) is in
//     Batch.Trees, or Batch.Full is set. The engine must scan a hinted
//     directory only after receiving the batch; a change made after the scan
//     began produces a new event and so a new batch.
//   - First batch. Run first walks the root and watches every directory that
//     is not ignored, then sends Batch{Full: true}. An engine that does its
//     startup pass on that batch misses nothing made during startup.
//   - New directories. A watch is added for a directory as soon as its
//     creation (or move into the tree) is seen, before its contents are
//     listed, and the directory is hinted in Trees: files made in it before
//     its watch existed are found by that subtree scan.
//   - Full. Set at start, after an event-queue overflow, a watcher error, a
//     failure to add a watch for lack of inotify watches (ENOSPC), or the
//     root itself being removed or moved. Before a Full batch is sent the
//     watcher re-walks the root, adding missing watches and dropping stale
//     ones. Degraded reports a problem until a re-walk succeeds. While some
//     directories cannot be watched (out of watches, root missing) the root
//     is re-walked every minute; when that finally succeeds a Full batch
//     covers what changed unseen meanwhile.
//   - Identity. The kernel keeps one watch per directory, not per path, so
//     watches are recorded with the directory's device and inode: a walk
//     that finds a directory under a new name before the event of its move
//     is handled moves the watch instead of keeping two names for one
//     watch (see dirSet).
//   - Safety net. Events can be lost in ways no watcher sees (network
//     filesystems, changes while the daemon was down, lost watches on
//     exotic filesystems), so the engine must also do a periodic full
//     rescan. While Degraded reports true it should do so more often.
//   - Own writes (echoes). The watcher does not suppress anything: the
//     engine's own writes (rename into place, moves to .syncd/trash) are
//     hinted like any other change. The engine commits the written file's
//     metadata to the base before it takes the next batch, so the hinted
//     scan finds nothing changed, plans nothing and writes nothing; reads
//     produce no events (access and open events are not watched), so echoes
//     can cost one cheap scan of a directory but never a cycle. This was
//     chosen over a suppression window because a window would also hide a
//     user's edit made inside it until the next full rescan.
//   - Ignored paths. Directories the Ignore function rejects, and .syncd/
//     always, are neither watched nor hinted; events for ignored files are
//     dropped. Symbolic links are never followed.
//   - Settling. A hint says something changed, not that it is finished: a
//     file still being written when MaxDelay expires is hinted while still
//     growing. The engine must treat a file whose size or mtime moves
//     during its pass as not yet stable (its next event brings it back).
//   - Debounce. Hints coalesce per directory. A batch is ready once no hint
//     arrived for Options.Debounce, or at the latest Options.MaxDelay after
//     the first hint of the batch. While the engine has not taken a ready
//     batch, newer hints collect into the next one, and are merged into the
//     waiting batch when their own debounce ends; the event stream is always
//     drained, so a slow engine never overflows the kernel queue.
//
// Batches are sent on Batches, which Run closes when it returns. One
// goroutine (Run's) owns all watch state; Degraded and Stats may be called
// from any goroutine.
package watch
