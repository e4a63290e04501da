// Package notifytest runs the receiving ends of notifications inside a
// test: a real SMTP server (github.com/emersion/go-smtp) that keeps every
// message it accepts, and an SMS gateway (httptest) that keeps every
// request, either of which can be told to fail. For tests only.
package notifytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"ombud/server/notify/sms"
)

// Mail is one message the SMTP server accepted.
type Mail struct {
	From    string
	To      []string
	TLS     bool // delivered over a TLS connection (STARTTLS)
	Header  mail.Header
	Subject string // decoded
	Text    string // the body, quoted-printable decoded
	Raw     []byte
}

// MailServer is an SMTP server on a loopback port.
type MailServer struct {
	Addr string
	srv  *smtp.Server

	mu    sync.Mutex
	mails []Mail
	// reject, if set, answers RCPT TO with this error.
	reject error
}

// NewMailServer starts an SMTP server on 127.0.0.1:0; with tlsConfig it
// offers STARTTLS. It stops at the test's end.
func NewMailServer(tb testing.TB, tlsConfig *tls.Config) *MailServer {
	tb.Helper()
	m := &MailServer{}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, tlsOn := c.TLSConnectionState()
		return &session{m: m, tls: tlsOn}, nil
	}))
	s.Domain = "mail.test"
	s.TLSConfig = tlsConfig
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.MaxMessageBytes = 1 << 20
	s.AllowInsecureAuth = false
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	m.Addr, m.srv = ln.Addr().String(), s
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	tb.Cleanup(func() { s.Close(); <-done })
	return m
}

// Reject makes every RCPT TO fail with err (nil accepts again), e.g.
// &smtp.SMTPError{Code: 450, Message: "try later"}.
func (m *MailServer) Reject(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reject = err
}

// Mails returns the messages accepted so far.
func (m *MailServer) Mails() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mails...)
}

type session struct {
	m    *MailServer
	tls  bool
	from string
	to   []string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.mu.Lock()
	err := s.m.reject
	s.m.mu.Unlock()
	if err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable message"}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "bad quoted-printable"}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "bad subject"}
	}
	s.m.mu.Lock()
	s.m.mails = append(s.m.mails, Mail{From: s.from, To: s.to, TLS: s.tls, Header: msg.Header, Subject: subject,
		Text: string(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))), Raw: raw})
	s.m.mu.Unlock()
	return nil
}

// SelfSigned makes a certificate for 127.0.0.1 and localhost: the server's
// TLS configuration, and the pool a client trusts it with.
func SelfSigned(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ombud test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// SMSRequest is one request the gateway received.
type SMSRequest struct {
	Body          sms.Request
	Key           string // Idempotency-Key
	Authorization string
	Status        int // what the gateway answered
}

// SMSGateway is an SMS gateway on a loopback port. By default it accepts
// everything (202); Fail makes the next n requests answer status.
type SMSGateway struct {
	URL string

	mu       sync.Mutex
	requests []SMSRequest
	failN    int
	failWith int
	// Hold, when set, is called inside each request before it is
	// answered (a test blocks it to stop the server mid-send).
	Hold func(r *http.Request)
}

// NewSMSGateway starts a gateway; it stops at the test's end.
func NewSMSGateway(tb testing.TB) *SMSGateway {
	tb.Helper()
	g := &SMSGateway{}
	srv := httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(srv.Close)
	g.URL = srv.URL + "/send"
	return g
}

// Fail makes the next n requests answer status.
func (g *SMSGateway) Fail(n, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.failN, g.failWith = n, status
}

// Requests returns the requests so far.
func (g *SMSGateway) Requests() []SMSRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]SMSRequest(nil), g.requests...)
}

// Accepted returns the distinct messages accepted, by idempotency key, as
// a gateway that drops repeats would pass them on.
func (g *SMSGateway) Accepted() map[string]sms.Request {
	out := map[string]sms.Request{}
	for _, r := range g.Requests() {
		if r.Status/100 == 2 {
			out[r.Key] = r.Body
		}
	}
	return out
}

func (g *SMSGateway) serve(w http.ResponseWriter, r *http.Request) {
	var body sms.Request
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	status := http.StatusAccepted
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || dec.Decode(&body) != nil {
		status = http.StatusBadRequest
	}
	if g.Hold != nil {
		g.Hold(r)
		if r.Context().Err() != nil {
			return // the client went away: nothing answered
		}
	}
	g.mu.Lock()
	if status == http.StatusAccepted && g.failN > 0 {
		g.failN--
		status = g.failWith
	}
	g.requests = append(g.requests, SMSRequest{Body: body, Key: r.Header.Get("Idempotency-Key"), Authorization: r.Header.Get("Authorization"), Status: status})
	g.mu.Unlock()
	w.WriteHeader(status)
}
