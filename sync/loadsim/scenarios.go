package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// makeDevices creates and enrols n devices, 32 at a time.
func (e *env) makeDevices(ctx context.Context, n int) ([]device, error) {
	devs := make([]device, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan int)
	for range min(n, 32) {
		wg.Go(func() {
			for i := range next {
				cfg := deviceConfig{i: i, dir: e.dir, url: e.url, descBytes: e.o.descBytes, enrol: e.enrol,
					log: func(f string, a ...any) {
						if e.o.verbose {
							fmt.Fprintf(e.stderr, f+"\n", a...)
						}
					}}
				var d device
				var err error
				if e.o.store == "light" {
					d, err = newLightDevice(ctx, cfg)
				} else {
					d, err = newSQLiteDevice(ctx, cfg)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("device %d: %w", i, err)
				}
				if err == nil {
					devs[i] = d
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		stopAll(devs)
		return nil, firstErr
	}
	return devs, nil
}

func stopAll(devs []device) {
	var wg sync.WaitGroup
	for _, d := range devs {
		if d != nil {
			wg.Go(d.stop)
		}
	}
	wg.Wait()
}

func (e *env) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.o.timeout)
}

// waitConnected waits until every device has had its server_hello.
func (e *env) waitConnected(ctx context.Context, devs []device) error {
	ctx, cancel := e.deadline(ctx)
	defer cancel()
	for i, d := range devs {
		select {
		case <-d.track().hello:
		case <-ctx.Done():
			return fmt.Errorf("device %d not connected within %s", i, e.o.timeout)
		}
	}
	return nil
}

// waitDurable waits until rec has seen its target, or the deadline.
func (e *env) waitDurable(ctx context.Context, rec *recorder) error {
	ctx, cancel := e.deadline(ctx)
	defer cancel()
	select {
	case <-rec.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("only %d of %d complaints durable at the server within %s", rec.durable.Load(), rec.target, e.o.timeout)
	}
}

// fileAll has every device file per complaints at once, one goroutine per
// device, and returns when all are filed.
func fileAll(ctx context.Context, devs []device, per int) error {
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for i, d := range devs {
		wg.Go(func() {
			for range per {
				if err := d.file(ctx); err != nil {
					err = fmt.Errorf("device %d: file: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (rec *recorder) into(res *result, t0 time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.Durable = rec.durable.Load()
	if !rec.last.IsZero() {
		res.Seconds = rec.last.Sub(t0).Seconds()
		if res.Seconds > 0 {
			res.PerSecond = float64(res.Durable) / res.Seconds
		}
		if s := rec.last.Sub(rec.first).Seconds(); s > 0 {
			res.ServerSecs, res.ServerRate = s, float64(res.Durable)/s
		}
	}
	res.percentiles(rec.lat)
}

// catchup: each device (one by default) files a backlog offline, then
// connects; the phase runs from the connect to the last push_ack.
func (e *env) catchup(ctx context.Context, res *result) error {
	devs, err := e.makeDevices(ctx, e.o.devices)
	if err != nil {
		return err
	}
	defer stopAll(devs)
	start := time.Now()
	if err := fileAll(ctx, devs, e.o.complaints); err != nil {
		return err
	}
	res.FilingSecs = time.Since(start).Seconds()
	res.Complaints = e.o.devices * e.o.complaints
	rec := newRecorder(int64(res.Complaints))
	for _, d := range devs {
		d.track().phase(rec, false)
	}
	e.startProfile()
	t0 := time.Now()
	for _, d := range devs {
		d.start(ctx)
	}
	err = e.waitDurable(ctx, rec)
	rec.into(res, t0)
	return err
}

// burst: all devices connected, then each files its complaints at once;
// the phase runs from the first filing to the last push_ack.
func (e *env) burst(ctx context.Context, res *result) error {
	devs, err := e.makeDevices(ctx, e.o.devices)
	if err != nil {
		return err
	}
	defer stopAll(devs)
	for _, d := range devs {
		d.start(ctx)
	}
	if err := e.waitConnected(ctx, devs); err != nil {
		return err
	}
	res.Complaints = e.o.devices * e.o.complaints
	rec := newRecorder(int64(res.Complaints))
	for _, d := range devs {
		d.track().phase(rec, true)
	}
	e.startProfile()
	t0 := time.Now()
	if err := fileAll(ctx, devs, e.o.complaints); err != nil {
		return err
	}
	res.FilingSecs = time.Since(t0).Seconds()
	err = e.waitDurable(ctx, rec)
	rec.into(res, t0)
	return err
}

// steady: all devices connected, together filing --rate complaints/s for
// --duration, each on its own fixed schedule with a random phase (open
// loop: a device that falls behind files late, and the lag is reported).
func (e *env) steady(ctx context.Context, res *result) error {
	devs, err := e.makeDevices(ctx, e.o.devices)
	if err != nil {
		return err
	}
	defer stopAll(devs)
	for _, d := range devs {
		d.start(ctx)
	}
	if err := e.waitConnected(ctx, devs); err != nil {
		return err
	}
	interval := time.Duration(float64(len(devs)) / e.o.rate * float64(time.Second))
	per := int(e.o.duration / interval)
	if per < 1 {
		return fmt.Errorf("--duration %s is shorter than one device's interval %s", e.o.duration, interval)
	}
	res.Complaints = per * len(devs)
	res.Offered = float64(res.Complaints) / e.o.duration.Seconds()
	rec := newRecorder(int64(res.Complaints))
	for _, d := range devs {
		d.track().phase(rec, true)
	}
	e.startProfile()
	t0 := time.Now()
	var maxLag atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for i, d := range devs {
		offset := time.Duration(rand.Int64N(int64(interval)))
		wg.Go(func() {
			t := time.NewTimer(time.Hour)
			defer t.Stop()
			for k := range per {
				at := t0.Add(offset + time.Duration(k)*interval)
				if wait := time.Until(at); wait > 0 {
					t.Reset(wait)
					select {
					case <-t.C:
					case <-ctx.Done():
						return
					}
				}
				if lag := int64(time.Since(at)); lag > maxLag.Load() {
					maxLag.Store(lag) // racy max: good enough for a report
				}
				if err := d.file(ctx); err != nil {
					err = fmt.Errorf("device %d: file: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	err = e.waitDurable(ctx, rec)
	rec.into(res, t0)
	res.Lag = ms(time.Duration(maxLag.Load()))
	return err
}

// idle: N devices connect, say hello and stay idle; the server's memory is
// read before and after. The clients run in a child process (this program
// again, --idle-child) so their own buffers and goroutines are not counted.
func (e *env) idle(ctx context.Context, res *result, stdin io.Reader) error {
	if e.hub == nil && e.o.serverPID == 0 {
		return errors.New("idle against --server needs --server-pid to read its memory")
	}
	creds := make([]credential, e.o.devices)
	var devs []device
	if e.o.idleClients == "inprocess" {
		var err error
		if devs, err = e.makeDevices(ctx, e.o.devices); err != nil {
			return err
		}
		defer stopAll(devs)
	} else {
		for i := range creds {
			c, err := e.enrol(ctx, i, fmt.Sprintf("idle-%s-%d", e.runID, i))
			if err != nil {
				return err
			}
			creds[i] = c
		}
	}
	before, beforeStack := e.serverMem()
	e.startProfile()
	var child *exec.Cmd
	var childIn io.WriteCloser
	if devs != nil {
		for _, d := range devs {
			d.start(ctx)
		}
		if err := e.waitConnected(ctx, devs); err != nil {
			return err
		}
	} else {
		spec, err := os.CreateTemp(e.dir, "idle-*.txt")
		if err != nil {
			return err
		}
		fmt.Fprintln(spec, e.url)
		for _, c := range creds {
			fmt.Fprintf(spec, "%s %s\n", c.DeviceID, c.Secret)
		}
		spec.Close()
		self, err := os.Executable()
		if err != nil {
			return err
		}
		cctx, cancel := e.deadline(ctx)
		defer cancel()
		child = exec.CommandContext(cctx, self, "--idle-child", spec.Name())
		child.Stderr = e.stderr
		childIn, _ = child.StdinPipe()
		out, _ := child.StdoutPipe()
		if err := child.Start(); err != nil {
			return err
		}
		defer func() {
			childIn.Close()
			_ = child.Wait()
		}()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ready") {
			return fmt.Errorf("idle client process: %q, %v", line, err)
		}
	}
	if e.hub != nil {
		dl := time.Now().Add(e.o.timeout)
		for e.hub.Stats().Connections < int64(e.o.devices) {
			if time.Now().After(dl) {
				return fmt.Errorf("only %d of %d connected", e.hub.Stats().Connections, e.o.devices)
			}
			<-time.After(20 * time.Millisecond)
		}
	}
	after, afterStack := e.serverMem()
	res.Connections = e.o.devices
	res.MemPerConn = (float64(after) - float64(before)) / float64(e.o.devices)
	res.StackPerConn = (float64(afterStack) - float64(beforeStack)) / float64(e.o.devices)
	switch {
	case e.hub == nil:
		res.MemHow = "VmRSS delta of --server-pid"
	case devs != nil:
		res.MemHow = "HeapInuse+StackInuse delta, clients in this process too"
	default:
		res.MemHow = "HeapInuse+StackInuse delta, clients in a child process"
	}
	if e.hub != nil {
		res.Goroutines = runtime.NumGoroutine()
	}
	return nil
}

// serverMem is the server's memory: in-process heap+stack in use, or the
// external server's VmRSS.
func (e *env) serverMem() (total, stack uint64) {
	if e.hub != nil {
		return memInUse()
	}
	rss, err := vmRSS(e.o.serverPID)
	if err != nil {
		fmt.Fprintln(e.stderr, "read server memory:", err)
	}
	return rss, 0
}

// idleChildMain is the idle scenario's client process: it connects every
// device in the spec file (first line the server URL, then "id secret"),
// prints "ready", answers pings until stdin closes, then hangs up.
func idleChildMain(ctx context.Context, spec string, stdin io.Reader, stdout io.Writer) error {
	raiseOpenFiles(os.Stderr)
	raw, err := os.ReadFile(spec)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	url := lines[0]
	var creds []credential
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		c := credential{DeviceID: f[0]}
		if len(f) > 1 {
			c.Secret = f[1]
		}
		creds = append(creds, c)
	}
	conns, err := connectIdle(ctx, url, creds)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready "+strconv.Itoa(len(conns)))
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// idleConn is an idle device's connection: it reads (answering pings and
// acknowledging any events) until closed.
type idleConn interface{ Close() error }

func connectIdle(ctx context.Context, url string, creds []credential) ([]idleConn, error) {
	conns := make([]idleConn, len(creds))
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				if failed.Load() != nil {
					continue
				}
				ws, _, err := dialLight(ctx, url, creds[i], 0)
				if err != nil {
					err = fmt.Errorf("idle device %d: %w", i, err)
					failed.CompareAndSwap(nil, &err)
					continue
				}
				conns[i] = ws
				go func() {
					for {
						if _, _, err := ws.ReadMessage(); err != nil {
							return
						}
					}
				}()
			}
		})
	}
	for i := range creds {
		next <- i
	}
	close(next)
	wg.Wait()
	if p := failed.Load(); p != nil {
		return conns, *p
	}
	return conns, nil
}
