package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/event"
)

func TestIngestIsIdempotent(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	batch := batchOf(t, d, seqRange(1, 20)...)

	got := mustIngest(t, s, d, batch)
	if want := (storage.IngestResult{AckedSeq: 20, Stored: 20}); got != want {
		t.Fatalf("first ingest = %+v, want %+v", got, want)
	}
	before := mustStats(t, s)
	got = mustIngest(t, s, d, batch)
	if want := (storage.IngestResult{AckedSeq: 20, Duplicates: 20}); got != want {
		t.Fatalf("second ingest = %+v, want %+v", got, want)
	}
	after := mustStats(t, s)
	if after != before {
		t.Fatalf("stats after re-ingest = %+v, want %+v", after, before)
	}
	if after.Events != 20 || after.Complaints != 5 {
		t.Fatalf("stats = %+v, want 20 events and 5 complaints", after)
	}

	// A resend overlapping new events: the old are duplicates, the new stored.
	more := append(batch[10:], batchOf(t, d, seqRange(21, 25)...)...)
	got = mustIngest(t, s, d, more)
	if want := (storage.IngestResult{AckedSeq: 25, Stored: 5, Duplicates: 10}); got != want {
		t.Fatalf("overlapping ingest = %+v, want %+v", got, want)
	}
	// The same event twice in one batch is stored once.
	twice := batchOf(t, d, 26)
	twice = append(twice, twice[0])
	got = mustIngest(t, s, d, twice)
	if want := (storage.IngestResult{AckedSeq: 26, Stored: 1, Duplicates: 1}); got != want {
		t.Fatalf("ingest with a repeated event = %+v, want %+v", got, want)
	}
}

func TestIngestRoundTripsEvents(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	batch := batchOf(t, d, 1, 2)
	mustIngest(t, s, d, batch)
	got := allEvents(t, s, storage.Scope{Branch: "A"})
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2", len(got))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Event, batch[i].Event) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i].Event, batch[i].Event)
		}
	}
}

func TestIngestAcksOnlyUpToAGap(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()

	if got := mustIngest(t, s, d, batchOf(t, d, 1, 2, 4)); got.AckedSeq != 2 || got.Stored != 3 {
		t.Fatalf("ingest 1,2,4 = %+v, want acked 2, stored 3", got)
	}
	if dev, err := s.Device(ctx, d.ID); err != nil || dev.AckedSeq != 2 {
		t.Fatalf("device acked = %d, %v; want 2", dev.AckedSeq, err)
	}
	if got := mustIngest(t, s, d, batchOf(t, d, 3)); got.AckedSeq != 4 || got.Stored != 1 {
		t.Fatalf("ingest 3 = %+v, want acked 4, stored 1", got)
	}
	// Out of order in one batch, with a gap at 7.
	if got := mustIngest(t, s, d, batchOf(t, d, 9, 6, 5, 8)); got.AckedSeq != 6 {
		t.Fatalf("ingest 9,6,5,8 = %+v, want acked 6", got)
	}
	if got := mustIngest(t, s, d, batchOf(t, d, 7)); got.AckedSeq != 9 {
		t.Fatalf("ingest 7 = %+v, want acked 9", got)
	}
	// An empty batch reports the ack: a reconnecting device can ask where to resume.
	if got := mustIngest(t, s, d, nil); got.AckedSeq != 9 {
		t.Fatalf("empty ingest = %+v, want acked 9", got)
	}
	if dev, err := s.Device(ctx, d.ID); err != nil || dev.AckedSeq != 9 {
		t.Fatalf("device acked = %d, %v; want 9", dev.AckedSeq, err)
	}
}

func TestIngestConflictRefusesTheBatch(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()
	mustIngest(t, s, d, batchOf(t, d, 1, 2))
	before := mustStats(t, s)

	tests := []struct {
		name  string
		batch []storage.DeviceEvent
	}{
		// seq 2 is taken by another event; seq 3 is new but must not be kept.
		{"stored seq, other id", batchOf(t, d, 3, 2)},
		{"same seq twice in a batch", batchOf(t, d, 3, 3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Ingest(ctx, d.ID, tt.batch)
			wantCode(t, err, storage.Conflict)
			if after := mustStats(t, s); after != before {
				t.Fatalf("stats after refused batch = %+v, want %+v", after, before)
			}
			if dev, _ := s.Device(ctx, d.ID); dev.AckedSeq != 2 {
				t.Fatalf("acked = %d after refused batch, want 2", dev.AckedSeq)
			}
		})
	}
}

func TestIngestKnownEventUnderNewSeqIsDuplicate(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()
	first := batchOf(t, d, 1)
	mustIngest(t, s, d, first)

	// The device resends event 1 numbered 2 (say, after restoring its outbox).
	renumbered := []storage.DeviceEvent{{Seq: 2, Event: first[0].Event}}
	if got, want := mustIngest(t, s, d, renumbered), (storage.IngestResult{AckedSeq: 2, Duplicates: 1}); got != want {
		t.Fatalf("renumbered ingest = %+v, want %+v", got, want)
	}
	// Resending it again under 2 is still a duplicate; another event at 2 is not.
	if got, want := mustIngest(t, s, d, renumbered), (storage.IngestResult{AckedSeq: 2, Duplicates: 1}); got != want {
		t.Fatalf("second renumbered ingest = %+v, want %+v", got, want)
	}
	_, err := s.Ingest(ctx, d.ID, batchOf(t, d, 2))
	wantCode(t, err, storage.Conflict)
	if got := mustIngest(t, s, d, batchOf(t, d, 3)); got.AckedSeq != 3 {
		t.Fatalf("ingest 3 = %+v, want acked 3", got)
	}
	if st := mustStats(t, s); st.Events != 2 {
		t.Fatalf("events = %d, want 2", st.Events)
	}
}

func TestIngestRefusals(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	revoked := MustDevice(t, s, "A")
	ctx := context.Background()
	if err := s.RevokeDevice(ctx, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	filed := batchOf(t, d, 1)
	mustIngest(t, s, d, filed)

	withEvent := func(seq int64, edit func(e *event.Event)) []storage.DeviceEvent {
		b := batchOf(t, d, seq)
		edit(&b[0].Event)
		return b
	}
	reusedCode := withEvent(2, func(e *event.Event) {
		c, _ := e.Complaint()
		old, _ := filed[0].Event.Complaint()
		c.Code = old.Code
		*e, _ = event.NewFiled(c, e.Actor, e.At)
	})
	tests := []struct {
		name   string
		device string
		batch  []storage.DeviceEvent
		want   storage.Code
	}{
		{"unknown device", "nobody", batchOf(t, d, 2), storage.NotFound},
		{"revoked device", revoked.ID, batchOf(t, d, 1), storage.Revoked},
		{"seq zero", d.ID, batchOf(t, d, 0), storage.Invalid},
		{"no event id", d.ID, withEvent(2, func(e *event.Event) { e.ID = "" }), storage.Invalid},
		{"no branch", d.ID, withEvent(2, func(e *event.Event) { e.Branch = "" }), storage.Invalid},
		{"filed without complaint", d.ID, withEvent(2, func(e *event.Event) { e.Data = []byte(`"x"`) }), storage.Invalid},
		{"filed with a typo code", d.ID, withEvent(2, func(e *event.Event) {
			c, _ := e.Complaint()
			c.Code = "ZZZZZZZZZZZZ"
			*e, _ = event.NewFiled(c, e.Actor, e.At)
		}), storage.Invalid},
		{"tracking code of another complaint", d.ID, reusedCode, storage.Conflict},
		{"over MaxBatch", d.ID, make([]storage.DeviceEvent, storage.MaxBatch+1), storage.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Ingest(ctx, tt.device, tt.batch)
			wantCode(t, err, tt.want)
		})
	}
	if st := mustStats(t, s); st.Events != 1 || st.Complaints != 1 {
		t.Fatalf("stats = %+v, want the first event only", st)
	}
}

func TestEventsAfterKeepsBranchesApart(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	a, b := MustDevice(t, s, "A"), MustDevice(t, s, "B")
	mustIngest(t, s, a, batchOf(t, a, seqRange(1, 10)...))
	mustIngest(t, s, b, batchOf(t, b, seqRange(1, 6)...))
	mustIngest(t, s, a, batchOf(t, a, seqRange(11, 15)...))

	for _, tt := range []struct {
		scope storage.Scope
		want  int
	}{
		{storage.Scope{Branch: "A"}, 15},
		{storage.Scope{Branch: "B"}, 6},
		{storage.Scope{Branch: "C"}, 0},
		{storage.Scope{All: true}, 21},
	} {
		t.Run(fmt.Sprintf("%+v", tt.scope), func(t *testing.T) {
			got := allEvents(t, s, tt.scope)
			if len(got) != tt.want {
				t.Fatalf("got %d events, want %d", len(got), tt.want)
			}
			for _, e := range got {
				if !tt.scope.All && e.Event.Branch != tt.scope.Branch {
					t.Fatalf("scope %q returned event %s of branch %q", tt.scope.Branch, e.Event.ID, e.Event.Branch)
				}
			}
		})
	}
	_, err := s.EventsAfter(context.Background(), storage.Scope{}, 0, 10)
	wantCode(t, err, storage.Invalid)
	_, err = s.EventsAfter(context.Background(), storage.Scope{Branch: "A"}, 0, 0)
	wantCode(t, err, storage.Invalid)
}

// TestEventsAfterPagingWhileIngesting pages through the log while several
// devices ingest: a cursor must see every event exactly once, in order,
// which holds only if global sequences are given in commit order.
func TestEventsAfterPagingWhileIngesting(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	const devices, batches, perBatch = 4, 10, 25
	devs := make([]storage.Device, devices)
	for i := range devs {
		devs[i] = MustDevice(t, s, []string{"A", "B"}[i%2])
	}
	ctx := context.Background()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent = map[string]bool{}
		errs = make(chan error, devices)
	)
	for _, d := range devs {
		var all [][]storage.DeviceEvent
		for i := range batches {
			all = append(all, batchOf(t, d, seqRange(int64(i*perBatch+1), int64((i+1)*perBatch))...))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range all {
				if _, err := s.Ingest(ctx, d.ID, b); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, de := range b {
					sent[de.Event.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	seen := map[string]bool{}
	var after int64
	finished := false
	for deadline := time.Now().Add(15 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("paging did not catch up before the deadline")
		}
		page, err := s.EventsAfter(ctx, storage.Scope{All: true}, after, 13)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.GlobalSeq <= after {
				t.Fatalf("global seq %d after cursor %d", e.GlobalSeq, after)
			}
			if seen[e.Event.ID] {
				t.Fatalf("event %s returned twice", e.Event.ID)
			}
			seen[e.Event.ID] = true
			after = e.GlobalSeq
		}
		if len(page) == 0 {
			if finished {
				break
			}
			// Writers done: one more full pass from the cursor picks up the rest.
			select {
			case <-done:
				finished = true
			case err := <-errs:
				t.Fatal(err)
			default:
			}
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(seen) != devices*batches*perBatch || !reflect.DeepEqual(seen, sent) {
		t.Fatalf("saw %d events, sent %d", len(seen), len(sent))
	}
}

func TestEnrolmentIsOneTimeUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	code, now := hash("one-time"), time.Now()
	if err := s.CreateEnrolment(ctx, "A", code, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("racer-%d", i), hash("cred"))
		})
	}
	wg.Wait()
	wins := 0
	for i, err := range errs {
		switch storage.ErrorCode(err) {
		case "":
			wins++
		case storage.Conflict:
		default:
			t.Errorf("racer %d: %v, want success or conflict", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d redemptions won, want exactly 1", wins)
	}
	if st := mustStats(t, s); st.Devices != 1 {
		t.Fatalf("devices = %d, want 1", st.Devices)
	}
}

func TestEnrolmentRefusals(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.CreateEnrolment(ctx, "A", hash("expired"), now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrolment(ctx, "A", hash("good"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RedeemEnrolment(ctx, hash("good"), now, "taken", hash("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEnrolment(ctx, "A", hash("second"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		code   string
		device string
		want   storage.Code
	}{
		{"unknown code", "nope", "d1", storage.NotFound},
		{"expired code", "expired", "d1", storage.Expired},
		{"used code", "good", "d1", storage.Conflict},
		{"device id taken", "second", "taken", storage.Conflict},
		{"no device id", "second", "", storage.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.RedeemEnrolment(ctx, hash(tt.code), now, tt.device, hash("c"))
			wantCode(t, err, tt.want)
		})
	}
	// The failed redemption of "second" left it unspent.
	if _, err := s.RedeemEnrolment(ctx, hash("second"), now, "d2", hash("c")); err != nil {
		t.Fatalf("redeem after a failed attempt: %v", err)
	}
	wantCode(t, s.CreateEnrolment(ctx, "nowhere", hash("x"), now.Add(time.Minute)), storage.NotFound)
	wantCode(t, s.CreateEnrolment(ctx, "A", hash("second"), now.Add(time.Minute)), storage.Conflict)
	wantCode(t, s.CreateBranch(ctx, "A", "again"), storage.Conflict)
}

func TestRevokedDeviceIsReported(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	d := MustDevice(t, s, "A")
	ctx := context.Background()
	got, err := s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revoked() || got.Branch != "A" || got.Prefix != d.Prefix || string(got.CredentialHash) != string(d.CredentialHash) {
		t.Fatalf("device = %+v, want %+v", got, d)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	if err := s.RevokeDevice(ctx, d.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, d.ID, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err = s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Revoked() || !got.RevokedAt.Equal(at) {
		t.Fatalf("revoked at = %v, want %v (the first revocation)", got.RevokedAt, at)
	}
	_, err = s.Ingest(ctx, d.ID, batchOf(t, d, 1))
	wantCode(t, err, storage.Revoked)
	wantCode(t, s.RevokeDevice(ctx, "nobody", at), storage.NotFound)
	_, err = s.Device(ctx, "nobody")
	wantCode(t, err, storage.NotFound)
}

func TestPrefixesAreUniqueAcrossEnrolments(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	ctx := context.Background()
	if err := s.CreateBranch(ctx, "A", "Alpha"); err != nil {
		t.Fatal(err)
	}
	const n, workers = 1000, 4
	now := time.Now()
	prefixes := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				code := hash(fmt.Sprintf("prefix-code-%d", i))
				if err := s.CreateEnrolment(ctx, "A", code, now.Add(time.Hour)); err != nil {
					errs <- err
					return
				}
				d, err := s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("p-%d", i), hash("c"))
				if err != nil {
					errs <- err
					return
				}
				prefixes[i] = d.Prefix
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, p := range prefixes {
		if j, ok := seen[p]; ok {
			t.Fatalf("devices %d and %d share prefix %q", j, i, p)
		}
		seen[p] = i
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ombud.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d := MustDevice(t, s, "A")
	batch := batchOf(t, d, 1, 2, 3, 5)
	mustIngest(t, s, d, batch)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = MustOpenPath(t, path)
	got, err := s.Device(ctx, d.ID)
	if err != nil || got.AckedSeq != 3 || got.Prefix != d.Prefix {
		t.Fatalf("device after reopen = %+v, %v", got, err)
	}
	if evs := allEvents(t, s, storage.Scope{Branch: "A"}); len(evs) != 4 {
		t.Fatalf("%d events after reopen, want 4", len(evs))
	}
	c, _ := batch[0].Event.Complaint()
	row, err := s.ComplaintByCode(ctx, c.Code)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Complaint{ID: c.ID, Code: c.Code, Branch: "A", Category: c.Category, FiledAt: c.FiledAt, FiledEventID: batch[0].Event.ID}
	if row != want {
		t.Fatalf("complaint = %+v, want %+v", row, want)
	}
	// Resuming after the gap works across the restart.
	if res := mustIngest(t, s, d, batchOf(t, d, 4)); res.AckedSeq != 5 {
		t.Fatalf("ingest 4 after reopen = %+v, want acked 5", res)
	}
	// The next enrolment does not reuse a prefix given before the restart.
	if d2 := MustDevice(t, s, "A"); d2.Prefix == d.Prefix {
		t.Fatalf("prefix %q given twice", d.Prefix)
	}
}

func TestComplaintByCodeNotFound(t *testing.T) {
	t.Parallel()
	s := MustOpen(t)
	_, err := s.ComplaintByCode(context.Background(), "K7QM4XRT9B2C")
	wantCode(t, err, storage.NotFound)
	if !errors.Is(err, complaint.ErrNotFound) {
		t.Fatalf("error %v is not complaint.ErrNotFound", err)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ombud.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.WriterDB(s).Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := sqlite.Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("opened a database with a newer schema")
	}
}

func TestDSNSurvivesAwkwardPaths(t *testing.T) {
	t.Parallel()
	// '?' and '#' in a directory name would end the file name in a naive DSN.
	dir := filepath.Join(t.TempDir(), "odd ?#% dir")
	if err := mkdir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ombud.db")
	s := MustOpenPath(t, path)
	MustDevice(t, s, "A")
	if !exists(path) {
		t.Fatalf("database not created at %s", path)
	}
}
