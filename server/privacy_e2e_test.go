package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"ombud/kiosk/filing"
	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
)

// moveServeClock makes the served program's retention clock the wall clock
// plus what the returned pointer holds, for this test.
func moveServeClock(t *testing.T) *atomic.Int64 {
	t.Helper()
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	serveClock.Store(&clock)
	t.Cleanup(func() { serveClock.Store(nil) })
	return &offset
}

// filesHold reports which of the files (a database and its WAL) hold any
// of the secrets, by reading their bytes.
func filesHold(t *testing.T, db string, secrets ...string) []string {
	t.Helper()
	var found []string
	for _, f := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				found = append(found, filepath.Base(f)+": "+s)
			}
		}
	}
	return found
}

// TestE2ERetentionRedactsEverywhere is the clock-controlled end-to-end
// test of the retention policy: a complaint filed with contact details at a
// branch device, handled and closed by staff; the server's clock moves 13
// months on; the server's database, the branch device's database (a staff
// terminal's: enrolled with the staff role, the store `kiosk staff` opens;
// read as bytes, WAL included) and the tracking page no longer hold the
// words or the contact, the case's row and the improvement figures
// (server/kpi, what /console/improve shows) are unchanged, and the log
// still verifies.
func TestE2ERetentionRedactsEverywhere(t *testing.T) {
	offset := moveServeClock(t)
	s := MustE2EServer(t, "", "", "--escalation-interval", "50ms")
	k := MustE2EKiosk(t, s, "Front desk")
	staff := MustStaffTerminal(t, s)
	ctx := context.Background()

	const (
		desc    = "RETAIN-description my card was swallowed"
		name    = "RETAIN-name Ada Customer"
		mail    = "retain-mail@example.org"
		phone   = "+33600004242"
		msg     = "RETAIN-message we are looking"
		answer  = "RETAIN-answer your card is at the counter"
		closing = "RETAIN-closing customer collected it"
	)
	secrets := []string{desc, name, mail, phone, msg, answer, closing}
	f, err := k.svc.File(ctx, filing.Draft{Category: "cards", Description: desc, Language: "en",
		Contact: &complaint.Contact{Name: name, Email: mail, Phone: phone, ConsentAt: time.Now().UTC(), NoticeVersion: "kiosk-privacy-1/en"}})
	if err != nil {
		t.Fatal(err)
	}
	k.sync.Notify()
	waitUntil(t, "the server to hold the complaint", func() (bool, string) {
		return len(s.events(t, f.Complaint.ID)) > 0, ""
	})
	yes := true
	staff.push(t, f,
		staffEvent{event.Acknowledged, nil},
		staffEvent{event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3}},
		staffEvent{event.MessageSent, event.Text{Text: msg}},
		staffEvent{event.Responded, event.Text{Text: answer}},
		staffEvent{event.Closed, event.Closure{CustomerAccepted: &yes, Text: closing}},
	)
	waitUntil(t, "the branch device to receive the closure", func() (bool, string) {
		return len(ofType(k.events(t, f.Complaint.ID), event.Closed)) == 1, ""
	})
	var before storage.CaseRow
	waitUntil(t, "the case engine to fold the closure", func() (bool, string) {
		before, err = s.db.Case(ctx, f.Complaint.ID)
		return err == nil && before.State == "closed", string(before.State)
	})
	// The improvement figures (server/kpi) of the filing's month, as the
	// console's /console/improve shows them, once the KPI follower has
	// folded every event of the case; taken at a fixed instant so the
	// redaction is the only thing that could move them.
	asOf := time.Now()
	loc, err := time.LoadLocation("Europe/Paris") // the server's --timezone
	if err != nil {
		t.Fatal(err)
	}
	month := kpi.PeriodOf("month", f.Complaint.FiledAt.In(loc))
	figures := func(what string) kpi.Figures {
		t.Helper()
		evs, err := s.db.ComplaintEvents(ctx, f.Complaint.ID)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1].Seq
		waitUntil(t, "the KPI follower to fold the case "+what, func() (bool, string) {
			cur, _, err := s.db.KPICursor(ctx)
			return err == nil && cur >= last, fmt.Sprintf("cursor %d, want %d (%v)", cur, last, err)
		})
		k, err := kpi.Compute(ctx, s.db, kpi.Query{All: true}, month, asOf)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	kpiBefore := figures("before the redaction")
	if kpiBefore.Received != 1 || kpiBefore.Closed != 1 {
		t.Fatalf("figures before the redaction: %+v, want the case received and closed", kpiBefore)
	}

	// The words are there to begin with, or the checks below prove nothing.
	if found := filesHold(t, k.path, secrets...); len(found) == 0 {
		t.Fatal("the branch device's files never held the complaint's words")
	}
	if found := filesHold(t, filepath.Join(s.dir, "server.db"), desc); len(found) == 0 {
		t.Fatal("the server's files never held the complaint's words")
	}
	offset.Store(int64(13 * 31 * 24 * time.Hour))
	waitUntil(t, "the server to redact the case", func() (bool, string) {
		return len(ofType(s.events(t, f.Complaint.ID), event.Redacted)) == 1, ""
	})
	waitUntil(t, "the branch device to receive the redaction", func() (bool, string) {
		return len(ofType(k.events(t, f.Complaint.ID), event.Redacted)) == 1, ""
	})
	waitUntil(t, "the words to leave the server's and the device's files", func() (bool, string) {
		found := append(filesHold(t, filepath.Join(s.dir, "server.db"), secrets...), filesHold(t, k.path, secrets...)...)
		return len(found) == 0, strings.Join(found, "; ")
	})

	// Exactly once, and the case's figures are as they were.
	red := ofType(s.events(t, f.Complaint.ID), event.Redacted)
	if string(red[0].Data) != `{"reason":"retention","policy":"retention: 12 months after closure","months":12}` {
		t.Errorf("redaction = %s", red[0].Data)
	}
	after, err := s.db.Case(ctx, f.Complaint.ID)
	if err != nil {
		t.Fatal(err)
	}
	before.UpdatedAt, before.Seq, after.UpdatedAt, after.Seq = time.Time{}, 0, time.Time{}, 0
	if before != after {
		t.Errorf("case row changed:\nbefore %+v\n after %+v", before, after)
	}
	if kpiAfter := figures("after the redaction"); !reflect.DeepEqual(kpiBefore, kpiAfter) {
		t.Errorf("improvement figures changed by the redaction:\nbefore %+v\n after %+v", kpiBefore, kpiAfter)
	}
	// The device's events hold what the server's do, byte for byte.
	srvEvents, devEvents := s.events(t, f.Complaint.ID), k.events(t, f.Complaint.ID)
	byID := map[string]string{}
	for _, e := range srvEvents {
		byID[e.ID] = string(e.Data)
	}
	for _, e := range devEvents {
		if d, ok := byID[e.ID]; ok && d != string(e.Data) {
			t.Errorf("%s event: device holds %s, server %s", e.Type, e.Data, d)
		}
	}

	// The tracking page says so, and shows none of it.
	code, body := httpGet(t, s.url+"/t/"+f.Code.String())
	if code != 200 || !strings.Contains(body, "were deleted 12 months after it was closed") {
		t.Errorf("tracking page (%d) does not say the details were deleted:\n%s", code, body)
	}
	for _, sec := range secrets {
		if strings.Contains(body, sec) {
			t.Errorf("tracking page still shows %q", sec)
		}
	}
	// The ledger names the case, and nothing personal.
	ledger, err := os.ReadFile(filepath.Join(s.dir, "redactions.jsonl"))
	if err != nil || !strings.Contains(string(ledger), f.Complaint.ID) {
		t.Errorf("ledger = %q, %v", ledger, err)
	}
	for _, sec := range secrets {
		if strings.Contains(string(ledger), sec) {
			t.Errorf("ledger holds %q", sec)
		}
	}
	if out := MustRun(t, "audit", "verify", "--data", s.dir); !strings.Contains(out, "OK:") {
		t.Errorf("audit verify after redaction: %s", out)
	}
}

// TestE2EErasureReachesDevicesAtOnce: an erasure approved with the
// commands beside the running server (another process's store on the same
// file) reaches the branch device, which forgets the words, without any
// other event to wake the server.
func TestE2EErasureReachesDevicesAtOnce(t *testing.T) {
	s := MustE2EServer(t, "", "")
	k := MustE2EKiosk(t, s, "Front desk")
	ctx := context.Background()
	const desc, mail = "ERASE-description lost luggage at the counter", "erase-e2e@example.org"
	f, err := k.svc.File(ctx, filing.Draft{Category: "cards", Description: desc, Language: "en",
		Contact: &complaint.Contact{Email: mail, ConsentAt: time.Now().UTC(), NoticeVersion: "kiosk-privacy-1/en"}})
	if err != nil {
		t.Fatal(err)
	}
	k.sync.Notify()
	waitUntil(t, "the server to hold the complaint", func() (bool, string) {
		return len(s.events(t, f.Complaint.ID)) > 0, ""
	})
	for _, id := range []string{"sup-a", "sup-b"} {
		MustRunInput(t, "482913\n", "staff", "add", "--data", s.dir, "--branch", "main", "--id", id, "--name", id,
			"--role", "supervisor", "--pin-memory", "64", "--pin-passes", "1")
	}
	out := MustRun(t, "erasure", "request", "--data", s.dir, "--by", "sup-a", "--code", f.Code.String(), "--reason", "asked by e-mail, code on the receipt")
	id := strings.Fields(strings.TrimPrefix(out, "Erasure request "))[0]
	MustRun(t, "erasure", "approve", "--data", s.dir, "--by", "sup-b", "--id", id)
	waitUntil(t, "the branch device to receive the erasure", func() (bool, string) {
		return len(ofType(k.events(t, f.Complaint.ID), event.Redacted)) == 1, ""
	})
	waitUntil(t, "the words to leave the device's files", func() (bool, string) {
		found := filesHold(t, k.path, desc, mail)
		return len(found) == 0, strings.Join(found, "; ")
	})
	code, body := httpGet(t, s.url+"/t/"+f.Code.String())
	if code != 200 || !strings.Contains(body, "At your request, your contact details") || strings.Contains(body, desc) {
		t.Errorf("tracking page (%d):\n%s", code, body)
	}
}
