package staffui_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
)

func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name, id, pin string
		want          string // on screen afterwards
		signedIn      bool
	}{
		{"agent", "ann", annPIN, "Ann Agent (agent, offline)", true},
		{"id typed loosely", "  SAM ", samPIN, "Sam Super (supervisor, offline)", true},
		{"wrong PIN", "ann", "000000", "The staff id or PIN is wrong.", false},
		{"unknown id", "nobody", annPIN, "The staff id or PIN is wrong.", false},
		{"revoked", "rex", rexPIN, "This staff account has been revoked; ask a supervisor.", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			k := start(t, e.config(), 80, 24)
			k.typeText(tc.id)
			k.press(tcell.KeyEnter) // Enter in the id field moves to the PIN
			k.typeText(tc.pin)
			k.press(tcell.KeyEnter)
			s := k.waitText(tc.want)
			if got := k.top() == "queue"; got != tc.signedIn {
				t.Errorf("signed in: got %v, want %v\n%s", got, tc.signedIn, s)
			}
			if strings.Contains(s, tc.pin) {
				t.Errorf("the PIN is on screen:\n%s", s)
			}
			if !tc.signedIn && !strings.Contains(s, "Staff sign-in") {
				t.Errorf("not on the sign-in screen:\n%s", s)
			}
		})
	}
}

func TestSignInLockout(t *testing.T) {
	e := newEnv(t)
	k := start(t, e.config(), 80, 24) // 3 failures lock for a minute
	k.typeText("ann\t")
	attempt := func(pin, want string) string {
		t.Helper()
		k.typeText(pin)
		k.waitText("******")
		k.press(tcell.KeyEnter)
		// The PIN field empties at once; the answer follows the check.
		return k.waitFor(want, func(s string) bool {
			return !strings.Contains(s, "******") && !strings.Contains(s, "Checking") && strings.Contains(s, want)
		})
	}
	attempt("999999", "The staff id or PIN is wrong.")
	attempt("999998", "The staff id or PIN is wrong.")
	attempt("999997", "Too many wrong PINs")    // the third locks
	s := attempt(annPIN, "Too many wrong PINs") // the right PIN is not even checked now
	l, _ := line(s, "Too many wrong PINs")
	m := regexp.MustCompile(`until (\d\d:\d\d:\d\d)`).FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("no time in %q", l)
	}
	until, err := time.ParseInLocation("15:04:05", m[1], time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	got := time.Date(now.Year(), now.Month(), now.Day(), until.Hour(), until.Minute(), until.Second(), 0, time.UTC)
	if d := got.Sub(now); d < 50*time.Second || d > 61*time.Second {
		t.Errorf("locked until %s, %v from now; want about a minute", m[1], d)
	}
	if k.top() != "sign-in" {
		t.Errorf("signed in while locked")
	}
}

// TestRevokedWhileSignedIn: a directory update that revokes the person
// signs them out at their next key, saying why.
func TestRevokedWhileSignedIn(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice for one coffee.", time.Now().Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	e.saveDirectory(2, []string{"ann"})
	k.waitFor("sign-out at the next key", func(s string) bool {
		if strings.Contains(s, "revoked") {
			return true
		}
		k.press(tcell.KeyDown) // harmless while the notification is on its way
		return false
	})
	s := k.waitSaid("You were signed out: this staff account has been revoked.", "Staff sign-in")
	if strings.Contains(s, "Charged twice") || strings.Contains(s, f.Code.String()) {
		t.Errorf("the case is still on screen:\n%s", s)
	}
	k.typeText("ann\t" + annPIN + "\n")
	k.waitSaid("This staff account has been revoked; ask a supervisor.")
}

// TestIdleSignOut: after IdleSignOut without input the person is signed
// out and nothing of the case they had open is left on screen.
func TestIdleSignOut(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Secret details of a billing dispute.", time.Now().Add(-time.Hour))
	cfg := e.config()
	cfg.IdleSignOut = 400 * time.Millisecond
	k := start(t, cfg, 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.waitText("Secret details")
	s := k.waitText("Signed out after 400ms without input.", "Staff sign-in")
	for _, gone := range []string{"Secret details", f.Code.String(), "Ann Agent"} {
		if strings.Contains(s, gone) {
			t.Errorf("%q still on screen after the idle sign-out:\n%s", gone, s)
		}
	}
	if k.top() != "sign-in" {
		t.Errorf("screen %s", k.top())
	}
}

// TestSignOutKey: q signs out from the queue and the case.
func TestSignOutKey(t *testing.T) {
	e := newEnv(t)
	f := e.file("billing", "Charged twice.", time.Now().Add(-time.Hour))
	k := start(t, e.config(), 80, 24)
	k.signIn("ann", annPIN)
	k.openCase(string(f.Code))
	k.typeText("q")
	s := k.waitText("Signed out.", "Staff sign-in")
	if strings.Contains(s, "Charged twice") {
		t.Errorf("case still on screen:\n%s", s)
	}
}
