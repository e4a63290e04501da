package console_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"ombud/server/central"
	"ombud/server/console"
	"ombud/server/storage"
	"ombud/server/storage/postgres/pgtest"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// env is the real server program's Server in-process: SQLite in a temp
// dir (or PostgreSQL, newPGEnv), the case engine, the tracking page and
// the console on one router.
type env struct {
	srv   *central.Server
	st    central.Store
	base  string
	clock *hlc.Clock
	kiosk map[string]storage.Device
	seq   map[string]*atomic.Int64
	// secrets are the TOTP secrets of the people made by person.
	secrets map[string]string
}

const password = "correct horse battery staple"

func newEnv(t *testing.T, change ...func(*console.Options)) *env {
	t.Helper()
	return newEnvOn(t, central.Config{Data: t.TempDir()}, change...)
}

// newPGEnv is newEnv on a fresh PostgreSQL schema (pgtest), with no data
// directory.
func newPGEnv(t *testing.T, change ...func(*console.Options)) *env {
	t.Helper()
	return newEnvOn(t, central.Config{DB: pgtest.DSN(t), LeaseRetry: 100 * time.Millisecond}, change...)
}

func newEnvOn(t *testing.T, cfg central.Config, change ...func(*console.Options)) *env {
	t.Helper()
	ctx := context.Background()
	opts := console.Options{PasswordCost: staff.TestCost, SignInBurst: 1000}
	for _, f := range change {
		f(&opts)
	}
	cfg.Listen, cfg.Console = "127.0.0.1:0", opts
	srv := central.New(cfg)
	if err := srv.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	e := &env{srv: srv, st: srv.Store(), base: "http://" + srv.Addr().String(), clock: hlc.New(nil),
		kiosk: map[string]storage.Device{}, seq: map[string]*atomic.Int64{}, secrets: map[string]string{}}
	for _, b := range []string{"main", "north"} {
		if err := e.st.CreateBranch(ctx, b, strings.ToUpper(b[:1])+b[1:]+" branch"); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// person makes a staff account with a console password and TOTP.
func (e *env) person(t *testing.T, id string, role staff.Role, branch string, teams ...string) {
	t.Helper()
	ctx := context.Background()
	pin, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateStaff(ctx, staff.Account{ID: id, Name: "Person " + id, Role: role, Branch: branch, Teams: teams, PINHash: pin}); err != nil {
		t.Fatal(err)
	}
	if err := console.SetPassword(ctx, e.st, id, password, staff.TestCost, time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, _, err := console.NewTOTP("Ombud", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := console.EnrolTOTP(ctx, e.st, id, secret, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.secrets[id] = secret
}

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// file files a complaint at a kiosk of branch, pushed as the kiosk would,
// and waits for the case engine to dispatch it.
func (e *env) file(t *testing.T, branch, category, text string) complaint.Complaint {
	t.Helper()
	ctx := context.Background()
	d, ok := e.kiosk[branch]
	if !ok {
		code := hash("enrol " + branch)
		if err := e.st.CreateEnrolment(ctx, storage.Enrolment{Branch: branch, CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Kiosk}); err != nil {
			t.Fatal(err)
		}
		var err error
		if d, err = e.st.RedeemEnrolment(ctx, code, time.Now(), "kiosk-"+branch, hash("cred "+branch)); err != nil {
			t.Fatal(err)
		}
		e.kiosk[branch], e.seq[branch] = d, &atomic.Int64{}
	}
	tc, err := trackcode.Generate(d.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := complaint.Complaint{ID: uid.New(), Code: string(tc), Branch: branch, Device: d.ID, Channel: complaint.ChannelKiosk,
		Category: category, Description: text, Language: "fr", FiledAt: now}
	ev, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.st.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: e.seq[branch].Add(1), Event: ev}})
	if err != nil || res.Stored != 1 {
		t.Fatalf("file: %+v %v", res, err)
	}
	e.waitCase(t, c.ID, func(r storage.CaseRow) bool { return r.Queue != "" })
	return c
}

// waitCase waits until the case projection's row for id satisfies ok.
func (e *env) waitCase(t *testing.T, id string, ok func(storage.CaseRow) bool) storage.CaseRow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := e.st.Case(context.Background(), id)
		if err == nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s: not as expected in time (last %+v, %v)", id, r, err)
		}
		<-time.After(20 * time.Millisecond) // poll the condition again; the deadline above bounds the wait
	}
}

// client is one browser's cookies, without following redirects.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get returns the status and body of a GET, remembering the page's CSRF.
func (c *client) get(path string) (int, string) {
	c.t.Helper()
	res, err := c.http.Get(c.e.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return res.StatusCode, string(b)
}

// post posts a form with the remembered CSRF token.
func (c *client) post(path string, form url.Values) (int, string, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", c.csrf)
	}
	res, err := c.http.PostForm(c.e.base+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return res.StatusCode, string(b), res.Header.Get("Location")
}

// signIn signs id in with password and a current TOTP code.
func (c *client) signIn(id string) { c.t.Helper(); c.signInAt(id, 0) }

// signInAt signs in with the code of the time step at now+ahead: a code
// is good once, so a second sign-in of the same person within 30 s uses
// the next step's (the server accepts one step either side).
func (c *client) signInAt(id string, ahead time.Duration) {
	c.t.Helper()
	c.get("/console/signin")
	st, body, loc := c.post("/console/signin", url.Values{"id": {id}, "password": {password}})
	if st != http.StatusSeeOther || loc != "/console/2fa" {
		c.t.Fatalf("sign-in of %s: %d %s %s", id, st, loc, body)
	}
	c.get("/console/2fa")
	code, err := totp.GenerateCode(c.e.secrets[id], time.Now().Add(ahead))
	if err != nil {
		c.t.Fatal(err)
	}
	st, body, loc = c.post("/console/2fa", url.Values{"code": {code}})
	if st != http.StatusSeeOther || loc != "/console/" {
		c.t.Fatalf("second factor of %s: %d %s %s", id, st, loc, body)
	}
	c.get("/console/")
}

func (c *client) String() string { return fmt.Sprintf("client(%p)", c) }
