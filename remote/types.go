package remote

import (
	"errors"
	"fmt"
	"time"
)

// ID is a file or folder id as the service returns it, decoded from a JSON
// string or number. Root ("") is the account's root folder.
type ID string

// Root is the account's root folder.
const Root ID = ""

// Status values of files and folders.
const (
	StatusActive  = "active"
	StatusTrash   = "trash"
	StatusDeleted = "deleted"
)

// File is a file of the account as a listing, file/info, or an upload reply
// describes it.
type File struct {
	ID       ID
	Name     string // stored name, exactly as the server holds it
	Size     int64
	FolderID ID     // Root when in the root (and for trashed files)
	Status   string // StatusActive, StatusTrash, StatusDeleted
	ShortURL string
	MD5      string // lower-case hex; only upload replies carry it, "" otherwise
}

// Active reports whether the file is live (not trashed or deleted).
func (f File) Active() bool { return f.Status == "" || f.Status == StatusActive }

// Folder is a folder of the account.
type Folder struct {
	ID               ID
	ParentID         ID // Root for top-level (and trashed top) folders
	Name             string
	Status           string // "" when the server does not say
	FileCount        int
	ChildFolderCount int
}

// Active reports whether the folder is live.
func (f Folder) Active() bool { return f.Status == "" || f.Status == StatusActive }

// Listing is the content of one folder. It includes trashed entries exactly
// as the server lists them; callers filter with Active.
type Listing struct {
	Folders []Folder
	Files   []File
}

// Limits are the account's package restrictions. Zero means unlimited for
// every numeric field.
type Limits struct {
	Label                string
	MaxUploadSize        int64
	CanUpload            bool
	ConcurrentUploads    int
	ConcurrentDownloads  int
	WaitBetweenDownloads time.Duration
	DownloadsPer24Hours  int
	MaxDownloadFileSize  int64
	MaxStorageBytes      int64
}

// AccountInfo is what /account/info says of the account.
type AccountInfo struct {
	ID       ID
	Username string
	LevelID  string
	Email    string
	Status   string
}

// Error classes; see the package documentation.
var (
	ErrBadKeys      = errors.New("key pair refused")
	ErrNoAPIAccess  = errors.New("account level has no API access")
	ErrTokenInvalid = errors.New("access token invalid")
	ErrNotFound     = errors.New("not found")
	ErrRateLimited  = errors.New("rate limited")
	ErrTransient    = errors.New("transient failure")
	ErrValidation   = errors.New("request refused")
)

// APIError is a failure the server (or a proxy in front of it) reported.
type APIError struct {
	Endpoint   string        // e.g. "file/upload"
	Message    string        // the server's message, or a summary of a non-JSON body
	HTTPStatus int           // the HTTP status, 200 for application errors
	RetryAfter time.Duration // from a Retry-After header, 0 when absent
	Kind       error         // one of the Err* sentinels
}

func (e *APIError) Error() string {
	if e.HTTPStatus != 0 && e.HTTPStatus != 200 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Endpoint, e.HTTPStatus, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Endpoint, e.Message)
}

// Unwrap lets errors.Is match the error class.
func (e *APIError) Unwrap() error { return e.Kind }
