package apitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/syncd/syncd/remote"
)

func testAccountAndPackage(t *testing.T, newTarget Factory) {
	want := remote.Limits{MaxUploadSize: 1 << 30, ConcurrentUploads: 7, ConcurrentDownloads: 3,
		WaitBetweenDownloads: 0, DownloadsPer24Hours: 500, MaxDownloadFileSize: 1 << 31, MaxStorageBytes: 1 << 40}
	h := start(t, newTarget, Setup{Limits: want})
	c := h.client()
	if err := c.Authorize(h.ctx); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	info, err := c.AccountInfo(h.ctx)
	if err != nil {
		t.Fatalf("AccountInfo: %v", err)
	}
	if info.ID == "" || info.Username == "" {
		t.Fatalf("AccountInfo = %+v, want id and username", info)
	}
	got, err := c.Package(h.ctx)
	if err != nil {
		t.Fatalf("Package: %v", err)
	}
	if c.Limits() != got {
		t.Fatalf("Limits() = %+v after Package returned %+v", c.Limits(), got)
	}
	got.Label = ""
	want.CanUpload = true
	if got != want {
		t.Fatalf("Package = %+v\nwant      %+v", got, want)
	}
}

// testBadKeys: a client with a wrong key pair tries once and never again,
// so that the IP is not locked out (api.md 9): a correct client from the
// same address still authorizes after many calls of the bad one.
func testBadKeys(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	bad := h.client(func(cfg *remote.Config) { cfg.Key2 = strings.Repeat("0", 64) })
	for i := range 8 {
		_, err := bad.List(h.ctx, remote.Root)
		if !errors.Is(err, remote.ErrBadKeys) {
			t.Fatalf("call %d with bad keys: err = %v, want ErrBadKeys", i, err)
		}
	}
	good := h.client()
	if err := good.Authorize(h.ctx); err != nil {
		t.Fatalf("a correct client is locked out after a bad one: %v", err)
	}
}

func testFolders(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	a := h.mkdir(c, remote.Root, "alpha")
	b := h.mkdir(c, a.ID, "beta")
	dup := h.mkdir(c, remote.Root, "alpha") // duplicate folder names are allowed
	if dup.ID == a.ID {
		t.Fatalf("duplicate folder got the same id")
	}

	info, err := c.FolderInfo(h.ctx, b.ID)
	if err != nil || info.ID != b.ID || info.ParentID != a.ID || info.Name != "beta" {
		t.Fatalf("FolderInfo(beta) = %+v, %v", info, err)
	}
	root := h.list(c, remote.Root)
	var names []string
	for _, f := range root.Folders {
		if f.Active() {
			names = append(names, f.Name)
		}
	}
	if fmt.Sprint(names) != "[alpha alpha]" {
		t.Fatalf("root folders = %v", names)
	}
	l := h.list(c, a.ID)
	if got, ok := folderByID(l, b.ID); !ok || got.ParentID != a.ID {
		t.Fatalf("listing of alpha lacks beta: %+v", l)
	}

	r, err := c.RenameFolder(h.ctx, b.ID, "gamma")
	if err != nil || r.Name != "gamma" || r.ParentID != a.ID {
		t.Fatalf("RenameFolder = %+v, %v (the parent must be kept)", r, err)
	}
	m, err := c.MoveFolder(h.ctx, b.ID, remote.Root)
	if err != nil || m.ParentID != remote.Root || m.Name != "gamma" {
		t.Fatalf("MoveFolder to root = %+v, %v", m, err)
	}
	if m, err = c.MoveFolder(h.ctx, b.ID, dup.ID); err != nil || m.ParentID != dup.ID {
		t.Fatalf("MoveFolder into alpha#2 = %+v, %v", m, err)
	}
	if _, ok := folderByID(h.list(c, dup.ID), b.ID); !ok {
		t.Fatalf("moved folder missing from its new parent's listing")
	}
	if _, ok := folderByID(h.list(c, a.ID), b.ID); ok {
		t.Fatalf("moved folder still listed in its old parent")
	}

	if _, err := c.FolderInfo(h.ctx, "987654321"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("FolderInfo(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := c.List(h.ctx, "987654321"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("List(unknown) err = %v, want ErrNotFound", err)
	}
	if err := c.DeleteFolder(h.ctx, "987654321"); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("DeleteFolder(unknown) err = %v, want ErrNotFound", err)
	}
	if _, err := c.MoveFolder(h.ctx, b.ID, b.ID); !errors.Is(err, remote.ErrValidation) {
		t.Fatalf("MoveFolder onto itself err = %v, want ErrValidation", err)
	}
}

func testFolderCycle(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	a := h.mkdir(c, remote.Root, "a")
	b := h.mkdir(c, a.ID, "b")
	d := h.mkdir(c, b.ID, "d")
	for _, dest := range []remote.ID{b.ID, d.ID} {
		if _, err := c.MoveFolder(h.ctx, a.ID, dest); !errors.Is(err, remote.ErrValidation) {
			t.Fatalf("MoveFolder(a into its descendant %s) err = %v, want ErrValidation", dest, err)
		}
	}
	info, err := c.FolderInfo(h.ctx, a.ID)
	if err != nil || info.ParentID != remote.Root {
		t.Fatalf("a after refused moves = %+v, %v", info, err)
	}
}

func testFolderDelete(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	top := h.mkdir(c, remote.Root, "top")
	sub := h.mkdir(c, top.ID, "sub")
	f := h.upload(c, sub.ID, "inside.txt", []byte("inside"))
	if err := c.DeleteFolder(h.ctx, top.ID); err != nil {
		t.Fatalf("DeleteFolder: %v", err)
	}
	// api.md 15, 24: the trashed top folder is listed in the root with
	// status trash; its children keep their parents and are trashed too.
	root := h.list(c, remote.Root)
	got, ok := folderByID(root, top.ID)
	if !ok || got.Active() || got.Status != remote.StatusTrash {
		t.Fatalf("root listing after delete: top = %+v (listed %v), want status trash", got, ok)
	}
	if info, err := c.FolderInfo(h.ctx, sub.ID); err == nil && info.Active() {
		t.Fatalf("sub folder still active after its parent was deleted: %+v", info)
	}
	if fi, err := c.FileInfo(h.ctx, f.ID); err != nil || fi.Active() {
		t.Fatalf("file below a deleted folder = %+v, %v; want trashed", fi, err)
	}
}

func testUploadAndList(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	dir := h.mkdir(c, remote.Root, "docs")
	data := content(300_001, 1)
	var progress []int64
	f, err := c.Upload(h.ctx, remote.UploadRequest{Folder: dir.ID, Name: "report.pdf", Size: int64(len(data)),
		Open: opener(data), Progress: func(n int64) { progress = append(progress, n) }})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if f.Name != "report.pdf" || f.Size != int64(len(data)) || f.MD5 != md5hex(data) || f.FolderID != dir.ID || !f.Active() {
		t.Fatalf("Upload = %+v", f)
	}
	if len(progress) == 0 || progress[len(progress)-1] != int64(len(data)) {
		t.Fatalf("progress ended at %v, want %d", progress[max(len(progress)-1, 0):], len(data))
	}
	l := h.list(c, dir.ID)
	lf, ok := fileByID(l, f.ID)
	if !ok || lf.Name != "report.pdf" || lf.Size != f.Size || lf.FolderID != dir.ID || !lf.Active() {
		t.Fatalf("listing entry = %+v (found %v)", lf, ok)
	}
	info, err := c.FileInfo(h.ctx, f.ID)
	if err != nil || info.Status != remote.StatusActive || info.Size != f.Size || info.FolderID != dir.ID {
		t.Fatalf("FileInfo = %+v, %v", info, err)
	}
	if got := h.download(c, f.ID, f.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("downloaded content differs")
	}
	// Root uploads too, with the folder left blank.
	r := h.upload(c, remote.Root, "at-root.bin", content(10, 2))
	if _, ok := fileByID(h.list(c, remote.Root), r.ID); !ok {
		t.Fatalf("root upload not in the root listing")
	}
}

// testUploadDuplicates: the server renames an upload whose name is taken to
// "base (2).ext" (api.md 12); the client renames it back, so two files
// of the same name coexist, unless KeepServerName.
func testUploadDuplicates(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	one := h.upload(c, remote.Root, "photo.jpg", []byte("first"))
	two := h.upload(c, remote.Root, "photo.jpg", []byte("second"))
	if one.ID == two.ID {
		t.Fatalf("two uploads share id %s", one.ID)
	}
	kept, err := c.Upload(h.ctx, remote.UploadRequest{Name: "photo.jpg", Size: 5, Open: opener([]byte("third")), KeepServerName: true})
	if err != nil {
		t.Fatalf("Upload KeepServerName: %v", err)
	}
	if !regexp.MustCompile(`^photo \([0-9]+\)\.jpg$`).MatchString(kept.Name) {
		t.Fatalf("KeepServerName upload named %q, want the server's \"photo (N).jpg\"", kept.Name)
	}
	var names []string
	for _, f := range activeFiles(h.list(c, remote.Root)) {
		names = append(names, f.Name)
	}
	if fmt.Sprint(names) != fmt.Sprintf("[photo.jpg photo.jpg %s]", kept.Name) && fmt.Sprint(names) != fmt.Sprintf("[%s photo.jpg photo.jpg]", kept.Name) {
		t.Fatalf("root files = %q", names)
	}
	// A name without an extension.
	h.upload(c, remote.Root, "README", []byte("a"))
	h.upload(c, remote.Root, "README", []byte("b"))
}

func testUploadSanitised(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	for i, name := range []string{".env", "it's \"quoted\".txt", "..hidden", "line\nbreak.txt", `back\slash.txt`, "ünïcödé ✓.txt"} {
		f := h.upload(c, remote.Root, name, content(17+i, uint64(i)))
		info, err := c.FileInfo(h.ctx, f.ID)
		if err != nil || info.Name != name {
			t.Errorf("stored name of %q = %q, %v", name, info.Name, err)
		}
	}
}

func testUploadRefused(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{Limits: remote.Limits{MaxUploadSize: 1000}})
	c := h.client()
	_, err := c.Upload(h.ctx, remote.UploadRequest{Name: "empty", Size: 0, Open: opener(nil)})
	if !errors.Is(err, remote.ErrValidation) {
		t.Fatalf("empty upload err = %v, want ErrValidation", err)
	}
	big := content(1001, 3)
	_, err = c.Upload(h.ctx, remote.UploadRequest{Name: "big", Size: int64(len(big)), Open: opener(big)})
	if !errors.Is(err, remote.ErrValidation) {
		t.Fatalf("oversized upload err = %v, want ErrValidation", err)
	}
	// Content shorter or longer than Size is refused, nothing is stored.
	_, err = c.Upload(h.ctx, remote.UploadRequest{Name: "short", Size: 100, Open: opener(content(50, 4))})
	if !errors.Is(err, remote.ErrSourceChanged) {
		t.Fatalf("short source err = %v, want ErrSourceChanged", err)
	}
	_, err = c.Upload(h.ctx, remote.UploadRequest{Name: "long", Size: 100, Open: opener(content(150, 4))})
	if !errors.Is(err, remote.ErrSourceChanged) {
		t.Fatalf("long source err = %v, want ErrSourceChanged", err)
	}
	if files := activeFiles(h.list(c, remote.Root)); len(files) != 0 {
		t.Fatalf("refused uploads left files: %+v", files)
	}
}

func testUploadMissingFolder(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	gone := h.mkdir(c, remote.Root, "gone")
	if err := c.DeleteFolder(h.ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	// api.md 11: the server would put the file in the root silently.
	_, err := c.Upload(h.ctx, remote.UploadRequest{Folder: gone.ID, Name: "x.txt", Size: 3, Open: opener([]byte("xyz"))})
	if !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("upload into a trashed folder err = %v, want ErrNotFound", err)
	}
	if files := activeFiles(h.list(c, remote.Root)); len(files) != 0 {
		t.Fatalf("upload into a missing folder left active files in the root: %+v", files)
	}
}

func testFileOps(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	src := h.mkdir(c, remote.Root, "src")
	dst := h.mkdir(c, remote.Root, "dst")
	data := content(4096, 5)
	f := h.upload(c, src.ID, "a.bin", data)

	r, err := c.RenameFile(h.ctx, f.ID, "b.bin")
	if err != nil || r.Name != "b.bin" || r.ID != f.ID {
		t.Fatalf("RenameFile = %+v, %v", r, err)
	}
	m, err := c.MoveFile(h.ctx, f.ID, dst.ID)
	if err != nil || m.ID != f.ID {
		t.Fatalf("MoveFile = %+v, %v", m, err)
	}
	if lf, ok := fileByID(h.list(c, dst.ID), f.ID); !ok || lf.Name != "b.bin" || lf.FolderID != dst.ID {
		t.Fatalf("moved file in dst listing = %+v (found %v)", lf, ok)
	}
	if _, ok := fileByID(h.list(c, src.ID), f.ID); ok {
		t.Fatalf("moved file still in src")
	}
	if _, err := c.MoveFile(h.ctx, f.ID, remote.Root); err != nil {
		t.Fatalf("MoveFile to root: %v", err)
	}
	if _, ok := fileByID(h.list(c, remote.Root), f.ID); !ok {
		t.Fatalf("file moved to root not listed there")
	}

	cp, err := c.CopyFile(h.ctx, f.ID, src.ID)
	if err != nil {
		t.Fatalf("CopyFile: %v", err)
	}
	if cp.ID == "" || cp.ID == f.ID || cp.Size != f.Size {
		t.Fatalf("CopyFile = %+v", cp)
	}
	if lf, ok := fileByID(h.list(c, src.ID), cp.ID); !ok || lf.Name != "b.bin" {
		t.Fatalf("copy in src listing = %+v (found %v)", lf, ok)
	}
	if got := h.download(c, cp.ID, cp.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("copy content differs")
	}

	if err := c.DeleteFile(h.ctx, f.ID); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	info, err := c.FileInfo(h.ctx, f.ID)
	if err != nil || info.Status != remote.StatusTrash || info.Active() {
		t.Fatalf("FileInfo after delete = %+v, %v; want status trash", info, err)
	}
	// api.md 15: trashed files are listed in the root with status trash.
	if lf, ok := fileByID(h.list(c, remote.Root), f.ID); !ok || lf.Active() {
		t.Fatalf("trashed file in root listing = %+v (found %v)", lf, ok)
	}

	const unknown = remote.ID("987654321")
	for name, op := range map[string]func() error{
		"FileInfo":   func() error { _, err := c.FileInfo(h.ctx, unknown); return err },
		"RenameFile": func() error { _, err := c.RenameFile(h.ctx, unknown, "x"); return err },
		"MoveFile":   func() error { _, err := c.MoveFile(h.ctx, unknown, dst.ID); return err },
		"CopyFile":   func() error { _, err := c.CopyFile(h.ctx, unknown, dst.ID); return err },
		"DeleteFile": func() error { return c.DeleteFile(h.ctx, unknown) },
	} {
		if err := op(); !errors.Is(err, remote.ErrNotFound) {
			t.Errorf("%s(unknown) err = %v, want ErrNotFound", name, err)
		}
	}
	// A missing destination is not "the file is gone".
	if _, err := c.MoveFile(h.ctx, cp.ID, unknown); err == nil || errors.Is(err, remote.ErrNotFound) {
		t.Errorf("MoveFile to an unknown folder err = %v, want a non-NotFound refusal", err)
	}
}

func testDownload(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	data := content(1<<20+77, 6)
	f := h.upload(c, remote.Root, "big.bin", data)
	if got := h.download(c, f.ID, f.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("content differs")
	}
	if got := h.download(c, f.ID, -1, ""); !bytes.Equal(got, data) {
		t.Fatalf("content differs with unknown size")
	}
	// Resume after the bytes the caller already has, checking the MD5 of
	// the whole through Partial. The offsets include the quirky ones.
	for _, off := range []int64{1, 2, 1000, int64(len(data)) - 1} {
		var rest bytes.Buffer
		var last int64
		n, err := c.Download(h.ctx, remote.DownloadRequest{ID: f.ID, Offset: off, Size: f.Size, MD5: f.MD5,
			Partial: bytes.NewReader(data[:off]), Progress: func(p int64) { last = p }}, &rest)
		if err != nil {
			t.Fatalf("resume at %d: %v", off, err)
		}
		if n != int64(len(data))-off || !bytes.Equal(rest.Bytes(), data[off:]) {
			t.Fatalf("resume at %d wrote %d bytes, content equal %v", off, n, bytes.Equal(rest.Bytes(), data[off:]))
		}
		if last != f.Size {
			t.Fatalf("progress ended at %d, want %d", last, f.Size)
		}
	}
	// A wrong expected MD5 is detected.
	_, err := c.Download(h.ctx, remote.DownloadRequest{ID: f.ID, Size: f.Size, MD5: md5hex([]byte("other"))}, io.Discard)
	if err == nil {
		t.Fatalf("download with a wrong MD5 succeeded")
	}
	if _, err := c.Download(h.ctx, remote.DownloadRequest{ID: "987654321", Size: -1}, io.Discard); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("download of an unknown id err = %v, want ErrNotFound", err)
	}
}

func testDownloadTrashed(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	data := content(999, 7)
	f := h.upload(c, remote.Root, "t.bin", data)
	if err := c.DeleteFile(h.ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	// api.md 17: download URLs work for trashed files too.
	if got := h.download(c, f.ID, f.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("trashed file content differs")
	}
}

func testDownloadLimits(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{Limits: remote.Limits{DownloadsPer24Hours: 2, MaxDownloadFileSize: 100}})
	c := h.client()
	small := h.upload(c, remote.Root, "small", content(100, 8))
	big := h.upload(c, remote.Root, "big", content(101, 9))
	if _, err := c.Download(h.ctx, remote.DownloadRequest{ID: big.ID, Size: big.Size}, io.Discard); !errors.Is(err, remote.ErrValidation) {
		t.Fatalf("download over max_download_filesize_allowed err = %v, want ErrValidation", err)
	}
	for range 2 {
		h.download(c, small.ID, small.Size, small.MD5)
	}
	_, err := c.Download(h.ctx, remote.DownloadRequest{ID: small.ID, Size: small.Size}, io.Discard)
	if !errors.Is(err, remote.ErrRateLimited) || !strings.Contains(err.Error(), "downloads_per_24_hours") {
		t.Fatalf("third download of the day err = %v, want ErrRateLimited naming downloads_per_24_hours", err)
	}
}

// testConcurrencyLimits: with concurrent_uploads and concurrent_downloads
// at 1, parallel transfers all succeed: the client queues them itself
// (a target that enforces the limits would refuse the excess).
func testConcurrencyLimits(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{Limits: remote.Limits{ConcurrentUploads: 1, ConcurrentDownloads: 1}})
	c := h.client()
	if _, err := c.Package(h.ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	files := map[remote.ID][]byte{}
	var g errgroup.Group
	for i := range 6 {
		g.Go(func() error {
			data := content(200_000, uint64(100+i))
			f, err := c.Upload(h.ctx, remote.UploadRequest{Name: fmt.Sprintf("p%d.bin", i), Size: int64(len(data)),
				Open: opener(data), KnownIDs: func(remote.ID) bool { return false }})
			if err != nil {
				return err
			}
			mu.Lock()
			files[f.ID] = data
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("parallel uploads: %v", err)
	}
	for id, data := range files {
		g.Go(func() error {
			var buf bytes.Buffer
			if _, err := c.Download(h.ctx, remote.DownloadRequest{ID: id, Size: int64(len(data)), MD5: md5hex(data)}, &buf); err != nil {
				return err
			}
			if !bytes.Equal(buf.Bytes(), data) {
				return fmt.Errorf("content of %s differs", id)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("parallel downloads: %v", err)
	}
}

// testSecondClient: another process with the same keys invalidates the
// token (api.md 7); each client re-authorizes once and carries on.
func testSecondClient(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	one, two := h.client(), h.client()
	if err := one.Authorize(h.ctx); err != nil {
		t.Fatal(err)
	}
	dir := h.mkdir(one, remote.Root, "shared")
	if err := two.Authorize(h.ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := one.List(h.ctx, dir.ID); err != nil {
			t.Fatalf("round %d: first client after the second authorized: %v", i, err)
		}
		if _, err := two.List(h.ctx, dir.ID); err != nil {
			t.Fatalf("round %d: second client after the first re-authorized: %v", i, err)
		}
	}
	h.upload(one, dir.ID, "from-one", []byte("1"))
	h.upload(two, dir.ID, "from-two", []byte("2"))
	if n := len(activeFiles(h.list(one, dir.ID))); n != 2 {
		t.Fatalf("files = %d, want 2", n)
	}
}

func testIdleExpiry(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{TokenTTL: time.Hour})
	if h.tg.Advance == nil {
		t.Skip("target has no clock to advance")
	}
	c := h.client()
	h.list(c, remote.Root)
	h.tg.Advance(61 * time.Minute)
	h.list(c, remote.Root) // the token expired; the client re-authorizes by itself
	h.upload(c, remote.Root, "after-expiry", []byte("x"))
}

func testClose(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	h.list(c, remote.Root)
	if err := c.Close(h.ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	h.list(c, remote.Root) // authorizes again
	if err := c.Close(h.ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testFaultsRetried(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	f := h.upload(c, remote.Root, "f.txt", []byte("hello"))
	h.inject(Fault{Endpoint: "folder/listing", Status: 429, RetryAfter: time.Second})
	begin := time.Now()
	if _, ok := fileByID(h.list(c, remote.Root), f.ID); !ok {
		t.Fatalf("listing after a 429 lacks the file")
	}
	if time.Since(begin) < time.Second {
		t.Fatalf("Retry-After of 1s not honoured")
	}
	for _, status := range []int{500, 502, 503} {
		h.inject(Fault{Endpoint: "file/info", Status: status, Count: 2})
		if _, err := c.FileInfo(h.ctx, f.ID); err != nil {
			t.Fatalf("FileInfo after two %ds: %v", status, err)
		}
	}
	h.inject(Fault{Endpoint: "file/info", Status: 503, Count: 50})
	if _, err := c.FileInfo(h.ctx, f.ID); !errors.Is(err, remote.ErrTransient) {
		t.Fatalf("FileInfo with endless 503s err = %v, want ErrTransient", err)
	}
}

// testAdaptiveRate: a client configured far above the server's rate limit
// slows down on 429s and every call still succeeds.
func testAdaptiveRate(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{RateLimit: 20})
	c := h.client(func(cfg *remote.Config) { cfg.RequestsPerSecond = 1000 })
	begin := time.Now()
	const calls = 80
	for i := range calls {
		if _, err := c.List(h.ctx, remote.Root); err != nil {
			t.Fatalf("call %d at a rate limit of 20/s: %v", i, err)
		}
	}
	// 80 calls at 20/s with a burst of 20 take at least 3 s: the server's
	// limit was really in force, and the client lived with it.
	if took := time.Since(begin); took < 2*time.Second {
		t.Fatalf("%d calls took %v: the target did not rate-limit", calls, took)
	}
}

// testLostUploadReply: the server stores the upload but the reply is lost;
// the client finds the stored file by listing instead of uploading twice
// (testing.md 19, 21).
func testLostUploadReply(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	dir := h.mkdir(c, remote.Root, "d")
	h.upload(c, dir.ID, "same.txt", []byte("an older file of the same name"))
	data := content(50_000, 10)
	h.inject(Fault{Endpoint: "file/upload", DropReply: true})
	f, err := c.Upload(h.ctx, remote.UploadRequest{Folder: dir.ID, Name: "same.txt", Size: int64(len(data)), Open: opener(data)})
	if err != nil {
		t.Fatalf("Upload with a lost reply: %v", err)
	}
	if f.Name != "same.txt" || f.MD5 != md5hex(data) {
		t.Fatalf("Upload = %+v", f)
	}
	var same []remote.File
	for _, lf := range activeFiles(h.list(c, dir.ID)) {
		if lf.Size == int64(len(data)) {
			same = append(same, lf)
		}
	}
	if len(same) != 1 || same[0].ID != f.ID || same[0].Name != "same.txt" {
		t.Fatalf("files with the uploaded size = %+v, want exactly the adopted one", same)
	}
	// A lost reply of a folder creation is resolved by listing, never by
	// repeating the creation blindly; a creation that failed before it was
	// applied is repeated.
	h.inject(Fault{Endpoint: "folder/create", DropReply: true})
	once, err := c.CreateFolder(h.ctx, remote.Root, "once")
	if err != nil || once.ID == "" || once.Name != "once" {
		t.Fatalf("CreateFolder with a lost reply = %+v, %v", once, err)
	}
	h.inject(Fault{Endpoint: "folder/create", Status: 502})
	twice, err := c.CreateFolder(h.ctx, remote.Root, "twice")
	if err != nil || twice.ID == "" {
		t.Fatalf("CreateFolder after a 502 = %+v, %v", twice, err)
	}
	count := map[string]int{}
	for _, fo := range h.list(c, remote.Root).Folders {
		count[fo.Name]++
	}
	if count["once"] != 1 || count["twice"] != 1 {
		t.Fatalf("folders = %v, want once and twice exactly once each", count)
	}
}

func testLostDownload(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	data := content(300_000, 11)
	f := h.upload(c, remote.Root, "r.bin", data)
	h.inject(Fault{Endpoint: "dl", Status: 502})
	if got := h.download(c, f.ID, f.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("content differs after a failed download attempt")
	}
	h.inject(Fault{Endpoint: "file/download", Status: 503})
	if got := h.download(c, f.ID, f.Size, f.MD5); !bytes.Equal(got, data) {
		t.Fatalf("content differs after a failed file/download")
	}
}

var reSecretish = regexp.MustCompile(`[A-Za-z0-9]{64,}`)

// testSecretsNeverLeak runs failing operations and checks that no key,
// access token or download token appears in an error or a log entry.
func testSecretsNeverLeak(t *testing.T, newTarget Factory) {
	h := start(t, newTarget, Setup{})
	c := h.client()
	f := h.upload(c, remote.Root, "s.txt", []byte("secret content"))
	var errs []error
	collect := func(err error) {
		if err == nil {
			t.Fatalf("expected a failure")
		}
		errs = append(errs, err)
	}
	_, err := c.Download(h.ctx, remote.DownloadRequest{ID: f.ID, Size: f.Size, MD5: md5hex([]byte("wrong"))}, io.Discard)
	collect(err)
	_, err = c.FileInfo(h.ctx, "987654321")
	collect(err)
	if h.tg.InjectFault != nil {
		h.tg.InjectFault(Fault{Endpoint: "dl", Status: 500, Count: 50})
		_, err = c.Download(h.ctx, remote.DownloadRequest{ID: f.ID, Size: f.Size}, io.Discard)
		collect(err)
		h.tg.InjectFault(Fault{Endpoint: "folder/listing", Status: 503, Count: 50})
		_, err = c.List(h.ctx, remote.Root)
		collect(err)
	}
	bad := h.client(func(cfg *remote.Config) { cfg.Key1 = strings.Repeat("Z", 64) })
	collect(bad.Authorize(h.ctx))

	secrets := []string{h.tg.Keys[0], h.tg.Keys[1], strings.Repeat("Z", 64)}
	check := func(where, s string) {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains a key: %s", where, s)
			}
		}
		if m := reSecretish.FindString(s); m != "" {
			t.Errorf("%s contains a token-like string %q: %s", where, m, s)
		}
		if strings.Contains(s, "download_token=") && !strings.Contains(s, "download_token=[redacted]") {
			t.Errorf("%s contains a download token: %s", where, s)
		}
	}
	for _, err := range errs {
		check("error", err.Error())
	}
	entries := 0
	for _, logs := range h.logs {
		for _, e := range logs.All() {
			entries++
			check("log", e.Message)
			for k, v := range e.ContextMap() {
				check("log field "+k, fmt.Sprint(v))
			}
		}
	}
	if entries == 0 {
		t.Fatalf("no log entries observed: the check proves nothing")
	}
}
