package staff_test

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"

	"ombud/shared/staff"
)

// BenchmarkGuessPIN is what one guess costs someone who copied a staff
// terminal's PIN hashes: one verification, on one core. Legacy is the
// PBKDF2-SHA256 at 600,000 iterations that terminals held before argon2id;
// its bytes/op are near zero, which is why graphics cards run thousands of
// its guesses at once. Argon2id's 64 MiB a guess is what they cannot.
func BenchmarkGuessPIN(b *testing.B) {
	salt := []byte("saltsaltsaltsalt")
	key, err := pbkdf2.Key(sha256.New, "482913", salt, 600_000, 32)
	if err != nil {
		b.Fatal(err)
	}
	enc := base64.RawStdEncoding
	legacy := "pbkdf2-sha256$" + strconv.Itoa(600_000) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
	current, err := staff.HashPIN("482913")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, hash string }{{"pbkdf2-600k", legacy}, {"argon2id-64MiB-t3", current}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if staff.VerifyPIN(c.hash, "000000") {
					b.Fatal("a wrong PIN matched")
				}
			}
		})
	}
}
