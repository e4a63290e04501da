package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ombud/server/delivery"
	"ombud/server/delivery/deliverytest"
	"ombud/server/notify"
	"ombud/server/notify/notifytest"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/trackcode"
)

const (
	secretWords = "My account 12345678 was charged twice by the cash machine"
	answer      = "We refunded the fee to account 12345678."
)

var unsubscribeRE = regexp.MustCompile(`https://ombud\.example/unsubscribe/[A-Za-z0-9_-]{43}\?lang=[a-z]+`)

// TestEmailInTheComplaintsLanguageWithoutItsText: a real SMTP server
// (STARTTLS required) receives one message per step, in the language the
// complaint was filed in, with the tracking link and an unsubscribe link,
// and none of the customer's words, staff's words or the customer's name.
func TestEmailInTheComplaintsLanguageWithoutItsText(t *testing.T) {
	v := deliverytest.New(t)
	tlsCfg, pool := notifytest.SelfSigned(t)
	mail := notifytest.NewMailServer(t, tlsCfg)
	n := MustNotifier(t, v, channels{mailAddr: mail.Addr, pool: pool})
	mustStartFollowing(t, n)
	start(t, n)

	fr := v.File("fr", secretWords, deliverytest.Contact("ana@example.org", ""))
	en := v.File("en", secretWords, deliverytest.Contact("bob@example.org", ""))
	none := v.File("en", secretWords, nil) // no contact: nothing is sent
	v.Act(fr.ID, append(deliverytest.ToAnswer(answer), deliverytest.Action{Type: event.Closed, Data: event.Closure{CustomerAccepted: deliverytest.Accepted(), Text: "Closed: " + answer}})...)
	v.Act(en.ID, deliverytest.Action{Type: event.Acknowledged})
	v.Act(none.ID, deliverytest.ToAnswer(answer)...)
	// Internal steps and the customer's own notify nobody.
	v.Act(en.ID, deliverytest.Action{Type: event.NoteAdded, Data: event.Text{Text: "internal"}})

	deliverytest.WaitFor(t, "four mails", func() (bool, string) {
		return len(mail.Mails()) >= 4, fmt.Sprint(len(mail.Mails()))
	})
	mails := mail.Mails()
	if len(mails) != 4 {
		for _, m := range mails {
			t.Log(m.To, m.Subject)
		}
		t.Fatalf("got %d mails, want 4 (three steps in French, one in English)", len(mails))
	}
	wantFR := []string{
		"Votre réclamation " + trackcode.Code(fr.Code).String() + " : nous la traitons",
		"Votre réclamation " + trackcode.Code(fr.Code).String() + " : notre réponse",
		"Votre réclamation " + trackcode.Code(fr.Code).String() + " est clôturée",
	}
	var gotFR []string
	for _, m := range mails {
		if !m.TLS {
			t.Errorf("mail %q sent without TLS", m.Subject)
		}
		for _, secret := range []string{secretWords, "12345678", answer, "Refund the fee", "Ana", "Lima"} {
			if strings.Contains(string(m.Raw), secret) || strings.Contains(m.Text, secret) {
				t.Errorf("mail %q contains %q:\n%s", m.Subject, secret, m.Raw)
			}
		}
		unsub := unsubscribeRE.FindString(m.Text)
		if unsub == "" || m.Header.Get("List-Unsubscribe") != "<"+unsub+">" || m.Header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" {
			t.Errorf("mail %q: unsubscribe link %q, List-Unsubscribe %q", m.Subject, unsub, m.Header.Get("List-Unsubscribe"))
		}
		if m.Header.Get("Message-Id") == "" || m.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("mail %q headers: %v", m.Subject, m.Header)
		}
		switch m.To[0] {
		case "ana@example.org":
			gotFR = append(gotFR, m.Subject)
			if !strings.Contains(m.Text, publicURL+"/t/"+fr.Code+"?lang=fr") || !strings.Contains(m.Text, "Bonjour") ||
				!strings.HasSuffix(unsub, "?lang=fr") || m.Header.Get("Content-Language") != "fr" {
				t.Errorf("French mail lacks the French link or words:\n%s", m.Text)
			}
		case "bob@example.org":
			if m.Subject != "Your complaint "+trackcode.Code(en.Code).String()+": we are handling it" ||
				!strings.Contains(m.Text, publicURL+"/t/"+en.Code+"?lang=en") {
				t.Errorf("English mail: %q\n%s", m.Subject, m.Text)
			}
		default:
			t.Errorf("mail to %v", m.To)
		}
	}
	if fmt.Sprint(gotFR) != fmt.Sprint(wantFR) {
		t.Errorf("French subjects = %q, want %q", gotFR, wantFR)
	}
	if as := attempts(t, v, none.ID); len(as) != 0 {
		t.Errorf("a complaint without contact details has %d notification attempts", len(as))
	}
	for _, a := range attempts(t, v, fr.ID) {
		if a.Outcome != delivery.Sent || a.Channel != notify.Email || strings.Contains(a.Subject, "@") || strings.Contains(a.Detail, "@") {
			t.Errorf("audit row %+v: want sent by e-mail, naming no address", a)
		}
	}
}

// TestUnsubscribeStopsLaterNotifications: the link's GET only asks; the
// POST (the page's button, or a mail program's one-click) stops every
// later notification to that address, from any complaint, in any
// spelling, and the audit trail says why nothing was sent.
func TestUnsubscribeStopsLaterNotifications(t *testing.T) {
	v := deliverytest.New(t)
	mail := notifytest.NewMailServer(t, nil)
	n := MustNotifier(t, v, channels{mailAddr: mail.Addr})
	mustStartFollowing(t, n)
	mux := http.NewServeMux()
	n.Register(mux)
	web := httptest.NewServer(mux)
	defer web.Close()
	start(t, n)

	c := v.File("fr", secretWords, deliverytest.Contact("ana@example.org", ""))
	v.Act(c.ID, deliverytest.Action{Type: event.Acknowledged})
	deliverytest.WaitFor(t, "the acknowledgement mail", func() (bool, string) { return len(mail.Mails()) == 1, fmt.Sprint(len(mail.Mails())) })
	link := unsubscribeRE.FindString(mail.Mails()[0].Text)
	local := web.URL + strings.TrimPrefix(link, publicURL)

	resp, err := http.Get(local)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Arrêter les messages") || !strings.Contains(string(body), `method="post"`) {
		t.Fatalf("GET %s = %d\n%s", local, resp.StatusCode, body)
	}
	// A GET (a mail scanner opening links) unsubscribes nobody.
	v.Act(c.ID, deliverytest.ToAnswer(answer)[1:]...)
	deliverytest.WaitFor(t, "the answer mail", func() (bool, string) { return len(mail.Mails()) == 2, fmt.Sprint(len(mail.Mails())) })

	// RFC 8058 one-click, as a mail program sends it.
	resp, err = http.Post(local, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "C&#39;est fait") {
		t.Fatalf("POST = %d\n%s", resp.StatusCode, body)
	}
	// Later steps of this complaint, and another complaint by the same
	// address spelt differently, send nothing.
	v.Act(c.ID, deliverytest.Action{Type: event.Closed, Data: event.Closure{CustomerAccepted: deliverytest.Accepted()}})
	other := v.File("en", "Another one.", deliverytest.Contact("ANA@Example.org", ""))
	v.Act(other.ID, deliverytest.Action{Type: event.Acknowledged})
	for _, id := range []string{c.ID, other.ID} {
		deliverytest.WaitFor(t, "the skip in the audit trail", func() (bool, string) {
			as := attempts(t, v, id)
			if len(as) == 0 {
				return false, "no attempt yet"
			}
			last := as[len(as)-1]
			return last.Outcome == delivery.Skipped && last.Detail == "the contact unsubscribed", fmt.Sprintf("%+v", as)
		})
	}
	if got := len(mail.Mails()); got != 2 {
		t.Errorf("%d mails after unsubscribing, want the 2 before", got)
	}

	for _, bad := range []string{"x", strings.Repeat("A", 43), link[len(link)-51:len(link)-8] + "x"} {
		resp, err := http.PostForm(web.URL+"/unsubscribe/"+url.PathEscape(bad), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST with token %q = %d, want 404", bad, resp.StatusCode)
		}
	}
}

// TestSMSRetriedAfterServerErrors: the gateway answers 500 twice; the
// message goes on the third attempt with the same idempotency key, and
// each attempt is in the audit trail.
func TestSMSRetriedAfterServerErrors(t *testing.T) {
	v := deliverytest.New(t)
	gw := notifytest.NewSMSGateway(t)
	n := MustNotifier(t, v, channels{smsURL: gw.URL})
	mustStartFollowing(t, n)
	gw.Fail(2, http.StatusInternalServerError)
	start(t, n)
	c := v.File("fr", secretWords, deliverytest.Contact("", "+33 6 12 34 56 78"))
	v.Act(c.ID, deliverytest.Action{Type: event.Acknowledged})
	deliverytest.WaitFor(t, "the text message sent", func() (bool, string) {
		as := attempts(t, v, c.ID)
		return len(as) == 3, fmt.Sprintf("%+v", as)
	})
	reqs := gw.Requests()
	if len(reqs) != 3 || reqs[0].Key != reqs[2].Key || reqs[0].Key == "" {
		t.Fatalf("requests = %+v, want three with one key", reqs)
	}
	m := reqs[2]
	if m.Body.To != "+33612345678" || m.Body.Language != "fr" || m.Authorization != "Bearer gateway-token" ||
		!strings.Contains(m.Body.Text, publicURL+"/t/"+c.Code+"?lang=fr") || !strings.Contains(m.Body.Text, "Nous avons bien reçu") ||
		!unsubscribeRE.MatchString(m.Body.Text) || strings.Contains(m.Body.Text, "12345678") {
		t.Errorf("text message = %+v", m)
	}
	var got []string
	for _, a := range attempts(t, v, c.ID) {
		got = append(got, fmt.Sprintf("%d %s %d", a.N, a.Outcome, a.Code))
	}
	if want := []string{"1 retry 500", "2 retry 500", "3 sent 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

// TestNoDuplicateAcrossRestartMidSend: the server stops while the gateway
// holds a request (the store closed and opened again, a new notifier). The
// steps already sent are not sent again, none is queued twice, and the
// held one is sent again with the same idempotency key, so a gateway that
// drops repeats passes each message on once.
func TestNoDuplicateAcrossRestartMidSend(t *testing.T) {
	v := deliverytest.New(t)
	gw := notifytest.NewSMSGateway(t)
	release := make(chan struct{})
	holding := make(chan struct{})
	var (
		mu   sync.Mutex
		seen int
	)
	// The second request (the answer's message) is held.
	gw.Hold = func(r *http.Request) {
		mu.Lock()
		seen++
		second := seen == 2
		mu.Unlock()
		if second {
			close(holding)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}
	n := MustNotifier(t, v, channels{smsURL: gw.URL})
	mustStartFollowing(t, n)
	c := v.File("en", secretWords, deliverytest.Contact("", "07700 900123"))
	v.Act(c.ID, deliverytest.ToAnswer(answer)...)
	stop := start(t, n)
	<-holding
	// The first step's message has gone: only the held one is in flight.
	deliverytest.WaitFor(t, "the first message sent", func() (bool, string) {
		as := attempts(t, v, c.ID)
		return len(as) == 1 && as[0].Outcome == delivery.Sent, fmt.Sprintf("%+v", as)
	})
	stop() // mid-send: the attempt is cut short and not recorded
	close(release)
	v.Reopen()
	v.Act(c.ID, deliverytest.Action{Type: event.Closed, Data: event.Closure{CustomerAccepted: deliverytest.Accepted()}})
	n = MustNotifier(t, v, channels{smsURL: gw.URL})
	start(t, n)
	deliverytest.WaitFor(t, "three messages sent", func() (bool, string) {
		sent := 0
		for _, a := range attempts(t, v, c.ID) {
			if a.Outcome == delivery.Sent {
				sent++
			}
		}
		return sent == 3, fmt.Sprintf("%+v", attempts(t, v, c.ID))
	})
	if got := len(gw.Accepted()); got != 3 {
		t.Errorf("the gateway passed on %d distinct messages, want 3", got)
	}
	perKey := map[string]int{}
	for _, r := range gw.Requests() {
		perKey[r.Key]++
	}
	if len(perKey) != 3 {
		t.Errorf("requests for %d keys, want 3: %v", len(perKey), perKey)
	}
	var interrupted int
	for _, a := range attempts(t, v, c.ID) {
		if a.Outcome == delivery.Interrupted {
			interrupted++
		}
	}
	if interrupted != 1 {
		t.Errorf("%d interrupted attempts in the audit trail, want 1: %+v\nrequests %+v", interrupted, attempts(t, v, c.ID), gw.Requests())
	}
}

// TestRateLimitPerContact: past the limit, notifications to one contact
// wait (deferred, in the audit trail) and go when the window allows.
func TestRateLimitPerContact(t *testing.T) {
	v := deliverytest.New(t)
	mail := notifytest.NewMailServer(t, nil)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	n := MustNotifier(t, v, channels{mailAddr: mail.Addr}, func(c *notify.Config) {
		c.RateLimit, c.RateWindow, c.Now = 2, time.Hour, clock
	})
	mustStartFollowing(t, n)
	c := v.File("en", secretWords, deliverytest.Contact("ana@example.org", ""))
	v.Act(c.ID, deliverytest.ToAnswer(answer)...)
	for range 3 {
		v.Act(c.ID, deliverytest.Action{Type: event.MessageSent, Data: event.Text{Text: "more"}})
	}
	ctx := context.Background()
	mu.Lock()
	now = now.Add(time.Second) // after the jobs were made
	mu.Unlock()
	if err := n.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.RunDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(mail.Mails()); got != 2 {
		t.Fatalf("%d mails in the first hour, want 2", got)
	}
	for range 3 {
		mu.Lock()
		now = now.Add(61 * time.Minute)
		mu.Unlock()
		if _, err := n.RunDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(mail.Mails()); got != 5 {
		t.Errorf("%d mails after three hours, want all 5", got)
	}
	deferred := 0
	for _, a := range attempts(t, v, c.ID) {
		if a.Outcome == delivery.Deferred {
			deferred++
		}
	}
	if deferred == 0 {
		t.Error("no deferred attempt in the audit trail")
	}
}

// TestRefusedAddressIsAuditedWithoutIt: a relay's permanent refusal is
// not retried, and the audit trail keeps its code, not the address it
// quotes.
func TestRefusedAddressIsAuditedWithoutIt(t *testing.T) {
	v := deliverytest.New(t)
	mail := notifytest.NewMailServer(t, nil)
	mail.Reject(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<nobody@example.org>: no such user"})
	n := MustNotifier(t, v, channels{mailAddr: mail.Addr})
	mustStartFollowing(t, n)
	c := v.File("en", secretWords, deliverytest.Contact("nobody@example.org", ""))
	v.Act(c.ID, deliverytest.Action{Type: event.Acknowledged})
	ctx := context.Background()
	n.CatchUp(ctx)
	for range 3 {
		n.RunDue(ctx)
	}
	as := attempts(t, v, c.ID)
	if len(as) != 1 || as[0].Outcome != delivery.Failed || as[0].Code != 550 || strings.Contains(as[0].Detail, "nobody") {
		t.Errorf("audit = %+v, want one failed attempt with code 550 and no address", as)
	}
}

func TestKindOf(t *testing.T) {
	staff := event.Actor{Kind: event.ActorStaff, ID: "a"}
	for _, tc := range []struct {
		typ   event.Type
		actor event.Actor
		want  notify.Kind
	}{
		{event.Acknowledged, staff, notify.Acknowledged},
		{event.Responded, staff, notify.Answered},
		{event.MessageSent, staff, notify.Messaged},
		{event.InfoRequested, staff, notify.Messaged},
		{event.Closed, staff, notify.Closed},
		{event.NoteAdded, staff, ""},
		{event.Assessed, staff, ""},
		{event.Escalated, event.Actor{Kind: event.ActorSystem, ID: "sla"}, ""},
		{event.InfoProvided, event.Actor{Kind: event.ActorCustomer}, ""},
		{event.SatisfactionRated, event.Actor{Kind: event.ActorCustomer}, ""},
		{event.Filed, event.Actor{Kind: event.ActorDevice, ID: "k"}, ""},
	} {
		got, ok := notify.KindOf(&event.Event{Type: tc.typ, Actor: tc.actor})
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("KindOf(%s by %s) = %q, %v; want %q", tc.typ, tc.actor.Kind, got, ok, tc.want)
		}
	}
}

func TestAddressNeedsConsent(t *testing.T) {
	c := complaint.Complaint{Contact: &complaint.Contact{Email: "a@example.org", Phone: "+441234567"}}
	if _, ok := notify.Address(c, notify.Email); ok {
		t.Error("an address without recorded consent is used")
	}
	c.Contact.ConsentAt, c.Contact.NoticeVersion = time.Now(), "1"
	if to, ok := notify.Address(c, notify.SMS); !ok || to != "+441234567" {
		t.Errorf("Address(sms) = %q, %v", to, ok)
	}
	c.Contact.Email = ""
	if _, ok := notify.Address(c, notify.Email); ok {
		t.Error("an empty address is used")
	}
}
