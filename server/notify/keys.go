package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Keys derives contact keys and unsubscribe tokens from the server's
// secret.
//
// A contact key names a contact point (one e-mail address, one phone
// number) in the queue, the audit trail and the unsubscribe list without
// holding it: HMAC-SHA256 of the channel and the normalised address, cut to
// 128 bits. Without the secret nobody can tell whose key it is, nor test a
// guess.
//
// An unsubscribe token is the contact key and a MAC of it (128 bits each),
// base64url: 43 characters, short enough for an SMS. It names no complaint,
// so one link stops every later notification to that address, from every
// complaint; it does not expire, since an old mail's link must still work.
type Keys struct {
	secret []byte
}

// MinKeyLen is the shortest secret NewKeys takes.
const MinKeyLen = 32

// NewKeys returns Keys over secret (at least MinKeyLen bytes).
func NewKeys(secret []byte) (Keys, error) {
	if len(secret) < MinKeyLen {
		return Keys{}, errors.New("notify: the key must be at least 32 bytes")
	}
	return Keys{secret: secret}, nil
}

const (
	contactKeyLen = 16
	tokenMACLen   = 16
	// TokenLen is the length of a token as text.
	TokenLen = 43
)

func (k Keys) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, k.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// Contact is the contact key of address on channel.
func (k Keys) Contact(channel, address string) string {
	return hex.EncodeToString(k.mac("ombud/notify/contact/v1", channel, Normalize(channel, address))[:contactKeyLen])
}

// Normalize is the form two spellings of one address share: e-mail in
// lower case; a phone number's digits, with its leading + kept.
func Normalize(channel, address string) string {
	address = strings.TrimSpace(address)
	if channel != SMS {
		return strings.ToLower(address)
	}
	var b strings.Builder
	for i, r := range address {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Token is the unsubscribe token of a contact key.
func (k Keys) Token(contactKey string) string {
	raw, err := hex.DecodeString(contactKey)
	if err != nil || len(raw) != contactKeyLen {
		return ""
	}
	tok := append(raw, k.mac("ombud/notify/unsubscribe/v1", contactKey)[:tokenMACLen]...)
	return base64.RawURLEncoding.EncodeToString(tok)
}

// ErrBadToken is ParseToken's answer for anything but a token this server
// made.
var ErrBadToken = errors.New("notify: not a valid unsubscribe link")

// ParseToken checks a token and returns its contact key.
func (k Keys) ParseToken(token string) (string, error) {
	if len(token) != TokenLen {
		return "", ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != contactKeyLen+tokenMACLen {
		return "", ErrBadToken
	}
	ck := hex.EncodeToString(raw[:contactKeyLen])
	if !hmac.Equal(raw[contactKeyLen:], k.mac("ombud/notify/unsubscribe/v1", ck)[:tokenMACLen]) {
		return "", ErrBadToken
	}
	return ck, nil
}
