// Package notify keeps the customer informed (ISO 10002 8.1, 8.8): a
// customer who left an e-mail address or a phone number, and consented,
// is told when their complaint is acknowledged, answered (the decision, a
// message or a question from staff) and closed, by e-mail and by SMS.
//
// Notifications are derived from the event log as it is stored (a
// delivery.Follower with cursor "notify"), queued in the server's database
// with the idempotency key "<event id>/<channel>", and sent at least once,
// never twice for the same event and channel, by a delivery.Worker (queue
// "notify"). Every attempt, refusal and skip is in the audit trail
// (delivery_attempts).
//
// What a message holds: the step in plain words in the complaint's
// language, the tracking code and the tracking page's link, and an
// unsubscribe link. Never the complaint's text, staff's words or the
// customer's name: anyone who reads the mail in transit or over a shoulder
// learns that a complaint moved, and the page (which shows no personal data)
// tells the rest. The queue holds no address either: the sender reads the
// contact from the complaint's Filed event when it sends, so the address
// lives in one place, and the queue and audit trail name the contact only by
// a keyed hash (the contact key).
//
// Only staff's steps notify; nothing a customer does on the tracking page
// does, so holding a tracking code does not let anyone send mail. Sends are
// limited per contact (Config.RateLimit per RateWindow); beyond it they
// wait, never vanish.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"ombud/server/delivery"
	"ombud/shared/catalog"
	"ombud/shared/complaint"
	"ombud/shared/event"
)

// Queue is the delivery queue (and follower cursor) notifications use.
const Queue = "notify"

// Channels.
const (
	Email = "email"
	SMS   = "sms"
)

// Store is the storage notifications need: the queue, and who unsubscribed.
// Implementations: server/storage/sqlite (migration 0011_delivery.sql,
// table notify_unsubscribed).
type Store interface {
	delivery.Store
	// Unsubscribe records that the contact wants no more notifications.
	// Unsubscribing again keeps the first time.
	Unsubscribe(ctx context.Context, contactKey string, at time.Time) error
	// Unsubscribed reports whether the contact unsubscribed.
	Unsubscribed(ctx context.Context, contactKey string) (bool, error)
}

// Message is one notification, ready for a channel.
type Message struct {
	// Key is the idempotency key, the same on every attempt; channels
	// pass it on (Message-ID, the SMS gateway's Idempotency-Key) so a
	// resend after a crash can be recognised.
	Key      string
	To       string // an e-mail address or a phone number
	Language string
	Subject  string // for e-mail
	Text     string // plain text, links included
	// Unsubscribe is the link that stops notifications to To (e-mail
	// adds it as List-Unsubscribe too).
	Unsubscribe string
}

// Channel sends messages one way (package email, package sms). Errors
// follow delivery.Sender's rules and must not contain the address.
type Channel interface {
	Send(ctx context.Context, m Message) error
}

// Config configures a Notifier. Log, Store, Key and PublicURL are required;
// a channel missing from Channels is not used.
type Config struct {
	Log      delivery.Log
	Store    Store
	Channels map[string]Channel
	// Key makes contact keys and signs unsubscribe tokens; at least 32
	// bytes, the same on every server sharing the database.
	Key []byte
	// PublicURL is the base of the links: PublicURL/t/CODE and
	// PublicURL/unsubscribe/TOKEN.
	PublicURL string
	// Catalogs are the messages' words (LoadCatalogs).
	Catalogs *catalog.Set
	// RateLimit notifications per RateWindow per contact
	// (DefaultRateLimit per DefaultRateWindow).
	RateLimit  int
	RateWindow time.Duration
	// MaxAge: an event older than this when first seen (an offline
	// terminal syncing late, a server down for days) notifies nobody
	// (DefaultMaxAge).
	MaxAge time.Duration
	// The worker's schedule (delivery defaults when zero).
	Backoff delivery.Backoff
	Lease   time.Duration
	Poll    time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Defaults for Config.
const (
	DefaultRateLimit  = 5
	DefaultRateWindow = time.Hour
	DefaultMaxAge     = 7 * 24 * time.Hour
)

// Notifier derives, queues and sends notifications.
type Notifier struct {
	cfg      Config
	log      *slog.Logger
	keys     Keys
	base     *url.URL
	follower *delivery.Follower
	worker   *delivery.Worker
	channels []string // configured, in a fixed order
}

// New checks cfg and returns a Notifier; it starts nothing.
func New(cfg Config) (*Notifier, error) {
	if cfg.Log == nil || cfg.Store == nil {
		return nil, errors.New("notify: a log and a store are required")
	}
	keys, err := NewKeys(cfg.Key)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("notify: the public URL %q is needed for the links in messages (--public-url)", cfg.PublicURL)
	}
	if cfg.Catalogs == nil {
		if cfg.Catalogs, err = LoadCatalogs(""); err != nil {
			return nil, err
		}
	}
	if cfg.RateLimit <= 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateWindow <= 0 {
		cfg.RateWindow = DefaultRateWindow
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"), keys: keys, base: base}
	for _, ch := range []string{Email, SMS} {
		if cfg.Channels[ch] != nil {
			n.channels = append(n.channels, ch)
		}
	}
	n.worker, err = delivery.NewWorker(delivery.WorkerConfig{
		Store: cfg.Store, Queue: Queue, Send: n.send, Backoff: cfg.Backoff, Lease: cfg.Lease,
		Poll: cfg.Poll, Now: cfg.Now, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	n.follower, err = delivery.NewFollower(delivery.FollowerConfig{
		Log: cfg.Log, Store: cfg.Store, Name: Queue, Plan: n.plan, Poll: cfg.Poll,
		Queued: n.worker.Notify, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Enabled reports whether any channel is configured.
func (n *Notifier) Enabled() bool { return len(n.channels) > 0 }

// Run follows the log and sends until ctx ends, then waits for both. With no
// channel configured it follows nothing, so turning notifications on later
// starts from that moment, not with a backlog.
func (n *Notifier) Run(ctx context.Context) {
	if !n.Enabled() {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { n.follower.Run(ctx) })
	wg.Go(func() { n.worker.Run(ctx) })
	wg.Wait()
}

// CatchUp queues what the log calls for now; RunDue sends what is due.
// Tests and tools step the notifier with them.
func (n *Notifier) CatchUp(ctx context.Context) error { return n.follower.CatchUp(ctx) }

// RunDue sends every notification due now.
func (n *Notifier) RunDue(ctx context.Context) (int, error) { return n.worker.RunDue(ctx) }

// payload is what a notification job carries: the step, nothing personal.
type payload struct {
	Kind Kind `json:"kind"`
}

// send is the worker's Sender: it reads the contact from the complaint as
// stored now, checks consent, unsubscription and the rate limit, and sends.
func (n *Notifier) send(ctx context.Context, j delivery.Job) error {
	var p payload
	if err := json.Unmarshal(j.Payload, &p); err != nil || !p.Kind.valid() {
		return delivery.Permanent(0, "unreadable notification job")
	}
	ch := n.cfg.Channels[j.Channel]
	if ch == nil {
		return delivery.Skip("channel " + j.Channel + " is not configured")
	}
	c, err := n.complaint(ctx, j.ComplaintID)
	if err != nil {
		return err
	}
	to, ok := Address(c, j.Channel)
	if !ok {
		return delivery.Skip("no " + j.Channel + " contact with consent")
	}
	if n.keys.Contact(j.Channel, to) != j.Subject {
		return delivery.Skip("the contact details changed since the job was queued")
	}
	if off, err := n.cfg.Store.Unsubscribed(ctx, j.Subject); err != nil {
		return fmt.Errorf("read unsubscriptions: %w", err)
	} else if off {
		return delivery.Skip("the contact unsubscribed")
	}
	now := n.cfg.Now()
	sent, err := n.cfg.Store.CountAttempts(ctx, Queue, j.Subject, delivery.Sent, now.Add(-n.cfg.RateWindow))
	if err != nil {
		return fmt.Errorf("read rate: %w", err)
	}
	if sent >= n.cfg.RateLimit {
		return delivery.Defer(now.Add(n.cfg.RateWindow/time.Duration(n.cfg.RateLimit)),
			fmt.Sprintf("rate limit: %d notifications per %s to one contact", n.cfg.RateLimit, n.cfg.RateWindow))
	}
	m := n.render(p.Kind, j, c, to)
	return ch.Send(ctx, m)
}

// complaint reads the complaint as filed; a complaint with no readable
// Filed event is skipped (erased, or never filed).
func (n *Notifier) complaint(ctx context.Context, id string) (complaint.Complaint, error) {
	stored, err := n.cfg.Log.ComplaintEvents(ctx, id)
	if err != nil {
		return complaint.Complaint{}, fmt.Errorf("read complaint: %w", err)
	}
	for i := range stored {
		e := &stored[i].Event
		if e.Type == event.Filed {
			c, err := e.Complaint()
			if err != nil {
				return c, delivery.Skip("the filed complaint cannot be read")
			}
			return c, nil
		}
	}
	return complaint.Complaint{}, delivery.Skip("the complaint is not stored")
}

// Address is the contact for channel, if the customer gave one with
// consent: nothing is sent without both.
func Address(c complaint.Complaint, channel string) (string, bool) {
	ct := c.Contact
	if ct == nil || ct.ConsentAt.IsZero() || ct.NoticeVersion == "" {
		return "", false
	}
	var to string
	switch channel {
	case Email:
		to = strings.TrimSpace(ct.Email)
	case SMS:
		to = strings.TrimSpace(ct.Phone)
	}
	return to, to != ""
}
