package tui_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/tui"
	"ombud/shared/hlc"
)

// TestLockedDatabaseThenRecovers uses a real lock, not a fake error: another
// connection holds the database's write lock while the customer submits. The
// customer gets the apology with the draft kept, nothing is half-written, and
// Try again files it once the lock is released.
func TestLockedDatabaseThenRecovers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiosk.db")
	st, err := store.OpenWith(ctx, path, nil, cases.NewProjection(cases.Options{}), store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := filing.New(st, hlc.New(nil), filing.Config{Branch: "Main Street", PublicURL: "https://track.example.org"})
	if err != nil {
		t.Fatal(err)
	}

	// The intruder: a second connection holding the write lock.
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(50)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	k := startKiosk(t, tui.Config{Filer: svc}, 80, 24)
	toReview(k, "Locked out of my account for a week.")
	k.press(tcell.KeyEnter)
	k.waitText("Sorry, we could not save your complaint just now.", "Try again", "Locked out of my account")
	if n, err := st.Count(ctx); err != nil || n != 0 {
		t.Fatalf("after the refused submit the store holds %d complaints (%v), want 0", n, err)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	k.press(tcell.KeyEnter) // Try again keeps the focus
	k.waitStep("receipt")
	if n, err := st.Count(ctx); err != nil || n != 1 {
		t.Fatalf("after Try again the store holds %d complaints (%v), want 1", n, err)
	}
	out, err := st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 1 {
		t.Fatalf("outbox %+v (%v), want exactly one entry", out, err)
	}
}
