package tracking

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
)

// The page is read far more often than a case changes, and reading and
// folding every event, formatting every date and executing the template on
// each request cost ten times what the HTTP stack does. So each
// complaint's folded case is kept in memory with the version of the event
// log it was folded from (storage.EventsVersion), and every request checks
// that version with one indexed read (Store.ComplaintHead) before using
// it: an event stored by anyone (a device's push, staff, this page, a
// second server on the same database) changes the version, so the page
// never shows a stale case. What the case's page looks like in one
// language is kept beside it, rendered once, with holes where each request
// puts its own form nonces and tokens.

// Bounds on what the cache holds: whole cases, and rendered page shapes
// per case (languages times confirmations, rarely more than a few).
const (
	maxCachedCases = 4096
	maxShapes      = 16
)

// maxActions bounds len(actions): a sentinel names its form by one digit.
const maxActions = 10

// folded is one complaint's events folded, as of version. Read-only once
// made, except for its own memo maps under mu.
type folded struct {
	version storage.EventsVersion
	c       lifecycle.Case
	events  []event.Event // applied public events, in fold order
	all     []event.Event // every stored event, for idempotency checks

	mu       sync.Mutex
	timeline map[timelineKey][]entry
	shapes   map[shapeKey]*shape
}

type timelineKey struct{ lang, branch string }

// shapeKey is everything a case page depends on besides the case itself
// and the per-request form fields.
type shapeKey struct {
	lang, done, branch string
	next               NextStep
	overdue            bool
}

// caseCache maps complaint ids to their latest folded case.
type caseCache struct {
	mu sync.Mutex
	m  map[string]*folded
}

// get returns the case folded at version v, if held.
func (cc *caseCache) get(id string, v storage.EventsVersion) *folded {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if f := cc.m[id]; f != nil && f.version == v {
		return f
	}
	return nil
}

// put keeps f unless a newer fold of the same case is held already (two
// requests racing a new event).
func (cc *caseCache) put(id string, f *folded) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = make(map[string]*folded)
	}
	if old := cc.m[id]; old != nil && old.version.LastSeq > f.version.LastSeq {
		return
	}
	if _, held := cc.m[id]; !held && len(cc.m) >= maxCachedCases {
		for k := range cc.m { // an arbitrary one: map order is random
			delete(cc.m, k)
			break
		}
	}
	cc.m[id] = f
}

// entries returns the timeline in lang, formatted once per branch name.
func (f *folded) entries(h *Handler, lang, branch string) []entry {
	k := timelineKey{lang, branch}
	f.mu.Lock()
	es, ok := f.timeline[k]
	f.mu.Unlock()
	if ok {
		return es
	}
	es = make([]entry, len(f.events))
	for i := range f.events {
		es[i] = h.entryOf(lang, branch, &f.events[i])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timeline == nil || len(f.timeline) >= maxShapes {
		f.timeline = make(map[timelineKey][]entry)
	}
	f.timeline[k] = es
	return es
}

// shape returns the page for k, rendering it with make on first use; nil
// when it cannot be cut into a shape (render in full then).
func (f *folded) shape(k shapeKey, render func() *shape) *shape {
	f.mu.Lock()
	s, ok := f.shapes[k]
	f.mu.Unlock()
	if ok {
		return s
	}
	s = render()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shapes == nil || len(f.shapes) >= maxShapes {
		f.shapes = make(map[shapeKey]*shape)
	}
	f.shapes[k] = s
	return s
}

// A shape is a rendered page cut where the forms' nonces and tokens go:
// parts[0] hole[0] parts[1] hole[1] ... parts[n].
type shape struct {
	parts [][]byte
	holes []hole
	size  int // bytes in parts
}

// hole is one form field a request fills in.
type hole struct {
	form  int // index in actions
	token bool
}

// Sentinels put in the forms while rendering a shape: the handler's random
// mark (never shown to anyone, so no text on the page can hold it), 'n'
// or 't', and the action's index.
func (h *Handler) sentinel(form int, token bool) string {
	kind := "n"
	if token {
		kind = "t"
	}
	return h.mark + kind + strconv.Itoa(form)
}

// cut splits a page rendered with sentinels into a shape; nil if a mark is
// not followed by a sentinel it knows.
func (h *Handler) cut(page []byte) *shape {
	s := &shape{}
	mark := []byte(h.mark)
	for {
		i := bytes.Index(page, mark)
		if i < 0 {
			break
		}
		rest := page[i+len(mark):]
		if len(rest) < 2 || (rest[0] != 'n' && rest[0] != 't') || rest[1] < '0' || int(rest[1]-'0') >= len(actions) {
			return nil
		}
		s.parts = append(s.parts, page[:i])
		s.holes = append(s.holes, hole{form: int(rest[1] - '0'), token: rest[0] == 't'})
		s.size += i
		page = rest[2:]
	}
	s.parts = append(s.parts, page)
	s.size += len(page)
	return s
}

// fill writes the shape with fresh form fields made at now for the case
// with code.
func (h *Handler) fill(buf *bytes.Buffer, s *shape, code string, now time.Time) {
	var nonces, tokens [maxActions]string
	buf.Grow(s.size + len(s.holes)*44)
	for i, p := range s.parts {
		buf.Write(p)
		if i == len(s.holes) {
			break
		}
		hl := s.holes[i]
		if nonces[hl.form] == "" {
			nonces[hl.form] = h.newNonce(now)
			tokens[hl.form] = h.formToken(code, actions[hl.form].name, nonces[hl.form], now)
		}
		if hl.token {
			buf.WriteString(tokens[hl.form])
		} else {
			buf.WriteString(nonces[hl.form])
		}
	}
}

// buffers are reused between renders: a page is about 8 KB.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := buffers.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 { // one huge page should not pin its buffer
		buffers.Put(b)
	}
}
