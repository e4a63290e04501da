package staffui_test

import (
	"context"
	"encoding/json"
	"ombud/shared/sla"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/filing"
	"ombud/kiosk/screentest"
	"ombud/kiosk/staffui"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

const waitLimit = 15 * time.Second

// Staff of the test branch: ann works the queue, sam supervises, rex has
// been revoked.
const (
	branch = "main"
	annPIN = "482913"
	samPIN = "735102"
	rexPIN = "604817"
)

// env is a real store in a temporary directory with the branch's staff
// directory, and a clock for the events the tests make.
type env struct {
	t     *testing.T
	st    *store.Store
	clock *hlc.Clock
	dir   string
	scope atomic.Int64 // the remote scope's cursor
	mu    sync.Mutex

	// What the terminal uses of the database: its cases and staff accounts.
	queue    *cases.Queue
	accounts *signin.Accounts
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, store.Options{}) }

// newEnvWith is newEnv with store options.
func newEnvWith(t *testing.T, opts store.Options) *env {
	t.Helper()
	dir := t.TempDir()
	p := cases.NewProjection(cases.Options{})
	st, err := store.OpenWith(context.Background(), filepath.Join(dir, "kiosk.db"), nil, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, queue: cases.New(st, p), accounts: signin.New(st), clock: hlc.New(nil), dir: dir}
	e.saveDirectory(1, nil)
	// The directory came from the server just now: offline sign-in is
	// within the server's bound.
	if err := e.accounts.Reached(context.Background(), time.Now(), 0); err != nil {
		t.Fatal(err)
	}
	return e
}

func mustHash(t *testing.T, pin string) string {
	t.Helper()
	h, err := staff.HashPINWith(pin, staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// saveDirectory stores the branch's directory at version, with the ids in
// revoke revoked (rex always is).
func (e *env) saveDirectory(version int64, revoke []string) {
	e.t.Helper()
	now := time.Now().UTC()
	d := staff.Directory{Branch: branch, Version: version, IssuedAt: now}
	for _, a := range []staff.Account{
		{ID: "ann", Name: "Ann Agent", Role: staff.Agent, PINHash: mustHash(e.t, annPIN)},
		{ID: "sam", Name: "Sam Super", Role: staff.Supervisor, PINHash: mustHash(e.t, samPIN)},
		{ID: "rex", Name: "Rex Gone", Role: staff.Agent, PINHash: mustHash(e.t, rexPIN), RevokedAt: now},
	} {
		a.Branch, a.UpdatedAt = branch, now
		for _, id := range revoke {
			if a.ID == id {
				a.RevokedAt = now
			}
		}
		d.Accounts = append(d.Accounts, a)
	}
	if ok, err := e.accounts.SaveDirectory(context.Background(), d); err != nil || !ok {
		e.t.Fatalf("save directory: %v, %v", ok, err)
	}
}

// file files a complaint at this terminal as filed at filedAt.
func (e *env) file(category, desc string, filedAt time.Time) filing.Filed {
	e.t.Helper()
	// Filed then by the event's clock too: the SLA clock times a case from
	// its Filed event.
	svc, err := filing.New(e.st, hlc.New(func() time.Time { return filedAt }), filing.Config{Branch: branch, PublicURL: "https://track.example.org",
		SLA: utcRules, Now: func() time.Time { return filedAt }})
	if err != nil {
		e.t.Fatal(err)
	}
	f, err := svc.File(context.Background(), filing.Draft{Category: category, Description: desc, Language: "en"})
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

// filer is a filing service for the app.
func (e *env) filer() *filing.Service {
	e.t.Helper()
	svc, err := filing.New(e.st, e.clock, filing.Config{Branch: branch, PublicURL: "https://track.example.org",
		SLA: utcRules})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// remote applies events as if the server sent them from another device.
func (e *env) remote(events ...event.Event) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	from := e.scope.Load()
	next := from + int64(len(events))
	if err := e.st.ApplyRemote(context.Background(), "branch:"+branch, from, next, events); err != nil {
		e.t.Fatal(err)
	}
	e.scope.Store(next)
}

// remoteFiled makes a complaint filed at another device, unnormalised (as
// a hostile or broken device could send it), at filedAt.
func (e *env) remoteFiled(desc string, filedAt time.Time) complaint.Complaint {
	e.t.Helper()
	code, err := trackcode.Generate("RMT")
	if err != nil {
		e.t.Fatal(err)
	}
	c := complaint.Complaint{ID: uid.NewAt(filedAt), Code: string(code), Branch: branch, Device: "other-kiosk",
		Channel: complaint.ChannelKiosk, Category: "billing", Description: desc, Language: "en",
		FiledAt: filedAt.UTC().Truncate(time.Millisecond)}
	ev, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "other-kiosk"}, hlc.Make(filedAt.UnixMilli(), 0))
	if err != nil {
		e.t.Fatal(err)
	}
	e.remote(ev)
	return c
}

// staffEvent is an event by staff member actor at at.
func staffEvent(complaintID string, typ event.Type, actor string, at hlc.Timestamp, data any) event.Event {
	e := event.Event{ID: uid.NewAt(at.Time()), ComplaintID: complaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorStaff, ID: actor}, At: at, Branch: branch}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			panic(err)
		}
		e.Data = b
	}
	return e
}

// act records an event through the store, as another session here would.
func (e *env) act(complaintID string, typ event.Type, actor string, data any) {
	e.t.Helper()
	if _, err := e.queue.Act(context.Background(), staffEvent(complaintID, typ, actor, e.clock.Now(), data)); err != nil {
		e.t.Fatalf("act %s: %v", typ, err)
	}
}

// detail reads a case.
func (e *env) detail(id string) cases.Detail {
	e.t.Helper()
	d, err := e.queue.CaseDetail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// terminalStore is the terminal's store as the program wires it: the case
// queue and the staff accounts of one database.
type terminalStore struct {
	*cases.Queue
	*signin.Accounts
}

var (
	_ staffui.Queue    = (*cases.Queue)(nil)
	_ staffui.Accounts = (*signin.Accounts)(nil)
	_ staffui.Store    = terminalStore{}
)

// config is the app's configuration on this env.
func (e *env) config() staffui.Config {
	return staffui.Config{
		Store: terminalStore{e.queue, e.accounts}, Clock: e.clock, Branch: branch, BranchName: "Main Street",
		Filer: e.filer(), PublicURL: "https://track.example.org", Location: time.UTC,
		Lockout: staff.Lockout{MaxFailures: 3, Duration: time.Minute}, OperatorQuit: true,
		SyncStatus: func() string { return "offline · 0 waiting" },
	}
}

// term is a real App running on a simulation screen.
type term struct {
	t    *testing.T
	app  *staffui.App
	sim  tcell.SimulationScreen
	done chan error
}

// start runs the app at w x h (see kiosk/tui's harness: SetScreen resets
// the simulation screen to 80x25, so the size is set after the first
// frame).
func start(t *testing.T, cfg staffui.Config, w, h int) *term {
	t.Helper()
	k := &term{t: t, app: staffui.New(cfg), sim: tcell.NewSimulationScreen("UTF-8"), done: make(chan error, 1)}
	go func() { k.done <- k.app.Run(k.sim) }()
	t.Cleanup(func() {
		k.app.Stop()
		select {
		case err := <-k.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after Stop")
		}
	})
	k.waitFor("first frame", func(string) bool {
		_, cw, ch := k.sim.GetContents()
		return cw == 80 && ch == 25
	})
	k.waitText("PIN") // the sign-in form, in any language
	k.sim.SetSize(w, h)
	if err := k.sim.PostEvent(tcell.NewEventResize(w, h)); err != nil {
		t.Fatal(err)
	}
	k.waitFor("resize", func(screen string) bool {
		lines := strings.Split(screen, "\n")
		return len(lines) == h && strings.Contains(lines[h-1], "Tab")
	})
	return k
}

// screen returns the screen's text, one line per row, read on the UI
// goroutine (GetContents is the live buffer).
func (k *term) screen() string {
	var text string
	k.app.QueueUpdate(func() { text = screentest.Text(k.sim.GetContents()) })
	return text
}

// cells returns a copy of the screen's cells, read on the UI goroutine.
func (k *term) cells() ([]tcell.SimCell, int, int) {
	var out []tcell.SimCell
	var w, h int
	k.app.QueueUpdate(func() {
		var cells []tcell.SimCell
		cells, w, h = k.sim.GetContents()
		out = screentest.Copy(cells)
	})
	return out, w, h
}

func (k *term) waitFor(what string, cond func(screen string) bool) string {
	k.t.Helper()
	return screentest.WaitFor(k.t, what, waitLimit, k.done, k.screen, cond)
}

func (k *term) waitText(texts ...string) string {
	k.t.Helper()
	return k.waitFor(strings.Join(texts, ", "), func(s string) bool {
		for _, t := range texts {
			if !strings.Contains(s, t) {
				return false
			}
		}
		return true
	})
}

// flat is s with every run of white space (new lines included) and the
// side borders of boxes made one space: a message wrapped over two rows
// reads as one.
func flat(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "║", " ")), " ")
}

// waitSaid waits for texts that may wrap over rows, such as messages.
func (k *term) waitSaid(texts ...string) string {
	k.t.Helper()
	return k.waitFor(strings.Join(texts, ", "), func(s string) bool {
		for _, t := range texts {
			if !strings.Contains(flat(s), flat(t)) {
				return false
			}
		}
		return true
	})
}

// top is the screen keys go to.
func (k *term) top() string {
	var s string
	k.app.QueueUpdate(func() { s = k.app.TopScreen() })
	return s
}

func (k *term) waitTop(want string) {
	k.t.Helper()
	k.waitFor("screen "+want, func(string) bool { return k.top() == want })
}

func (k *term) selected() string {
	var s string
	k.app.QueueUpdate(func() { s = k.app.SelectedID() })
	return s
}

func (k *term) press(keys ...tcell.Key) {
	for _, key := range keys {
		k.sim.InjectKey(key, 0, tcell.ModNone)
	}
}

func (k *term) typeText(s string) {
	for _, r := range s {
		if r == '\n' {
			k.sim.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
			continue
		}
		k.sim.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
}

// signIn signs id in and waits for the queue.
func (k *term) signIn(id, pin string) {
	k.t.Helper()
	k.waitTop("sign-in")
	k.typeText(id)
	k.press(tcell.KeyTab)
	k.typeText(pin)
	k.press(tcell.KeyEnter)
	k.waitTop("queue")
	k.waitText("Showing")
}

// line returns the screen line holding text, and its row.
func line(screen, text string) (string, int) {
	for y, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, text) {
			return l, y
		}
	}
	return "", -1
}

// openCase finds code with the search line and opens its case, as staff
// do when a customer reads their code out.
func (k *term) openCase(code string) {
	k.t.Helper()
	k.typeText("/" + code)
	k.press(tcell.KeyEnter)
	shown := trackcode.Code(code).String()
	k.waitFor("row "+shown+" selected", func(string) bool { return k.rowSelected(shown) })
	k.press(tcell.KeyEnter)
	k.waitTop("case")
	k.waitText(shown)
}

// rowSelected reports whether the row holding text is drawn selected.
func (k *term) rowSelected(text string) bool {
	s := k.screen()
	_, y := line(s, text)
	if y < 0 {
		return false
	}
	cells, w, _ := k.cells()
	_, bg, _ := cells[y*w].Style.Decompose()
	return bg == tcell.ColorYellow
}

// utcRules are the fallback rules (2 and 15 business days) in UTC.
func utcRules() *sla.Config {
	cfg, err := sla.Fallback(2, 15, time.UTC)
	if err != nil {
		panic(err)
	}
	return cfg
}
