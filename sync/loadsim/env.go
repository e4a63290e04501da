package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	kenrol "ombud/kiosk/enrol"
	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	devicerole "ombud/shared/device"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// env is the server under test and the simulated devices.
type env struct {
	o      options
	stderr io.Writer
	log    *slog.Logger
	dir    string
	ownDir bool
	runID  string // keeps branch names of runs against one external server apart

	// In-process server (nil with --server).
	st  *sqlite.Store
	hub *hub.Hub
	srv *httptest.Server
	// External server: its database, when devices are enrolled into it.
	ext   *sqlite.Store
	codes []string

	url string // the server's base URL, http://...

	startProfile func()
	mu           sync.Mutex
	branches     map[string]bool
}

// fakeDevices makes every id starting "idle-" a device of branch "idle"
// without enrolling it (--auth=fake, idle scenario only): enrolling 10,000
// devices costs three transactions each and measures nothing about idle
// connections.
type fakeDevices struct{ *sqlite.Store }

func (s fakeDevices) Resume(ctx context.Context, id string, h hub.Hello) (int64, error) {
	if strings.HasPrefix(id, "idle-") {
		return 0, nil
	}
	return s.Store.Resume(ctx, id, h)
}

func newEnv(ctx context.Context, o options, stderr io.Writer) (*env, error) {
	e := &env{o: o, stderr: stderr, branches: map[string]bool{}, runID: uid.New()[24:]}
	level := slog.LevelError + 1
	if o.verbose {
		level = slog.LevelWarn
	}
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	e.dir = o.dir
	if e.dir == "" {
		d, err := os.MkdirTemp("", "loadsim-")
		if err != nil {
			return nil, err
		}
		e.dir, e.ownDir = d, true
	}
	if o.server != "" {
		e.url = strings.TrimRight(o.server, "/")
		if o.serverData != "" {
			st, err := sqlite.Open(ctx, filepath.Join(o.serverData, "server.db"))
			if err != nil {
				e.close()
				return nil, fmt.Errorf("server database: %w", err)
			}
			e.ext = st
		} else {
			raw, err := os.ReadFile(o.enrolCodes)
			if err != nil {
				e.close()
				return nil, err
			}
			for _, l := range strings.Split(string(raw), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					e.codes = append(e.codes, l)
				}
			}
			if len(e.codes) < o.devices {
				e.close()
				return nil, fmt.Errorf("--enrol-codes: %d codes for %d devices", len(e.codes), o.devices)
			}
		}
		return e, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(e.dir, "server.db"))
	if err != nil {
		e.close()
		return nil, err
	}
	e.st = st
	cfg := hub.Config{Log: st, Auth: enrol.SyncAuth{Store: st}, Logger: e.log}
	if o.auth == "fake" {
		cfg.Log = fakeDevices{st}
		cfg.Auth = hub.AuthenticateFunc(func(r *http.Request) (hub.Device, error) {
			id, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !strings.HasPrefix(id, "idle-") {
				return hub.Device{}, fmt.Errorf("%w: not a fake device", hub.ErrRefused)
			}
			return hub.Device{ID: id, Scopes: []string{wire.BranchScope("idle")}}, nil
		})
	}
	e.hub = hub.New(cfg)
	e.srv = httptest.NewServer(e.hub) // 127.0.0.1, a free port
	e.url = e.srv.URL
	return e, nil
}

func (e *env) serverKind() string {
	if e.hub != nil {
		return "in-process"
	}
	return e.url
}

func (e *env) authKind() string {
	switch {
	case e.o.auth == "fake":
		return "fake (no enrolment; any bearer id)"
	case e.hub != nil:
		return "real (enrolled in-process via server/enrol)"
	case e.ext != nil:
		return "real (enrolled into --server-data)"
	}
	return "real (redeemed via POST /api/v1/enrol)"
}

func (e *env) close() {
	if e.hub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = e.hub.Shutdown(ctx)
		cancel()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.st != nil {
		e.st.Close()
	}
	if e.ext != nil {
		e.ext.Close()
	}
	if e.ownDir {
		os.RemoveAll(e.dir)
	}
}

// credential is what a device needs to connect.
type credential struct {
	DeviceID, Secret, Branch, Prefix string
}

// enrol enrols device i (whose local id is localID) and returns its
// credential.
func (e *env) enrol(ctx context.Context, i int, localID string) (credential, error) {
	if e.o.auth == "fake" {
		return credential{DeviceID: fmt.Sprintf("idle-%d", i), Branch: "idle", Prefix: "000"}, nil
	}
	if e.codes != nil {
		c, err := kenrol.EnrolAs(ctx, nil, e.url, e.codes[i], fmt.Sprintf("loadsim %d", i), localID)
		if err != nil {
			return credential{}, fmt.Errorf("enrol device %d: %w", i, err)
		}
		return credential{DeviceID: c.DeviceID, Secret: c.Secret, Branch: c.Branch, Prefix: c.CodePrefix}, nil
	}
	st := e.st
	if st == nil {
		st = e.ext
	}
	branch := fmt.Sprintf("sim-%s-%d", e.runID, i/e.o.perBranch)
	e.mu.Lock()
	if !e.branches[branch] {
		if err := st.CreateBranch(ctx, branch, "loadsim "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
			e.mu.Unlock()
			return credential{}, err
		}
		e.branches[branch] = true
	}
	e.mu.Unlock()
	now := time.Now()
	// Simulated devices are customer kiosks: they file, and receive nothing.
	code, _, err := enrol.Issue(ctx, st, enrol.Grant{Branch: branch, Role: devicerole.Kiosk}, time.Hour, now)
	if err != nil {
		return credential{}, err
	}
	en, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: fmt.Sprintf("loadsim %d", i), DeviceID: localID}, now)
	if err != nil {
		return credential{}, err
	}
	id, secret, ok := strings.Cut(en.Credential, ".")
	if !ok || id != en.Device.ID {
		return credential{}, errors.New("enrol: malformed credential")
	}
	return credential{DeviceID: id, Secret: secret, Branch: en.Device.Branch, Prefix: en.Device.Prefix}, nil
}

// finish adds the server's own counters.
func (e *env) finish(res *result) {
	if e.hub != nil {
		s := e.hub.Stats()
		res.ServerPushes, res.ServerRejects, res.ServerDups = s.Pushes, s.Rejects, s.Duplicates
	}
	total, _ := memInUse()
	res.ProcessMemMiB = float64(total) / (1 << 20)
}

// memInUse is the heap and stack memory in use after a full collection,
// and the stack part alone.
func memInUse() (total, stack uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.StackInuse
}

// vmRSS reads a process's resident set from /proc (bytes).
func vmRSS(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmRSS")
}
