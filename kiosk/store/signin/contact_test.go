package signin_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/store/signin"
	"ombud/shared/staff"
)

func TestOfflineAllowed(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		contact signin.Contact
		want    string // "" allowed; else the refusal's text
	}{
		{"never reached", signin.Contact{}, "has not reached the server yet"},
		{"an hour ago", signin.Contact{At: now.Add(-time.Hour), MaxOffline: 72 * time.Hour}, ""},
		{"just within the bound", signin.Contact{At: now.Add(-72 * time.Hour), MaxOffline: 72 * time.Hour}, ""},
		{"past the bound", signin.Contact{At: now.Add(-72*time.Hour - time.Minute), MaxOffline: 72 * time.Hour},
			"this terminal has not reached the server for 3 days: staff cannot sign in until it does"},
		{"the default bound", signin.Contact{At: now.Add(-80 * time.Hour)}, "for 3 days"},
		{"a short bound", signin.Contact{At: now.Add(-2 * time.Hour), MaxOffline: time.Hour}, "for 2 hours"},
		{"a clock set back", signin.Contact{At: now.Add(time.Hour), MaxOffline: time.Hour}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := signin.OfflineAllowed(tc.contact, now)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want allowed", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1 minute", 90 * time.Second: "1 minute", 20 * time.Minute: "20 minutes",
		time.Hour: "1 hour", 5*time.Hour + 59*time.Minute: "5 hours",
		24 * time.Hour: "1 day", 73 * time.Hour: "3 days",
	} {
		if got := signin.Span(d); got != want {
			t.Errorf("Span(%v) = %q, want %q", d, got, want)
		}
	}
}

// Offline sign-in needs a recent enough contact with the server, which
// survives a restart; nothing is checked or counted without one.
func TestSignInOfflineBound(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	mustSaveDirectory(t, st, testDirectory(t, 1))
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	l := staff.Lockout{MaxFailures: 2, Duration: time.Hour}

	if c, err := st.Contact(ctx); err != nil || !c.At.IsZero() {
		t.Fatalf("contact before any: %+v, %v", c, err)
	}
	for range 3 {
		if _, err := st.SignIn(ctx, "ana", "000000", now, l); !errors.Is(err, signin.ErrNeverReached) {
			t.Fatalf("sign-in never having reached the server: got %v, want ErrNeverReached", err)
		}
	}
	if _, err := st.SignIn(ctx, "ana", anaPIN, now, l); !errors.Is(err, signin.ErrNeverReached) {
		t.Fatalf("right PIN, never reached: got %v, want ErrNeverReached", err)
	}

	if err := st.Reached(ctx, now.Add(-time.Hour), 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	// The wrong PINs above were not counted: ana is not locked.
	if a, err := st.SignIn(ctx, "ana", anaPIN, now, l); err != nil || a.ID != "ana" {
		t.Fatalf("an hour after contact: got %+v, %v", a, err)
	}

	st.Close()
	st = MustOpenPath(t, path)
	want := signin.Contact{At: now.Add(-time.Hour), MaxOffline: 48 * time.Hour}
	if c, err := st.Contact(ctx); err != nil || c != want {
		t.Fatalf("contact after a restart: got %+v, %v, want %+v", c, err, want)
	}
	later := now.Add(48 * time.Hour)
	_, err := st.SignIn(ctx, "ana", anaPIN, later, l)
	var oe *signin.OutOfReachError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "for 2 days") {
		t.Fatalf("past the server's bound: got %v, want OutOfReachError for 2 days", err)
	}
	mustReach(t, st, later)
	if _, err := st.SignIn(ctx, "ana", anaPIN, later, l); err != nil {
		t.Fatalf("after a new contact: %v", err)
	}
}

// Wrong PINs the server refused count towards this terminal's lock-out,
// which holds offline too; a sign-in the server confirms clears them.
func TestOnlineFailuresLockHere(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	mustSaveDirectory(t, st, testDirectory(t, 1))
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	mustReach(t, st, now)
	l := staff.Lockout{MaxFailures: 3, Duration: time.Minute}

	for i := range 2 {
		if err := st.Refused(ctx, "Ana", now, l); err != nil {
			t.Fatalf("refusal %d: %v", i+1, err)
		}
	}
	if err := st.Locked(ctx, "ana", now, l); err != nil {
		t.Fatalf("after two refusals: %v, want not locked", err)
	}
	if err := st.Confirmed(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		st.Refused(ctx, "ana", now, l)
	}
	var le *staff.LockedError
	if err := st.Refused(ctx, "ana", now, l); !errors.As(err, &le) || !le.Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("third refusal after the clear: got %v, want locked until %v", err, now.Add(time.Minute))
	}
	if err := st.Locked(ctx, "ana", now.Add(30*time.Second), l); !errors.As(err, &le) {
		t.Fatalf("Locked: got %v, want LockedError", err)
	}
	// The same lock-out holds offline.
	if _, err := st.SignIn(ctx, "ana", anaPIN, now.Add(30*time.Second), l); !errors.As(err, &le) {
		t.Fatalf("offline sign-in while locked online: got %v, want LockedError", err)
	}
	if err := st.Locked(ctx, "ana", now.Add(time.Minute), l); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// An id the directory does not list is not counted.
	for range 5 {
		if err := st.Refused(ctx, "carl", now, l); err != nil {
			t.Fatalf("unlisted id: %v", err)
		}
	}
	if err := st.Locked(ctx, "carl", now, l); err != nil {
		t.Fatalf("unlisted id locked: %v", err)
	}
}

// A terminal upgraded from the schema before server_contact counts its
// last saved directory as its last contact.
func TestUpgradeTakesTheLastDirectoryAsContact(t *testing.T) {
	ctx := context.Background()
	old, path := MustOpen(t)
	before := time.Now().Truncate(time.Millisecond)
	mustSaveDirectory(t, old, testDirectory(t, 1))
	after := time.Now()
	old.Close()
	// Back to the schema before server_contact, as an older terminal left it.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	// (and before every later migration: the migrator resumes after the
	// highest version recorded).
	for _, q := range []string{`DROP TABLE server_contact`, `DROP TABLE IF EXISTS sla_rules`, `DROP TABLE IF EXISTS retention_policy`, `DELETE FROM schema_migrations WHERE version >= 4`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st := MustOpenPath(t, path)
	c, err := st.Contact(ctx)
	if err != nil || c.At.Before(before) || c.At.After(after) || c.MaxOffline != signin.DefaultMaxOffline {
		t.Fatalf("contact after the upgrade: %+v, %v; want the directory's save time and the default bound", c, err)
	}
	if a, err := st.SignIn(ctx, "ana", anaPIN, after, staff.DefaultLockout); err != nil || a.ID != "ana" {
		t.Errorf("offline sign-in after the upgrade: %+v, %v", a, err)
	}
}
