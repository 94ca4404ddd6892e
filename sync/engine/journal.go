package engine

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"time"

	"go.uber.org/zap"

	"github.com/syncd/syncd/remote/apinames"
	"github.com/syncd/syncd/sync/plan"
)

// recoverJournal finishes or undoes the multi-step operations a crash
// interrupted, before the pass observes anything. It resolves every record
// by listing and re-reading (never by repeating an upload blindly) and
// leaves both sides so that the next plan converges with no loss and no
// duplicate: an orphan upload under a server-changed name is renamed to its
// exact name (or trashed when that name is taken); a replace is finished
// once its new content is verified on the remote.
//
// It reports whether there was anything to resume.
func (p *Pair) recoverJournal(ctx context.Context, base map[string]plan.Base, pending []Journal) (bool, error) {
	var inBase map[string]bool // file ids base knows, built once if needed
	// Folder listings, shared by the records of one folder (a batch of
	// uploads journaled together has many): ids claimed by one record are
	// in inBase for the next.
	lists := make(map[string][]RemoteFile)
	var late []lateRecord
	// Paths a local conflict rename of the interrupted pass took the local
	// entry away from (the record's From): a remote move recovered onto one
	// of them must not tie the base it carries to that path, as the local
	// entry that base names is the copy now (see bindMoved).
	away := make(map[string]bool)
	for _, j := range pending {
		var c conflictRecord
		if j.Op == opConflict && json.Unmarshal(j.Data, &c) == nil && c.Kind == plan.ConflictLocal && c.From != "" {
			away[c.From] = true
		}
	}
	for _, j := range pending {
		if inBase == nil {
			inBase = make(map[string]bool, len(base))
			for _, b := range base {
				if b.Kind == plan.File && b.RemoteID != "" {
					inBase[b.RemoteID] = true
				}
			}
		}
		if j.Op == opConflict {
			// The copy may or may not have been made: report the conflict
			// either way (a second report beats none).
			var c conflictRecord
			if err := json.Unmarshal(j.Data, &c); err == nil {
				// A conflict rename moved the entry at From aside, keeping its
				// identity (inode, remote id), and its commit would drop From's
				// base. Done here as well, whether the rename happened or not:
				// left in the base, the next pass takes the copy for the
				// contested entry moved there by the user, moves the other
				// side's version onto the copy's name and copies it again
				// (TestSim seed 700048). Without a base the next pass compares
				// the two sides afresh: the same conflict if the rename never
				// ran, a new file at the copy's name if it did.
				var drop []string
				if c.From != "" {
					for key := range base {
						if under(key, c.From) {
							drop = append(drop, key)
						}
					}
				}
				if err := p.store.Commit(p.cfg.Key, Commit{Delete: drop, Conflicts: []plan.Conflict{c.Conflict}, JournalDone: []uint64{j.Seq}}); err != nil {
					return true, fmt.Errorf("log interrupted conflict %s: %w", c.Path, err)
				}
				for _, key := range drop {
					delete(base, key)
				}
				continue
			}
		}
		var path string
		var resume func() error
		var derr error
		switch j.Op {
		case opMove:
			var m moveRecord
			derr = json.Unmarshal(j.Data, &m)
			path, resume = m.Path, func() error { return p.recoverMove(ctx, m, base, away) }
		case opMoveLocal:
			var m moveLocalRecord
			derr = json.Unmarshal(j.Data, &m)
			path, resume = m.Path, func() error { return p.recoverMoveLocal(m, base) }
		default:
			var rec transferRecord
			derr = json.Unmarshal(j.Data, &rec)
			path, resume = rec.Path, func() error { return p.recoverOne(ctx, j, rec, base, inBase, lists) }
		}
		if derr != nil {
			p.log.Error("dropping unreadable journal record", zap.Uint64("seq", j.Seq), zap.Error(derr))
			if err := p.store.JournalDone(j.Seq); err != nil {
				return true, err
			}
			continue
		}
		log := p.log.With(zap.String("op", j.Op), zap.String("step", j.Step), zap.String("path", path))
		log.Info("resuming interrupted operation")
		err := resume()
		if errors.Is(err, errNotArrived) {
			if p.opt.LateUploadWait > 0 {
				late = append(late, lateRecord{j, resume, log})
				continue
			}
			err = nil // nothing was uploaded: nothing to resume
		}
		if err := p.settle(ctx, j, err, log); err != nil {
			return true, err
		}
	}
	if len(late) == 0 {
		return len(pending) > 0, nil
	}
	// Uploads begun and not on the remote: either never sent, or sent
	// whole by a process that died before the reply, and still being
	// stored by the server. One wait for all of them, then a fresh
	// listing: found now, they are syncd's own uploads like any other;
	// still absent, they never arrived (a server does not take longer
	// than this to store what it has received).
	p.log.Info("waiting for uploads an interrupted pass had begun", zap.Int("uploads", len(late)), zap.Duration("wait", p.opt.LateUploadWait))
	t := time.NewTimer(p.opt.LateUploadWait)
	select {
	case <-ctx.Done():
		t.Stop()
		return true, ctx.Err()
	case <-t.C:
	}
	clear(lists)
	for _, l := range late {
		err := l.resume()
		if errors.Is(err, errNotArrived) {
			err = nil // nothing was uploaded: nothing to resume
		}
		if err := p.settle(ctx, l.j, err, l.log); err != nil {
			return true, err
		}
	}
	return true, nil
}

// errNotArrived is recoverOne's answer for a begun upload whose file is not
// on the remote (yet).
var errNotArrived = errors.New("begun upload not on the remote")

// lateRecord is a journal record whose upload had not arrived when recovery
// first looked.
type lateRecord struct {
	j      Journal
	resume func() error
	log    *zap.Logger
}

// settle closes journal record j after its recovery ended with err: done,
// or left open for the next pass when it could not be resumed now. It
// returns the errors that must stop the pass.
func (p *Pair) settle(ctx context.Context, j Journal, err error, log *zap.Logger) error {
	if err != nil {
		if errors.Is(err, ErrAuth) || ctx.Err() != nil {
			return err
		}
		log.Warn("could not resume interrupted operation; will retry next pass", zap.Error(err))
		return nil
	}
	if err := p.store.JournalDone(j.Seq); err != nil {
		return fmt.Errorf("close journal record %d: %w", j.Seq, err)
	}
	return nil
}

func (p *Pair) recoverOne(ctx context.Context, j Journal, rec transferRecord, base map[string]plan.Base, inBase map[string]bool, lists map[string][]RemoteFile) error {
	if rec.New == "" {
		id, err := p.findOrphan(ctx, rec, inBase, lists)
		if err != nil {
			return err
		}
		if id == "" {
			return errNotArrived
		}
		rec.New = id
	}
	if inBase[rec.New] {
		return nil // the result was committed before the crash
	}
	switch j.Op {
	case opDownload:
		if b, ok := base[rec.Path]; ok && (b.Kind != plan.File || b.RemoteID != rec.Old) || !ok && rec.Old != "" {
			return nil // base moved on since (a later pass decided): the record is stale
		}
		return p.recoverDownload(rec)
	case opUpload:
		// Trashed, taken elsewhere by another client, or trashed by nameNew
		// because its name is taken: the next pass sees it (or not) as it
		// is.
		err := (&execution{p: p}).nameNew(ctx, rec.New, rec.Folder, rec.Name)
		if errors.Is(err, ErrNotFound) || errors.Is(err, errSkip) {
			return nil
		}
		if err != nil {
			return err
		}
		inBase[rec.New] = true // claimed: no other record may take it
		if rec.Ino == 0 && rec.MtimeNs == 0 {
			return nil // a record without the stat sent: the next pass matches by content
		}
		if b, ok := base[rec.Path]; ok && (b.Kind != plan.File || !rec.current(b, ok)) {
			return nil // base moved on since (a later pass decided): the record is stale
		}
		// Syncd's own upload, as the record says it sent it: record the
		// base its commit would have written. A local file changed since
		// is then an ordinary edit of a synced file (a replace), never
		// taken for a file someone else put there (a conflict).
		b := plan.Base{Kind: plan.File, LocalName: rec.Name, RemoteName: rec.Name, Size: rec.Size, MtimeNs: rec.MtimeNs,
			Dev: rec.Dev, Ino: rec.Ino, MD5: rec.MD5, RemoteID: rec.New, RemoteParentID: rec.Folder}
		if err := p.store.Commit(p.cfg.Key, Commit{Put: map[string]plan.Base{rec.Path: b}, MD5s: map[string]string{rec.New: rec.MD5}}); err != nil {
			return fmt.Errorf("record recovered upload %s: %w", rec.Path, err)
		}
		return nil
	case opReplace:
		x := &execution{p: p}
		old := plan.Remote{Kind: plan.File, ID: rec.Old, Name: rec.Name, ParentID: rec.Folder}
		var err error
		if j.Step == stepOldTrashed {
			err = x.renameInto(ctx, rec) // only the rename may be missing
		} else {
			_, err = x.finishReplace(ctx, j.Seq, rec, old)
		}
		if errors.Is(err, errMovedAway) {
			return nil // another client's move of our upload stands
		}
		if errors.Is(err, errSkip) {
			// The remote changed under the interrupted replace and our upload
			// was trashed: resolved once it is really gone.
			if f, ferr := p.remote.FileInfo(ctx, rec.New); errors.Is(ferr, ErrNotFound) || (ferr == nil && !f.Active) {
				return nil
			}
		}
		if err != nil {
			return err
		}
		b, ok := base[rec.Path]
		switch {
		case ok && b.Kind == plan.File && b.RemoteID == rec.Old:
			// Keep the old local stat: the next scan re-hashes the file,
			// finds the content the remote now holds, and plans nothing.
			b.RemoteID, b.RemoteName, b.MD5, b.Size = rec.New, rec.Name, rec.MD5, rec.Size
		case rec.WasSet && (!ok || b.Kind == plan.File) && rec.current(b, ok):
			// The replaced file came to Path by an op of the same pass (a
			// remote move of a locally renamed file), which died before
			// its commit: the base the pass would have written, from the
			// record (the local file as sent). Left unrecorded, the next
			// pass took syncd's own upload for another client's file
			// there: a false conflict (TestSim seed 206733).
			b = plan.Base{Kind: plan.File, LocalName: rec.Name, RemoteName: rec.Name, Size: rec.Size, MtimeNs: rec.MtimeNs,
				Dev: rec.Dev, Ino: rec.Ino, MD5: rec.MD5, RemoteID: rec.New, RemoteParentID: rec.Folder}
		default:
			return nil // base moved on since (a later pass decided): the record is stale
		}
		return p.store.Commit(p.cfg.Key, Commit{Put: map[string]plan.Base{rec.Path: b}, MD5s: map[string]string{rec.New: rec.MD5}})
	}
	return fmt.Errorf("unknown journal operation %q", j.Op)
}

// recoverMove takes an entry an interrupted move left under its temporary
// name to where the move was going, or back where it came from when that
// name is taken now. An entry anywhere else was moved on (by the move
// itself, or by another client): its place stands.
func (p *Pair) recoverMove(ctx context.Context, m moveRecord, base map[string]plan.Base, away map[string]bool) error {
	x := &execution{p: p}
	r := plan.Remote{Kind: plan.File, ID: m.ID}
	if m.Dir {
		r.Kind = plan.Dir
	}
	cur, active, err := p.placeOf(ctx, r.Kind, m.ID)
	if errors.Is(err, ErrNotFound) || err == nil && !active {
		return nil
	}
	if err != nil {
		return err
	}
	if to := (remotePlace{m.ToParent, m.ToName}); cur == to {
		return p.bindMoved(m, base, away)
	}
	if m.Aside == "" || cur.name != m.Aside {
		return nil
	}
	for _, goal := range []remotePlace{{m.ToParent, m.ToName}, {m.FromParent, m.FromName}} {
		free, err := x.nameFree(ctx, goal.parent, goal.name, r.Kind, r.ID)
		if err != nil {
			return err
		}
		if !free {
			continue
		}
		hops := []remotePlace{goal}
		if cur.parent != goal.parent {
			hops = []remotePlace{{goal.parent, cur.name}, goal}
		}
		for _, h := range hops {
			if err := x.hop(ctx, r, cur, h); err != nil {
				return err
			}
			cur = h
		}
		p.log.Info("finished interrupted remote move", zap.String("path", m.Path), zap.String("name", goal.name))
		if goal.parent == m.ToParent && goal.name == m.ToName {
			return p.bindMoved(m, base, away)
		}
		return nil
	}
	// Both names were taken meanwhile: the entry becomes a conflict copy
	// of its old name, in its old folder. Left under the temporary name,
	// every host would leave it alone for good (see hideTemp).
	from, err := x.listFolder(ctx, m.FromParent)
	if err != nil {
		return err
	}
	name := path.Base(plan.ConflictName(m.FromName, p.opt.Now(), p.cfg.Host, func(n string) bool {
		return from.taken(path.Base(n), r.Kind, r.ID)
	}))
	hops := []remotePlace{{m.FromParent, name}}
	if cur.parent != m.FromParent {
		hops = []remotePlace{{m.FromParent, cur.name}, {m.FromParent, name}}
	}
	for _, h := range hops {
		if err := x.hop(ctx, r, cur, h); err != nil {
			return err
		}
		cur = h
	}
	p.log.Warn("interrupted remote move: its old and new names are both taken now; the entry keeps a conflict name",
		zap.String("path", m.Path), zap.String("name", name))
	return nil
}

// bindMoved writes, for a move that reached its destination, the base its
// commit would have written: the base entries at and below From move to
// Path, the top one under its new name. That is the base entry of the moved
// id, or, when the record says only the journal ties the moved entry to
// the base entry at From (moveRecord.Bind), that entry. Left to the next
// pass, a plain move by id on the remote side met whatever the local user
// made of the entry since (a file replaced at Path, a new inode: a false
// conflict, TestSimIgnore seed 810248). Anything else is left for the next
// pass.
func (p *Pair) bindMoved(m moveRecord, base map[string]plan.Base, away map[string]bool) error {
	if m.From == "" {
		return nil
	}
	b, ok := base[m.From]
	if !ok || (b.Kind == plan.Dir) != m.Dir || !m.Bind && b.RemoteID != m.ID {
		return nil // base moved on since
	}
	if _, taken := base[m.Path]; taken {
		return nil
	}
	for a := m.Path; a != ""; a = parentKey(a) {
		if away[a] {
			// A conflict rename took the local entry this base names
			// from m.Path to the copy's name: carried there, the base
			// would tie the copy to the moved remote file, and the next
			// pass would copy the copy (TestSim seed 971731). Dropped,
			// the next pass sees the two anew: the remote file at m.Path,
			// the copy new on the local side.
			c := Commit{}
			for key := range base {
				if under(key, m.From) {
					c.Delete = append(c.Delete, key)
				}
			}
			if err := p.store.Commit(p.cfg.Key, c); err != nil {
				return fmt.Errorf("drop base of recovered move %s: %w", m.Path, err)
			}
			for _, key := range c.Delete {
				delete(base, key)
			}
			return nil
		}
	}
	b.LocalName, b.RemoteName, b.RemoteParentID = m.ToName, m.ToName, m.ToParent
	if m.Dir {
		b.RemoteID = m.ID
	}
	if err := p.moveBase(base, m.From, m.Path, b); err != nil {
		return fmt.Errorf("record recovered move %s: %w", m.Path, err)
	}
	return nil
}

// moveBase commits what a move's fold does to the base (moveTree, then the
// top entry rewritten): the entries at and below from move to to, the one at
// to becomes top. The in-memory base follows, for the records after.
func (p *Pair) moveBase(base map[string]plan.Base, from, to string, top plan.Base) error {
	c := Commit{Put: make(map[string]plan.Base)}
	for key, eb := range base {
		if under(key, from) {
			c.Delete = append(c.Delete, key)
			c.Put[to+key[len(from):]] = eb
		}
	}
	c.Put[to] = top
	if err := p.store.Commit(p.cfg.Key, c); err != nil {
		return err
	}
	for _, key := range c.Delete {
		delete(base, key)
	}
	maps.Copy(base, c.Put)
	return nil
}

// recoverMoveLocal writes the base an interrupted local move's commit
// would have, when the moved entry is where the move put it: the base
// entries at and below From move to Path, the top one under the new name.
// Anything else (the rename never ran, the user moved it on, a later pass
// decided) is left for the next pass to see.
func (p *Pair) recoverMoveLocal(m moveLocalRecord, base map[string]plan.Base) error {
	b, ok := base[m.From]
	if !ok || (b.Kind == plan.Dir) != m.Dir || b.Dev != m.Dev || b.Ino != m.Ino {
		return nil
	}
	if _, taken := base[m.Path]; taken {
		return nil
	}
	st, err := p.local.Stat(m.Raw)
	if err != nil || st.Dev != m.Dev || st.Ino != m.Ino || (st.Kind == plan.Dir) != m.Dir {
		return nil
	}
	b.LocalName, b.RemoteName = m.Name, m.Name
	if m.ParentSet {
		b.RemoteParentID = m.RemoteParentID
	}
	if err := p.moveBase(base, m.From, m.Path, b); err != nil {
		return fmt.Errorf("record recovered local move %s: %w", m.Path, err)
	}
	return nil
}

// recoverDownload records the base a download would have committed, when
// the file in place holds exactly the downloaded content (then local and
// remote agree on it, whoever put it there), or when the download was put
// in place and the user wrote the file since: the file is the one the
// download put there (its device and inode, from the record), edited in
// place, or its temp file is gone (CommitTemp removes it once the file is
// linked into place; the engine cleans temp files only after recovery),
// so a file saved anew over it. The base then names the file as
// downloaded, and the next pass sees the user's edit of a synced file, an
// ordinary upload, never a conflict with the remote version (issue 13).
// Anything else (the download never landed) is left for the next pass to
// see against the old base.
func (p *Pair) recoverDownload(rec transferRecord) error {
	rc, st, err := p.local.OpenRead(rec.Raw)
	if err != nil {
		if errors.Is(err, ErrPremise) || errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read %s: %w", rec.Path, err)
	}
	h := md5.New()
	_, err = io.Copy(h, rc)
	rc.Close()
	if err != nil {
		if errors.Is(err, ErrPremise) {
			return nil // changing as we read: not as downloaded
		}
		return fmt.Errorf("read %s: %w", rec.Path, err)
	}
	if st.Size != rec.Size || hex.EncodeToString(h.Sum(nil)) != rec.MD5 {
		if rec.Ino == 0 {
			return nil // a record of an older version: no stat, no temp name
		}
		if st.Dev != rec.Dev || st.Ino != rec.Ino {
			// Another file: the download never landed (its temp file is
			// still there), or CommitTemp put it in place, removed the temp
			// file, and the user saved a new file over it.
			if rec.Tmp == "" {
				return nil
			}
			if there, err := p.local.TempExists(rec.Tmp); err != nil || there {
				return err
			}
		}
		// The downloaded file, written since: its stat as downloaded, so
		// that the next scan hashes it and finds the edit.
		st.Size, st.MtimeNs, st.Dev, st.Ino = rec.Size, rec.MtimeNs, rec.Dev, rec.Ino
	}
	b := plan.Base{Kind: plan.File, LocalName: path.Base(rec.Raw), RemoteName: rec.Name, Size: st.Size,
		MtimeNs: st.MtimeNs, Dev: st.Dev, Ino: st.Ino, MD5: rec.MD5, RemoteID: rec.New, RemoteParentID: rec.Folder}
	return p.store.Commit(p.cfg.Key, Commit{Put: map[string]plan.Base{rec.Path: b}, MD5s: map[string]string{rec.New: rec.MD5}})
}

// findOrphan looks in the record's folder for a file the interrupted upload
// created: live, unknown to base, of the right size, under the requested
// name or a name the server derives from it, with the right content.
func (p *Pair) findOrphan(ctx context.Context, rec transferRecord, inBase map[string]bool, lists map[string][]RemoteFile) (string, error) {
	files, ok := lists[rec.Folder]
	if !ok {
		var err error
		if _, files, err = p.remote.List(ctx, rec.Folder); err != nil {
			return "", fmt.Errorf("list remote folder %s: %w", rec.Folder, err)
		}
		lists[rec.Folder] = files
	}
	for _, f := range files {
		if !f.Active || inBase[f.ID] || f.ID == rec.Old || f.Size != rec.Size || !apinames.MayStore(f.Name, rec.Name) && !tempOf(f.Name, rec.Name) {
			continue
		}
		sum, err := p.remote.Download(ctx, f.ID, f.Size, io.Discard, nil)
		if err != nil {
			return "", fmt.Errorf("verify remote file %s: %w", f.ID, err)
		}
		if sum == rec.MD5 {
			return f.ID, nil
		}
	}
	return "", nil
}

// heldPaths are the paths the unsettled records of multi-step remote
// operations concern: an upload's or a replace's path, a move's
// destination (its source is frozen by its temporary name, see hideTemp).
// A download's record holds nothing: the next pass compares the file in
// place with base as it would without the record.
func heldPaths(records []Journal) []string {
	var out []string
	for _, j := range records {
		var rec struct {
			Path string `json:"path"`
		}
		if j.Op != opUpload && j.Op != opReplace && j.Op != opMove || json.Unmarshal(j.Data, &rec) != nil || rec.Path == "" {
			continue
		}
		out = append(out, rec.Path)
	}
	return out
}
