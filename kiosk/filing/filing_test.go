package filing_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// syncBuffer is a log sink the race detector accepts.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The kiosk's store is what filing commits to.
var _ filing.Store = (*store.Store)(nil)

// env is a Service on a real database file, with its log captured.
type env struct {
	svc   *filing.Service
	st    *store.Store
	queue *cases.Queue // the staff queue's view of the same database
	path  string
	log   *syncBuffer
}

// MustService opens a store in tb's temp dir (50 ms busy timeout) and a
// Service on it; edit adjusts the config first.
func MustService(tb testing.TB, edit func(*filing.Config)) env {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "kiosk.db")
	p := cases.NewProjection(cases.Options{})
	st, err := store.OpenWith(context.Background(), path, nil, p, store.Options{BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	rules, err := sla.Fallback(2, 15, time.UTC)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := filing.Config{
		Branch: "Main", PublicURL: "https://track.example.org/", SLA: func() *sla.Config { return rules },
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	// The event's clock reads the same (test) time as the service.
	svc, err := filing.New(st, hlc.New(cfg.Now), cfg)
	if err != nil {
		tb.Fatalf("new service: %v", err)
	}
	return env{svc: svc, st: st, queue: cases.New(st, p), path: path, log: logs}
}

func draft() filing.Draft {
	return filing.Draft{
		Category: "billing", Description: "I was charged twice for the same order.",
		DesiredOutcome: "A refund of the second charge.", Language: "en",
	}
}

// Personal data used in tests, looked for in the logs.
const (
	piiName  = "Ana Lopes"
	piiEmail = "ana.lopes@example.org"
)

func draftWithContact() filing.Draft {
	d := draft()
	d.Contact = &complaint.Contact{Name: piiName, Email: piiEmail, Phone: "+44 20 7946 0000",
		ConsentAt: time.Date(2025, 3, 7, 10, 0, 0, 123456789, time.UTC), NoticeVersion: "2025-1"}
	return d
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 7, 10, 30, 0, 987654321, time.UTC) // a Friday
	e := MustService(t, func(c *filing.Config) { c.Now = func() time.Time { return now } })
	id, err := e.st.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var ids []string
	for i := range 3 {
		d := draftWithContact()
		keep := *d.Contact
		f, err := e.svc.File(ctx, d)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		ids = append(ids, f.Complaint.ID)
		if *d.Contact != keep {
			t.Errorf("draft contact changed: got %+v, want %+v", *d.Contact, keep)
		}

		if parsed, err := trackcode.Parse(f.Code.String()); err != nil || parsed != f.Code {
			t.Errorf("code %s: parse got %s, %v", f.Code, parsed, err)
		}
		if f.Code.Prefix() != id.Prefix || string(f.Code) != f.Complaint.Code {
			t.Errorf("code %s: want prefix %s and equal to the complaint's %s", f.Code, id.Prefix, f.Complaint.Code)
		}
		if want := "https://track.example.org/t/" + string(f.Code); f.URL != want {
			t.Errorf("URL: got %q, want %q", f.URL, want)
		}
		c := f.Complaint
		if !uid.Valid(c.ID) || c.Branch != "Main" || c.Device != id.DeviceID ||
			c.Channel != complaint.ChannelKiosk || !c.FiledAt.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("complaint: got %+v", c)
		}
		// The rules' business days (09:00-17:00, Monday to Friday) from
		// the Filed event's clock, to the millisecond.
		if want := time.Date(2025, 3, 11, 10, 30, 0, 987000000, time.UTC); !f.AcknowledgeBy.Equal(want) {
			t.Errorf("AcknowledgeBy: got %v, want %v (Friday + 2 business days)", f.AcknowledgeBy, want)
		}
		if want := time.Date(2025, 3, 28, 10, 30, 0, 987000000, time.UTC); !f.RespondBy.Equal(want) {
			t.Errorf("RespondBy: got %v, want %v", f.RespondBy, want)
		}

		stored, err := e.st.Complaint(ctx, c.ID)
		if err != nil || !reflect.DeepEqual(stored, c) {
			t.Errorf("stored: got %+v, %v, want %+v", stored, err, c)
		}
		evs, err := e.st.Events(ctx, c.ID)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events: got %d, %v, want 1", len(evs), err)
		}
		ev := evs[0]
		if ev.Type != event.Filed || ev.Actor != (event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}) || ev.Branch != "Main" {
			t.Errorf("event: got %+v", ev)
		}
		if inEvent, err := ev.Complaint(); err != nil || !reflect.DeepEqual(inEvent, c) {
			t.Errorf("complaint in event: got %+v, %v, want %+v", inEvent, err, c)
		}
	}
	out, err := e.st.OutboxAfter(ctx, 0, 10)
	if err != nil || len(out) != 3 {
		t.Fatalf("outbox: got %d, %v, want 3", len(out), err)
	}
	for i, o := range out {
		if o.Seq != int64(i+1) || o.Event.ComplaintID != ids[i] {
			t.Errorf("outbox[%d]: got seq %d for %s, want seq %d for %s", i, o.Seq, o.Event.ComplaintID, i+1, ids[i])
		}
	}
}

func TestFileValidation(t *testing.T) {
	for _, tc := range []struct {
		name           string
		edit           func(*filing.Draft)
		field, problem string
	}{
		{"empty description", func(d *filing.Draft) { d.Description = "" }, complaint.FieldDescription, complaint.ProblemRequired},
		{"blank description", func(d *filing.Draft) { d.Description = " \n\t  " }, complaint.FieldDescription, complaint.ProblemRequired},
		{"only escapes", func(d *filing.Draft) { d.Description = "\x1b[2J\x1b[H" }, complaint.FieldDescription, complaint.ProblemRequired},
		{"description too long", func(d *filing.Draft) { d.Description = strings.Repeat("a", 2001) }, complaint.FieldDescription, complaint.ProblemTooLong},
		{"no category", func(d *filing.Draft) { d.Category = "  " }, complaint.FieldCategory, complaint.ProblemRequired},
		{"bad email", func(d *filing.Draft) {
			d.Contact = &complaint.Contact{Email: "ana.example.org", ConsentAt: time.Now(), NoticeVersion: "1"}
		}, complaint.FieldEmail, complaint.ProblemInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustService(t, nil)
			d := draft()
			tc.edit(&d)
			_, err := e.svc.File(context.Background(), d)
			var fe *complaint.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *complaint.FieldError", err)
			}
			if fe.Field != tc.field || fe.Problem != tc.problem {
				t.Errorf("got %s/%s, want %s/%s", fe.Field, fe.Problem, tc.field, tc.problem)
			}
			if errors.Is(err, filing.ErrUnavailable) {
				t.Error("a validation error must not read as storage unavailable")
			}
			if n, err := e.st.Count(context.Background()); n != 0 || err != nil {
				t.Errorf("stored: got %d, %v, want 0", n, err)
			}
		})
	}
	t.Run("description at limit", func(t *testing.T) {
		e := MustService(t, nil)
		d := draft()
		d.Description = strings.Repeat("é", complaint.MaxDescription)
		if _, err := e.svc.File(context.Background(), d); err != nil {
			t.Fatalf("got %v, want accepted", err)
		}
	})
}

func TestFileRemovesEscapes(t *testing.T) {
	ctx := context.Background()
	e := MustService(t, nil)
	d := draft()
	d.Description = "Refund\x1b[31m please\x1b]8;;http://evil.example\x07 now\x1b[0m\r\nthanks"
	d.DesiredOutcome = "money\x1b[2J back"
	f, err := e.svc.File(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.st.Complaint(ctx, f.Complaint.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.st.Events(ctx, f.Complaint.ID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %d, %v", len(evs), err)
	}
	for where, s := range map[string]string{
		"description": stored.Description, "outcome": stored.DesiredOutcome, "event": string(evs[0].Data),
	} {
		if strings.ContainsAny(s, "\x1b\x07\r") || strings.Contains(s, `\u001b`) {
			t.Errorf("%s still holds control characters: %q", where, s)
		}
	}
	if want := "Refund please now\nthanks"; stored.Description != want {
		t.Errorf("description: got %q, want %q", stored.Description, want)
	}
}

// lockDatabase takes the write lock from a second connection, as another
// process would, and holds it mid-transaction until release is called.
func lockDatabase(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO events (id, complaint_id, type, actor_kind, at, branch)
		VALUES (?, ?, 'note_added', 'system', 1, 'Main')`, uid.New(), uid.New()); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileStorageLocked(t *testing.T) {
	ctx := context.Background()
	e := MustService(t, nil)
	d := draftWithContact()
	d.Description = "Secret complaint text about the manager."

	release := lockDatabase(t, e.path)
	_, err := e.svc.File(ctx, d)
	if !errors.Is(err, filing.ErrUnavailable) {
		t.Fatalf("file while locked: got %v, want ErrUnavailable", err)
	}
	if !store.Unavailable(err) {
		t.Errorf("error %v: want the SQLite cause kept (store.Unavailable)", err)
	}
	logs := e.log.String()
	if !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("no error logged: %s", logs)
	}
	for _, pii := range []string{piiName, piiEmail, "Secret complaint", "+44", d.DesiredOutcome} {
		if strings.Contains(logs, pii) {
			t.Errorf("log holds customer data %q: %s", pii, logs)
		}
	}

	release()
	if _, err := e.svc.File(ctx, d); err != nil {
		t.Fatalf("file after release: %v", err)
	}
	if n, err := e.st.Count(ctx); n != 1 || err != nil {
		t.Errorf("complaints: got %d, %v, want exactly 1", n, err)
	}
}

func TestFileRedrawsTakenCode(t *testing.T) {
	ctx := context.Background()
	e := MustService(t, nil)
	first, err := e.svc.File(ctx, draft())
	if err != nil {
		t.Fatal(err)
	}
	// The next draw repeats the stored code once, then draws fairly.
	draws := 0
	filing.SetCodeSource(e.svc, func(prefix string) (trackcode.Code, error) {
		draws++
		if draws == 1 {
			return first.Code, nil
		}
		return trackcode.Generate(prefix)
	})
	second, err := e.svc.File(ctx, draft())
	if err != nil {
		t.Fatalf("file after collision: %v", err)
	}
	if draws != 2 || second.Code == first.Code {
		t.Errorf("got %d draws and code %s (first %s), want 2 draws and a new code", draws, second.Code, first.Code)
	}
	if got, err := e.st.ByCode(ctx, second.Code); err != nil || got.ID != second.Complaint.ID {
		t.Errorf("by code %s: got %q, %v, want %q", second.Code, got.ID, err, second.Complaint.ID)
	}
	if n, _ := e.st.Count(ctx); n != 2 {
		t.Errorf("complaints: got %d, want 2", n)
	}

	// A source stuck on a taken code gives up rather than looping.
	filing.SetCodeSource(e.svc, func(string) (trackcode.Code, error) { return first.Code, nil })
	if _, err := e.svc.File(ctx, draft()); !errors.Is(err, filing.ErrUnavailable) || !errors.Is(err, store.ErrCodeTaken) {
		t.Errorf("stuck code source: got %v, want ErrUnavailable wrapping ErrCodeTaken", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "kiosk.db"), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	good := filing.Config{Branch: "Main", PublicURL: "https://track.example.org"}
	if _, err := filing.New(st, hlc.New(nil), good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, edit := range map[string]func(*filing.Config){
		"no branch":      func(c *filing.Config) { c.Branch = " " },
		"no URL":         func(c *filing.Config) { c.PublicURL = "" },
		"relative URL":   func(c *filing.Config) { c.PublicURL = "track.example.org" },
		"ftp URL":        func(c *filing.Config) { c.PublicURL = "ftp://track.example.org" },
		"URL with query": func(c *filing.Config) { c.PublicURL = "https://track.example.org/?x=1" },
	} {
		cfg := good
		edit(&cfg)
		if _, err := filing.New(st, hlc.New(nil), cfg); err == nil {
			t.Errorf("%s: got nil error", name)
		}
	}
	if _, err := filing.New(nil, hlc.New(nil), good); err == nil {
		t.Error("nil store: got nil error")
	}
}

// Staff filing at the staff terminal on a customer's behalf: the same
// complaint, on the staff channel, with the staff member as the actor.
func TestFileOnBehalf(t *testing.T) {
	ctx := context.Background()
	e := MustService(t, nil)
	id, err := e.st.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := draftWithContact()
	d.Staff = " Ana.L "
	f, err := e.svc.File(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Complaint
	if c.Channel != complaint.ChannelStaff || c.Device != id.DeviceID || c.Contact == nil {
		t.Errorf("complaint: got %+v, want the staff channel, this device, the contact kept", c)
	}
	if stored, err := e.st.Complaint(ctx, c.ID); err != nil || !reflect.DeepEqual(stored, c) {
		t.Errorf("stored: got %+v, %v, want %+v", stored, err, c)
	}
	evs, err := e.st.Events(ctx, c.ID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: got %d, %v, want 1", len(evs), err)
	}
	if want := (event.Actor{Kind: event.ActorStaff, ID: "ana.l"}); evs[0].Actor != want {
		t.Errorf("actor: got %+v, want %+v", evs[0].Actor, want)
	}
	rows, err := e.queue.Cases(ctx, cases.Filter{})
	if err != nil || len(rows) != 1 || rows[0].ComplaintID != c.ID || rows[0].Unsynced != 1 {
		t.Errorf("queue: got %+v, %v, want the new case", rows, err)
	}

	// Without Staff, the customer filed it at the kiosk.
	f, err = e.svc.File(ctx, draft())
	if err != nil {
		t.Fatal(err)
	}
	evs, err = e.st.Events(ctx, f.Complaint.ID)
	if err != nil || len(evs) != 1 || f.Complaint.Channel != complaint.ChannelKiosk ||
		evs[0].Actor != (event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}) {
		t.Errorf("kiosk filing: got channel %q, events %+v, %v", f.Complaint.Channel, evs, err)
	}

	// A staff id that cannot be one is refused, and nothing is stored.
	bad := draft()
	bad.Staff = "ana lopes"
	if _, err := e.svc.File(ctx, bad); err == nil || errors.Is(err, filing.ErrUnavailable) {
		t.Errorf("bad staff id: got %v, want a plain error", err)
	}
	if n, _ := e.st.Count(ctx); n != 2 {
		t.Errorf("complaints: got %d, want 2", n)
	}
}
