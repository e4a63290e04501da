// Package email sends notifications by SMTP (notify.Channel): to the
// operator's mail relay, with STARTTLS whenever the relay offers it (or
// required, or implicit TLS), and PLAIN authentication only over TLS or to
// a relay on this machine. Each message is plain text in UTF-8, with
// List-Unsubscribe headers (RFC 2369, RFC 8058 one-click) and a Message-ID
// derived from the idempotency key, so a resend after a crash carries the
// same id.
//
// Errors name SMTP reply codes, never the recipient: a relay's refusal
// often quotes the address.
package email

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"ombud/server/delivery"
	"ombud/server/notify"
)

var _ notify.Channel = (*Sender)(nil)

// TLSMode says how the connection to the relay is protected.
type TLSMode string

const (
	// Auto uses STARTTLS when the relay offers it, plain SMTP otherwise.
	Auto TLSMode = "auto"
	// StartTLS requires STARTTLS: a relay that does not offer it gets
	// nothing.
	StartTLS TLSMode = "starttls"
	// Implicit is TLS from the first byte (port 465).
	Implicit TLSMode = "tls"
	// None never encrypts (a relay on this machine).
	None TLSMode = "none"
)

// ParseTLSMode reads a --smtp-tls value.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(s); m {
	case Auto, StartTLS, Implicit, None:
		return m, nil
	}
	return "", fmt.Errorf("%q: want auto, starttls, tls or none", s)
}

// Config configures a Sender. Addr and From are required.
type Config struct {
	Addr string // host:port of the relay
	// From is the sender, e.g. "Complaints <complaints@bank.example>".
	From               string
	Username, Password string // PLAIN authentication, when Username is set
	TLS                TLSMode
	// TLSConfig, when set, is used for TLS (tests trust their own
	// certificate with it); ServerName defaults to the relay's host.
	TLSConfig *tls.Config
	// HelloName is the name given in EHLO (default "localhost").
	HelloName string
	// Timeout bounds one whole message (DefaultTimeout).
	Timeout time.Duration
}

// DefaultTimeout bounds sending one message.
const DefaultTimeout = 60 * time.Second

// Sender sends e-mail through one relay.
type Sender struct {
	cfg  Config
	host string
	from *mail.Address
}

// New checks cfg and returns a Sender; it connects to nothing.
func New(cfg Config) (*Sender, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("email: relay address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: sender %q: %v", cfg.From, err)
	}
	if cfg.TLS == "" {
		cfg.TLS = Auto
	}
	if _, err := ParseTLSMode(string(cfg.TLS)); err != nil {
		return nil, fmt.Errorf("email: TLS mode %w", err)
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Sender{cfg: cfg, host: host, from: from}, nil
}

// Send implements notify.Channel.
func (s *Sender) Send(ctx context.Context, m notify.Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil || strings.ContainsAny(to.Address, "\r\n") {
		return delivery.Permanent(0, "the e-mail address cannot be used")
	}
	msg, err := s.compose(m, to.Address)
	if err != nil {
		return delivery.Permanent(0, "the message cannot be written: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return s.deliver(ctx, to.Address, msg)
}

func (s *Sender) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		c = s.cfg.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// deliver speaks SMTP to the relay.
func (s *Sender) deliver(ctx context.Context, to string, msg []byte) (err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return delivery.Temporary(0, "the mail relay cannot be reached", time.Time{})
	}
	// The context's end cuts the connection, whatever SMTP is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if s.cfg.TLS == Implicit {
		conn = tls.Client(conn, s.tlsConfig())
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return smtpError("EHLO", err)
	}
	if s.cfg.TLS == Auto || s.cfg.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return smtpError("STARTTLS", err)
			}
		} else if s.cfg.TLS == StartTLS {
			return delivery.Temporary(0, "the mail relay does not offer STARTTLS, which --smtp-tls starttls requires", time.Time{})
		}
	}
	if s.cfg.Username != "" {
		// PlainAuth itself refuses to send the password in the clear
		// to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("end of DATA", err)
	}
	// Accepted once the end of DATA is acknowledged; QUIT is courtesy.
	_ = c.Quit()
	return nil
}

// smtpError classifies a failure at step: a 5xx reply is permanent, a 4xx
// or a broken connection is retried. Only the codes are kept: replies
// often quote the recipient.
func smtpError(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		detail := fmt.Sprintf("the mail relay refused %s: %d", step, te.Code)
		if f := strings.Fields(te.Msg); len(f) > 0 && enhancedCode(f[0]) {
			detail += " " + f[0]
		}
		if te.Code >= 500 {
			return delivery.Permanent(te.Code, detail)
		}
		return delivery.Temporary(te.Code, detail, time.Time{})
	}
	return delivery.Temporary(0, "SMTP failed at "+step, time.Time{})
}

// enhancedCode reports whether s looks like an RFC 3463 status (5.1.1).
func enhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// compose writes the message: headers, then the text in quoted-printable.
func (s *Sender) compose(m notify.Message, to string) ([]byte, error) {
	if strings.ContainsAny(m.Unsubscribe+m.Language+m.Key, "\r\n<>") {
		return nil, errors.New("a header value has a line break")
	}
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	sum := sha256.Sum256([]byte(m.Key))
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", s.from.String())
	h("To", "<"+to+">")
	// Q-encoding leaves no line break in the subject, whatever it holds.
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+hex.EncodeToString(sum[:16])+"@"+domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	if m.Language != "" {
		h("Content-Language", m.Language)
	}
	// Not a person's mail: out-of-office replies stay away (RFC 3834).
	h("Auto-Submitted", "auto-generated")
	if m.Unsubscribe != "" {
		h("List-Unsubscribe", "<"+m.Unsubscribe+">")
		h("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
