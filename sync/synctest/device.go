package synctest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// Device is a device's storage under test: the client.Store, and the two
// things the suites need that the client's interfaces leave out, because
// the client never files or reads the log.
type Device struct {
	Store client.Store
	// Enqueue stores e, a new event of this device, and queues it in the
	// outbox with the next device sequence, in one durable commit, as
	// filing does. The suites pass Filed events, each of a complaint new
	// to the device (e.Complaint() decodes it).
	Enqueue func(ctx context.Context, e event.Event) error
	// Events returns the events the device holds of one complaint, each
	// once, in any order: its own and those applied from downstream.
	Events func(ctx context.Context, complaintID string) ([]event.Event, error)
}

// DeviceOpener opens the storage kept in dir, a directory of the test's own:
// empty on the first call. A suite calls it again with the same dir to
// reopen the storage while the first Device is still open and simply no
// longer used, as a process that was killed leaves it, and checks that
// exactly what was committed is there. The opener closes what it opened
// when t ends (t.Cleanup).
type DeviceOpener func(t *testing.T, dir string) Device

// Bounds of the suites' waits and sizes.
const (
	// deviceWait bounds each concurrent subtest: generous for -race on
	// two shared cores, and reached only when something hangs.
	deviceWait   = time.Minute
	deviceBranch = "Main"
	deviceScope  = "branch:Main"
)

// deviceClock stamps the suites' events: one for all, so that events made one
// after another order by time as a device's would.
var deviceClock = hlc.New(nil)

// openDevice opens a fresh device in a new directory and returns it with the
// directory, for a reopen.
func openDevice(t *testing.T, o DeviceOpener) (Device, string) {
	t.Helper()
	dir := t.TempDir()
	return o(t, dir), dir
}

// devFiled makes the Filed event of a new complaint filed at device.
func devFiled(tb testing.TB, device string) event.Event {
	tb.Helper()
	e, err := devFiledEvent(device)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// devFiledEvent is devFiled for goroutines other than the test's.
func devFiledEvent(device string) (event.Event, error) {
	code, err := trackcode.Generate("S7T")
	if err != nil {
		return event.Event{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := complaint.Complaint{
		ID: uid.NewAt(now), Code: string(code), Branch: deviceBranch, Device: device,
		Channel: complaint.ChannelKiosk, Category: "billing",
		Description: "Charged twice for one order.", Language: "en", FiledAt: now,
	}
	return event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: device}, deviceClock.Now())
}

// devNote makes a staff member's note on a complaint.
func devNote(tb testing.TB, complaintID, text string) event.Event {
	tb.Helper()
	data, err := json.Marshal(event.Text{Text: text})
	if err != nil {
		tb.Fatal(err)
	}
	at := deviceClock.Now()
	return event.Event{ID: uid.NewAt(at.Time()), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "ana"}, At: at, Branch: deviceBranch, Data: data}
}

// mustEnqueue enqueues n new Filed events of this device and returns them
// in the order enqueued.
func mustEnqueue(tb testing.TB, d Device, n int) []event.Event {
	tb.Helper()
	device := uid.New()
	out := make([]event.Event, n)
	for i := range out {
		out[i] = devFiled(tb, device)
		if err := d.Enqueue(context.Background(), out[i]); err != nil {
			tb.Fatalf("enqueue %d: %v", i+1, err)
		}
	}
	return out
}

// mustOutbox reads the whole outbox.
func mustOutbox(tb testing.TB, d Device) []wire.DeviceEvent {
	tb.Helper()
	out, err := d.Store.OutboxAfter(context.Background(), 0, wire.MaxEventsPerBatch)
	if err != nil {
		tb.Fatalf("outbox: %v", err)
	}
	return out
}

func outboxSeqs(entries []wire.DeviceEvent) []int64 {
	out := []int64{}
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

// wantOutbox checks the outbox holds exactly these seqs with these events
// (events[i] is the event enqueued with seq i+1), and that OutboxCount
// agrees.
func wantOutbox(tb testing.TB, d Device, events []event.Event, want ...int64) {
	tb.Helper()
	got := mustOutbox(tb, d)
	if want == nil {
		want = []int64{}
	}
	if !slices.Equal(outboxSeqs(got), want) {
		tb.Fatalf("outbox seqs: got %v, want %v", outboxSeqs(got), want)
	}
	for _, o := range got {
		if e := events[o.Seq-1]; !reflect.DeepEqual(o.Event, e) {
			tb.Errorf("outbox seq %d: got event %+v, want %+v", o.Seq, o.Event, e)
		}
	}
	if n, err := d.Store.OutboxCount(context.Background()); err != nil || n != len(want) {
		tb.Errorf("outbox count: got %d, %v, want %d", n, err, len(want))
	}
}

func mustHighestSeq(tb testing.TB, d Device) int64 {
	tb.Helper()
	seq, err := d.Store.HighestSeq(context.Background())
	if err != nil {
		tb.Fatalf("highest seq: %v", err)
	}
	return seq
}

func mustAckOutbox(tb testing.TB, d Device, upTo int64) {
	tb.Helper()
	if err := d.Store.AckOutbox(context.Background(), upTo); err != nil {
		tb.Fatalf("ack up to %d: %v", upTo, err)
	}
}

func mustQuarantined(tb testing.TB, d Device) []client.QuarantinedEntry {
	tb.Helper()
	q, err := d.Store.Quarantined(context.Background())
	if err != nil {
		tb.Fatalf("quarantined: %v", err)
	}
	return q
}

func mustCursors(tb testing.TB, d Device) map[string]int64 {
	tb.Helper()
	c, err := d.Store.Cursors(context.Background())
	if err != nil {
		tb.Fatalf("cursors: %v", err)
	}
	return c
}

// wantCursors checks the stored cursors are exactly want (a nil or empty
// want: none stored).
func wantCursors(tb testing.TB, d Device, want map[string]int64) {
	tb.Helper()
	got := mustCursors(tb, d)
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		tb.Fatalf("cursors: got %v, want %v", got, want)
	}
}

// wantHeld checks the device holds exactly want of complaintID, each once.
func wantHeld(tb testing.TB, d Device, complaintID string, want ...event.Event) {
	tb.Helper()
	got, err := d.Events(context.Background(), complaintID)
	if err != nil {
		tb.Fatalf("events of %s: %v", complaintID, err)
	}
	order := func(a, b event.Event) int {
		switch {
		case event.Less(&a, &b):
			return -1
		case event.Less(&b, &a):
			return 1
		}
		return 0
	}
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, order)
	slices.SortFunc(want, order)
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		tb.Fatalf("events of %s: got %s, want %s", complaintID, eventIDs(got), eventIDs(want))
	}
}

func eventIDs(events []event.Event) string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = fmt.Sprintf("%s %s", e.Type, e.ID)
	}
	return fmt.Sprint(out)
}

// deviceDeadline is the context of a concurrent subtest: a hang fails it instead
// of the whole test binary.
func deviceDeadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deviceWait)
	t.Cleanup(cancel)
	return ctx
}
