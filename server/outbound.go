package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"ombud/server/central"
	"ombud/server/delivery"
	"ombud/server/notify"
	"ombud/server/notify/email"
	"ombud/server/notify/sms"
	"ombud/server/storage"
	"ombud/server/webhook"
	"ombud/shared/event"
)

// The outbound commands: integration webhooks (`server webhook ...`) and
// the notifications' audit trail (`server notifications`). Like the other
// commands they open the database beside a running server, which picks up
// a new or removed webhook at its next page of events.

const webhookUsage = "webhook: want `server webhook add|list|remove|deliveries` (see `server help`)"

func webhookCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{webhookUsage}
	}
	switch args[0] {
	case "add":
		return webhookAdd(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return webhookList(ctx, args[1:], getenv, stdout, stderr)
	case "remove":
		return webhookRemove(ctx, args[1:], getenv, stdout, stderr)
	case "deliveries":
		return webhookDeliveries(ctx, args[1:], getenv, stdout, stderr)
	default:
		return usageError{webhookUsage}
	}
}

// eventTypes are the types a webhook may ask for.
var eventTypes = []event.Type{
	event.Filed, event.Acknowledged, event.Assessed, event.Assigned, event.InvestigationBegan,
	event.NoteAdded, event.MessageSent, event.InfoRequested, event.InfoProvided, event.Escalated,
	event.Responded, event.Closed, event.Reopened, event.SatisfactionRated, event.RootCauseSet,
}

func parseEventTypes(s string) ([]event.Type, error) {
	var out []event.Type
	for part := range strings.SplitSeq(s, ",") {
		t := event.Type(strings.TrimSpace(part))
		if t == "" {
			continue
		}
		if !slices.Contains(eventTypes, t) {
			names := make([]string, len(eventTypes))
			for i, t := range eventTypes {
				names[i] = string(t)
			}
			return nil, fmt.Errorf("--events: %q is not an event type (%s)", t, strings.Join(names, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func webhookAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook add", stderr)
	data := databaseFlags(fs)
	rawURL := fs.String("url", "", "where to POST the events (https://...)")
	events := fs.String("events", "", "only these event types, comma-separated (default: every event)")
	includeText := fs.Bool("include-text", false, "include free text (the complaint's description and desired outcome, messages, notes, decisions, comments); needs an https URL. Contact details are never sent")
	allowPrivate := fs.Bool("allow-private-webhooks", false, "allow a URL on a loopback, private or link-local address (the server must be started with it too)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *rawURL == "" {
		return usageError{"webhook add: --url is required"}
	}
	u, err := webhook.CheckURL(*rawURL, *allowPrivate)
	if err != nil {
		return usageError{"webhook add: " + err.Error()}
	}
	if *includeText && u.Scheme != "https" {
		return usageError{"webhook add: --include-text needs an https:// URL: complaint text must not cross the network in the clear"}
	}
	types, err := parseEventTypes(*events)
	if err != nil {
		return usageError{"webhook add: " + err.Error()}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		h, err := st.AddWebhook(ctx, webhook.Webhook{
			ID: webhook.NewID(), URL: u.String(), Secret: webhook.NewSecret(), Events: types,
			IncludeText: *includeText, CreatedAt: time.Now(),
		})
		if err != nil {
			return fmt.Errorf("webhook add: %s", storage.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "Webhook %s added: events stored from now on (after sequence %d) are sent to %s.\n", h.ID, h.FromSeq, h.URL)
		fmt.Fprintf(stdout, "Signing secret (shown only now; the receiver checks %s with it, docs/API.md):\n\n    %s\n", webhook.HeaderSignature, h.Secret)
		if u.Scheme != "https" {
			fmt.Fprintln(stdout, "\nWarning: plain http: anyone on the path can read the deliveries (they hold no contact details or text).")
		}
		return nil
	})
}

func webhookList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook list", stderr)
	data := databaseFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		hooks, err := st.Webhooks(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tTEXT\tADDED\tREMOVED")
		for _, h := range hooks {
			types := "all"
			if len(h.Events) > 0 {
				names := make([]string, len(h.Events))
				for i, t := range h.Events {
					names[i] = string(t)
				}
				types = strings.Join(names, ",")
			}
			text, removed := "no", "-"
			if h.IncludeText {
				text = "yes"
			}
			if h.Removed() {
				removed = h.RemovedAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.URL, types, text, h.CreatedAt.Local().Format(time.DateTime), removed)
		}
		return tw.Flush()
	})
}

func webhookRemove(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook remove", stderr)
	data := databaseFlags(fs)
	id := fs.String("id", "", "webhook id (see `server webhook list`)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *id == "" {
		return usageError{"webhook remove: --id is required"}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		now := time.Now()
		if err := st.RemoveWebhook(ctx, *id, now); err != nil {
			return fmt.Errorf("webhook remove: %s", storage.ErrorMessage(err))
		}
		n, err := st.SkipPending(ctx, webhook.Queue, *id, "the webhook was removed", now)
		if err != nil {
			return fmt.Errorf("webhook remove: %w", err)
		}
		fmt.Fprintf(stdout, "Webhook %s removed; %d deliveries waiting were dropped. Its delivery log stays (`server webhook deliveries --id %s`).\n", *id, n, *id)
		return nil
	})
}

func webhookDeliveries(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhook deliveries", stderr)
	data := databaseFlags(fs)
	id := fs.String("id", "", "webhook id (see `server webhook list`)")
	limit := fs.Int("limit", 50, "how many of the latest attempts to list")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *id == "" {
		return usageError{"webhook deliveries: --id is required"}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		hooks, err := st.Webhooks(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(hooks, func(h webhook.Webhook) bool { return h.ID == *id }) {
			return fmt.Errorf("webhook deliveries: no webhook %s", *id)
		}
		as, err := st.Attempts(ctx, delivery.Filter{Queue: webhook.Queue, Subject: *id, Limit: *limit})
		if err != nil {
			return err
		}
		return printAttempts(stdout, as, "EVENT")
	})
}

// notifications is `server notifications`: the notifications' audit trail,
// newest first. It names contacts by their key, never by address.
func notifications(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("notifications", stderr)
	data := databaseFlags(fs)
	complaintID := fs.String("complaint", "", "only this complaint's notifications (its id)")
	limit := fs.Int("limit", 50, "how many of the latest attempts to list")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		as, err := st.Attempts(ctx, delivery.Filter{Queue: notify.Queue, ComplaintID: *complaintID, Limit: *limit})
		if err != nil {
			return err
		}
		return printAttempts(stdout, as, "COMPLAINT")
	})
}

// printAttempts writes audit rows as a table; what names the EVENT or the
// COMPLAINT column.
func printAttempts(w io.Writer, as []delivery.Attempt, what string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "AT\tCHANNEL\t%s\tATTEMPT\tOUTCOME\tCODE\tDETAIL\n", what)
	for _, a := range as {
		id := a.EventID
		if what == "COMPLAINT" {
			id = a.ComplaintID
		}
		code := "-"
		if a.Code != 0 {
			code = fmt.Sprint(a.Code)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.At.Local().Format(time.DateTime), a.Channel, id, a.N, a.Outcome, code, a.Detail)
	}
	return tw.Flush()
}

// outboundOptions are serve's flags for notifications and webhooks.
type outboundOptions struct {
	smtpAddr, smtpFrom, smtpUser, smtpPassword, smtpTLS, smtpHelo string
	smsURL, smsToken                                              string
}

func outboundFlags(fs *flag.FlagSet, cfg *central.Config) *outboundOptions {
	o := &outboundOptions{}
	fs.StringVar(&o.smtpAddr, "smtp-addr", "", "mail relay (host:port) for customer notifications by e-mail; empty sends no e-mail")
	fs.StringVar(&o.smtpFrom, "smtp-from", "", "the notifications' sender, e.g. \"Complaints <complaints@bank.example>\"")
	fs.StringVar(&o.smtpUser, "smtp-user", "", "user name for the relay (PLAIN authentication, only over TLS or to localhost)")
	fs.StringVar(&o.smtpPassword, "smtp-password", "", "password for the relay; prefer OMBUD_SERVER_SMTP_PASSWORD in the environment to keep it off the command line")
	fs.StringVar(&o.smtpTLS, "smtp-tls", string(email.Auto), "auto (STARTTLS when the relay offers it), starttls (required), tls (implicit TLS, port 465) or none")
	fs.StringVar(&o.smtpHelo, "smtp-helo", "", "the name given in EHLO (default: the --public-url host)")
	fs.StringVar(&o.smsURL, "sms-gateway-url", "", "the SMS gateway Ombud POSTs text messages to (JSON, docs/API.md); empty sends no SMS")
	fs.StringVar(&o.smsToken, "sms-gateway-token", "", "bearer token for the SMS gateway; prefer OMBUD_SERVER_SMS_GATEWAY_TOKEN in the environment")
	fs.StringVar(&cfg.Notify.Catalogs, "notify-catalogs", "", "directory of extra or corrected notification catalogs (xx.json)")
	fs.IntVar(&cfg.Notify.RateLimit, "notify-rate", notify.DefaultRateLimit, "notifications one contact (an address, a number) may receive per --notify-rate-window; more wait")
	fs.DurationVar(&cfg.Notify.RateWindow, "notify-rate-window", notify.DefaultRateWindow, "the window of --notify-rate")
	fs.BoolVar(&cfg.AllowPrivateWebhooks, "allow-private-webhooks", false, "let webhooks reach loopback, private and link-local addresses (refused otherwise: server-side request forgery)")
	return o
}

// apply checks the flags and fills cfg.Notify.
func (o *outboundOptions) apply(cfg *central.Config) error {
	if (o.smtpAddr != "" || o.smsURL != "") && cfg.PublicURL == "" {
		return usageError{"notifications (--smtp-addr, --sms-gateway-url) need --public-url: every message links to the complaint's page"}
	}
	if o.smtpAddr != "" {
		if o.smtpFrom == "" {
			return usageError{"--smtp-addr needs --smtp-from"}
		}
		mode, err := email.ParseTLSMode(o.smtpTLS)
		if err != nil {
			return usageError{"--smtp-tls " + err.Error()}
		}
		helo := o.smtpHelo
		if u, err := url.Parse(cfg.PublicURL); helo == "" && err == nil {
			helo = u.Hostname()
		}
		c := email.Config{Addr: o.smtpAddr, From: o.smtpFrom, Username: o.smtpUser, Password: o.smtpPassword, TLS: mode, HelloName: helo}
		if _, err := email.New(c); err != nil {
			return usageError{err.Error()}
		}
		cfg.Notify.SMTP = &c
	}
	if o.smsURL != "" {
		c := sms.Config{URL: o.smsURL, Token: o.smsToken}
		if _, err := sms.New(c); err != nil {
			return usageError{"--sms-gateway-url: " + err.Error()}
		}
		cfg.Notify.SMS = &c
	}
	if cfg.Notify.RateLimit < 1 || cfg.Notify.RateWindow <= 0 {
		return usageError{"--notify-rate must be at least 1 and --notify-rate-window positive"}
	}
	return nil
}
