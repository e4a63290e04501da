// Package privacy carries out what the organisation promises about
// personal data: retention (each closed case is redacted once its period,
// from the policy in shared/retention, has run out), erasure on request
// (recorded by one supervisor, approved by another, then the same
// redaction at once), legal holds (a held case is skipped, with the reason
// shown), subject access (everything held about a person, as JSON and a
// readable page), and the redaction ledger (a file beside the database,
// so a restored older copy can be redacted again).
//
// What a redaction removes is shared/redact's; how the store applies it in
// one transaction is storage.Privacy's. Every step is written to the
// privacy log (storage.PrivacyEntry), which names no contact detail.
package privacy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/retention"
	"ombud/shared/staff"
	"ombud/shared/uid"
)

// Store is what the service needs of storage.
type Store interface {
	storage.Privacy
	ComplaintEvents(ctx context.Context, complaintID string) ([]storage.StoredEvent, error)
	ComplaintByCode(ctx context.Context, code string) (storage.Complaint, error)
	StaffAccount(ctx context.Context, id string) (staff.Account, error)
}

// Config configures a Service. Store is required.
type Config struct {
	Store  Store
	Policy retention.Policy
	// Ledger is the redaction ledger; nil keeps none (tests of other
	// parts).
	Ledger *Ledger
	// Now is the wall clock; tests inject one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service runs retention and erasure.
type Service struct {
	cfg     Config
	log     *slog.Logger
	clock   *hlc.Clock
	unswept atomic.Bool // a redaction's old pages may still be in the files
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Policy.DefaultMonths == 0 {
		cfg.Policy.DefaultMonths = retention.DefaultMonths
	}
	return &Service{cfg: cfg, log: cfg.Logger.With("component", "privacy"), clock: hlc.New(cfg.Now)}
}

// Policy is the retention policy in force.
func (s *Service) Policy() retention.Policy { return s.cfg.Policy }

// Actors of the redacted events.
var (
	actorRetention = event.Actor{Kind: event.ActorSystem, ID: "retention"}
	actorErasure   = event.Actor{Kind: event.ActorSystem, ID: "erasure"}
)

// ErrHeld is returned (wrapped, with the reason) for a case under a legal
// hold.
var ErrHeld = errors.New("under a legal hold")

// Redact redacts one complaint now, for reason (event.RedactRetention or
// event.RedactErasure) under the rule policy, by actor (for the privacy
// log). The ledger line is written first, so a crash before the database
// commit is redone by Reapply, never forgotten. done is false when the
// complaint was redacted already.
func (s *Service) Redact(ctx context.Context, complaintID, reason, policy string, months int, actor string) (done bool, err error) {
	now := s.cfg.Now()
	// A held case is refused before the ledger hears of it: the ledger
	// lists only what must stay redacted.
	holds, err := s.cfg.Store.Holds(ctx)
	if err != nil {
		return false, err
	}
	for _, h := range holds {
		if h.ComplaintID == complaintID {
			return false, fmt.Errorf("%w: %s", ErrHeld, h.Reason)
		}
	}
	if s.cfg.Ledger != nil {
		if err := s.cfg.Ledger.Append(LedgerEntry{ComplaintID: complaintID, Reason: reason, Policy: policy, Months: months, At: now.UTC()}); err != nil {
			return false, err
		}
	}
	done, err = s.redact(ctx, complaintID, reason, policy, months, now)
	switch {
	case storage.ErrorCode(err) == storage.Conflict:
		// A hold set in the meantime.
		return false, fmt.Errorf("%w: %s", ErrHeld, storage.ErrorMessage(err))
	case err != nil:
		return false, err
	}
	if done {
		s.audit(ctx, actor, "redact", complaintID, policy)
		s.unswept.Store(true)
	}
	return done, nil
}

// Sweep asks the store to push what redactions replaced out of its files,
// if a redaction happened since the last sweep that finished.
func (s *Service) Sweep(ctx context.Context) {
	if !s.unswept.Load() {
		return
	}
	done, err := s.cfg.Store.Sweep(ctx)
	if err != nil || !done {
		s.log.Warn("the database files may still hold redacted text until the next sweep", "err", err)
		return
	}
	s.unswept.Store(false)
}

func (s *Service) redact(ctx context.Context, complaintID, reason, policy string, months int, now time.Time) (bool, error) {
	evs, err := s.cfg.Store.ComplaintEvents(ctx, complaintID)
	if err != nil {
		return false, err
	}
	if len(evs) == 0 {
		return false, storage.Errorf(storage.NotFound, "complaint %s is not filed", complaintID)
	}
	var last hlc.Timestamp
	for _, e := range evs {
		last = max(last, e.Event.At)
	}
	// After every event of the case, so every fold applies it last.
	s.clock.Observe(last)
	at := s.clock.Now()
	data, err := json.Marshal(event.Redaction{Reason: reason, Policy: policy, Months: months})
	if err != nil {
		return false, err
	}
	actor := actorRetention
	if reason == event.RedactErasure {
		actor = actorErasure
	}
	marker := event.Event{ID: uid.NewAt(at.Time()), ComplaintID: complaintID, Type: event.Redacted, Actor: actor,
		At: at, Branch: evs[0].Event.Branch, Data: data}
	return s.cfg.Store.Redact(ctx, complaintID, marker, now)
}

// audit writes one line of the privacy log; a failure is logged, not
// returned: the act it records is done.
func (s *Service) audit(ctx context.Context, actor, action, subject, detail string) {
	if err := s.cfg.Store.LogPrivacy(ctx, storage.PrivacyEntry{At: s.cfg.Now().UTC(), Actor: actor, Action: action, Subject: subject, Detail: detail}); err != nil {
		s.log.Error("privacy log not written", "action", action, "subject", subject, "err", err)
	}
}

// RetentionTick redacts every closed case whose retention period has run
// out at now and returns how many it redacted. Held cases are not listed
// (their hold is shown by `server hold list`); a case that fails is logged
// and retried at the next tick.
func (s *Service) RetentionTick(ctx context.Context, now time.Time) (int, error) {
	p := s.cfg.Policy
	before := now.AddDate(0, -p.Shortest(), 0)
	var (
		after string
		n     int
		errs  []error
	)
	for {
		page, err := s.cfg.Store.ClosedCases(ctx, before, after, 200)
		if err != nil {
			return n, errors.Join(append(errs, err)...)
		}
		if len(page) == 0 {
			s.Sweep(ctx)
			return n, errors.Join(errs...)
		}
		after = page[len(page)-1].ComplaintID
		for _, c := range page {
			if p.Due(c.ClosedAt, c.Category).After(now) {
				continue
			}
			done, err := s.Redact(ctx, c.ComplaintID, event.RedactRetention, p.Name(c.Category), p.Months(c.Category), "system/retention")
			if err != nil {
				errs = append(errs, fmt.Errorf("retention of %s: %w", c.ComplaintID, err))
				continue
			}
			if done {
				n++
			}
		}
	}
}

// Run calls RetentionTick every interval until ctx ends (and once at
// start: a server that was down should not wait).
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := s.RetentionTick(ctx, s.cfg.Now())
		if err != nil && ctx.Err() == nil {
			s.log.Error("retention: some cases were not redacted; retrying at the next tick", "err", err)
		}
		if n > 0 {
			s.log.Info("retention: personal data of closed cases redacted", "count", n, "policy", s.cfg.Policy.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
