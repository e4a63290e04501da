package central

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"ombud/server/dispatch"
	"ombud/server/slaapi"
	"ombud/server/storage"
	"ombud/shared/sla"
)

// The SLA calendars and the dispatch rules can be edited at the console as
// well as in their files (--sla-config, --dispatch-config). Every version
// is kept (storage.Desk's config versions: who, when, the whole file), and
// the newest wins:
//
//   - an administrator's edit at the console (or a rollback there) is in
//     force at once, and stays in force across restarts;
//   - a file whose content differs from the last version read from it is a
//     new version: at start for the SLA file, and also whenever the
//     dispatch file changes or on SIGHUP for the dispatch rules (its
//     watcher re-reads it), so an operator who edits the file wins over an
//     earlier console edit;
//   - without a file, the console's newest version, else the defaults.
//
// The README ("The web console") says the same for operators.

// resolveConfig returns the body to put in force at start for kind: the
// file's when it is new (recorded as a version), else the newest console
// version, else the file's (nil without a file). check validates a stored
// body with the file's checks, in case this build is stricter than the one
// that stored it: a refused one is logged and the file's is used.
func (s *Server) resolveConfig(ctx context.Context, st storage.Desk, kind string, file []byte, fileDigest string, check func([]byte) (string, error)) ([]byte, error) {
	vs, err := st.ConfigVersions(ctx, kind, 1000)
	if err != nil {
		return nil, fmt.Errorf("%s config versions: %w", kind, err)
	}
	if file != nil {
		var last *storage.ConfigVersion
		for i := range vs {
			if vs[i].Source == storage.SourceFile {
				last = &vs[i]
				break
			}
		}
		if last == nil || last.Digest != fileDigest {
			if _, err := st.AddConfigVersion(ctx, storage.ConfigVersion{Kind: kind, Body: file, Digest: fileDigest,
				Source: storage.SourceFile, Note: "read from the file at start", At: s.now()}); err != nil {
				return nil, fmt.Errorf("record the %s file: %w", kind, err)
			}
			return file, nil
		}
	}
	if len(vs) == 0 || vs[0].Source == storage.SourceFile {
		return file, nil
	}
	if _, err := check(vs[0].Body); err != nil {
		s.log.Error("the newest "+kind+" configuration edited at the console is refused by this version; the file's is used", "version", vs[0].Version, "err", err)
		return file, nil
	}
	s.log.Info(kind+" configuration: the version edited at the console is in force (newer than the file's)", "version", vs[0].Version, "by", vs[0].StaffID)
	return vs[0].Body, nil
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// liveSLA is the SLA configuration in force, as the console administers it.
type liveSLA struct {
	s   *Server
	api *slaapi.Handler
	mu  sync.Mutex
	cur atomic.Pointer[sla.Config]
}

func (l *liveSLA) Check(body []byte) (string, error) {
	cfg, err := sla.Parse(body)
	if err != nil {
		return "", err
	}
	return cfg.Digest(), nil
}

func (l *liveSLA) Apply(body []byte) error {
	cfg, err := sla.Parse(body)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Store(cfg)
	l.s.engine.SetSLA(cfg)
	if l.api != nil {
		l.api.Set(cfg)
	}
	return nil
}

func (l *liveSLA) Current() []byte { return l.cur.Load().JSON() }

// liveDispatch is the dispatch rules in force: the file's (its watcher's),
// unless a version applied at the console is newer than the file's
// content it was applied over.
type liveDispatch struct {
	w    *dispatch.Watcher // nil without a file
	path string
	st   atomic.Pointer[dispatchOverride]
}

type dispatchOverride struct {
	rules *dispatch.Rules
	body  []byte
	// fileDigest is the file's rules' digest when the override was
	// applied: once the file's differ, the file is newer and wins.
	fileDigest string
}

func (l *liveDispatch) file() *dispatch.Rules {
	if l.w == nil {
		return dispatch.Default()
	}
	return l.w.Rules()
}

// Rules is the engine's Dispatch.
func (l *liveDispatch) Rules() *dispatch.Rules {
	f := l.file()
	if o := l.st.Load(); o != nil && o.fileDigest == f.Digest() {
		return o.rules
	}
	return f
}

func (l *liveDispatch) Check(body []byte) (string, error) {
	r, err := dispatch.Parse(body)
	if err != nil {
		return "", err
	}
	return r.Digest(), nil
}

func (l *liveDispatch) Apply(body []byte) error {
	r, err := dispatch.Parse(body)
	if err != nil {
		return err
	}
	l.st.Store(&dispatchOverride{rules: r, body: body, fileDigest: l.file().Digest()})
	return nil
}

// Current is the rules' text in force: the console's version, or the
// file as it is now (nil without a file: the built-in default).
func (l *liveDispatch) Current() []byte {
	f := l.file()
	if o := l.st.Load(); o != nil && o.fileDigest == f.Digest() {
		return o.body
	}
	if l.path == "" {
		return nil
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		return nil
	}
	return b
}

// resolveConfigs decides, at start, which SLA config and dispatch rules
// are in force (see above), before the engine is made. A database that
// keeps no versions (storage.Desk) has only the files.
func (s *Server) resolveConfigs() error {
	st, ok := s.store.(storage.Desk)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var file []byte
	if s.slaFile {
		file = s.cfg.SLA.JSON()
	}
	body, err := s.resolveConfig(ctx, st, storage.ConfigSLA, file, s.cfg.SLA.Digest(), (*liveSLA)(nil).Check)
	if err != nil {
		return err
	}
	if body != nil && !bytes.Equal(body, file) {
		if s.cfg.SLA, err = sla.Parse(body); err != nil {
			return err
		}
	}
	file = nil
	var digest string
	if s.cfg.DispatchConfig != "" {
		if b, err := os.ReadFile(s.cfg.DispatchConfig); err == nil {
			if d, err := s.liveDispatch.Check(b); err == nil {
				file, digest = b, d
			}
		}
	}
	if body, err = s.resolveConfig(ctx, st, storage.ConfigDispatch, file, digest, s.liveDispatch.Check); err != nil {
		return err
	}
	if body != nil && !bytes.Equal(body, file) {
		return s.liveDispatch.Apply(body)
	}
	return nil
}

// SLA is the SLA configuration in force (after Open).
func (s *Server) SLA() *sla.Config { return s.liveSLA.cur.Load() }

// DispatchRules are the dispatch rules in force (after Open).
func (s *Server) DispatchRules() *dispatch.Rules { return s.liveDispatch.Rules() }
