package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"
)

// Where an upload landed.
//
// An unknown or foreign folder_id makes the server store an upload in the
// account's root without saying so (api.md 11), and a folder another
// client trashed is unknown to it then. Checking each upload with a
// file/info doubles the requests of a first sync; the run checks the
// folders instead, once for many uploads:
//
//   - every upload's folder was active before the upload was sent: its id
//     comes from the reply that created it or a listing that showed it
//     active;
//   - a trashed folder never becomes active again (there is no restore
//     from trash, api.md 15 and the list of what the API lacks), and ids
//     are never given to another folder (api.md 25);
//   - so a folder that shows active in a listing (or folder/info) sent
//     after an upload's reply was active while the server stored the
//     upload, and the file is in it.
//
// The run holds an upload's result (not folded, its dependants waiting)
// until such a check. One listing of a parent folder shows the status of
// all its children (api.md 21), so a batch of uploads into many sibling
// folders costs one request. A folder the listing does not show active
// (moved elsewhere, trashed) is asked about with folder/info; one not
// active then had its uploads stored in the root, which are trashed.

// heldUpload is a successful upload waiting for its folder's check.
type heldUpload struct {
	r        opResult
	parent   string // remote id of the folder's parent
	parentOK bool
}

// heldCheckAfter bounds how long a held upload waits for its check while
// other ops are in flight (one listing per parent folder per check: a
// half second of uploads shares it).
const heldCheckAfter = 500 * time.Millisecond

// holdUpload keeps r until the next check of its folder.
func (x *execution) holdUpload(r opResult) {
	if len(x.held) == 0 {
		x.heldSince = x.p.opt.Now()
	}
	op := x.ops[r.idx]
	parent, ok := "", false
	if fk := parentKey(op.Path); fk != "" {
		parent, ok = x.folderID(parentKey(fk))
	}
	x.held = append(x.held, heldUpload{r: r, parent: parent, parentOK: ok})
}

// checkFolders checks, for the held uploads, that each folder is active
// now: one listing per parent folder, a folder/info for a folder the
// listing does not show. It returns the held results: as they were for a
// folder shown active; for another, a failure, after trashing what the
// server stored in the root when the folder is gone. It runs on an op
// goroutine and reads nothing of the run's.
func (x *execution) checkFolders(ctx context.Context, held []heldUpload) []opResult {
	byParent := map[string]map[string]bool{} // parent -> folders to find in it
	alone := map[string]bool{}
	for _, h := range held {
		f := h.r.checkFolder
		if !h.parentOK {
			alone[f] = true
			continue
		}
		if byParent[h.parent] == nil {
			byParent[h.parent] = map[string]bool{}
		}
		byParent[h.parent][f] = true
	}
	parents := make([]string, 0, len(byParent))
	for p := range byParent {
		parents = append(parents, p)
	}
	sort.Strings(parents)
	for _, p := range parents {
		want := byParent[p]
		folders, _, err := x.p.remote.List(ctx, p)
		if err == nil {
			for _, f := range folders {
				if want[f.ID] && f.Active && (f.ParentID == p || f.ParentID == "") {
					delete(want, f.ID)
				}
			}
		}
		for f := range want {
			alone[f] = true
		}
	}
	bad := map[string]error{}
	for f := range alone {
		info, err := x.p.remote.FolderInfo(ctx, f)
		switch {
		case err == nil && info.Active:
		case err == nil:
			bad[f] = fmt.Errorf("folder %s is no longer active: %w", f, ErrNotFound)
		default:
			bad[f] = fmt.Errorf("check folder %s: %w", f, err)
		}
	}
	out := make([]opResult, 0, len(held))
	for _, h := range held {
		r := h.r
		err, isBad := bad[r.checkFolder]
		if !isBad {
			out = append(out, r)
			continue
		}
		op := x.ops[r.idx]
		if errors.Is(err, ErrNotFound) {
			// Stored in the root (api.md 11), where it must not stay.
			if derr := x.p.remote.DeleteFile(ctx, r.fileID); derr != nil {
				err = fmt.Errorf("%w; the server stored file %s in the root; trashing it failed: %v", err, r.fileID, derr)
				r.seq = 0 // recovery looks at it again
			} else {
				err = fmt.Errorf("%w; the server stored file %s in the root, now trashed", err, r.fileID)
			}
			r.status = OpSkipped
		} else {
			// Not known where the file is: the next pass's listings tell.
			r.status = OpFailed
			r.seq = 0
		}
		x.p.log.Warn("uploaded file's folder not confirmed", zap.String("path", op.Path), zap.String("id", r.fileID), zap.Error(err))
		r.err = fmt.Errorf("%s %s: %w", op.Kind, op.Path, err)
		r.fold = nil // a trashed file's record closes: nothing is left to recover
		out = append(out, r)
	}
	return out
}
