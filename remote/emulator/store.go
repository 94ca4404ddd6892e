package emulator

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names, declared once (see the layout in doc.go).
var (
	bucketMeta     = []byte("meta")
	bucketFiles    = []byte("files")
	bucketFolders  = []byte("folders")
	bucketTokens   = []byte("tokens")
	bucketDLTokens = []byte("dltokens")
	bucketSessions = []byte("sessions")
	keyIDs         = []byte("ids")
)

type fileRec struct {
	ID           int64     `json:"id"`
	Account      int64     `json:"account"`
	FolderID     int64     `json:"folder_id"` // 0: root
	Name         string    `json:"name"`
	ShortURL     string    `json:"short_url"`
	FileType     string    `json:"file_type"`
	Size         int64     `json:"size"`
	MD5          string    `json:"md5"`
	Status       string    `json:"status"`
	Downloads    int64     `json:"downloads"`
	Uploaded     time.Time `json:"uploaded"`
	LastAccessed time.Time `json:"last_accessed"`
	DeleteHash   string    `json:"delete_hash"`
	UniqueHash   string    `json:"unique_hash"`
	Blob         string    `json:"blob"` // file name under DataDir/files
}

type folderRec struct {
	ID             int64     `json:"id"`
	Account        int64     `json:"account"`
	ParentID       int64     `json:"parent_id"` // 0: root; may name no folder (parent_id is not validated)
	Name           string    `json:"name"`
	IsPublic       int       `json:"is_public"`
	AccessPassword string    `json:"access_password"`
	TotalSize      int64     `json:"total_size"` // stale after moves and deletes, as on the live service
	Status         string    `json:"status"`
	Added          time.Time `json:"added"`
	Updated        time.Time `json:"updated"` // zero: never
	URLHash        string    `json:"url_hash"`
	TotalDownloads int64     `json:"total_downloads"`
}

type tokenRec struct {
	Token    string    `json:"token"`
	Account  int64     `json:"account"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"` // zero: never used, never expires

	saved time.Time // the LastUsed last persisted (see validToken)
}

type dlTokenRec struct {
	Token   string    `json:"token"`
	FileID  int64     `json:"file_id"`
	Expires time.Time `json:"expires"`
}

type sessionRec struct {
	ID      string `json:"id"`
	Account int64  `json:"account"`
}

type idCounters struct {
	NextFile   int64 `json:"next_file"`
	NextFolder int64 `json:"next_folder"`
}

// folderKey names a folder of an account: folder 0, the root, exists once
// per account.
type folderKey struct{ acct, folder int64 }

// index and unindex keep byFolder in step with a file's account and folder
// (relocate changes a file's folder through them). Called with s.mu held. Listings and upload de-duplication then cost the folder's size, not
// the whole store's.
func (s *Server) index(f *fileRec) {
	k := folderKey{f.Account, f.FolderID}
	m := s.byFolder[k]
	if m == nil {
		m = make(map[int64]*fileRec)
		s.byFolder[k] = m
	}
	m[f.ID] = f
}

func (s *Server) unindex(f *fileRec) {
	k := folderKey{f.Account, f.FolderID}
	delete(s.byFolder[k], f.ID)
	if len(s.byFolder[k]) == 0 {
		delete(s.byFolder, k)
	}
}

// relocate moves f to folder, keeping byFolder in step. Called with s.mu held.
func (s *Server) relocate(f *fileRec, folder int64) {
	s.unindex(f)
	f.FolderID = folder
	s.index(f)
}

// filesIn returns the files (any status) of an account's folder.
func (s *Server) filesIn(acct, folder int64) map[int64]*fileRec {
	return s.byFolder[folderKey{acct, folder}]
}

func be64(n int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(n))
	return b
}

func openDB(path string, noSync bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketFiles, bucketFolders, bucketTokens, bucketDLTokens, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", path, err)
	}
	return db, nil
}

// load reads every record into the server's maps; called once by New.
func (s *Server) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyIDs); v != nil {
			if err := json.Unmarshal(v, &s.ids); err != nil {
				return fmt.Errorf("meta ids: %w", err)
			}
		}
		err := tx.Bucket(bucketFiles).ForEach(func(k, v []byte) error {
			f := new(fileRec)
			if err := json.Unmarshal(v, f); err != nil {
				return fmt.Errorf("file %x: %w", k, err)
			}
			s.files[f.ID] = f
			s.index(f)
			s.storageUsed[f.Account] += f.Size
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketFolders).ForEach(func(k, v []byte) error {
			f := new(folderRec)
			if err := json.Unmarshal(v, f); err != nil {
				return fmt.Errorf("folder %x: %w", k, err)
			}
			s.folders[f.ID] = f
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			t := new(tokenRec)
			if err := json.Unmarshal(v, t); err != nil {
				return fmt.Errorf("token: %w", err)
			}
			s.tokens[t.Token] = t
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketDLTokens).ForEach(func(k, v []byte) error {
			t := new(dlTokenRec)
			if err := json.Unmarshal(v, t); err != nil {
				return fmt.Errorf("download token: %w", err)
			}
			s.dlTokens[t.Token] = t
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketSessions).ForEach(func(k, v []byte) error {
			var r sessionRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("session: %w", err)
			}
			s.sessions[r.ID] = r.Account
			return nil
		})
	})
}

// change is one write to apply: a put of a JSON value or a delete (v nil).
type change struct {
	bucket []byte
	key    []byte
	v      any
}

func putFile(f *fileRec) change       { return change{bucketFiles, be64(f.ID), *f} }
func putFolder(f *folderRec) change   { return change{bucketFolders, be64(f.ID), *f} }
func putToken(t *tokenRec) change     { return change{bucketTokens, []byte(t.Token), *t} }
func delToken(tok string) change      { return change{bucket: bucketTokens, key: []byte(tok)} }
func putDLToken(t *dlTokenRec) change { return change{bucketDLTokens, []byte(t.Token), *t} }
func delDLToken(tok string) change    { return change{bucket: bucketDLTokens, key: []byte(tok)} }
func putSession(id string, acct int64) change {
	return change{bucketSessions, []byte(id), sessionRec{ID: id, Account: acct}}
}
func (s *Server) putIDs() change { return change{bucketMeta, keyIDs, s.ids} }

// persist writes changes in one transaction. Values are encoded before the
// transaction starts. Called with s.mu held, so writes reach disk in the
// order they were made in memory.
func (s *Server) persist(changes ...change) error {
	type enc struct {
		bucket, key, val []byte
	}
	encs := make([]enc, 0, len(changes))
	for _, c := range changes {
		e := enc{bucket: c.bucket, key: c.key}
		if c.v != nil {
			b, err := json.Marshal(c.v)
			if err != nil {
				return fmt.Errorf("encode %s/%x: %w", c.bucket, c.key, err)
			}
			e.val = b
		}
		encs = append(encs, e)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, e := range encs {
			b := tx.Bucket(e.bucket)
			var err error
			if e.val == nil {
				err = b.Delete(e.key)
			} else {
				err = b.Put(e.key, e.val)
			}
			if err != nil {
				return fmt.Errorf("%s/%x: %w", e.bucket, e.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("persist: %w", err)
	}
	return nil
}

func (s *Server) blobPath(name string) string { return filepath.Join(s.blobDir, name) }

func blobName(id int64) string { return strconv.FormatInt(id, 10) }

// linkOrCopy makes dst hold the content of src: a hard link where the
// filesystem allows, else a streamed copy.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(dst)
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}
