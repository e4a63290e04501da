package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestGenCommand: `server gen` fills a new data directory, refuses one
// that has events, and names a missing --data as a usage error.
func TestGenCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	none := func(string) string { return "" }
	if err := run(context.Background(), []string{"gen", "--data", dir, "--cases", "300", "--branches", "3"}, none, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("gen: %v (%s)", err, errb.String())
	}
	if !strings.Contains(out.String(), "Generated 300 cases across 3 branches") {
		t.Errorf("output %q", out.String())
	}
	err := run(context.Background(), []string{"gen", "--data", dir, "--cases", "1", "--branches", "1"}, none, strings.NewReader(""), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "already holds 300 events") {
		t.Errorf("gen into a database with events: %v", err)
	}
	var ue usageError
	if err := run(context.Background(), []string{"gen"}, none, strings.NewReader(""), &out, &errb); !errors.As(err, &ue) {
		t.Errorf("gen without --data: %v, want a usage error", err)
	}
}
