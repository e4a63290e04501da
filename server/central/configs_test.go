package central_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/server/central"
	"ombud/server/storage"
	"ombud/shared/sla"
)

const slaFile = `{
  "calendars": {"default": {"time_zone": "UTC", "hours": {"mon": ["09:00-17:00"]}}},
  "policies": [{"acknowledge": "8h", "respond": "40h"}]
}
`

// TestNewestConfigurationWins: the SLA and dispatch configurations
// edited at the console stay in force across restarts while the files are
// unchanged, and a changed file wins over them (recorded as a version from
// the file); without a file the console's version is in force.
func TestNewestConfigurationWins(t *testing.T) {
	dir := t.TempDir()
	slaPath, dispPath := filepath.Join(dir, "sla.json"), filepath.Join(dir, "dispatch.json")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(slaPath, slaFile)
	write(dispPath, `{"queues": [{"id": "fraud"}]}`)
	data := filepath.Join(dir, "data")
	open := func(withFiles bool) *central.Server {
		t.Helper()
		cfg := central.Config{Data: data, Listen: "127.0.0.1:0"}
		if withFiles {
			var err error
			if cfg.SLA, err = sla.Load(slaPath); err != nil {
				t.Fatal(err)
			}
			cfg.DispatchConfig = dispPath
		}
		s := central.New(cfg)
		if err := s.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}
	stop := func(s *central.Server) {
		t.Helper()
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	teams := func(s *central.Server) string {
		var ids []string
		for _, tm := range s.DispatchRules().Teams() {
			ids = append(ids, tm.ID)
		}
		return strings.Join(ids, ",")
	}

	s := open(true)
	if !strings.Contains(string(s.SLA().JSON()), `"09:00-17:00"`) || teams(s) != "fraud" {
		t.Fatalf("the files are not in force: %s, teams %s", s.SLA().JSON(), teams(s))
	}
	// An administrator's versions (as the console records them).
	st := s.Store().(storage.Desk)
	consoleSLA := strings.Replace(slaFile, "09:00-17:00", "08:00-18:00", 1)
	cfg, err := sla.Parse([]byte(consoleSLA))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []storage.ConfigVersion{
		{Kind: storage.ConfigSLA, Body: []byte(consoleSLA), Digest: cfg.Digest(), Source: storage.SourceConsole, StaffID: "ada", At: time.Now()},
		{Kind: storage.ConfigDispatch, Body: []byte(`{"queues": [{"id": "cards"}]}`), Source: storage.SourceConsole, StaffID: "ada", At: time.Now()},
	} {
		if _, err := st.AddConfigVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	stop(s)

	// Restart, files unchanged: the console's versions are in force.
	s = open(true)
	if !strings.Contains(string(s.SLA().JSON()), `"08:00-18:00"`) || teams(s) != "cards" {
		t.Errorf("after a restart with the files unchanged: %s, teams %s; want the console's", s.SLA().JSON(), teams(s))
	}
	stop(s)

	// Without the files: still the console's.
	s = open(false)
	if !strings.Contains(string(s.SLA().JSON()), `"08:00-18:00"`) || teams(s) != "cards" {
		t.Errorf("without files: %s, teams %s; want the console's", s.SLA().JSON(), teams(s))
	}
	stop(s)

	// The operator edits the files: they are newer and win.
	write(slaPath, strings.Replace(slaFile, "09:00-17:00", "07:00-15:00", 1))
	write(dispPath, `{"queues": [{"id": "loans"}]}`)
	s = open(true)
	defer stop(s)
	if !strings.Contains(string(s.SLA().JSON()), `"07:00-15:00"`) || teams(s) != "loans" {
		t.Errorf("after editing the files: %s, teams %s; want the files'", s.SLA().JSON(), teams(s))
	}
	vs, err := s.Store().(storage.Desk).ConfigVersions(ctx, storage.ConfigSLA, 10)
	if err != nil || len(vs) != 3 || vs[0].Source != storage.SourceFile || vs[1].Source != storage.SourceConsole || vs[2].Source != storage.SourceFile {
		t.Errorf("SLA versions: %+v %v", vs, err)
	}
}
