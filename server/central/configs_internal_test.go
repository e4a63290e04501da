package central

import (
	"os"
	"path/filepath"
	"testing"

	"ombud/server/dispatch"
)

// TestDispatchFileEditWinsOverConsole: a console version is in force over
// the file it was applied on; once the operator edits the file (the
// watcher reloads it), the file is newer and wins.
func TestDispatchFileEditWinsOverConsole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dispatch.json")
	if err := os.WriteFile(path, []byte(`{"queues": [{"id": "fraud"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := dispatch.NewWatcher(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &liveDispatch{w: w, path: path}
	teams := func() string {
		var s string
		for _, tm := range l.Rules().Teams() {
			s += tm.ID
		}
		return s
	}
	if err := l.Apply([]byte(`{"queues": [{"id": "cards"}]}`)); err != nil {
		t.Fatal(err)
	}
	if teams() != "cards" || string(l.Current()) != `{"queues": [{"id": "cards"}]}` {
		t.Fatalf("console version not in force: %s", teams())
	}
	if err := os.WriteFile(path, []byte(`{"queues": [{"id": "loans"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if teams() != "loans" || string(l.Current()) != `{"queues": [{"id": "loans"}]}` {
		t.Errorf("after the file's edit: %s, want the file's", teams())
	}
	if _, err := l.Check([]byte(`{"queues": [{"id": "Bad Id"}]}`)); err == nil {
		t.Error("a bad team id passed the check")
	}
}
