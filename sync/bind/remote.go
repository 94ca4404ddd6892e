package bind

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/time/rate"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/sync/engine"
)

// Remote adapts *remote.Client to engine.Remote.
type Remote struct {
	C *remote.Client
	// Up and Down, when set, bound upload and download bandwidth (see
	// NewLimiter).
	Up, Down *rate.Limiter
}

var _ engine.Remote = Remote{}

// classify adds the engine's sentinels to the client's error classes.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, remote.ErrNotFound):
		return fmt.Errorf("%w: %w", engine.ErrNotFound, err)
	case errors.Is(err, remote.ErrBadKeys), errors.Is(err, remote.ErrNoAPIAccess):
		return fmt.Errorf("%w: %w", engine.ErrAuth, err)
	case errors.Is(err, remote.ErrSourceChanged):
		return fmt.Errorf("%w: %w", engine.ErrPremise, err)
	case errors.Is(err, remote.ErrValidation):
		return fmt.Errorf("%w: %w", engine.ErrRefused, err)
	}
	return err
}

func toFile(f remote.File) engine.RemoteFile {
	return engine.RemoteFile{ID: string(f.ID), Name: f.Name, FolderID: string(f.FolderID), Size: f.Size, MD5: f.MD5, Active: f.Active()}
}

func toFolder(f remote.Folder) engine.RemoteFolder {
	return engine.RemoteFolder{ID: string(f.ID), ParentID: string(f.ParentID), Name: f.Name, Active: f.Active()}
}

func (r Remote) List(ctx context.Context, folder string) ([]engine.RemoteFolder, []engine.RemoteFile, error) {
	l, err := r.C.List(ctx, remote.ID(folder))
	if err != nil {
		return nil, nil, classify(err)
	}
	folders := make([]engine.RemoteFolder, len(l.Folders))
	for i, f := range l.Folders {
		folders[i] = toFolder(f)
	}
	files := make([]engine.RemoteFile, len(l.Files))
	for i, f := range l.Files {
		files[i] = toFile(f)
	}
	return folders, files, nil
}

func (r Remote) FolderInfo(ctx context.Context, id string) (engine.RemoteFolder, error) {
	f, err := r.C.FolderInfo(ctx, remote.ID(id))
	return toFolder(f), classify(err)
}

func (r Remote) CreateFolder(ctx context.Context, parent, name string) (engine.RemoteFolder, error) {
	f, err := r.C.CreateFolder(ctx, remote.ID(parent), name)
	return toFolder(f), classify(err)
}

func (r Remote) RenameFolder(ctx context.Context, id, name string) error {
	_, err := r.C.RenameFolder(ctx, remote.ID(id), name)
	return classify(err)
}

func (r Remote) MoveFolder(ctx context.Context, id, parent string) error {
	_, err := r.C.MoveFolder(ctx, remote.ID(id), remote.ID(parent))
	return classify(err)
}

func (r Remote) DeleteFolder(ctx context.Context, id string) error {
	return classify(r.C.DeleteFolder(ctx, remote.ID(id)))
}

func (r Remote) FileInfo(ctx context.Context, id string) (engine.RemoteFile, error) {
	f, err := r.C.FileInfo(ctx, remote.ID(id))
	return toFile(f), classify(err)
}

func (r Remote) RenameFile(ctx context.Context, id, name string) error {
	_, err := r.C.RenameFile(ctx, remote.ID(id), name)
	return classify(err)
}

func (r Remote) MoveFile(ctx context.Context, id, folder string) error {
	_, err := r.C.MoveFile(ctx, remote.ID(id), remote.ID(folder))
	return classify(err)
}

func (r Remote) DeleteFile(ctx context.Context, id string) error {
	return classify(r.C.DeleteFile(ctx, remote.ID(id)))
}

func (r Remote) Upload(ctx context.Context, u engine.Upload) (engine.RemoteFile, error) {
	open := u.Open
	if r.Up != nil {
		open = func() (io.ReadCloser, error) {
			rc, err := u.Open()
			if err != nil {
				return nil, err
			}
			return throttledReader{ctx: ctx, r: rc, l: r.Up}, nil
		}
	}
	req := remote.UploadRequest{
		Folder: remote.ID(u.Folder), Name: u.Name, Size: u.Size, Open: open,
		KeepServerName: u.KeepServerName, Progress: u.Progress,
		SkipLocationCheck: u.DeferLocationCheck,
	}
	if u.KnownIDs != nil {
		req.KnownIDs = func(id remote.ID) bool { return u.KnownIDs(string(id)) }
	}
	f, err := r.C.Upload(ctx, req)
	return toFile(f), classify(err)
}

func (r Remote) Download(ctx context.Context, id string, size int64, w io.Writer, progress func(int64)) (string, error) {
	h := md5.New()
	dst := io.MultiWriter(w, h)
	if r.Down != nil {
		dst = throttledWriter{ctx: ctx, w: dst, l: r.Down}
	}
	_, err := r.C.Download(ctx, remote.DownloadRequest{ID: remote.ID(id), Size: size, Progress: progress}, dst)
	if err != nil {
		return "", classify(err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TokenLosses counts the requests another client's authorization refused.
func (r Remote) TokenLosses() uint64 { return r.C.TokenLosses() }

// ExpectWrites tells the client that local changes wait to be sent.
func (r Remote) ExpectWrites(d time.Duration) { r.C.ExpectWrites(d) }

func (r Remote) Limits() engine.Limits {
	l := r.C.Limits()
	return engine.Limits{MaxUploadSize: l.MaxUploadSize, ConcurrentUploads: l.ConcurrentUploads, ConcurrentDownloads: l.ConcurrentDownloads}
}
