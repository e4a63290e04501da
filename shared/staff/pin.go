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

	"golang.org/x/crypto/argon2"
)

// PIN hashes are argon2id (RFC 9106, golang.org/x/crypto/argon2), encoded
// as "argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<key>" with unpadded
// base64. Why memory-hard: a PIN is a few digits, so what protects the
// hashes a staff terminal keeps for offline sign-in is the cost of each
// guess; PBKDF2's cost is pure computation, which graphics cards do
// thousands of times in parallel, while argon2id makes every guess fill and
// read its memory, which they cannot parallelise cheaply. The parameters
// are inside the hash, so they can be raised later without invalidating
// existing PINs. Hashes made before (PBKDF2-HMAC-SHA256,
// "pbkdf2-sha256$<iterations>$<salt>$<key>") still verify, and NeedsRehash
// tells the server to replace one the next time the PIN is seen.
const (
	hashScheme   = "argon2id"
	legacyScheme = "pbkdf2-sha256"
	// Legacy PBKDF2 bounds, for reading old hashes.
	minIterations = 1_000
	maxIterations = 10_000_000
	saltLen       = 16
	keyLen        = 32
)

// Cost is the work a PIN hash makes every guess cost: memory in KiB and
// passes over it. The server picks it when it hashes a PIN; terminals read
// it from each hash.
type Cost struct {
	MemoryKiB uint32
	Passes    uint32
}

var (
	// DefaultCost is 64 MiB and 3 passes: about a tenth of a second per
	// sign-in on a terminal (BENCHMARKS.md), and 64 MiB a guess for
	// anyone who copied a terminal's database.
	DefaultCost = Cost{MemoryKiB: 64 << 10, Passes: 3}
	// TestCost is the cheapest hash: for tests and demos only.
	TestCost = Cost{MemoryKiB: minMemoryKiB, Passes: 1}
)

// Bounds a hash's parameters must meet: a hash is data a terminal receives,
// and one asking for a terabyte must not be obeyed.
const (
	minMemoryKiB = 64
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxPasses    = 16
)

// Valid reports whether c is within the bounds a hash may claim.
func (c Cost) Valid() bool {
	return c.MemoryKiB >= minMemoryKiB && c.MemoryKiB <= maxMemoryKiB && c.Passes >= 1 && c.Passes <= maxPasses
}

// PIN rules.
const (
	MinPINLen = 6
	MaxPINLen = 64
)

// ValidatePIN checks a new PIN: 6 to 64 characters, no control characters,
// and not trivially guessed (one repeated character, or a run such as
// 123456 or 654321).
func ValidatePIN(pin string) error { return ValidatePINMin(pin, MinPINLen) }

// ValidatePINMin is ValidatePIN with a longer minimum, the operator's
// policy (each digit more makes guessing ten times the work): min below
// MinPINLen counts as MinPINLen. A PIN may be a passphrase up to MaxPINLen.
func ValidatePINMin(pin string, min int) error {
	min = max(min, MinPINLen)
	n := utf8.RuneCountInString(pin)
	switch {
	case !utf8.ValidString(pin):
		return errors.New("the PIN must be valid text")
	case n < min || n > MaxPINLen:
		return fmt.Errorf("a PIN is %d to %d characters", min, MaxPINLen)
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

// HashPIN returns the slow hash of pin at DefaultCost.
func HashPIN(pin string) (string, error) { return HashPINWith(pin, DefaultCost) }

// HashPINWith is HashPIN at a chosen cost (tests and demos use TestCost).
func HashPINWith(pin string, c Cost) (string, error) {
	if !c.Valid() {
		return "", fmt.Errorf("hash PIN: cost %+v out of range", c)
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	return encodeArgon(c, salt, argon2.IDKey([]byte(pin), salt, c.Passes, c.MemoryKiB, 1, keyLen)), nil
}

func encodeArgon(c Cost, salt, key []byte) string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$v=%d$m=%d,t=%d,p=1$%s$%s", hashScheme, argon2.Version, c.MemoryKiB, c.Passes,
		enc.EncodeToString(salt), enc.EncodeToString(key))
}

// parsedHash is a PIN hash read back: argon2id (cost set) or legacy PBKDF2
// (iterations set).
type parsedHash struct {
	cost       Cost
	iterations int
	salt, key  []byte
}

func parseHash(h string) (parsedHash, error) {
	bad := errors.New("the PIN hash is not in a known format")
	parts := strings.Split(h, "$")
	enc := base64.RawStdEncoding
	var p parsedHash
	var saltPart, keyPart string
	switch {
	case len(parts) == 5 && parts[0] == hashScheme:
		var v int
		var mem, passes, threads uint32
		if _, err := fmt.Sscanf(parts[1], "v=%d", &v); err != nil || v != argon2.Version {
			return p, bad
		}
		if n, err := fmt.Sscanf(parts[2], "m=%d,t=%d,p=%d", &mem, &passes, &threads); err != nil || n != 3 || threads != 1 {
			return p, bad
		}
		// Canonical form only, so one hash has one spelling.
		if parts[2] != fmt.Sprintf("m=%d,t=%d,p=1", mem, passes) {
			return p, bad
		}
		p.cost = Cost{MemoryKiB: mem, Passes: passes}
		if !p.cost.Valid() {
			return p, bad
		}
		saltPart, keyPart = parts[3], parts[4]
	case len(parts) == 4 && parts[0] == legacyScheme:
		it, err := strconv.Atoi(parts[1])
		if err != nil || it < minIterations || it > maxIterations || parts[1] != strconv.Itoa(it) {
			return p, bad
		}
		p.iterations = it
		saltPart, keyPart = parts[2], parts[3]
	default:
		return p, bad
	}
	var err1, err2 error
	p.salt, err1 = enc.DecodeString(saltPart)
	p.key, err2 = enc.DecodeString(keyPart)
	if err1 != nil || err2 != nil || len(p.salt) < 8 || len(p.key) != keyLen {
		return parsedHash{}, bad
	}
	return p, nil
}

// VerifyPIN reports whether pin matches hash, in time independent of where
// they differ. A malformed hash matches nothing.
func VerifyPIN(hash, pin string) bool {
	p, err := parseHash(hash)
	if err != nil {
		return false
	}
	var key []byte
	if p.iterations > 0 {
		if key, err = pbkdf2.Key(sha256.New, pin, p.salt, p.iterations, keyLen); err != nil {
			return false
		}
	} else {
		key = argon2.IDKey([]byte(pin), p.salt, p.cost.Passes, p.cost.MemoryKiB, 1, keyLen)
	}
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// NeedsRehash reports whether hash is weaker than c (a legacy PBKDF2 hash,
// or less memory or fewer passes): the server replaces it the next time it
// sees the PIN.
func NeedsRehash(hash string, c Cost) bool {
	p, err := parseHash(hash)
	return err != nil || p.iterations > 0 || p.cost.MemoryKiB < c.MemoryKiB || p.cost.Passes < c.Passes
}

// DecoyHash returns a well-formed hash at the same cost as like (or
// DefaultCost if like is not a hash) that no PIN matches: random salt and
// key, made without hashing anything. Checking a PIN for an unknown account
// against it costs what checking a real one costs, so the answer's timing
// does not tell which ids exist.
func DecoyHash(like string) string {
	salt, key := make([]byte, saltLen), make([]byte, keyLen)
	rand.Read(salt)
	rand.Read(key)
	p, err := parseHash(like)
	switch {
	case err != nil:
		return encodeArgon(DefaultCost, salt, key)
	case p.iterations > 0:
		enc := base64.RawStdEncoding
		return legacyScheme + "$" + strconv.Itoa(p.iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
	}
	return encodeArgon(p.cost, salt, key)
}
