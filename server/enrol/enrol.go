// Package enrol owns device enrolment on the server (ARCHITECTURE.md, Sync
// guarantee 6): the one-time enrolment codes staff hand to a kiosk, the
// device credentials a code is exchanged for, and the check every device
// request makes with them (Authenticate; SyncAuth for the sync hub, which
// also says what the device may receive).
//
// Secrets never reach the store in the clear: codes and credential secrets
// are stored as SHA-256 hashes. A fast hash is right here, and a slow one
// (bcrypt, argon2) would only cost CPU on every connect: slow hashes exist to
// make guessing low-entropy human passwords expensive, but a code carries 80
// random bits and a secret 256, so a leaked hash cannot be reversed by
// guessing either way.
package enrol

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/textsafe"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// Code classifies an enrolment or authentication failure. The HTTP layer maps
// each to a status in one place; the sync endpoint maps them to a 401 or a
// close code.
type Code string

const (
	CodeRefused         Code = "enrolment_refused" // unknown or already used code
	CodeExpired         Code = "enrolment_expired" // a code past its expiry
	CodeDeviceTaken     Code = "device_id_taken"   // the proposed device id is enrolled already
	CodeInvalid         Code = "invalid_request"   // malformed input
	CodeUnauthenticated Code = "unauthenticated"   // no such device, or the wrong secret
	CodeRevoked         Code = "revoked"           // the device's credential was revoked
)

// Error is a failure with a message that is safe to show the client. Err,
// when set, is the cause for the log (and errors.Is), never for the client.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("enrol: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("enrol: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRevoked) match any *Error with the same code, so
// wrapping a sentinel with a cause keeps it recognisable.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the Code of the first *Error in err's chain, or "".
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

var (
	// ErrRefused is the answer for an unknown code and for a used one alike:
	// telling them apart would only help someone guessing.
	ErrRefused = &Error{Code: CodeRefused, Message: "This enrolment code is not valid. Ask for a new one."}
	// ErrExpired says the code was real but is too old, which staff can act
	// on (issue a new one) without it helping a guesser: a guess that hits an
	// expired 80-bit code is as unlikely as one that hits a live code.
	ErrExpired = &Error{Code: CodeExpired, Message: "This enrolment code has expired. Ask for a new one."}
	// ErrUnauthenticated is the one answer for an unknown device, a wrong
	// secret and a malformed credential, so a caller learns nothing about
	// which device ids exist.
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "device credential not accepted: enrol this kiosk"}
	// ErrRevoked is distinct so staff are told what to do. Its message is
	// short enough (<= 123 bytes) to be a websocket close reason.
	ErrRevoked = &Error{Code: CodeRevoked, Message: "revoked: ask staff to re-enrol this kiosk"}
)

// Lengths of the secrets.
const (
	codeSymbols  = 16 // 4 groups of 4 Crockford symbols: 80 bits
	codeGroup    = 4
	secretBytes  = 32 // 256 bits
	maxIDLen     = 128
	maxNameBytes = 128
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewCode returns a fresh enrolment code as staff type it:
// "XXXX-XXXX-XXXX-XXXX", 80 random bits in Crockford base32.
func NewCode() string {
	var b [codeSymbols * 5 / 8]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	var sb strings.Builder
	var acc uint32
	var bits uint
	n := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			if n > 0 && n%codeGroup == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(crockford[acc>>bits&31])
			n++
		}
	}
	return sb.String()
}

// NormalizeCode returns the canonical form of a typed code (16 upper-case
// symbols, no separators), folding case, spaces, dashes and Crockford's
// look-alikes (I and L read as 1, O as 0), so a code read over the phone
// still works. ok is false if it cannot be a code.
func NormalizeCode(s string) (canonical string, ok bool) {
	if len(s) > 64 {
		return "", false
	}
	out := make([]byte, 0, codeSymbols)
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'I' || r == 'L':
			r = '1'
		case r == 'O':
			r = '0'
		}
		if r > 0x7f || strings.IndexByte(crockford, byte(r)) < 0 {
			return "", false
		}
		out = append(out, byte(r))
	}
	if len(out) != codeSymbols {
		return "", false
	}
	return string(out), true
}

// hashCode is what the store keeps of a code: SHA-256 of its canonical form.
func hashCode(canonical string) []byte {
	h := sha256.Sum256([]byte("ombud enrolment code\x00" + canonical))
	return h[:]
}

// hashSecret is what the store keeps of a credential secret.
func hashSecret(secret []byte) []byte {
	h := sha256.Sum256(append([]byte("ombud device secret\x00"), secret...))
	return h[:]
}

// Grant is what an enrolment code makes of the device that redeems it: the
// branch it belongs to and its role (and, for a team terminal, its teams).
// The role is the operator's decision, never the device's.
type Grant struct {
	Branch string
	Role   device.Role
	Teams  []string
}

// Issue makes a one-time code that enrols one device as g says until
// now+ttl, records its hash, and returns the code (the only time it exists
// in the clear) and its expiry.
func Issue(ctx context.Context, store storage.Devices, g Grant, ttl time.Duration, now time.Time) (code string, expires time.Time, err error) {
	if ttl <= 0 {
		return "", time.Time{}, &Error{Code: CodeInvalid, Message: "the code's lifetime must be positive"}
	}
	if !g.Role.Valid() {
		return "", time.Time{}, &Error{Code: CodeInvalid, Message: fmt.Sprintf("role %q is not kiosk, staff or team", g.Role)}
	}
	if err := device.CheckTeams(g.Role, g.Teams); err != nil {
		return "", time.Time{}, &Error{Code: CodeInvalid, Message: err.Error()}
	}
	code = NewCode()
	canonical, _ := NormalizeCode(code)
	expires = now.Add(ttl)
	e := storage.Enrolment{Branch: g.Branch, CodeHash: hashCode(canonical), ExpiresAt: expires, Role: g.Role, Teams: g.Teams}
	if err := store.CreateEnrolment(ctx, e); err != nil {
		return "", time.Time{}, fmt.Errorf("issue enrolment code for branch %s: %w", g.Branch, err)
	}
	return code, expires, nil
}

// Request is what a device sends to enrol.
type Request struct {
	Code       string `json:"code"`
	DeviceName string `json:"device_name"`
	// DeviceID optionally proposes the id the device already uses locally
	// (its events name it), so it need not change. Empty: the server makes one.
	DeviceID string `json:"device_id,omitempty"`
}

// Enrolment is what a redeemed code gives the device.
type Enrolment struct {
	Device storage.Device
	// Credential is "<device-id>.<secret>", the bearer token for the sync
	// endpoint. It exists in the clear only here, on its way to the device.
	Credential string
}

// Redeem spends req.Code and enrols a device: it makes the credential,
// stores only its hash, and returns the device and the credential.
// Errors: ErrRefused (unknown or used code), ErrExpired, CodeInvalid,
// CodeDeviceTaken; anything else is internal.
func Redeem(ctx context.Context, store storage.Devices, req Request, now time.Time) (Enrolment, error) {
	canonical, ok := NormalizeCode(req.Code)
	if !ok {
		// Same answer as an unknown code: the client typed something that is
		// not a live code either way.
		return Enrolment{}, ErrRefused
	}
	if err := validName(req.DeviceName); err != nil {
		return Enrolment{}, err
	}
	id := req.DeviceID
	if id == "" {
		id = uid.NewAt(now)
	} else if !ValidDeviceID(id) {
		return Enrolment{}, &Error{Code: CodeInvalid, Message: "device_id must be 1-128 letters, digits, '_' or '-'"}
	}
	secret := make([]byte, secretBytes)
	rand.Read(secret)
	d, err := store.RedeemEnrolment(ctx, hashCode(canonical), now, id, hashSecret(secret))
	switch storage.ErrorCode(err) {
	case "":
		return Enrolment{Device: d, Credential: id + "." + base64.RawURLEncoding.EncodeToString(secret)}, nil
	case storage.NotFound:
		return Enrolment{}, ErrRefused
	case storage.Expired:
		return Enrolment{}, ErrExpired
	case storage.Conflict:
		// Conflict means a used code or a taken device id. The code is
		// checked first and the transaction rolled back, so if the device
		// exists now, a proposed id clashed (and the code is still live).
		if req.DeviceID != "" {
			if _, derr := store.Device(ctx, id); derr == nil {
				return Enrolment{}, &Error{Code: CodeDeviceTaken, Err: err,
					Message: "a device with this id is already enrolled: enrol it under a new id"}
			}
		}
		return Enrolment{}, &Error{Code: CodeRefused, Message: ErrRefused.Message, Err: err}
	default:
		return Enrolment{}, fmt.Errorf("redeem enrolment: %w", err)
	}
}

func validName(name string) error {
	if name == "" || len(name) > maxNameBytes {
		return &Error{Code: CodeInvalid, Message: "device_name is required (at most 128 bytes)"}
	}
	// Control and format characters would reach logs and staff screens:
	// the same rule as every other text (shared/textsafe).
	if !textsafe.IsName(name) {
		return &Error{Code: CodeInvalid, Message: "device_name must not contain control or format characters"}
	}
	return nil
}

// ValidDeviceID reports whether id is usable as a device id: 1-128 bytes of
// [A-Za-z0-9_-] (docs/SYNC.md section 2), so the first '.' of a credential
// always ends it.
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > maxIDLen {
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

// dummyHash is compared against when the device is unknown, so an unknown
// device costs the same work as a wrong secret.
var dummyHash = hashSecret(make([]byte, secretBytes))

// Authenticate checks an Authorization header value, "Bearer
// <device-id>.<secret>", and returns the device it names. A malformed
// header, an unknown device and a wrong secret all give ErrUnauthenticated;
// a revoked device gives ErrRevoked (checked only after the secret matched,
// so it does not reveal that an id exists). A storage failure is returned
// wrapped, with neither code: the caller should answer "try again" (503 or
// close 1011), not "enrol again".
func Authenticate(ctx context.Context, store storage.Devices, authorizationHeader string) (storage.Device, error) {
	scheme, token, ok := strings.Cut(authorizationHeader, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return storage.Device{}, ErrUnauthenticated
	}
	id, enc, ok := strings.Cut(strings.TrimSpace(token), ".")
	if !ok || !ValidDeviceID(id) {
		return storage.Device{}, ErrUnauthenticated
	}
	secret, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(secret) != secretBytes {
		return storage.Device{}, ErrUnauthenticated
	}
	got := hashSecret(secret)
	d, err := store.Device(ctx, id)
	switch storage.ErrorCode(err) {
	case "":
	case storage.NotFound:
		subtle.ConstantTimeCompare(got, dummyHash)
		return storage.Device{}, ErrUnauthenticated
	default:
		return storage.Device{}, fmt.Errorf("authenticate device %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare(got, d.CredentialHash) != 1 {
		return storage.Device{}, ErrUnauthenticated
	}
	if d.Revoked() {
		return storage.Device{}, ErrRevoked
	}
	return d, nil
}

// SyncAuth authenticates sync connections for the hub (hub.Authenticator):
// the credential in the Authorization header, and the scopes the device's
// role gives it (Scopes).
type SyncAuth struct{ Store storage.Devices }

var _ hub.Authenticator = SyncAuth{}

// Authenticate implements hub.Authenticator.
func (a SyncAuth) Authenticate(r *http.Request) (hub.Device, error) {
	d, err := Authenticate(r.Context(), a.Store, r.Header.Get("Authorization"))
	switch {
	case ErrorCode(err) != "":
		return hub.Device{}, fmt.Errorf("%w: %w", hub.ErrRefused, err)
	case err != nil:
		return hub.Device{}, err
	}
	return hub.Device{ID: d.ID, Scopes: Scopes(d), Role: string(d.Role)}, nil
}

// Scopes is what a device may receive, by its role: a customer kiosk
// nothing (it only sends, so whoever takes it finds no other customer's
// complaint), a staff terminal its branch's queue, a team terminal its
// teams' queues.
func Scopes(d storage.Device) []string {
	switch d.Role {
	case device.Staff:
		return []string{wire.BranchScope(d.Branch)}
	case device.Team:
		out := make([]string, len(d.Teams))
		for i, t := range d.Teams {
			out[i] = wire.TeamScope(t)
		}
		return out
	}
	return nil
}

// Revoke revokes a device now. Live sync connections learn of it from the
// hub's revocation check (within its interval, or at once through
// hub.Revoke in the same process).
func Revoke(ctx context.Context, store storage.Devices, deviceID string, now time.Time) error {
	if err := store.RevokeDevice(ctx, deviceID, now); err != nil {
		return fmt.Errorf("revoke device %s: %w", deviceID, err)
	}
	return nil
}
