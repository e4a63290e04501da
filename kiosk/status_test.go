package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"ombud/kiosk/enrol"
	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/hlc"
	"ombud/sync/client"
)

// TestStatusAfterAHealthyRun: a device that stopped with everything sent
// saved "offline" as it closed its link; `kiosk status` (the demo's exit
// summary) says it stopped with everything sent, not "Sync: offline" as if
// something were wrong. With events still waiting it says offline.
func TestStatusAfterAHealthyRun(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		pending bool
		want    string
	}{
		{"everything sent", false, "Sync: stopped, with everything sent (offline since it stopped)\n"},
		{"events waiting", true, "Sync: offline\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := enrol.Save(dir, enrol.Credential{ServerURL: "http://127.0.0.1:1", DeviceID: "kiosk-1", Secret: "c2VjcmV0",
				Branch: "main", CodePrefix: "K7Q"}); err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(ctx, dbPath(dir), nil, cases.NewProjection(cases.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SaveSyncStatus(ctx, client.SavedStatus{State: "offline", LastSuccess: time.Now().Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if tc.pending {
				fileOne(t, st)
			}
			st.Close()
			var out, errOut bytes.Buffer
			if err := statusCommand(ctx, []string{"--data", dir}, func(string) string { return "" }, &out, &errOut); err != nil {
				t.Fatalf("status: %v\n%s", err, errOut.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("status said:\n%s\nwant a line %q", out.String(), tc.want)
			}
		})
	}
}

// fileOne files a complaint in st, which then waits in its outbox.
func fileOne(t *testing.T, st *store.Store) {
	t.Helper()
	svc, err := filing.New(st, hlc.New(nil), filing.Config{Branch: "main", PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.File(context.Background(), filing.Draft{Category: "billing", Description: "Charged twice.", Language: "en"}); err != nil {
		t.Fatal(err)
	}
}
