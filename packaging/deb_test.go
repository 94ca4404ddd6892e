package packaging

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScriptsParse checks the maintainer scripts with the shell Debian runs
// them with; cheap enough for -short.
func TestScriptsParse(t *testing.T) {
	sh, err := exec.LookPath("dash")
	if err != nil {
		sh = "/bin/sh"
	}
	scripts, err := filepath.Glob("scripts/*.sh")
	if err != nil || len(scripts) != 4 {
		t.Fatalf("scripts: %v %v", scripts, err)
	}
	for _, s := range append(scripts, "build.sh", "test-install.sh") {
		shell := sh
		if s == "build.sh" || s == "test-install.sh" {
			shell = "bash"
		}
		if out, err := exec.Command(shell, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, s, err, out)
		}
	}
}

// TestBuildDeb runs the one documented build command and inspects the .deb
// with dpkg-deb: files, owners and modes, conffiles, maintainer scripts, and
// the version stamped into the binary; and the .rpm with rpm when installed.
func TestBuildDeb(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: building the .deb compiles syncd and runs nfpm (about a minute)")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed: cannot inspect the package")
	}
	dist := t.TempDir()
	packages := "deb"
	_, rpmErr := exec.LookPath("rpm")
	if rpmErr == nil {
		packages = "deb rpm"
	}
	cmd := exec.Command("./build.sh", "1.2.3-rc.1")
	cmd.Env = append(os.Environ(), "DIST="+dist, "PACKAGES="+packages)
	if out, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "proxy.golang.org") && strings.Contains(string(out), "dial tcp") {
			t.Skipf("cannot download nfpm (no network to the Go module proxy):\n%s", out)
		}
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("want one .deb in %s, got %v", dist, debs)
	}
	deb := debs[0]

	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	listing := map[string]string{} // path -> "mode owner/group"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("odd dpkg-deb -c line %q", line)
		}
		listing[strings.TrimSuffix(strings.TrimPrefix(f[len(f)-1], "."), "/")] = f[0] + " " + f[1]
	}
	for path, want := range map[string]string{
		"/usr/bin/syncd":                    "-rwxr-xr-x root/root",
		"/lib/systemd/system/syncd.service": "-rw-r--r-- root/root",
		"/etc/syncd":                        "drwxr-x--- root/syncd",
		"/etc/syncd/config.yaml":            "-rw-r----- root/syncd",
		"/var/lib/syncd":                    "drwxr-x--- syncd/syncd",
		"/usr/share/doc/syncd/README.md.gz": "-rw-r--r-- root/root",
		"/usr/share/doc/syncd/changelog.gz": "-rw-r--r-- root/root",
		"/usr/share/doc/syncd/copyright":    "-rw-r--r-- root/root",
		"/usr/share/man/man1/syncd.1.gz":    "-rw-r--r-- root/root",
	} {
		if got := listing[path]; got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}

	ctl := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if got := readFile(t, filepath.Join(ctl, "conffiles")); strings.TrimSpace(got) != "/etc/syncd/config.yaml" {
		t.Errorf("conffiles = %q", got)
	}
	control := readFile(t, filepath.Join(ctl, "control"))
	for _, re := range []string{`(?m)^Package: syncd$`, `(?m)^Version: 1\.2\.3~rc\.1$`, `(?m)^Architecture: \w+$`} {
		if !regexp.MustCompile(re).MatchString(control) {
			t.Errorf("control lacks %s:\n%s", re, control)
		}
	}
	for deb, src := range map[string]string{"preinst": "preinstall.sh", "postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
		if readFile(t, filepath.Join(ctl, deb)) != readFile(t, filepath.Join("scripts", src)) {
			t.Errorf("%s is not scripts/%s", deb, src)
		}
	}

	// The packaged files are the committed ones.
	root := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	if readFile(t, filepath.Join(root, "lib/systemd/system/syncd.service")) != readFile(t, "systemd/syncd.service") {
		t.Error("packaged unit differs from systemd/syncd.service")
	}
	if readFile(t, filepath.Join(root, "etc/syncd/config.yaml")) != readFile(t, "../config.example.yaml") {
		t.Error("packaged config differs from config.example.yaml")
	}
	// Documentation as Debian policy wants it: compressed with gzip -9n (no
	// name, no time stamp), copyright plain.
	for packaged, src := range map[string]string{
		"usr/share/doc/syncd/README.md.gz": "../README.md",
		"usr/share/man/man1/syncd.1.gz":    "syncd.1",
	} {
		if gunzip(t, filepath.Join(root, packaged)) != readFile(t, src) {
			t.Errorf("%s is not %s", packaged, src)
		}
	}
	if readFile(t, filepath.Join(root, "usr/share/doc/syncd/copyright")) != readFile(t, "copyright") {
		t.Error("packaged copyright differs from packaging/copyright")
	}
	if cl := gunzip(t, filepath.Join(root, "usr/share/doc/syncd/changelog.gz")); !strings.HasPrefix(cl, "syncd 1.2.3-rc.1 (") || !strings.Contains(cl, "\n  * ") {
		t.Errorf("changelog:\n%.300s", cl)
	}
	if man, err := exec.Command("man", "-l", filepath.Join(root, "usr/share/man/man1/syncd.1.gz")).CombinedOutput(); err == nil {
		if !strings.Contains(string(man), "syncd service unit") {
			t.Errorf("man -l syncd.1.gz:\n%s", man)
		}
	} else {
		t.Logf("man not available to render the page: %v", err)
	}
	ver, err := exec.Command(filepath.Join(root, "usr/bin/syncd"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(ver), "syncd 1.2.3-rc.1 ") {
		t.Errorf("syncd version: %v: %s", err, ver)
	}

	if rpmErr != nil {
		t.Log("rpm not installed: the .rpm was not built or inspected")
		return
	}
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	if len(rpms) != 1 {
		t.Fatalf("want one .rpm in %s, got %v", dist, rpms)
	}
	query := func(args ...string) string {
		out, err := exec.Command("rpm", append([]string{"-qp"}, append(args, rpms[0])...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Flags "cn": %config(noreplace).
	files := query("--qf", `[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]`)
	for _, want := range []string{
		" -rwxr-xr-x root:root /usr/bin/syncd\n",
		" -rw-r--r-- root:root /lib/systemd/system/syncd.service\n",
		"cn -rw-r----- root:syncd /etc/syncd/config.yaml\n",
		" drwxr-x--- syncd:syncd /var/lib/syncd\n",
	} {
		if !strings.Contains(files, want) {
			t.Errorf("rpm lacks %q in:\n%s", want, files)
		}
	}
	scripts := query("--scripts")
	for _, src := range []string{"preinstall.sh", "postinstall.sh", "preremove.sh", "postremove.sh"} {
		body := strings.TrimSpace(readFile(t, filepath.Join("scripts", src)))
		if !strings.Contains(scripts, body) {
			t.Errorf("rpm scriptlets lack scripts/%s", src)
		}
	}
	if got := query("--qf", "%{NAME} %{VERSION}"); got != "syncd 1.2.3~rc.1" {
		t.Errorf("rpm name and version %q", got)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gunzip reads a gzip file made with gzip -9n: no file name, no time stamp.
func gunzip(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s carries a name %q or time %v: not gzip -9n", name, zr.Name, zr.ModTime)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}
