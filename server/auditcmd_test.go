package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// fileComplaints files n complaints from a kiosk of branch main into the
// database in dir (its own store, closed before it returns).
func fileComplaints(t *testing.T, dir string, n int, contact *complaint.Contact) []complaint.Complaint {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateBranch(ctx, "main", "Main Street"); err != nil && storage.ErrorCode(err) != storage.Conflict {
		t.Fatal(err)
	}
	code := []byte(uid.New())
	if err := st.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code, ExpiresAt: time.Now().Add(time.Hour), Role: device.Kiosk}); err != nil {
		t.Fatal(err)
	}
	d, err := st.RedeemEnrolment(ctx, code, time.Now(), "kiosk-"+uid.New(), []byte("cred"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out   []complaint.Complaint
		batch []wire.DeviceEvent
	)
	for i := range n {
		tc, err := trackcode.Generate(d.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		c := complaint.Complaint{ID: uid.New(), Code: string(tc), Branch: "main", Device: d.ID, Channel: complaint.ChannelKiosk,
			Category: "billing", Description: "Charged twice for the same ticket, case " + uid.New(), Language: "en",
			Contact: contact, FiledAt: time.Now().UTC().Truncate(time.Millisecond)}
		e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, hlc.Make(time.Now().UnixMilli(), uint16(i)))
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, wire.DeviceEvent{Seq: int64(i + 1), Event: e})
		out = append(out, c)
	}
	if res, err := st.Push(ctx, d.ID, batch); err != nil || res.Stored != n {
		t.Fatalf("push: %+v, %v", res, err)
	}
	return out
}

func TestAuditCommands(t *testing.T) {
	dir := t.TempDir()
	fileComplaints(t, dir, 5, nil)
	head := strings.TrimSpace(MustRun(t, "audit", "head", "--data", dir))
	if !strings.HasPrefix(head, "5:") || len(head) != 2+64 {
		t.Fatalf("audit head = %q", head)
	}
	if out := MustRun(t, "audit", "verify", "--data", dir, "--head", head); !strings.Contains(out, "OK: 5 events verified") {
		t.Fatalf("verify printed %q", out)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE events SET data = CAST('{}' AS BLOB) WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"audit", "verify", "--data", dir}, noEnv, nil, &out, &errOut)
	if err == nil || !strings.Contains(out.String(), "BROKEN at sequence 3: payload edited") || !strings.Contains(err.Error(), "sequence 3") {
		t.Fatalf("verify after an edit: %v; printed %q", err, out.String())
	}
	err = run(context.Background(), []string{"audit", "verify", "--data", dir, "--head", "nonsense"}, noEnv, nil, &out, &errOut)
	if _, ok := err.(usageError); !ok {
		t.Fatalf("a malformed head: %v, want a usage error", err)
	}
}
