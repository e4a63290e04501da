package client_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"ombud/sync/client"
	"ombud/sync/wire"
)

// A row edited in the server's database (payload, or its chain hash) is
// refused by the device that receives it: nothing stored, cursor not
// moved, the client gives up and says why. An untouched log passes.
func TestChainTamperedInDatabaseIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"clean", ``, ""},
		{"payload", `UPDATE events SET data = CAST(REPLACE(CAST(data AS TEXT), 'Charged twice', 'Charged once') AS BLOB) WHERE seq = 2`,
			"payload does not match its hash"},
		{"hash", `UPDATE events SET hash = zeroblob(32) WHERE seq = 2`, "chain hash does not recompute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := MustServer(t)
			a := srv.MustKiosk(t, "north")
			a.mustFile(t, 3)
			stopA := a.run(t)
			waitFor(t, "3 events on the server", func() bool { return srv.stats(t).Events >= 3 })
			waitFor(t, "kiosk A drained", pendingZero(a))
			if err := stopA(); err != nil {
				t.Fatal(err)
			}
			page, err := srv.st.EventsAfter(ctx, wire.BranchScope("north"), 0, 10)
			if err != nil || len(page) != 3 {
				t.Fatalf("scope read: %d events, %v", len(page), err)
			}
			for _, se := range page {
				if se.Chain == nil || se.Chain.Seq != se.Seq {
					t.Fatalf("event %d sent without its chain link: %+v", se.Seq, se.Chain)
				}
			}
			if tc.sql != "" {
				db, err := sql.Open("sqlite", "file:"+srv.path+"?_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				res, err := db.Exec(tc.sql)
				if n, _ := res.RowsAffected(); err != nil || n != 1 {
					t.Fatalf("tamper: %v, %d rows", err, n)
				}
				db.Close()
			}

			b := srv.MustKiosk(t, "north")
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := b.runDone(t, runCtx)
			if tc.want == "" {
				waitFor(t, "kiosk B holds the 3 complaints", func() bool {
					n, err := b.st.Count(ctx)
					return err == nil && n == 3
				})
				return
			}
			var err2 error
			select {
			case err2 = <-done:
			case <-time.After(waitTimeout):
				t.Fatal("Run did not give up on a broken chain")
			}
			var gu *client.GiveUpError
			if !errors.As(err2, &gu) || !strings.Contains(err2.Error(), "audit chain check failed") || !strings.Contains(err2.Error(), tc.want) {
				t.Fatalf("Run: got %v, want a give-up naming the chain (%s)", err2, tc.want)
			}
			st := b.client.Status()
			if st.State != client.GaveUp || !strings.Contains(st.LastError, "audit chain check failed") {
				t.Errorf("status: got %+v, want gave up with the chain error", st)
			}
			if n, err := b.st.Count(ctx); err != nil || n != 0 {
				t.Errorf("kiosk B stored %d complaints (%v) from a refused batch, want 0", n, err)
			}
			if cur, err := b.st.Cursors(ctx); err != nil || cur["branch:north"] != 0 {
				t.Errorf("kiosk B cursor: %v, %v; want 0 (batch refused)", cur, err)
			}
		})
	}
}
