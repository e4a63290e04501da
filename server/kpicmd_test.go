package main

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"ombud/server/central"
	"ombud/server/kpi"
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

// TestKPIRebuildCommand: `server kpi rebuild` folds the figures from the
// log of a database no server has followed, and refuses a bad zone.
func TestKPIRebuildCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := central.OpenStore(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBranch(ctx, "main", "Main"); err != nil {
		t.Fatal(err)
	}
	code := sha256.Sum256([]byte("code"))
	if err := st.CreateEnrolment(ctx, storage.Enrolment{Branch: "main", CodeHash: code[:], ExpiresAt: time.Now().Add(time.Hour), Role: device.Kiosk}); err != nil {
		t.Fatal(err)
	}
	d, err := st.RedeemEnrolment(ctx, code[:], time.Now(), "kiosk-1", code[:])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := trackcode.Generate(d.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := complaint.Complaint{ID: uid.New(), Code: string(tc), Branch: "main", Device: d.ID, Channel: complaint.ChannelKiosk,
		Category: "cards", Description: "declined", Language: "en", FiledAt: now}
	ev, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, hlc.Make(now.UnixMilli(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Push(ctx, d.ID, []wire.DeviceEvent{{Seq: 1, Event: ev}}); err != nil || res.Stored != 1 {
		t.Fatalf("push: %+v %v", res, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	out := MustRun(t, "kpi", "rebuild", "--data", dir, "--timezone", "UTC")
	if !strings.Contains(out, "up to sequence 1") {
		t.Errorf("output = %q", out)
	}
	if err := run(ctx, []string{"kpi", "rebuild", "--data", dir, "--timezone", "Nowhere/Special"}, noEnv, nil, &strings.Builder{}, &strings.Builder{}); err == nil {
		t.Error("a bad --timezone was accepted")
	}

	st, err = central.OpenStore(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := kpi.Compute(ctx, st, kpi.Query{All: true}, kpi.PeriodOf("month", now), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if f.Received != 1 || f.BacklogTotal != 1 {
		t.Errorf("after rebuild: received %d, backlog %d, want 1 and 1", f.Received, f.BacklogTotal)
	}
}
