package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/shared/event"
	"ombud/shared/trackcode"
	"ombud/sync/wire"
)

// stopServer kills the server program: the branch is now offline.
func (s *e2eServer) stopServer() {
	s.t.Helper()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// openStoreAside opens a terminal's database next to the running
// terminal (WAL lets both read), for the test to look at it.
func openStoreAside(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestRevokedStaffRefusedOffline: a revocation made on the server reaches
// the terminal within the directory interval, and holds once the terminal
// is cut off from the server: the revoked person cannot sign in offline.
func TestRevokedStaffRefusedOffline(t *testing.T) {
	s := startE2EServer(t)
	s.addStaff("ann", "Ann Agent", "agent", "482913")
	dir := s.enrolDevice("staff desk", "staff")
	k := startStaff(t, dir)
	k.signIn(dir, "ann", "482913")
	k.waitSaid("Ann Agent")
	k.typeText("q")
	k.waitSaid("Signed out.", "Staff sign-in")

	s.cli("", "staff", "revoke", "--id", "ann")
	st := signin.New(openStoreAside(t, dir))
	waitForTB(t, "the terminal's directory to hold ann revoked", 20*time.Second, func() bool {
		d, err := st.Directory(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Accounts {
			if a.ID == "ann" {
				return a.Revoked()
			}
		}
		return false
	})
	s.stopServer()

	k.typeText("ann\t482913\n")
	scr := k.waitSaid("This staff account has been revoked; ask a supervisor.")
	if strings.Contains(scr, "Showing") || strings.Contains(scr, "482913") {
		t.Errorf("signed in, or the PIN is on screen:\n%s", scr)
	}
}

// TestStaffActionSurvivesKill: an action recorded while the server is
// down is durable the moment the terminal says so: SIGKILL right after
// loses neither the event nor its outbox entry, and the restarted terminal
// delivers it when the server is back.
func TestStaffActionSurvivesKill(t *testing.T) {
	s := startE2EServer(t)
	s.addStaff("ann", "Ann Agent", "agent", "482913")
	f := s.startCustomerKiosk().file(t, "billing", "Charged twice for one coffee.")
	code := string(f.Code)
	dir := s.enrolDevice("staff desk", "staff")
	logPath := filepath.Join(dir, "staff.log")

	term := startKiosk(t, "staff", "--data", dir, "--directory-interval", "200ms")
	waitFor(t, "the directory and the case to reach the terminal", 20*time.Second, func() bool {
		return logLine(logPath, "staff directory updated") != "" && hasCase(dir, code)
	})
	s.stopServer()

	// The server is down: signed in offline, and told so.
	term.step("Signed in offline", "ann", keyTab, "482913", keyEnter)
	term.step("Actions:", "/"+code, keyEnter, keyEnter)
	term.step("Acknowledge receipt", "a")
	term.send("\x13") // Ctrl-S
	var recorded string
	waitFor(t, "the acknowledgement recorded", 20*time.Second, func() bool {
		recorded = logLine(logPath, `"action recorded"`)
		return recorded != "" && strings.Contains(term.screenSince(0), "Recorded")
	})
	if err := term.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = term.cmd.Wait()
	var entry struct{ Event, Type, Complaint string }
	if err := json.Unmarshal([]byte(recorded), &entry); err != nil || entry.Event == "" || entry.Type != string(event.Acknowledged) {
		t.Fatalf("log line %q: %v", recorded, err)
	}

	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	events, err := st.Events(context.Background(), entry.Complaint)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e event.Event) bool {
		return e.ID == entry.Event && e.Type == event.Acknowledged && e.Actor.ID == "ann"
	}) {
		t.Errorf("the acknowledgement %s is not in the database after SIGKILL: %+v", entry.Event, events)
	}
	out, err := st.OutboxAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(out, func(o wire.DeviceEvent) bool { return o.Event.ID == entry.Event }) {
		t.Errorf("the acknowledgement is not in the outbox after SIGKILL: %+v", out)
	}
	st.Close()

	s.start()
	startStaff(t, dir)
	waitForTB(t, "the server to hold the acknowledgement", 20*time.Second, func() bool {
		state, timeline := s.trackTimeline(code)
		return state == "acknowledged" && slices.ContainsFunc(timeline, func(e map[string]any) bool { return e["type"] == "acknowledged" })
	})
}

// hasCase reports whether the terminal's database holds the case of code
// (read beside the running terminal).
func hasCase(dir, code string) bool {
	st, err := store.Open(context.Background(), dbPath(dir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return false
	}
	defer st.Close()
	_, err = st.ByCode(context.Background(), trackcode.Code(code))
	return err == nil
}
