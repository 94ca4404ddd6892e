package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the tolerant decoding the live service requires
// (api.md 2-4, 12, 14): ids and numeric fields arrive as JSON strings
// on older PHP and as numbers on PHP 8.1+, "data" may be false or null, the
// status key is "_status" or "status", and a proxy may answer with HTML.
// Nothing here panics on any input; the fuzz targets hold it to that.

// flexString decodes a JSON string, number or boolean into its text; null
// and false decode to "".
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0, string(b) == "null", string(b) == "false":
		*s = ""
	case string(b) == "true":
		*s = "1"
	case b[0] == '"':
		if v, ok := plainString(b); ok {
			*s = flexString(v)
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		if json.Valid(b) {
			*s = flexString(b) // a number's text is itself
			return nil
		}
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*s = flexString(n.String())
	default:
		// Objects and arrays where a scalar belongs carry no usable value;
		// ignoring them keeps one odd field from failing a whole listing.
		*s = ""
	}
	return nil
}

// plainString returns the text of a JSON string literal that needs no
// decoding: no escape, no control character, valid UTF-8. Every field of
// every entry of a listing goes through flexString, and most are plain:
// taking their bytes as they are spares a full json.Unmarshal for each
// (the largest cost of decoding a listing of thousands of entries).
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// flexInt decodes a JSON number, a numeric string, a boolean, null or "" into
// an int64. Text that is not a number decodes to 0 rather than failing: the
// fields it is used for are informative counters and sizes, and a size that
// matters is checked against the content's own size elsewhere.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*n = flexInt(parseInt(string(s)))
	return nil
}

// parseInt parses an integer written as "123", "123.0" or "1e3"; anything
// else is 0.
func parseInt(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -9e18 && f <= 9e18 {
		return int64(f)
	}
	return 0
}

// envelope is a decoded reply: its status, message and raw keys.
type envelope struct {
	status  string // "success", "error" or "" when the reply has none
	message string // "response"
	keys    map[string]json.RawMessage
}

// data returns the reply's "data" value, or nil when it is absent, null or
// false.
func (e envelope) data() json.RawMessage { return nonEmpty(e.keys["data"]) }

func nonEmpty(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" || string(t) == "false" || string(t) == `""` {
		return nil
	}
	return t
}

// errNotJSON reports a body that is not a JSON object, typically an HTML
// page from a proxy.
type errNotJSON struct{ summary string }

func (e *errNotJSON) Error() string { return "reply is not JSON: " + e.summary }

// decodeEnvelope parses a reply body. A body that is not a JSON object
// yields *errNotJSON carrying a short, tag-free summary of the body.
func decodeEnvelope(body []byte) (envelope, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil || keys == nil {
		return envelope{}, &errNotJSON{summary: summarize(body)}
	}
	env := envelope{keys: keys}
	var st flexString
	raw, ok := keys["_status"]
	if !ok {
		raw, ok = keys["status"]
	}
	if ok && st.UnmarshalJSON(raw) == nil {
		env.status = strings.ToLower(strings.TrimSpace(string(st)))
	}
	var msg flexString
	if raw, ok := keys["response"]; ok && msg.UnmarshalJSON(raw) == nil {
		env.message = string(msg)
	}
	return env, nil
}

var (
	reTitle = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	reTags  = regexp.MustCompile(`(?s)<[^>]*>`)
	reSpace = regexp.MustCompile(`\s+`)
)

// summarize turns a non-JSON body into a short readable message: the HTML
// title when there is one, otherwise the text with tags removed.
func summarize(body []byte) string {
	const max = 160
	if len(body) > 64<<10 {
		body = body[:64<<10]
	}
	s := string(body)
	if m := reTitle.FindStringSubmatch(s); m != nil && strings.TrimSpace(m[1]) != "" {
		s = m[1]
	} else {
		s = reTags.ReplaceAllString(s, " ")
	}
	s = strings.TrimSpace(reSpace.ReplaceAllString(html.UnescapeString(s), " "))
	s = strings.ToValidUTF8(s, "?")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	if s == "" {
		s = "empty body"
	}
	return s
}

// wireFile covers every shape a file takes: listing entries, file/info,
// file/edit and upload replies.
type wireFile struct {
	ID         flexString `json:"id"`
	FileID     flexString `json:"file_id"`
	Filename   flexString `json:"filename"`
	Name       flexString `json:"name"`
	FileSize   flexInt    `json:"fileSize"`
	Size       flexInt    `json:"size"`
	FolderID   flexString `json:"folderId"`
	Status     flexString `json:"status"`
	FileStatus flexString `json:"file_status"`
	ShortURL   flexString `json:"shortUrl"`
	ShortURL2  flexString `json:"short_url"`
	Hash       flexString `json:"hash"`
}

func (w wireFile) file() File {
	f := File{
		ID:       ID(first(w.ID, w.FileID)),
		Name:     first(w.Filename, w.Name),
		Size:     int64(w.FileSize),
		FolderID: rootID(string(w.FolderID)),
		Status:   strings.ToLower(first(w.FileStatus, w.Status)),
		ShortURL: first(w.ShortURL, w.ShortURL2),
		MD5:      strings.ToLower(strings.TrimSpace(string(w.Hash))),
	}
	if f.Size == 0 {
		f.Size = int64(w.Size)
	}
	return f
}

func first(vs ...flexString) string {
	for _, v := range vs {
		if v != "" {
			return string(v)
		}
	}
	return ""
}

// rootID maps the server's spellings of "no folder" to Root.
func rootID(s string) ID {
	switch strings.TrimSpace(s) {
	case "", "0", "null", "NULL":
		return Root
	}
	return ID(strings.TrimSpace(s))
}

type wireFolder struct {
	ID               flexString `json:"id"`
	ParentID         flexString `json:"parentId"`
	FolderName       flexString `json:"folderName"`
	Status           flexString `json:"status"`
	FileCount        flexInt    `json:"file_count"`
	ChildFolderCount flexInt    `json:"child_folder_count"`
}

func (w wireFolder) folder() Folder {
	return Folder{
		ID:               ID(w.ID),
		ParentID:         rootID(string(w.ParentID)),
		Name:             string(w.FolderName),
		Status:           strings.ToLower(string(w.Status)),
		FileCount:        int(w.FileCount),
		ChildFolderCount: int(w.ChildFolderCount),
	}
}

// decodeList decodes a JSON array of objects, or an object whose values are
// objects (PHP emits an associative array as an object), or nothing.
func decodeList[T any](raw json.RawMessage) ([]T, error) {
	raw = nonEmpty(raw)
	if raw == nil {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		var out []T
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, err
		}
		return out, nil
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sortNumericKeys(keys)
		out := make([]T, 0, len(keys))
		for _, k := range keys {
			var v T
			if err := json.Unmarshal(m[k], &v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a list, got %.20q", raw)
}

func sortNumericKeys(keys []string) {
	less := func(a, b string) bool {
		ia, ea := strconv.Atoi(a)
		ib, eb := strconv.Atoi(b)
		if ea == nil && eb == nil {
			return ia < ib
		}
		return a < b
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && less(keys[j], keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// decodeObject decodes a single object; data that is an array (the upload
// reply) yields its first element.
func decodeObject[T any](raw json.RawMessage) (T, error) {
	var v T
	raw = nonEmpty(raw)
	switch {
	case raw == nil:
		return v, fmt.Errorf("reply has no data")
	case raw[0] == '{':
		err := json.Unmarshal(raw, &v)
		return v, err
	case raw[0] == '[':
		list, err := decodeList[T](raw)
		if err != nil {
			return v, err
		}
		if len(list) == 0 {
			return v, fmt.Errorf("reply has no data")
		}
		return list[0], nil
	}
	return v, fmt.Errorf("expected an object, got %.20q", raw)
}

func decodeListing(env envelope) (Listing, error) {
	var l Listing
	raw := env.data()
	if raw == nil {
		return l, nil
	}
	if raw[0] != '{' {
		return l, fmt.Errorf("listing data is not an object")
	}
	var d struct {
		Folders json.RawMessage `json:"folders"`
		Files   json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return l, err
	}
	folders, err := decodeList[wireFolder](d.Folders)
	if err != nil {
		return l, fmt.Errorf("folders: %w", err)
	}
	files, err := decodeList[wireFile](d.Files)
	if err != nil {
		return l, fmt.Errorf("files: %w", err)
	}
	for _, f := range folders {
		if f.ID == "" {
			continue
		}
		l.Folders = append(l.Folders, f.folder())
	}
	for _, f := range files {
		file := f.file()
		if file.ID == "" {
			continue
		}
		l.Files = append(l.Files, file)
	}
	return l, nil
}

func decodeFile(raw json.RawMessage) (File, error) {
	w, err := decodeObject[wireFile](raw)
	if err != nil {
		return File{}, err
	}
	f := w.file()
	if f.ID == "" {
		return File{}, fmt.Errorf("file without id")
	}
	return f, nil
}

func decodeFolder(raw json.RawMessage) (Folder, error) {
	w, err := decodeObject[wireFolder](raw)
	if err != nil {
		return Folder{}, err
	}
	f := w.folder()
	if f.ID == "" {
		return Folder{}, fmt.Errorf("folder without id")
	}
	return f, nil
}

type wirePackage struct {
	Label                flexString `json:"label"`
	MaxUploadSize        flexInt    `json:"max_upload_size"`
	CanUpload            flexString `json:"can_upload"`
	ConcurrentUploads    flexInt    `json:"concurrent_uploads"`
	ConcurrentDownloads  flexInt    `json:"concurrent_downloads"`
	WaitBetweenDownloads flexInt    `json:"wait_between_downloads"`
	DownloadsPer24Hours  flexInt    `json:"downloads_per_24_hours"`
	MaxDownloadFileSize  flexInt    `json:"max_download_filesize_allowed"`
	MaxStorageBytes      flexInt    `json:"max_storage_bytes"`
}

func decodeLimits(env envelope) (Limits, error) {
	w, err := decodeObject[wirePackage](env.data())
	if err != nil {
		return Limits{}, err
	}
	clamp := func(v flexInt) int64 { return max(int64(v), 0) }
	can := strings.TrimSpace(strings.ToLower(string(w.CanUpload)))
	return Limits{
		Label:                string(w.Label),
		MaxUploadSize:        clamp(w.MaxUploadSize),
		CanUpload:            can != "0" && can != "" && can != "false" && can != "no",
		ConcurrentUploads:    int(min(clamp(w.ConcurrentUploads), 1<<20)),
		ConcurrentDownloads:  int(min(clamp(w.ConcurrentDownloads), 1<<20)),
		WaitBetweenDownloads: time.Duration(min(clamp(w.WaitBetweenDownloads), 1<<30)) * time.Second,
		DownloadsPer24Hours:  int(min(clamp(w.DownloadsPer24Hours), 1<<30)),
		MaxDownloadFileSize:  clamp(w.MaxDownloadFileSize),
		MaxStorageBytes:      clamp(w.MaxStorageBytes),
	}, nil
}

type wireAccount struct {
	ID       flexString `json:"id"`
	Username flexString `json:"username"`
	LevelID  flexString `json:"level_id"`
	Email    flexString `json:"email"`
	Status   flexString `json:"status"`
}

func decodeAccount(env envelope) (AccountInfo, error) {
	w, err := decodeObject[wireAccount](env.data())
	if err != nil {
		return AccountInfo{}, err
	}
	return AccountInfo{
		ID:       ID(w.ID),
		Username: string(w.Username),
		LevelID:  string(w.LevelID),
		Email:    string(w.Email),
		Status:   string(w.Status),
	}, nil
}

type wireAuth struct {
	AccessToken flexString `json:"access_token"`
	AccountID   flexString `json:"account_id"`
}

func decodeAuth(env envelope) (token, account string, err error) {
	w, err := decodeObject[wireAuth](env.data())
	if err != nil {
		return "", "", err
	}
	if w.AccessToken == "" || w.AccountID == "" {
		return "", "", fmt.Errorf("authorize reply lacks access_token or account_id")
	}
	return string(w.AccessToken), string(w.AccountID), nil
}

type wireDownload struct {
	DownloadURL flexString `json:"download_url"`
}

func decodeDownloadURL(env envelope) (string, error) {
	w, err := decodeObject[wireDownload](env.data())
	if err != nil {
		return "", err
	}
	if w.DownloadURL == "" {
		return "", fmt.Errorf("reply has no download_url")
	}
	return string(w.DownloadURL), nil
}

// decodeCopy reads the new file of a file/copy reply:
// {"new_file":{"data":{...}}}; a bare "data" is accepted too.
func decodeCopy(env envelope) (File, error) {
	if raw := nonEmpty(env.keys["new_file"]); raw != nil && raw[0] == '{' {
		var nf struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(raw, &nf); err != nil {
			return File{}, err
		}
		if nonEmpty(nf.Data) != nil {
			return decodeFile(nf.Data)
		}
		return decodeFile(raw)
	}
	return decodeFile(env.data())
}
