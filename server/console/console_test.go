package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"ombud/server/admit"
	"ombud/server/console"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/staff"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct {
		p    string
		ok   bool
		want string
	}{
		{"short", false, "12 to 128"},
		{"password", false, "12 to 128"},
		{"Password2024!", false, "most common"},
		{"qwertyuiop123", false, "most common"},
		{"alice-rocks-hard", false, "staff id"},
		{"correct horse battery staple", true, ""},
		{"bad\x07password-long", false, "control"},
	} {
		err := console.ValidatePassword("alice", c.p)
		if (err == nil) != c.ok || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v (%q)", c.p, err, c.ok, c.want)
		}
	}
}

// TestSignIn: password then TOTP; wrong ones refused and audited; the
// cookie's attributes; five failures lock the account even for the right
// password; sign-out everywhere ends other browsers' sessions.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	c := e.client(t)
	c.get("/console/signin")
	st, body, _ := c.post("/console/signin", url.Values{"id": {"ana"}, "password": {"wrong password here"}})
	if st != http.StatusUnauthorized || !strings.Contains(body, "The staff id or password is wrong.") {
		t.Fatalf("wrong password: %d %s", st, body)
	}
	st, body, _ = c.post("/console/signin", url.Values{"id": {"nobody"}, "password": {password}})
	if st != http.StatusUnauthorized || !strings.Contains(body, "The staff id or password is wrong.") {
		t.Fatalf("unknown id: %d", st)
	}
	// Without the form's token: refused before anything is checked.
	if st, _, _ := c.post("/console/signin", url.Values{"id": {"ana"}, "password": {password}, "csrf": {"forged"}}); st != http.StatusForbidden {
		t.Errorf("forged sign-in form: %d, want 403", st)
	}

	// Password right: a half session, which opens nothing but the second step.
	st, _, loc := c.post("/console/signin", url.Values{"id": {"ana"}, "password": {password}})
	if st != http.StatusSeeOther || loc != "/console/2fa" {
		t.Fatalf("right password: %d %s", st, loc)
	}
	if st, _ := c.get("/console/"); st != http.StatusSeeOther {
		t.Errorf("queues before the second factor: %d, want a redirect to sign in", st)
	}
	c.get("/console/2fa")
	if st, _, _ := c.post("/console/2fa", url.Values{"code": {"000000"}}); st != http.StatusUnauthorized {
		t.Errorf("wrong code: %d", st)
	}
	code, _ := totp.GenerateCode(e.secrets["ana"], time.Now())
	res, err := c.http.PostForm(e.base+"/console/2fa", url.Values{"code": {code}, "csrf": {c.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code: %d", res.StatusCode)
	}
	var ck *http.Cookie
	for _, k := range res.Cookies() {
		if k.Name == "ombud_console" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Value == "" {
		t.Fatalf("session cookie = %+v, want HttpOnly SameSite=Strict", ck)
	}
	if st, body := c.get("/console/"); st != http.StatusOK || !strings.Contains(body, "Person ana") {
		t.Fatalf("queues: %d", st)
	}

	// Another browser, then sign-out everywhere from the first.
	// A code is good once: replayed in another browser, refused.
	replay := e.client(t)
	replay.get("/console/signin")
	replay.post("/console/signin", url.Values{"id": {"ana"}, "password": {password}})
	replay.get("/console/2fa")
	if st, _, _ := replay.post("/console/2fa", url.Values{"code": {code}}); st != http.StatusUnauthorized {
		t.Errorf("the same code again: %d, want 401", st)
	}
	other := e.client(t)
	other.signInAt("ana", 30*time.Second)
	c.get("/console/")
	if st, _, _ := c.post("/console/signout-all", nil); st != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", st)
	}
	if st, _ := other.get("/console/"); st != http.StatusSeeOther {
		t.Errorf("other browser after sign-out everywhere: %d, want redirect to sign in", st)
	}

	// Lock-out: five wrong passwords, then the right one is refused too.
	l := e.client(t)
	l.get("/console/signin")
	for range staff.DefaultLockout.MaxFailures {
		l.post("/console/signin", url.Values{"id": {"ana"}, "password": {"not the password!"}})
	}
	st, body, _ = l.post("/console/signin", url.Values{"id": {"ana"}, "password": {password}})
	if st != http.StatusTooManyRequests || !strings.Contains(body, "locked") {
		t.Errorf("after %d failures: %d, want locked", staff.DefaultLockout.MaxFailures, st)
	}

	audit, err := e.st.ConsoleAudit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, a := range audit {
		seen[a.Action]++
		if strings.Contains(a.Detail, password) || strings.Contains(a.Detail, "nobody") {
			t.Errorf("audit entry holds what was typed: %+v", a)
		}
	}
	for _, want := range []string{"signin", "signin_failed", "signin_password", "signout_all", "locked", "signin_locked"} {
		if seen[want] == 0 {
			t.Errorf("audit trail has no %q entry: %v", want, seen)
		}
	}
}

// TestSignInThrottled: sign-in attempts from one address beyond the
// burst are refused before any password is checked, and audited.
func TestSignInThrottled(t *testing.T) {
	e := newEnv(t, func(o *console.Options) { o.SignInBurst, o.SignInRate = 3, 1 })
	e.person(t, "ana", staff.Agent, "main")
	c := e.client(t)
	c.get("/console/signin")
	var last int
	for range 4 {
		last, _, _ = c.post("/console/signin", url.Values{"id": {"ana"}, "password": {password}})
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("fourth attempt: %d, want 429", last)
	}
	audit, _ := e.st.ConsoleAudit(context.Background(), 10)
	if len(audit) == 0 || audit[0].Action != "signin_throttled" {
		t.Errorf("newest audit entry = %+v, want signin_throttled", audit)
	}
}

// TestCaseWork: acknowledge and message through the console; the events
// are in the log as pushed by the branch's console device under the
// sign-in's session; the message is on the customer's page; a second
// person acting on the page they loaded earlier is told.
func TestCaseWork(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	e.person(t, "bea", staff.Agent, "main")
	cp := e.file(t, "main", "billing", "On m'a volé ma carte à l'agence.")
	a, b := e.client(t), e.client(t)
	a.signIn("ana")
	b.signIn("bea")
	a.get("/console/case/" + cp.ID)
	b.get("/console/case/" + cp.ID)
	bForm := b.csrf
	_, page := b.get("/console/case/" + cp.ID)
	seq := between(page, `name="seq" value="`, `"`)

	st, _, loc := a.post("/console/case/"+cp.ID+"/acknowledge", url.Values{})
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/case/"+cp.ID) {
		t.Fatalf("acknowledge: %d %s", st, loc)
	}
	// Bea acknowledges from the page she loaded before: told, not recorded twice.
	st, body, _ := b.post("/console/case/"+cp.ID+"/acknowledge", url.Values{"seq": {seq}, "csrf": {bForm}})
	if st != http.StatusConflict || !strings.Contains(body, "Someone acted on this case while you had it open") || !strings.Contains(body, "ana: acknowledged") {
		t.Errorf("second acknowledgement: %d, want 409 naming ana", st)
	}
	const msg = "Nous avons bloqué la carte <b>et</b> vous rappelons demain."
	if st, body, _ := a.post("/console/case/"+cp.ID+"/message", url.Values{"text": {msg}}); st != http.StatusSeeOther {
		t.Fatalf("message: %d %s", st, body)
	}
	evs, err := e.st.ComplaintEvents(context.Background(), cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	origins, _ := e.st.EventOrigins(context.Background(), cp.ID)
	var acks, msgs int
	for _, se := range evs {
		o := origins[se.Event.ID]
		switch se.Event.Type {
		case event.Acknowledged:
			acks++
		case event.MessageSent:
			msgs++
		default:
			continue
		}
		if se.Event.Actor != (event.Actor{Kind: event.ActorStaff, ID: "ana"}) || o.DeviceID != "console.main" || !strings.HasPrefix(o.Attest, admit.AttestSession) {
			t.Errorf("%s: actor %+v origin %+v, want ana through console.main in a session", se.Event.Type, se.Event.Actor, o)
		}
	}
	if acks != 1 || msgs != 1 {
		t.Errorf("acknowledgements %d, messages %d; want 1 and 1", acks, msgs)
	}
	// The case page escapes what people wrote, and shows who and from where.
	_, page = a.get("/console/case/" + cp.ID)
	if strings.Contains(page, "<b>et</b>") || !strings.Contains(page, "&lt;b&gt;et&lt;/b&gt;") || !strings.Contains(page, "from web console") {
		t.Errorf("case page does not escape the message or name the console")
	}
	// The customer's page shows the message.
	res, err := http.Get(e.base + "/t/" + cp.Code)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := res.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(sb.String(), "Nous avons bloqué la carte") {
		t.Errorf("tracking page lacks the console's message")
	}
	// A closed case cannot be acknowledged, noted as refused by the table.
	if st, body, _ := a.post("/console/case/"+cp.ID+"/close", url.Values{}); st != http.StatusConflict || !strings.Contains(body, "after a response") {
		t.Errorf("close before a response: %d, want 409 with the lifecycle's reason", st)
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

// TestSearch: accent- and case-free words find accented text, within the
// person's scope only; a tracking code opens its case.
func TestSearch(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	mine := e.file(t, "main", "cards", "Ma carte a été VOLÉE au distributeur.")
	other := e.file(t, "north", "cards", "Carte volée à Lille.")
	c := e.client(t)
	c.signIn("ana")
	st, body := c.get("/console/search?q=" + url.QueryEscape("vole carte"))
	if st != http.StatusOK || !strings.Contains(body, mine.Code) {
		t.Errorf("search 'vole carte': %d, want %s", st, mine.Code)
	}
	if strings.Contains(body, other.Code) {
		t.Errorf("search shows a case of another branch")
	}
	st, _ = c.get("/console/search?q=" + strings.ToLower(mine.Code))
	if st != http.StatusSeeOther {
		t.Errorf("search by code: %d, want a redirect to the case", st)
	}
	if _, body := c.get("/console/search?q=" + other.Code); strings.Contains(body, other.Code+"</a>") {
		t.Errorf("code of another branch's case found")
	}
	// FTS syntax in the query is only words.
	if st, _ := c.get("/console/search?q=" + url.QueryEscape(`"NEAR( OR *`)); st != http.StatusOK {
		t.Errorf("FTS syntax in the query: %d", st)
	}
}

// TestReassignToTeam: a supervisor reassigns a case to team:fraud; a
// fraud team member of another branch sees it in their queue and may act
// on it (the admission rules' console scope), an agent of that other
// branch outside the team may not even open it.
func TestReassignToTeam(t *testing.T) {
	e := newEnv(t)
	e.person(t, "sam", staff.Supervisor, "main")
	e.person(t, "fred", staff.Agent, "north", "fraud")
	e.person(t, "nina", staff.Agent, "north")
	cp := e.file(t, "main", "cards", "Paiement inconnu sur mon compte.")
	s := e.client(t)
	s.signIn("sam")
	s.get("/console/case/" + cp.ID)
	if st, body, _ := s.post("/console/case/"+cp.ID+"/assign", url.Values{"queue": {"team:fraud"}}); st != http.StatusSeeOther {
		t.Fatalf("assign: %d %s", st, body)
	}
	e.waitCase(t, cp.ID, func(r storage.CaseRow) bool { return r.Queue == "team:fraud" })
	f := e.client(t)
	f.signIn("fred")
	if _, body := f.get("/console/?queue=team:fraud"); !strings.Contains(body, cp.Code) {
		t.Errorf("fraud team's queue lacks the case")
	}
	f.get("/console/case/" + cp.ID)
	if st, body, _ := f.post("/console/case/"+cp.ID+"/acknowledge", nil); st != http.StatusSeeOther {
		t.Errorf("fraud team member acknowledging: %d %s", st, between(body, `id="error"`, "</p>"))
	}
	n := e.client(t)
	n.signIn("nina")
	if st, _ := n.get("/console/case/" + cp.ID); st != http.StatusNotFound {
		t.Errorf("agent of another branch opening the case by URL: %d, want 404", st)
	}
	row := e.waitCase(t, cp.ID, func(r storage.CaseRow) bool { return r.State == lifecycle.Acknowledged })
	_ = row
}

// TestLiveAndTerminal: the live feed says "change" once a case is filed in
// the person's scope and folded (not for another branch's), and a staff
// terminal acknowledging a case while a console user has it open makes
// the console's acknowledgement a conflict that names the terminal's
// staff member; the console's note then goes through and both are in the
// one log.
func TestLiveAndTerminal(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	c := e.client(t)
	c.signIn("ana")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/console/events", nil)
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, ct)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitChange := func(what string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("%s: stream ended", what)
				}
				if l == "event: change" {
					return
				}
			case <-ctx.Done():
				t.Fatalf("%s: no change event", what)
			}
		}
	}
	e.file(t, "north", "billing", "Another branch's case.")
	cp := e.file(t, "main", "billing", "Frais prélevés deux fois.")
	waitChange("a case filed in main")
	if _, body := c.get("/console/"); !strings.Contains(body, cp.Code) {
		t.Errorf("queue after the change event lacks %s", cp.Code)
	}

	// A staff terminal of main, with its own staff member.
	ctxb := context.Background()
	pin, _ := staff.HashPINWith("482913", staff.TestCost)
	if err := e.st.CreateStaff(ctxb, staff.Account{ID: "tom", Name: "Tom", Role: staff.Agent, Branch: "main", PINHash: pin}); err != nil {
		t.Fatal(err)
	}
	code := hash("terminal main")
	if err := e.st.CreateEnrolment(ctxb, storage.Enrolment{Branch: "main", CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Staff}); err != nil {
		t.Fatal(err)
	}
	term, err := e.st.RedeemEnrolment(ctxb, code, time.Now(), "terminal-main", hash("cred terminal"))
	if err != nil {
		t.Fatal(err)
	}
	_, page := c.get("/console/case/" + cp.ID)
	seq := between(page, `name="seq" value="`, `"`)
	ack := event.Event{ID: uid.New(), ComplaintID: cp.ID, Type: event.Acknowledged, Actor: event.Actor{Kind: event.ActorStaff, ID: "tom"},
		At: e.clock.Now(), Branch: "main"}
	if r, err := e.st.Push(ctxb, term.ID, []wire.DeviceEvent{{Seq: 1, Event: ack}}); err != nil || r.Stored != 1 {
		t.Fatalf("terminal push: %+v %v", r, err)
	}
	st, body, _ := c.post("/console/case/"+cp.ID+"/acknowledge", url.Values{"seq": {seq}})
	if st != http.StatusConflict || !strings.Contains(body, "tom: acknowledged") {
		t.Errorf("console acknowledging after the terminal: %d, want 409 naming tom", st)
	}
	if st, _, _ := c.post("/console/case/"+cp.ID+"/note", url.Values{"seq": {seq}, "text": {"Appelé le client."}}); st != http.StatusSeeOther {
		t.Errorf("note after the terminal's acknowledgement: %d", st)
	}
	evs, _ := e.st.ComplaintEvents(ctxb, cp.ID)
	var types []event.Type
	for _, se := range evs {
		types = append(types, se.Event.Type)
	}
	if want := []event.Type{event.Filed, event.Assigned, event.Acknowledged, event.NoteAdded}; !slices.Equal(types, want) {
		t.Errorf("log = %v, want %v", types, want)
	}
}

// TestDecisionSaysUntilWhenTheCustomerMayAnswer: a decision recorded in the
// console carries its answer_by date from the server's SLA rules, as a
// terminal's does (ISO 10002 8.9), so the customer's page states the
// period and staff cannot close before it.
func TestDecisionSaysUntilWhenTheCustomerMayAnswer(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	cp := e.file(t, "main", "billing", "The machine kept my card.")
	a := e.client(t)
	a.signIn("ana")
	for _, step := range []struct {
		action string
		form   url.Values
	}{
		{"acknowledge", url.Values{}},
		{"assess", url.Values{"severity": {string(event.SeverityMedium)}, "priority": {"3"}}},
		{"respond", url.Values{"text": {"We returned your card."}}},
	} {
		a.get("/console/case/" + cp.ID)
		if st, body, _ := a.post("/console/case/"+cp.ID+"/"+step.action, step.form); st != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, st, body)
		}
	}
	evs, err := e.st.ComplaintEvents(context.Background(), cp.ID)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, se := range evs {
		if se.Event.Type != event.Responded {
			continue
		}
		found = true
		var d event.Decision
		if err := json.Unmarshal(se.Event.Data, &d); err != nil {
			t.Fatal(err)
		}
		want := se.Event.At.Time().Add(lifecycle.DefaultAcceptWithin)
		if d.AnswerBy.IsZero() || d.AnswerBy.Sub(want).Abs() > time.Second {
			t.Errorf("decision answer_by = %v, want %v (recorded at %v plus the SLA's accept_within)", d.AnswerBy, want, se.Event.At.Time())
		}
		if d.Text != "We returned your card." {
			t.Errorf("decision text = %q", d.Text)
		}
	}
	if !found {
		t.Fatal("no decision in the log")
	}
}

// TestCloseBeforeTheCustomersAnswerIsRefused: closing a decided case
// before the customer's time to answer has passed, without their
// acceptance, is refused with the reason, and nothing is stored; with
// their acceptance it closes.
func TestCloseBeforeTheCustomersAnswerIsRefused(t *testing.T) {
	e := newEnv(t)
	e.person(t, "ana", staff.Agent, "main")
	cp := e.file(t, "main", "billing", "The machine kept my card.")
	a := e.client(t)
	a.signIn("ana")
	post := func(action string, form url.Values) (int, string) {
		a.get("/console/case/" + cp.ID)
		st, body, _ := a.post("/console/case/"+cp.ID+"/"+action, form)
		return st, body
	}
	for _, step := range []struct {
		action string
		form   url.Values
	}{
		{"acknowledge", url.Values{}},
		{"assess", url.Values{"severity": {string(event.SeverityMedium)}, "priority": {"3"}}},
		{"respond", url.Values{"text": {"We returned your card."}}},
	} {
		if st, body := post(step.action, step.form); st != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, st, body)
		}
	}
	count := func() int {
		evs, err := e.st.ComplaintEvents(context.Background(), cp.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := count()
	if st, body := post("close", url.Values{"text": {"Closed."}, "cause": {"process"}}); st != http.StatusConflict || !strings.Contains(body, "The server refused this action") {
		t.Errorf("close before the customer's answer: %d, want 409 with the reason", st)
	}
	if n := count(); n != before {
		t.Errorf("the refused close stored %d events", n-before)
	}
	if st, body := post("close", url.Values{"text": {"Closed."}, "accepted": {"yes"}, "cause": {"process"}}); st != http.StatusSeeOther {
		t.Errorf("close with the customer's acceptance: %d %s", st, body)
	}
}
