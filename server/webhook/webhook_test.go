package webhook_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/server/delivery"
	"ombud/server/delivery/deliverytest"
	"ombud/server/webhook"
	"ombud/shared/event"
)

const (
	secretWords = "My account 12345678 was charged twice"
	answer      = "We refunded account 12345678."
)

// receiver is an integration's endpoint: it checks every delivery's
// signature as docs/API.md says, and keeps what it accepted, by delivery id.
type receiver struct {
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	requests int
	accepted map[string]webhook.Payload // by Ombud-Webhook-Id: a repeat is dropped
	order    []string
	bad      []string
	// answer, when set, picks the status of the n-th request (from 1).
	answer func(n int, r *http.Request) int
}

func newReceiver(t *testing.T, tlsOn bool) *receiver {
	rc := &receiver{accepted: map[string]webhook.Payload{}}
	h := http.HandlerFunc(rc.serve)
	if tlsOn {
		rc.srv = httptest.NewTLSServer(h)
	} else {
		rc.srv = httptest.NewServer(h)
	}
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests++
	n := rc.requests
	answer := rc.answer
	rc.mu.Unlock()
	if status := http.StatusNoContent; answer != nil {
		if status = answer(n, r); status == 0 {
			return // held, then dropped
		}
		if status/100 != 2 {
			w.WriteHeader(status)
			return
		}
	}
	err := webhook.Verify(rc.secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), webhook.DefaultWindow)
	var p webhook.Payload
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case err != nil:
		rc.bad = append(rc.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	case json.Unmarshal(body, &p) != nil || p.ID != r.Header.Get(webhook.HeaderID):
		rc.bad = append(rc.bad, "payload: "+string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if _, seen := rc.accepted[p.ID]; !seen {
		rc.accepted[p.ID] = p
		rc.order = append(rc.order, string(p.Event.Type))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() (map[string]webhook.Payload, []string, int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	acc := map[string]webhook.Payload{}
	for k, v := range rc.accepted {
		acc[k] = v
	}
	return acc, append([]string(nil), rc.order...), rc.requests, append([]string(nil), rc.bad...)
}

// mustHook registers a webhook to rc on v's store.
func mustHook(t *testing.T, v *deliverytest.Env, rc *receiver, includeText bool, types ...event.Type) webhook.Webhook {
	t.Helper()
	h, err := v.Store.AddWebhook(context.Background(), webhook.Webhook{
		ID: webhook.NewID(), URL: rc.srv.URL + "/hooks/ombud?tenant=7", Secret: webhook.NewSecret(), Events: types,
		IncludeText: includeText, CreatedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = h.Secret
	return h
}

func mustDispatcher(t *testing.T, v *deliverytest.Env, client *http.Client) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.New(webhook.Config{
		Log: v.Store, Store: v.Store, Client: client,
		Backoff: delivery.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond, Attempts: 8},
		Lease:   300 * time.Millisecond, Poll: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CatchUp(context.Background()); err != nil { // the follower exists before the test's events
		t.Fatal(err)
	}
	return d
}

func run(t *testing.T, d *webhook.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func private() *http.Client { return webhook.NewClient(webhook.ClientOptions{AllowPrivate: true}) }

func deliveries(t *testing.T, v *deliverytest.Env, hookID string) []delivery.Attempt {
	t.Helper()
	as, err := v.Store.Attempts(context.Background(), delivery.Filter{Queue: webhook.Queue, Subject: hookID})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestDeliveriesAreSignedAndCarryNoContactOrText: every event after the
// webhook was added arrives once, in order, signed; the payload names the
// complaint and the step but holds no contact detail and, by default, no
// free text.
func TestDeliveriesAreSignedAndCarryNoContactOrText(t *testing.T) {
	v := deliverytest.New(t)
	before := v.File("en", secretWords, nil) // before the webhook: not sent
	rc := newReceiver(t, false)
	h := mustHook(t, v, rc, false)
	d := mustDispatcher(t, v, private())
	run(t, d)
	c := v.File("fr", secretWords, deliverytest.Contact("ana@example.org", "+33612345678"))
	v.Act(c.ID, deliverytest.ToAnswer(answer)...)
	v.Act(c.ID, deliverytest.Action{Type: event.NoteAdded, Data: event.Text{Text: "internal: " + secretWords}})
	deliverytest.WaitFor(t, "five deliveries", func() (bool, string) {
		acc, order, _, bad := rc.got()
		return len(acc) == 5, fmt.Sprint(order, bad)
	})
	acc, order, _, bad := rc.got()
	if len(bad) > 0 {
		t.Errorf("refused deliveries: %q", bad)
	}
	if want := []string{"filed", "acknowledged", "assessed", "responded", "note_added"}; fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("events arrived as %v, want %v", order, want)
	}
	for id, p := range acc {
		raw, _ := json.Marshal(p)
		for _, secret := range []string{"12345678", "ana@", "+33", "Ana", "Lima", "Refund"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("delivery %s holds %q: %s", id, secret, raw)
			}
		}
		if p.Complaint.ID != c.ID || p.Complaint.Code != c.Code || p.Complaint.Language != "fr" || p.Complaint.Branch != "main" || p.Webhook != h.ID {
			t.Errorf("delivery %s complaint = %+v", id, p.Complaint)
		}
		if p.Complaint.ID == before.ID {
			t.Error("an event stored before the webhook was added was delivered")
		}
		if p.Event.Type == event.Assessed && string(p.Event.Data) != `{"severity":"medium","priority":3}` {
			t.Errorf("assessed data = %s", p.Event.Data)
		}
		if p.Event.Seq == 0 || p.Event.At.IsZero() || p.Event.Actor.Kind == "" {
			t.Errorf("event = %+v", p.Event)
		}
	}
	for _, a := range deliveries(t, v, h.ID) {
		if a.Outcome != delivery.Sent || a.Channel != h.ID {
			t.Errorf("delivery log row %+v, want sent", a)
		}
	}
}

// TestIncludeTextOverTLS: a webhook added with include-text gets the
// complaint's words and staff's, never the contact details.
func TestIncludeTextOverTLS(t *testing.T) {
	v := deliverytest.New(t)
	rc := newReceiver(t, true)
	h := mustHook(t, v, rc, true, event.Filed, event.Responded)
	pool := x509.NewCertPool()
	pool.AddCert(rc.srv.Certificate())
	d := mustDispatcher(t, v, webhook.NewClient(webhook.ClientOptions{AllowPrivate: true, TLS: &tls.Config{RootCAs: pool}}))
	run(t, d)
	c := v.File("en", secretWords, deliverytest.Contact("ana@example.org", "+33612345678"))
	v.Act(c.ID, deliverytest.ToAnswer(answer)...)
	deliverytest.WaitFor(t, "two deliveries", func() (bool, string) {
		acc, order, _, bad := rc.got()
		return len(acc) == 2, fmt.Sprint(order, bad, deliveries(t, v, h.ID))
	})
	acc, _, _, _ := rc.got()
	for _, p := range acc {
		raw, _ := json.Marshal(p)
		if strings.Contains(string(raw), "ana@") || strings.Contains(string(raw), "+33") {
			t.Errorf("contact details delivered: %s", raw)
		}
		switch p.Event.Type {
		case event.Filed:
			if p.Complaint.Description != secretWords || p.Complaint.DesiredOutcome != "Refund the fee." {
				t.Errorf("filed delivery without the text: %s", raw)
			}
		case event.Responded:
			if string(p.Event.Data) != `{"text":"`+answer+`"}` {
				t.Errorf("responded data = %s", p.Event.Data)
			}
		default:
			t.Errorf("unwanted event %s delivered", p.Event.Type)
		}
	}
}

// TestRetriedAfter500sWithoutDuplicatesAcrossRestart: the receiver
// answers 500 twice, then holds a delivery while the server stops (store
// closed and opened again, a new dispatcher). Every event is accepted once
// by id; the retries and the interruption are in the delivery log.
func TestRetriedAfter500sWithoutDuplicatesAcrossRestart(t *testing.T) {
	v := deliverytest.New(t)
	rc := newReceiver(t, false)
	holding, release := make(chan struct{}), make(chan struct{})
	rc.answer = func(n int, r *http.Request) int {
		switch {
		case n <= 2:
			return http.StatusInternalServerError
		case n == 4:
			close(holding)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return 0 // the server stopped: no answer reaches it
		}
		return http.StatusNoContent
	}
	h := mustHook(t, v, rc, false)
	d := mustDispatcher(t, v, private())
	c := v.File("en", secretWords, nil)
	v.Act(c.ID, deliverytest.ToAnswer(answer)...)
	stop := run(t, d)
	<-holding
	stop()
	close(release)
	v.Reopen()
	v.Act(c.ID, deliverytest.Action{Type: event.Closed, Data: event.Closure{CustomerAccepted: deliverytest.Accepted()}})
	d = mustDispatcher(t, v, private())
	run(t, d)
	deliverytest.WaitFor(t, "five deliveries sent", func() (bool, string) {
		sent := 0
		for _, a := range deliveries(t, v, h.ID) {
			if a.Outcome == delivery.Sent {
				sent++
			}
		}
		_, order, n, bad := rc.got()
		return sent == 5, fmt.Sprint(order, n, bad)
	})
	acc, _, _, bad := rc.got()
	if len(bad) > 0 {
		t.Errorf("refused: %q", bad)
	}
	ids := map[string]bool{}
	for id := range acc {
		ids[id] = true
	}
	if len(ids) != 5 {
		t.Errorf("%d distinct deliveries, want 5", len(ids))
	}
	count := map[delivery.Outcome]int{}
	for _, a := range deliveries(t, v, h.ID) {
		count[a.Outcome]++
	}
	if count[delivery.Retry] != 2 || count[delivery.Interrupted] != 1 || count[delivery.Sent] != 5 {
		t.Errorf("delivery log outcomes = %v, want 2 retry, 1 interrupted, 5 sent", count)
	}
}

// TestPrivateAddressesRefused: a webhook whose address is (or resolves
// to) loopback, private or link-local is refused when added and, should
// one get in (DNS that changed after the check), when connecting: the
// receiver never hears of it and the delivery log says why.
func TestPrivateAddressesRefused(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://10.0.0.5/hook", "http://192.168.1.10/hook",
		"http://172.16.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook",
		"http://[::ffff:127.0.0.1]/hook", "http://localhost:9000/hook", "http://crm.localhost/hook",
		"http://0.0.0.0/hook", "http://100.64.0.1/hook", "http://[fd00::1]/hook", "http://[64:ff9b::a00:1]/hook",
	} {
		if _, err := webhook.CheckURL(u, false); err == nil {
			t.Errorf("CheckURL(%q) accepted a private address", u)
		}
		if _, err := webhook.CheckURL(u, true); err != nil {
			t.Errorf("CheckURL(%q, allowPrivate) = %v", u, err)
		}
	}
	for _, u := range []string{"ftp://crm.example/hook", "https://user:pw@crm.example/hook", "https:///hook", "https://crm.example/hook#x", "crm.example/hook"} {
		if _, err := webhook.CheckURL(u, true); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
	if _, err := webhook.CheckURL("https://crm.bank.example/ombud?key=1", false); err != nil {
		t.Errorf("a public URL refused: %v", err)
	}
	for _, a := range []string{"8.8.8.8", "2001:4860:4860::8888"} {
		if webhook.Private(netip.MustParseAddr(a)) {
			t.Errorf("Private(%s) = true", a)
		}
	}

	v := deliverytest.New(t)
	rc := newReceiver(t, false)
	h := mustHook(t, v, rc, false) // stored directly: as if its name now resolved to loopback
	d := mustDispatcher(t, v, webhook.NewClient(webhook.ClientOptions{}))
	run(t, d)
	v.File("en", secretWords, nil)
	deliverytest.WaitFor(t, "the refusal in the delivery log", func() (bool, string) {
		as := deliveries(t, v, h.ID)
		return len(as) == 1 && as[0].Outcome == delivery.Failed && strings.Contains(as[0].Detail, "not public"), fmt.Sprintf("%+v", as)
	})
	if _, _, n, _ := rc.got(); n != 0 {
		t.Errorf("the private receiver got %d requests", n)
	}
}

// TestRemovedWebhookGetsNothingMore: removing drops what is waiting and
// what comes next.
func TestRemovedWebhookGetsNothingMore(t *testing.T) {
	v := deliverytest.New(t)
	rc := newReceiver(t, false)
	rc.answer = func(int, *http.Request) int { return http.StatusServiceUnavailable }
	h := mustHook(t, v, rc, false)
	d := mustDispatcher(t, v, private())
	ctx := context.Background()
	v.File("en", secretWords, nil)
	if err := d.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := v.Store.RemoveWebhook(ctx, h.ID, now); err != nil {
		t.Fatal(err)
	}
	if n, err := v.Store.SkipPending(ctx, webhook.Queue, h.ID, "the webhook was removed", now); err != nil || n != 1 {
		t.Fatalf("SkipPending = %d, %v; want the one retry waiting", n, err)
	}
	v.File("en", "After removal.", nil)
	if err := d.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RunDue(ctx); err != nil || n != 0 {
		t.Errorf("RunDue after removal = %d, %v; want nothing to send", n, err)
	}
	as := deliveries(t, v, h.ID)
	if len(as) != 2 || as[0].Outcome != delivery.Skipped || as[1].Outcome != delivery.Retry {
		t.Errorf("delivery log = %+v, want a retry then a skip", as)
	}
}
