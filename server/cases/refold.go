package cases

import (
	"context"
	"fmt"

	"ombud/server/storage"
	"ombud/shared/sla"
)

// projectionVersion names how row turns a folded case into a row. Bump it
// with any change to what row computes: every projection is then refolded
// at the next start, as after an SLA edit.
const projectionVersion = "cases/v3" // v2: a reopened case owes a new answer (sla.Reanswer); v3: a decided case is due to close (AnswerBy)

// projectionFingerprint names everything besides the log that a row depends
// on: the fold (projectionVersion) and the SLA config (its deadlines, and
// whether there are any). The dispatch rules and the escalation queue are
// not in it: they decide which events the engine appends, and the rows
// follow from those events, not from the config.
func projectionFingerprint(cfg *sla.Config) string {
	if cfg == nil {
		return projectionVersion + " sla:none"
	}
	return projectionVersion + " sla:" + cfg.Digest()
}

// checkConfig makes sure the stored rows were folded under this engine's
// configuration, refolding every one of them in place if not: rows folded
// under an edited SLA config keep the old deadlines until their case's next
// event, so a lengthened target would leave them due (and Tick rereading
// them), a shortened one escalate late, and a newly added config leave
// cases with none. It runs once per engine, before the follower's first
// page and Tick's first scan. The caller holds e.mu.
func (e *Engine) checkConfig(ctx context.Context) error {
	if e.configChecked {
		return nil
	}
	stored, err := e.cfg.Store.CasesConfig(ctx)
	if err != nil {
		return fmt.Errorf("check case projection config: %w", err)
	}
	if stored != e.fingerprint {
		n, err := e.refoldAll(ctx)
		if err != nil {
			return fmt.Errorf("refold cases for a new config: %w", err)
		}
		// Recorded only once every row is refolded: a crash before this
		// refolds again at the next start.
		if err := e.cfg.Store.SetCasesConfig(ctx, e.fingerprint); err != nil {
			return err
		}
		if n > 0 {
			e.log.Info("case projection: configuration changed; every case refolded", logCount, n)
		}
	}
	e.configChecked = true
	return nil
}

// refoldAll recomputes every stored row from its events under the current
// configuration, in place (the cursor does not move), and returns how many
// rows it wrote. Rows stay readable throughout, unlike in a Rebuild. The
// caller holds e.mu.
func (e *Engine) refoldAll(ctx context.Context) (int, error) {
	n := 0
	for after := ""; ; {
		page, err := e.cfg.Store.CasesAfter(ctx, after, e.cfg.PageSize)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		ids := make([]string, len(page))
		for i, r := range page {
			ids[i] = r.ComplaintID
		}
		saved, err := e.refoldInPlace(ctx, ids)
		if err != nil {
			return n, err
		}
		n += saved
		after = ids[len(ids)-1]
	}
}

// refoldInPlace folds the given cases afresh and saves their rows at the
// projection's cursor without moving it, returning how many it saved. If
// the cursor moves meanwhile (another engine on the database committed a
// page), it folds them again rather than overwrite what that engine may
// have saved from newer events. The caller holds e.mu.
func (e *Engine) refoldInPlace(ctx context.Context, ids []string) (int, error) {
	st := e.cfg.Store
	for {
		cursor, err := st.CasesCursor(ctx)
		if err != nil {
			return 0, err
		}
		// No event is in a page here: only a case never assigned can be
		// routed, as the follower would route it.
		rows, err := e.foldCases(ctx, ids, nil)
		if err != nil {
			return 0, err
		}
		err = st.SaveCases(ctx, cursor, cursor, rows)
		if storage.ErrorCode(err) == storage.Conflict {
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(rows), nil
	}
}
