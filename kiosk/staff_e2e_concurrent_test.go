package main

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"ombud/kiosk/enrol"
	"ombud/server/storage/sqlite"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/trackcode"
)

// pointCredentialAt rewrites the terminal's credential to url and returns
// the original, to put back with enrol.Save.
func pointCredentialAt(t *testing.T, dir, url string) enrol.Credential {
	t.Helper()
	cred, ok, err := enrol.Load(dir)
	if err != nil || !ok {
		t.Fatalf("credential: %v, %v", ok, err)
	}
	moved := cred
	moved.ServerURL = url
	if err := enrol.Save(dir, moved); err != nil {
		t.Fatal(err)
	}
	return cred
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func countType(events []event.Event, typ event.Type) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestConcurrentStaffOneOffline: two terminals acknowledge the same case,
// one of them offline. When the offline one reconnects, both events are in
// the log everywhere, the earlier one wins, the later one's author is told
// theirs was not applied, and both terminals and the server fold the log to
// the same case.
func TestConcurrentStaffOneOffline(t *testing.T) {
	s := startE2EServer(t)
	s.addStaff("ann", "Ann Agent", "agent", "482913")
	s.addStaff("bob", "Bob Agent", "agent", "604817")
	f := s.startCustomerKiosk().file(t, "billing", "Charged twice for one coffee.")
	code := string(f.Code)
	shown := trackcode.Code(code).String()
	dirA, dirB := s.enrolDevice("desk A", "staff"), s.enrolDevice("desk B", "staff")

	// B comes up, gets the case, and is switched off.
	b := startStaff(t, dirB)
	b.signIn(dirB, "bob", "604817")
	b.waitSaid(shown)
	if err := b.stop(); err != nil {
		t.Fatalf("stop B: %v", err)
	}

	// Meanwhile A acknowledges online and the server has it.
	a := startStaff(t, dirA)
	a.signIn(dirA, "ann", "482913")
	a.openCase(code)
	a.act('a', "acknowledge", nil)
	waitForTB(t, "the server to hold A's acknowledgement", 20*time.Second, func() bool {
		state, _ := s.trackTimeline(code)
		return state == "acknowledged"
	})

	// B starts cut off from the server and acknowledges too, later.
	cred := pointCredentialAt(t, dirB, closedURL(t))
	b = startStaff(t, dirB)
	b.signIn(dirB, "bob", "604817")
	b.openCase(code)
	b.act('a', "acknowledge", nil)
	if err := b.stop(); err != nil {
		t.Fatalf("stop B: %v", err)
	}

	// Back online: B's acknowledgement arrives second and is refused by the fold.
	if err := enrol.Save(dirB, cred); err != nil {
		t.Fatal(err)
	}
	b = startStaff(t, dirB)
	b.signIn(dirB, "bob", "604817")
	b.waitSaid(`Your action "acknowledge" on case ` + shown + ` was not applied`)

	srv, err := sqlite.Open(context.Background(), filepath.Join(s.data, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var serverEvents []event.Event
	waitForTB(t, "both acknowledgements on the server", 20*time.Second, func() bool {
		stored, err := srv.ComplaintEvents(context.Background(), f.Complaint.ID)
		if err != nil {
			t.Fatal(err)
		}
		serverEvents = serverEvents[:0]
		for _, se := range stored {
			serverEvents = append(serverEvents, se.Event)
		}
		return countType(serverEvents, event.Acknowledged) == 2
	})
	stA, stB := openStoreAside(t, dirA), openStoreAside(t, dirB)
	logOf := func(name string, st interface {
		Events(context.Context, string) ([]event.Event, error)
	}) []event.Event {
		var events []event.Event
		waitForTB(t, name+" to hold both acknowledgements", 20*time.Second, func() bool {
			var err error
			if events, err = st.Events(context.Background(), f.Complaint.ID); err != nil {
				t.Fatal(err)
			}
			return countType(events, event.Acknowledged) == 2
		})
		return events
	}
	eventsA, eventsB := logOf("terminal A", stA), logOf("terminal B", stB)

	want, err := lifecycle.Fold(serverEvents)
	if err != nil {
		t.Fatal(err)
	}
	if want.State != lifecycle.Acknowledged || len(want.Rejected) != 1 {
		t.Errorf("server's case: state %s, rejected %+v; want acknowledged with one refusal (B's)", want.State, want.Rejected)
	}
	for _, ev := range serverEvents {
		if ev.Type == event.Acknowledged && ev.Actor.ID == "bob" && (len(want.Rejected) != 1 || want.Rejected[0].EventID != ev.ID) {
			t.Errorf("B's acknowledgement %s is not the refused one: %+v", ev.ID, want.Rejected)
		}
	}
	for name, events := range map[string][]event.Event{"A": eventsA, "B": eventsB} {
		got, err := lifecycle.Fold(events)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("terminal %s folds to\n%+v\nthe server to\n%+v", name, got, want)
		}
	}
}
