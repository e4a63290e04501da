package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"ombud/sync/wire"
)

// handleEvents is the live feed: server-sent events telling the page that
// something it shows may have changed. It follows the storage's commit
// feed (the one the sync hub and the case engine follow), keeps what falls
// within the person's scope, and once the case projection has folded it,
// sends "change"; the page's script then reloads. Nothing of the cases
// travels on it. The stream ends when the session does (checked each
// minute) or the client goes.
func (h *Handler) handleEvents(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// The server's write timeout would cut the stream: lift it for this
	// response only.
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	poke := make(chan struct{}, 1)
	cancel := h.store.OnCommit(func(scopes []string) {
		if slices.ContainsFunc(scopes, func(s string) bool { return inScope(wh, s) }) {
			select {
			case poke <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("retry: 3000\n: live\n\n"))
	fl.Flush()
	ctx := r.Context()
	check := time.NewTicker(time.Minute)
	defer check.Stop()
	var wait <-chan time.Time
	var pending bool
	cursor, _ := h.store.CasesCursor(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-check.C:
			if s, err := h.session(r); err != nil || s == nil || s.sess.ID != wh.sess.ID {
				w.Write([]byte("event: signedout\ndata: x\n\n"))
				fl.Flush()
				return
			}
			w.Write([]byte(": ping\n\n"))
			fl.Flush()
		case <-poke:
			pending = true
			if wait == nil {
				wait = time.After(h.opts.Poll)
			}
		case <-wait:
			wait = nil
			c, err := h.store.CasesCursor(ctx)
			if err != nil {
				return
			}
			if c == cursor && pending {
				// The engine has not folded it yet: look again.
				wait = time.After(h.opts.Poll)
				continue
			}
			cursor, pending = c, false
			if _, err := w.Write([]byte("event: change\ndata: x\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// inScope reports whether a commit-feed scope concerns the person.
func inScope(wh *who, scope string) bool {
	if b, ok := strings.CutPrefix(scope, wire.BranchScope("")); ok {
		return wh.scope.All || slices.Contains(wh.scope.Branches, b)
	}
	if t, ok := strings.CutPrefix(scope, wire.TeamScope("")); ok {
		return slices.Contains(wh.scope.Teams, t)
	}
	return false
}
