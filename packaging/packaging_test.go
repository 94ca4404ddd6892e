package packaging

import (
	"encoding/xml"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// directives parses a unit file into section -> key -> values, skipping
// comments, so tests assert what systemd will read rather than text.
func directives(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, line := range strings.Split(unit, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("line %d %q is not a directive in a section", i+1, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func one(t *testing.T, d map[string]map[string][]string, section, key string) string {
	t.Helper()
	v := d[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s = %q, want exactly one value", section, key, v)
	}
	return v[0]
}

// TestCommittedFilesMatchTemplates keeps the packaged unit and plist equal to
// what the templates render: run `go generate ./packaging` after editing.
func TestCommittedFilesMatchTemplates(t *testing.T) {
	unit, err := GeneratedSystemd()
	if err != nil {
		t.Fatal(err)
	}
	plist, err := PackagedLaunchd()
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"systemd/syncd.service": unit, "launchd/" + LaunchdLabel + ".plist": plist} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s differs from its template: run `go generate ./packaging`", file)
		}
	}
}

func TestPackagedUnit(t *testing.T) {
	unit, err := GeneratedSystemd()
	if err != nil {
		t.Fatal(err)
	}
	d := directives(t, unit)
	want := map[string]map[string]string{
		"Unit": {"After": "network-online.target", "Wants": "network-online.target"},
		"Service": {
			"ExecStart": "/usr/bin/syncd run -config /etc/syncd/config.yaml",
			"User":      "syncd", "Group": "syncd",
			"ProtectSystem": "strict", "ProtectHome": "read-only", "PrivateTmp": "yes",
			"NoNewPrivileges": "yes", "Restart": "on-failure", "RestartSec": "10s",
			"RestartPreventExitStatus": "2", "StateDirectory": "syncd",
			"EnvironmentFile": "-/etc/syncd/env", "CapabilityBoundingSet": "",
		},
		"Install": {"WantedBy": "multi-user.target"},
	}
	for section, kv := range want {
		for k, v := range kv {
			if got := one(t, d, section, k); got != v {
				t.Errorf("[%s] %s = %q, want %q", section, k, got, v)
			}
		}
	}
	if _, ok := d["Service"]["ReadWritePaths"]; ok {
		t.Error("the packaged unit cannot know the pairs' roots, yet has ReadWritePaths")
	}
	if !strings.Contains(unit, "syncd service unit -dropin") {
		t.Error("the packaged unit does not tell how to make local roots writable")
	}
}

func TestInstalledUnitQuotesPaths(t *testing.T) {
	unit, err := Systemd(Unit{
		Executable:     "/opt/sync d/syncd",
		ConfigPath:     "/etc/syncd/100%.yaml",
		User:           "backup",
		ReadWritePaths: []string{"/srv/data/", "/home/ann/My Files", "/var/lib/custom-state"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := directives(t, unit)
	if got := one(t, d, "Service", "ExecStart"); got != `"/opt/sync d/syncd" run -config /etc/syncd/100%%.yaml` {
		t.Errorf("ExecStart = %s", got)
	}
	if got := one(t, d, "Service", "User") + ":" + one(t, d, "Service", "Group"); got != "backup:backup" {
		t.Errorf("User:Group = %s", got)
	}
	got := d["Service"]["ReadWritePaths"]
	want := []string{"-/srv/data", `-"/home/ann/My Files"`, "-/var/lib/custom-state"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ReadWritePaths = %q, want %q", got, want)
	}
	if strings.Contains(unit, "systemctl edit") {
		t.Error("a unit with its roots still carries the instructions for adding them")
	}
}

func TestUserUnit(t *testing.T) {
	unit, err := Systemd(Unit{Executable: "/home/ann/bin/syncd", ConfigPath: "/home/ann/.config/syncd/config.yaml", UserService: true, ReadWritePaths: []string{"/home/ann/data"}})
	if err != nil {
		t.Fatal(err)
	}
	d := directives(t, unit)
	for _, k := range []string{"User", "Group", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths", "CapabilityBoundingSet"} {
		if v, ok := d["Service"][k]; ok {
			t.Errorf("user unit has %s=%q: it needs privileges a user manager lacks", k, v)
		}
	}
	if one(t, d, "Install", "WantedBy") != "default.target" || one(t, d, "Service", "NoNewPrivileges") != "yes" {
		t.Errorf("user unit:\n%s", unit)
	}
}

func TestDropIn(t *testing.T) {
	u := Packaged()
	u.ReadWritePaths = []string{"/srv/a", "/srv/b"}
	got, err := SystemdDropIn(u)
	if err != nil {
		t.Fatal(err)
	}
	d := directives(t, got)
	if len(d) != 1 || strings.Join(d["Service"]["ReadWritePaths"], " ") != "-/srv/a -/srv/b" {
		t.Errorf("drop-in:\n%s", got)
	}
	if _, err := SystemdDropIn(Packaged()); err == nil {
		t.Error("an empty drop-in was rendered")
	}
}

func TestRejectsBadInput(t *testing.T) {
	for _, u := range []Unit{
		{Executable: "syncd", ConfigPath: "/c.yaml"},
		{Executable: "/bin/syncd", ConfigPath: "c.yaml"},
		{Executable: "/bin/syncd", ConfigPath: "/c.yaml", ReadWritePaths: []string{"/a\nExecStartPre=/bin/evil"}},
		{Executable: "/bin/syncd", ConfigPath: "/c.yaml", User: "root\nUser=x"},
		{Executable: "/bin/syncd", ConfigPath: "/{{Name}}.yaml"},
	} {
		if out, err := Systemd(u); err == nil {
			t.Errorf("%+v rendered:\n%s", u, out)
		}
	}
}

func TestLaunchdPlist(t *testing.T) {
	for _, u := range []Unit{
		Packaged(),
		{Executable: "/Users/a&b/bin/syncd", ConfigPath: "/Users/a&b/<c>.yaml", UserService: true, LogFile: "/Users/a&b/Library/Logs/syncd.log"},
	} {
		out, err := Launchd(u)
		if err != nil {
			t.Fatal(err)
		}
		// Well-formed XML whose ProgramArguments are the unescaped paths.
		dec := xml.NewDecoder(strings.NewReader(out))
		var texts []string
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("plist is not XML: %v\n%s", err, out)
			}
			if cd, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(cd)) != "" {
				texts = append(texts, string(cd))
			}
		}
		joined := strings.Join(texts, "|")
		if !strings.Contains(joined, u.Executable+"|run|-config|"+u.ConfigPath) {
			t.Errorf("ProgramArguments wrong: %s", joined)
		}
		hasUser := regexp.MustCompile(`UserName\|syncd`).MatchString(joined)
		if hasUser == u.UserService {
			t.Errorf("UserService=%v but UserName present=%v", u.UserService, hasUser)
		}
	}
}
