package staffui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/shared/event"
)

// TestScreensFit draws the queue and a case at the smallest supported size
// and a large one: the header, the rows and the hint row are all there.
// Run with -v to see the screens.
func TestScreensFit(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {200, 60}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			e := newEnv(t)
			now := time.Now()
			late := e.file("billing", "The card machine charged me twice for one coffee and nobody could refund it.", now.AddDate(0, 0, -30))
			e.act(late.Complaint.ID, event.Acknowledged, "sam", nil)
			e.act(late.Complaint.ID, event.Assessed, "sam", event.Assessment{Severity: event.SeverityHigh, Priority: 2})
			e.act(late.Complaint.ID, event.Assigned, "sam", event.Assignment{Queue: "billing"})
			e.act(late.Complaint.ID, event.NoteAdded, "sam", event.Text{Text: "Called the customer back; the refund is with the card team.\nSecond line of the note."})
			e.act(late.Complaint.ID, event.MessageSent, "sam", event.Text{Text: "We are looking into the double charge."})
			e.act(late.Complaint.ID, event.Escalated, "sam", event.Escalation{Text: "Over a month old."})
			mid := e.file("waiting_time", "Waited forty minutes at the counter.", now.AddDate(0, 0, -1))
			e.file("products", "The savings account rate changed without notice.", now)
			_ = mid

			k := start(t, e.config(), size[0], size[1])
			k.signIn("sam", samPIN)
			s := k.waitText(late.Code.String(), mid.Code.String(), "1 OVERDUE")
			lines := strings.Split(s, "\n")
			if !strings.Contains(lines[0], "Sam Super (supervisor, offline)") || !strings.Contains(lines[0], "offline · 0 waiting") {
				t.Errorf("header %q", lines[0])
			}
			if !strings.Contains(lines[1], "received 2") {
				t.Errorf("counts %q", lines[1])
			}
			if !strings.Contains(lines[len(lines)-1], "q sign out") {
				t.Errorf("hints %q", lines[len(lines)-1])
			}
			t.Logf("queue at %dx%d:\n%s", size[0], size[1], s)

			k.openCase(string(late.Code))
			s = k.waitText("What happened", "OVERDUE")
			t.Logf("case at %dx%d:\n%s", size[0], size[1], s)
			if size[1] >= 60 {
				k.waitText("Timeline", "Second line of the note.", "Escalated")
			}
			k.press(tcell.KeyPgDn, tcell.KeyPgDn)
			s = k.waitText("Second line of the note.", "Over a month old.")
			t.Logf("case, scrolled, at %dx%d:\n%s", size[0], size[1], s)
		})
	}
}
