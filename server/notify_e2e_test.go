package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/filing"
	"ombud/server/notify/notifytest"
	"ombud/server/webhook"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/trackcode"
)

// hookReceiver is an integration's endpoint for the end-to-end test: it
// verifies each delivery's signature and keeps the payloads by id.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	got    map[string]webhook.Payload
	bad    []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{got: map[string]webhook.Payload{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		var p webhook.Payload
		if err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), webhook.DefaultWindow); err != nil {
			h.bad = append(h.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if err := json.Unmarshal(body, &p); err != nil {
			h.bad = append(h.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.got[r.Header.Get(webhook.HeaderID)] = p
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) types() []event.Type {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event.Type
	for _, p := range h.got {
		out = append(out, p.Event.Type)
	}
	return out
}

var (
	secretRE = regexp.MustCompile(`whsec_[0-9a-f]{64}`)
	hookIDRE = regexp.MustCompile(`wh_[0-9a-f]{12}`)
)

// TestE2ENotificationsAndWebhooks: the whole path through the real server
// program. A customer files in French at a kiosk with an e-mail address
// and a phone number and consents; staff acknowledge, assess, answer and
// close at their terminal. The customer gets each step by e-mail (a real
// SMTP server) and SMS (the gateway), in French, with the link to the page
// and nothing of what they wrote; after they unsubscribe from the e-mails
// by the link, the closure comes by SMS only, and the audit trail says
// why. An integration registered with `server webhook add` receives every
// event, signed, without the contact details or the text.
func TestE2ENotificationsAndWebhooks(t *testing.T) {
	mail := notifytest.NewMailServer(t, nil)
	gw := notifytest.NewSMSGateway(t)
	s := MustE2EServer(t, e2eDispatch, "",
		"--smtp-addr", mail.Addr, "--smtp-from", "Complaints <complaints@bank.example>", "--smtp-tls", "none",
		"--sms-gateway-url", gw.URL, "--allow-private-webhooks")
	hooks := newHookReceiver(t)
	out := MustRun(t, "webhook", "add", "--data", s.dir, "--url", hooks.srv.URL+"/ombud", "--allow-private-webhooks")
	hookID := hookIDRE.FindString(out)
	hooks.mu.Lock()
	hooks.secret = secretRE.FindString(out)
	hooks.mu.Unlock()
	if hookID == "" || hooks.secret == "" {
		t.Fatalf("webhook add printed no id and secret:\n%s", out)
	}
	if list := MustRun(t, "webhook", "list", "--data", s.dir); !strings.Contains(list, hookID) || strings.Contains(list, "whsec_") {
		t.Errorf("webhook list (must show the id, never the secret):\n%s", list)
	}

	front := MustE2EKiosk(t, s, "Front desk")
	staff := MustStaffTerminal(t, s)
	const words = "Le distributeur a avalé ma carte 4970 1234 et personne ne répond."
	f, err := front.svc.File(context.Background(), filing.Draft{
		Category: "cards", Description: words, Language: "fr",
		Contact: &complaint.Contact{Name: "Ana Lima", Email: "ana@example.org", Phone: "+33 6 12 34 56 78", ConsentAt: time.Now(), NoticeVersion: "2026-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	front.sync.Notify()
	waitUntil(t, "the complaint reaches the server", func() (bool, string) {
		return len(s.events(t, f.Complaint.ID)) > 0, ""
	})
	const answer = "Nous vous rendons la carte 4970 1234 au guichet."
	staff.push(t, f,
		staffEvent{event.Acknowledged, nil},
		staffEvent{event.Assessed, event.Assessment{Severity: event.SeverityMedium, Priority: 3}},
		staffEvent{event.Responded, event.Text{Text: answer}},
	)
	waitUntil(t, "two e-mails and two text messages", func() (bool, string) {
		return len(mail.Mails()) == 2 && len(gw.Accepted()) == 2, fmt.Sprintf("%d mails, %+v", len(mail.Mails()), gw.Requests())
	})
	code := trackcode.Code(f.Complaint.Code).String()
	link := s.url + "/t/" + f.Complaint.Code + "?lang=fr"
	for i, m := range mail.Mails() {
		want := []string{"Votre réclamation " + code + " : nous la traitons", "Votre réclamation " + code + " : notre réponse"}[i]
		if m.Subject != want || !strings.Contains(m.Text, link) || m.To[0] != "ana@example.org" {
			t.Errorf("mail %d: %q to %v, want %q with %s:\n%s", i, m.Subject, m.To, want, link, m.Text)
		}
	}
	for _, r := range gw.Requests() {
		if r.Body.To != "+33612345678" || !strings.Contains(r.Body.Text, link) {
			t.Errorf("text message %+v", r.Body)
		}
	}
	for _, leak := range []string{"4970", "avalé", "Ana", "Lima", "guichet"} {
		for _, m := range mail.Mails() {
			if strings.Contains(string(m.Raw), leak) {
				t.Errorf("mail %q holds %q", m.Subject, leak)
			}
		}
		for _, r := range gw.Requests() {
			if strings.Contains(r.Body.Text, leak) {
				t.Errorf("text message holds %q", leak)
			}
		}
	}

	// The customer unsubscribes from the e-mails with the link.
	unsub := regexp.MustCompile(regexp.QuoteMeta(s.url) + `/unsubscribe/[A-Za-z0-9_-]+\?lang=fr`).FindString(mail.Mails()[1].Text)
	if status, body := httpGet(t, unsub); status != 200 || !strings.Contains(body, "Arrêter les messages") {
		t.Fatalf("GET %s = %d:\n%s", unsub, status, body)
	}
	resp, err := http.PostForm(unsub, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s = %d", unsub, resp.StatusCode)
	}
	// The customer accepted at the branch: staff may close before the
	// customer's time to answer ends only with that acceptance.
	accepted := true
	staff.push(t, f, staffEvent{event.Closed, event.Closure{CustomerAccepted: &accepted}})
	waitUntil(t, "the closure by SMS, and its e-mail skipped", func() (bool, string) {
		audit := MustRun(t, "notifications", "--data", s.dir, "--complaint", f.Complaint.ID)
		return len(gw.Accepted()) == 3 && strings.Contains(audit, "the contact unsubscribed"), audit
	})
	if n := len(mail.Mails()); n != 2 {
		t.Errorf("%d e-mails after unsubscribing, want the 2 before", n)
	}
	audit := MustRun(t, "notifications", "--data", s.dir, "--complaint", f.Complaint.ID)
	if strings.Contains(audit, "ana@") || strings.Contains(audit, "+33") || strings.Count(audit, " sent ") != 5 {
		t.Errorf("audit trail (want 5 sent, no address):\n%s", audit)
	}

	// Every event reached the integration, signed, with nothing personal.
	want := []event.Type{event.Filed, event.Assigned, event.Acknowledged, event.Assessed, event.Responded, event.Closed}
	waitUntil(t, "every event delivered to the webhook", func() (bool, string) {
		return len(hooks.types()) == len(want), fmt.Sprint(hooks.types())
	})
	hooks.mu.Lock()
	if len(hooks.bad) > 0 {
		t.Errorf("deliveries refused by the receiver: %q", hooks.bad)
	}
	for id, p := range hooks.got {
		raw, _ := json.Marshal(p)
		for _, leak := range []string{"ana@", "+33", "Ana", "4970", "guichet"} {
			if strings.Contains(string(raw), leak) {
				t.Errorf("delivery %s holds %q: %s", id, leak, raw)
			}
		}
		if p.Complaint.Code != f.Complaint.Code || p.Webhook != hookID {
			t.Errorf("delivery %s: %+v", id, p)
		}
	}
	hooks.mu.Unlock()
	log := MustRun(t, "webhook", "deliveries", "--data", s.dir, "--id", hookID)
	if strings.Count(log, " sent ") != len(want) {
		t.Errorf("webhook deliveries (want %d sent):\n%s", len(want), log)
	}
	if out := MustRun(t, "webhook", "remove", "--data", s.dir, "--id", hookID); !strings.Contains(out, "removed") {
		t.Errorf("webhook remove: %s", out)
	}
}

// TestWebhookCommandRefusesPrivateAddresses: without
// --allow-private-webhooks the command refuses loopback, private and
// link-local URLs, and text over plain http.
func TestWebhookCommandRefusesPrivateAddresses(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--url", "http://127.0.0.1:9/x"},
		{"--url", "http://169.254.169.254/latest/meta-data/"},
		{"--url", "http://10.1.2.3/crm"},
		{"--url", "http://localhost/x"},
		{"--url", "http://crm.bank.example/x", "--include-text"},
		{"--url", "https://crm.bank.example/x", "--events", "filed,nonsense"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{"webhook", "add", "--data", dir}, args...), noEnv, nil, io.Discard, &stderr)
		if _, ok := err.(usageError); !ok {
			t.Errorf("webhook add %v = %v, want a usage error", args, err)
		}
	}
	out := MustRun(t, "webhook", "add", "--data", dir, "--url", "https://crm.bank.example/ombud", "--events", "closed,responded", "--include-text")
	if !strings.Contains(out, "whsec_") {
		t.Errorf("webhook add: %s", out)
	}
}
