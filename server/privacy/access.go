package privacy

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// Export is everything held about a person (subject access): their cases,
// what they wrote and were told, the dates, and who handled each step by
// role only (no staff names or ids).
type Export struct {
	Subject     string       `json:"subject"` // how they were found: "code ...", "email ...", "phone ..."
	GeneratedAt time.Time    `json:"generated_at"`
	Retention   string       `json:"retention"` // the policy in force, in plain words
	Cases       []ExportCase `json:"cases"`
}

// ExportCase is one complaint.
type ExportCase struct {
	Code           string             `json:"code"`
	Branch         string             `json:"branch"`
	Category       string             `json:"category"`
	Channel        string             `json:"channel"`
	Language       string             `json:"language"`
	State          string             `json:"state"`
	FiledAt        time.Time          `json:"filed_at"`
	Description    string             `json:"description,omitempty"`
	DesiredOutcome string             `json:"desired_outcome,omitempty"`
	Contact        *complaint.Contact `json:"contact,omitempty"`
	// Redacted says why the words and contact are no longer held.
	Redacted string        `json:"redacted,omitempty"`
	Events   []ExportEvent `json:"events"`
}

// ExportEvent is one step of a case.
type ExportEvent struct {
	At    time.Time `json:"at"`
	Type  string    `json:"type"`
	By    string    `json:"by"` // you, agent, supervisor, staff, kiosk, system
	Text  string    `json:"text,omitempty"`
	Stars int       `json:"stars,omitempty"`
}

// SubjectAccess gathers everything held about the subject, for supervisor
// by, and records it in the privacy log.
func (s *Service) SubjectAccess(ctx context.Context, by, kind, value string) (Export, error) {
	x := Export{Subject: kind + " " + value, GeneratedAt: s.cfg.Now().UTC(), Retention: s.cfg.Policy.String()}
	if _, err := s.supervisor(ctx, by); err != nil {
		return x, err
	}
	ids, err := s.Find(ctx, kind, value)
	if err != nil {
		return x, err
	}
	roles := map[string]string{}
	for _, id := range ids {
		stored, err := s.cfg.Store.ComplaintEvents(ctx, id)
		if err != nil {
			return x, err
		}
		evs := make([]event.Event, len(stored))
		for i := range stored {
			evs[i] = stored[i].Event
		}
		c, err := lifecycle.Fold(evs)
		if err != nil {
			return x, fmt.Errorf("complaint %s: %w", id, err)
		}
		cp := c.Complaint
		xc := ExportCase{Code: c.Code, Branch: c.Branch, Category: c.Category, Channel: string(cp.Channel), Language: cp.Language,
			State: string(c.State), FiledAt: cp.FiledAt, Description: cp.Description, DesiredOutcome: cp.DesiredOutcome, Contact: cp.Contact}
		if c.Redaction != nil {
			xc.Redacted = c.Redaction.Reason + ": " + c.Redaction.Policy
		}
		for _, e := range evs {
			xe := ExportEvent{At: e.At.Time().UTC(), Type: string(e.Type), By: s.roleOf(ctx, e.Actor, roles)}
			var p struct {
				Text    string `json:"text"`
				Comment string `json:"comment"`
				Stars   int    `json:"stars"`
			}
			if e.Type != event.Filed && len(e.Data) > 0 && json.Unmarshal(e.Data, &p) == nil {
				xe.Text, xe.Stars = p.Text, p.Stars
				if p.Comment != "" {
					xe.Text = p.Comment
				}
			}
			xc.Events = append(xc.Events, xe)
		}
		x.Cases = append(x.Cases, xc)
	}
	subject := SubjectKey(kind, value)
	s.audit(ctx, by, "subject-access", subject, fmt.Sprintf("%d complaint(s) exported", len(ids)))
	return x, nil
}

// roleOf names who acted by role only.
func (s *Service) roleOf(ctx context.Context, a event.Actor, cache map[string]string) string {
	switch a.Kind {
	case event.ActorCustomer:
		return "you"
	case event.ActorDevice:
		return "kiosk"
	case event.ActorSystem:
		return "system"
	case event.ActorStaff:
		if r, ok := cache[a.ID]; ok {
			return r
		}
		r := "staff"
		if acc, err := s.cfg.Store.StaffAccount(ctx, a.ID); err == nil && acc.Role != "" {
			r = string(acc.Role)
		}
		cache[a.ID] = r
		return r
	}
	return "staff"
}

//go:embed access.html
var accessFS embed.FS

var accessPage = template.Must(template.New("access.html").Funcs(template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2 January 2006 15:04 UTC") },
}).ParseFS(accessFS, "access.html"))

// WriteHTML writes the export as a readable page. Every value is escaped
// (html/template): customers' words are untrusted.
func (x Export) WriteHTML(w io.Writer) error { return accessPage.Execute(w, x) }
