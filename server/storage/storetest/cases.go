package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

func caseRow(id string, nextDue time.Time) storage.CaseRow {
	base := time.Date(2026, 3, 6, 15, 0, 0, 0, time.UTC)
	return storage.CaseRow{
		ComplaintID: id, Code: "C-" + id, Branch: "north", State: lifecycle.Acknowledged,
		Queue: "team:billing", Severity: event.SeverityHigh, Priority: 2, Category: "billing",
		EscalationLevel: 1, WaitingOnCustomer: true,
		FiledAt: base, AcknowledgedAt: base.Add(time.Hour),
		AckDue: base.Add(2 * time.Hour), RespondDue: base.Add(80 * time.Hour),
		NextDue: nextDue, NextTarget: "respond", UpdatedAt: base.Add(time.Hour), Seq: 7,
	}
}

func testCasesRoundTripAndCursor(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	if got, err := s.CasesCursor(ctx); err != nil || got != 0 {
		t.Fatalf("new cursor = %d, %v; want 0", got, err)
	}
	due := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	a := caseRow("a", due)
	if err := s.SaveCases(ctx, 0, 10, []storage.CaseRow{a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Case(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, a)
	}

	// The cursor is a compare-and-set: a writer that read an old cursor
	// writes nothing.
	b := caseRow("b", due)
	err = s.SaveCases(ctx, 0, 12, []storage.CaseRow{b})
	wantCode(t, err, storage.Conflict)
	if _, err := s.Case(ctx, "b"); storage.ErrorCode(err) != storage.NotFound || !errors.Is(err, complaint.ErrNotFound) {
		t.Errorf("row of a lost compare-and-set: err = %v, want NotFound", err)
	}
	if c, _ := s.CasesCursor(ctx); c != 10 {
		t.Errorf("cursor after a lost compare-and-set = %d, want 10", c)
	}
	wantCode(t, s.SaveCases(ctx, 10, 9, nil), storage.Invalid)

	// An upsert replaces the row; zero times come back zero (NULL).
	a.State, a.AcknowledgedAt, a.NextDue, a.NextTarget = lifecycle.Closed, time.Time{}, time.Time{}, ""
	if err := s.SaveCases(ctx, 10, 10, []storage.CaseRow{a}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Case(ctx, "a"); !reflect.DeepEqual(got, a) {
		t.Errorf("after upsert:\n got %+v\nwant %+v", got, a)
	}
}

func testCasesDueAndPaging(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.MustOpen(t)
	t0 := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	var rows []storage.CaseRow
	for i, off := range []int{3, 1, 2, -1, 1} { // -1: nothing due
		due := time.Time{}
		if off >= 0 {
			due = t0.Add(time.Duration(off) * time.Hour)
		}
		rows = append(rows, caseRow(fmt.Sprintf("c%d", i), due))
	}
	if err := s.SaveCases(ctx, 0, 5, rows); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []storage.CaseRow) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ComplaintID)
		}
		return out
	}
	tests := []struct {
		by    time.Time
		limit int
		want  []string
	}{
		{t0.Add(time.Hour), 10, nil}, // strictly before: a deadline is not missed at its instant
		{t0.Add(time.Hour + 1), 10, []string{"c1", "c4"}},
		{t0.Add(5 * time.Hour), 10, []string{"c1", "c4", "c2", "c0"}},
		{t0.Add(5 * time.Hour), 3, []string{"c1", "c4", "c2"}},
	}
	for _, tt := range tests {
		got, err := s.CasesDue(ctx, tt.by, storage.DueKey{}, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("CasesDue(%v, %d) = %v, want %v", tt.by, tt.limit, ids(got), tt.want)
		}
	}
	_, err := s.CasesDue(ctx, t0, storage.DueKey{}, 0)
	wantCode(t, err, storage.Invalid)

	// Keyset pages: after the key of a page's last row, ties on the
	// deadline broken by complaint id, never a row twice or skipped.
	var due []string
	for after := (storage.DueKey{}); ; {
		page, err := s.CasesDue(ctx, t0.Add(5*time.Hour), after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		due = append(due, ids(page)...)
		after = storage.DueKeyOf(page[len(page)-1])
	}
	if want := []string{"c1", "c4", "c2", "c0"}; !reflect.DeepEqual(due, want) {
		t.Errorf("CasesDue pages = %v, want %v", due, want)
	}

	var all []string
	for after := ""; ; {
		page, err := s.CasesAfter(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, ids(page)...)
		after = page[len(page)-1].ComplaintID
	}
	if want := []string{"c0", "c1", "c2", "c3", "c4"}; !reflect.DeepEqual(all, want) {
		t.Errorf("CasesAfter pages = %v, want %v", all, want)
	}

	if err := s.SetCasesConfig(ctx, "v1 sla:abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetCases(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.CasesCursor(ctx); c != 0 {
		t.Errorf("cursor after reset = %d, want 0", c)
	}
	if fp, err := s.CasesConfig(ctx); err != nil || fp != "" {
		t.Errorf("config after reset = %q, %v; want \"\"", fp, err)
	}
	if rest, _ := s.CasesAfter(ctx, "", 10); len(rest) != 0 {
		t.Errorf("rows after reset = %d, want 0", len(rest))
	}
}

// The projection and its cursor survive a reopen: the engine resumes where
// its last commit left off.
func testCasesSurviveReopen(t *testing.T, h Harness) {
	ctx := context.Background()
	path := h.New(t)
	s := h.Open(t, path, admit.Policy{})
	row := caseRow("a", time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC))
	if err := s.SaveCases(ctx, 0, 3, []storage.CaseRow{row}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := h.Open(t, path, admit.Policy{})
	if c, _ := s2.CasesCursor(ctx); c != 3 {
		t.Errorf("cursor after reopen = %d, want 3", c)
	}
	if got, err := s2.Case(ctx, "a"); err != nil || !reflect.DeepEqual(got, row) {
		t.Errorf("row after reopen = %+v, %v", got, err)
	}
	if fp, err := s2.CasesConfig(ctx); err != nil || fp != "" {
		t.Errorf("config of a projection never fingerprinted = %q, %v; want \"\"", fp, err)
	}
	if err := s2.SetCasesConfig(ctx, "v1 sla:abc"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := h.Open(t, path, admit.Policy{})
	if fp, err := s3.CasesConfig(ctx); err != nil || fp != "v1 sla:abc" {
		t.Errorf("config after reopen = %q, %v; want \"v1 sla:abc\"", fp, err)
	}
	if c, _ := s3.CasesCursor(ctx); c != 3 {
		t.Errorf("cursor after recording the config = %d, want 3", c)
	}
}
