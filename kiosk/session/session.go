// Package session owns a staff terminal's online sign-in: it asks the
// central server to check a person's staff id and PIN and start a session
// (POST /api/v1/staff/sessions, docs/API.md), and ends the session at
// sign-out (DELETE). The server attributes the staff actions the terminal
// pushes to the confirmed session they fall in; actions of a person signed
// in offline (kiosk/store/signin, when the server cannot be reached) are
// kept as offline, and refused past the server's bound.
//
// Answers are sorted for the screen: a refused PIN is
// staff.ErrWrongCredentials and a lock-out *staff.LockedError, as offline;
// a server that cannot be reached (network, time-out, 5xx) is
// ErrUnreachable, the one case where the terminal may sign in offline;
// every other refusal (the device revoked, not a staff terminal, too many
// attempts) is an *Error with the server's message.
package session

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
	"strings"
	"time"

	"ombud/shared/staff"
)

// Path is the server's sessions endpoint, relative to its base URL.
const Path = "/api/v1/staff/sessions"

// DefaultTimeout bounds a sign-in: a person waits for it at the screen,
// and past it the terminal signs them in offline.
const DefaultTimeout = 4 * time.Second

// maxAnswer bounds what is read of an answer.
const maxAnswer = 64 << 10

// Config configures a Client.
type Config struct {
	ServerURL     string // the server's base URL, http(s)://host[:port][/prefix]
	Authorization string // the device's Authorization header value (enrol.Credential.AuthorizationHeader)
	// Timeout bounds each request (DefaultTimeout when zero); the caller's
	// context may end it sooner.
	Timeout    time.Duration
	HTTPClient *http.Client     // http.DefaultClient's transport when nil
	Now        func() time.Time // when a lock-out ends is now plus Retry-After; time.Now when nil
}

// Client signs staff in and out with the server. Safe for concurrent use.
type Client struct {
	cfg  Config
	base string
}

// Session is a sign-in the server confirmed.
type Session struct {
	ID        string
	StaffID   string // as the server normalised it
	ExpiresAt time.Time
}

// ErrUnreachable wraps the failures that mean the server cannot answer
// now: a network error, a time-out, a 5xx. The terminal may then sign
// the person in against its own copy of the directory.
var ErrUnreachable = errors.New("the server is out of reach")

// Error is the server refusing the request for a reason other than the
// person's PIN: the device's credential (401 unauthenticated or
// revoked), its role (403 forbidden), too many attempts (429
// rate_limited), a request it could not read. Signing in offline instead
// would get round the refusal, so the terminal does not.
type Error struct {
	Status     int
	Code       string        // the server's error code; "" if it sent none
	Message    string        // the server's message, for staff: clean it before showing it
	RetryAfter time.Duration // from Retry-After, when sent
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("the server refused (HTTP %d %s)", e.Status, e.Code)
	}
	return e.Message
}

// The server's error codes this package sorts.
const (
	codeSignInRefused = "sign_in_refused"
	codeLocked        = "locked"
)

// New makes a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("session: server URL %q: want http(s)://host", cfg.ServerURL)
	}
	if cfg.Authorization == "" {
		return nil, errors.New("session: the device credential is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg, base: strings.TrimSuffix(u.String(), "/") + Path}, nil
}

// SignIn asks the server to check staffID and pin and start a session.
// Errors: staff.ErrWrongCredentials (wrong id or PIN, an account unknown,
// of another branch or revoked: the server gives one answer for all),
// *staff.LockedError (too many wrong PINs: until when the server says),
// ErrUnreachable (wrapped: sign in offline), *Error (refused for another
// reason: do not sign in offline).
func (c *Client) SignIn(ctx context.Context, staffID, pin string) (Session, error) {
	body, err := json.Marshal(struct {
		StaffID string `json:"staff_id"`
		PIN     string `json:"pin"`
	}{staffID, pin})
	if err != nil {
		return Session{}, err
	}
	resp, err := c.do(ctx, http.MethodPost, c.base, body)
	if err != nil {
		return Session{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return Session{}, fmt.Errorf("sign in: %w: %w", ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return Session{}, c.refusal(resp, raw)
	}
	var a struct {
		Session   string    `json:"session"`
		StaffID   string    `json:"staff_id"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || a.Session == "" || a.StaffID == "" || a.ExpiresAt.IsZero() {
		// A server that says yes in a form we cannot read: it is not
		// out of reach, and its yes cannot be used.
		return Session{}, &Error{Status: resp.StatusCode, Message: "The server's answer to the sign-in could not be read."}
	}
	return Session{ID: a.Session, StaffID: a.StaffID, ExpiresAt: a.ExpiresAt}, nil
}

// SignOut ends the session id on the server. A session the server does
// not know (ended already, expired, or of a server restored from a
// backup) is ended as far as it is concerned: nil.
func (c *Client) SignOut(ctx context.Context, id string) error {
	resp, err := c.do(ctx, http.MethodDelete, c.base+"/"+url.PathEscape(id), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
		return nil
	}
	return c.refusal(resp, raw)
}

// do sends one request under the client's time-out; failures to get an
// answer are ErrUnreachable.
func (c *Client) do(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", c.cfg.Authorization)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("%s %s: %w: %w", method, Path, ErrUnreachable, err)
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose ends the request's context once its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// refusal sorts an answer that is not a success.
func (c *Client) refusal(resp *http.Response, raw []byte) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body) // a body that is not ours: the status decides
	e := &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("%w: HTTP %d %s", ErrUnreachable, resp.StatusCode, e.Code)
	case resp.StatusCode == http.StatusForbidden && e.Code == codeSignInRefused:
		return staff.ErrWrongCredentials
	case resp.StatusCode == http.StatusTooManyRequests && e.Code == codeLocked:
		wait := e.RetryAfter
		if wait <= 0 {
			wait = staff.DefaultLockout.Duration
		}
		return &staff.LockedError{Until: c.cfg.Now().Add(wait)}
	}
	return e
}

// retryAfter reads a Retry-After in seconds (the server sends no dates).
func retryAfter(v string) time.Duration {
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || secs < 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}
