package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery (docs/API.md, "Webhooks").
const (
	// HeaderID is the delivery's id, the same on every attempt: a
	// receiver that has seen it drops the repeat.
	HeaderID = "Ombud-Webhook-Id"
	// HeaderTimestamp is when this attempt was signed, in Unix seconds.
	HeaderTimestamp = "Ombud-Webhook-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// webhook's secret, of the timestamp, a full stop and the body. It
	// may list several, comma-separated, while a secret is being changed.
	HeaderSignature = "Ombud-Webhook-Signature"
)

// DefaultWindow is how far a receiver should let a timestamp be from its
// clock: older deliveries are replays.
const DefaultWindow = 5 * time.Minute

// Sign returns the HeaderSignature value for body signed at ts.
func Sign(secret string, ts time.Time, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors from Verify.
var (
	ErrNoSignature  = errors.New("webhook: no valid v1 signature")
	ErrBadTimestamp = errors.New("webhook: timestamp is not Unix seconds")
	ErrStale        = errors.New("webhook: timestamp outside the replay window")
)

// Verify checks a delivery as a receiver should: the timestamp within window
// of now (both ways: a clock ahead is as suspect as a replay), and one of
// the signatures the HMAC of timestamp.body under secret, compared in
// constant time. Receivers in Go may call it; docs/API.md says how to in
// any language.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	if len(timestamp) == 0 || len(timestamp) > 12 {
		return ErrBadTimestamp
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || sec < 0 || strconv.FormatInt(sec, 10) != timestamp {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return ErrStale
	}
	want := mac(secret, timestamp, body)
	for part := range strings.SplitSeq(signature, ",") {
		v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok || len(v) != 2*sha256.Size {
			continue
		}
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoSignature
}
