package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/uid"
)

// Privacy storage (storage.Privacy): redaction keeps the audit chain,
// holds block it, erasures close once, the log reads newest first.

// redactionMarker is the Redacted event retention would append.
func redactionMarker(filed event.Event) event.Event {
	data, _ := json.Marshal(event.Redaction{Reason: event.RedactRetention, Policy: "test: 1 month after closure"})
	return event.Event{ID: uid.New(), ComplaintID: filed.ComplaintID, Branch: filed.Branch, Type: event.Redacted,
		Actor: event.Actor{Kind: event.ActorSystem, ID: "retention"}, At: Clock.Now(), Data: data}
}

func testPrivacyRedactKeepsTheChain(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	batch := BatchOf(t, d, SeqRange(1, 8)...) // two complaints, three notes each
	mustPush(t, s, d, batch)
	filed, other := batch[0].Event, batch[4].Event
	if _, err := s.Append(ctx, []event.Event{customerEvent(filed, event.InfoProvided, "my account number is 1234")}); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	done, err := s.Redact(ctx, filed.ComplaintID, redactionMarker(filed), at)
	if err != nil || !done {
		t.Fatalf("redact = %v, %v", done, err)
	}
	evs, err := s.ComplaintEvents(ctx, filed.ComplaintID)
	if err != nil {
		t.Fatal(err)
	}
	markers := 0
	for _, e := range evs {
		if strings.Contains(string(e.Event.Data), "1234") || strings.Contains(string(e.Event.Data), "the queue ticket") {
			t.Errorf("event %s (%s) still holds text after redaction: %s", e.Event.ID, e.Event.Type, e.Event.Data)
		}
		if e.Event.Type == event.Redacted {
			markers++
		}
	}
	if markers != 1 {
		t.Fatalf("%d redaction markers, want 1", markers)
	}
	// The other complaint keeps its words.
	oe, _ := s.ComplaintEvents(ctx, other.ComplaintID)
	if len(oe) != 4 || !strings.Contains(string(oe[1].Event.Data), "the queue ticket") {
		t.Fatalf("the other complaint lost its text: %+v", oe)
	}
	// A second redaction stores no second marker.
	if done, err := s.Redact(ctx, filed.ComplaintID, redactionMarker(filed), at); err != nil || done {
		t.Fatalf("second redact = %v, %v; want false, nil", done, err)
	}
	rep, err := s.AuditVerify(ctx, nil)
	if err != nil || rep.Break != nil || rep.Rows != 10 {
		t.Fatalf("audit after redaction: %+v, %v", rep, err)
	}
	// ScanFiled skips the redacted complaint.
	var seen []string
	if err := s.ScanFiled(ctx, func(se storage.StoredEvent) error {
		seen = append(seen, se.Event.ComplaintID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != other.ComplaintID {
		t.Fatalf("ScanFiled = %v, want only %s", seen, other.ComplaintID)
	}
	_, err = s.Redact(ctx, "no-such-complaint", redactionMarker(event.Event{ComplaintID: "no-such-complaint", Branch: "A"}), at)
	wantCode(t, err, storage.NotFound)
	wrong := redactionMarker(other)
	_, err = s.Redact(ctx, filed.ComplaintID, wrong, at)
	wantCode(t, err, storage.Invalid)
}

func testPrivacyHoldBlocksRedaction(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	filed := mustPushFiled(t, s, d, 1)
	now := time.Now().UTC().Truncate(time.Microsecond)
	wantCode(t, s.SetHold(ctx, storage.Hold{ComplaintID: "nope", Reason: "court", SetBy: "sup", SetAt: now}), storage.NotFound)
	wantCode(t, s.SetHold(ctx, storage.Hold{ComplaintID: filed.ComplaintID}), storage.Invalid)
	if err := s.SetHold(ctx, storage.Hold{ComplaintID: filed.ComplaintID, Reason: "court order 1", SetBy: "sup", SetAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHold(ctx, storage.Hold{ComplaintID: filed.ComplaintID, Reason: "court order 2", SetBy: "sup2", SetAt: now}); err != nil {
		t.Fatal(err)
	}
	holds, err := s.Holds(ctx)
	if err != nil || len(holds) != 1 || holds[0].Reason != "court order 2" || holds[0].SetBy != "sup2" || !holds[0].SetAt.Equal(now) {
		t.Fatalf("holds = %+v, %v", holds, err)
	}
	_, err = s.Redact(ctx, filed.ComplaintID, redactionMarker(filed), now)
	wantCode(t, err, storage.Conflict)
	if !strings.Contains(err.Error(), "court order 2") {
		t.Errorf("the refusal does not name the hold's reason: %v", err)
	}
	if err := s.ClearHold(ctx, filed.ComplaintID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.ClearHold(ctx, filed.ComplaintID), storage.NotFound)
	if done, err := s.Redact(ctx, filed.ComplaintID, redactionMarker(filed), now); err != nil || !done {
		t.Fatalf("redact after the hold is lifted = %v, %v", done, err)
	}
}

func testPrivacyErasureClosesOnce(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	a := storage.ErasureRequest{ID: "er-1", Subject: "email:abc", Complaints: []string{"c1", "c2"}, Reason: "asked by letter",
		RequestedBy: "sup-a", RequestedAt: t0}
	b := a
	b.ID, b.RequestedAt, b.Complaints = "er-2", t0.Add(time.Minute), []string{"c3"}
	for _, r := range []storage.ErasureRequest{a, b} {
		if err := s.CreateErasure(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, s.CreateErasure(ctx, a), storage.Conflict)
	got, err := s.Erasure(ctx, "er-1")
	if err != nil || got.State != storage.ErasurePending || got.Subject != "email:abc" || len(got.Complaints) != 2 ||
		!got.RequestedAt.Equal(t0) || got.ApprovedBy != "" || !got.ApprovedAt.IsZero() {
		t.Fatalf("erasure = %+v, %v", got, err)
	}
	_, err = s.Erasure(ctx, "nope")
	wantCode(t, err, storage.NotFound)
	list, err := s.Erasures(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "er-2" {
		t.Fatalf("erasures = %+v, %v; want newest first", list, err)
	}
	wantCode(t, s.CloseErasure(ctx, "er-1", storage.ErasurePending, "sup-b", t0, ""), storage.Invalid)
	wantCode(t, s.CloseErasure(ctx, "nope", storage.ErasureDone, "sup-b", t0, ""), storage.NotFound)

	// Two approvals at once: one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := 0; i < 4; i++ {
		wg.Go(func() {
			err := s.CloseErasure(ctx, "er-1", storage.ErasureDone, "sup-b", t0.Add(time.Hour), "2 complaints redacted")
			mu.Lock()
			defer mu.Unlock()
			switch storage.ErrorCode(err) {
			case "":
				wins++
			case storage.Conflict:
			default:
				t.Errorf("close: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d approvals won, want 1", wins)
	}
	got, _ = s.Erasure(ctx, "er-1")
	if got.State != storage.ErasureDone || got.ApprovedBy != "sup-b" || !got.ApprovedAt.Equal(t0.Add(time.Hour)) || got.Outcome != "2 complaints redacted" {
		t.Fatalf("closed erasure = %+v", got)
	}
}

func testPrivacyLogNewestFirst(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	t0 := time.Now().UTC().Truncate(time.Microsecond)
	for i, a := range []string{"hold.set", "erasure.request", "erasure.approve"} {
		if err := s.LogPrivacy(ctx, storage.PrivacyEntry{At: t0.Add(time.Duration(i) * time.Second), Actor: "sup", Action: a, Subject: "c1", Detail: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.PrivacyLog(ctx, 2)
	if err != nil || len(got) != 2 || got[0].Action != "erasure.approve" || got[1].Action != "erasure.request" || !got[0].At.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("privacy log = %+v, %v", got, err)
	}
}

func testPrivacyClosedCases(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	d := MustDevice(t, s, "A")
	var filed []event.Event
	for i := int64(1); i <= 4; i++ {
		filed = append(filed, mustPushFiled(t, s, d, i))
	}
	closedAt := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	var rows []storage.CaseRow
	for i, f := range filed {
		r := caseRow(f.ComplaintID, time.Time{})
		r.Code, r.Branch, r.State, r.ClosedAt = "CODE-"+f.ComplaintID, "A", lifecycle.Closed, closedAt.Add(time.Duration(i)*time.Hour)
		rows = append(rows, r)
	}
	rows[3].State, rows[3].ClosedAt = lifecycle.Responded, time.Time{} // open: never a candidate
	if err := s.SaveCases(ctx, 0, 1, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.SetHold(ctx, storage.Hold{ComplaintID: filed[1].ComplaintID, Reason: "court", SetBy: "sup", SetAt: closedAt}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Redact(ctx, filed[2].ComplaintID, redactionMarker(filed[2]), closedAt); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClosedCases(ctx, closedAt.Add(24*time.Hour), "", 10)
	if err != nil || len(got) != 1 || got[0].ComplaintID != filed[0].ComplaintID || !got[0].ClosedAt.Equal(closedAt) || got[0].Category != "billing" {
		t.Fatalf("closed cases = %+v, %v; want only %s", got, err, filed[0].ComplaintID)
	}
	if got, _ := s.ClosedCases(ctx, closedAt, "", 10); len(got) != 0 {
		t.Fatalf("closed before the first closure: %+v", got)
	}
	if got, _ := s.ClosedCases(ctx, closedAt.Add(24*time.Hour), filed[0].ComplaintID, 10); len(got) != 0 {
		t.Fatalf("closed after the last id: %+v", got)
	}
}
