package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/server/storage/postgres"
	"ombud/server/storage/postgres/pgtest"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// TestAuditAndKPICommandsOnPostgreSQL: `server audit head|verify` and
// `server kpi rebuild` work with --db: the chain PostgreSQL stores verifies
// with the same verifier, names an edit made by direct SQL, and the
// figures fold from the shared database.
func TestAuditAndKPICommandsOnPostgreSQL(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBranch(ctx, "main", "Main Street"); err != nil {
		t.Fatal(err)
	}
	code := []byte(uid.New())
	if err := st.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Kiosk}); err != nil {
		t.Fatal(err)
	}
	d, err := st.RedeemEnrolment(ctx, code, time.Now(), "kiosk-1", []byte("cred"))
	if err != nil {
		t.Fatal(err)
	}
	var batch []wire.DeviceEvent
	for i := range 5 {
		tc, err := trackcode.Generate(d.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		c := complaint.Complaint{ID: uid.New(), Code: string(tc), Branch: "main", Device: d.ID, Channel: complaint.ChannelKiosk,
			Category: "billing", Description: "Charged twice", Language: "en", FiledAt: time.Now().UTC().Truncate(time.Millisecond)}
		e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, hlc.Make(time.Now().UnixMilli(), uint16(i)))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, wire.DeviceEvent{Seq: int64(i + 1), Event: e})
	}
	if res, err := st.Push(ctx, d.ID, batch); err != nil || res.Stored != 5 {
		t.Fatalf("push: %+v, %v", res, err)
	}
	st.Close()

	head := strings.TrimSpace(MustRun(t, "audit", "head", "--db", dsn))
	if !strings.HasPrefix(head, "5:") || len(head) != 2+64 {
		t.Fatalf("audit head = %q", head)
	}
	if out := MustRun(t, "audit", "verify", "--db", dsn, "--head", head); !strings.Contains(out, "OK: 5 events verified") {
		t.Fatalf("verify printed %q", out)
	}
	if out := MustRun(t, "kpi", "rebuild", "--db", dsn, "--timezone", "UTC"); !strings.Contains(out, "up to sequence 5") {
		t.Fatalf("kpi rebuild printed %q", out)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE events SET data = '\x7b7d'::bytea WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(ctx, []string{"audit", "verify", "--db", dsn}, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "BROKEN at sequence 3: payload edited") {
		t.Fatalf("verify after an edit: %v; printed %q", err, out.String())
	}
}
