package main

import (
	"strings"
	"testing"
)

// TestCasesCommandListsWhatTheServerHolds: `server cases` lists the cases
// the server holds (the demo's exit summary prints it under "What the
// server holds", beside the devices), with their state, category, queue
// and next deadline, and neither the tracking code nor the customer's
// words; --branch narrows it.
func TestCasesCommandListsWhatTheServerHolds(t *testing.T) {
	s := MustE2EServer(t, e2eDispatch, e2eSLA)
	k := MustE2EKiosk(t, s, "Front desk")
	f := k.file(t, "billing", "I was charged a fee twice for the same transfer.")
	var out string
	waitUntil(t, "server cases to list the complaint, routed", func() (bool, string) {
		out = MustRun(t, "cases", "--data", s.dir)
		return strings.Contains(out, f.Complaint.ID) && strings.Contains(out, "team:billing"), out
	})
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, f.Complaint.ID) {
			row = l
		}
	}
	for _, want := range []string{"main", "received", "billing", "acknowledge by "} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	if !strings.Contains(out, "1 case(s).") {
		t.Errorf("no count:\n%s", out)
	}
	for _, secret := range []string{string(f.Code), f.Code.String(), "charged a fee"} {
		if strings.Contains(out, secret) {
			t.Errorf("the listing shows %q:\n%s", secret, out)
		}
	}
	if other := MustRun(t, "cases", "--data", s.dir, "--branch", "elsewhere"); strings.Contains(other, f.Complaint.ID) || !strings.Contains(other, "0 case(s).") {
		t.Errorf("--branch elsewhere:\n%s", other)
	}
}
