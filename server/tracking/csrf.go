package tracking

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"ombud/shared/uid"
)

// Forms carry a nonce and a token = HMAC(secret, code, action, hour,
// nonce). The page has no login and no cookies, so the usual session-bound
// CSRF token is not available; this one binds the form to one case and one
// action, expires (it is accepted in its hour and the next, so one to two
// hours), and cannot be made without the server's secret. The nonce also
// names the events the action makes (see eventIDs), which makes a
// resubmitted form (double click, reload) store nothing twice.

// SecretLen is the server secret's size in bytes.
const SecretLen = 32

// SecretFile is the secret's file name in the data directory.
const SecretFile = "tracking.key"

const tokenWindow = time.Hour

// LoadOrCreateSecret returns the secret in dir/tracking.key, creating it
// (mode 0600, from crypto/rand) at first start. The file appears whole or
// not at all: it is written and synced under a temporary name, then linked
// into place, so a crash cannot leave a short key that stops every later
// start. Two servers starting at once on the same directory agree: the link
// fails for the loser, which reads the winner's.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createSecret(dir, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("tracking secret: %w", err)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("tracking secret: %w", err)
	}
	if len(b) != SecretLen {
		return nil, fmt.Errorf("tracking secret %s: %d bytes, want %d: remove the file to make a new one (open tracking forms then need reloading)", path, len(b), SecretLen)
	}
	return b, nil
}

func createSecret(dir, path string) error {
	secret := make([]byte, SecretLen)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tracking.key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(secret)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err // fs.ErrExist: another server won the race
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync() // the new name survives a crash too
}

// formToken is the token for (code, action, nonce) in the window holding t.
func (h *Handler) formToken(code, action, nonce string, t time.Time) string {
	return h.mac("form", code, action, strconv.FormatInt(t.Unix()/int64(tokenWindow/time.Second), 10), nonce)
}

// checkToken accepts a token made in the current window or the previous.
func (h *Handler) checkToken(code, action, nonce, token string) bool {
	if !uid.Valid(nonce) || token == "" {
		return false
	}
	now := h.now()
	for _, t := range []time.Time{now, now.Add(-tokenWindow)} {
		if hmac.Equal([]byte(token), []byte(h.formToken(code, action, nonce, t))) {
			return true
		}
	}
	return false
}

func (h *Handler) mac(parts ...string) string {
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	for _, p := range parts {
		// Length-prefixed, so no two part lists give the same input.
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		io.WriteString(m, p)
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// initForms readies what forms need: a pool of keyed HMACs (keying one
// costs two extra SHA-256 blocks, Reset only a copy), a random start for
// the nonce counter and the random mark of page shapes (cache.go).
func (h *Handler) initForms() error {
	secret := h.secret
	h.macs.New = func() any { return hmac.New(sha256.New, secret) }
	var b [8 + 16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	h.nonces.Store(binary.BigEndian.Uint64(b[:8]))
	h.mark = "m" + hex.EncodeToString(b[8:])
	return nil
}

// newNonce names one rendering of a form: a UUIDv7 (uid.Valid) with now's
// time and 74 bits of HMAC(secret, counter). The counter makes it unique
// without asking the kernel for randomness on every page (its random start
// keeps restarts and replicas apart); the HMAC makes it unpredictable to
// anyone without the secret, like a random one.
func (h *Handler) newNonce(now time.Time) string {
	m := h.macs.Get().(hash.Hash)
	defer h.macs.Put(m)
	m.Reset()
	var in [6 + 8]byte
	copy(in[:], "nonce\x00")
	binary.BigEndian.PutUint64(in[6:], h.nonces.Add(1))
	m.Write(in[:])
	var sum [sha256.Size]byte
	return uid.FromBits(now, [10]byte(m.Sum(sum[:0])))
}

// eventIDs derives n event ids from a form's nonce: UUIDv7s with the
// nonce's time and random bits from the secret, so the same form always
// makes the same events (and Append stores them once), while nobody
// without the secret can predict or choose them.
func (h *Handler) eventIDs(nonce string, n int) []string {
	// uid.Valid(nonce) was checked: its first 12 hex digits are the time.
	var ms [8]byte
	hex.Decode(ms[2:], []byte(nonce[0:8]+nonce[9:13]))
	at := time.UnixMilli(int64(binary.BigEndian.Uint64(ms[:])))
	out := make([]string, n)
	for i := range n {
		m := hmac.New(sha256.New, h.secret)
		m.Write([]byte("event-id\x00" + nonce + "\x00" + strconv.Itoa(i)))
		out[i] = uid.FromBits(at, [10]byte(m.Sum(nil)))
	}
	return out
}
