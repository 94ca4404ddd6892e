package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

const (
	msgNoUpload        = "Did not receive uploaded file."
	msgZeroSize        = "Filesize received was zero."
	msgNoFileID        = "Please provide the file_id param."
	msgFileNotFound    = "Could not find file based on file_id."
	msgNoNewParent     = "Please provide the new_parent_folder_id param."
	msgBadNewParent    = "Could not find the destination folder id defined by new_parent_folder_id."
	msgNoCopyTo        = "Please provide the copy_to_folder_id param."
	msgBadCopyTo       = "Could not find the destination folder id defined by copy_to_folder_id."
	msgDownloadURLFail = "Could not generate download url."

	reasonTooBig   = "maxFileSize"
	reasonStorage  = "You have reached the maximum storage allowed for your account."
	reasonNoUpload = "You do not have permission to upload files."
	reasonBusy     = "Maximum concurrent uploads reached, please wait for one to finish."
)

func uploadServerError(base, reason string) string {
	return "Error on: " + base + "/api_upload_handler. " + reason
}

func (s *Server) fileUpload(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, msg := s.authFile(q)
	if msg != "" {
		return fail(msg)
	}
	up := q.upload
	if up == nil {
		return fail(msgNoUpload)
	}
	if up.size == 0 {
		return fail(msgZeroSize)
	}
	if !s.opts.IgnoreLimits {
		switch {
		case !a.CanUpload:
			return fail(uploadServerError(q.base, reasonNoUpload))
		case up.busy:
			return fail(uploadServerError(q.base, reasonBusy))
		case a.MaxUploadSize > 0 && up.size > a.MaxUploadSize:
			return fail(uploadServerError(q.base, reasonTooBig))
		case a.StorageLimit > 0 && s.storageUsed[a.ID]+up.size > a.StorageLimit:
			return fail(uploadServerError(q.base, reasonStorage))
		}
	}
	var folderID int64
	if fid := phpInt(q.p["folder_id"]); fid > 0 {
		if f := s.folders[fid]; f != nil && f.Account == a.ID && f.Status == statusActive {
			folderID = fid
		} // an unknown or foreign folder silently means the root
	}
	name := s.uniqueName(a.ID, folderID, sanitizeUploadName(up.name))
	ctype := up.ctype
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	now := s.now()
	id := s.ids.NextFile + 1
	f := &fileRec{
		ID:         id,
		Account:    a.ID,
		FolderID:   folderID,
		Name:       name,
		ShortURL:   shortURL(id),
		FileType:   ctype,
		Size:       up.size,
		MD5:        up.md5,
		Status:     statusActive,
		Uploaded:   now,
		DeleteHash: s.randString(32, "0123456789abcdef"),
		UniqueHash: s.randString(64, "0123456789abcdef"),
		Blob:       blobName(id),
	}
	if err := up.store(s.blobPath(f.Blob)); err != nil {
		s.log.Error("store upload", zap.Int64("file", id), zap.Error(err))
		return fail("Error uploading file. No response received from: " + q.base + "/api_upload_handler")
	}
	s.ids.NextFile = id
	s.files[id] = f
	s.index(f)
	s.storageUsed[a.ID] += f.Size
	changes := []change{putFile(f), s.putIDs()}
	if fo := s.folders[folderID]; fo != nil {
		fo.TotalSize += f.Size
		changes = append(changes, putFolder(fo))
	}
	if err := s.persist(changes...); err != nil {
		s.log.Error("upload", zap.Int64("file", id), zap.Error(err))
	}
	url := q.base + "/" + f.ShortURL
	return success(
		kv{"response", "File uploaded"},
		kv{"data", []obj{{
			{"name", f.Name},
			{"size", s.numOrStr(f.Size)},
			{"type", f.FileType},
			{"error", nil},
			{"url", url},
			{"delete_url", url + "~d?" + f.DeleteHash},
			{"info_url", url + "~i?" + f.DeleteHash},
			{"delete_type", "DELETE"},
			{"delete_hash", f.DeleteHash},
			{"hash", f.MD5},
			{"stats_url", url + "~s"},
			{"short_url", f.ShortURL},
			{"file_id", s.numOrStr(f.ID)},
			{"unique_hash", f.UniqueHash},
			{"url_html", `<a href="` + url + `" target="_blank" title="View image on File Upload Script">view ` + f.Name + ` on File Upload Script</a>`},
			{"url_bbcode", "[url]" + url + "[/url]"},
		}}},
	)
}

// uniqueName gives an upload the name "base (N).ext" when an active file of
// the account already has its name in that folder. Called with s.mu held.
func (s *Server) uniqueName(acct, folderID int64, name string) string {
	taken := make(map[string]bool)
	for _, f := range s.filesIn(acct, folderID) {
		if f.Status == statusActive {
			taken[f.Name] = true
		}
	}
	if !taken[name] {
		return name
	}
	base, ext := splitExt(name)
	for n := 2; ; n++ {
		c := base + " (" + strconv.Itoa(n) + ")" + ext
		if !taken[c] {
			return c
		}
	}
}

const (
	statusActive = "active"
	statusTrash  = "trash"
)

// ownFile returns the account's file by the file_id parameter; activeOnly
// refuses trashed files. Called with s.mu held.
func (s *Server) ownFile(a *Account, param string, activeOnly bool) *fileRec {
	id := phpInt(param)
	f := s.files[id]
	if f == nil || f.Account != a.ID || (activeOnly && f.Status != statusActive) {
		return nil
	}
	return f
}

// activeFolder returns the account's active folder id, or nil.
func (s *Server) activeFolder(a *Account, id int64) *folderRec {
	f := s.folders[id]
	if f == nil || f.Account != a.ID || f.Status != statusActive {
		return nil
	}
	return f
}

func (s *Server) fileCommon(q *request, activeOnly bool) (*Account, *fileRec, string) {
	a, msg := s.authFile(q)
	if msg != "" {
		return nil, nil, msg
	}
	if !q.has("file_id") {
		return nil, nil, msgNoFileID
	}
	f := s.ownFile(a, q.p["file_id"], activeOnly)
	if f == nil {
		return nil, nil, msgFileNotFound
	}
	return a, f, ""
}

// listingFile is a file entry of folder/listing (api.md 14).
func (s *Server) listingFile(base string, f *fileRec) obj {
	return obj{
		{"id", s.numOrStr(f.ID)},
		{"filename", f.Name},
		{"shortUrl", f.ShortURL},
		{"fileType", f.FileType},
		{"extension", extension(f.Name)},
		{"fileSize", s.numOrStr(f.Size)},
		{"status", f.Status},
		{"downloads", s.numOrStr(f.Downloads)},
		{"folderId", s.idOrNull(f.FolderID)},
		{"keywords", ""},
		{"url_file", base + "/" + f.ShortURL},
	}
}

// detailFile is the file data of file/info (statusKey "file_status") and of
// the replies of file/edit, delete, move and copy ("status").
func (s *Server) detailFile(base string, f *fileRec, statusKey string) obj {
	return obj{
		{"id", s.numOrStr(f.ID)},
		{"filename", f.Name},
		{"shortUrl", f.ShortURL},
		{"fileType", f.FileType},
		{"extension", extension(f.Name)},
		{"fileSize", s.numOrStr(f.Size)},
		{statusKey, f.Status},
		{"downloads", s.numOrStr(f.Downloads)},
		{"folderId", s.idOrNull(f.FolderID)},
		{"keywords", ""},
		{"description", ""},
		{"isPublic", s.numOrStr(1)},
		{"uploadedDate", fmtTime(f.Uploaded)},
		{"lastAccessed", fmtTime(f.LastAccessed)},
		{"url_file", base + "/" + f.ShortURL},
	}
}

func (s *Server) fileInfo(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, f, msg := s.fileCommon(q, false)
	if msg != "" {
		return fail(msg)
	}
	return success(kv{"data", s.detailFile(q.base, f, "file_status")})
}

func (s *Server) fileDownload(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, f, msg := s.fileCommon(q, false)
	if msg != "" {
		return fail(msg)
	}
	now := s.now()
	t := &dlTokenRec{Token: s.randString(64, "0123456789abcdef"), FileID: f.ID, Expires: now.Add(downloadTokenTTL)}
	s.dlTokens[t.Token] = t
	changes := []change{putDLToken(t)}
	for tok, old := range s.dlTokens {
		if !now.Before(old.Expires) {
			delete(s.dlTokens, tok)
			changes = append(changes, delDLToken(tok))
		}
	}
	if err := s.persist(changes...); err != nil {
		s.log.Error("download token", zap.Int64("file", f.ID), zap.Error(err))
		delete(s.dlTokens, t.Token)
		return fail(msgDownloadURLFail)
	}
	u := q.base + dlPrefix + f.ShortURL
	if s.opts.DownloadURLWithName {
		u += "/" + pathEscape(f.Name)
	}
	u += "?download_token=" + t.Token
	return success(kv{"data", obj{
		{"file_id", s.numOrStr(f.ID)},
		{"filename", f.Name},
		{"download_url", u},
	}})
}

func pathEscape(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (s *Server) fileEdit(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, f, msg := s.fileCommon(q, false)
	if msg != "" {
		return fail(msg)
	}
	// No sanitising and no de-duplication here (api.md 12, 16).
	if v := q.p["filename"]; v != "" {
		f.Name = v
	}
	if v := q.p["fileType"]; v != "" {
		f.FileType = v
	}
	switch v := q.p["folder_id"]; {
	case v == "":
	case v == "null":
		s.relocate(f, 0)
	default:
		if fo := s.activeFolder(a, phpInt(v)); fo != nil {
			s.relocate(f, fo.ID)
		} // unknown: ignored silently
	}
	if err := s.persist(putFile(f)); err != nil {
		s.log.Error("file edit", zap.Int64("file", f.ID), zap.Error(err))
	}
	return success(kv{"response", "File successfully updated."}, kv{"data", s.detailFile(q.base, f, "status")})
}

func (s *Server) fileDelete(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, f, msg := s.fileCommon(q, true)
	if msg != "" {
		return fail(msg)
	}
	f.Status = statusTrash
	s.relocate(f, 0)
	if err := s.persist(putFile(f)); err != nil {
		s.log.Error("file delete", zap.Int64("file", f.ID), zap.Error(err))
	}
	return success(kv{"response", "File successfully set as deleted."}, kv{"data", s.detailFile(q.base, f, "status")})
}

// destFolder resolves a destination parameter of file/move and file/copy:
// "null" is the root, otherwise an active folder of the account (0 refused).
func (s *Server) destFolder(a *Account, v string) (int64, bool) {
	if v == "null" {
		return 0, true
	}
	fo := s.activeFolder(a, phpInt(v))
	if fo == nil {
		return 0, false
	}
	return fo.ID, true
}

func (s *Server) fileMove(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, f, msg := s.fileCommon(q, true)
	if msg != "" {
		return fail(msg)
	}
	if !q.has("new_parent_folder_id") {
		return fail(msgNoNewParent)
	}
	dst, ok := s.destFolder(a, q.p["new_parent_folder_id"])
	if !ok {
		return fail(msgBadNewParent)
	}
	s.relocate(f, dst)
	if err := s.persist(putFile(f)); err != nil {
		s.log.Error("file move", zap.Int64("file", f.ID), zap.Error(err))
	}
	return success(kv{"response", "File successfully moved."}, kv{"data", s.detailFile(q.base, f, "status")})
}

func (s *Server) fileCopy(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, f, msg := s.fileCommon(q, true)
	if msg != "" {
		return fail(msg)
	}
	if !q.has("copy_to_folder_id") {
		return fail(msgNoCopyTo)
	}
	dst, ok := s.destFolder(a, q.p["copy_to_folder_id"])
	if !ok {
		return fail(msgBadCopyTo)
	}
	// The copy is owned by the session's user, not the token's (api.md 16).
	c, err := q.r.Cookie(sessionCookieName)
	if err != nil || s.sessions[c.Value] != a.ID {
		return fail(msgFileNotFound)
	}
	id := s.ids.NextFile + 1
	n := *f
	n.ID = id
	n.FolderID = dst
	n.ShortURL = shortURL(id)
	n.Downloads = 0
	n.Uploaded = s.now()
	n.LastAccessed = time.Time{}
	n.DeleteHash = s.randString(32, "0123456789abcdef")
	n.UniqueHash = s.randString(64, "0123456789abcdef")
	n.Blob = blobName(id)
	if err := linkOrCopy(s.blobPath(f.Blob), s.blobPath(n.Blob)); err != nil {
		s.log.Error("file copy", zap.Int64("file", f.ID), zap.Error(err))
		return fail(msgFileNotFound)
	}
	s.ids.NextFile = id
	s.files[id] = &n
	s.index(&n)
	s.storageUsed[a.ID] += n.Size
	changes := []change{putFile(&n), s.putIDs()}
	if fo := s.folders[dst]; fo != nil {
		fo.TotalSize += n.Size
		changes = append(changes, putFolder(fo))
	}
	if err := s.persist(changes...); err != nil {
		s.log.Error("file copy", zap.Int64("file", id), zap.Error(err))
	}
	return success(
		kv{"response", "File successfully copyied."},
		kv{"original_file", obj{{"data", s.detailFile(q.base, f, "status")}}},
		kv{"new_file", obj{{"data", s.detailFile(q.base, &n, "status")}}},
	)
}
