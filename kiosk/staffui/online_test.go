package staffui_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/session"
	"ombud/kiosk/staffui"
	"ombud/server/enrol"
	"ombud/server/staffapi"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// Online sign-in is tested against the server's real sessions endpoint
// (server/staffapi on a real server store, over real HTTP), with the
// terminal enrolled as a staff terminal of the test branch and the same
// staff accounts as its stored directory.

var _ staffui.Sessions = (*session.Client)(nil)

// central is the server's staff endpoints for the test branch.
type central struct {
	t    *testing.T
	st   *sqlite.Store
	path string
	srv  *httptest.Server
	auth string // the terminal's credential
}

func newCentral(t *testing.T, opts staffapi.Options) *central {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "server.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(ctx, branch, "Main Street"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []staff.Account{
		{ID: "ann", Name: "Ann Agent", Role: staff.Agent, PINHash: mustHash(t, annPIN)},
		{ID: "sam", Name: "Sam Super", Role: staff.Supervisor, PINHash: mustHash(t, samPIN)},
		{ID: "rex", Name: "Rex Gone", Role: staff.Agent, PINHash: mustHash(t, rexPIN)},
	} {
		a.Branch = branch
		if err := st.CreateStaff(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeStaff(ctx, "rex", time.Now()); err != nil {
		t.Fatal(err)
	}
	opts.PINCost = staff.TestCost
	mux := http.NewServeMux()
	staffapi.NewWith(st, opts).Register(mux)
	c := &central{t: t, st: st, path: path, srv: httptest.NewServer(mux)}
	t.Cleanup(c.srv.Close)
	c.auth = c.enrol(device.Staff)
	return c
}

// enrol enrols a device of role and returns its Authorization value.
func (c *central) enrol(role device.Role) string {
	c.t.Helper()
	ctx := context.Background()
	code, _, err := enrol.Issue(ctx, c.st, enrol.Grant{Branch: branch, Role: role}, time.Hour, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, c.st, enrol.Request{Code: code, DeviceName: "desk"}, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return "Bearer " + en.Credential
}

// sessions is the terminal's client for this server, as auth.
func (c *central) sessions(auth string) *session.Client {
	c.t.Helper()
	s, err := session.New(session.Config{ServerURL: c.srv.URL, Authorization: auth, Timeout: time.Minute}) // what the server answers, not how fast
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// serverSessions lists the sessions the server holds for staffID: how
// many, and how many are still running.
func (c *central) serverSessions(staffID string) (all, running int) {
	c.t.Helper()
	db, err := sql.Open("sqlite", "file:"+c.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		c.t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*), count(*) - count(ended_at) FROM staff_sessions WHERE staff_id = ?`,
		staffID).Scan(&all, &running); err != nil {
		c.t.Fatal(err)
	}
	return all, running
}

// waitServer waits until cond holds of the server.
func (c *central) waitServer(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.After(waitLimit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			c.t.Fatalf("timed out waiting for the server: %s", what)
		case <-tick.C:
		}
	}
}

// onlineConfig is the app's configuration with the server confirming
// sign-ins.
func (e *env) onlineConfig(c *central) staffui.Config {
	cfg := e.config()
	cfg.Sessions = c.sessions(c.auth)
	return cfg
}

// TestOnlineSignIn: with the server reachable the sign-in is the
// server's: it holds a session for the person, the screen does not say
// offline, and signing out ends the session there.
func TestOnlineSignIn(t *testing.T) {
	e := newEnv(t)
	c := newCentral(t, staffapi.Options{})
	k := start(t, e.onlineConfig(c), 80, 24)
	k.signIn("ann", annPIN)
	s := k.waitText("Ann Agent (agent)")
	if strings.Contains(s, "Signed in offline") || strings.Contains(s, "(agent, offline)") {
		t.Errorf("an online sign-in shown as offline:\n%s", s)
	}
	if all, running := c.serverSessions("ann"); all != 1 || running != 1 {
		t.Fatalf("server sessions of ann: %d, %d running; want 1 running", all, running)
	}
	k.typeText("q")
	k.waitSaid("Signed out.", "Staff sign-in")
	c.waitServer("ann's session ended", func() bool { _, running := c.serverSessions("ann"); return running == 0 })

	// Quitting signs out too.
	k.signIn("sam", samPIN)
	if _, running := c.serverSessions("sam"); running != 1 {
		t.Fatalf("sam's sessions running: %d, want 1", running)
	}
	k.app.Stop()
	c.waitServer("sam's session ended at quit", func() bool { _, running := c.serverSessions("sam"); return running == 0 })
}

// TestOnlineRefusal: a wrong PIN online reads as one offline, and counts
// towards this terminal's lock-out, which then holds without asking the
// server; the server is never asked to let a revoked account in.
func TestOnlineRefusal(t *testing.T) {
	e := newEnv(t)
	c := newCentral(t, staffapi.Options{})
	k := start(t, e.onlineConfig(c), 80, 24) // 3 wrong PINs lock here
	k.typeText("ann\t")
	attempt := func(pin, want string) string {
		t.Helper()
		k.typeText(pin)
		k.waitText("******")
		k.press(tcell.KeyEnter)
		return k.waitFor(want, func(s string) bool {
			return !strings.Contains(s, "******") && !strings.Contains(s, "Checking") && strings.Contains(flat(s), want)
		})
	}
	attempt("999999", "The staff id or PIN is wrong.")
	attempt("999998", "The staff id or PIN is wrong.")
	attempt("999997", "Too many wrong PINs: this id is locked on this terminal until")
	attempt(annPIN, "Too many wrong PINs: this id is locked on this terminal until")
	if all, _ := c.serverSessions("ann"); all != 0 {
		t.Errorf("the server started %d sessions for ann", all)
	}
	var le *staff.LockedError
	if err := e.accounts.Locked(context.Background(), "ann", time.Now(), staff.Lockout{MaxFailures: 3, Duration: time.Minute}); !errors.As(err, &le) {
		t.Errorf("ann on this terminal: %v, want locked", err)
	}
	if k.top() != "sign-in" {
		t.Errorf("signed in after refusals")
	}

	// An account the server refuses gets the same words as a wrong PIN.
	k.press(tcell.KeyBacktab)
	k.typeText("rex\t" + rexPIN + "\n")
	k.waitSaid("The staff id or PIN is wrong.")
}

// TestServerDownSignsInOffline: when the server cannot be reached the
// terminal signs the person in against its directory and says, for as long
// as they stay, that they are signed in offline.
func TestServerDownSignsInOffline(t *testing.T) {
	for _, width := range []int{80, 100} {
		t.Run(map[int]string{80: "80x24", 100: "100x30"}[width], func(t *testing.T) {
			e := newEnv(t)
			c := newCentral(t, staffapi.Options{})
			c.srv.Close()
			k := start(t, e.onlineConfig(c), width, map[int]int{80: 24, 100: 30}[width])
			k.signIn("ann", annPIN)
			want := "Signed in offline: the server is out of reach; your actions will be marked as offline."
			if width == 80 {
				want = "Signed in offline: the server is out of reach; actions will be marked offline."
			}
			s := k.waitText("Ann Agent (agent, offline)", want)
			t.Logf("signed in offline at %d columns:\n%s", width, s)
			k.typeText("n") // a form hides the notice, not the header's word
			s = k.waitText("New complaint for a walk-in customer", "Customer agrees", "Ann Agent (agent, offline)")
			if strings.Contains(s, "Signed in offline") {
				t.Errorf("the notice over a form:\n%s", s)
			}
			k.press(tcell.KeyEsc)
			k.waitText(want)
		})
	}
}

// TestOfflineSignInBounded: a terminal whose last contact with the server
// is older than the server's bound signs nobody in offline, and says why;
// the server, once reachable, signs people in whatever the terminal's
// contact.
func TestOfflineSignInBounded(t *testing.T) {
	e := newEnv(t)
	if err := e.accounts.Reached(context.Background(), time.Now().Add(-80*time.Hour), 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	c := newCentral(t, staffapi.Options{})
	down := e.onlineConfig(c)
	c.srv.Close()
	k := start(t, down, 80, 24)
	k.typeText("ann\t" + annPIN + "\n")
	s := k.waitSaid("This terminal has not reached the server for 3 days: staff cannot sign in until it does.")
	if k.top() != "sign-in" || strings.Contains(s, "Showing") {
		t.Errorf("signed in past the bound:\n%s", s)
	}
	t.Logf("refused past the bound:\n%s", s)

	up := newCentral(t, staffapi.Options{})
	cfg := e.onlineConfig(up)
	k2 := start(t, cfg, 80, 24)
	k2.signIn("ann", annPIN)
	k2.waitText("Ann Agent (agent)")
}

// TestRefusedDeviceDoesNotSignInOffline: a server that refuses the device
// (here: a customer kiosk's credential) is not out of reach; nobody is
// signed in offline instead.
func TestRefusedDeviceDoesNotSignInOffline(t *testing.T) {
	e := newEnv(t)
	c := newCentral(t, staffapi.Options{})
	cfg := e.config()
	cfg.Sessions = c.sessions(c.enrol(device.Kiosk))
	k := start(t, cfg, 80, 24)
	k.typeText("ann\t" + annPIN + "\n")
	k.waitSaid("The server refused the sign-in: This device is not a staff terminal")
	if k.top() != "sign-in" {
		t.Error("signed in")
	}
}

// TestSessionExpiry: a confirmed sign-in ends when the server's session
// does: the person signs in again.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c := newCentral(t, staffapi.Options{SessionTTL: 2 * time.Second})
	k := start(t, e.onlineConfig(c), 80, 24)
	k.signIn("ann", annPIN)
	k.waitSaid("Your sign-in has expired: sign in again.", "Staff sign-in")
}

// TestServerLockout: the server's own lock-out (five wrong PINs at any of
// its terminals) is shown with the time its Retry-After gives.
func TestServerLockout(t *testing.T) {
	e := newEnv(t)
	c := newCentral(t, staffapi.Options{})
	cfg := e.onlineConfig(c)
	cfg.Lockout = staff.Lockout{MaxFailures: 10, Duration: time.Minute} // this terminal's is looser
	k := start(t, cfg, 80, 24)
	k.typeText("ann\t")
	var s string
	for i := range staff.DefaultLockout.MaxFailures {
		k.typeText(fmt.Sprintf("99999%d", i))
		k.waitText("******")
		k.press(tcell.KeyEnter)
		s = k.waitFor("an answer", func(s string) bool {
			return !strings.Contains(s, "******") && !strings.Contains(s, "Checking") &&
				(strings.Contains(s, "wrong") || strings.Contains(s, "Too many"))
		})
	}
	l, _ := line(s, "Too many wrong PINs")
	m := regexp.MustCompile(`locked until (\d\d:\d\d:\d\d)\.`).FindStringSubmatch(flat(s))
	if m == nil || strings.Contains(l, "on this terminal") {
		t.Fatalf("after %d wrong PINs: want the server's lock-out and its time:\n%s", staff.DefaultLockout.MaxFailures, s)
	}
	until, err := time.ParseInLocation("15:04:05", m[1], time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	got := time.Date(now.Year(), now.Month(), now.Day(), until.Hour(), until.Minute(), until.Second(), 0, time.UTC)
	if d := got.Sub(now); d < staff.DefaultLockout.Duration-time.Minute || d > staff.DefaultLockout.Duration+time.Second {
		t.Errorf("locked until %s, %v from now; want about %v", m[1], d, staff.DefaultLockout.Duration)
	}
}
