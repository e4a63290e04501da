package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

// trackTimeline is the tracking API's timeline of code: what the
// customer's phone shows, nil while the server does not know the code.
func (s *e2eServer) trackTimeline(code string) (state string, timeline []map[string]any) {
	s.t.Helper()
	v := s.track(code)
	if v == nil {
		return "", nil
	}
	state, _ = v["state"].(string)
	raw, _ := json.Marshal(v["timeline"])
	_ = json.Unmarshal(raw, &timeline)
	return state, timeline
}

// TestStaffTakesCaseToClosure: a complaint filed at the customer kiosk comes
// down to the staff terminal, is worked to closure with the keys, and the
// customer's tracking page then shows it closed with the public message and
// nothing internal.
func TestStaffTakesCaseToClosure(t *testing.T) {
	s := startE2EServer(t)
	s.addStaff("sam", "Sam Super", "supervisor", "735102")
	f := s.startCustomerKiosk().file(t, "billing", "Charged twice for one coffee.")
	code := string(f.Code)

	dir := s.enrolDevice("staff desk", "staff")
	k := startStaff(t, dir)
	k.signIn(dir, "sam", "735102")
	k.openCase(code)

	k.act('a', "acknowledge", nil)
	k.act('s', "assess", func() {
		k.press(tcell.KeyEnter, tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter) // severity: high
		k.press(tcell.KeyTab, tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter)  // priority: 2
	})
	const message = "We are refunding the second charge."
	k.act('m', "message", func() { k.typeText(message) })
	const decision = "Refund of 3.50 and an apology."
	k.act('d', "decision", func() { k.typeText(decision) })
	k.act('c', "close", func() {
		k.press(tcell.KeyEnter, tcell.KeyDown, tcell.KeyEnter, tcell.KeyTab) // accepted: yes
		k.typeText("Customer happy.")
	})
	k.waitSaid("CLOSED")

	var timeline []map[string]any
	waitForTB(t, "the tracking API to show the case closed", 20*time.Second, func() bool {
		var state string
		state, timeline = s.trackTimeline(code)
		return state == "closed"
	})
	var types []string
	var sawMessage bool
	for _, e := range timeline {
		typ, _ := e["type"].(string)
		types = append(types, typ)
		text, _ := e["text"].(string)
		if strings.Contains(text, message) {
			sawMessage = true
		}
		if by, _ := e["by"].(string); typ != "filed" && by != "organisation" {
			t.Errorf("%s entry by %q, want organisation", typ, by)
		}
		if strings.Contains(text, "sam") || strings.Contains(text, "Sam Super") {
			t.Errorf("%s entry names the staff member: %q", typ, text)
		}
	}
	if !sawMessage {
		t.Errorf("the public message is not on the tracking timeline: %v", timeline)
	}
	for _, want := range []string{"filed", "acknowledged", "message_sent", "responded", "closed"} {
		if !containsString(types, want) {
			t.Errorf("timeline types %v: no %s", types, want)
		}
	}
	if containsString(types, "assessed") {
		t.Errorf("the internal assessment is on the customer's timeline: %v", types)
	}
	raw, _ := json.Marshal(timeline)
	for _, internal := range []string{"severity", "priority"} {
		if strings.Contains(strings.ToLower(string(raw)), internal) {
			t.Errorf("the customer's timeline mentions %q: %s", internal, raw)
		}
	}

	// Closed, and the server holds all of it: a terminal that keeps closed
	// cases for a second deletes it, with the customer's words, when it
	// next starts. The server keeps everything.
	aside := openStoreAside(t, dir)
	waitForTB(t, "the terminal to have sent everything", 20*time.Second, func() bool {
		n, err := aside.OutboxCount(context.Background())
		return err == nil && n == 0
	})
	aside.Close()
	if err := k.stop(); err != nil {
		t.Fatal(err)
	}
	startStaff(t, dir, "--purge-closed-after", "1s")
	// The log first: hasCase also says no while the terminal holds the
	// database locked at start.
	waitForTB(t, "the log to say the closed case was purged", 20*time.Second, func() bool {
		return logLine(filepath.Join(dir, "staff.log"), "closed cases purged") != ""
	})
	waitForTB(t, "the closed case purged from the terminal", 20*time.Second, func() bool { return !hasCase(dir, code) })
	for _, p := range []string{dbPath(dir), dbPath(dir) + "-wal"} {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("Charged twice for one coffee.")) {
			t.Errorf("%s still holds the purged case's description", filepath.Base(p))
		}
	}
	if state, _ := s.trackTimeline(code); state != "closed" {
		t.Errorf("the server's case after the purge: %q, want closed", state)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
