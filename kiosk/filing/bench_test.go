package filing_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ombud/kiosk/store"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		os.RemoveAll(template.dir)
	}
	os.Exit(code)
}

// BenchmarkFile measures what a customer waits for after pressing "send":
// validation, the transaction and its fsync. The percentiles matter more
// than the mean: one slow fsync is a customer staring at a spinner.
func BenchmarkFile(b *testing.B) {
	e := MustService(b, nil)
	d := draftWithContact()
	d.Description = strings.Repeat("The card machine charged me twice. ", 14) // ~500 bytes
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		if _, err := e.svc.File(ctx, d); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

func reportPercentiles(b *testing.B, durations []time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(durations))+0.5), len(durations)) - 1
		return float64(durations[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// template is a database holding 100,000 complaints, made once per test
// binary because seeding takes seconds; TestMain removes it.
var template struct {
	once sync.Once
	dir  string
	path string
	err  error
}

const seedComplaints = 100_000

func templateDB(b *testing.B) string {
	b.Helper()
	template.once.Do(func() {
		template.dir, template.err = os.MkdirTemp("", "ombud-bench-")
		if template.err == nil {
			template.path = filepath.Join(template.dir, "kiosk.db")
			template.err = seed(template.path, seedComplaints)
		}
	})
	if template.err != nil {
		b.Fatalf("seed template: %v", template.err)
	}
	return template.path
}

// seed creates a store at path holding n complaints with their events and
// outbox entries, as n filings would, in batched transactions for speed.
func seed(path string, n int) error {
	ctx := context.Background()
	st, err := store.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	id, err := st.Identity(ctx)
	st.Close()
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	clock := hlc.New(nil)
	seen := make(map[trackcode.Code]bool, n)
	actor := event.Actor{Kind: event.ActorDevice, ID: id.DeviceID}
	const batch = 1000
	for done := 0; done < n; done += batch {
		if err := seedBatch(ctx, db, clock, actor, id.Prefix, seen, min(batch, n-done)); err != nil {
			return err
		}
	}
	return nil
}

func seedBatch(ctx context.Context, db *sql.DB, clock *hlc.Clock, actor event.Actor,
	prefix string, seen map[trackcode.Code]bool, n int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insC, err := tx.PrepareContext(ctx, `INSERT INTO complaints (id, code, branch, device, channel,
		category, description, desired_outcome, language, filed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insE, err := tx.PrepareContext(ctx, `INSERT INTO events (id, complaint_id, type, actor_kind,
		actor_id, at, branch, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insO, err := tx.PrepareContext(ctx, `INSERT INTO outbox (event_id, created_at) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	for range n {
		code, err := trackcode.Generate(prefix)
		if err != nil {
			return err
		}
		if seen[code] { // 40 random bits: rare, but 100,000 draws make it possible
			continue
		}
		seen[code] = true
		now := time.Now().UTC().Truncate(time.Millisecond)
		c := complaint.Complaint{ID: uid.NewAt(now), Code: string(code), Branch: "Main",
			Device: actor.ID, Channel: complaint.ChannelKiosk, Category: "billing",
			Description: "The card machine charged me twice for one coffee and nobody could refund it.",
			Language:    "en", FiledAt: now}
		e, err := event.NewFiled(c, actor, clock.Now())
		if err != nil {
			return err
		}
		if _, err := insC.ExecContext(ctx, c.ID, c.Code, c.Branch, c.Device, string(c.Channel),
			c.Category, c.Description, c.DesiredOutcome, c.Language, c.FiledAt.UnixMilli()); err != nil {
			return fmt.Errorf("complaint: %w", err)
		}
		if _, err := insE.ExecContext(ctx, e.ID, e.ComplaintID, string(e.Type), string(e.Actor.Kind),
			e.Actor.ID, int64(e.At), e.Branch, string(e.Data)); err != nil {
			return fmt.Errorf("event: %w", err)
		}
		if _, err := insO.ExecContext(ctx, e.ID, now.UnixMilli()); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return tx.Commit()
}

// BenchmarkOpenWith100k is the kiosk's start-up on a database with a long
// history: it must not grow with the number of complaints (compare
// BenchmarkOpenEmpty).
func BenchmarkOpenWith100k(b *testing.B) {
	path := templateDB(b)
	st, err := store.Open(context.Background(), path, nil)
	if err != nil {
		b.Fatal(err)
	}
	n, err := st.Count(context.Background())
	st.Close()
	if err != nil || n < seedComplaints-10 {
		b.Fatalf("template holds %d complaints, %v", n, err)
	}
	benchOpen(b, path)
}

// BenchmarkOpenEmpty is start-up on a database with no complaints.
func BenchmarkOpenEmpty(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kiosk.db")
	st, err := store.Open(context.Background(), path, nil)
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	benchOpen(b, path)
}

func benchOpen(b *testing.B, path string) {
	ctx := context.Background()
	for b.Loop() {
		st, err := store.Open(ctx, path, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Identity(ctx); err != nil {
			b.Fatal(err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(time.Millisecond)/float64(b.N), "ms/op")
}
