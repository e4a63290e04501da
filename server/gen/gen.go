// Package gen builds a large synthetic data set directly into a server's
// SQLite database, for the console's benchmarks (server/console) and for
// trying the console at scale (`server gen`): N cases across M branches,
// 5% queued to team:fraud, descriptions of words drawn from a French and
// English list (accents included), filed over the last 90 days, a third
// acknowledged, 10% closed, deadlines from 3 days ago to 20 days ahead.
//
// It writes the events, complaints and cases tables in large transactions
// (filing each case through the sync path would take hours for a
// million); the case-text trigger indexes every description as it is
// written, as it does for real events. The rows are the case engine's
// shape, so a server started on the database serves them at once; the
// generated cases are not real complaints and must never be mixed with a
// production database (Generate refuses a database that has events).
package gen

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/uid"
)

// Words are the descriptions' vocabulary.
var Words = strings.Fields(`carte volée retrait distributeur frais prélèvement compte agence conseiller
virement refusé erreur remboursement attente téléphone courrier crédit prêt taux découvert chèque
opposition fraude paiement inconnu internet application mot de passe bloqué délai réponse accueil
card stolen withdrawal fee charge account branch advisor transfer refused error refund waiting phone
letter loan rate overdraft cheque fraud payment unknown online blocked delay answer service été déçu`)

// Options size the data set.
type Options struct {
	Cases    int
	Branches int // at least 1
	// Seed makes the data set reproducible (the same seed, the same
	// cases, but new ids).
	Seed uint64
	// Now is the data set's present (time.Now when zero).
	Now time.Time
	// SampleEvery keeps the id of every SampleEvery-th case in Result
	// (Cases/50+1 when zero).
	SampleEvery int
	// Progress, when set, is called after each transaction.
	Progress func(done int)
}

// Result is what was made.
type Result struct {
	Sample  []string // complaint ids across the data set
	Elapsed time.Duration
}

// BranchID names the i-th generated branch.
func BranchID(i int) string { return fmt.Sprintf("b%04d", i) }

const batch = 20000

// Generate builds the data set in the SQLite database at path (created and
// migrated if new). It refuses a database that already has events.
func Generate(ctx context.Context, path string, o Options) (Result, error) {
	var res Result
	if o.Cases < 0 || o.Branches < 1 || o.Branches > 100000 {
		return res, errors.New("gen: want 0 or more cases and 1 to 100,000 branches")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = o.Cases/50 + 1
	}
	start := time.Now()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return res, err
	}
	stats, err := st.Stats(ctx)
	if err == nil && stats.Events > 0 {
		err = fmt.Errorf("gen: %s already holds %d events: generate into a new database", path, stats.Events)
	}
	for i := 0; err == nil && i < o.Branches; i++ {
		err = st.CreateBranch(ctx, BranchID(i), "Branch "+strconv.Itoa(i))
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	db, err := sql.Open("sqlite", sqlite.DSN(path, false))
	if err != nil {
		return res, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rng := rand.New(rand.NewPCG(o.Seed, 2))
	now := o.Now
	for done := 0; done < o.Cases; {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		n, err := writeBatch(ctx, db, rng, now, o, done, &res)
		if err != nil {
			return res, err
		}
		done += n
		if o.Progress != nil {
			o.Progress(done)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func writeBatch(ctx context.Context, db *sql.DB, rng *rand.Rand, now time.Time, o Options, done int, res *Result) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ev, err := tx.PrepareContext(ctx, `INSERT INTO events (id, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at) VALUES (?, ?, ?, 'filed', 'customer', '', ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	co, err := tx.PrepareContext(ctx, `INSERT INTO complaints (id, code, branch, category, filed_at, filed_event_id) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	ca, err := tx.PrepareContext(ctx, `INSERT INTO cases (complaint_id, code, branch, state, queue, severity, priority, category, escalation_level,
		waiting_on_customer, filed_at, acknowledged_at, responded_at, closed_at, ack_due, respond_due, next_due, next_target, updated_at, seq)
		VALUES (?, ?, ?, ?, ?, '', 0, ?, 0, 0, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	i := 0
	for ; i < batch && done+i < o.Cases; i++ {
		k := done + i
		br := BranchID(rng.IntN(o.Branches))
		id := uid.New()
		code := fmt.Sprintf("Z%09X", k)
		filed := now.Add(-time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
		words := make([]string, 8+rng.IntN(30))
		for w := range words {
			words[w] = Words[rng.IntN(len(Words))]
		}
		cat := []string{"cards", "fees", "loans", "service"}[rng.IntN(4)]
		c := complaint.Complaint{ID: id, Code: code, Branch: br, Channel: complaint.ChannelKiosk, Category: cat,
			Description: strings.Join(words, " "), Language: "fr", FiledAt: filed}
		data, _ := json.Marshal(c)
		evID := uid.NewAt(filed)
		at := filed.UnixMilli() << 16
		if _, err := ev.ExecContext(ctx, evID, id, br, at, data, filed.UnixNano()); err != nil {
			return 0, err
		}
		if _, err := co.ExecContext(ctx, id, code, br, cat, filed.UnixNano(), evID); err != nil {
			return 0, err
		}
		state, queue := "received", "branch:"+br
		if rng.IntN(20) == 0 {
			queue = "team:fraud"
		}
		var acked, closed, nextDue sql.NullInt64
		target := "acknowledge"
		due := now.Add(time.Duration(rng.Int64N(int64(23*24*time.Hour))) - 3*24*time.Hour)
		switch r := rng.IntN(10); {
		case r == 0:
			state, target = "closed", ""
			closed = sql.NullInt64{Int64: now.UnixNano(), Valid: true}
			acked = sql.NullInt64{Int64: filed.UnixNano(), Valid: true}
		case r < 4:
			state, target = "acknowledged", "respond"
			acked = sql.NullInt64{Int64: filed.UnixNano(), Valid: true}
			nextDue = sql.NullInt64{Int64: due.UnixNano(), Valid: true}
		default:
			nextDue = sql.NullInt64{Int64: due.UnixNano(), Valid: true}
		}
		if _, err := ca.ExecContext(ctx, id, code, br, state, queue, cat, filed.UnixNano(), acked, closed,
			due.UnixNano(), due.UnixNano(), nextDue, target, filed.UnixNano(), k+1); err != nil {
			return 0, err
		}
		if k%o.SampleEvery == 0 {
			res.Sample = append(res.Sample, id)
		}
	}
	return i, tx.Commit()
}
