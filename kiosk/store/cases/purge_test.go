package cases_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/uid"
)

// branchFeed applies events as the branch scope brings them down.
type branchFeed struct {
	t      *testing.T
	st     db
	cursor int64
}

func (f *branchFeed) apply(events ...event.Event) {
	f.t.Helper()
	next := f.cursor + int64(len(events))
	if err := f.st.ApplyRemote(context.Background(), branchScope, f.cursor, next, events); err != nil {
		f.t.Fatal(err)
	}
	f.cursor = next
}

// staffAt is an event by staff member actor at at.
func staffAt(t *testing.T, complaintID string, typ event.Type, actor event.Actor, at time.Time, data any) event.Event {
	t.Helper()
	e := event.Event{ID: uid.NewAt(at), ComplaintID: complaintID, Type: typ,
		Actor: actor, At: hlc.Make(at.UnixMilli(), 0), Branch: "Main"}
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		e.Data = b
	}
	return e
}

// closedCase brings down a case filed elsewhere with description desc,
// worked and closed at closedAt.
func (f *branchFeed) closedCase(desc string, closedAt time.Time) complaint.Complaint {
	f.t.Helper()
	c, filed := remoteFiling(f.t)
	c.Description = desc
	c.FiledAt = closedAt.Add(-3 * time.Hour).UTC().Truncate(time.Millisecond)
	filed, err := event.NewFiled(c, filed.Actor, hlc.Make(c.FiledAt.UnixMilli(), 0))
	if err != nil {
		f.t.Fatal(err)
	}
	f.apply(filed,
		staffAt(f.t, c.ID, event.Acknowledged, ana, closedAt.Add(-2*time.Hour), nil),
		staffAt(f.t, c.ID, event.Assessed, ana, closedAt.Add(-90*time.Minute), event.Assessment{Severity: event.SeverityLow, Priority: 3}),
		staffAt(f.t, c.ID, event.Responded, ana, closedAt.Add(-time.Hour), event.Text{Text: "Refunded."}),
		staffAt(f.t, c.ID, event.Closed, ana, closedAt, event.Closure{CustomerAccepted: new(true)}))
	return c
}

// PurgeClosed deletes the cases closed and untouched since the cut-off,
// with their text, and nothing else; a purged case reopened later is
// stored without failing anything and does not come back.
func TestPurgeClosed(t *testing.T) {
	ctx := context.Background()
	st, path := MustOpen(t)
	feed := &branchFeed{t: t, st: st}
	now := time.Now()
	old := feed.closedCase("Purge me: the ATM ate my card on the old high street.", now.Add(-40*24*time.Hour))
	recent := feed.closedCase("Keep me: closed last week.", now.Add(-10*24*time.Hour))
	rated := feed.closedCase("Keep me: closed long ago but rated lately.", now.Add(-40*24*time.Hour))
	feed.apply(event.Event{ID: uid.NewAt(now.Add(-5 * 24 * time.Hour)), ComplaintID: rated.ID, Type: event.SatisfactionRated,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: hlc.Make(now.Add(-5*24*time.Hour).UnixMilli(), 0), Branch: "Main",
		Data: json.RawMessage(`{"stars":4}`)})
	open, filed := remoteFiling(t)
	filed.At = hlc.Make(now.Add(-60*24*time.Hour).UnixMilli(), 0)
	feed.apply(filed)

	n, err := st.PurgeClosed(ctx, now.Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeClosed = %d, %v; want 1", n, err)
	}
	if _, err := st.CaseDetail(ctx, old.ID); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("purged case: %v, want ErrNoCase", err)
	}
	if _, err := st.Complaint(ctx, old.ID); !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("purged complaint: %v, want ErrNotFound", err)
	}
	if evs, err := st.Events(ctx, old.ID); err != nil || len(evs) != 0 {
		t.Errorf("purged events: %d, %v", len(evs), err)
	}
	for _, c := range []complaint.Complaint{recent, rated, open} {
		mustRow(t, st, c.ID)
	}
	for _, want := range []string{"Purge me", "purge me"} {
		if disk := onDisk(t, path); bytes.Contains(disk, []byte(want)) {
			t.Errorf("%q still in the database files", want)
		}
	}
	var search int
	if err := rawDB(t, path).QueryRowContext(ctx, `SELECT count(*) FROM case_search WHERE complaint_id = ?`, old.ID).Scan(&search); err != nil || search != 0 {
		t.Errorf("search rows of the purged case: %d, %v", search, err)
	}

	// A supervisor reopens it elsewhere: the event is stored, and no case
	// comes back here (its filing is gone); the queue goes on working.
	reopen := staffAt(t, old.ID, event.Reopened, ben, now, event.Text{Text: "The customer came back."})
	feed.apply(reopen)
	if _, err := st.CaseDetail(ctx, old.ID); !errors.Is(err, cases.ErrNoCase) {
		t.Errorf("reopened purged case: %v, want ErrNoCase", err)
	}
	if rows := mustCases(t, st, cases.Filter{}); len(rows) != 3 {
		t.Errorf("queue after the reopening: %d rows, want 3", len(rows))
	}
	counts, err := st.CaseCounts(ctx)
	if err != nil || counts[lifecycle.Closed] != 2 {
		t.Errorf("counts: %v, %v; want 2 closed", counts, err)
	}
	if n, err := st.PurgeClosed(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeClosed again = %d, %v; want 0", n, err)
	}
}

// onDisk is the database and its WAL as they are in the files.
func onDisk(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}
