package email_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"ombud/server/delivery"
	"ombud/server/notify"
	"ombud/server/notify/email"
	"ombud/server/notify/notifytest"
)

var msg = notify.Message{Key: "e1/email", To: "ana@example.org", Language: "fr", Subject: "Réclamation : reçue",
	Text: "Bonjour,\n.\nUne ligne qui commence par un point.\n", Unsubscribe: "https://ombud.example/unsubscribe/x?lang=fr"}

// TestTLSModes: auto uses STARTTLS when the relay offers it and plain SMTP
// when it does not; starttls refuses a relay that does not offer it.
func TestTLSModes(t *testing.T) {
	tlsCfg, pool := notifytest.SelfSigned(t)
	withTLS := notifytest.NewMailServer(t, tlsCfg)
	plain := notifytest.NewMailServer(t, nil)
	send := func(addr string, mode email.TLSMode) error {
		s, err := email.New(email.Config{Addr: addr, From: "Ombud <ombud@bank.example>", TLS: mode,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return s.Send(context.Background(), msg)
	}
	if err := send(withTLS.Addr, email.Auto); err != nil {
		t.Fatal(err)
	}
	if err := send(plain.Addr, email.Auto); err != nil {
		t.Fatal(err)
	}
	var de *delivery.Error
	if err := send(plain.Addr, email.StartTLS); !errors.As(err, &de) || de.Outcome != delivery.Retry {
		t.Errorf("starttls against a relay without it = %v, want a retry", err)
	}
	if m := withTLS.Mails(); len(m) != 1 || !m[0].TLS {
		t.Errorf("relay offering STARTTLS got %+v, want one mail over TLS", m)
	}
	m := plain.Mails()
	if len(m) != 1 || m[0].TLS {
		t.Fatalf("plain relay got %d mails", len(m))
	}
	if m[0].Subject != msg.Subject || m[0].Text != strings.ReplaceAll(msg.Text, "\r\n", "\n") {
		t.Errorf("mail = %q\n%q", m[0].Subject, m[0].Text)
	}
}

func TestBadAddressIsRefusedForGood(t *testing.T) {
	s, err := email.New(email.Config{Addr: "127.0.0.1:1", From: "ombud@bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"not an address", "a@b.example\r\nBcc: x@y.example"} {
		m := msg
		m.To = to
		var de *delivery.Error
		if err := s.Send(context.Background(), m); !errors.As(err, &de) || de.Outcome != delivery.Failed {
			t.Errorf("Send to %q = %v, want a permanent failure", to, err)
		}
	}
}
