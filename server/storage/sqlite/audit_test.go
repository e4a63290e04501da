package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"ombud/server/audit"
	"ombud/server/storage/sqlite"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// auditLog makes a closed database file holding 20 pushed events (seqs
// 1-20: filed at 1, 5, 9, 13, 17) and one appended customer event (21),
// and returns its path and head.
func auditLog(t *testing.T) (string, audit.Head) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ombud.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	d := MustDevice(t, s, "A")
	batch := batchOf(t, d, seqRange(1, 20)...)
	if _, err := s.Push(context.Background(), d.ID, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), []event.Event{customerEvent(batch[16].Event, event.InfoProvided, "more")}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.AuditVerify(context.Background(), nil)
	if err != nil || rep.Break != nil || rep.Rows != 21 || rep.Head.Seq != 21 {
		t.Fatalf("clean log: %+v, %v", rep, err)
	}
	head, err := s.AuditHead(context.Background())
	if err != nil || head != rep.Head {
		t.Fatalf("head = %v, %v; verified head %v", head, err, rep.Head)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, head
}

// tamper copies the database at path and runs stmts on the copy through a
// plain connection (foreign keys off, as an intruder's sqlite3 shell).
func tamper(t *testing.T, path string, stmts ...string) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "tampered.db")
	copyFile(t, path, cp)
	db, err := sql.Open("sqlite", "file:"+cp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return cp
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyFindsEachBreak makes each kind of break by direct SQL on
// a real database file and checks the sequence the verifier names.
func TestAuditVerifyFindsEachBreak(t *testing.T) {
	path, head := auditLog(t)
	for _, tc := range []struct {
		name  string
		stmts []string
		seq   int64
		kind  audit.Kind
	}{
		{"edited payload", []string{`UPDATE events SET data = CAST('{"text":"forged"}' AS BLOB) WHERE seq = 7`}, 7, audit.Payload},
		{"edited column", []string{`UPDATE events SET actor_id = 'someone-else' WHERE seq = 8`}, 8, audit.Altered},
		{"edited payload and its hash", []string{`UPDATE events SET data = CAST('{}' AS BLOB), payload_hash = X'44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a' WHERE seq = 6`}, 6, audit.Altered},
		{"deleted row", []string{`DELETE FROM events WHERE seq = 10`}, 10, audit.Deleted},
		{"inserted row", []string{
			`UPDATE events SET seq = seq + 1000 WHERE seq >= 12`,
			`UPDATE events SET seq = seq - 999 WHERE seq >= 1012`,
			`INSERT INTO events (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
				SELECT 12, 'forged', NULL, NULL, complaint_id, branch, 'closed', 'system', '', at, NULL, stored_at, hash, payload_hash FROM events WHERE seq = 11`,
		}, 12, audit.Inserted},
		{"row added at the end", []string{
			`INSERT INTO events (seq, id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at, hash, payload_hash)
				SELECT 22, 'forged', complaint_id, branch, 'closed', 'system', '', at, NULL, stored_at, hash, payload_hash FROM events WHERE seq = 21`,
		}, 22, audit.Altered},
		{"reordered pair", []string{
			`UPDATE events SET seq = -14 WHERE seq = 14`,
			`UPDATE events SET seq = 14 WHERE seq = 15`,
			`UPDATE events SET seq = 15 WHERE seq = -14`,
		}, 14, audit.Reordered},
		{"redacted by hand", []string{`UPDATE events SET data = NULL, redacted_at = 1 WHERE seq = 3`}, 3, audit.Unexplained},
		{"last row deleted (the recorded head shows it)", []string{`DELETE FROM events WHERE seq = 21`}, 21, audit.Deleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := MustOpenPath(t, tamper(t, path, tc.stmts...))
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

// TestAuditChainAcrossGroupsAndRollbacks: many devices pushing at once share
// transactions, some pushes fail inside the group (their savepoint and
// their links rolled back), server events interleave: the chain still
// verifies from the first event to the last.
func TestAuditChainAcrossGroupsAndRollbacks(t *testing.T) {
	s := MustOpen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		d := MustDevice(t, s, "A")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int64(0); k < 3; k++ {
				batch := batchOf(t, d, seqRange(k*8+1, k*8+8)...)
				if _, err := s.Push(ctx, d.ID, batch); err != nil {
					t.Error(err)
					return
				}
				// A push with a gap: refused, rolled back in its group.
				if _, err := s.Push(ctx, d.ID, batchOf(t, d, 100)); err == nil {
					t.Error("a push past a gap was stored")
				}
				if _, err := s.Append(ctx, []event.Event{customerEvent(batch[0].Event, event.InfoProvided, "info")}); err != nil {
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
	if want := int64(8*3*8 + 8*3); rep.Rows != want || rep.Head.Seq != want {
		t.Fatalf("verified %d rows to %d, want %d", rep.Rows, rep.Head.Seq, want)
	}
	if evs := allEvents(t, s, wire.BranchScope("A")); int64(len(evs)) != rep.Rows {
		t.Fatalf("%d events streamed, %d chained", len(evs), rep.Rows)
	}
}

// TestAuditBackfill: a database whose events have no hashes (stored before
// migration 0013) is chained when the store opens, to the very same head.
func TestAuditBackfill(t *testing.T) {
	path, head := auditLog(t)
	cp := tamper(t, path, `UPDATE events SET hash = NULL, payload_hash = NULL WHERE seq >= 9`)
	s := MustOpenPath(t, cp)
	rep, err := s.AuditVerify(context.Background(), &head)
	if err != nil || rep.Break != nil || rep.Head != head {
		t.Fatalf("after backfill: %+v, %v; want head %v", rep, err, head)
	}
}

// customerEvent is a customer's event of typ on filed's complaint, as the
// tracking page appends it.
func customerEvent(filed event.Event, typ event.Type, text string) event.Event {
	data, _ := json.Marshal(event.Text{Text: text})
	return event.Event{
		ID: uid.New(), ComplaintID: filed.ComplaintID, Type: typ,
		Actor: event.Actor{Kind: event.ActorCustomer}, At: hlc.New(nil).Now(),
		Branch: filed.Branch, Data: data,
	}
}
