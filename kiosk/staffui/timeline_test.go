package staffui_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/store"
	"ombud/shared/event"
)

// TestTimelineMarks: the case screen tells public from internal entries,
// and shows what is not sent yet and what the server refused.
func TestTimelineMarks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	f := e.file("billing", "Charged twice.", time.Now().Add(-time.Hour))
	e.act(f.Complaint.ID, event.NoteAdded, "ann", event.Text{Text: "Looked at the till roll."})
	e.act(f.Complaint.ID, event.MessageSent, "ann", event.Text{Text: "We are checking the till."})
	out, err := e.st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 3 {
		t.Fatalf("outbox %v, %v", out, err)
	}
	// The server took the filing and refused the note; the message waits.
	if err := e.st.AckOutbox(ctx, out[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Quarantine(ctx, out[1].Seq, out[1].Event.ID, 4004, "conflict: the case was closed on the server"); err != nil {
		t.Fatal(err)
	}

	k := start(t, e.config(), 100, 40)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	s := k.waitText("Timeline", "We are checking the till.")
	filed, _ := line(s, "Filed via kiosk")
	note, yNote := line(s, "Note — staff ann")
	msg, _ := line(s, "Message to the customer — staff ann")
	if !strings.Contains(filed, "public") || strings.Contains(filed, "not sent") {
		t.Errorf("filed: %q", filed)
	}
	if !strings.Contains(note, "internal") {
		t.Errorf("note: %q", note)
	}
	if !strings.Contains(msg, "public") || !strings.Contains(msg, "↑ not sent") {
		t.Errorf("message: %q", msg)
	}
	lines := strings.Split(s, "\n")
	if got := lines[yNote+1] + lines[yNote+2]; !strings.Contains(got, "Looked at the till roll.") ||
		!strings.Contains(got, "✗ refused by the server: conflict: the case was closed on the server") {
		t.Errorf("under the note:\n%s", got)
	}
}

// TestStorageUnavailableKeepsTheForm: a locked database refuses the write;
// the form says so plainly and keeps the text, and saving again works.
func TestStorageUnavailableKeepsTheForm(t *testing.T) {
	e := newEnvWith(t, store.Options{BusyTimeout: 50 * time.Millisecond})
	f := e.file("billing", "Charged twice.", time.Now().Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.typeText("n")
	k.waitTop("form")
	k.typeText("Called the branch manager.")

	// Another process holds the write lock.
	other, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "kiosk.db")+"?_pragma=busy_timeout(50)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO sync_status (key, value) VALUES ('lock', 'held')`); err != nil {
		t.Fatal(err)
	}
	k.press(tcell.KeyCtrlS)
	s := k.waitSaid("Not recorded: the local database is busy or unavailable; nothing was saved, try again. What you typed is kept.")
	if !strings.Contains(s, "Called the branch manager.") || k.top() != "form" {
		t.Errorf("form lost (%s):\n%s", k.top(), s)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	k.press(tcell.KeyCtrlS)
	k.waitText("Recorded: note")
	d := e.detail(f.Complaint.ID)
	if got := d.Events[len(d.Events)-1]; got.Type != event.NoteAdded || !strings.Contains(string(got.Data), "branch manager") {
		t.Errorf("last event %s %s", got.Type, got.Data)
	}
}
