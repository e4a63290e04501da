package signin

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"ombud/kiosk/store"
)

// Bounded offline sign-in. The server refuses the actions of a person
// signed in offline once they were recorded longer ago than its bound
// (its --max-offline), which it states with every staff directory
// answer. The terminal keeps when it last heard from the server and that
// bound (server_contact), and signs nobody in offline past it: a terminal
// taken away from the branch cannot be used to record work for ever with
// the PIN hashes it holds.

// DefaultMaxOffline is the bound when the server states none (a server
// from before it did): the server's own default.
const DefaultMaxOffline = 72 * time.Hour

// Contact is the terminal's last successful contact with the server and
// the bound on offline sign-in the server stated then.
type Contact struct {
	At         time.Time     // zero: never
	MaxOffline time.Duration // DefaultMaxOffline when zero
}

// ErrNeverReached refuses offline sign-in at a terminal that has never
// heard from the server: it holds no directory anyone could sign in with.
var ErrNeverReached = errors.New("this terminal has not reached the server yet: staff cannot sign in until it does")

// OutOfReachError refuses offline sign-in when the terminal's last
// contact with the server is older than the server's bound.
type OutOfReachError struct {
	Since time.Time // the last contact
	Now   time.Time
}

func (e *OutOfReachError) Error() string {
	return fmt.Sprintf("this terminal has not reached the server for %s: staff cannot sign in until it does",
		Span(e.Now.Sub(e.Since)))
}

// OfflineAllowed is the rule: whether a person may sign in against the
// stored directory at now, after contact c. A clock set back before the
// contact is not held against the terminal (the server judges the
// actions by its own clock anyway).
func OfflineAllowed(c Contact, now time.Time) error {
	if c.At.IsZero() {
		return ErrNeverReached
	}
	bound := c.MaxOffline
	if bound <= 0 {
		bound = DefaultMaxOffline
	}
	if now.Sub(c.At) > bound {
		return &OutOfReachError{Since: c.At, Now: now}
	}
	return nil
}

// Span says how long d is in the largest whole unit a person reads at a
// glance: "3 days", "1 hour", "20 minutes".
func Span(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 24*time.Hour:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return unit(int64(d/time.Hour), "hour")
	}
	return unit(max(int64(d/time.Minute), 1), "minute")
}

// Reached records that the server answered at at (the directory
// fetcher's 200 or 304), stating maxOffline as its bound on offline
// sign-in; zero or less (a server that stated none) is stored as
// DefaultMaxOffline. Storage faults wrap store.ErrUnavailable.
func (a *Accounts) Reached(ctx context.Context, at time.Time, maxOffline time.Duration) error {
	if maxOffline <= 0 {
		maxOffline = DefaultMaxOffline
	}
	secs := max(int64(maxOffline/time.Second), 1)
	err := a.db.Update(ctx, func(tx store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO server_contact (singleton, at, max_offline) VALUES (1, ?, ?)
			ON CONFLICT (singleton) DO UPDATE SET at = excluded.at, max_offline = excluded.max_offline`,
			at.UnixMilli(), secs)
		return err
	})
	if err != nil {
		return fmt.Errorf("save server contact: %w: %w", store.ErrUnavailable, err)
	}
	return nil
}

// Contact returns the last recorded contact; the zero Contact when there
// was none.
func (a *Accounts) Contact(ctx context.Context) (Contact, error) {
	var c Contact
	err := a.db.View(ctx, func(tx store.Tx) error {
		var err error
		c, err = readContact(ctx, tx)
		return err
	})
	if err != nil {
		return Contact{}, fmt.Errorf("server contact: %w", err)
	}
	return c, nil
}

func readContact(ctx context.Context, tx store.Tx) (Contact, error) {
	var at, secs int64
	err := tx.QueryRowContext(ctx, `SELECT at, max_offline FROM server_contact WHERE singleton = 1`).Scan(&at, &secs)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, nil
	}
	if err != nil {
		return Contact{}, err
	}
	return Contact{At: time.UnixMilli(at).UTC(), MaxOffline: time.Duration(secs) * time.Second}, nil
}
