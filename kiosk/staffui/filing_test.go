package staffui_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/filing"
	"ombud/kiosk/printer"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
)

// TestRefusedActionNotice: when another terminal's earlier action makes
// the fold refuse this person's, they are told once, in a notice that
// stays until dismissed.
func TestRefusedActionNotice(t *testing.T) {
	e := newEnv(t)
	// Filed an hour ago (its event too), so bob's acknowledgement can come
	// between the filing and ann's.
	f := e.remoteFiled("Charged twice.", time.Now().Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(f.Code)
	k.typeText("a")
	k.waitTop("form")
	k.press(tcell.KeyCtrlS)
	k.waitText("Recorded: acknowledge")
	// Bob acknowledged a little earlier on another terminal, offline; his
	// event arrives now and wins.
	d := e.detail(f.ID)
	annAt := d.Events[len(d.Events)-1].At
	e.remote(staffEvent(f.ID, event.Acknowledged, "bob", annAt-hlc.Make(1, 0), nil))
	want := `Your action "acknowledge" on case ` + trackcode.Code(f.Code).String() +
		` was not applied: a complaint can only be acknowledged once, when it has just been received`
	k.waitSaid(want)
	k.waitTop("notice")
	k.typeText("j") // keys do not dismiss it, nor reach the case underneath
	k.waitTop("notice")
	k.press(tcell.KeyEnter)
	k.waitTop("case")
	// Shown once: another change does not bring it back.
	e.remote(staffEvent(f.ID, event.NoteAdded, "bob", e.clock.Now(), event.Text{Text: "Done by me."}))
	s := k.waitFor("the note, at the end", func(s string) bool {
		k.press(tcell.KeyEnd) // again, as the timeline grows
		return strings.Contains(s, "Done by me.") && strings.Contains(s, "not applied:")
	})
	if k.top() != "case" || strings.Contains(s, "Your action") {
		t.Errorf("notice shown again (%s):\n%s", k.top(), s)
	}
}

// TestRefusedActionNoticeAtSignIn: refusals that arrived while the person
// was away are shown when they sign in.
func TestRefusedActionNoticeAtSignIn(t *testing.T) {
	e := newEnv(t)
	f := e.remoteFiled("Charged twice.", time.Now().Add(-time.Hour))
	code := trackcode.Code(f.Code).String()
	e.act(f.ID, event.Acknowledged, "ann", nil)
	annAt := e.detail(f.ID).Events[1].At
	e.remote(staffEvent(f.ID, event.Acknowledged, "bob", annAt-hlc.Make(1, 0), nil))
	k := start(t, e.config(), 80, 24)
	k.typeText("ann\t" + annPIN + "\n")
	k.waitSaid(`Your action "acknowledge" on case ` + code + ` was not applied`)
	k.waitTop("notice")
	k.press(tcell.KeyEsc)
	s := k.waitText("Showing open cases")
	if row, _ := line(s, code); !strings.Contains(row, "✗") {
		t.Errorf("row without the refused mark: %q", row)
	}
	// Someone else signing in is not told of ann's.
	k.typeText("q")
	k.waitTop("sign-in")
	k.typeText("sam\t" + samPIN + "\n")
	k.waitTop("queue")
	if s := k.screen(); strings.Contains(s, "Your action") {
		t.Errorf("sam sees ann's notice:\n%s", s)
	}
}

var codePattern = regexp.MustCompile(`[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`)

// TestAssistedFiling: n files a complaint for a walk-in customer under the
// signed-in person's id, with the contact details only when the customer
// agreed, and prints the receipt.
func TestAssistedFiling(t *testing.T) {
	for _, consent := range []bool{true, false} {
		name := map[bool]string{true: "consented", false: "no consent"}[consent]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			prints := t.TempDir()
			cfg := e.config()
			p, err := printer.Open("file:"+prints, printer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Printer = p
			k := start(t, cfg, 80, 24)
			k.signIn("ann", annPIN)
			k.typeText("n")
			k.waitText("New complaint for a walk-in customer", "Customer agrees")
			k.press(tcell.KeyEnter, tcell.KeyDown, tcell.KeyDown, tcell.KeyEnter) // category: billing
			k.press(tcell.KeyTab)
			k.typeText("Charged twice at the counter [red]today.")
			k.press(tcell.KeyTab)
			k.typeText("My money back.")
			k.press(tcell.KeyTab)
			k.typeText("Jo Bloggs")
			k.press(tcell.KeyTab)
			k.typeText("jo@example.org")
			k.press(tcell.KeyTab, tcell.KeyTab) // phone, then the notice
			k.waitText("Read it to the customer")
			k.press(tcell.KeyTab)
			if consent {
				k.typeText(" ")
			}
			k.press(tcell.KeyCtrlS)
			s := k.waitText("Filed and saved.")
			code := codePattern.FindString(s[strings.Index(s, "Filed and saved."):])
			if code == "" {
				t.Fatalf("no code on screen:\n%s", s)
			}
			k.waitText("https://track.example.org/t/"+strings.ReplaceAll(code, "-", ""), "Receipt printed")
			if !consent {
				k.waitText("The contact details were NOT kept")
			}

			tc, _ := trackcode.Parse(code)
			c, err := e.st.ByCode(context.Background(), tc)
			if err != nil {
				t.Fatal(err)
			}
			d := e.detail(c.ID)
			if d.Complaint.Channel != complaint.ChannelStaff || d.Complaint.Category != "billing" ||
				d.Complaint.Description != "Charged twice at the counter [red]today." || d.Complaint.DesiredOutcome != "My money back." {
				t.Errorf("complaint %+v", d.Complaint)
			}
			if got := d.Events[0].Actor; got != (event.Actor{Kind: event.ActorStaff, ID: "ann"}) {
				t.Errorf("filed by %+v", got)
			}
			switch ct := d.Complaint.Contact; {
			case consent && (ct == nil || ct.Name != "Jo Bloggs" || ct.Email != "jo@example.org" || ct.NoticeVersion == ""):
				t.Errorf("contact %+v", ct)
			case !consent && ct != nil:
				t.Errorf("contact kept without consent: %+v", ct)
			}
			receipt := readReceipt(t, prints, code)
			if !strings.Contains(receipt, code) || strings.Contains(receipt, "Jo Bloggs") || strings.Contains(receipt, "jo@example") {
				t.Errorf("receipt:\n%s", receipt)
			}

			// Back in the queue, the new case is selected.
			k.press(tcell.KeyEnter)
			k.waitTop("queue")
			k.waitFor("new case selected", func(string) bool { return k.selected() == c.ID })
		})
	}
}

// TestFilingPrinterFault: a printer that fails is reported; the complaint
// is saved and its code shown all the same.
func TestFilingPrinterFault(t *testing.T) {
	e := newEnv(t)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	p, err := printer.Open("file:"+notADir, printer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Printer = p
	k := start(t, cfg, 80, 24)
	k.signIn("ann", annPIN)
	k.typeText("n")
	k.waitTop("form")
	k.press(tcell.KeyEnter, tcell.KeyEnter, tcell.KeyTab) // the first category
	k.typeText("The door was locked at opening time.")
	k.press(tcell.KeyCtrlS)
	s := k.waitSaid("The receipt was not printed", "The complaint is saved: give the customer the code above.")
	code := codePattern.FindString(s[strings.Index(s, "Filed and saved."):])
	tc, _ := trackcode.Parse(code)
	if _, err := e.st.ByCode(context.Background(), tc); err != nil {
		t.Errorf("complaint %s not stored: %v", code, err)
	}
}

// readReceipt returns the text of the printed receipt of code.
func readReceipt(t *testing.T, dir, code string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), code) {
			return string(b)
		}
	}
	t.Fatalf("no receipt for %s among %v", code, files)
	return ""
}

// TestFilingRefusedKeepsTheForm: a draft the filer refuses stays on screen
// with the reason.
func TestFilingRefusedKeepsTheForm(t *testing.T) {
	e := newEnv(t)
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.typeText("n")
	k.waitTop("form")
	k.press(tcell.KeyTab)
	k.typeText("No category chosen.")
	k.press(tcell.KeyCtrlS)
	s := k.waitSaid("Not filed: Category is needed.")
	if !strings.Contains(s, "No category chosen.") || k.top() != "form" {
		t.Errorf("form lost (%s):\n%s", k.top(), s)
	}
}

// TestReprint: p prints the open case's receipt again, without contact
// details.
func TestReprint(t *testing.T) {
	e := newEnv(t)
	svc := e.filer()
	f, err := svc.File(context.Background(), filing.Draft{Category: "billing", Description: "Charged twice.", Language: "fr",
		Contact: &complaint.Contact{Name: "Jo Bloggs", Phone: "+44 20 7946 0000", ConsentAt: time.Now(), NoticeVersion: "kiosk-privacy-1/fr"}})
	if err != nil {
		t.Fatal(err)
	}
	prints := t.TempDir()
	cfg := e.config()
	if cfg.Printer, err = printer.Open("file:"+prints, printer.Options{}); err != nil {
		t.Fatal(err)
	}
	k := start(t, cfg, 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.waitText("Name: Jo Bloggs") // consented: staff see it
	k.typeText("p")
	k.waitText("Receipt printed for " + f.Code.String())
	r := readReceipt(t, prints, f.Code.String())
	if strings.Contains(r, "Jo Bloggs") || strings.Contains(r, "7946") || !strings.Contains(r, "https://track.example.org/t/"+string(f.Code)) {
		t.Errorf("receipt:\n%s", r)
	}
	if !strings.Contains(r, "Merci") && !strings.Contains(strings.ToLower(r), "plainte") {
		t.Errorf("receipt not in the customer's language:\n%s", r)
	}
}

// TestNoPrinter: without a printer, p says so.
func TestNoPrinter(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice.", time.Now())
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.typeText("p")
	k.waitText("No receipt printer is configured")
}

// TestHelpListsTheBindings: ? shows the keys of the screen it was opened
// on, from the same tables that drive them.
func TestHelpListsTheBindings(t *testing.T) {
	e := newEnv(t)
	k := start(t, e.config(), 100, 40)
	k.signIn("ann", annPIN)
	k.typeText("?")
	s := k.waitText("Keys on the queue screen")
	for _, want := range []string{"open the case", "search code or text", "filter by status, category, priority",
		"new complaint for a walk-in customer", "sign out", "Ctrl-Q", "! overdue"} {
		if !strings.Contains(s, want) {
			t.Errorf("help lacks %q:\n%s", want, s)
		}
	}
	k.typeText("?")
	k.waitTop("queue")
}
