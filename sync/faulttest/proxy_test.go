package faulttest_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/textproto"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chaosConfig says how a chaosProxy misbehaves while its faults are on.
type chaosConfig struct {
	Seed uint64
	// CutProb is the chance that a connection is cut, at a byte offset
	// (both directions together) drawn uniformly from [CutMin, CutMax):
	// mid-frame, mid-push, mid-answer, wherever it falls.
	CutProb        float64
	CutMin, CutMax int64
	// DelayProb is the chance that a unit (a message or a control frame)
	// waits up to DelayMax before it is forwarded.
	DelayProb float64
	DelayMax  time.Duration
	// HoldProb is the chance that a data message is held back and
	// forwarded after the next unit in its direction (or after HoldMax if
	// none comes): frames reordered within a connection.
	HoldProb float64
	HoldMax  time.Duration
	// ReplayProb is the chance that, when a connection is cut, the message
	// it still held (or else a copy of the last one it forwarded) is kept
	// and forwarded on the device's next connection, after that
	// connection's first message: a frame replayed across connections.
	ReplayProb float64
}

// chaosProxy is a TCP proxy between devices and the server that parses
// websocket frames so it can reorder whole messages, not only bytes. It
// keeps the HTTP upgrade intact (a broken handshake is just a refused
// connection, which dialling tests already cover).
//
// One thing it never reorders: the server's push_ack and push_reject. The
// protocol relies on the transport delivering a push's rejections before
// its ack (docs/SYNC.md section 6, "Known limit"); a reordering there makes
// the device forget a rejected event before quarantining it. That limit is
// documented, and its fix needs a protocol version 2.
type chaosProxy struct {
	cfg    chaosConfig
	target string
	ln     net.Listener

	faults atomic.Bool // misbehave (cut, delay, hold, replay)
	refuse atomic.Bool // close every new connection at once: the server is "down"

	mu     sync.Mutex
	rnd    *rand.Rand // seeds each connection's own generators
	conns  map[*proxyConn]struct{}
	stale  map[string][][]byte // device + direction -> messages held when their connection was cut
	closed bool
	wg     sync.WaitGroup

	accepted, cuts, holds, replays, delays atomic.Int64
}

func MustChaosProxy(tb testing.TB, target string, cfg chaosConfig) *chaosProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &chaosProxy{cfg: cfg, target: target, ln: ln,
		rnd:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		conns: map[*proxyConn]struct{}{}, stale: map[string][][]byte{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// URL is the proxy's address as a server base URL.
func (p *chaosProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *chaosProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.cut()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// CutAll drops every open connection at the TCP level.
func (p *chaosProxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.cut()
	}
}

func (p *chaosProxy) accept() {
	defer p.wg.Done()
	for {
		dev, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.refuse.Load() {
			dev.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			dev.Close()
			return
		}
		c := &proxyConn{p: p, dev: dev, cutAt: -1, done: make(chan struct{}),
			rnd: [2]*rand.Rand{rand.New(rand.NewPCG(p.rnd.Uint64(), p.rnd.Uint64())), rand.New(rand.NewPCG(p.rnd.Uint64(), p.rnd.Uint64()))}}
		if p.faults.Load() && c.rnd[0].Float64() < p.cfg.CutProb {
			c.cutAt = p.cfg.CutMin + c.rnd[0].Int64N(max(1, p.cfg.CutMax-p.cfg.CutMin))
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

const (
	up   = 0 // device to server
	down = 1 // server to device
)

// proxyConn is one proxied connection.
type proxyConn struct {
	p        *chaosProxy
	dev, srv net.Conn
	rnd      [2]*rand.Rand // one per direction: each is used by one goroutine
	cutAt    int64         // total bytes after which to cut; -1: never
	written  atomic.Int64
	key      atomic.Value // the device's Authorization header: which device this is
	keyReady chan struct{}
	cutOnce  sync.Once
	done     chan struct{}
}

func (c *proxyConn) cut() {
	c.cutOnce.Do(func() {
		close(c.done)
		c.dev.Close()
		if c.srv != nil {
			c.srv.Close()
		}
	})
}

func (c *proxyConn) run() {
	defer c.p.wg.Done()
	defer func() {
		c.p.mu.Lock()
		delete(c.p.conns, c)
		c.p.mu.Unlock()
	}()
	srv, err := net.Dial("tcp", c.p.target)
	if err != nil {
		c.cut()
		return
	}
	c.p.mu.Lock()
	c.srv = srv
	cut := c.p.closed
	c.p.mu.Unlock()
	select {
	case <-c.done:
		srv.Close()
		return
	default:
	}
	if cut {
		c.cut()
		return
	}
	c.keyReady = make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { c.pump(up, c.dev, srv) })
	wg.Go(func() { c.pump(down, srv, c.dev) })
	wg.Wait()
}

// write forwards b, unless the connection's cut offset falls inside it:
// then it forwards the bytes before the offset and cuts.
func (c *proxyConn) write(dst net.Conn, b []byte) error {
	n := c.written.Add(int64(len(b)))
	if c.cutAt >= 0 && n > c.cutAt && c.p.faults.Load() {
		if keep := int64(len(b)) - (n - c.cutAt); keep > 0 {
			_, _ = dst.Write(b[:keep])
		}
		c.p.cuts.Add(1)
		c.cut()
		return net.ErrClosed
	}
	_, err := dst.Write(b)
	return err
}

// unit is what the proxy forwards as one: a whole data message (all its
// frames) or one control frame.
type unit struct {
	raw     []byte
	control bool
	kind    []byte // the first bytes of a data message's payload (unmasked)
}

// pump forwards one direction: the HTTP head as it is, then websocket
// frames, read by one goroutine and written by another so a held message
// can be released by a timer.
func (c *proxyConn) pump(dir int, src, dst net.Conn) {
	defer c.cut()
	r := bufio.NewReaderSize(src, 32<<10)
	head, err := readHead(r)
	if err != nil {
		return
	}
	if dir == up {
		c.key.Store(headerValue(head, "Authorization"))
		close(c.keyReady)
	}
	if err := c.write(dst, head); err != nil {
		return
	}
	if dir == down && !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		_, _ = io.Copy(dst, r) // refused before the upgrade: plain HTTP
		return
	}
	units := make(chan unit, 16)
	go func() {
		defer close(units)
		for {
			u, err := readUnit(r)
			if err != nil {
				return
			}
			select {
			case units <- u:
			case <-c.done:
				return
			}
		}
	}()
	c.forward(dir, dst, units)
}

func (c *proxyConn) forward(dir int, dst net.Conn, units <-chan unit) {
	rnd, cfg, p := c.rnd[dir], c.p.cfg, c.p
	var (
		held    []byte
		last    []byte // the last holdable message forwarded
		release <-chan time.Time
		first   = true // the hello exchange is never held or replayed into
	)
	select {
	case <-c.keyReady:
	case <-c.done:
		return
	}
	key, _ := c.key.Load().(string)
	key += []string{"/up", "/down"}[dir]
	defer func() {
		// Cut while holding a message: keep it for the device's next
		// connection (or a copy of the last one, so replays are common
		// enough to matter in a short test).
		if held == nil {
			held = last
		}
		if held != nil && p.faults.Load() && rnd.Float64() < cfg.ReplayProb {
			p.mu.Lock()
			p.stale[key] = append(p.stale[key], held)
			p.mu.Unlock()
		}
	}()
	for {
		select {
		case u, ok := <-units:
			if !ok {
				if held != nil && c.write(dst, held) == nil {
					held = nil
				}
				return
			}
			if p.faults.Load() && rnd.Float64() < cfg.DelayProb {
				p.delays.Add(1)
				// The delay IS the fault under test (a slow link), not a wait for an
				// outcome, so a sleep is what it must be.
				time.Sleep(time.Duration(rnd.Int64N(int64(cfg.DelayMax))))
			}
			if held != nil {
				if c.write(dst, u.raw) != nil {
					return
				}
				h := held
				held, release = nil, nil
				if c.write(dst, h) != nil {
					return
				}
				continue
			}
			if !u.control && !first && p.faults.Load() && holdable(dir, u) && rnd.Float64() < cfg.HoldProb {
				p.holds.Add(1)
				held, release = u.raw, time.After(cfg.HoldMax)
				continue
			}
			if c.write(dst, u.raw) != nil {
				return
			}
			if !u.control && !first && holdable(dir, u) {
				last = u.raw
			}
			if !u.control && first {
				first = false
				// The new connection's hello is through: replay what an
				// older connection of this device left behind.
				p.mu.Lock()
				stale := p.stale[key]
				delete(p.stale, key)
				p.mu.Unlock()
				for _, s := range stale {
					if !p.faults.Load() {
						break
					}
					p.replays.Add(1)
					if c.write(dst, s) != nil {
						return
					}
				}
			}
		case <-release:
			h := held
			held, release = nil, nil
			if c.write(dst, h) != nil {
				return
			}
		case <-c.done:
			return
		}
	}
}

// holdable: everything but the server's push answers (see chaosProxy).
func holdable(dir int, u unit) bool {
	if dir == up {
		return true
	}
	return !bytes.Contains(u.kind, []byte(`"push_ack"`)) && !bytes.Contains(u.kind, []byte(`"push_reject"`))
}

// readHead reads an HTTP request or response head, up to the blank line.
func readHead(r *bufio.Reader) ([]byte, error) {
	var head []byte
	for {
		line, err := r.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 && (string(line) == "\r\n" || string(line) == "\n") {
			return head, nil
		}
		if len(head) > 64<<10 {
			return nil, errors.New("head too long")
		}
	}
}

func headerValue(head []byte, name string) string {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tr.ReadLine(); err != nil {
		return ""
	}
	h, _ := tr.ReadMIMEHeader()
	return h.Get(name)
}

// readUnit reads one control frame, or every frame of one data message.
// Control frames that arrive between a message's fragments are forwarded
// after the whole message: still valid websocket.
func readUnit(r *bufio.Reader) (unit, error) {
	var u unit
	for {
		raw, fin, op, payload, err := readFrame(r)
		if err != nil {
			return u, err
		}
		if op >= 8 && u.raw == nil {
			return unit{raw: raw, control: true}, nil
		}
		if u.raw == nil {
			n := min(len(payload), 64)
			u.kind = bytes.Clone(payload[:n])
		}
		u.raw = append(u.raw, raw...)
		if fin && op < 8 {
			return u, nil
		}
	}
}

// readFrame reads one websocket frame (RFC 6455 5.2) and returns its raw
// bytes and its payload, unmasked.
func readFrame(r *bufio.Reader) (raw []byte, fin bool, op byte, payload []byte, err error) {
	var h [14]byte
	if _, err = io.ReadFull(r, h[:2]); err != nil {
		return
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	hasMask := h[1]&0x80 != 0
	n, hl := uint64(h[1]&0x7f), 2
	switch n {
	case 126:
		if _, err = io.ReadFull(r, h[2:4]); err != nil {
			return
		}
		n, hl = uint64(binary.BigEndian.Uint16(h[2:4])), 4
	case 127:
		if _, err = io.ReadFull(r, h[2:10]); err != nil {
			return
		}
		n, hl = binary.BigEndian.Uint64(h[2:10]), 10
	}
	if n > 4<<20 {
		err = errors.New("frame too large for the proxy")
		return
	}
	var mask []byte
	if hasMask {
		if _, err = io.ReadFull(r, h[hl:hl+4]); err != nil {
			return
		}
		mask = h[hl : hl+4]
		hl += 4
	}
	raw = make([]byte, hl+int(n))
	copy(raw, h[:hl])
	if _, err = io.ReadFull(r, raw[hl:]); err != nil {
		return
	}
	payload = raw[hl:]
	if mask != nil {
		payload = bytes.Clone(payload)
		for i := range payload {
			payload[i] ^= mask[i%4]
		}
	}
	return
}
