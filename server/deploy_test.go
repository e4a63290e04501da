package main

// deploy/ checked with the tools that read it, where this machine has them:
// the environment file against the program's flags, the systemd units with
// systemd-analyze, HAProxy's configuration with haproxy -c. (The metric
// names in deploy/prometheus and deploy/grafana: TestE2EMetrics.)

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// serveFlags lists `server serve`'s flags from its --help.
func serveFlags(t *testing.T) []string {
	t.Helper()
	var help bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, noEnv, nil, io.Discard, &help)
	var flags []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1) {
		flags = append(flags, m[1])
	}
	if len(flags) < 20 {
		t.Fatalf("serve --help lists %d flags:\n%s", len(flags), help.String())
	}
	return flags
}

// TestDeployEnvFileNamesEveryFlag: deploy/ombud.env documents every flag
// of `server serve` as OMBUD_SERVER_<FLAG> (set, or commented out with its
// explanation), and sets nothing the program does not read.
func TestDeployEnvFileNamesEveryFlag(t *testing.T) {
	b, err := os.ReadFile("../deploy/ombud.env")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	set := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := regexp.MustCompile(`^(#?)(OMBUD_SERVER_[A-Z0-9_]+)=`).FindStringSubmatch(line); m != nil {
			named[m[2]] = true
			if m[1] == "" {
				set[m[2]] = true
			}
		}
	}
	known := map[string]bool{}
	for _, f := range serveFlags(t) {
		v := envPrefix + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		known[v] = true
		if !named[v] {
			t.Errorf("deploy/ombud.env does not name %s (--%s)", v, f)
		}
	}
	for v := range set {
		if !known[v] {
			t.Errorf("deploy/ombud.env sets %s, which is no flag of `server serve`", v)
		}
	}
}

// TestDeploySystemdUnits runs systemd-analyze verify on the units, with the
// binaries they start replaced by /bin/true (they are not installed here).
func TestDeploySystemdUnits(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install -y systemd)")
	}
	units, _ := filepath.Glob("../deploy/systemd/*")
	if len(units) < 4 {
		t.Fatalf("deploy/systemd holds %v", units)
	}
	dir := t.TempDir()
	var args []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("/usr/local/bin/ombud-server", "/bin/true", "/usr/local/bin/ombud-kiosk", "/bin/true",
			"EnvironmentFile=/", "EnvironmentFile=-/").Replace(string(b))
		name := filepath.Base(u)
		if strings.HasSuffix(name, "@.service") { // a template: verify an instance
			name = strings.TrimSuffix(name, "@.service") + "@tty1.service"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, filepath.Join(dir, name))
	}
	cmd := exec.Command("systemd-analyze", append([]string{"verify"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// What the threat model counts on (docs/SECURITY.md): the server
	// sandboxed, and a branch terminal's program the only thing on its
	// screen, back at once if it exits, as a user with no login shell.
	hardened := []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
		"CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "RestrictAddressFamilies="}
	want := map[string][]string{
		"ombud-server.service": append([]string{"DynamicUser=yes", "StateDirectory=ombud"}, hardened...),
		"ombud-kiosk@.service": append([]string{"User=ombud-kiosk", "Conflicts=getty@%i.service", "Restart=always", "StartLimitIntervalSec=0", "TTYPath=/dev/%I", "DevicePolicy=closed"}, hardened...),
		"ombud-staff@.service": append([]string{"User=ombud-staff", "Conflicts=getty@%i.service", "Restart=always", "StartLimitIntervalSec=0", "TTYPath=/dev/%I", "DevicePolicy=closed"}, hardened...),
		"ombud-backup.service": {"User=ombud-server", "StateDirectory=ombud ombud-backups", "PrivateNetwork=yes", "UMask=0077"},
	}
	for name, lines := range want {
		b, err := os.ReadFile(filepath.Join("../deploy/systemd", name))
		if err != nil {
			t.Error(err)
			continue
		}
		for _, l := range lines {
			if !strings.Contains(string(b), l) {
				t.Errorf("%s lacks %q", name, l)
			}
		}
	}
}

// TestDeployHAProxyConfig checks deploy/haproxy.cfg with haproxy -c.
func TestDeployHAProxyConfig(t *testing.T) {
	if _, err := exec.LookPath("haproxy"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy not installed: .ci/run installs it")
		}
		t.Skip("haproxy not installed (apt-get install -y haproxy)")
	}
	out, err := exec.Command("haproxy", "-c", "-f", "../deploy/haproxy.cfg").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Configuration file is valid") {
		t.Errorf("haproxy -c: %v\n%s", err, out)
	}
}
