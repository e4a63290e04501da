package privacy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"ombud/server/storage"
)

// LedgerFile is the redaction ledger's name in the data directory.
const LedgerFile = "redactions.jsonl"

// Ledger is the redaction ledger: one JSON line per redaction decided
// (complaint id, reason, rule, time; never a contact detail nor text),
// appended and synced before the database commits it. It lives beside the
// database, not in it, so restoring an older copy of the database does not
// take it back: Reapply redacts again everything it lists. Back it up
// separately and never restore it from an older copy.
type Ledger struct {
	path string
	mu   sync.Mutex
}

// LedgerEntry is one line.
type LedgerEntry struct {
	ComplaintID string    `json:"complaint_id"`
	Reason      string    `json:"reason"`
	Policy      string    `json:"policy"`
	Months      int       `json:"months,omitempty"`
	At          time.Time `json:"at"`
}

// OpenLedger returns the ledger in dir (created on first append).
func OpenLedger(dir string) *Ledger { return &Ledger{path: filepath.Join(dir, LedgerFile)} }

// Path is the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// Append writes e and syncs the file.
func (l *Ledger) Append(e LedgerEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redaction ledger: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("redaction ledger: %w", err)
	}
	return nil
}

// Entries reads every line; a torn last line (a crash mid-append) is
// skipped, any other bad line is an error.
func (l *Ledger) Entries() ([]LedgerEntry, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redaction ledger: %w", err)
	}
	defer f.Close()
	var (
		out     []LedgerEntry
		bad     error
		lineNum int
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lineNum++
		if bad != nil {
			return nil, bad
		}
		var e LedgerEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.ComplaintID == "" {
			bad = fmt.Errorf("redaction ledger %s: line %d is not an entry", l.path, lineNum)
			continue
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("redaction ledger: %w", err)
	}
	return out, nil // a bad last line is a torn append
}

// ReapplyResult sums up a Reapply.
type ReapplyResult struct {
	Entries  int // lines in the ledger
	Redacted int // complaints redacted again (they had come back)
	Missing  int // complaints the database does not hold (older than the copy)
	Held     int // complaints under a legal hold in the database
}

// Reapply redacts again every complaint the ledger lists (idempotent: a
// complaint still redacted is left alone). Run it after restoring a copy
// of the database older than the ledger.
func (s *Service) Reapply(ctx context.Context) (ReapplyResult, error) {
	var r ReapplyResult
	if s.cfg.Ledger == nil {
		return r, errors.New("no redaction ledger")
	}
	entries, err := s.cfg.Ledger.Entries()
	if err != nil {
		return r, err
	}
	r.Entries = len(entries)
	seen := make(map[string]bool)
	for _, e := range entries {
		if seen[e.ComplaintID] {
			continue
		}
		seen[e.ComplaintID] = true
		done, err := s.redact(ctx, e.ComplaintID, e.Reason, e.Policy, e.Months, s.cfg.Now())
		switch {
		case storage.ErrorCode(err) == storage.NotFound:
			r.Missing++
		case storage.ErrorCode(err) == storage.Conflict:
			r.Held++
		case err != nil:
			return r, err
		case done:
			r.Redacted++
			s.audit(ctx, "operator", "redact.reapply", e.ComplaintID, e.Policy)
		}
	}
	return r, nil
}
