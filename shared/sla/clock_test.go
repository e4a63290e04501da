package sla_test

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
)

// nineToFive is Monday to Friday 09:00-17:00 in Paris: eight hours a day,
// so the arithmetic in the tables can be checked by hand.
func nineToFive(tb testing.TB) *sla.Calendar {
	return MustCalendar(tb, "paris-9-17", "Europe/Paris", weekdays("09:00-17:00"))
}

func TestDeadlines(t *testing.T) {
	paris := MustLocation(t, "Europe/Paris")
	cal := nineToFive(t)
	policy := sla.Policy{Acknowledge: 4 * time.Hour, Respond: 16 * time.Hour}
	at := func(s string) time.Time { return At(t, paris, s) }
	monday := at("2026-03-23 10:00")
	late := at("2026-04-30 00:00") // every pause below has ended by then

	tests := []struct {
		name        string
		filed       time.Time
		pauses      []sla.Interval
		now         time.Time
		wantAck     time.Time
		wantRespond time.Time
	}{
		{"no pause", monday, nil, late, at("2026-03-23 14:00"), at("2026-03-25 10:00")},
		{"one pause of two open hours", monday,
			[]sla.Interval{{at("2026-03-23 11:00"), at("2026-03-23 13:00")}}, late,
			at("2026-03-23 16:00"), at("2026-03-25 12:00")},
		// The second pause starts after the acknowledge deadline: it moves
		// only the respond deadline.
		{"two pauses", monday,
			[]sla.Interval{{at("2026-03-23 11:00"), at("2026-03-23 13:00")}, {at("2026-03-24 09:00"), at("2026-03-24 10:30")}}, late,
			at("2026-03-23 16:00"), at("2026-03-25 13:30")},
		{"two pauses given out of order", monday,
			[]sla.Interval{{at("2026-03-24 09:00"), at("2026-03-24 10:30")}, {at("2026-03-23 11:00"), at("2026-03-23 13:00")}}, late,
			at("2026-03-23 16:00"), at("2026-03-25 13:30")},
		{"overlapping pauses count once", monday,
			[]sla.Interval{{at("2026-03-23 11:00"), at("2026-03-23 12:30")}, {at("2026-03-23 12:00"), at("2026-03-23 13:00")}}, late,
			at("2026-03-23 16:00"), at("2026-03-25 12:00")},
		{"a pause over the weekend moves nothing", at("2026-03-27 16:00"),
			[]sla.Interval{{at("2026-03-27 17:30"), at("2026-03-30 08:00")}}, late,
			at("2026-03-30 12:00"), at("2026-03-31 16:00")},
		{"a pause from friday noon to monday noon moves by eight hours", at("2026-03-27 10:00"),
			[]sla.Interval{{at("2026-03-27 12:00"), at("2026-03-30 12:00")}}, late,
			at("2026-03-30 14:00"), at("2026-04-01 10:00")},
		{"a pause before filing is ignored", monday,
			[]sla.Interval{{at("2026-03-20 09:00"), at("2026-03-23 11:00")}}, late,
			at("2026-03-23 15:00"), at("2026-03-25 11:00")},
		// An open pause is taken to end now: Monday 10-11 ran, three hours
		// are left from Tuesday noon.
		{"an open pause ends now", monday,
			[]sla.Interval{{Start: at("2026-03-23 11:00")}}, at("2026-03-24 12:00"),
			at("2026-03-24 15:00"), at("2026-03-26 11:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack, respond, err := sla.Deadlines(policy, cal, tt.filed, tt.pauses, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !ack.Equal(tt.wantAck) {
				t.Errorf("acknowledge by: got %s, want %s", ack.In(paris), tt.wantAck)
			}
			if !respond.Equal(tt.wantRespond) {
				t.Errorf("respond by: got %s, want %s", respond.In(paris), tt.wantRespond)
			}
		})
	}
}

// TestDeadlinesPauseProperty: however a closed pause falls, the deadline
// moves later by exactly the business time the pause covered before the
// deadline, which is at most the pause's business time.
func TestDeadlinesPauseProperty(t *testing.T) {
	cal := parisOffice(t)
	rng := rand.New(rand.NewPCG(9, 4))
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for range 300 {
		filed := base.Add(time.Duration(rng.IntN(60*24*60)) * time.Minute)
		goal := time.Duration(1+rng.IntN(40*60)) * time.Minute
		start := filed.Add(time.Duration(rng.IntN(10*24*60)) * time.Minute)
		end := start.Add(time.Duration(rng.IntN(5*24*60)) * time.Minute)
		p := sla.Policy{Acknowledge: goal, Respond: goal}
		plain, _, err1 := sla.Deadlines(p, cal, filed, nil, end)
		paused, _, err2 := sla.Deadlines(p, cal, filed, []sla.Interval{{start, end}}, end)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if got, want := cal.BusinessBetween(plain, paused), cal.BusinessBetween(start, earliest(end, paused)); !start.Before(plain) && got != 0 || start.Before(plain) && got != want {
			t.Fatalf("filed %s, goal %s, pause [%s, %s): deadline moved %s from %s to %s, want %s", filed, goal, start, end, got, plain, paused, want)
		}
		if paused.Before(plain) {
			t.Fatalf("a pause made the deadline earlier: %s before %s", paused, plain)
		}
	}
}

func TestStatus(t *testing.T) {
	paris := MustLocation(t, "Europe/Paris")
	at := func(s string) time.Time { return At(t, paris, s) }
	clock := sla.Clock{
		Policy:         sla.Policy{Acknowledge: 4 * time.Hour, Respond: 16 * time.Hour},
		Calendar:       nineToFive(t),
		FiledAt:        at("2026-03-23 10:00"),
		AcknowledgedAt: at("2026-03-23 11:00"),
		RespondedAt:    at("2026-03-26 10:00"), // a day late
	}
	ackBy, respondBy := at("2026-03-23 14:00"), at("2026-03-25 10:00")
	ackMet := sla.TargetStatus{Target: sla.Acknowledge, Condition: sla.Met, Goal: 4 * time.Hour, Deadline: ackBy, MetAt: clock.AcknowledgedAt, OnTime: true}
	respond := func(c sla.Condition) sla.TargetStatus {
		return sla.TargetStatus{Target: sla.Respond, Condition: c, Goal: 16 * time.Hour, Deadline: respondBy}
	}

	tests := []struct {
		name string
		now  time.Time
		want sla.Status
	}{
		{"just filed", at("2026-03-23 10:30"), sla.Status{
			Acknowledge: sla.TargetStatus{Target: sla.Acknowledge, Condition: sla.Due, Goal: 4 * time.Hour, Deadline: ackBy, Left: 3*time.Hour + 30*time.Minute},
			Respond:     with(respond(sla.Due), func(s *sla.TargetStatus) { s.Left = 15*time.Hour + 30*time.Minute }),
		}},
		{"acknowledged on time", at("2026-03-23 12:00"), sla.Status{
			Acknowledge: ackMet,
			Respond:     with(respond(sla.Due), func(s *sla.TargetStatus) { s.Left = 14 * time.Hour }),
		}},
		{"overnight the clock stands still", at("2026-03-24 08:00"), sla.Status{
			Acknowledge: ackMet,
			Respond:     with(respond(sla.Due), func(s *sla.TargetStatus) { s.Left = 9 * time.Hour }),
		}},
		{"half an hour left", at("2026-03-25 09:30"), sla.Status{
			Acknowledge: ackMet,
			Respond:     with(respond(sla.Due), func(s *sla.TargetStatus) { s.Left = 30 * time.Minute }),
		}},
		{"at the deadline it is still due", respondBy, sla.Status{
			Acknowledge: ackMet,
			Respond:     respond(sla.Due),
		}},
		{"breached", at("2026-03-25 11:00"), sla.Status{
			Acknowledge: ackMet,
			Respond:     with(respond(sla.Breached), func(s *sla.TargetStatus) { s.Overdue = time.Hour }),
		}},
		{"met late", at("2026-03-27 10:00"), sla.Status{
			Acknowledge: ackMet,
			Respond: with(respond(sla.Met), func(s *sla.TargetStatus) {
				s.MetAt, s.OnTime, s.Overdue = clock.RespondedAt, false, 8*time.Hour
			}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clock.Status(tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Status(%s):\n got %+v\nwant %+v", tt.now, got, tt.want)
			}
		})
	}
}

func with(s sla.TargetStatus, change func(*sla.TargetStatus)) sla.TargetStatus {
	change(&s)
	return s
}

func TestStatusPaused(t *testing.T) {
	paris := MustLocation(t, "Europe/Paris")
	at := func(s string) time.Time { return At(t, paris, s) }
	clock := sla.Clock{
		Policy:         sla.Policy{Acknowledge: 4 * time.Hour, Respond: 16 * time.Hour},
		Calendar:       nineToFive(t),
		FiledAt:        at("2026-03-23 10:00"),
		AcknowledgedAt: at("2026-03-23 10:30"),
		Pauses:         []sla.Interval{{Start: at("2026-03-23 11:00")}}, // still waiting
	}
	for _, now := range []time.Time{at("2026-03-23 15:00"), at("2026-03-27 15:00")} {
		got, err := clock.Status(now)
		if err != nil {
			t.Fatal(err)
		}
		// One hour ran before the pause, whatever the time now.
		if got, want := got.Respond.Left, 15*time.Hour; got != want {
			t.Errorf("now %s: respond time left: got %s, want %s", now, got, want)
		}
		if got, want := got.Respond.Condition, sla.Due; got != want {
			t.Errorf("now %s: respond condition: got %s, want %s", now, got, want)
		}
		if got, want := got.Respond.Paused, true; got != want {
			t.Errorf("now %s: respond paused: got %v, want %v", now, got, want)
		}
		// The acknowledge target was met before the pause: it neither pauses
		// nor moves.
		if got, want := got.Acknowledge.Deadline, at("2026-03-23 14:00"); !got.Equal(want) || got.IsZero() {
			t.Errorf("now %s: acknowledge deadline: got %s, want %s", now, got, want)
		}
		if got.Acknowledge.Paused {
			t.Errorf("now %s: a met target reads as paused", now)
		}
	}
}

// caseEvents builds events for one complaint at the given minutes after
// Monday 2026-03-23 10:00 Paris (09:00 UTC).
type caseEvents struct {
	tb     testing.TB
	filed  time.Time
	events []event.Event
}

func newCase(tb testing.TB, branch, category string) *caseEvents {
	tb.Helper()
	filed := time.Date(2026, 3, 23, 9, 0, 0, 0, time.UTC)
	c := complaint.Complaint{ID: "c1", Code: "CODE", Branch: branch, Category: category, Description: "x", Language: "fr", FiledAt: filed}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "kiosk"}, hlc.Make(filed.UnixMilli(), 0))
	if err != nil {
		tb.Fatal(err)
	}
	return &caseEvents{tb: tb, filed: filed, events: []event.Event{e}}
}

func (c *caseEvents) add(id string, minutes int, typ event.Type, data any) *caseEvents {
	c.tb.Helper()
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			c.tb.Fatal(err)
		}
		raw = b
	}
	at := c.filed.Add(time.Duration(minutes) * time.Minute)
	c.events = append(c.events, event.Event{
		ID: id, ComplaintID: "c1", Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: "s1"},
		At: hlc.Make(at.UnixMilli(), 0), Branch: "b", Data: raw,
	})
	return c
}

func (c *caseEvents) minutes(m int) time.Time { return c.filed.Add(time.Duration(m) * time.Minute) }

func TestPausesFromEvents(t *testing.T) {
	assessed := event.Assessment{Severity: event.SeverityMedium, Priority: 2}
	q := event.Text{Text: "which card?"}
	c := newCase(t, "b", "billing").
		add("e02", 10, event.Acknowledged, nil).
		add("e03", 20, event.Assessed, assessed).
		add("e04", 30, event.InfoRequested, q).
		add("e05", 40, event.InfoRequested, q). // a reminder: the pause began at the first request
		add("e06", 90, event.InfoProvided, q).
		add("e07", 100, event.InfoProvided, q). // unasked information pauses nothing
		add("e08", 200, event.InfoRequested, q).
		add("e09", 300, event.Responded, q).    // a response ends the wait
		add("e10", 310, event.InfoRequested, q) // refused by the lifecycle: pauses nothing
	want := []sla.Interval{{c.minutes(30), c.minutes(90)}, {c.minutes(200), c.minutes(300)}}

	shuffled := append([]event.Event(nil), c.events...)
	shuffled = append(shuffled, c.events[3], c.events[7]) // resent duplicates
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	for name, events := range map[string][]event.Event{"in order": c.events, "shuffled with duplicates": shuffled} {
		t.Run(name, func(t *testing.T) {
			if got := sla.PausesFromEvents(events); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}

	t.Run("still waiting", func(t *testing.T) {
		c := newCase(t, "b", "billing").
			add("e02", 10, event.Acknowledged, nil).
			add("e03", 20, event.InfoRequested, q)
		got := sla.PausesFromEvents(c.events)
		if want := []sla.Interval{{Start: c.minutes(20)}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("closed ends a wait", func(t *testing.T) {
		// The lifecycle lets a case close only after a response, which ends
		// the wait itself; a second request cannot follow a response either.
		// So closing is covered by the lifecycle: here, a closed case has no
		// open pause.
		c := newCase(t, "b", "billing").
			add("e02", 10, event.Acknowledged, nil).
			add("e03", 20, event.Assessed, assessed).
			add("e04", 30, event.InfoRequested, q).
			add("e05", 40, event.Responded, q).
			add("e06", 50, event.Closed, nil)
		got := sla.PausesFromEvents(c.events)
		if want := []sla.Interval{{c.minutes(30), c.minutes(40)}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// TestConfigClock runs a case from its events through the example
// configuration, the way the escalation clock will.
func TestConfigClock(t *testing.T) {
	cfg, err := sla.Load("testdata/sla.example.json")
	if err != nil {
		t.Fatal(err)
	}
	paris := MustLocation(t, "Europe/Paris")
	at := func(s string) time.Time { return At(t, paris, s) }
	q := event.Text{Text: "which card?"}
	// Lyon opens 10:00-19:00; billing at priority 1 gets 1h / 8h. Filed
	// Monday 10:00, acknowledged 10:20, assessed 10:30, then waiting on the
	// customer from 11:00 to 13:00.
	c := newCase(t, "lyon-part-dieu", "Billing").
		add("e02", 20, event.Acknowledged, nil).
		add("e03", 30, event.Assessed, event.Assessment{Severity: event.SeverityHigh, Priority: 1}).
		add("e04", 60, event.InfoRequested, q).
		add("e05", 180, event.InfoProvided, q)
	cs, err := lifecycle.Fold(c.events)
	if err != nil {
		t.Fatal(err)
	}
	clock, err := cfg.Clock(cs, c.events)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := clock.Calendar.Name(), "lyon-part-dieu"; got != want {
		t.Errorf("calendar: got %q, want %q", got, want)
	}
	if got, want := clock.Policy, (sla.Policy{Category: "billing", Priority: 1, Acknowledge: time.Hour, Respond: 8 * time.Hour}); got != want {
		t.Errorf("policy: got %+v, want %+v", got, want)
	}
	s, err := clock.Status(at("2026-03-23 15:00"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Acknowledge.Condition, sla.Met; got != want {
		t.Errorf("acknowledge: got %s, want %s", got, want)
	}
	// 10:00-11:00 ran, 11:00-13:00 was paused, 13:00-15:00 ran: 5h left.
	// Of the 8h, 1h ran before the pause and the other 7h run 13:00-19:00
	// and Tuesday 10:00-11:00.
	if got, want := s.Respond.Left, 5*time.Hour; got != want {
		t.Errorf("respond left: got %s, want %s", got, want)
	}
	if got, want := s.Respond.Deadline, at("2026-03-24 11:00"); !got.Equal(want) {
		t.Errorf("respond by: got %s, want %s", got.In(paris), want)
	}

	// A branch with no calendar of its own uses the default one; a safety
	// case uses the calendar its policy names.
	for _, tt := range []struct{ branch, category, want string }{
		{"unknown-branch", "other", "default"},
		{"new-york", "other", "new-york"},
		{"new-york", "safety", "round-the-clock"},
	} {
		p := cfg.Policy(tt.category, 0)
		if got := cfg.CalendarFor(p, tt.branch).Name(); got != tt.want {
			t.Errorf("CalendarFor(%q, %q): got %q, want %q", tt.category, tt.branch, got, tt.want)
		}
	}
}

func TestPolicyFallbacks(t *testing.T) {
	cfg, err := sla.Load("testdata/sla.example.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		category string
		priority int
		wantAck  time.Duration
	}{
		{"billing", 1, time.Hour},       // category and priority
		{" BILLING ", 1, time.Hour},     // categories compare case-insensitively, trimmed
		{"bill", 1, 2 * time.Hour},      // but whole: no prefix matching
		{"billing", 3, 8 * time.Hour},   // category at any priority
		{"billing", 2, 8 * time.Hour},   // category at any priority beats any category at 2
		{"billing", 0, 8 * time.Hour},   // not yet assessed
		{"safety", 1, 30 * time.Minute}, // category at any priority beats any category at 1
		{"parking", 1, 2 * time.Hour},   // any category at that priority
		{"parking", 2, 4 * time.Hour},   // any category at that priority
		{"parking", 3, 8 * time.Hour},   // default
		{"parking", 0, 8 * time.Hour},   // default
		{"", 0, 8 * time.Hour},          // default
	}
	for _, tt := range tests {
		if got := cfg.Policy(tt.category, tt.priority).Acknowledge; got != tt.wantAck {
			t.Errorf("Policy(%q, %d).Acknowledge: got %s, want %s", tt.category, tt.priority, got, tt.wantAck)
		}
	}
}

// Next is what the staff queue sorts by: the first unmet target, nothing
// while paused or once answered.
func TestConfigNext(t *testing.T) {
	cfg, err := sla.Parse([]byte(`{"calendars": {"default": {"time_zone": "UTC", "hours": {
	  "mon": ["00:00-24:00"], "tue": ["00:00-24:00"], "wed": ["00:00-24:00"], "thu": ["00:00-24:00"],
	  "fri": ["00:00-24:00"], "sat": ["00:00-24:00"], "sun": ["00:00-24:00"]}}},
	  "policies": [{"acknowledge": "2h", "respond": "24h"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := newCase(t, "b", "billing")
	next := func(now time.Time) (sla.Step, time.Time) {
		t.Helper()
		cs, err := lifecycle.Fold(c.events)
		if err != nil {
			t.Fatal(err)
		}
		step, due, err := cfg.Next(&cs, c.events, now)
		if err != nil {
			t.Fatal(err)
		}
		return step, due
	}
	if step, due := next(c.minutes(10)); step != sla.StepAcknowledge || !due.Equal(c.minutes(120)) {
		t.Fatalf("filed: %s %v", step, due)
	}
	c.add("e1", 30, event.Acknowledged, nil)
	if step, due := next(c.minutes(40)); step != sla.StepRespond || !due.Equal(c.minutes(24*60)) {
		t.Fatalf("acknowledged: %s %v", step, due)
	}
	c.add("e2", 50, event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	c.add("e3", 60, event.InfoRequested, event.Text{Text: "which card?"})
	if step, due := next(c.minutes(70)); step != sla.StepNone || !due.IsZero() {
		t.Fatalf("waiting on the customer: %s %v", step, due)
	}
	c.add("e4", 120, event.Responded, event.Text{Text: "refunded"})
	if step, due := next(c.minutes(130)); step != sla.StepClose || !due.Equal(c.minutes(120).Add(lifecycle.DefaultAcceptWithin)) {
		t.Fatalf("responded: %s %v, want the close when the customer's time to answer ends", step, due)
	}
}
