package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/text/unicode/norm"

	"github.com/syncd/syncd/remote/apinames"
	"github.com/syncd/syncd/sync/plan"
)

// Journal steps of the transfer protocols.
const (
	opUpload  = "upload"
	opReplace = "replace"
	// opDownload is a download over a synced file: a crash between its
	// rename into place and the commit must not leave base naming the old
	// version, or the next pass would take the download for a local edit
	// and send it back over whatever the remote holds by then.
	opDownload = "download"
	// opConflict is a conflict whose copy is being made: the record holds
	// the plan.Conflict, so that a crash between the copy's rename and the
	// commit that logs it still gets the conflict reported.
	opConflict = "conflict"
	// opMove is a remote move: a crash in one routed through a temporary
	// name (see route) must not leave the user's file or folder under
	// that name, and one that reached its destination must still tie the
	// moved entry to its base entry (see bindMoved).
	opMove = "move"
	// opMoveLocal is a local rename that follows the remote side: a crash
	// between the rename and the commit must still tie the moved entry to
	// its base entry, or a later change of the remote entry's id (another
	// client's new version) leaves nothing that links the two (TestSimOneWay
	// seed 800173).
	opMoveLocal    = "move-local"
	stepBegun      = "begun"
	stepUploaded   = "uploaded"
	stepOldTrashed = "old-trashed"
)

// transferRecord is the journal data of an upload, a replace or a download:
// enough to find, after a crash at any instant, the remote file the
// interrupted operation may have created and to finish or undo the
// protocol, or to recognise a download already in place.
type transferRecord struct {
	Path   string `json:"path"`
	Raw    string `json:"raw,omitempty"` // download: the local path as on disk
	Tmp    string `json:"tmp,omitempty"` // download: the temp file it comes from (Temp.Name)
	Folder string `json:"folder"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	MD5    string `json:"md5"`
	Old    string `json:"old,omitempty"` // replace: the id being replaced; download, upload: base's id
	New    string `json:"new,omitempty"` // the uploaded id, once known
	// Upload, replace: the local file's stat as sent, for the base recovery
	// writes when the upload arrived and the pass died before its commit.
	// Download: the stat of the file it puts in place (see recoverDownload).
	MtimeNs int64  `json:"mtime_ns,omitempty"`
	Dev     uint64 `json:"dev,omitempty"`
	Ino     uint64 `json:"ino,omitempty"`
	// Upload, replace: the remote id of the entry the store's base held at
	// Path when the record was written (Was, "" none; WasSet false in
	// records of older versions). Old is the id the working base held: an
	// earlier op of the same pass may have changed it without a commit
	// (a move of the entry to Path). Recovery takes the base at Path
	// holding either for "no later pass decided since" (see durableID).
	Was    string `json:"was,omitempty"`
	WasSet bool   `json:"was_set,omitempty"`
}

// current reports whether base entry b at rec.Path (ok: there is one) is
// still what it was when rec was written, as the store or as the
// working base held it: no later pass decided otherwise.
func (rec transferRecord) current(b plan.Base, ok bool) bool {
	id := ""
	if ok {
		id = b.RemoteID
	}
	return id == rec.Old || rec.WasSet && id == rec.Was
}

// moveRecord is the journal data of a remote move through a temporary
// name: the entry, where it came from, where it goes and the name between.
type moveRecord struct {
	Path       string `json:"path"`
	ID         string `json:"id"`
	Dir        bool   `json:"dir,omitempty"`
	FromParent string `json:"from_parent"`
	FromName   string `json:"from_name"`
	ToParent   string `json:"to_parent"`
	ToName     string `json:"to_name"`
	Aside      string `json:"aside"`
	// Bind: the base entry at From (a key) names another remote id than
	// the one moved (a new version the other client put at the base path,
	// paired with it by place). The move is the only link between the two:
	// recovery writes the base the op's commit would have (bindMoved).
	From string `json:"from,omitempty"`
	Bind bool   `json:"bind,omitempty"`
}

// moveLocalRecord is the journal data of a local move (see opMoveLocal):
// what recovery needs to write the base the move's commit would have, once
// it finds the entry at Raw.
type moveLocalRecord struct {
	From           string `json:"from"`
	Path           string `json:"path"`
	Raw            string `json:"raw"`
	Name           string `json:"name"`
	Dev            uint64 `json:"dev"`
	Ino            uint64 `json:"ino"`
	Dir            bool   `json:"dir,omitempty"`
	RemoteParentID string `json:"remote_parent_id,omitempty"`
	ParentSet      bool   `json:"parent_set,omitempty"`
}

// exec runs one op. It never touches execution state except through the
// returned fold, which run applies.
func (x *execution) exec(ctx context.Context, t opTask) opResult {
	// An op that makes a conflict copy (a conflict rename, or a move aside
	// of one of two entries bound for one path) is journaled with its
	// conflict first; copy ops journal nothing else.
	cseq, err := x.journalConflict(t.op)
	if err != nil {
		return opResult{idx: t.idx, status: OpFailed, err: fmt.Errorf("%s %s: journal its conflict: %w", t.op.Kind, t.op.Path, err)}
	}
	r := x.execOp(ctx, t)
	if cseq != 0 {
		if r.seq != 0 {
			// The op has a record of its own (a move is journaled): both
			// stay open until the commit, so that after a crash recovery
			// both finishes the move and reports the conflict. Closing the
			// conflict's at once left a copy made by a move never logged
			// (TestSim seed 839).
			r.cseq = cseq
		} else {
			r.seq = cseq
		}
	}
	r.idx = t.idx
	if r.status == 0 {
		switch {
		case r.err == nil:
			r.status = OpDone
		case errors.Is(r.err, errSkip), errors.Is(r.err, ErrPremise), errors.Is(r.err, ErrNotFound):
			r.status = OpSkipped
		default:
			r.status = OpFailed
		}
	}
	if r.err != nil {
		r.err = fmt.Errorf("%s %s: %w", t.op.Kind, t.op.Path, r.err)
	}
	return r
}

func (x *execution) execOp(ctx context.Context, t opTask) opResult {
	if err := ctx.Err(); err != nil {
		return opResult{status: OpSkipped, err: err}
	}
	op := t.op
	switch op.Kind {
	case plan.Upload:
		return x.upload(ctx, t)
	case plan.Replace:
		return x.replace(ctx, t)
	case plan.Download:
		return x.download(ctx, t)
	case plan.MkdirLocal:
		return x.mkdirLocal(t)
	case plan.MkdirRemote:
		return x.mkdirRemote(ctx, t)
	case plan.MoveRemote:
		return x.moveRemote(ctx, t)
	case plan.MoveLocal:
		return x.moveLocal(t)
	case plan.DeleteRemote:
		return x.deleteRemote(ctx, t)
	case plan.DeleteLocal:
		return x.deleteLocal(t)
	case plan.ConflictLocal:
		return x.conflictLocal(t)
	case plan.ConflictRemote:
		return x.conflictRemote(ctx, t)
	case plan.Record:
		return x.record(t)
	case plan.Forget:
		return opResult{fold: func(x *execution) { x.forget(op.Path) }}
	}
	return opResult{err: fmt.Errorf("unknown op kind %d", op.Kind)}
}

// localOf is the local premise of key: the op's own when given, the scan's
// otherwise.
func (x *execution) localOf(op plan.Op, key string) (plan.Local, bool) {
	if op.Local != nil && (key == op.Path && op.From == "" || key == op.From) {
		return *op.Local, true
	}
	l, ok := x.in.Local[key]
	return l, ok
}

// remoteOf is the remote premise of key, likewise.
func (x *execution) remoteOf(op plan.Op, key string) (plan.Remote, bool) {
	if op.Remote != nil && (key == op.Path && op.From == "" || key == op.From) {
		return *op.Remote, true
	}
	r, ok := x.in.Remote[key]
	return r, ok
}

func sameStat(a, b plan.Local) bool {
	return a.Kind == b.Kind && a.Size == b.Size && a.MtimeNs == b.MtimeNs && a.Ino == b.Ino && a.Dev == b.Dev
}

// opener opens the local file for one upload attempt, refusing when it no
// longer matches what was planned.
func (x *execution) opener(raw string, want plan.Local, have bool) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) {
		rc, st, err := x.p.local.OpenRead(raw)
		if err != nil {
			return nil, err
		}
		if have && !sameStat(st, want) {
			rc.Close()
			return nil, fmt.Errorf("%s: %w", raw, ErrPremise)
		}
		return rc, nil
	}
}

func (x *execution) journal(op string, rec transferRecord) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	return x.p.store.JournalBegin(x.p.cfg.Key, Journal{Op: op, Step: stepBegun, Data: data})
}

// conflictRecord is the journal record of an op that makes a conflict
// copy: the conflict, and for a conflict rename the op's kind and the path
// it renames, whose base the op's commit would drop.
type conflictRecord struct {
	plan.Conflict
	Kind plan.OpKind `json:",omitempty"`
	From string      `json:",omitempty"`
}

// journalConflict records, before the rename that makes it, the conflict
// the copy op resolves (0: op makes no conflict copy).
func (x *execution) journalConflict(op plan.Op) (uint64, error) {
	c, ok := x.copyOf(op)
	if !ok {
		return 0, nil
	}
	rec := conflictRecord{Conflict: c}
	if op.Kind == plan.ConflictLocal || op.Kind == plan.ConflictRemote {
		rec.Kind, rec.From = op.Kind, op.From
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	return x.p.store.JournalBegin(x.p.cfg.Key, Journal{Op: opConflict, Step: stepBegun, Data: data})
}

// copyOf returns the conflict op resolves when it is the rename that makes
// a conflict copy; the transfer of that copy to the other side, which has
// the same path, is not.
func (x *execution) copyOf(op plan.Op) (plan.Conflict, bool) {
	switch op.Kind {
	case plan.ConflictLocal, plan.ConflictRemote, plan.MoveLocal, plan.MoveRemote:
		c, ok := x.copies[op.Path]
		return c, ok
	}
	return plan.Conflict{}, false
}

func (x *execution) advance(seq uint64, step string, rec transferRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return x.p.store.JournalAdvance(seq, step, data)
}

// upload creates a new remote file: upload, verify, rename back to the
// exact name when the server changed it (never onto a name another file
// took meanwhile).
func (x *execution) upload(ctx context.Context, t opTask) opResult {
	op := t.op
	if !t.parentOK {
		return opResult{err: fmt.Errorf("remote folder of %s not known yet", parentKey(op.Path))}
	}
	l, have := x.localOf(op, op.Path)
	if !have {
		st, err := x.p.local.Stat(t.rawPath)
		if err != nil {
			return opResult{err: err}
		}
		l = st
	}
	name := baseName(t.rawPath)
	// Every upload is journaled before its request: a crash after the
	// file arrived and before the commit leaves a record by which recovery
	// knows the file for syncd's own and records the base, even when the
	// local file changed again since (then the change is an ordinary
	// replace, not a conflict). The run journals most uploads before
	// launching them, in one transaction with the other uploads of their
	// batch (see journalUploads); one it did not (ready after its batch
	// was written, say, when its folder was made by this pass: it comes
	// first in plan order and is launched before the batch) or not as
	// launched is journaled here, through the run's group commit. Left
	// unjournaled, a crash after its file arrived made the user's next
	// edit a conflict copy of syncd's own upload
	// (TestCrashAfterLateReadyUploadThenLocalEditIsAReplace).
	rec := uploadRecord(t, l)
	var seq uint64
	if t.jseq != 0 {
		if rec == t.jrec {
			seq = t.jseq
		} else {
			x.p.store.JournalDone(t.jseq)
		}
	}
	if seq == 0 {
		data, err := json.Marshal(rec)
		if err == nil {
			seq, err = x.journalGrouped(Journal{Op: opUpload, Step: stepBegun, Data: data})
		}
		if err != nil {
			return opResult{err: fmt.Errorf("journal: %w", err)}
		}
	}
	if err := x.p.fail("upload.begun"); err != nil {
		return opResult{err: err}
	}
	// A name the server would change (a leading dot, a quote) is sent
	// under syncd's temporary name: until the rename back, other hosts
	// leave it alone, where "env" for ".env" would look like a user's file.
	// Only an upload under its own name leaves the check of where it
	// landed to the run's checkFolders: one under a temporary name is
	// renamed next, and that rename must act on a file known to be in
	// its folder.
	sendAs := name
	if apinames.Stored(name) != name {
		sendAs = tempName(name, tagUpload, strconv.FormatUint(seq, 10), x.p.tempTag())
	}
	f, err := x.send(ctx, op.Path, t.rawPath, t.parentID, sendAs, l, have, seq, sendAs == name)
	if err != nil {
		return opResult{err: err}
	}
	if err := x.p.fail("upload.uploaded"); err != nil {
		return opResult{err: err}
	}
	if f.Name != name {
		if err := x.nameNew(ctx, f.ID, t.parentID, name); err != nil {
			if !errors.Is(err, errSkip) {
				seq = 0 // unresolved: recovery finishes it
			}
			return opResult{err: fmt.Errorf("rename uploaded %q back to %q: %w", f.Name, name, err), seq: seq}
		}
	}
	if err := x.p.fail("upload.renamed"); err != nil {
		return opResult{err: err}
	}
	md5 := l.MD5
	if f.MD5 != "" {
		md5 = f.MD5
	}
	b := plan.Base{Kind: plan.File, LocalName: name, RemoteName: name, Size: l.Size, MtimeNs: l.MtimeNs,
		Dev: l.Dev, Ino: l.Ino, MD5: md5, RemoteID: f.ID, RemoteParentID: t.parentID}
	r := opResult{seq: seq, bytes: l.Size, fold: func(x *execution) {
		x.put(op.Path, b)
		x.learnt[f.ID] = md5
	}}
	if t.parentID != "" {
		r.checkFolder, r.fileID = t.parentID, f.ID // held until checkFolders confirms the folder
	}
	return r
}

// uploadRecord is the journal record of the upload t of the local file l.
func uploadRecord(t opTask, l plan.Local) transferRecord {
	return transferRecord{Path: t.op.Path, Folder: t.parentID, Name: baseName(t.rawPath), Size: l.Size, MD5: l.MD5,
		Old: t.baseID, MtimeNs: l.MtimeNs, Dev: l.Dev, Ino: l.Ino, Was: t.was, WasSet: true}
}

// send uploads the local file raw (planned as l; checked against it when
// check) into folder under name, keeping the server's name, and verifies
// that what arrived is the planned version. A file that changed while it
// was read is trashed on the remote: that content never existed as a whole.
// A journal record seq (0: none) is closed when nothing can have arrived.
// defer leaves the check of where the file landed to the caller (the run's
// checkFolders); a replace checks at once, before it trashes the old file.
func (x *execution) send(ctx context.Context, key, raw, folder, name string, l plan.Local, check bool, seq uint64, deferCheck bool) (RemoteFile, error) {
	progress := x.p.live.startTransfer(key, "up", l.Size, x.p.opt.Now())
	f, err := x.p.remote.Upload(ctx, Upload{
		Folder: folder, Name: name, Size: l.Size,
		Open: x.opener(raw, l, check), KnownIDs: x.isKnown, KeepServerName: true,
		Progress: progress, DeferLocationCheck: deferCheck && folder != "",
	})
	x.p.live.endTransfer(key)
	if err != nil {
		if errors.Is(err, ErrPremise) && seq != 0 {
			x.p.store.JournalDone(seq)
		}
		return RemoteFile{}, err
	}
	if l.MD5 != "" && f.MD5 != "" && f.MD5 != l.MD5 {
		derr := x.p.remote.DeleteFile(ctx, f.ID)
		return RemoteFile{}, errors.Join(fmt.Errorf("content changed during upload: %w", errSkip), derr)
	}
	return f, nil
}

func (x *execution) isKnown(id string) bool { return x.known[id] }

// nameFree reports whether no active entry other than self (of kind) is
// named name in the folder.
func (x *execution) nameFree(ctx context.Context, folder, name string, kind plan.Kind, self string) (bool, error) {
	l, err := x.listFolder(ctx, folder)
	if err != nil {
		return false, err
	}
	return !l.taken(name, kind, self), nil
}

// folderListing is one folder's entries as a listing showed them.
type folderListing struct {
	id      string
	folders []RemoteFolder
	files   []RemoteFile
}

func (x *execution) listFolder(ctx context.Context, folder string) (folderListing, error) {
	folders, files, err := x.p.remote.List(ctx, folder)
	if err != nil {
		return folderListing{}, fmt.Errorf("list remote folder %s: %w", folder, err)
	}
	return folderListing{folder, folders, files}, nil
}

// taken reports whether a live entry other than self (of kind) has name in
// the folder. Names that differ only in Unicode normalisation are one path
// here: the trees are keyed by NFC.
func (l folderListing) taken(name string, kind plan.Kind, self string) bool {
	key := norm.NFC.String(name)
	for _, f := range l.files {
		if f.Active && norm.NFC.String(f.Name) == key && !(kind == plan.File && f.ID == self) && (f.FolderID == l.id || f.FolderID == "") {
			return true
		}
	}
	for _, f := range l.folders {
		if f.Active && norm.NFC.String(f.Name) == key && !(kind == plan.Dir && f.ID == self) && (f.ParentID == l.id || f.ParentID == "") {
			return true
		}
	}
	return false
}

// takenBesides reports whether a live entry other than the files a and b
// has name in the folder.
func (l folderListing) takenBesides(name, a, b string) bool {
	key := norm.NFC.String(name)
	for _, f := range l.files {
		if f.Active && f.ID != a && f.ID != b && norm.NFC.String(f.Name) == key && (f.FolderID == l.id || f.FolderID == "") {
			return true
		}
	}
	for _, f := range l.folders {
		if f.Active && norm.NFC.String(f.Name) == key && (f.ParentID == l.id || f.ParentID == "") {
			return true
		}
	}
	return false
}

// nameOf is the name under which the folder shows the live entry id (of
// kind), if it shows it.
func (l folderListing) nameOf(kind plan.Kind, id string) (string, bool) {
	if kind == plan.Dir {
		for _, f := range l.folders {
			if f.ID == id && f.Active && (f.ParentID == l.id || f.ParentID == "") {
				return f.Name, true
			}
		}
		return "", false
	}
	for _, f := range l.files {
		if f.ID == id && f.Active && (f.FolderID == l.id || f.FolderID == "") {
			return f.Name, true
		}
	}
	return "", false
}

// checkRemoteFile re-reads a remote file by id: the premise of every
// destructive remote step.
func (x *execution) checkRemoteFile(ctx context.Context, r plan.Remote) error {
	f, err := x.p.remote.FileInfo(ctx, r.ID)
	if err != nil {
		return err
	}
	// Names are compared as the trees key them (NFC): a premise planned
	// before an op of this pass gave the file the local spelling of its
	// name (a move-remote of a local rename to an NFD name) names the
	// same path (TestSimTwoHosts seed 800029).
	if !f.Active || norm.NFC.String(f.Name) != norm.NFC.String(r.Name) || (r.ParentID != "" && f.FolderID != r.ParentID) {
		return fmt.Errorf("remote file %s is no longer %q: %w", r.ID, r.Name, errSkip)
	}
	return nil
}

// replace gives an existing remote file new content, which the API cannot
// do in place: upload new, verify, trash old, rename new to the exact name.
// Each step is journaled; recoverJournal finishes an interrupted one.
func (x *execution) replace(ctx context.Context, t opTask) opResult {
	op := t.op
	l, have := x.localOf(op, op.Path)
	r, ok := x.remoteOf(op, op.Path)
	if !have || !ok {
		return opResult{err: fmt.Errorf("replace needs both sides: %w", errSkip)}
	}
	if r.ParentID == "" {
		// Moved by this pass into a folder the plan did not know yet: the
		// folder is where the move put it.
		if !t.parentOK {
			return opResult{err: fmt.Errorf("remote folder of %s not known yet", parentKey(op.Path))}
		}
		r.ParentID = t.parentID
	}
	if l.Size >= checkBeforeReplace {
		// Worth a request to learn, before sending it, that the old
		// file changed: finishReplace would find out only afterwards.
		if err := x.checkRemoteFile(ctx, r); err != nil {
			return opResult{err: err}
		}
	}
	name := baseName(t.rawPath)
	rec := transferRecord{Path: op.Path, Folder: r.ParentID, Name: name, Size: l.Size, MD5: l.MD5, Old: r.ID,
		MtimeNs: l.MtimeNs, Dev: l.Dev, Ino: l.Ino, Was: t.was, WasSet: true}
	seq, err := x.journal(opReplace, rec)
	if err != nil {
		return opResult{err: fmt.Errorf("journal: %w", err)}
	}
	if err := x.p.fail("replace.begun"); err != nil {
		return opResult{err: err}
	}
	// The new version goes up under syncd's temporary name, never as the
	// server's "name (2).ext": until it has its name, every host leaves it
	// alone (see addListing), however long the token or the process is
	// lost between the steps.
	// Where it landed is checked by finishReplace's listing.
	f, err := x.send(ctx, op.Path, t.rawPath, r.ParentID, tempName(name, tagReplace, r.ID, x.p.tempTag()), l, true, seq, true)
	if err != nil {
		return opResult{err: err}
	}
	rec.New = f.ID
	if err := x.advance(seq, stepUploaded, rec); err != nil {
		return opResult{err: fmt.Errorf("journal: %w", err)}
	}
	if err := x.p.fail("replace.uploaded"); err != nil {
		return opResult{err: err}
	}
	b, err := x.finishReplace(ctx, seq, rec, r)
	if err != nil {
		if !errors.Is(err, errSkip) {
			// Unsettled (the token lost before the rename, say): the
			// record stays open and recovery finishes the replace at
			// the next pass; closed here, the upload stayed under its
			// temporary name for good (issue 14).
			seq = 0
		}
		return opResult{err: err, seq: seq}
	}
	// The name on disk now, not the premise's: an earlier op of this pass
	// may have moved the file (a remote rename brought down first).
	b.LocalName, b.MtimeNs, b.Dev, b.Ino = name, l.MtimeNs, l.Dev, l.Ino
	return opResult{seq: seq, bytes: l.Size, fold: func(x *execution) {
		x.put(op.Path, b)
		x.learnt[b.RemoteID] = b.MD5
	}}
}

// checkBeforeReplace is the size from which a replace checks the old file
// before it sends the new content rather than only after.
const checkBeforeReplace = 1 << 20

// finishReplace runs the steps after the new content is uploaded: check the
// old file is still what was planned and the new one where it was sent,
// trash the old, rename the new. If the old one changed meanwhile, the new
// upload is trashed instead (the local content is still on disk) and the
// next pass decides.
//
// One listing of the folder answers every check at once when all is as
// planned (the old file under its name, the new one in the folder, the name
// free of anything else): trash and rename follow. Anything else is asked
// of each file on its own (finishReplaceChecked), which tells a trashed
// file from a moved one. A replace costs five requests this way (upload,
// listing, trash, rename, the rename's check) instead of ten.
func (x *execution) finishReplace(ctx context.Context, seq uint64, rec transferRecord, old plan.Remote) (plan.Base, error) {
	there, err := x.listFolder(ctx, rec.Folder)
	if errors.Is(err, ErrNotFound) {
		return x.finishReplaceChecked(ctx, seq, rec, old)
	}
	if err != nil {
		return plan.Base{}, err
	}
	oldName, oldHere := there.nameOf(plan.File, old.ID)
	newName, newHere := there.nameOf(plan.File, rec.New)
	if !oldHere || !newHere || norm.NFC.String(oldName) != norm.NFC.String(old.Name) ||
		there.takenBesides(rec.Name, old.ID, rec.New) {
		return x.finishReplaceChecked(ctx, seq, rec, old)
	}
	if err := x.p.remote.DeleteFile(ctx, old.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return plan.Base{}, fmt.Errorf("trash replaced remote file %s: %w", old.ID, err)
	}
	if err := x.advance(seq, stepOldTrashed, rec); err != nil {
		return plan.Base{}, fmt.Errorf("journal: %w", err)
	}
	if err := x.p.fail("replace.old-trashed"); err != nil {
		return plan.Base{}, err
	}
	if newName != rec.Name {
		// The listing showed the name free but for the old file, trashed
		// now; the rename's own check catches a newcomer.
		if err := x.hop(ctx, plan.Remote{Kind: plan.File, ID: rec.New}, remotePlace{rec.Folder, newName}, remotePlace{rec.Folder, rec.Name}); err != nil {
			return plan.Base{}, err
		}
	}
	if err := x.p.fail("replace.renamed"); err != nil {
		return plan.Base{}, err
	}
	return plan.Base{Kind: plan.File, RemoteName: rec.Name, Size: rec.Size, MD5: rec.MD5,
		RemoteID: rec.New, RemoteParentID: rec.Folder}, nil
}

// finishReplaceChecked is finishReplace when its listing did not show
// everything as planned: each file asked about by id.
func (x *execution) finishReplaceChecked(ctx context.Context, seq uint64, rec transferRecord, old plan.Remote) (plan.Base, error) {
	if err := x.checkRemoteFile(ctx, old); err != nil && !errors.Is(err, ErrNotFound) {
		if errors.Is(err, errSkip) {
			// Not found: our upload is in the trash already (another
			// client trashed its folder, and the old file with it; a
			// trashed file cannot be deleted again, api.md 15). Settled
			// too: left open, every later recovery met the same refusal
			// and the local version was never sent (TestSimTwoHosts
			// seed 820087, TestSimIncremental seed 7).
			if derr := x.p.remote.DeleteFile(ctx, rec.New); derr != nil && !errors.Is(derr, ErrNotFound) {
				// Not settled: our upload is still there.
				return plan.Base{}, fmt.Errorf("%v; trash our upload %s: %w", err, rec.New, derr)
			}
			return plan.Base{}, err
		}
		return plan.Base{}, err
	} else if err == nil {
		// Our upload still where we put it? Trashed or moved by another
		// client meanwhile, the old version must stay: trashing it would
		// leave the path empty on the remote, a deletion for every host.
		if f, err := x.p.remote.FileInfo(ctx, rec.New); err != nil && !errors.Is(err, ErrNotFound) {
			return plan.Base{}, err
		} else if err != nil || !f.Active || f.FolderID != "" && f.FolderID != rec.Folder {
			return plan.Base{}, fmt.Errorf("remote file %s: %w", rec.New, errMovedAway)
		}
		if err := x.p.remote.DeleteFile(ctx, old.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return plan.Base{}, fmt.Errorf("trash replaced remote file %s: %w", old.ID, err)
		}
	}
	if err := x.advance(seq, stepOldTrashed, rec); err != nil {
		return plan.Base{}, fmt.Errorf("journal: %w", err)
	}
	if err := x.p.fail("replace.old-trashed"); err != nil {
		return plan.Base{}, err
	}
	if err := x.renameInto(ctx, rec); err != nil {
		return plan.Base{}, err
	}
	if err := x.p.fail("replace.renamed"); err != nil {
		return plan.Base{}, err
	}
	return plan.Base{Kind: plan.File, RemoteName: rec.Name, Size: rec.Size, MD5: rec.MD5,
		RemoteID: rec.New, RemoteParentID: rec.Folder}, nil
}

// renameInto gives the upload of a replace its exact name (see nameNew).
func (x *execution) renameInto(ctx context.Context, rec transferRecord) error {
	return x.nameNew(ctx, rec.New, rec.Folder, rec.Name)
}

// errMovedAway: another client moved, renamed or trashed a file this
// execution uploaded before it had its exact name. The other client's
// change stands; the next pass sees the file where it is now.
var errMovedAway = fmt.Errorf("uploaded file moved or trashed by another client meanwhile: %w", errSkip)

// nameNew gives a file this execution uploaded into folder (stored under a
// name the server chose) its exact name want, unless another file took that
// name meanwhile: then the upload is trashed (the local content is still on
// disk) and the next pass sees the newcomer whole, as a conflict if it
// differs. A file another client moved elsewhere is left there (a rename
// would apply in its new folder, maybe onto a taken name), and the rename
// is checked after the call as every move is: never two live files under
// one name.
func (x *execution) nameNew(ctx context.Context, id, folder, want string) error {
	f, err := x.p.remote.FileInfo(ctx, id)
	if err != nil {
		return err
	}
	if !f.Active || f.FolderID != "" && f.FolderID != folder {
		return fmt.Errorf("remote file %s: %w", id, errMovedAway)
	}
	if f.Name == want {
		return nil
	}
	free, err := x.nameFree(ctx, folder, want, plan.File, id)
	if err != nil {
		return err
	}
	if !free {
		if err := x.p.remote.DeleteFile(ctx, id); err != nil {
			return fmt.Errorf("trash upload %s, whose name %q was taken meanwhile: %w", id, want, err)
		}
		return fmt.Errorf("name %q taken on the remote meanwhile: %w", want, errSkip)
	}
	return x.hop(ctx, plan.Remote{Kind: plan.File, ID: id}, remotePlace{folder, f.Name}, remotePlace{folder, want})
}

// download brings a remote file into place through .syncd/tmp, verified and
// fsynced; what it overwrites goes to the local trash.
func (x *execution) download(ctx context.Context, t opTask) opResult {
	op := t.op
	r, ok := x.remoteOf(op, op.Path)
	if !ok {
		return opResult{err: fmt.Errorf("no remote file: %w", errSkip)}
	}
	// The local premise is the plan's own: a download planned without one
	// puts a new file where the plan expects nothing, even when the input
	// tree still shows a file there that this pass's conflict-local or
	// move-local (an op the download depends on) has just moved away.
	// Falling back to the input tree made the download expect that file
	// and skip itself: an op of one pass breaking another's premise.
	var expect *plan.Local
	raw := t.rawPath
	name := copyName(r.Name, op.Path)
	if op.Local != nil {
		l := *op.Local
		expect = &l
	} else {
		raw = joinKey(t.rawDir, name)
	}
	tmp, err := x.p.local.CreateTemp()
	if err != nil {
		return opResult{err: err}
	}
	progress := x.p.live.startTransfer(op.Path, "down", r.Size, x.p.opt.Now())
	sum, err := x.p.remote.Download(ctx, r.ID, r.Size, tmp, progress)
	x.p.live.endTransfer(op.Path)
	if err == nil && r.MD5 != "" && sum != r.MD5 {
		err = fmt.Errorf("downloaded content has MD5 %s, expected %s", sum, r.MD5)
	}
	if err != nil {
		return opResult{err: errors.Join(err, x.p.local.DiscardTemp(tmp))}
	}
	if err := x.p.fail("download.fetched"); err != nil {
		return opResult{err: err}
	}
	// Journaled before the rename into place, new files too (grouped with
	// the other ops' records: see journalGrouped): a crash between the
	// rename and the commit must leave base naming what is in place, or
	// the next pass takes the download for a local edit (over a synced
	// file) or, for a new file the other side changed again meanwhile,
	// for a file the user made (a false conflict, issue 13).
	// The record names the file it puts in place by its stat (the rename
	// keeps it) and its temp file (gone once the file is in place): a file
	// the user edited after a crash before the commit, in place or saved
	// anew over it, is still syncd's download, edited since, and the edit
	// goes up as an ordinary change, never as a conflict with the remote
	// version (see recoverDownload).
	ts, err := tmp.Stat()
	if err != nil {
		return opResult{err: errors.Join(err, x.p.local.DiscardTemp(tmp))}
	}
	rec := transferRecord{Path: op.Path, Raw: raw, Folder: r.ParentID, Name: name, Size: r.Size, MD5: sum, Old: t.baseID, New: r.ID,
		MtimeNs: ts.MtimeNs, Dev: ts.Dev, Ino: ts.Ino, Tmp: tmp.Name()}
	data, err := json.Marshal(rec)
	if err != nil {
		return opResult{err: errors.Join(err, x.p.local.DiscardTemp(tmp))}
	}
	seq, err := x.journalGrouped(Journal{Op: opDownload, Step: stepBegun, Data: data})
	if err != nil {
		return opResult{err: errors.Join(fmt.Errorf("journal: %w", err), x.p.local.DiscardTemp(tmp))}
	}
	if err := x.p.fail("download.journaled"); err != nil {
		return opResult{err: err}
	}
	st, err := x.p.local.CommitTemp(tmp, raw, expect)
	if err != nil {
		// Closed before the temp file goes: a record whose temp file is
		// gone reads as a download in place.
		if jerr := x.p.store.JournalDone(seq); jerr != nil {
			return opResult{err: errors.Join(err, jerr, x.p.local.DiscardTemp(tmp)), seq: seq}
		}
		return opResult{err: errors.Join(err, x.p.local.DiscardTemp(tmp))}
	}
	if err := x.p.fail("download.committed"); err != nil {
		return opResult{err: err}
	}
	b := plan.Base{Kind: plan.File, LocalName: baseName(raw), RemoteName: name, Size: st.Size,
		MtimeNs: st.MtimeNs, Dev: st.Dev, Ino: st.Ino, MD5: sum, RemoteID: r.ID, RemoteParentID: r.ParentID}
	return opResult{bytes: st.Size, seq: seq, fold: func(x *execution) {
		x.put(op.Path, b)
		x.learnt[r.ID] = sum
	}}
}

func (x *execution) mkdirLocal(t opTask) opResult {
	op := t.op
	r, ok := x.remoteOf(op, op.Path)
	if !ok {
		return opResult{err: fmt.Errorf("no remote folder: %w", errSkip)}
	}
	raw := t.rawPath
	name := copyName(r.Name, op.Path)
	if _, ok := x.in.Local[op.Path]; !ok {
		raw = joinKey(t.rawDir, name)
	}
	st, err := x.p.local.Mkdir(raw)
	if err != nil {
		return opResult{err: err}
	}
	b := plan.Base{Kind: plan.Dir, LocalName: baseName(raw), RemoteName: name, MtimeNs: st.MtimeNs,
		Dev: st.Dev, Ino: st.Ino, RemoteID: r.ID, RemoteParentID: r.ParentID}
	return opResult{fold: func(x *execution) { x.put(op.Path, b) }}
}

func (x *execution) mkdirRemote(ctx context.Context, t opTask) opResult {
	op := t.op
	if !t.parentOK {
		return opResult{err: fmt.Errorf("remote folder of %s not known yet", parentKey(op.Path))}
	}
	l, _ := x.localOf(op, op.Path)
	name := baseName(t.rawPath)
	f, err := x.p.remote.CreateFolder(ctx, t.parentID, name)
	mine := f.ID
	if err != nil {
		if errors.Is(err, ErrAuth) || errors.Is(err, ErrRefused) || ctx.Err() != nil {
			return opResult{err: err}
		}
		// The reply may have been lost after the service made the folder,
		// beside a folder of the same name (the client could not tell
		// which is new): ours is the one this pass knows nothing of.
		folders, _, lerr := x.p.remote.List(ctx, t.parentID)
		if lerr != nil {
			return opResult{err: err}
		}
		for _, o := range folders {
			if o.Active && o.Name == name && !x.knownDirs[o.ID] && (mine == "" || idLess(o.ID, mine)) {
				mine = o.ID
			}
		}
		if mine == "" {
			return opResult{err: err}
		}
	}
	// Another client may have created the same folder meanwhile (the API
	// has no create-if-absent): keep the first one, trash our empty twin.
	// Or moved a folder here under that name: ours goes.
	id, err := x.p.settleTwin(ctx, t.parentID, name, mine, x.knownDirs)
	if err != nil {
		return opResult{err: err}
	}
	if x.staleRemote && t.parentID != x.rootID {
		// folder/create does not check its parent (api.md 24 and the
		// emulator's note): into a folder another client trashed since
		// the cached listing showed it, it makes an active folder inside
		// the trash, and what goes into it is lost from sight
		// (TestSimIncremental seed 544: the next pass deleted the local
		// file uploaded there, as deleted on the remote side).
		if info, err := x.p.remote.FolderInfo(ctx, t.parentID); err != nil && !errors.Is(err, ErrNotFound) {
			return opResult{err: err}
		} else if err != nil || !info.Active {
			if err := x.p.remote.DeleteFolder(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
				return opResult{err: fmt.Errorf("trash new folder %s made in trashed folder %s: %w", id, t.parentID, err)}
			}
			return opResult{err: fmt.Errorf("remote folder %s of %s is no longer active: %w", t.parentID, parentKey(op.Path), ErrNotFound)}
		}
	}
	b := plan.Base{Kind: plan.Dir, LocalName: name, RemoteName: name, MtimeNs: l.MtimeNs,
		Dev: l.Dev, Ino: l.Ino, RemoteID: id, RemoteParentID: t.parentID}
	return opResult{fold: func(x *execution) { x.put(op.Path, b) }}
}

// moveRemote moves and/or renames a remote file or folder to where the
// local side has it: one call per changed attribute, no transfer.
func (x *execution) moveRemote(ctx context.Context, t opTask) opResult {
	op := t.op
	r, ok := x.remoteOf(op, op.From)
	if !ok {
		return opResult{err: fmt.Errorf("no remote entry at %s: %w", op.From, errSkip)}
	}
	if !t.parentOK {
		return opResult{err: fmt.Errorf("remote folder of %s not known yet", parentKey(op.Path))}
	}
	if r.Kind == plan.Dir && under(parentKey(op.Path), op.From) {
		return opResult{err: fmt.Errorf("refusing to move folder %s into its own subtree", op.From)}
	}
	if m := t.movedFrom; m != nil && m.name != "" {
		// A move of this pass took it to op.From (the first step of a move
		// that steps aside): it is where that move left it, not where the
		// plan saw it (TestRegressionFolderStepsAsideAndOn). Resolved by
		// task: op goroutines never read the working base.
		r.Name, r.ParentID = m.name, m.parent
	}
	name := baseName(t.rawPath)
	cur, active, err := x.p.placeOf(ctx, r.Kind, r.ID)
	if err != nil {
		return opResult{err: err}
	}
	if !active {
		return opResult{err: fmt.Errorf("remote %s %s is in the trash: %w", r.Kind, r.ID, errSkip)}
	}
	if cur.name != r.Name || (r.ParentID != "" && cur.parent != r.ParentID && cur.parent != t.parentID) {
		return opResult{err: fmt.Errorf("remote %s moved or renamed meanwhile: %w", r.ID, errSkip)}
	}
	to := remotePlace{t.parentID, name}
	var seq uint64
	if cur != to {
		hops, err := x.route(ctx, r, cur, to)
		if err != nil {
			return opResult{err: err}
		}
		// A move of a new version the plan paired with the base entry by
		// place: after a crash only the journal ties it to that base entry
		// (TestSim seed 800135: the next pass took it for another client's
		// file at the destination and made a conflict copy).
		bind := t.baseID != "" && t.baseID != r.ID
		// Journaled: through a temporary name, so that a crash or an
		// error on the way never leaves the entry under that name; and
		// any move, so that after a crash before the commit recovery
		// writes the base the commit would have (bindMoved). Without
		// it, a local file replaced at the new path after the crash
		// (a new inode) was tied to nothing, and met the moved remote
		// file there as a conflict (TestSimIgnore seed 810248).
		m := moveRecord{Path: op.Path, ID: r.ID, Dir: r.Kind == plan.Dir,
			FromParent: cur.parent, FromName: cur.name, ToParent: to.parent, ToName: to.name, From: op.From, Bind: bind}
		if len(hops) == 3 {
			m.Aside = hops[0].name
		}
		data, err := json.Marshal(m)
		if err != nil {
			return opResult{err: err}
		}
		if seq, err = x.journalGrouped(Journal{Op: opMove, Step: stepBegun, Data: data}); err != nil {
			return opResult{err: fmt.Errorf("journal: %w", err)}
		}
		for i, h := range hops {
			if i > 0 {
				// Still where the last call left it? Another client may
				// have renamed it since: the next call would carry that
				// name elsewhere, maybe beside an entry of that name.
				now, active, err := x.p.placeOf(ctx, r.Kind, r.ID)
				if err != nil {
					return opResult{err: err}
				}
				if !active || now != cur {
					return opResult{err: fmt.Errorf("remote %s moved or renamed between two calls of its move: %w", r.ID, errSkip)}
				}
			}
			if err := x.hop(ctx, r, cur, h); err != nil {
				// The record stays open: recovery finds out where the
				// entry is and takes it on from a temporary name.
				return opResult{err: err}
			}
			cur = h
			if i == 0 {
				if err := x.p.fail("move-remote.moved"); err != nil {
					return opResult{err: err}
				}
			}
			if i == 1 && len(hops) == 3 {
				if err := x.p.fail("move-remote.aside"); err != nil {
					return opResult{err: err}
				}
			}
		}
	}
	parent := t.parentID
	return opResult{seq: seq, fold: func(x *execution) {
		x.moveTree(op.From, op.Path)
		if r.Kind == plan.Dir {
			// The folder is at op.Path now, whatever base says: entries
			// the pass moves or makes inside it go into it. A folder both
			// sides renamed differently (z/z to y locally, to z/x
			// remotely, both moved to x) has no base entry at either
			// source, and the record pairing the sides at x may run after
			// the ops inside (TestMoveIntoAFolderBothSidesRenamedDifferently).
			x.movedDirs[op.Path] = r.ID
		}
		b, ok := x.work[op.Path]
		if !ok {
			l, here := x.in.Local[op.Path]
			if !invent(r.Kind, here && l.Kind == r.Kind) {
				return
			}
			b = plan.Base{Kind: r.Kind, RemoteID: r.ID}
		}
		b.LocalName, b.RemoteName, b.RemoteParentID = name, name, parent
		if r.Kind == plan.Dir && b.Kind == plan.Dir {
			// The folder this op moved is the one at the destination now,
			// even when base still named an older one at the source (a
			// folder deleted and made again remotely by a pass that died
			// before its commit): new entries must go into this one, not
			// into the trashed one (seed 406264).
			b.RemoteID = r.ID
		}
		x.put(op.Path, b)
	}}
}

// invent reports whether a move of an entry that had no base entry (it
// moved as part of resolving a collision, before the op that pairs it with
// the other side) may write one at its destination: only for a folder the
// other side already has there. A file's base entry claims that both sides
// hold the same content, which only the transfer or record that follows can
// tell; written here, a failure of that op would leave a base entry the
// next pass reads as "deleted on the other side" and propagate as a delete.
func invent(kind plan.Kind, otherSideHasIt bool) bool {
	return kind == plan.Dir && otherSideHasIt
}

// remotePlace is where a remote entry is: its folder and its name.
type remotePlace struct{ parent, name string }

// placeOf reads where the remote file or folder id is now, and whether it
// is live (not in the trash).
func (p *Pair) placeOf(ctx context.Context, kind plan.Kind, id string) (remotePlace, bool, error) {
	if kind == plan.Dir {
		f, err := p.remote.FolderInfo(ctx, id)
		if err != nil {
			return remotePlace{}, false, err
		}
		return remotePlace{f.ParentID, f.Name}, f.Active, nil
	}
	f, err := p.remote.FileInfo(ctx, id)
	if err != nil {
		return remotePlace{}, false, err
	}
	return remotePlace{f.FolderID, f.Name}, f.Active, nil
}

// route plans the calls that take the remote entry r from one place to
// another, one attribute per call, through places where no other live entry
// has the name. The API neither refuses nor de-duplicates a rename or move
// onto a taken name, and a crash between two calls leaves the entry where
// the first one put it: so the stop between a move and a rename must be
// free too, or a crash there leaves two live entries of one path that no
// later pass can tell apart. When both orders pass through a taken name,
// the entry stops under a name of its own in between (three calls).
func (x *execution) route(ctx context.Context, r plan.Remote, from, to remotePlace) ([]remotePlace, error) {
	dst, err := x.listFolder(ctx, to.parent)
	if err != nil {
		return nil, err
	}
	if dst.taken(to.name, r.Kind, r.ID) {
		return nil, fmt.Errorf("name %q taken on the remote meanwhile: %w", to.name, errSkip)
	}
	if from.parent == to.parent || from.name == to.name {
		return []remotePlace{to}, nil
	}
	if !dst.taken(from.name, r.Kind, r.ID) {
		return []remotePlace{{to.parent, from.name}, to}, nil
	}
	src, err := x.listFolder(ctx, from.parent)
	if err != nil {
		return nil, err
	}
	if !src.taken(to.name, r.Kind, r.ID) {
		return []remotePlace{{from.parent, to.name}, to}, nil
	}
	aside := tempName(to.name, tagMove, r.ID, x.p.tempTag())
	if src.taken(aside, r.Kind, r.ID) || dst.taken(aside, r.Kind, r.ID) {
		return nil, fmt.Errorf("no free name to move %q through: %w", from.name, errSkip)
	}
	return []remotePlace{{from.parent, aside}, {to.parent, aside}, to}, nil
}

// hop makes one call that moves or renames the remote entry r from one
// place to the next (they differ in one attribute), then looks again: if
// another client took the name, or moved the entry, while the call was in
// flight, the call is undone so that one path never holds two live
// entries; the next pass sees both whole.
func (x *execution) hop(ctx context.Context, r plan.Remote, from, to remotePlace) error {
	move, rename := x.p.remote.MoveFile, x.p.remote.RenameFile
	if r.Kind == plan.Dir {
		move, rename = x.p.remote.MoveFolder, x.p.remote.RenameFolder
	}
	do, undo := func() error { return rename(ctx, r.ID, to.name) }, func() error { return rename(ctx, r.ID, from.name) }
	if from.parent != to.parent {
		do, undo = func() error { return move(ctx, r.ID, to.parent) }, func() error { return move(ctx, r.ID, from.parent) }
	}
	if err := do(); err != nil {
		return err
	}
	there, err := x.listFolder(ctx, to.parent)
	if err != nil {
		return err
	}
	now, found := there.nameOf(r.Kind, r.ID)
	switch {
	case found && now == to.name && !there.taken(to.name, r.Kind, r.ID):
		return nil
	case found && now != to.name && from.parent != to.parent && there.taken(now, r.Kind, r.ID):
		// Another client renamed it around our move, which put it beside
		// an entry of the name it has now: take it back.
		return errors.Join(fmt.Errorf("remote %s renamed during its move, onto a taken name: %w", r.ID, errSkip), undo())
	case found && now != to.name, !found && from.parent != to.parent:
		// Another client renamed or moved it after the call: its change
		// stands, for the next pass to see.
		return fmt.Errorf("remote %s moved or renamed during the call: %w", r.ID, errSkip)
	}
	// The name was taken meanwhile, or another client moved the entry
	// elsewhere while our rename was in flight (the rename applied there,
	// maybe onto a taken name): step back.
	return errors.Join(fmt.Errorf("remote %s: %q taken, or the entry moved, during the call: %w", r.ID, to.name, errSkip), undo())
}

// moveLocal moves and/or renames a local file or directory to where the
// remote side has it.
func (x *execution) moveLocal(t opTask) opResult {
	op := t.op
	l, ok := x.localOf(op, op.From)
	if !ok {
		return opResult{err: fmt.Errorf("no local entry at %s: %w", op.From, errSkip)}
	}
	r, ok := x.remoteOf(plan.Op{}, op.Path)
	name := baseName(op.Path)
	switch {
	case ok:
		name = r.Name
	case op.Remote != nil:
		// The remote entry is not at the path in the snapshot (its folder
		// moves in this pass): it keeps its own spelling of the name.
		name = sameSpelling(op.Remote.Name, name)
	}
	to := joinKey(t.rawDir, name)
	var seq uint64
	if !t.copy {
		rec := moveLocalRecord{From: op.From, Path: op.Path, Raw: to, Name: name, Dev: l.Dev, Ino: l.Ino, Dir: l.Kind == plan.Dir}
		if ok {
			rec.RemoteParentID, rec.ParentSet = r.ParentID, true
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return opResult{err: err}
		}
		if seq, err = x.journalGrouped(Journal{Op: opMoveLocal, Step: stepBegun, Data: data}); err != nil {
			return opResult{err: fmt.Errorf("journal: %w", err)}
		}
	}
	if err := x.p.local.Rename(t.rawFrom, to, l); err != nil {
		return opResult{err: err, seq: seq}
	}
	if err := x.p.fail("move-local.moved"); err != nil {
		return opResult{err: err}
	}
	return opResult{seq: seq, fold: func(x *execution) {
		if l.Kind == plan.Dir {
			x.movedLocalDir(op.From, op.Path)
		}
		x.moveTree(op.From, op.Path)
		delete(x.named, op.From)
		b, had := x.work[op.Path]
		if !had {
			if !invent(l.Kind, ok && r.Kind == l.Kind) {
				// The file has the remote's spelling of its name now,
				// which the replace or record after this op must open it
				// by (TestSimTwoHostsInterleaved seed 920082: an NFD
				// name, opened as the key's NFC one, was not found).
				if x.named == nil {
					x.named = make(map[string]string)
				}
				x.named[op.Path] = name
				return
			}
			b = plan.Base{Kind: l.Kind, RemoteID: r.ID}
		}
		b.LocalName, b.RemoteName = name, name
		if ok {
			b.RemoteParentID = r.ParentID
		}
		x.put(op.Path, b)
	}}
}

// deleteRemote trashes a remote file, or a folder whose whole remote subtree
// is still exactly what base recorded.
func (x *execution) deleteRemote(ctx context.Context, t opTask) opResult {
	op := t.op
	r, ok := x.remoteOf(op, op.Path)
	if !ok {
		return opResult{err: fmt.Errorf("no remote entry: %w", errSkip)}
	}
	if r.Kind == plan.File {
		if err := x.checkRemoteFile(ctx, r); err != nil {
			return opResult{err: err}
		}
		if err := x.p.remote.DeleteFile(ctx, r.ID); err != nil {
			return opResult{err: err}
		}
	} else {
		if err := x.checkRemoteTree(ctx, r, t.subtree); err != nil {
			return opResult{err: err}
		}
		if err := x.p.remote.DeleteFolder(ctx, r.ID); err != nil {
			return opResult{err: err}
		}
	}
	return opResult{fold: func(x *execution) { x.dropTree(op.Path) }}
}

// checkRemoteTree re-lists a remote folder's subtree and fails unless every
// live entry below it is one of planned, the subtree as the plan saw it
// (nothing new, nothing replaced).
func (x *execution) checkRemoteTree(ctx context.Context, r plan.Remote, planned map[string]plan.Base) error {
	f, err := x.p.remote.FolderInfo(ctx, r.ID)
	if err != nil {
		return err
	}
	if !f.Active || f.Name != r.Name {
		return fmt.Errorf("remote folder %s is no longer %q: %w", r.ID, r.Name, errSkip)
	}
	ids := make(map[plan.Kind]map[string]bool)
	ids[plan.File], ids[plan.Dir] = map[string]bool{}, map[string]bool{}
	for _, b := range planned {
		ids[b.Kind][b.RemoteID] = true
	}
	queue := []string{r.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		folders, files, err := x.p.remote.List(ctx, id)
		if err != nil {
			return fmt.Errorf("re-list remote folder %s: %w", id, err)
		}
		for _, fo := range folders {
			if !fo.Active {
				continue
			}
			if !ids[plan.Dir][fo.ID] {
				return fmt.Errorf("remote folder %s gained %q: %w", r.Name, fo.Name, errSkip)
			}
			queue = append(queue, fo.ID)
		}
		for _, fi := range files {
			if fi.Active && !ids[plan.File][fi.ID] {
				return fmt.Errorf("remote folder %s gained %q: %w", r.Name, fi.Name, errSkip)
			}
		}
	}
	return nil
}

func (x *execution) deleteLocal(t opTask) opResult {
	op := t.op
	l, ok := x.localOf(op, op.Path)
	if !ok {
		return opResult{err: fmt.Errorf("no local entry: %w", errSkip)}
	}
	if err := x.p.local.Trash(t.rawPath, l, t.subtree); err != nil {
		return opResult{err: err}
	}
	return opResult{fold: func(x *execution) { x.dropTree(op.Path) }}
}

// conflictLocal renames the local version at From to the conflict copy name.
func (x *execution) conflictLocal(t opTask) opResult {
	op := t.op
	l, ok := x.localOf(op, op.From)
	if !ok {
		return opResult{err: fmt.Errorf("no local entry at %s: %w", op.From, errSkip)}
	}
	to := joinKey(t.rawDir, baseName(op.Path))
	if err := x.p.local.Rename(t.rawFrom, to, l); err != nil {
		return opResult{err: err}
	}
	return opResult{fold: func(x *execution) { x.dropTree(op.From) }}
}

// conflictRemote renames the remote version at From to the conflict copy name.
func (x *execution) conflictRemote(ctx context.Context, t opTask) opResult {
	op := t.op
	r, ok := x.remoteOf(op, op.From)
	if !ok {
		return opResult{err: fmt.Errorf("no remote entry at %s: %w", op.From, errSkip)}
	}
	name := baseName(op.Path)
	var err error
	if r.Kind == plan.Dir {
		err = x.p.remote.RenameFolder(ctx, r.ID, name)
	} else {
		if err = x.checkRemoteFile(ctx, r); err == nil {
			err = x.p.remote.RenameFile(ctx, r.ID, name)
		}
	}
	if err != nil {
		return opResult{err: err}
	}
	return opResult{fold: func(x *execution) { x.dropTree(op.From) }}
}

// record writes base for a path both sides already agree on.
func (x *execution) record(t opTask) opResult {
	op := t.op
	l, lok := x.localOf(op, op.Path)
	r, rok := x.remoteOf(op, op.Path)
	if !lok || !rok {
		return opResult{err: fmt.Errorf("record needs both sides: %w", errSkip)}
	}
	md5 := l.MD5
	if md5 == "" {
		md5 = r.MD5
	}
	b := plan.Base{Kind: l.Kind, LocalName: l.Name, RemoteName: r.Name, Size: l.Size, MtimeNs: l.MtimeNs,
		Dev: l.Dev, Ino: l.Ino, MD5: md5, RemoteID: r.ID, RemoteParentID: r.ParentID}
	if b.LocalName == "" {
		b.LocalName = baseName(op.Path)
	}
	return opResult{fold: func(x *execution) {
		// After a move of this pass the premises carry the name the
		// planner expects, in the key's (NFC) spelling; the move recorded
		// the bytes it really gave each side.
		if w, ok := x.work[op.Path]; ok && x.folded[op.Path] {
			b.LocalName = sameSpelling(w.LocalName, b.LocalName)
			b.RemoteName = sameSpelling(w.RemoteName, b.RemoteName)
		}
		x.put(op.Path, b)
		if r.Kind == plan.File && md5 != "" {
			x.learnt[r.ID] = md5
		}
	}}
}

// copyName is the name a download or mkdir-local of key gives the local
// copy of a remote entry the premise lists as listed: the remote's own
// spelling (an NFD name, say) when it is key's name, else key's name. They
// differ when an op of this pass renamed the remote entry first (moved
// aside as a conflict copy, its name taken by another entry's move): the
// copy goes to key, not to the old name, where that other entry's local
// file is (seeds 37, 30, 206733, 101581; TestDownloadOfRenamedConflictCopy).
func copyName(listed, key string) string {
	return sameSpelling(listed, baseName(key))
}

// sameSpelling returns done when it is the same name as planned up to
// Unicode normalisation: the spelling an executed step really used.
func sameSpelling(done, planned string) string {
	if done != "" && norm.NFC.String(done) == norm.NFC.String(planned) {
		return done
	}
	return planned
}
