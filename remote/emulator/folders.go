package emulator

import (
	"crypto/md5"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

const (
	msgNoFolderName     = "Please provide the folder_name param."
	msgNoFolderID       = "Please provide the folder_id param."
	msgFolderNotFound   = "Could not find folder based on folder_id."
	msgFolderMoveFailed = "Failed moving the folder."
	msgFolderDelFailed  = "Failed deleting the folder."
)

// counts holds per-folder counters computed in one pass over the store.
type counts struct {
	childFolders map[int64]int
	files        map[int64]int
}

// folderCounts counts active children per folder of the account. Called
// with s.mu held.
func (s *Server) folderCounts(acct int64) counts {
	c := counts{childFolders: make(map[int64]int), files: make(map[int64]int)}
	for _, f := range s.folders {
		if f.Account == acct && f.Status == statusActive {
			c.childFolders[f.ParentID]++
		}
	}
	for _, f := range s.folders {
		if f.Account == acct {
			for _, fi := range s.filesIn(acct, f.ID) {
				if fi.Status == statusActive {
					c.files[f.ID]++
				}
			}
		}
	}
	return c
}

// folderObj is a folder's data; listing entries carry no accessPassword.
func (s *Server) folderObj(base string, f *folderRec, c counts, listing bool) obj {
	o := obj{
		{"id", s.numOrStr(f.ID)},
		{"parentId", s.idOrNull(f.ParentID)},
		{"folderName", f.Name},
		{"totalSize", s.numOrStr(f.TotalSize)},
		{"isPublic", s.numOrStr(int64(f.IsPublic))},
	}
	if !listing {
		var pw any = nil
		if f.AccessPassword != "" {
			pw = f.AccessPassword
		}
		o = append(o, kv{"accessPassword", pw})
	}
	return append(o,
		kv{"date_added", fmtTime(f.Added)},
		kv{"date_updated", fmtTime(f.Updated)},
		kv{"status", f.Status},
		kv{"urlHash", f.URLHash},
		kv{"url_folder", base + "/folder/" + strconv.FormatInt(f.ID, 10) + "/" + strings.ReplaceAll(f.Name, " ", "_")},
		kv{"total_downloads", f.TotalDownloads},
		kv{"child_folder_count", c.childFolders[f.ID]},
		kv{"file_count", c.files[f.ID]},
	)
}

// ownFolder returns the account's folder (any status) by id, or nil.
func (s *Server) ownFolder(a *Account, id int64) *folderRec {
	f := s.folders[id]
	if f == nil || f.Account != a.ID {
		return nil
	}
	return f
}

func isPublicValue(v string) int {
	switch v {
	case "1":
		return 1
	case "2":
		return 2
	}
	return 0
}

func (s *Server) folderCreate(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	if !q.has("folder_name") {
		return fail(msgNoFolderName)
	}
	parent := phpInt(q.p["parent_id"]) // not validated, as on the live service
	if parent < 0 {
		parent = 0
	}
	pw := q.p["access_password"]
	if len(pw) != 32 {
		pw = ""
	}
	id := s.ids.NextFolder + 1
	sum := md5.Sum([]byte("folder/" + strconv.FormatInt(id, 10) + "/" + s.randString(16, alnum)))
	f := &folderRec{
		ID:             id,
		Account:        a.ID,
		ParentID:       parent,
		Name:           q.p["folder_name"],
		IsPublic:       isPublicValue(q.p["is_public"]),
		AccessPassword: pw,
		Status:         statusActive,
		Added:          s.now(),
		URLHash:        hex.EncodeToString(sum[:]),
	}
	s.ids.NextFolder = id
	s.folders[id] = f
	if err := s.persist(putFolder(f), s.putIDs()); err != nil {
		s.log.Error("folder create", zap.Int64("folder", id), zap.Error(err))
	}
	return success(kv{"response", "Folder successfully created."}, kv{"data", s.folderObj(q.base, f, s.folderCounts(a.ID), false)})
}

func (s *Server) folderListing(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	var parent int64
	switch v := q.p["parent_folder_id"]; v {
	case "", "0", "null":
	default:
		f := s.ownFolder(a, phpInt(v))
		if f == nil {
			return fail(msgFolderNotFound)
		}
		parent = f.ID
	}
	var folders []*folderRec
	for _, f := range s.folders {
		if f.Account == a.ID && f.ParentID == parent {
			folders = append(folders, f)
		}
	}
	var files []*fileRec
	for _, f := range s.filesIn(a.ID, parent) {
		files = append(files, f)
	}
	sort.Slice(folders, func(i, j int) bool { return nameLess(folders[i].Name, folders[j].Name, folders[i].ID, folders[j].ID) })
	sort.Slice(files, func(i, j int) bool { return nameLess(files[i].Name, files[j].Name, files[i].ID, files[j].ID) })
	c := s.folderCounts(a.ID)
	fo := make([]obj, 0, len(folders))
	for _, f := range folders {
		fo = append(fo, s.folderObj(q.base, f, c, true))
	}
	fi := make([]obj, 0, len(files))
	for _, f := range files {
		fi = append(fi, s.listingFile(q.base, f))
	}
	return success(kv{"data", obj{{"folders", fo}, {"files", fi}}})
}

// nameLess orders as the service's case-insensitive collation does, ties by id.
func nameLess(a, b string, ida, idb int64) bool {
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return ida < idb
}

func (s *Server) folderInfo(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	f := s.ownFolder(a, phpInt(q.p["folder_id"]))
	if f == nil {
		return fail(msgFolderNotFound)
	}
	return success(kv{"data", s.folderObj(q.base, f, s.folderCounts(a.ID), false)})
}

func (s *Server) folderEdit(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	f := s.ownFolder(a, phpInt(q.p["folder_id"]))
	if f == nil {
		return fail(msgFolderNotFound)
	}
	switch v := q.p["parent_id"]; {
	case v == "":
	case v == "null":
		f.ParentID = 0
	case phpInt(v) == f.ID:
		return fail(msgFolderMoveFailed)
	default:
		// No cycle check (api.md 23); an unknown parent is ignored.
		if p := s.activeFolder(a, phpInt(v)); p != nil {
			f.ParentID = p.ID
		}
	}
	if v := q.p["folder_name"]; v != "" {
		f.Name = v
	}
	if v := q.p["is_public"]; v != "" {
		f.IsPublic = isPublicValue(v)
	}
	if v := q.p["access_password"]; len(v) == 32 {
		f.AccessPassword = v
	}
	f.Updated = s.now()
	if err := s.persist(putFolder(f)); err != nil {
		s.log.Error("folder edit", zap.Int64("folder", f.ID), zap.Error(err))
	}
	return success(kv{"response", "Folder successfully updated."}, kv{"data", s.folderObj(q.base, f, s.folderCounts(a.ID), false)})
}

func (s *Server) folderMove(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	if !q.has("folder_id") {
		return fail(msgNoFolderID)
	}
	f := s.ownFolder(a, phpInt(q.p["folder_id"]))
	if f == nil {
		return fail(msgFolderNotFound)
	}
	v := q.p["new_parent_folder_id"]
	if v == "" {
		return fail(msgNoNewParent)
	}
	var dst int64
	if v != "null" {
		p := s.activeFolder(a, phpInt(v))
		if p == nil || p.ID == f.ID {
			return fail(msgFolderMoveFailed)
		}
		dst = p.ID // no cycle check (api.md 23)
	}
	f.ParentID = dst
	f.Updated = s.now()
	if err := s.persist(putFolder(f)); err != nil {
		s.log.Error("folder move", zap.Int64("folder", f.ID), zap.Error(err))
	}
	return success(kv{"response", "Folder successfully moved."}, kv{"data", s.folderObj(q.base, f, s.folderCounts(a.ID), false)})
}

func (s *Server) folderDelete(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	top := s.activeFolder(a, phpInt(q.p["folder_id"]))
	if top == nil {
		return fail(msgFolderDelFailed)
	}
	// Trash the subtree; children keep their parent ids, the top moves to
	// the root (api.md 24). visited guards against cycles the API allows.
	visited := map[int64]bool{top.ID: true}
	queue := []int64{top.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, f := range s.folders {
			if f.Account == a.ID && f.ParentID == id && !visited[f.ID] {
				visited[f.ID] = true
				queue = append(queue, f.ID)
			}
		}
	}
	top.ParentID = 0
	var changes []change
	for id := range visited {
		f := s.folders[id]
		f.Status = statusTrash
		changes = append(changes, putFolder(f))
	}
	for id := range visited {
		for _, f := range s.filesIn(a.ID, id) {
			if f.Status == statusActive {
				f.Status = statusTrash
				changes = append(changes, putFile(f))
			}
		}
	}
	if err := s.persist(changes...); err != nil {
		s.log.Error("folder delete", zap.Int64("folder", top.ID), zap.Error(err))
	}
	return success(kv{"response", "Folder successfully set as deleted."})
}
