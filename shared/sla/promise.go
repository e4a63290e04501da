package sla

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Step is what a case waits for next.
type Step string

const (
	StepNone        Step = ""            // nothing is due: answered, closed, or waiting on the customer
	StepAcknowledge Step = "acknowledge" // staff confirm they handle it (8.4)
	StepRespond     Step = "respond"     // the decision (8.7, 8.8), first or after a reopen
	// StepClose: the decision is given; the case closes on its own at the
	// date unless the customer answers first (8.9).
	StepClose Step = "close"
)

// Fallback is the configuration of a server started without an SLA file,
// and of a device that has not yet received the server's: every branch
// open Monday to Friday in loc, with ackDays and respondDays of
// those days to acknowledge and to answer. A business day is 09:00-17:00,
// so a deadline never falls on midnight, where its date would be ambiguous. It is an ordinary Config, so
// the receipt, the tracking page and the staff screens still compute
// their dates in one way.
func Fallback(ackDays, respondDays int, loc *time.Location) (*Config, error) {
	if loc == nil {
		loc = time.Local
	}
	if ackDays < 1 || respondDays < ackDays {
		return nil, fmt.Errorf("sla: fallback needs 1 or more days to acknowledge and at least as many to answer, not %d and %d", ackDays, respondDays)
	}
	day := []string{"09:00-17:00"}
	zone := loc.String()
	if zone == "Local" {
		// The name "Local" means a different zone on each machine: the
		// file a device receives must name the server's.
		zone = localZoneName()
	}
	file := map[string]any{
		"calendars": map[string]any{DefaultCalendar: map[string]any{
			"time_zone": zone,
			"hours":     map[string][]string{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day},
		}},
		"policies": []map[string]string{{
			"acknowledge": (time.Duration(ackDays) * 8 * time.Hour).String(),
			"respond":     (time.Duration(respondDays) * 8 * time.Hour).String(),
		}},
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Promise is what a receipt promises for a complaint filed now at branch
// in category: the acknowledge-by and answer-by instants before anyone has
// assessed it (priority 0), with no pauses. The server's clock gives the
// same instants for the same filing time until the case is re-assessed or
// waits on the customer.
func (c *Config) Promise(branch, category string, filedAt time.Time) (acknowledgeBy, respondBy time.Time, err error) {
	p := c.Policy(category, 0)
	k := Clock{Policy: p, Calendar: c.CalendarFor(p, branch), FiledAt: filedAt}
	return k.Deadlines(filedAt)
}

// Location is the time zone dates are shown in for a branch: its
// calendar's, else the default calendar's.
func (c *Config) Location(branch string) *time.Location {
	if cal, ok := c.calendars[branch]; ok {
		return cal.Location()
	}
	return c.calendars[DefaultCalendar].Location()
}

// Next is the case's next step and when it is due under the SLA config at
// now, the one rule the server's case engine, the tracking page and the
// staff terminals use: the first target not yet met (after a reopen, the
// new answer), and no date while the clock is paused (it would move every
// minute) or once the case is closed. An answered case's next step is
// its closing, at the decision's AnswerBy, unless the customer answers.
func (c *Config) Next(cs *lifecycle.Case, events []event.Event, now time.Time) (Step, time.Time, error) {
	if !cs.State.Open() {
		return StepNone, time.Time{}, nil
	}
	if cs.State == lifecycle.Responded && !cs.AnswerBy.IsZero() {
		return StepClose, cs.AnswerBy, nil
	}
	k, err := c.Clock(*cs, events)
	if err != nil {
		return StepNone, time.Time{}, err
	}
	st, err := k.Status(now)
	if err != nil {
		return StepNone, time.Time{}, err
	}
	for _, ts := range st.Targets() {
		if ts.Condition == Met {
			continue
		}
		if ts.Paused {
			return StepNone, time.Time{}, nil
		}
		if ts.Target == Acknowledge {
			return StepAcknowledge, ts.Deadline, nil
		}
		return StepRespond, ts.Deadline, nil
	}
	return StepNone, time.Time{}, nil
}

// localZoneName is the IANA name of this machine's zone: $TZ, else the
// target of /etc/localtime, else UTC when neither names one.
func localZoneName() string {
	if tz := os.Getenv("TZ"); tz != "" {
		if _, err := time.LoadLocation(tz); err == nil {
			return tz
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			name := target[i+len("zoneinfo/"):]
			if _, err := time.LoadLocation(name); err == nil {
				return name
			}
		}
	}
	return "UTC"
}
