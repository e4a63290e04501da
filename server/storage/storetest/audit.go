package storetest

import (
	"context"
	"sync"
	"testing"

	"ombud/shared/audit"
	"ombud/shared/event"
	"ombud/sync/wire"
)

// The audit chain (package shared/audit): the same log, tampered with the
// same statements, breaks at the same sequence on every backend.

// auditLog makes a database holding 20 pushed events (seqs 1-20: filed at
// 1, 5, 9, 13, 17) and one appended customer event (21), closes it and
// returns where it is and its head.
func auditLog(t *testing.T, h Harness) (string, audit.Head) {
	t.Helper()
	ctx := context.Background()
	loc := h.New(t)
	s := h.Open(t, loc, admitDefault)
	d := MustDevice(t, s, "A")
	batch := BatchOf(t, d, SeqRange(1, 20)...)
	if _, err := s.Push(ctx, d.ID, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, []event.Event{customerEvent(batch[16].Event, event.InfoProvided, "more")}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.AuditVerify(ctx, nil)
	if err != nil || rep.Break != nil || rep.Rows != 21 || rep.Head.Seq != 21 {
		t.Fatalf("clean log: %+v, %v", rep, err)
	}
	head, err := s.AuditHead(ctx)
	if err != nil || head != rep.Head {
		t.Fatalf("head = %v, %v; verified head %v", head, err, rep.Head)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return loc, head
}

// tamper runs stmts on the closed database at loc through the harness's
// Tamper hook, as an intruder with SQL access would.
func tamper(t *testing.T, h Harness, loc string, stmts ...Stmt) {
	t.Helper()
	if h.Tamper == nil {
		t.Skip("the harness has no Tamper hook")
	}
	h.Tamper(t, loc, stmts)
}

func testAuditVerifyFindsEachBreak(t *testing.T, h Harness) {
	forged := []byte(`{"text":"forged"}`)
	empty := audit.PayloadHash([]byte(`{}`))
	for _, tc := range []struct {
		name  string
		stmts []Stmt
		seq   int64
		kind  audit.Kind
	}{
		{"edited payload", []Stmt{{`UPDATE events SET data = $1 WHERE seq = 7`, []any{forged}}}, 7, audit.Payload},
		{"edited column", []Stmt{{SQL: `UPDATE events SET actor_id = 'someone-else' WHERE seq = 8`}}, 8, audit.Altered},
		{"edited payload and its hash", []Stmt{{`UPDATE events SET data = $1, payload_hash = $2 WHERE seq = 6`, []any{[]byte(`{}`), empty[:]}}}, 6, audit.Altered},
		{"deleted row", []Stmt{{SQL: `DELETE FROM events WHERE seq = 10`}}, 10, audit.Deleted},
		{"inserted row", []Stmt{
			{SQL: `UPDATE events SET seq = seq + 1000 WHERE seq >= 12`},
			{SQL: `UPDATE events SET seq = seq - 999 WHERE seq >= 1012`},
			{SQL: `INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
				SELECT 12, 'forged', NULL, NULL, complaint_id, branch, 'closed', 'system', '', at, NULL, stored_at, hash, payload_hash FROM events WHERE seq = 11`},
		}, 12, audit.Inserted},
		{"row added at the end", []Stmt{
			{SQL: `INSERT INTO events (seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
				SELECT 22, 'forged', complaint_id, branch, 'closed', 'system', '', at, NULL, stored_at, hash, payload_hash FROM events WHERE seq = 21`},
		}, 22, audit.Altered},
		{"reordered pair", []Stmt{
			{SQL: `UPDATE events SET seq = -14 WHERE seq = 14`},
			{SQL: `UPDATE events SET seq = 14 WHERE seq = 15`},
			{SQL: `UPDATE events SET seq = 15 WHERE seq = -14`},
		}, 14, audit.Reordered},
		{"redacted by hand", []Stmt{{SQL: `UPDATE events SET data = NULL, redacted_at = 1 WHERE seq = 3`}}, 3, audit.Unexplained},
		{"last row deleted (the recorded head shows it)", []Stmt{{SQL: `DELETE FROM events WHERE seq = 21`}}, 21, audit.Deleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loc, head := auditLog(t, h)
			tamper(t, h, loc, tc.stmts...)
			s := h.Open(t, loc, admitDefault)
			rep, err := s.AuditVerify(context.Background(), &head)
			if err != nil {
				t.Fatal(err)
			}
			if b := rep.Break; b == nil || b.Seq != tc.seq || b.Kind != tc.kind {
				t.Fatalf("break = %+v, want %q at %d", b, tc.kind, tc.seq)
			}
		})
	}
}

// testAuditChainAcrossGroupsAndRollbacks: many devices pushing at once
// share transactions, some pushes fail inside the group (their savepoint
// and their links rolled back), server events interleave: the chain still
// verifies from the first event to the last.
func testAuditChainAcrossGroupsAndRollbacks(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		d := MustDevice(t, s, "A")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int64(0); k < 3; k++ {
				batch := BatchOf(t, d, SeqRange(k*8+1, k*8+8)...)
				if _, err := s.Push(ctx, d.ID, batch); err != nil {
					t.Error(err)
					return
				}
				// A push with a gap: refused, rolled back in its group.
				if _, err := s.Push(ctx, d.ID, BatchOf(t, d, 100)); err == nil {
					t.Error("a push past a gap was stored")
				}
				e := customerEvent(batch[0].Event, event.InfoProvided, "info")
				if _, err := s.Append(ctx, []event.Event{e}); err != nil {
					t.Error(err)
				}
				// A repeat appends nothing (and links nothing).
				if _, err := s.Append(ctx, []event.Event{e}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	rep, err := s.AuditVerify(ctx, nil)
	if err != nil || rep.Break != nil {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	if want := int64(8*3*8 + 8*3); rep.Rows != want {
		t.Fatalf("verified %d rows, want %d", rep.Rows, want)
	}
	evs := AllEvents(t, s, wire.BranchScope("A"))
	if int64(len(evs)) != rep.Rows || evs[len(evs)-1].Seq != rep.Head.Seq {
		t.Fatalf("%d events streamed, %d chained to %d", len(evs), rep.Rows, rep.Head.Seq)
	}
}

// testAuditBackfill: a database whose events have no hashes (stored
// before the chain existed) is chained when the store opens, to the very
// same head.
func testAuditBackfill(t *testing.T, h Harness) {
	loc, head := auditLog(t, h)
	tamper(t, h, loc, Stmt{SQL: `UPDATE events SET hash = NULL, payload_hash = NULL WHERE seq >= 9`})
	s := h.Open(t, loc, admitDefault)
	rep, err := s.AuditVerify(context.Background(), &head)
	if err != nil || rep.Break != nil || rep.Head != head {
		t.Fatalf("after backfill: %+v, %v; want head %v", rep, err, head)
	}
}

// testAuditEmptyLog: an empty log has no head and verifies.
func testAuditEmptyLog(t *testing.T, h Harness) {
	s := h.MustOpen(t)
	head, err := s.AuditHead(context.Background())
	if err != nil || head.Seq != 0 {
		t.Fatalf("head of an empty log = %v, %v", head, err)
	}
	rep, err := s.AuditVerify(context.Background(), nil)
	if err != nil || rep.Break != nil || rep.Rows != 0 {
		t.Fatalf("verify an empty log: %+v, %v", rep, err)
	}
}
