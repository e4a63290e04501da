package notify_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/delivery"
	"ombud/server/delivery/deliverytest"
	"ombud/server/notify"
	"ombud/server/notify/email"
	"ombud/server/notify/sms"
)

const publicURL = "https://ombud.example"

var testKey = []byte(strings.Repeat("k", 32))

// channels are the receiving ends a test wires.
type channels struct {
	mailAddr string
	pool     *x509.CertPool // trust for STARTTLS; nil: plain SMTP
	smsURL   string
}

// MustNotifier builds a notifier on v's store with fast retries.
func MustNotifier(tb testing.TB, v *deliverytest.Env, ch channels, edit ...func(*notify.Config)) *notify.Notifier {
	tb.Helper()
	cs := map[string]notify.Channel{}
	if ch.mailAddr != "" {
		cfg := email.Config{Addr: ch.mailAddr, From: "Complaints <complaints@bank.example>", TLS: email.None, Timeout: 5 * time.Second}
		if ch.pool != nil {
			cfg.TLS, cfg.TLSConfig = email.StartTLS, &tls.Config{RootCAs: ch.pool, ServerName: "127.0.0.1"}
		}
		s, err := email.New(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		cs[notify.Email] = s
	}
	if ch.smsURL != "" {
		g, err := sms.New(sms.Config{URL: ch.smsURL, Token: "gateway-token", Timeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		cs[notify.SMS] = g
	}
	cfg := notify.Config{
		Log: v.Store, Store: v.Store, Channels: cs, Key: testKey, PublicURL: publicURL,
		Backoff: delivery.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 6},
		Lease:   300 * time.Millisecond, Poll: 20 * time.Millisecond,
	}
	for _, f := range edit {
		f(&cfg)
	}
	n, err := notify.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// start runs n until the returned stop is called (or the test ends).
func start(tb testing.TB, n *notify.Notifier) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { n.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	tb.Cleanup(stop)
	return stop
}

// mustStartFollowing makes the notifier's follower exist before the test's
// events, as a running server's would (a new follower starts at the log's
// end).
func mustStartFollowing(tb testing.TB, n *notify.Notifier) {
	tb.Helper()
	if err := n.CatchUp(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// attempts is the audit trail of a complaint, oldest first, as
// "channel outcome" strings.
func attempts(tb testing.TB, v *deliverytest.Env, complaintID string) []delivery.Attempt {
	tb.Helper()
	as, err := v.Store.Attempts(context.Background(), delivery.Filter{Queue: notify.Queue, ComplaintID: complaintID})
	if err != nil {
		tb.Fatal(err)
	}
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}
