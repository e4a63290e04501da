// Package filing turns what a customer typed at the kiosk into a durable
// complaint: it assigns the id and tracking code, validates, and commits the
// complaint, its "filed" event and its outbox entry in one transaction before
// anything is shown or printed (ARCHITECTURE.md, Sync guarantee 1; the
// commit is the Store's, kiosk/store's in the program). At the
// staff terminal, staff file the same way on a customer's behalf
// (Draft.Staff).
package filing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

// Store is where filing commits; *store.Store (kiosk/store) is the real
// one.
type Store interface {
	// Identity is this device: its id (the actor of the events it makes)
	// and the prefix of the tracking codes it issues.
	Identity(ctx context.Context) (store.Identity, error)
	// File commits c, its Filed event e and e's outbox entry in one
	// durable transaction, or nothing: store.ErrCodeTaken when another
	// complaint holds c's tracking code.
	File(ctx context.Context, c complaint.Complaint, e event.Event) error
}

// Draft is what the customer entered, not yet validated or stored.
type Draft struct {
	Category       string
	Description    string
	DesiredOutcome string
	// Contact is nil unless the customer gave details AND agreed to the
	// privacy notice; ConsentAt and NoticeVersion must then be set.
	Contact  *complaint.Contact
	Language string
	// Staff is the id of the signed-in staff member filing on the
	// customer's behalf at the staff terminal; "" when the customer files
	// at the kiosk. It makes the complaint's channel complaint.ChannelStaff
	// and the Filed event's actor that staff member instead of the device.
	Staff string
}

// Filed is a complaint that is durably stored: safe to show and print.
type Filed struct {
	Complaint     complaint.Complaint
	Code          trackcode.Code
	URL           string    // <public base URL>/t/<code>, what the QR encodes
	AcknowledgeBy time.Time // promised dates, in the branch's local time
	RespondBy     time.Time
}

// ErrUnavailable wraps every storage failure (locked, read-only, disk full):
// the complaint was NOT stored, the customer should be told so and asked to
// try again, and the draft must be kept. It is store.ErrUnavailable, so one
// test covers filings and the staff terminal's actions alike.
var ErrUnavailable = store.ErrUnavailable

// codeAttempts bounds the redraws after a tracking code collision. With 40
// random bits a second collision in a row means something else is wrong.
const codeAttempts = 5

// Attribute keys of the service's log records. Never add customer text,
// contact details or a tracking code (enough to act on a case on its
// public page): logs leave the branch. A complaint is named by its id.
const (
	logKeyComponent = "component"
	logKeyComplaint = "complaint"
	logKeyAttempt   = "attempt"
	logKeyTransient = "transient"
	logKeyErr       = "err"
)

// Config is the branch's filing policy.
type Config struct {
	Branch    string // branch id/name stamped on complaints
	PublicURL string // base of the tracking URL, e.g. https://track.example.org
	// SLA returns the rules in force (kiosk/slarules: the server's, as
	// last received): the receipt's dates are sla.Config.Promise, the
	// dates the server's engine computes for the same filing. Nil is
	// sla.Fallback(2, 15, time.Local).
	SLA    func() *sla.Config
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger
}

// Service files complaints at one kiosk. It is safe for concurrent use.
type Service struct {
	st      Store
	clock   *hlc.Clock
	cfg     Config
	baseURL string
	device  store.Identity
	log     *slog.Logger
	// newCode draws a tracking code; a field so tests can force a collision.
	newCode func(prefix string) (trackcode.Code, error)
}

// New makes a Service. It reads the device identity once: a prefix assigned
// later by enrolment (store.SetPrefix) takes effect with the next Service.
func New(st Store, clock *hlc.Clock, cfg Config) (*Service, error) {
	if st == nil || clock == nil {
		return nil, errors.New("filing: store and clock are required")
	}
	cfg.Branch = strings.TrimSpace(cfg.Branch)
	if cfg.Branch == "" {
		return nil, errors.New("filing: branch is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("filing: public URL %q: want http(s)://host[/path]", cfg.PublicURL)
	}
	if cfg.SLA == nil {
		fallback, err := sla.Fallback(2, 15, time.Local)
		if err != nil {
			return nil, fmt.Errorf("filing: %w", err)
		}
		cfg.SLA = func() *sla.Config { return fallback }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	id, err := st.Identity(context.Background())
	if err != nil {
		return nil, fmt.Errorf("filing: %w", err)
	}
	if !trackcode.ValidPrefix(id.Prefix) {
		return nil, fmt.Errorf("filing: device prefix %q is not valid", id.Prefix)
	}
	return &Service{
		st: st, clock: clock, cfg: cfg, device: id,
		baseURL: strings.TrimRight(cfg.PublicURL, "/"),
		log:     cfg.Logger.With(logKeyComponent, "filing"),
		newCode: trackcode.Generate,
	}, nil
}

// File validates the draft and stores it durably. It returns:
//   - a *complaint.FieldError when the draft is not acceptable (the kiosk
//     points at the field; nothing was stored);
//   - an error wrapping ErrUnavailable when storage failed (nothing was
//     stored; keep the draft and let the customer try again);
//   - otherwise the Filed complaint, committed with fsync: safe to show.
//
// The draft is not modified.
func (s *Service) File(ctx context.Context, d Draft) (Filed, error) {
	actor := event.Actor{Kind: event.ActorDevice, ID: s.device.DeviceID}
	channel := complaint.ChannelKiosk
	if d.Staff != "" {
		id := staff.NormalizeID(d.Staff)
		if err := staff.ValidateID(id); err != nil {
			return Filed{}, fmt.Errorf("filing on behalf: %w", err)
		}
		actor, channel = event.Actor{Kind: event.ActorStaff, ID: id}, complaint.ChannelStaff
	}
	now := s.cfg.Now()
	c := complaint.Complaint{
		ID:             uid.New(),
		Branch:         s.cfg.Branch,
		Device:         s.device.DeviceID,
		Channel:        channel,
		Category:       d.Category,
		Description:    d.Description,
		DesiredOutcome: d.DesiredOutcome,
		Language:       d.Language,
		// The store keeps milliseconds; truncating here makes the complaint
		// returned, stored and carried in the event identical.
		FiledAt: now.UTC().Truncate(time.Millisecond),
	}
	if d.Contact != nil {
		ct := *d.Contact // Normalize edits in place; the caller keeps its draft
		ct.ConsentAt = ct.ConsentAt.UTC().Truncate(time.Millisecond)
		c.Contact = &ct
	}
	code, err := s.newCode(s.device.Prefix)
	if err != nil {
		return Filed{}, fmt.Errorf("tracking code: %w", err)
	}
	c.Code = string(code)
	c.Normalize()
	if err := c.Validate(); err != nil {
		return Filed{}, err // a *complaint.FieldError, as is
	}

	var filedAt time.Time // the Filed event's clock: what the server times the case from
	for attempt := 1; ; attempt++ {
		e, err := event.NewFiled(c, actor, s.clock.Now())
		if err != nil {
			return Filed{}, fmt.Errorf("filed event: %w", err)
		}
		err = s.st.File(ctx, c, e)
		if err == nil {
			filedAt = e.At.Time()
			break
		}
		if !errors.Is(err, store.ErrCodeTaken) || attempt == codeAttempts {
			// err names ids and SQLite's message, never customer text.
			s.log.Error("complaint not stored", logKeyComplaint, c.ID,
				logKeyTransient, store.Unavailable(err), logKeyErr, err)
			return Filed{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		s.log.Warn("tracking code taken, drawing another", logKeyComplaint, c.ID, logKeyAttempt, attempt)
		if code, err = s.newCode(s.device.Prefix); err != nil {
			return Filed{}, fmt.Errorf("tracking code: %w", err)
		}
		c.Code = string(code)
	}
	f := Filed{Complaint: c, Code: code, URL: s.baseURL + "/t/" + string(code)}
	// Stored already: a date the rules cannot give must not lose the
	// receipt; it is logged and the receipt says nothing about dates.
	rules := s.cfg.SLA()
	ack, respond, err := rules.Promise(c.Branch, c.Category, filedAt)
	if err != nil {
		s.log.Error("no promised dates for the receipt", logKeyComplaint, c.ID, logKeyErr, err)
		return f, nil
	}
	loc := rules.Location(c.Branch)
	f.AcknowledgeBy, f.RespondBy = ack.In(loc), respond.In(loc)
	return f, nil
}
