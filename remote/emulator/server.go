package emulator

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Server is the emulator: an http.Handler over a DataDir. Safe for
// concurrent use.
type Server struct {
	opts     Options
	log      *zap.Logger
	now      func() time.Time
	ttl      time.Duration
	lockout  int
	postMax  int64
	db       *bolt.DB
	blobDir  string
	tmpDir   string
	accounts map[int64]*Account
	byKeys   map[string]*Account

	mu        sync.Mutex
	closed    bool
	ids       idCounters
	files     map[int64]*fileRec
	byFolder  map[folderKey]map[int64]*fileRec // files (any status) by account and folder
	folders   map[int64]*folderRec
	tokens    map[string]*tokenRec
	dlTokens  map[string]*dlTokenRec
	sessions  map[string]int64
	failures  map[string][]time.Time // client IP -> failed authorizations
	limiters  map[string]*rate.Limiter
	lastLogin map[int64]loginInfo

	storageUsed     map[int64]int64
	uploadsActive   map[int64]int
	downloadsActive map[int64]int
	downloadTimes   map[int64][]time.Time
	faults          []*Fault
	rnd             *rand.Rand

	inflight sync.WaitGroup

	countMu sync.Mutex
	served  map[string]int64 // requests by endpoint ("dl" for downloads, "429" for refusals)
}

type loginInfo struct {
	at time.Time
	ip string
}

// New opens (or creates) the emulator's store under opts.DataDir.
func New(opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("emulator: Options.DataDir is required")
	}
	if len(opts.Accounts) == 0 {
		opts.Accounts = []Account{DefaultAccount()}
	}
	s := &Server{
		opts:            opts,
		log:             opts.Logger,
		now:             opts.Now,
		ttl:             opts.TokenTTL,
		lockout:         opts.Lockout,
		postMax:         opts.PostMaxSize,
		blobDir:         filepath.Join(opts.DataDir, "files"),
		tmpDir:          filepath.Join(opts.DataDir, "tmp"),
		accounts:        make(map[int64]*Account),
		byKeys:          make(map[string]*Account),
		files:           make(map[int64]*fileRec),
		byFolder:        make(map[folderKey]map[int64]*fileRec),
		folders:         make(map[int64]*folderRec),
		tokens:          make(map[string]*tokenRec),
		dlTokens:        make(map[string]*dlTokenRec),
		sessions:        make(map[string]int64),
		failures:        make(map[string][]time.Time),
		limiters:        make(map[string]*rate.Limiter),
		lastLogin:       make(map[int64]loginInfo),
		storageUsed:     make(map[int64]int64),
		uploadsActive:   make(map[int64]int),
		downloadsActive: make(map[int64]int),
		downloadTimes:   make(map[int64][]time.Time),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.ttl == 0 {
		s.ttl = defaultTokenTTL
	}
	if s.lockout == 0 {
		s.lockout = defaultLockout
	}
	if s.postMax == 0 {
		s.postMax = defaultPostMaxSize
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range opts.Accounts {
		a := &opts.Accounts[i]
		if a.ID <= 0 {
			return nil, fmt.Errorf("emulator: account %q: id must be positive", a.Username)
		}
		if len(a.Key1) != 64 || len(a.Key2) != 64 {
			return nil, fmt.Errorf("emulator: account %d: key1 and key2 must be 64 characters", a.ID)
		}
		if _, dup := s.accounts[a.ID]; dup {
			return nil, fmt.Errorf("emulator: account %d: duplicate id", a.ID)
		}
		k := a.Key1 + "\x00" + a.Key2
		if _, dup := s.byKeys[k]; dup {
			return nil, fmt.Errorf("emulator: account %d: duplicate key pair", a.ID)
		}
		s.accounts[a.ID] = a
		s.byKeys[k] = a
	}
	for _, d := range []string{s.blobDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
	}
	// Leftovers of uploads cut by a crash are never referenced.
	if ents, err := os.ReadDir(s.tmpDir); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(s.tmpDir, e.Name()))
		}
	}
	db, err := openDB(filepath.Join(opts.DataDir, "emulator.db"), opts.NoSync)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("emulator: load %s: %w", opts.DataDir, err)
	}
	return s, nil
}

// Close waits for requests in progress and closes the store. Requests after
// Close are answered 503.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.mu.Lock()
	ferr := s.flushTokens()
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("emulator: close: %w", err)
	}
	if ferr != nil {
		return fmt.Errorf("emulator: close: token timers: %w", ferr)
	}
	return nil
}

// request is one API call with its cleaned parameters.
type request struct {
	r        *http.Request
	endpoint string
	p        map[string]string
	upload   *uploadedFile
	ip       string
	base     string // scheme://host of this server, for URLs in replies

	setCookie *http.Cookie
}

func (q *request) has(name string) bool { return q.p[name] != "" }

type uploadedFile struct {
	tmp     string // the spooled content, or "" with the content in data
	data    []byte
	name    string // as the client sent it, before renaming
	ctype   string
	size    int64
	md5     string
	busy    bool // an upload slot was not free when the body started
	release func()
}

type reply struct {
	body obj    // success keys, before _status/_datetime
	err  string // error message; the reply is an error when set
}

func fail(msg string) reply      { return reply{err: msg} }
func success(fields ...kv) reply { return reply{body: fields} }

// route returns the handler of an API endpoint, nil when unknown.
func (s *Server) route(endpoint string) func(*request) reply {
	switch endpoint {
	case "authorize":
		return s.authorize
	case "disable_access_token":
		return s.disableAccessToken
	case "account/info":
		return s.accountInfo
	case "account/package":
		return s.accountPackage
	case "file/upload":
		return s.fileUpload
	case "file/download":
		return s.fileDownload
	case "file/info":
		return s.fileInfo
	case "file/edit":
		return s.fileEdit
	case "file/delete":
		return s.fileDelete
	case "file/move":
		return s.fileMove
	case "file/copy":
		return s.fileCopy
	case "folder/create":
		return s.folderCreate
	case "folder/listing":
		return s.folderListing
	case "folder/info":
		return s.folderInfo
	case "folder/edit":
		return s.folderEdit
	case "folder/delete":
		return s.folderDelete
	case "folder/move":
		return s.folderMove
	}
	return nil
}

const (
	apiPrefix = "/api/v2/"
	dlPrefix  = "/dl/"
	errorPath = "/error"
)

func (s *Server) count(endpoint string) {
	s.countMu.Lock()
	if s.served == nil {
		s.served = make(map[string]int64)
	}
	s.served[endpoint]++
	s.countMu.Unlock()
}

// Requests returns how many requests the server received, by endpoint
// ("dl" counts download-host requests, "429" the requests refused by the
// rate limit, which are also counted under their endpoint): benchmarks
// report requests per file from it.
func (s *Server) Requests() map[string]int64 {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return maps.Clone(s.served)
}

// ServeHTTP serves the API, the download host and its error page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		htmlError(w, http.StatusServiceUnavailable, "Service Unavailable", 0)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()

	path := r.URL.Path
	var endpoint string
	switch {
	case strings.HasPrefix(path, apiPrefix):
		endpoint = strings.Trim(path[len(apiPrefix):], "/")
	case strings.HasPrefix(path, dlPrefix):
		endpoint = "dl"
	case path == errorPath:
		s.serveErrorPage(w, r)
		return
	default:
		htmlError(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		htmlError(w, http.StatusMethodNotAllowed, "Method Not Allowed", 0)
		return
	}
	s.count(endpoint)
	fault := s.takeFault(endpoint)
	delay := s.opts.Latency
	if fault != nil {
		delay += fault.Latency
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fault != nil && fault.Status != 0 {
		htmlError(w, fault.Status, http.StatusText(fault.Status), fault.RetryAfter)
		return
	}
	if code := s.randomFailure(); code != 0 {
		htmlError(w, code, http.StatusText(code), 0)
		return
	}
	if endpoint == "dl" {
		s.serveDownload(w, r, fault != nil && fault.DropReply)
		return
	}
	h := s.route(endpoint)
	if h == nil {
		htmlError(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	q := &request{r: r, endpoint: endpoint, ip: clientIP(r), base: baseURL(r)}
	if err := s.readParams(q); err != nil {
		s.log.Debug("read request", zap.String("endpoint", endpoint), zap.Error(err))
		if q.upload != nil {
			q.upload.discard()
		}
		// A broken body (client gone) gets no useful reply.
		htmlError(w, http.StatusBadRequest, "Bad Request", 0)
		return
	}
	if q.upload != nil {
		defer q.upload.discard()
	}
	if fault != nil && fault.StoreDelay > 0 {
		time.Sleep(fault.StoreDelay) // deaf to the client on purpose
	}
	if fault != nil && fault.StealToken {
		s.stealToken(q)
	}
	if wait, limited := s.rateLimited(q); limited {
		s.count("429")
		htmlError(w, http.StatusTooManyRequests, "Too Many Requests", wait)
		return
	}
	rep := h(q)
	if q.upload != nil {
		q.upload.discard() // frees the upload slot before the client hears back
	}
	if fault != nil && fault.DropReply {
		// Applied, but the client never hears of it.
		panic(http.ErrAbortHandler)
	}
	if q.setCookie != nil {
		http.SetCookie(w, q.setCookie)
	}
	s.writeReply(w, rep)
}

func (s *Server) writeReply(w http.ResponseWriter, rep reply) {
	dt := s.now().Format("2006-01-02 15:04:05")
	var body obj
	if rep.err != "" {
		key := "_status"
		if s.opts.LegacyStatusKey {
			key = "status"
		}
		body = obj{{"response", rep.err}, {key, "error"}, {"_datetime", dt}}
	} else {
		body = append(rep.body, kv{"_status", "success"}, kv{"_datetime", dt})
	}
	var buf bytes.Buffer
	encodePHP(&buf, body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// htmlError answers as a proxy or CDN in front of the service would.
func htmlError(w http.ResponseWriter, code int, title string, retryAfter time.Duration) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
		code, title, code, title)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// readParams gathers parameters as PHP's $_REQUEST would: the query string,
// overridden by an urlencoded or multipart body. A body above the post limit
// is dropped whole (api.md 5); JSON bodies are ignored.
func (s *Server) readParams(q *request) error {
	r := q.r
	q.p = make(map[string]string)
	for k, vs := range r.URL.Query() {
		q.p[k] = cleanParam(vs[len(vs)-1])
	}
	if r.Method != http.MethodPost {
		return nil
	}
	mt, mp, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil
	}
	if s.postMax > 0 && r.ContentLength > s.postMax {
		// PHP reads and drops the whole body; so do we, so that the client
		// can finish sending and read the reply.
		io.Copy(io.Discard, r.Body)
		return nil
	}
	body := &limitedBody{r: r.Body, left: s.postMax}
	if s.postMax < 0 {
		body.left = math.MaxInt64
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if errors.Is(err, errPostTooLarge) {
			io.Copy(io.Discard, r.Body)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil // PHP keeps what parses; a broken body yields nothing useful
		}
		for k, vs := range vals {
			q.p[k] = cleanParam(vs[len(vs)-1])
		}
	case "multipart/form-data":
		boundary := mp["boundary"]
		if boundary == "" {
			return nil
		}
		// A large read buffer: multipart's own is 4 KiB, which would turn a
		// big upload into a syscall per 4 KiB.
		fields, up, err := s.readMultipart(bufio.NewReaderSize(body, 256<<10), boundary, q.p["account_id"])
		if errors.Is(err, errPostTooLarge) {
			if up != nil {
				up.discard()
			}
			io.Copy(io.Discard, r.Body)
			return nil
		}
		if err != nil {
			// A malformed or cut body: PHP keeps the fields it parsed and
			// reports no file.
			s.log.Debug("multipart body", zap.String("endpoint", q.endpoint), zap.Error(err))
			if up != nil {
				up.discard()
				up = nil
			}
		}
		for k, v := range fields {
			q.p[k] = v
		}
		q.upload = up
	}
	return nil
}

var errPostTooLarge = errors.New("request body over the post limit")

type limitedBody struct {
	r    io.Reader
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe: a body that ends exactly at the limit is fine.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, errPostTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

const maxFieldSize = 1 << 20

// readMultipart streams a multipart body: fields into memory (each capped),
// the first non-empty "upload_file" part into a temp file with its MD5.
func (s *Server) readMultipart(body io.Reader, boundary, queryAccount string) (map[string]string, *uploadedFile, error) {
	mr := multipart.NewReader(body, boundary)
	fields := make(map[string]string)
	var up *uploadedFile
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return fields, up, nil
		}
		if err != nil {
			return fields, up, fmt.Errorf("multipart: %w", err)
		}
		_, dp, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		name := dp["name"]
		filename, isFile := dp["filename"]
		if !isFile {
			b, err := io.ReadAll(io.LimitReader(part, maxFieldSize))
			if err != nil {
				return fields, up, fmt.Errorf("multipart field %q: %w", name, err)
			}
			fields[name] = cleanParam(string(b))
			continue
		}
		if name != "upload_file" || up != nil || filename == "" {
			if _, err := io.Copy(io.Discard, part); err != nil {
				return fields, up, fmt.Errorf("multipart part %q: %w", name, err)
			}
			continue
		}
		acct := fields["account_id"]
		if acct == "" {
			acct = queryAccount
		}
		up = &uploadedFile{name: filename, ctype: part.Header.Get("Content-Type")}
		up.busy, up.release = s.acquireUploadSlot(phpInt(acct))
		if err := s.spool(up, part); err != nil {
			return fields, up, err
		}
	}
}

// spoolInMemory is the part size up to which an upload's content is held
// in memory until it is stored: a temporary file and its rename cost more
// (kernel) CPU than the whole rest of a small upload.
const spoolInMemory = 256 << 10

func (s *Server) spool(up *uploadedFile, part io.Reader) error {
	h := md5.New()
	head := make([]byte, 0, 32<<10)
	buf := bytes.NewBuffer(head)
	n, err := io.Copy(io.MultiWriter(buf, h), io.LimitReader(part, spoolInMemory+1))
	if err != nil {
		return fmt.Errorf("spool upload %q: %w", up.name, err)
	}
	if n <= spoolInMemory {
		up.data, up.size, up.md5 = buf.Bytes(), n, hexSum(h)
		return nil
	}
	f, err := os.CreateTemp(s.tmpDir, "up-*")
	if err != nil {
		return fmt.Errorf("spool upload %q: %w", up.name, err)
	}
	up.tmp = f.Name()
	// multipart hands out at most 4 KiB a read: batch the file writes.
	bw := bufio.NewWriterSize(f, 256<<10)
	_, err = bw.Write(buf.Bytes())
	if err == nil {
		var m int64
		m, err = io.Copy(io.MultiWriter(bw, h), part)
		n += m
	}
	if err == nil {
		err = bw.Flush()
	}
	cerr := f.Close()
	if err != nil {
		return fmt.Errorf("spool upload %q: %w", up.name, err)
	}
	if cerr != nil {
		return fmt.Errorf("spool upload %q: %w", up.name, cerr)
	}
	up.size = n
	up.md5 = hexSum(h)
	return nil
}

// store puts the upload's content at path.
func (up *uploadedFile) store(path string) error {
	if up.tmp == "" {
		// No fsync, as for a spooled file: the record written after it
		// is what makes the file exist; a crash before leaves a blob no
		// record names, overwritten by the next upload of that id.
		return os.WriteFile(path, up.data, 0o600)
	}
	if err := os.Rename(up.tmp, path); err != nil {
		return err
	}
	up.tmp = ""
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// discard removes an upload that was not accepted and frees its slot.
func (up *uploadedFile) discard() {
	if up.tmp != "" {
		os.Remove(up.tmp)
		up.tmp = ""
	}
	up.data = nil
	if up.release != nil {
		up.release()
		up.release = nil
	}
}

func (s *Server) acquireUploadSlot(acct int64) (busy bool, release func()) {
	if acct <= 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[acct]
	s.uploadsActive[acct]++
	busy = a != nil && a.ConcurrentUploads > 0 && s.uploadsActive[acct] > a.ConcurrentUploads
	var once sync.Once
	return busy, func() {
		once.Do(func() {
			s.mu.Lock()
			s.uploadsActive[acct]--
			s.mu.Unlock()
		})
	}
}

func (s *Server) randomFailure() int {
	if s.opts.FailRate <= 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rnd.Float64() >= s.opts.FailRate {
		return 0
	}
	return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[s.rnd.IntN(3)]
}

// rateLimited applies the per-account (per-IP before authorization) limit.
func (s *Server) rateLimited(q *request) (time.Duration, bool) {
	if s.opts.RateLimit <= 0 {
		return 0, false
	}
	key := "ip:" + q.ip
	if a := q.p["account_id"]; a != "" && q.endpoint != "authorize" {
		key = "acct:" + a
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.limiters[key]
	if lim == nil {
		burst := int(math.Ceil(s.opts.RateLimit))
		lim = rate.NewLimiter(rate.Limit(s.opts.RateLimit), burst)
		s.limiters[key] = lim
	}
	if lim.AllowN(now, 1) {
		return 0, false
	}
	res := lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	res.CancelAt(now)
	if wait < time.Second {
		wait = time.Second
	}
	return wait, true
}

func (s *Server) numOrStr(n int64) any {
	if s.opts.NumberIDs {
		return n
	}
	return strconv.FormatInt(n, 10)
}

// idOrNull encodes a parent or folder id; 0 (root) is null.
func (s *Server) idOrNull(n int64) any {
	if n == 0 {
		return nil
	}
	return s.numOrStr(n)
}

func fmtTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format("2006-01-02 15:04:05")
}

const alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func (s *Server) randString(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[s.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// shortURL derives a file's short url from its id (base 62), so it is unique.
func shortURL(id int64) string {
	if id == 0 {
		return "0"
	}
	var b []byte
	for n := id; n > 0; n /= 62 {
		b = append(b, alnum[n%62])
	}
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
