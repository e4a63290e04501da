package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// recorder collects what every device saw in one measured phase.
type recorder struct {
	target  int64
	durable atomic.Int64
	done    chan struct{}
	once    sync.Once

	mu          sync.Mutex
	lat         []time.Duration
	first, last time.Time // first and last push_ack that covered something
}

func newRecorder(target int64) *recorder {
	return &recorder{target: target, done: make(chan struct{})}
}

func (r *recorder) acked(n int64, lat []time.Duration, at time.Time) {
	r.mu.Lock()
	r.lat = append(r.lat, lat...)
	if r.first.IsZero() {
		r.first = at
	}
	r.last = at
	r.mu.Unlock()
	if r.durable.Add(n) >= r.target {
		r.once.Do(func() { close(r.done) })
	}
}

// tracker follows one device's outbox sequences: when each was filed, and
// which the server has acknowledged.
type tracker struct {
	mu        sync.Mutex
	filedAt   []time.Time // [seq-1]
	acked     int64
	rec       *recorder
	measure   bool // record latencies (not for a backlog filed offline)
	hello     chan struct{}
	helloOnce sync.Once
}

func newTracker() *tracker { return &tracker{hello: make(chan struct{})} }

// phase points the tracker at a new recorder.
func (t *tracker) phase(rec *recorder, measure bool) {
	t.mu.Lock()
	t.rec, t.measure = rec, measure
	t.mu.Unlock()
}

func (t *tracker) filed(at time.Time) {
	t.mu.Lock()
	t.filedAt = append(t.filedAt, at)
	t.mu.Unlock()
}

// ack records a push_ack for seq that arrived at the device at at.
func (t *tracker) ack(seq int64, at time.Time) {
	t.mu.Lock()
	if seq <= t.acked {
		t.mu.Unlock()
		return
	}
	var lat []time.Duration
	if t.measure {
		for s := t.acked + 1; s <= seq && s <= int64(len(t.filedAt)); s++ {
			lat = append(lat, at.Sub(t.filedAt[s-1]))
		}
	}
	n := seq - t.acked
	t.acked = seq
	rec := t.rec
	t.mu.Unlock()
	if rec != nil {
		rec.acked(n, lat, at)
	}
}

func (t *tracker) connected() { t.helloOnce.Do(func() { close(t.hello) }) }

// sniffConn watches the bytes a device receives for server_hello and
// push_ack frames, so the unmodified sync/client can be timed from outside:
// the time an ack reaches the device's socket is when the device learns its
// complaints are durable. Server frames are never masked; large frames
// (events) are skipped by length without being copied.
type sniffConn struct {
	net.Conn
	tr *tracker

	upgraded  bool   // past the HTTP 101 response
	tail      uint32 // last four bytes of the HTTP response, to find "\r\n\r\n"
	hdr       [14]byte
	hn        int
	inPayload bool
	left      uint64
	keep      bool
	buf       []byte
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.feed(p[:n])
	}
	return n, err
}

func (c *sniffConn) feed(p []byte) {
	for len(p) > 0 {
		if !c.upgraded {
			c.tail = c.tail<<8 | uint32(p[0])
			p = p[1:]
			c.upgraded = c.tail == 0x0d0a0d0a
			continue
		}
		if !c.inPayload {
			c.hdr[c.hn] = p[0]
			c.hn++
			p = p[1:]
			if c.hn < 2 {
				continue
			}
			need, l7 := 2, uint64(c.hdr[1]&0x7f)
			switch l7 {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			masked := c.hdr[1]&0x80 != 0
			if masked {
				need += 4
			}
			if c.hn < need {
				continue
			}
			n := l7
			switch l7 {
			case 126:
				n = uint64(binary.BigEndian.Uint16(c.hdr[2:4]))
			case 127:
				n = binary.BigEndian.Uint64(c.hdr[2:10])
			}
			fin, op := c.hdr[0]&0x80 != 0, c.hdr[0]&0x0f
			c.keep = fin && op == websocket.TextMessage && n <= 512 && !masked
			c.buf, c.left, c.hn, c.inPayload = c.buf[:0], n, 0, true
			if n == 0 {
				c.frameDone()
			}
			continue
		}
		take := min(uint64(len(p)), c.left)
		if c.keep {
			c.buf = append(c.buf, p[:take]...)
		}
		p, c.left = p[take:], c.left-take
		if c.left == 0 {
			c.frameDone()
		}
	}
}

func (c *sniffConn) frameDone() {
	c.inPayload = false
	if !c.keep {
		return
	}
	msg, err := wire.Decode(c.buf)
	if err != nil {
		return
	}
	switch m := msg.(type) {
	case *wire.PushAck:
		c.tr.ack(m.Seq, time.Now())
	case *wire.ServerHello:
		c.tr.connected()
	}
}

// device is one simulated device.
type device interface {
	// file files one complaint durably on the device and tells its sync
	// loop; files of one device must not run concurrently.
	file(ctx context.Context) error
	start(ctx context.Context)
	stop()
	track() *tracker
}

// deviceConfig is what every device is made from.
type deviceConfig struct {
	i         int
	dir       string
	url       string
	descBytes int
	log       func(string, ...any)
	enrol     func(ctx context.Context, i int, localID string) (credential, error)
}

func description(n int) string {
	const s = "The card machine charged me twice and the branch could not refund it. "
	return strings.Repeat(s, n/len(s)+1)[:n]
}

// sqliteDevice is what a kiosk runs: its own kiosk/store database, filing,
// and the unmodified sync/client loop.
type sqliteDevice struct {
	st     *store.Store
	svc    *filing.Service
	cl     *client.Client
	tr     *tracker
	draft  filing.Draft
	cancel context.CancelFunc
	done   chan struct{}
	cfg    deviceConfig
}

func newSQLiteDevice(ctx context.Context, cfg deviceConfig) (*sqliteDevice, error) {
	st, err := store.Open(ctx, filepath.Join(cfg.dir, fmt.Sprintf("device-%d.db", cfg.i)), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return nil, err
	}
	id, err := st.Identity(ctx)
	if err == nil {
		var cred credential
		if cred, err = cfg.enrol(ctx, cfg.i, id.DeviceID); err == nil {
			var d *sqliteDevice
			if d, err = newSQLiteDeviceAs(ctx, st, cfg, cred); err == nil {
				return d, nil
			}
		}
	}
	st.Close()
	return nil, err
}

func newSQLiteDeviceAs(ctx context.Context, st *store.Store, cfg deviceConfig, cred credential) (*sqliteDevice, error) {
	if err := st.SetPrefix(ctx, cred.Prefix); err != nil {
		return nil, err
	}
	clock := hlc.New(nil)
	svc, err := filing.New(st, clock, filing.Config{Branch: cred.Branch, PublicURL: "http://127.0.0.1/"})
	if err != nil {
		return nil, err
	}
	tr := newTracker()
	dialer := &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &sniffConn{Conn: c, tr: tr}, nil
		},
	}
	cl := client.New(st, clock, client.Config{URL: cfg.url, DeviceID: cred.DeviceID, Secret: cred.Secret,
		Software: "loadsim", Dialer: dialer})
	return &sqliteDevice{st: st, svc: svc, cl: cl, tr: tr, cfg: cfg,
		draft: filing.Draft{Category: "billing", Description: description(cfg.descBytes), Language: "en"}}, nil
}

func (d *sqliteDevice) track() *tracker { return d.tr }

func (d *sqliteDevice) file(ctx context.Context) error {
	if _, err := d.svc.File(ctx, d.draft); err != nil {
		return err
	}
	d.tr.filed(time.Now())
	d.cl.Notify()
	return nil
}

func (d *sqliteDevice) start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		if err := d.cl.Run(ctx); err != nil {
			d.cfg.log("device %d: sync gave up: %v", d.cfg.i, err)
		}
	}()
}

func (d *sqliteDevice) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
	d.st.Close()
}

// lightDevice speaks the protocol itself with sync/wire from an in-memory
// outbox: no database, no reconnects (a failure ends it and is reported).
type lightDevice struct {
	cred  credential
	cfg   deviceConfig
	tr    *tracker
	clock *hlc.Clock

	mu     sync.Mutex
	outbox []wire.DeviceEvent // every event ever filed, [seq-1]
	wake   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func newLightDevice(ctx context.Context, cfg deviceConfig) (*lightDevice, error) {
	cred, err := cfg.enrol(ctx, cfg.i, uid.New())
	if err != nil {
		return nil, err
	}
	return &lightDevice{cred: cred, cfg: cfg, tr: newTracker(), clock: hlc.New(nil), wake: make(chan struct{}, 1)}, nil
}

func (d *lightDevice) track() *tracker { return d.tr }

func (d *lightDevice) file(context.Context) error {
	code, err := trackcode.Generate(d.cred.Prefix)
	if err != nil {
		return err
	}
	c := complaint.Complaint{ID: uid.New(), Code: string(code), Branch: d.cred.Branch, Device: d.cred.DeviceID,
		Channel: complaint.ChannelKiosk, Category: "billing", Description: description(d.cfg.descBytes),
		Language: "en", FiledAt: time.Now().UTC().Truncate(time.Millisecond)}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.cred.DeviceID}, d.clock.Now())
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.outbox = append(d.outbox, wire.DeviceEvent{Seq: int64(len(d.outbox) + 1), Event: e})
	d.mu.Unlock()
	d.tr.filed(time.Now())
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return nil
}

func (d *lightDevice) start(ctx context.Context) {
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		if err := d.run(ctx); err != nil && ctx.Err() == nil {
			d.cfg.log("light device %d: %v", d.cfg.i, err)
		}
	}()
}

func (d *lightDevice) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
}

// dialLight opens a connection and completes the hello.
func dialLight(ctx context.Context, url string, cred credential, deviceSeq int64) (*websocket.Conn, *wire.ServerHello, error) {
	token := cred.DeviceID
	if cred.Secret != "" {
		token += "." + cred.Secret
	}
	endpoint, err := client.SyncURL(url)
	if err != nil {
		return nil, nil, err
	}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	ws, resp, err := dialer.DialContext(ctx, endpoint, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return nil, nil, fmt.Errorf("dial: HTTP %d", resp.StatusCode)
		}
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(wire.MaxFrameBytes)
	deadline := time.Now().Add(30 * time.Second)
	hello := &wire.ClientHello{Versions: wire.Versions(), DeviceID: cred.DeviceID, Software: "loadsim-light", DeviceSeq: deviceSeq}
	if err := wire.Write(ws, hello, deadline); err != nil {
		ws.Close()
		return nil, nil, err
	}
	_ = ws.SetReadDeadline(deadline)
	msg, err := wire.Read(ws)
	if err != nil {
		ws.Close()
		return nil, nil, fmt.Errorf("hello: %w", err)
	}
	sh, ok := msg.(*wire.ServerHello)
	if !ok {
		ws.Close()
		return nil, nil, fmt.Errorf("hello: got %s", msg.Type())
	}
	_ = ws.SetReadDeadline(time.Time{})
	return ws, sh, nil
}

func (d *lightDevice) run(ctx context.Context) error {
	d.mu.Lock()
	highest := int64(len(d.outbox))
	d.mu.Unlock()
	ws, sh, err := dialLight(ctx, d.cfg.url, d.cred, highest)
	if err != nil {
		return err
	}
	defer ws.Close()
	d.tr.connected()
	d.tr.ack(sh.DeviceSeq, time.Now())

	var wmu sync.Mutex
	write := func(m wire.Message) error {
		wmu.Lock()
		defer wmu.Unlock()
		return wire.Write(ws, m, time.Now().Add(10*time.Second))
	}
	acks := make(chan struct{}, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			msg, err := wire.Read(ws)
			if err != nil {
				readErr <- err
				return
			}
			switch m := msg.(type) {
			case *wire.PushAck:
				d.tr.ack(m.Seq, time.Now())
				select {
				case acks <- struct{}{}:
				case <-ctx.Done():
					readErr <- ctx.Err()
					return
				}
			case *wire.PushReject:
				d.cfg.log("light device %d: push_reject seq %d: %d %s", d.cfg.i, m.Seq, m.Code, m.Reason)
			case *wire.Events:
				if err := write(&wire.EventsAck{Scope: m.Scope, Cursor: m.Next}); err != nil {
					readErr <- err
					return
				}
			}
		}
	}()

	next, inflight := sh.DeviceSeq+1, 0
	for {
		d.mu.Lock()
		pending := d.outbox[min(next-1, int64(len(d.outbox))):]
		d.mu.Unlock()
		if len(pending) > 0 && inflight < wire.Window {
			n := min(len(pending), wire.MaxEventsPerBatch)
			for {
				frame := &wire.Push{Events: pending[:n]}
				err := write(frame)
				var we *wire.Error
				if errors.As(err, &we) && we.Code == wire.CloseTooBig && n > 1 {
					n /= 2
					continue
				}
				if err != nil {
					return err
				}
				break
			}
			next += int64(n)
			inflight++
			continue
		}
		select {
		case <-acks:
			inflight--
		case <-d.wake:
		case err := <-readErr:
			return err
		case <-ctx.Done():
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "device stopping"), time.Now().Add(time.Second))
			select {
			case <-readErr:
			case <-time.After(2 * time.Second):
			}
			return nil
		}
	}
}
