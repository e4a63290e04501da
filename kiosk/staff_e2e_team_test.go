package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/shared/trackcode"
)

// TestTeamTerminalWorksItsTeamsCases: the fraud team's terminal, enrolled
// with `--role team --teams fraud`, receives the cases dispatch queues to
// team:fraud and no others, signs in only the team's people, files nothing
// itself, and what its people record reaches the customer's tracking page.
func TestTeamTerminalWorksItsTeamsCases(t *testing.T) {
	s := startE2EServer(t, "--dispatch-config", filepath.Join("..", "deploy", "dispatch.example.json"))
	s.cli("520417\n", "staff", "add", "--branch", e2eBranch, "--id", "fay", "--name", "Fay Fraud", "--role", "agent",
		"--teams", "fraud", "--pin-memory", "64", "--pin-passes", "1")
	s.addStaff("sam", "Sam Branch", "supervisor", "735102") // the branch's, not the team's

	k := s.startCustomerKiosk()
	fraud := string(k.file(t, "service", "My card was stolen and someone used it at a shop.").Code)
	billing := string(k.file(t, "billing", "Charged twice for one coffee.").Code)

	m := enrolCodeLine.FindStringSubmatch(s.cli("", "enrol-code", "--branch", e2eBranch, "--role", "team", "--teams", "fraud"))
	if m == nil {
		t.Fatal("no enrolment code in the server's output")
	}
	dir := t.TempDir()
	if err := run(context.Background(), []string{"enrol", "--data", dir, "--server", s.url, "--code", m[1], "--name", "fraud desk"},
		func(string) string { return "" }, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}

	term := startStaff(t, dir)
	term.signIn(dir, "fay", "520417")
	screen := term.waitSaid("Team fraud", trackcode.Code(fraud).String())
	if strings.Contains(flatText(screen), trackcode.Code(billing).String()) {
		t.Fatalf("the fraud team's terminal shows the billing case %s:\n%s", billing, screen)
	}
	term.typeText("n")
	term.waitSaid("Filing is not available on this terminal.")

	term.openCase(fraud)
	term.act('a', "acknowledge", nil)
	waitForTB(t, "the team's acknowledgement on the tracking page", 20*time.Second, func() bool {
		_, timeline := s.trackTimeline(fraud)
		for _, e := range timeline {
			if e["type"] == "acknowledged" {
				return true
			}
		}
		return false
	})

	// Signed out, the branch's supervisor cannot sign in here: the team's
	// directory does not list them, and the server refuses them too.
	term.press(tcell.KeyEscape)
	term.typeText("q")
	term.waitSaid("Staff sign-in")
	term.typeText("sam")
	term.press(tcell.KeyTab)
	term.typeText("735102")
	term.press(tcell.KeyEnter)
	term.waitSaid("wrong")
}
