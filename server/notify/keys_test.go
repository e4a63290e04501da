package notify_test

import (
	"strings"
	"testing"

	"ombud/server/notify"
)

func TestTokens(t *testing.T) {
	k, err := notify.NewKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	ck := k.Contact(notify.Email, "Ana@Example.org ")
	if ck != k.Contact(notify.Email, "ana@example.org") || ck == k.Contact(notify.SMS, "ana@example.org") || len(ck) != 32 {
		t.Errorf("contact keys: spelling or channel handled wrongly (%s)", ck)
	}
	if k.Contact(notify.SMS, "+44 (20) 7946-0000") != k.Contact(notify.SMS, "+442079460000") {
		t.Error("two spellings of one number give two keys")
	}
	tok := k.Token(ck)
	if len(tok) != notify.TokenLen {
		t.Fatalf("token %q has %d characters, want %d", tok, len(tok), notify.TokenLen)
	}
	if got, err := k.ParseToken(tok); err != nil || got != ck {
		t.Errorf("ParseToken = %q, %v; want %q", got, err, ck)
	}
	other, _ := notify.NewKeys([]byte(strings.Repeat("x", 32)))
	if _, err := other.ParseToken(tok); err == nil {
		t.Error("another server's key accepts the token")
	}
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if got, err := k.ParseToken(string(b)); err == nil && got != ck {
			t.Errorf("a token with character %d changed names another contact", i)
		}
	}
	if _, err := notify.NewKeys([]byte("short")); err == nil {
		t.Error("a short key is accepted")
	}
}

// FuzzParseToken: the unsubscribe link's decoder never panics, and a token
// it accepts is exactly the one Token makes for its contact key.
func FuzzParseToken(f *testing.F) {
	k, err := notify.NewKeys(testKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k.Token(k.Contact(notify.Email, "ana@example.org")))
	f.Add(strings.Repeat("A", notify.TokenLen))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ck, err := k.ParseToken(s)
		if err != nil {
			return
		}
		if k.Token(ck) != s {
			t.Fatalf("accepted %q, which is not the token of %s", s, ck)
		}
	})
}
