package enrol_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/device"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// staffTerminal is the grant most tests enrol with: a staff terminal of
// branch main, which may receive its branch's queue.
var staffTerminal = enrol.Grant{Branch: "main", Role: device.Staff}

// MustOpen opens a real SQLite store in a temp dir with one branch, "main".
func MustOpen(tb testing.TB) (*sqlite.Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "server.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.CreateBranch(context.Background(), "main", "Main Street"); err != nil {
		tb.Fatalf("create branch: %v", err)
	}
	return st, path
}

// MustEnrol issues a code and redeems it.
func MustEnrol(tb testing.TB, st storage.Devices) enrol.Enrolment {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	code, _, err := enrol.Issue(ctx, st, staffTerminal, time.Hour, now)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "front desk"}, now)
	if err != nil {
		tb.Fatalf("Redeem: %v", err)
	}
	return en
}

func TestNewCodeShapeAndNormalize(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)
	seen := map[string]bool{}
	for range 200 {
		c := enrol.NewCode()
		if !shape.MatchString(c) {
			t.Fatalf("NewCode() = %q, want 4 groups of 4 Crockford symbols", c)
		}
		if seen[c] {
			t.Fatalf("NewCode repeated %q", c)
		}
		seen[c] = true
		canon, ok := enrol.NormalizeCode(strings.ToLower(strings.ReplaceAll(c, "-", " ")))
		if got, want := canon, strings.ReplaceAll(c, "-", ""); !ok || got != want {
			t.Fatalf("NormalizeCode(lower %q) = %q, %v; want %q", c, got, ok, want)
		}
	}
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ABCD-EFGH-JKMN-PQRS", "ABCDEFGHJKMNPQRS", true},
		{"oIlL-0000-1111-2222", "0111000011112222", true}, // look-alikes read as digits
		{"ABCD-EFGH-JKMN-PQR", "", false},                 // too short
		{"ABCD-EFGH-JKMN-PQRU", "", false},                // U is not Crockford
		{"ABCD-EFGH-JKMN-PQRÉ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := enrol.NormalizeCode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRedeemAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	now := time.Now()
	code, expires, err := enrol.Issue(ctx, st, staffTerminal, 24*time.Hour, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got, want := expires, now.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("expires = %v, want %v", got, want)
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: strings.ToLower(code), DeviceName: "front desk"}, now)
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	d := en.Device
	if d.Branch != "main" || len(d.Prefix) != 3 || !enrol.ValidDeviceID(d.ID) {
		t.Errorf("device = %+v, want branch main, a 3-symbol prefix and a valid id", d)
	}
	id, secret, _ := strings.Cut(en.Credential, ".")
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if id != d.ID || err != nil || len(raw) != 32 {
		t.Fatalf("credential %q: want <device-id>.<32 bytes base64url>", en.Credential)
	}
	stored, err := st.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.CredentialHash) != 32 || strings.Contains(string(stored.CredentialHash), secret) || string(stored.CredentialHash) == string(raw) {
		t.Errorf("stored credential hash %x looks like the secret, want its SHA-256", stored.CredentialHash)
	}

	got, err := enrol.Authenticate(ctx, st, "Bearer "+en.Credential)
	if err != nil || got.ID != d.ID {
		t.Fatalf("Authenticate = %v, %v; want device %s", got.ID, err, d.ID)
	}
	if _, err := enrol.Authenticate(ctx, st, "bearer "+en.Credential); err != nil {
		t.Errorf("Authenticate with lower-case scheme: %v", err)
	}

	// The same code again is refused with the same answer as an unknown one.
	_, err = enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "again"}, now)
	if !errors.Is(err, enrol.ErrRefused) {
		t.Errorf("second Redeem: err = %v, want ErrRefused", err)
	}
	_, err2 := enrol.Redeem(ctx, st, enrol.Request{Code: enrol.NewCode(), DeviceName: "x"}, now)
	if !errors.Is(err2, enrol.ErrRefused) || enrol.ErrorCode(err2) != enrol.CodeRefused {
		t.Errorf("unknown code: err = %v, want ErrRefused", err2)
	}
	var e1, e2 *enrol.Error
	if errors.As(err, &e1) && errors.As(err2, &e2) && e1.Message != e2.Message {
		t.Errorf("used code says %q, unknown says %q: want the same", e1.Message, e2.Message)
	}
	if _, err := enrol.Redeem(ctx, st, enrol.Request{Code: "not a code", DeviceName: "x"}, now); !errors.Is(err, enrol.ErrRefused) {
		t.Errorf("malformed code: err = %v, want ErrRefused", err)
	}
}

func TestRedeemExpired(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	now := time.Now()
	code, _, err := enrol.Issue(ctx, st, staffTerminal, time.Nanosecond, now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "late"}, now.Add(time.Second))
	if !errors.Is(err, enrol.ErrExpired) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("err = %v, want ErrExpired", err)
	}
}

func TestIssueErrors(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	if _, _, err := enrol.Issue(ctx, st, enrol.Grant{Branch: "nowhere", Role: device.Staff}, time.Hour, time.Now()); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("unknown branch: err = %v, want NotFound", err)
	}
	if _, _, err := enrol.Issue(ctx, st, staffTerminal, 0, time.Now()); enrol.ErrorCode(err) != enrol.CodeInvalid {
		t.Errorf("ttl 0: err = %v, want CodeInvalid", err)
	}
}

func TestRedeemValidatesRequest(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	code, _, _ := enrol.Issue(ctx, st, staffTerminal, time.Hour, time.Now())
	for _, req := range []enrol.Request{
		{Code: code, DeviceName: ""},
		{Code: code, DeviceName: "evil\x1b[2J"},
		{Code: code, DeviceName: "front\u200bdesk"},
		{Code: code, DeviceName: "front\u2060desk"},
		{Code: code, DeviceName: "tag\U000E0041"},
		{Code: code, DeviceName: strings.Repeat("n", 129)},
		{Code: code, DeviceName: "ok", DeviceID: "has.dot"},
	} {
		if _, err := enrol.Redeem(ctx, st, req, time.Now()); enrol.ErrorCode(err) != enrol.CodeInvalid {
			t.Errorf("Redeem(%+v): err = %v, want CodeInvalid", req, err)
		}
	}
	// None of those spent the code.
	if _, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: "ok"}, time.Now()); err != nil {
		t.Errorf("valid Redeem after invalid ones: %v", err)
	}
}

func TestRedeemProposedDeviceID(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	now := time.Now()
	c1, _, _ := enrol.Issue(ctx, st, staffTerminal, time.Hour, now)
	c2, _, _ := enrol.Issue(ctx, st, staffTerminal, time.Hour, now)
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: c1, DeviceName: "k", DeviceID: "kiosk-1"}, now)
	if err != nil || en.Device.ID != "kiosk-1" {
		t.Fatalf("Redeem with proposed id = %q, %v; want kiosk-1", en.Device.ID, err)
	}
	_, err = enrol.Redeem(ctx, st, enrol.Request{Code: c2, DeviceName: "k", DeviceID: "kiosk-1"}, now)
	if enrol.ErrorCode(err) != enrol.CodeDeviceTaken {
		t.Fatalf("taken id: err = %v, want CodeDeviceTaken", err)
	}
	// The clash did not spend the second code.
	if _, err := enrol.Redeem(ctx, st, enrol.Request{Code: c2, DeviceName: "k"}, now); err != nil {
		t.Errorf("code after a clash: %v", err)
	}
}

func TestAuthenticateFailures(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	en := MustEnrol(t, st)
	id, secret, _ := strings.Cut(en.Credential, ".")
	other := MustEnrol(t, st)
	_, otherSecret, _ := strings.Cut(other.Credential, ".")

	wrongSecret := "Bearer " + id + "." + otherSecret
	unknownDevice := "Bearer nosuchdevice." + secret
	_, errWrong := enrol.Authenticate(ctx, st, wrongSecret)
	_, errUnknown := enrol.Authenticate(ctx, st, unknownDevice)
	if errWrong != enrol.ErrUnauthenticated || errUnknown != enrol.ErrUnauthenticated {
		t.Fatalf("wrong secret: %v; unknown device: %v; want the identical ErrUnauthenticated", errWrong, errUnknown)
	}
	if errWrong.Error() != errUnknown.Error() {
		t.Errorf("messages differ: %q vs %q", errWrong, errUnknown)
	}
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Basic " + en.Credential, en.Credential,
		"Bearer " + id, "Bearer " + id + ".", "Bearer " + id + "." + secret + "==",
		"Bearer " + id + ".!!!", "Bearer " + id + "." + secret[:10],
		"Bearer bad/id." + secret,
	} {
		if _, err := enrol.Authenticate(ctx, st, h); err != enrol.ErrUnauthenticated {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", h, err)
		}
	}

	if err := enrol.Revoke(ctx, st, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := enrol.Authenticate(ctx, st, "Bearer "+en.Credential)
	if !errors.Is(err, enrol.ErrRevoked) || !strings.Contains(err.Error(), "revoked: ask staff to re-enrol this kiosk") {
		t.Errorf("revoked: err = %v, want ErrRevoked", err)
	}
	if len(enrol.ErrRevoked.Message) > 123 {
		t.Errorf("ErrRevoked message is %d bytes, too long for a close reason", len(enrol.ErrRevoked.Message))
	}
	// A wrong secret for a revoked device does not reveal the revocation.
	if _, err := enrol.Authenticate(ctx, st, wrongSecret); err != enrol.ErrUnauthenticated {
		t.Errorf("wrong secret for revoked device: %v, want ErrUnauthenticated", err)
	}

	// The sync hub's view of the same checks: refusals wrap hub.ErrRefused
	// (401, not 503), and a live device may receive its branch's queue only.
	syncAuth := func(header string) (hub.Device, error) {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/sync", nil)
		r.Header.Set("Authorization", header)
		return enrol.SyncAuth{Store: st}.Authenticate(r)
	}
	if _, err := syncAuth("Bearer " + en.Credential); !errors.Is(err, hub.ErrRefused) || !errors.Is(err, enrol.ErrRevoked) {
		t.Errorf("SyncAuth(revoked) = %v, want hub.ErrRefused and ErrRevoked", err)
	}
	if _, err := syncAuth(wrongSecret); !errors.Is(err, hub.ErrRefused) {
		t.Errorf("SyncAuth(wrong secret) = %v, want hub.ErrRefused", err)
	}
	d, err := syncAuth("Bearer " + other.Credential)
	if err != nil || d.ID != other.Device.ID || !slices.Equal(d.Scopes, []string{wire.BranchScope(other.Device.Branch)}) {
		t.Errorf("SyncAuth(live) = %+v, %v; want %s with scopes [%s]", d, err, other.Device.ID, wire.BranchScope(other.Device.Branch))
	}
}

func TestAuthenticateStorageFailureIsNotACredentialError(t *testing.T) {
	ctx := context.Background()
	st, _ := MustOpen(t)
	en := MustEnrol(t, st)
	st.Close()
	_, err := enrol.Authenticate(ctx, st, "Bearer "+en.Credential)
	if err == nil || enrol.ErrorCode(err) != "" {
		t.Errorf("closed store: err = %v, want a storage error without an enrol code", err)
	}
}
