// Package sms sends notifications as text messages through an HTTP gateway
// the operator runs or rents (notify.Channel): Ombud POSTs one JSON
// request per message to a URL, and a small adapter there speaks to the
// SMS provider. The contract is in docs/API.md ("SMS gateway"):
//
//	POST <url>
//	Content-Type: application/json
//	Idempotency-Key: <key>          (the same on every attempt)
//	Authorization: Bearer <token>   (when --sms-gateway-token is set)
//
//	{"id": "<key>", "to": "+33612345678", "text": "...", "language": "fr"}
//
// A 2xx answer means accepted. 408, 425, 429 and 5xx are retried (after
// Retry-After, when given); any other 4xx is a refusal not retried (a number
// the provider cannot reach).
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"ombud/server/delivery"
	"ombud/server/notify"
)

var _ notify.Channel = (*Gateway)(nil)

// Request is the JSON body the gateway receives.
type Request struct {
	ID       string `json:"id"`       // the idempotency key: drop a repeat
	To       string `json:"to"`       // as the customer gave it, digits and a leading + only
	Text     string `json:"text"`     // UTF-8, links included
	Language string `json:"language"` // the text's language
}

// Config configures a Gateway. URL is required.
type Config struct {
	URL   string
	Token string // sent as a bearer token when set
	// Client sends the requests (default: a client with Timeout).
	Client  *http.Client
	Timeout time.Duration // one request (DefaultTimeout)
}

// DefaultTimeout bounds one request to the gateway.
const DefaultTimeout = 15 * time.Second

// Gateway posts text messages to the operator's SMS gateway.
type Gateway struct {
	cfg Config
}

// New checks cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sms: gateway URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Gateway{cfg: cfg}, nil
}

// Send implements notify.Channel.
func (g *Gateway) Send(ctx context.Context, m notify.Message) error {
	to := notify.Normalize(notify.SMS, m.To)
	if len(to) < 6 {
		return delivery.Permanent(0, "the phone number cannot be used")
	}
	body, err := json.Marshal(Request{ID: m.Key, To: to, Text: m.Text, Language: m.Language})
	if err != nil {
		return delivery.Permanent(0, "the request cannot be written")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return delivery.Permanent(0, "the gateway URL cannot be used")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.Key)
	req.Header.Set("User-Agent", "Ombud-SMS/1")
	if g.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.cfg.Token)
	}
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return delivery.Temporary(0, "the SMS gateway did not answer in time", time.Time{})
		}
		return delivery.Temporary(0, "the SMS gateway cannot be reached", time.Time{})
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return delivery.Temporary(code, "the SMS gateway answered "+resp.Status, retryAfter(resp.Header.Get("Retry-After")))
	default:
		return delivery.Permanent(code, "the SMS gateway refused the message: "+resp.Status)
	}
}

func retryAfter(v string) time.Time {
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Now().Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return time.Time{}
}
