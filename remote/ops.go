package remote

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"
)

// param renders an id for a parameter where the API needs an explicit
// root ("null", api.md 16, 23).
func param(id ID) string {
	if id == Root {
		return "null"
	}
	return string(id)
}

// AccountInfo reads /account/info.
func (c *Client) AccountInfo(ctx context.Context) (AccountInfo, error) {
	env, err := c.call(ctx, "account/info", nil, true)
	if err != nil {
		return AccountInfo{}, err
	}
	info, err := decodeAccount(env)
	if err != nil {
		return AccountInfo{}, badReply("account/info", "", err)
	}
	return info, nil
}

// List returns the folders and files directly inside folder, trashed
// entries included (the root listing holds every trashed file and trashed
// top folder, api.md 15).
func (c *Client) List(ctx context.Context, folder ID) (Listing, error) {
	p := url.Values{}
	if folder != Root {
		p.Set("parent_folder_id", string(folder))
	}
	env, err := c.call(ctx, "folder/listing", p, true)
	if err != nil {
		return Listing{}, fmt.Errorf("list folder %q: %w", folder, err)
	}
	l, err := decodeListing(env)
	if err != nil {
		return Listing{}, fmt.Errorf("list folder %q: %w", folder, badReply("folder/listing", folder, err))
	}
	return l, nil
}

// FolderInfo reads one folder. Both folder_id (what the server reads,
// api.md 22) and parent_folder_id (what the page documents) are sent.
func (c *Client) FolderInfo(ctx context.Context, id ID) (Folder, error) {
	if id == Root {
		return Folder{}, &APIError{Endpoint: "folder/info", Message: "the root folder has no info", Kind: ErrValidation}
	}
	p := url.Values{"folder_id": {string(id)}, "parent_folder_id": {string(id)}}
	return c.folderOp(ctx, "folder/info", id, p, true)
}

// CreateFolder creates name inside parent. It is not idempotent, so a
// request whose reply was lost is never repeated blindly: the client lists
// parent, adopts the one active folder of that name if there is one, and
// creates again only when there is none. Several of that name (the service
// allows duplicates) leave the outcome to the caller as ErrTransient.
func (c *Client) CreateFolder(ctx context.Context, parent ID, name string) (Folder, error) {
	if err := checkName("folder/create", name); err != nil {
		return Folder{}, err
	}
	p := url.Values{"folder_name": {name}, "is_public": {"0"}}
	if parent != Root {
		p.Set("parent_id", string(parent))
	}
	for n := 0; ; n++ {
		f, err := c.folderOp(ctx, "folder/create", parent, p, false)
		if err == nil || !errors.Is(err, ErrTransient) || ctx.Err() != nil || n >= c.maxRetries {
			if err != nil {
				return Folder{}, fmt.Errorf("create folder %q in %q: %w", name, parent, err)
			}
			return f, nil
		}
		l, lerr := c.List(ctx, parent)
		if lerr != nil {
			return Folder{}, fmt.Errorf("create folder %q in %q: %w; resolving by listing failed: %w", name, parent, err, lerr)
		}
		var same []Folder
		for _, fo := range l.Folders {
			if fo.Active() && fo.Name == name {
				same = append(same, fo)
			}
		}
		switch len(same) {
		case 0:
			c.log.Warn("folder creation failed; creating again", zap.String("name", name), zap.Error(err))
			if serr := sleep(ctx, c.backoff(n)); serr != nil {
				return Folder{}, fmt.Errorf("create folder %q in %q: %w (last failure: %v)", name, parent, serr, err)
			}
		case 1:
			c.log.Info("lost folder creation reply resolved by listing", zap.String("id", string(same[0].ID)))
			return same[0], nil
		default:
			return Folder{}, fmt.Errorf("create folder %q in %q: %w; %d folders of that name exist now", name, parent, err, len(same))
		}
	}
}

// RenameFolder renames a folder in place (folder/edit).
func (c *Client) RenameFolder(ctx context.Context, id ID, name string) (Folder, error) {
	if err := checkName("folder/edit", name); err != nil {
		return Folder{}, err
	}
	p := url.Values{"folder_id": {string(id)}, "folder_name": {name}}
	return c.folderOp(ctx, "folder/edit", id, p, true)
}

// maxFolderDepth bounds the ancestor walk of MoveFolder.
const maxFolderDepth = 256

// MoveFolder moves a folder under newParent. The service has no cycle
// check (api.md 23), so the client walks newParent's ancestors first and
// refuses a move into the folder's own subtree.
func (c *Client) MoveFolder(ctx context.Context, id, newParent ID) (Folder, error) {
	if id == Root {
		return Folder{}, &APIError{Endpoint: "folder/move", Message: "the root folder cannot be moved", Kind: ErrValidation}
	}
	for anc, depth := newParent, 0; anc != Root; depth++ {
		if anc == id {
			return Folder{}, &APIError{Endpoint: "folder/move " + string(id),
				Message: fmt.Sprintf("refusing to move folder %s into its own subtree (%s)", id, newParent), Kind: ErrValidation}
		}
		if depth > maxFolderDepth {
			return Folder{}, &APIError{Endpoint: "folder/move " + string(id), Message: "destination folder nesting too deep or cyclic", Kind: ErrValidation}
		}
		f, err := c.FolderInfo(ctx, anc)
		if err != nil {
			return Folder{}, fmt.Errorf("move folder %s: check destination %s: %w", id, anc, err)
		}
		anc = f.ParentID
	}
	p := url.Values{"folder_id": {string(id)}, "new_parent_folder_id": {param(newParent)}}
	return c.folderOp(ctx, "folder/move", id, p, true)
}

// DeleteFolder trashes a folder and everything below it.
func (c *Client) DeleteFolder(ctx context.Context, id ID) error {
	if id == Root {
		return &APIError{Endpoint: "folder/delete", Message: "the root folder cannot be deleted", Kind: ErrValidation}
	}
	_, err := c.call(ctx, "folder/delete", url.Values{"folder_id": {string(id)}}, true)
	if err != nil {
		return fmt.Errorf("delete folder %s: %w", id, err)
	}
	return nil
}

func (c *Client) folderOp(ctx context.Context, endpoint string, id ID, p url.Values, idempotent bool) (Folder, error) {
	env, err := c.call(ctx, endpoint, p, idempotent)
	if err != nil {
		return Folder{}, fmt.Errorf("folder %q: %w", id, err)
	}
	f, err := decodeFolder(env.data())
	if err != nil {
		return Folder{}, badReply(endpoint, id, err)
	}
	return f, nil
}

// FileInfo reads one file; its Status comes from file_status (api.md 14).
func (c *Client) FileInfo(ctx context.Context, id ID) (File, error) {
	return c.fileOp(ctx, "file/info", id, url.Values{"file_id": {string(id)}}, true)
}

// RenameFile sets a file's name exactly (file/edit does not sanitise or
// de-duplicate, api.md 12).
func (c *Client) RenameFile(ctx context.Context, id ID, name string) (File, error) {
	if err := checkName("file/edit", name); err != nil {
		return File{}, err
	}
	return c.fileOp(ctx, "file/edit", id, url.Values{"file_id": {string(id)}, "filename": {name}}, true)
}

// MoveFile moves a file into folder (Root allowed).
func (c *Client) MoveFile(ctx context.Context, id, folder ID) (File, error) {
	p := url.Values{"file_id": {string(id)}, "new_parent_folder_id": {param(folder)}}
	return c.fileOp(ctx, "file/move", id, p, true)
}

// CopyFile copies a file into folder and returns the copy. It is not
// idempotent: a lost reply yields ErrTransient and the caller resolves it by
// listing folder.
func (c *Client) CopyFile(ctx context.Context, id, folder ID) (File, error) {
	p := url.Values{"file_id": {string(id)}, "copy_to_folder_id": {param(folder)}}
	env, err := c.call(ctx, "file/copy", p, false)
	if err != nil {
		return File{}, fmt.Errorf("copy file %s: %w", id, err)
	}
	f, err := decodeCopy(env)
	if err != nil {
		return File{}, badReply("file/copy", id, err)
	}
	return f, nil
}

// DeleteFile moves a file to the trash (the API has no permanent delete).
func (c *Client) DeleteFile(ctx context.Context, id ID) error {
	_, err := c.call(ctx, "file/delete", url.Values{"file_id": {string(id)}}, true)
	if err != nil {
		return fmt.Errorf("delete file %s: %w", id, err)
	}
	return nil
}

func (c *Client) fileOp(ctx context.Context, endpoint string, id ID, p url.Values, idempotent bool) (File, error) {
	if id == Root {
		return File{}, &APIError{Endpoint: endpoint, Message: "empty file id", Kind: ErrValidation}
	}
	env, err := c.call(ctx, endpoint, p, idempotent)
	if err != nil {
		return File{}, fmt.Errorf("file %s: %w", id, err)
	}
	f, err := decodeFile(env.data())
	if err != nil {
		return File{}, badReply(endpoint, id, err)
	}
	return f, nil
}

// checkName refuses names the service would trim or strip (api.md 1:
// every parameter is trimmed and has HTML tags stripped), so that a stored
// name always equals the requested one.
func checkName(endpoint, name string) error {
	switch {
	case name == "":
		return &APIError{Endpoint: endpoint, Message: "empty name", Kind: ErrValidation}
	case !utf8.ValidString(name):
		return &APIError{Endpoint: endpoint, Message: fmt.Sprintf("name %q is not UTF-8", name), Kind: ErrValidation}
	case strings.TrimSpace(name) != name:
		return &APIError{Endpoint: endpoint, Message: fmt.Sprintf("name %q has leading or trailing white space the server would trim", name), Kind: ErrValidation}
	case strings.ContainsAny(name, "<>") && reTags.MatchString(name):
		return &APIError{Endpoint: endpoint, Message: fmt.Sprintf("name %q contains markup the server would strip", name), Kind: ErrValidation}
	case strings.ContainsAny(name, "/\x00"):
		return &APIError{Endpoint: endpoint, Message: fmt.Sprintf("name %q contains / or NUL", name), Kind: ErrValidation}
	}
	return nil
}
