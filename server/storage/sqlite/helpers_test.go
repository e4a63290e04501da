package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// MustOpen opens a store on a fresh file in tb's temp dir, closed at cleanup.
func MustOpen(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "ombud.db"))
}

// MustOpenPath opens the store at path, closed at cleanup.
func MustOpenPath(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

var counter atomic.Int64

// MustDevice creates the branch and its agent account (staffOf) if needed
// and enrols a device into it.
func MustDevice(tb testing.TB, s storage.Store, branch string) storage.Device {
	tb.Helper()
	ctx := context.Background()
	if err := s.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatalf("create branch %s: %v", branch, err)
	}
	a := MustAccount(tb, staffOf(branch), branch, staff.Agent)
	if err := s.CreateStaff(ctx, a); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatalf("create staff %s: %v", a.ID, err)
	}
	n := counter.Add(1)
	code := hash(fmt.Sprintf("code-%d", n))
	now := time.Now()
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: branch, CodeHash: code, ExpiresAt: now.Add(time.Hour), Role: device.Staff}); err != nil {
		tb.Fatalf("create enrolment: %v", err)
	}
	d, err := s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("dev-%d", n), hash(fmt.Sprintf("cred-%d", n)))
	if err != nil {
		tb.Fatalf("redeem enrolment: %v", err)
	}
	return d
}

// textOfSize makes a note roughly n bytes long, so events have a realistic
// size (about 500 bytes with ids and clock) without a fixture file.
func textOfSize(n int) string {
	const words = "the queue ticket was not honoured and staff said to come back tomorrow "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

var clock = hlc.New(nil)

// staffOf is the agent account MustDevice gives branch.
func staffOf(branch string) string { return "staff-" + strings.ToLower(branch) }

// pinHash is a PIN hash made once at the cheapest cost: accounts in tests
// need a valid one, not a slow one.
var pinHash = sync.OnceValue(func() string {
	h, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		panic(err)
	}
	return h
})

// MustAccount returns a valid account (not stored) named after id.
func MustAccount(tb testing.TB, id, branch string, role staff.Role) staff.Account {
	tb.Helper()
	a := staff.Account{ID: id, Name: "Staff " + id, Role: role, Branch: branch, PINHash: pinHash()}
	if err := a.Validate(); err != nil {
		tb.Fatal(err)
	}
	return a
}

// noteEvent makes a NoteAdded event of about 500 bytes on the wire, by
// the branch's agent (staffOf).
func noteEvent(d storage.Device, complaintID string) event.Event {
	data, _ := json.Marshal(event.Text{Text: textOfSize(300)})
	return event.Event{
		ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: staffOf(d.Branch)}, At: clock.Now(),
		Branch: d.Branch, Data: data,
	}
}

// filedEvent makes a Filed event for a new complaint with a real tracking
// code from the device's prefix.
func filedEvent(tb testing.TB, d storage.Device) event.Event {
	tb.Helper()
	code, err := trackcode.Generate(d.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: d.Branch, Device: d.ID, Channel: complaint.ChannelKiosk,
		Category: "billing", Description: textOfSize(200), Language: "en",
		FiledAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// batchOf makes one event per seq: a Filed event every fourth (the kiosk
// mix), notes on it otherwise.
func batchOf(tb testing.TB, d storage.Device, seqs ...int64) []wire.DeviceEvent {
	tb.Helper()
	out := make([]wire.DeviceEvent, 0, len(seqs))
	var complaintID string
	for i, seq := range seqs {
		var e event.Event
		if i%4 == 0 {
			e = filedEvent(tb, d)
			complaintID = e.ComplaintID
		} else {
			e = noteEvent(d, complaintID)
		}
		out = append(out, wire.DeviceEvent{Seq: seq, Event: e})
	}
	return out
}

// seqRange returns from, from+1, ..., to.
func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func mustStats(tb testing.TB, s storage.Store) storage.Stats {
	tb.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		tb.Fatalf("stats: %v", err)
	}
	return st
}

// allEvents pages through scope ("": every scope, AllEventsAfter) with a
// small page, to exercise the cursor.
func allEvents(tb testing.TB, s storage.Store, scope string) []storage.StoredEvent {
	tb.Helper()
	var out []storage.StoredEvent
	var after int64
	for {
		var (
			page []storage.StoredEvent
			err  error
		)
		if scope == "" {
			page, err = s.AllEventsAfter(context.Background(), after, 7)
		} else {
			page, err = s.EventsAfter(context.Background(), scope, after, 7)
		}
		if err != nil {
			tb.Fatalf("events after %d: %v", after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func mustPush(tb testing.TB, s storage.Store, d storage.Device, batch []wire.DeviceEvent) hub.PushResult {
	tb.Helper()
	res, err := s.Push(context.Background(), d.ID, batch)
	if err != nil {
		tb.Fatalf("push %d events from %s: %v", len(batch), d.ID, err)
	}
	return res
}

func checkRejections(tb testing.TB, got, want []wire.PushReject) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("rejections = %+v, want %d: %+v", got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.EventID != w.EventID || g.Code != w.Code {
			tb.Errorf("rejection %d = %+v, want seq %d event %s code %d", i, g, w.Seq, w.EventID, w.Code)
		}
		if g.Reason == "" || len(g.Reason) > 123 {
			tb.Errorf("rejection %d reason %q: want 1-123 bytes", i, g.Reason)
		}
	}
}
