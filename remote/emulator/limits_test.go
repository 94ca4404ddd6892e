package emulator_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"

	"github.com/syncd/syncd/remote/emulator"
)

func TestUploadLimits(t *testing.T) {
	a := emulator.DefaultAccount()
	a.MaxUploadSize = 10
	a.StorageLimit = 25
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a} })
	s := e.login()
	prefix := "Error on: " + e.ts.URL + "/api_upload_handler. "

	if m := e.upload(s, "", "big", bytes.Repeat([]byte("b"), 11)); m["response"] != prefix+"maxFileSize" {
		t.Fatalf("too big: %v", m)
	}
	e.uploadOK(s, "", "a", bytes.Repeat([]byte("a"), 10))
	e.uploadOK(s, "", "b", bytes.Repeat([]byte("b"), 10))
	if m := e.upload(s, "", "c", bytes.Repeat([]byte("c"), 6)); m["response"] != prefix+"You have reached the maximum storage allowed for your account." {
		t.Fatalf("storage: %v", m)
	}
	// Trashed files still use storage: there is no permanent delete.
	_, files := e.listing(s, "")
	e.mustOK("file/delete", s.form("file_id", str(files[0]["id"])))
	if m := e.upload(s, "", "c", bytes.Repeat([]byte("c"), 6)); m["_status"] != "error" {
		t.Fatalf("storage after trash: %v", m)
	}
	e.uploadOK(s, "", "c", bytes.Repeat([]byte("c"), 5))

	// Zero size is checked before the limits.
	if m := e.upload(s, "", "z", []byte{}); m["response"] != "Filesize received was zero." {
		t.Fatalf("zero: %v", m)
	}

	noUp := emulator.DefaultAccount()
	noUp.CanUpload = false
	e2 := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{noUp} })
	s2 := e2.login()
	if m := e2.upload(s2, "", "x", []byte("x")); m["response"] != "Error on: "+e2.ts.URL+"/api_upload_handler. You do not have permission to upload files." {
		t.Fatalf("can_upload=0: %v", m)
	}

	off := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a}; o.IgnoreLimits = true })
	so := off.login()
	off.uploadOK(so, "", "big", bytes.Repeat([]byte("b"), 100))
}

// TestConcurrentUploadLimit holds one upload open mid-body and checks that a
// second one is refused as busy while the first is in flight.
func TestConcurrentUploadLimit(t *testing.T) {
	a := emulator.DefaultAccount()
	a.ConcurrentUploads = 1
	e := newEnv(t, func(o *emulator.Options) { o.Accounts = []emulator.Account{a} })
	s := e.login()

	pr, pw := io.Pipe()
	defer pw.CloseWithError(io.ErrUnexpectedEOF) // never leave the first request hanging
	mw := multipart.NewWriter(pw)
	done := make(chan map[string]any, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, e.url("file/upload"), pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			done <- map[string]any{"err": err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- decodeQuiet(b)
	}()
	mw.WriteField("access_token", s.token)
	mw.WriteField("account_id", s.account)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="upload_file"; filename="slow.bin"`)
	part, _ := mw.CreatePart(h)
	part.Write(bytes.Repeat([]byte("s"), 64<<10))
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.UploadsInFlight(a.ID) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the first upload never reached its file part")
		}
		time.Sleep(time.Millisecond)
	}

	m := e.upload(s, "", "second.bin", []byte("2"))
	if m["response"] != "Error on: "+e.ts.URL+"/api_upload_handler. Maximum concurrent uploads reached, please wait for one to finish." {
		t.Fatalf("second upload while the first is in flight: %v", m)
	}
	mw.Close()
	pw.Close()
	if first := <-done; first["_status"] != "success" {
		t.Fatalf("first upload: %v", first)
	}
	if n := e.srv.UploadsInFlight(a.ID); n != 0 {
		t.Fatalf("%d uploads in flight after both ended", n)
	}
	// The slot is free again.
	e.uploadOK(s, "", "third.bin", []byte("3"))
	if n := len(e.srv.Dump(a.ID)); n != 2 {
		t.Fatalf("dump has %d entries, want 2", n)
	}
}
