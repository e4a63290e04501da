package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"golang.org/x/text/unicode/norm"

	"ombud/shared/event"
)

// The console's full-text search (storage.Console.SearchCases) on
// PostgreSQL. SQLite's FTS5 index folds case and accents ("vole" finds
// "volé", tokenize unicode61 remove_diacritics); PostgreSQL's unaccent
// extension is contrib, not always installed, and lives in one schema, so
// the folding is done here in Go instead, the same for what is stored and
// what is searched: case_text holds a 'simple' tsvector of the folded words
// of each event's text, written by the transaction that stores the event
// (never behind the log), and a search is a prefix tsquery of the folded
// words typed.

// textTypes are the events whose text is searchable: what customers and
// staff wrote.
var textTypes = map[event.Type]bool{
	event.Filed: true, event.InfoProvided: true, event.MessageSent: true,
	event.NoteAdded: true, event.InfoRequested: true, event.Responded: true,
}

// searchText is the searchable text of an event, "" for none.
func searchText(typ event.Type, data []byte) string {
	if !textTypes[typ] || len(data) == 0 {
		return ""
	}
	var v struct {
		Description    string `json:"description"`
		DesiredOutcome string `json:"desired_outcome"`
		Text           string `json:"text"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	if typ == event.Filed {
		return foldWords(v.Description + " " + v.DesiredOutcome)
	}
	return foldWords(v.Text)
}

// words splits s into letters-and-digits words, as FTS5's unicode61 does.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
}

// fold lowercases a word and removes its diacritics (NFD, then the
// combining marks dropped): "Volé" is "vole".
func fold(w string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// foldWords is s as folded words separated by single spaces.
func foldWords(s string) string {
	ws := words(s)
	for i, w := range ws {
		ws[i] = fold(w)
	}
	return strings.Join(ws, " ")
}

// queueText queues the index rows of the events just stored on b.
func queueText(b *pgx.Batch, events []stored) {
	var (
		ids    []string
		seqs   []int64
		bodies []string
	)
	for _, s := range events {
		if t := searchText(s.e.Type, s.e.Data); t != "" {
			ids, seqs, bodies = append(ids, s.e.ComplaintID), append(seqs, s.seq), append(bodies, t)
		}
	}
	if len(ids) == 0 {
		return
	}
	b.Queue(`INSERT INTO case_text (complaint_id, seq, body)
		SELECT c, s, to_tsvector('simple', t) FROM unnest($1::text[], $2::bigint[], $3::text[]) AS x(c, s, t)`, ids, seqs, bodies)
}

// indexText indexes the events just stored in tx.
func indexText(ctx context.Context, tx pgx.Tx, events []stored) error {
	b := &pgx.Batch{}
	queueText(b, events)
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	return nil
}

// backfillText indexes the events stored before the index existed, once:
// the counter 'case_text' is made by the transaction that does it.
func (s *Store) backfillText(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := lockLog(ctx, tx); err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO counters (name, value) VALUES ('case_text', 1) ON CONFLICT (name) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE type = ANY($1) AND redacted_at IS NULL ORDER BY seq`,
		[]string{string(event.Filed), string(event.InfoProvided), string(event.MessageSent), string(event.NoteAdded), string(event.InfoRequested), string(event.Responded)})
	if err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	evs, err := scanEvents(rows, 0)
	if err != nil {
		return fmt.Errorf("index text: %w", err)
	}
	st := make([]stored, len(evs))
	for i := range evs {
		st[i] = stored{seq: evs[i].Seq, e: &evs[i].Event}
	}
	if err := indexText(ctx, tx, st); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
