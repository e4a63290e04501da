package staff

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PIN hashes are PBKDF2-HMAC-SHA256 (standard library), encoded as
// "pbkdf2-sha256$<iterations>$<salt>$<key>" with unpadded base64. The
// iteration count is inside the hash, so it can be raised later without
// invalidating existing PINs.
const (
	hashScheme = "pbkdf2-sha256"
	// DefaultIterations follows the OWASP figure for PBKDF2-SHA256: about a
	// fifth of a second per sign-in here, which is what makes a copied
	// terminal database slow to attack.
	DefaultIterations = 600_000
	// MinIterations is the least a hash may claim; tests hash with it.
	MinIterations = 1_000
	maxIterations = 10_000_000
	saltLen       = 16
	keyLen        = 32
)

// PIN rules.
const (
	MinPINLen = 6
	MaxPINLen = 64
)

// ValidatePIN checks a new PIN: 6 to 64 characters, no control characters,
// and not trivially guessed (one repeated character, or a run such as
// 123456 or 654321).
func ValidatePIN(pin string) error {
	n := utf8.RuneCountInString(pin)
	switch {
	case !utf8.ValidString(pin):
		return errors.New("the PIN must be valid text")
	case n < MinPINLen || n > MaxPINLen:
		return fmt.Errorf("a PIN is %d to %d characters", MinPINLen, MaxPINLen)
	case strings.IndexFunc(pin, unicode.IsControl) >= 0:
		return errors.New("the PIN must not hold control characters")
	}
	r := []rune(pin)
	same, up, down := true, true, true
	for i := 1; i < len(r); i++ {
		same = same && r[i] == r[0]
		up = up && r[i] == r[i-1]+1
		down = down && r[i] == r[i-1]-1
	}
	if same || up || down {
		return errors.New("the PIN is too easy to guess (one repeated character or a run like 123456)")
	}
	return nil
}

// HashPIN returns the slow hash of pin with DefaultIterations.
func HashPIN(pin string) (string, error) { return HashPINCost(pin, DefaultIterations) }

// HashPINCost is HashPIN with a chosen iteration count (at least
// MinIterations); tests use the minimum to stay fast.
func HashPINCost(pin string, iterations int) (string, error) {
	if iterations < MinIterations || iterations > maxIterations {
		return "", fmt.Errorf("iterations %d out of range", iterations)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, pin, salt, iterations, keyLen)
	if err != nil {
		return "", fmt.Errorf("hash PIN: %w", err)
	}
	enc := base64.RawStdEncoding
	return hashScheme + "$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

type parsedHash struct {
	iterations int
	salt, key  []byte
}

func parseHash(h string) (parsedHash, error) {
	bad := errors.New("the PIN hash is not in a known format")
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return parsedHash{}, bad
	}
	it, err := strconv.Atoi(parts[1])
	if err != nil || it < MinIterations || it > maxIterations {
		return parsedHash{}, bad
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	key, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != keyLen {
		return parsedHash{}, bad
	}
	return parsedHash{it, salt, key}, nil
}

// VerifyPIN reports whether pin matches hash, in time independent of where
// they differ. A malformed hash matches nothing.
func VerifyPIN(hash, pin string) bool {
	p, err := parseHash(hash)
	if err != nil {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, pin, p.salt, p.iterations, keyLen)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, p.key) == 1
}
