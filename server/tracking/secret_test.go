package tracking_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"ombud/server/tracking"
)

// Servers starting together on one data directory must agree on one secret,
// or each would refuse the other's form tokens.
func TestSecretCreatedOnceUnderRace(t *testing.T) {
	dir := t.TempDir()
	got := make([][]byte, 10)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			s, err := tracking.LoadOrCreateSecret(dir)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != tracking.SecretLen || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("secret %d = %x, want the same %d bytes as the first (%x)", i, got[i], tracking.SecretLen, got[0])
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".tracking.key-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	info, err := os.Stat(filepath.Join(dir, tracking.SecretFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v (%v), want 0600", info.Mode().Perm(), err)
	}
}

func TestShortSecretIsExplained(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tracking.SecretFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tracking.LoadOrCreateSecret(dir)
	if err == nil || !strings.Contains(err.Error(), "5 bytes, want 32") || !strings.Contains(err.Error(), "remove the file") {
		t.Fatalf("LoadOrCreateSecret on a short key = %v, want an error that says what to do", err)
	}
}
