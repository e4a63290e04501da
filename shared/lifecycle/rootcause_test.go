package lifecycle_test

import (
	"slices"
	"strings"
	"testing"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// TestCloseRecordsRootCause: a closure's root cause from the taxonomy, or
// "other: text", becomes the case's root cause; one outside the taxonomy
// is refused as invalid data and leaves the case responded.
func TestCloseRecordsRootCause(t *testing.T) {
	yes := true
	base := story(t)[:10] // responded
	for _, tc := range []struct {
		cause, want string
		state       lifecycle.State
		rejected    string
	}{
		{"system-outage", "system-outage", lifecycle.Closed, ""},
		{"other: the branch door was locked", "other: the branch door was locked", lifecycle.Closed, ""},
		{"", "", lifecycle.Closed, ""},
		{"gremlins", "", lifecycle.Responded, "not in the taxonomy"},
		{"other:   ", "", lifecycle.Responded, "needs a description"},
		{"other: two\nlines", "", lifecycle.Responded, "line breaks"},
	} {
		t.Run(tc.cause, func(t *testing.T) {
			cl := MustEvent(t, "c1", 200, event.Closed, event.Closure{CustomerAccepted: &yes, RootCause: tc.cause})
			c, err := lifecycle.Fold(append(slices.Clone(base), cl))
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tc.state || c.RootCause != tc.want {
				t.Errorf("state %s cause %q, want %s %q", c.State, c.RootCause, tc.state, tc.want)
			}
			switch {
			case tc.rejected == "" && len(c.Rejected) > 0:
				t.Errorf("rejected: %+v", c.Rejected)
			case tc.rejected != "" && (len(c.Rejected) != 1 || c.Rejected[0].Code != lifecycle.InvalidData ||
				!strings.Contains(c.Rejected[0].Reason, tc.rejected)):
				t.Errorf("rejected: %+v, want invalid data saying %q", c.Rejected, tc.rejected)
			}
		})
	}
}
