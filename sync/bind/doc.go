// Package bind adapts the real parts to the interfaces the sync engine
// declares: the API client (remote) as engine.Remote, the bbolt store
// (state) as engine.Store, the local root (sync/local) as engine.LocalFS,
// and the root's watcher (sync/watch) as engine.ChangeSource. It holds no logic beyond translating types and errors, so
// the engine stays free of HTTP, bbolt and the filesystem, and the command
// and the end-to-end tests wire the same adapters.
package bind
