package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kioskenrol "ombud/kiosk/enrol"
	"ombud/server/storage/postgres/pgtest"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/sync/wire"
)

// mustPGDevice enrols a device of role on the server at url, with a code
// made by the command on the shared database.
func mustPGDevice(t *testing.T, dsn, url, role string) *rawDevice {
	t.Helper()
	out := MustRun(t, "enrol-code", "--db", dsn, "--branch", "main", "--role", role)
	code := codeRE.FindString(out)
	if code == "" {
		t.Fatalf("enrol-code printed no code:\n%s", out)
	}
	cred, err := kioskenrol.Enrol(context.Background(), nil, url, code, role+" device")
	if err != nil {
		t.Fatalf("enrol a %s: %v", role, err)
	}
	return &rawDevice{tb: t, cred: cred, clock: hlc.New(nil)}
}

// TestE2EMetricsTwoReplicasOnPostgreSQL: two servers on one PostgreSQL
// database, a kiosk filing through one and a staff terminal reading
// through the other. Each replica counts what it did itself (the pushes on
// A, the streaming and its fan-out latency on B, the dispatch decisions on
// whichever holds the lease: exactly once between them), both report the
// shared database's fleet and their pgx pool.
func TestE2EMetricsTwoReplicasOnPostgreSQL(t *testing.T) {
	dsn := pgtest.DSN(t)
	MustRun(t, "branch", "add", "--db", dsn, "--id", "main", "--name", e2eBranchName)
	maddrA, maddrB := mustFreeAddr(t), mustFreeAddr(t)
	a := MustServe(t, noEnv, "--db", dsn, "--metrics-addr", maddrA)
	b := MustServe(t, noEnv, "--db", dsn, "--metrics-addr", maddrB)
	scrapeA := func() scrape { return mustScrape(t, "http://"+maddrA+"/metrics", "") }
	scrapeB := func() scrape { return mustScrape(t, "http://"+maddrB+"/metrics", "") }

	staff := mustPGDevice(t, dsn, "http://"+b.addr, "staff")
	staff.connect(map[string]int64{wire.BranchScope("main"): 0})
	kiosk := mustPGDevice(t, dsn, "http://"+a.addr, "kiosk")
	kiosk.connect(nil)
	if rejects, _ := kiosk.push(kiosk.filing("The card reader is broken"), kiosk.filing("Long queue at noon")); len(rejects) != 0 {
		t.Fatalf("refused: %+v", rejects)
	}
	// The staff terminal on B receives both filings, stored through A.
	streamed := 0
	for streamed < 2 {
		staff.conn.SetReadDeadline(time.Now().Add(e2eWait))
		m, err := wire.Read(staff.conn)
		if err != nil {
			t.Fatalf("staff terminal on replica B: %v", err)
		}
		if ev, ok := m.(*wire.Events); ok {
			for _, e := range ev.Events {
				if e.Event.Type == event.Filed {
					streamed++
				}
			}
			wire.Write(staff.conn, &wire.EventsAck{Scope: ev.Scope, Cursor: ev.Next}, time.Now().Add(e2eWait))
		}
	}

	var sa, sb scrape
	waitUntil(t, "both filings dispatched once between the replicas", func() (bool, string) {
		sa, sb = scrapeA(), scrapeB()
		n := max(0, sa.value("ombud_dispatch_cases_assigned_total")) + max(0, sb.value("ombud_dispatch_cases_assigned_total"))
		return n == 2, fmt.Sprintf("assigned on A %v, on B %v", sa.value("ombud_dispatch_cases_assigned_total"), sb.value("ombud_dispatch_cases_assigned_total"))
	})
	checks := []struct {
		on     string
		s      scrape
		name   string
		labels []string
		want   float64
	}{
		{"A", sa, "ombud_sync_events_ingested_total", []string{"role", "kiosk"}, 2},
		{"B", sb, "ombud_sync_events_ingested_total", []string{"role", "kiosk"}, 0},
		{"A", sa, "ombud_sync_connected_devices", []string{"role", "kiosk"}, 1},
		{"A", sa, "ombud_sync_connected_devices", []string{"role", "staff"}, 0},
		{"B", sb, "ombud_sync_connected_devices", []string{"role", "staff"}, 1},
		{"A", sa, "ombud_sync_push_duration_seconds", nil, 1},
		{"A", sa, "ombud_devices_enrolled", []string{"role", "kiosk"}, 1},
		{"B", sb, "ombud_devices_enrolled", []string{"role", "kiosk"}, 1},
		{"B", sb, "ombud_devices_enrolled", []string{"role", "staff"}, 1},
	}
	for _, c := range checks {
		if got := c.s.value(c.name, c.labels...); got != c.want {
			t.Errorf("replica %s: %s%v = %v, want %v", c.on, c.name, c.labels, got, c.want)
		}
	}
	if v := sb.value("ombud_sync_fanout_seconds"); v < 1 {
		t.Errorf("replica B: fan-out observations %v, want at least one (its commit feed saw A's commit)", v)
	}
	for on, s := range map[string]scrape{"A": sa, "B": sb} {
		if v := s.value("ombud_pg_pool_max_conns"); v < 1 {
			t.Errorf("replica %s: ombud_pg_pool_max_conns = %v", on, v)
		}
		if v := s.value("ombud_pg_pool_acquires_total"); v < 1 {
			t.Errorf("replica %s: ombud_pg_pool_acquires_total = %v", on, v)
		}
		if s["go_sql_open_connections"] != nil {
			t.Errorf("replica %s reports SQLite pools on PostgreSQL", on)
		}
	}
	checkDeployMetricNames(t, sa, func(name string) bool { return strings.HasPrefix(name, "ombud_pg_pool_") })
}
