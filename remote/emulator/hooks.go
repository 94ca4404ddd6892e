package emulator

import (
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Fault is a failure injected on purpose for the next Count requests to
// Endpoint, for tests of what a real server cannot be made to do on demand.
type Fault struct {
	// Endpoint is an API endpoint as in the URL ("file/upload",
	// "authorize"), "dl" for the download host, or "" for every request.
	Endpoint string
	// Count is how many matching requests are affected (0 means 1).
	Count int
	// After lets this many matching requests pass unaffected first: the
	// fault hits the request After+1 (a token stolen at a chosen request).
	// A request a waiting fault lets pass meets no fault queued after it.
	After int
	// Status answers the request with this HTTP status (429, 500, 502,
	// 503...) and an HTML body, without applying it.
	Status int
	// RetryAfter is sent as Retry-After with Status.
	RetryAfter time.Duration
	// DropReply applies the request, then closes the connection without a
	// reply: the client sees a timeout or reset after the server acted.
	DropReply bool
	// Latency delays the request before it is handled.
	Latency time.Duration
	// StoreDelay holds the request after its body has arrived and before
	// it is applied, whatever the client does meanwhile: a client that
	// gives up on the reply (or dies) in that time finds the request
	// applied afterwards, as a real server finishes storing an upload
	// whose sender is gone.
	StoreDelay time.Duration
	// StealToken deletes every access token of the request's account just
	// before the request is handled, as another client sharing the keys and
	// authorizing at that instant would: the request is refused with the
	// token error, and so is every request made with that token after it.
	StealToken bool
}

// InjectFault queues f. Faults are consumed in the order injected; one
// request consumes at most one fault.
func (s *Server) InjectFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault(endpoint string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Endpoint != "" && f.Endpoint != endpoint {
			continue
		}
		if f.After > 0 {
			f.After--
			return nil
		}
		f.Count--
		taken := *f
		if f.Count <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &taken
	}
	return nil
}

// InvalidateTokens deletes every access token of the account, as another
// client authorizing with the same keys would.
func (s *Server) InvalidateTokens(accountID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidateTokens(accountID)
}

// stealToken invalidates every token of the account whose token the
// request carries (a request without a known token is left alone).
func (s *Server) stealToken(q *request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[q.p["access_token"]]; t != nil {
		s.invalidateTokens(t.Account)
	}
}

// invalidateTokens is InvalidateTokens with s.mu held.
func (s *Server) invalidateTokens(accountID int64) {
	var changes []change
	for tok, t := range s.tokens {
		if t.Account == accountID {
			delete(s.tokens, tok)
			changes = append(changes, delToken(tok))
		}
	}
	if err := s.persist(changes...); err != nil {
		s.log.Error("invalidate tokens", zap.Int64("account", accountID), zap.Error(err))
	}
}

// Entry is one file or folder of an account as Dump reports it.
type Entry struct {
	Folder   bool
	ID       int64
	ParentID int64 // containing folder; 0 is the root
	Name     string
	Status   string // "active" or "trash"
	Size     int64  // files only
	MD5      string // files only
	// Path is "/"-joined names from the root, e.g. "/a/b/x.txt"; a parent
	// that is missing (parent_id is not validated) or a cycle shows as "?".
	Path string
}

// Dump returns every file and folder of the account, sorted by path, folders
// before files, then id,
// so tests can check the remote state directly.
func (s *Server) Dump(accountID int64) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Entry
	for _, f := range s.folders {
		if f.Account == accountID {
			out = append(out, Entry{Folder: true, ID: f.ID, ParentID: f.ParentID, Name: f.Name, Status: f.Status,
				Path: s.folderPath(f.ParentID) + "/" + f.Name})
		}
	}
	for _, f := range s.files {
		if f.Account == accountID {
			out = append(out, Entry{ID: f.ID, ParentID: f.FolderID, Name: f.Name, Status: f.Status, Size: f.Size, MD5: f.MD5,
				Path: s.folderPath(f.FolderID) + "/" + f.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		if out[i].Folder != out[j].Folder {
			return out[i].Folder // file and folder ids are separate sequences
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// folderPath is the path of folder id ("" for the root). Called with s.mu held.
func (s *Server) folderPath(id int64) string {
	var names []string
	seen := make(map[int64]bool)
	for id != 0 {
		f := s.folders[id]
		if f == nil || seen[id] {
			names = append(names, "?")
			break
		}
		seen[id] = true
		names = append(names, f.Name)
		id = f.ParentID
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	if len(names) == 0 {
		return ""
	}
	return "/" + strings.Join(names, "/")
}

// UploadsInFlight is the number of uploads of the account whose file part is
// being received, as counted against the package's concurrent_uploads.
func (s *Server) UploadsInFlight(accountID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploadsActive[accountID]
}
