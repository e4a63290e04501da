// Package enrol owns the device side of enrolment: exchanging the one-time
// code staff type in for a device credential (POST /api/v1/enrol on the
// server), keeping that credential in the kiosk's data directory, and the
// `kiosk enrol` command that does both. The credential is what the sync
// client presents (AuthorizationHeader); the code prefix it carries must be
// adopted by the kiosk's store (store.SetPrefix) so its tracking codes are
// unique across the fleet.
package enrol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"ombud/shared/device"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
)

// Credential is what enrolment gives a device.
type Credential struct {
	ServerURL  string // the server it enrolled with, e.g. https://ombud.example.org
	DeviceID   string
	Secret     string // base64url; with DeviceID, the bearer token
	Branch     string // branch id
	BranchName string
	CodePrefix string // tracking-code prefix assigned by the server
	// Role is what the server enrolled the device as (the operator chose it
	// with the code): a customer kiosk, a staff or a team terminal. "" for a
	// credential from before roles existed. The server enforces it; the
	// device uses it to refuse what it is not, and to ask for its scopes.
	Role  device.Role
	Teams []string // the teams a team terminal serves
	// TrackingURL is the base of the tracking links the device prints, as
	// the server announced it at enrolment; "" from an older server.
	TrackingURL string
	EnrolledAt  time.Time
}

// AuthorizationHeader is the value of the Authorization header for the
// sync endpoint (docs/SYNC.md section 2).
func (c Credential) AuthorizationHeader() string {
	return "Bearer " + c.DeviceID + "." + c.Secret
}

// String hides the secret, so a credential printed or logged by mistake
// does not leak it.
func (c Credential) String() string {
	return fmt.Sprintf("device %s of branch %s at %s (prefix %s)", c.DeviceID, c.Branch, c.ServerURL, c.CodePrefix)
}

// LogValue hides the secret from slog.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", c.DeviceID), slog.String("branch", c.Branch),
		slog.String("server", c.ServerURL), slog.String("prefix", c.CodePrefix))
}

// Error is the server refusing an enrolment, with a message for staff.
type Error struct {
	Status  int    // HTTP status
	Code    string // the server's error code, e.g. "enrolment_expired"; "" if it sent none
	Message string // what to show staff
}

func (e *Error) Error() string { return e.Message }

// Is matches sentinels by code, so errors.Is(err, ErrCodeExpired) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrCodeExpired = &Error{Code: "enrolment_expired"}
	ErrCodeRefused = &Error{Code: "enrolment_refused"}
	ErrRateLimited = &Error{Code: "rate_limited"}
)

// maxResponse bounds what we read from the server: an answer is a few
// hundred bytes, and a misconfigured URL could point at anything.
const maxResponse = 64 << 10

// Enrol exchanges a one-time code for a credential. The server makes the
// device id. Errors are written for staff: "the server refused the code: it
// has expired; ask for a new one".
func Enrol(ctx context.Context, client *http.Client, serverURL, code, deviceName string) (Credential, error) {
	return EnrolAs(ctx, client, serverURL, code, deviceName, "")
}

// EnrolAs is Enrol proposing deviceID, the id the kiosk already uses
// locally, so events it filed before enrolment keep naming the same device.
// A server that already has that id refuses (HTTP 409); enrol under a new
// id (Enrol) then.
func EnrolAs(ctx context.Context, client *http.Client, serverURL, code, deviceName, deviceID string) (Credential, error) {
	base, err := parseServerURL(serverURL)
	if err != nil {
		return Credential{}, err
	}
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	body, err := json.Marshal(struct {
		Code       string `json:"code"`
		DeviceName string `json:"device_name"`
		DeviceID   string `json:"device_id,omitempty"`
	}{strings.TrimSpace(code), deviceName, deviceID})
	if err != nil {
		return Credential{}, fmt.Errorf("enrol: %w", err)
	}
	endpoint := base.JoinPath("api/v1/enrol").String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Credential{}, fmt.Errorf("enrol: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Credential{}, fmt.Errorf("cannot reach the server at %s: %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return Credential{}, fmt.Errorf("reading the server's answer from %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Credential{}, refusal(resp, raw)
	}
	var ok struct {
		DeviceID    string   `json:"device_id"`
		Credential  string   `json:"credential"`
		Branch      string   `json:"branch"`
		BranchName  string   `json:"branch_name"`
		CodePrefix  string   `json:"code_prefix"`
		Role        string   `json:"role"`
		Teams       []string `json:"teams"`
		TrackingURL string   `json:"tracking_url"`
	}
	if err := json.Unmarshal(raw, &ok); err != nil {
		return Credential{}, fmt.Errorf("the server at %s sent an answer this kiosk does not understand (%v): is the address right?", base, err)
	}
	id, secret, found := strings.Cut(ok.Credential, ".")
	c := Credential{
		ServerURL:  base.String(),
		DeviceID:   ok.DeviceID,
		Secret:     secret,
		Branch:     ok.Branch,
		BranchName: ok.BranchName,
		CodePrefix: ok.CodePrefix,
		Role:       device.Role(ok.Role),
		Teams:      ok.Teams,
		EnrolledAt: time.Now().UTC(),
	}
	if u, err := url.Parse(ok.TrackingURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		c.TrackingURL = strings.TrimSuffix(ok.TrackingURL, "/")
	}
	if !found || id != ok.DeviceID {
		return Credential{}, fmt.Errorf("the server at %s sent a credential that does not name device %q", base, ok.DeviceID)
	}
	if err := c.validate(); err != nil {
		return Credential{}, fmt.Errorf("the server at %s sent an unusable credential: %w", base, err)
	}
	return c, nil
}

// refusal turns a non-200 answer into an error for staff.
func refusal(resp *http.Response, raw []byte) error {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(raw, &body) == nil {
		e.Code = body.Error.Code
	}
	switch e.Code {
	case "enrolment_expired":
		e.Message = "the server refused the code: it has expired; ask for a new one"
	case "enrolment_refused":
		e.Message = "the server refused the code: it is not valid (mistyped, already used, or never issued); ask for a new one"
	case "rate_limited":
		e.Message = "the server refused: too many attempts from this kiosk; wait a minute and try again"
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			e.Message = fmt.Sprintf("the server refused: too many attempts from this kiosk; try again in %s seconds", ra)
		}
	case "device_id_taken":
		e.Message = "the server already has a device with this kiosk's id: enrol it under a new id"
	case "":
		// Not our server's JSON: a proxy, a wrong address, a server down.
		e.Message = fmt.Sprintf("the server answered %s: check the address, or try again later", resp.Status)
	default:
		e.Message = fmt.Sprintf("the server refused (%s): %s", resp.Status, oneLine(body.Error.Message))
	}
	return e
}

// oneLine keeps a server-sent message printable on a terminal: no control
// or format characters (it could carry escape sequences), one line, at most
// 200 bytes.
func oneLine(s string) string {
	s = textsafe.Line(s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "..."
	}
	return s
}

// parseServerURL accepts http:// and https:// addresses (with an optional
// path, for a server behind a reverse proxy under a prefix).
func parseServerURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("server address %q: want http://HOST[:PORT] or https://HOST[:PORT]", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// validate checks a credential is complete and well formed, whether it came
// from the server or from the file.
func (c Credential) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"server_url", c.ServerURL}, {"device_id", c.DeviceID}, {"secret", c.Secret},
		{"branch", c.Branch}, {"code_prefix", c.CodePrefix},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if !validID(c.DeviceID) {
		return fmt.Errorf("device id %q is not 1-128 letters, digits, '_' or '-'", c.DeviceID)
	}
	if !trackcode.ValidPrefix(c.CodePrefix) {
		return fmt.Errorf("code prefix %q is not %d Crockford symbols", c.CodePrefix, trackcode.PrefixLen)
	}
	if c.Role != "" {
		if !c.Role.Valid() {
			return fmt.Errorf("role %q is not kiosk, staff or team", c.Role)
		}
		if err := device.CheckTeams(c.Role, c.Teams); err != nil {
			return err
		}
	}
	if _, err := parseServerURL(c.ServerURL); err != nil {
		return err
	}
	return nil
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// errNotEnrolled is returned by helpers that need a credential.
var errNotEnrolled = errors.New("this kiosk is not enrolled: run `kiosk enrol --server URL --code CODE`")
