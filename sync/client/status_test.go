package client_test

import (
	"testing"
	"time"

	"ombud/sync/client"
)

func TestStatusSummary(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		st   client.Status
		want string
	}{
		{"online, nothing waiting", client.Status{State: client.Online}, "online"},
		{"offline with a backlog, the link never dropped mid-push", client.Status{State: client.Offline, Pending: 3,
			WaitingSince: now.Add(-time.Hour)}, "offline, 3 waiting"},
		{"dropping, but not for long yet", client.Status{State: client.Online, Pending: 40, Drops: 5,
			WaitingSince: now.Add(-time.Minute)}, "online, 40 waiting"},
		{"dropping for a while", client.Status{State: client.Connecting, Pending: 120, Drops: 9,
			WaitingSince: now.Add(-14*time.Minute - 30*time.Second)}, "link unstable, 120 waiting for 14 minutes"},
		{"for hours", client.Status{State: client.Offline, Pending: 1, Drops: 1,
			WaitingSince: now.Add(-3 * time.Hour)}, "link unstable, 1 waiting for 3 hours"},
		{"for days", client.Status{State: client.Online, Pending: 2000, Drops: 300,
			WaitingSince: now.Add(-50 * time.Hour)}, "link unstable, 2000 waiting for 2 days"},
		{"gave up", client.Status{State: client.GaveUp, Pending: 2, LastError: "revoked: ask staff to re-enrol this kiosk"},
			"sync stopped: revoked: ask staff to re-enrol this kiosk"},
	} {
		if got := tc.st.Summary(now); got != tc.want {
			t.Errorf("%s: Summary = %q, want %q", tc.name, got, tc.want)
		}
	}
}
