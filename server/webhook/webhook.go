// Package webhook delivers case events to the URLs an operator registered
// (`server webhook add`), so an organisation can feed its CRM or ticketing
// system: every event stored after a webhook was added, as JSON (Payload,
// no contact details, free text only if asked for), signed with
// HMAC-SHA256 over the timestamp and the body (Sign, Verify), retried with
// backoff, each attempt in the delivery log (`server webhook deliveries`,
// the delivery_attempts table).
//
// Deliveries are derived from the log by a delivery.Follower (cursor
// "webhook") and queued with the key "<webhook id>/<event id>", which is
// also the Ombud-Webhook-Id header: a receiver that has seen an id drops
// the repeat, so at-least-once delivery is exactly-once in effect. Events
// of a complaint may arrive out of order (a retry passes a later event);
// event.seq orders them.
//
// Requests go only to public addresses unless the operator allows private
// ones (address.go says why).
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"ombud/server/delivery"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/event"
)

// Queue is the delivery queue (and follower cursor) webhooks use.
const Queue = "webhook"

// Webhook is a registered receiver.
type Webhook struct {
	ID     string
	URL    string
	Secret string // signs every delivery; shown once, when added
	// Events limits the deliveries to these types; empty: every event.
	Events      []event.Type
	IncludeText bool
	CreatedAt   time.Time
	// FromSeq is the log's end when the webhook was added: it receives
	// the events stored after it.
	FromSeq   int64
	RemovedAt time.Time // zero while active
}

// Removed reports whether the webhook was removed.
func (h Webhook) Removed() bool { return !h.RemovedAt.IsZero() }

// Wants reports whether h receives events of type t.
func (h Webhook) Wants(t event.Type) bool {
	return len(h.Events) == 0 || slices.Contains(h.Events, t)
}

// Store is the storage webhooks need: the queue and the registry.
// Implementations: server/storage/sqlite (migration 0011_delivery.sql,
// table webhooks).
type Store interface {
	delivery.Store
	// AddWebhook registers h, setting its FromSeq to the log's current
	// end in the same transaction, and returns it as stored. Conflict if
	// the id is taken.
	AddWebhook(ctx context.Context, h Webhook) (Webhook, error)
	// Webhooks lists every webhook, removed ones included, oldest first.
	Webhooks(ctx context.Context) ([]Webhook, error)
	// RemoveWebhook marks it removed (removing again keeps the first
	// time); NotFound if unknown. Its log stays.
	RemoveWebhook(ctx context.Context, id string, at time.Time) error
}

// NewID makes a webhook id: "wh_" and 12 hex digits.
func NewID() string { return "wh_" + randomHex(6) }

// NewSecret makes a signing secret: "whsec_" and 64 hex digits (256 bits).
// The HMAC key is the whole string, as printed.
func NewSecret() string { return "whsec_" + randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Config configures a Dispatcher. Log and Store are required.
type Config struct {
	Log   delivery.Log
	Store Store
	// Client sends the requests (NewClient, which refuses private
	// addresses unless allowed).
	Client *http.Client
	// The worker's schedule (delivery defaults when zero).
	Backoff delivery.Backoff
	Lease   time.Duration
	Poll    time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Dispatcher derives, queues and sends deliveries.
type Dispatcher struct {
	cfg      Config
	log      *slog.Logger
	follower *delivery.Follower
	worker   *delivery.Worker
}

// New checks cfg and returns a Dispatcher; it starts nothing.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Log == nil || cfg.Store == nil {
		return nil, errors.New("webhook: a log and a store are required")
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(ClientOptions{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg, log: cfg.Logger.With("component", "webhook")}
	var err error
	d.worker, err = delivery.NewWorker(delivery.WorkerConfig{
		Store: cfg.Store, Queue: Queue, Send: d.send, Backoff: cfg.Backoff, Lease: cfg.Lease,
		Poll: cfg.Poll, Now: cfg.Now, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	d.follower, err = delivery.NewFollower(delivery.FollowerConfig{
		Log: cfg.Log, Store: cfg.Store, Name: Queue, Plan: d.plan, Poll: cfg.Poll,
		Queued: d.worker.Notify, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Run follows the log and delivers until ctx ends, then waits for both.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.follower.Run(ctx) })
	wg.Go(func() { d.worker.Run(ctx) })
	wg.Wait()
}

// CatchUp queues the deliveries the log calls for now.
func (d *Dispatcher) CatchUp(ctx context.Context) error { return d.follower.CatchUp(ctx) }

// RunDue makes every delivery due now.
func (d *Dispatcher) RunDue(ctx context.Context) (int, error) { return d.worker.RunDue(ctx) }

// plan queues one delivery per active webhook that wants the event and was
// added before it was stored. The webhooks are read for each page, so one
// added or removed from the command line counts from the next page on.
func (d *Dispatcher) plan(ctx context.Context, page []storage.StoredEvent) ([]delivery.Job, error) {
	hooks, err := d.cfg.Store.Webhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	hooks = slices.DeleteFunc(hooks, Webhook.Removed)
	if len(hooks) == 0 {
		return nil, nil
	}
	now := d.cfg.Now()
	filed := map[string]*complaint.Complaint{}
	var jobs []delivery.Job
	for _, se := range page {
		e := &se.Event
		for _, h := range hooks {
			if se.Seq <= h.FromSeq || !h.Wants(e.Type) {
				continue
			}
			c, ok := filed[e.ComplaintID]
			if !ok {
				if c, err = d.filed(ctx, se); err != nil {
					return nil, err
				}
				filed[e.ComplaintID] = c
			}
			body, err := Body(h, se, c)
			if err != nil {
				return nil, fmt.Errorf("delivery of %s: %w", e.ID, err)
			}
			jobs = append(jobs, delivery.Job{
				Queue: Queue, Key: DeliveryID(h.ID, e.ID), Channel: h.ID, Subject: h.ID,
				ComplaintID: e.ComplaintID, EventID: e.ID, Seq: se.Seq, Payload: body, CreatedAt: now,
			})
		}
	}
	return jobs, nil
}

// filed is the complaint of se as filed, nil if its Filed event is not
// stored.
func (d *Dispatcher) filed(ctx context.Context, se storage.StoredEvent) (*complaint.Complaint, error) {
	if se.Event.Type == event.Filed {
		c, err := se.Event.Complaint()
		if err != nil {
			return nil, nil
		}
		return &c, nil
	}
	stored, err := d.cfg.Log.ComplaintEvents(ctx, se.Event.ComplaintID)
	if err != nil {
		return nil, fmt.Errorf("read complaint %s: %w", se.Event.ComplaintID, err)
	}
	for i := range stored {
		if stored[i].Event.Type == event.Filed {
			if c, err := stored[i].Event.Complaint(); err == nil {
				return &c, nil
			}
		}
	}
	return nil, nil
}

// maxResponse is how much of a receiver's answer is read (and thrown away),
// so the connection can be reused.
const maxResponse = 64 << 10

// send is the worker's Sender: one signed POST.
func (d *Dispatcher) send(ctx context.Context, j delivery.Job) error {
	hooks, err := d.cfg.Store.Webhooks(ctx)
	if err != nil {
		return fmt.Errorf("read webhooks: %w", err)
	}
	i := slices.IndexFunc(hooks, func(h Webhook) bool { return h.ID == j.Subject })
	if i < 0 || hooks[i].Removed() {
		return delivery.Skip("the webhook was removed")
	}
	h := hooks[i]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(j.Payload))
	if err != nil {
		return delivery.Permanent(0, "the webhook URL cannot be used")
	}
	now := d.cfg.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Ombud-Webhook/1")
	req.Header.Set(HeaderID, j.Key)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(h.Secret, now, j.Payload))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, ErrPrivateAddress) {
			return delivery.Permanent(0, ErrPrivateAddress.Error())
		}
		return delivery.Temporary(0, requestFailure(err), time.Time{})
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusGone:
		// The receiver says the endpoint is gone for good.
		return delivery.Permanent(code, "the receiver answered 410 Gone")
	default:
		return delivery.Temporary(code, "the receiver answered "+resp.Status, retryAfter(resp.Header.Get("Retry-After"), now))
	}
}

// requestFailure says why a request failed without the URL (which may hold
// a token in its query).
func requestFailure(err error) string {
	var msg string
	switch {
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "Client.Timeout"):
		msg = "no answer in time"
	default:
		msg = err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return "request failed: " + msg
}

// retryAfter reads a Retry-After of seconds or an HTTP date; zero if none.
func retryAfter(v string, now time.Time) time.Time {
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}
