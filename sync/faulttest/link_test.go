package faulttest_test

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// linkConfig is a network link as a mobile back-up line behaves: a rate,
// a one-way delay with jitter (order kept, as TCP keeps it), and a drop of
// every connection after a random number of bytes.
type linkConfig struct {
	Seed uint64
	// Rate is the bytes per second the link carries in each direction.
	Rate int
	// Delay and Jitter: each chunk arrives Delay plus up to Jitter after it
	// left, and never before the chunk sent before it.
	Delay, Jitter time.Duration
	// CutMin and CutMax: when CutMax > 0 every connection drops after a
	// number of bytes (both directions together) drawn uniformly from
	// [CutMin, CutMax), wherever it falls: mid-handshake, mid-push.
	CutMin, CutMax int64
}

// linkProxy is a TCP proxy that behaves like linkConfig. Unlike chaosProxy
// it knows nothing of websockets: it is the link, not a misbehaving peer.
type linkProxy struct {
	cfg    linkConfig
	target string
	ln     net.Listener

	mu     sync.Mutex
	rnd    *rand.Rand
	conns  map[*linkConn]struct{}
	closed bool
	wg     sync.WaitGroup

	accepted, cuts, carried atomic.Int64 // carried: bytes delivered, both directions
}

func MustLinkProxy(tb testing.TB, target string, cfg linkConfig) *linkProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &linkProxy{cfg: cfg, target: target, ln: ln,
		rnd:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x2545f4914f6cdd1d)),
		conns: map[*linkConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// URL is the proxy's address as a server base URL.
func (p *linkProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *linkProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.cut()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *linkProxy) accept() {
	defer p.wg.Done()
	for {
		dev, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			dev.Close()
			return
		}
		c := &linkConn{p: p, dev: dev, cutAt: -1, done: make(chan struct{}),
			rnd: [2]*rand.Rand{rand.New(rand.NewPCG(p.rnd.Uint64(), p.rnd.Uint64())), rand.New(rand.NewPCG(p.rnd.Uint64(), p.rnd.Uint64()))}}
		if p.cfg.CutMax > 0 {
			c.cutAt = p.cfg.CutMin + p.rnd.Int64N(max(1, p.cfg.CutMax-p.cfg.CutMin))
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go c.run()
	}
}

// linkConn is one connection over the link.
type linkConn struct {
	p        *linkProxy
	dev, srv net.Conn
	rnd      [2]*rand.Rand // one per direction
	cutAt    int64
	written  atomic.Int64
	dropped  atomic.Bool // the link's own cut happened (counted once)
	cutOnce  sync.Once
	done     chan struct{}
}

func (c *linkConn) cut() {
	c.cutOnce.Do(func() {
		close(c.done)
		c.dev.Close()
		if c.srv != nil {
			c.srv.Close()
		}
	})
}

func (c *linkConn) run() {
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
	closed := c.p.closed
	c.p.mu.Unlock()
	select {
	case <-c.done:
		srv.Close()
		return
	default:
	}
	if closed {
		c.cut()
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.pump(c.rnd[0], c.dev, srv) })
	wg.Go(func() { c.pump(c.rnd[1], srv, c.dev) })
	wg.Wait()
}

// chunk is bytes on their way, due at the far end at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pump carries one direction: it reads no faster than the rate (so the
// sender's socket fills, as on a slow link), and a second goroutine
// delivers each chunk once its delay has passed.
func (c *linkConn) pump(rnd *rand.Rand, src, dst net.Conn) {
	defer c.cut()
	cfg := c.p.cfg
	size := 16 << 10
	if cfg.Rate > 0 {
		size = min(size, max(512, cfg.Rate/100)) // about 10 ms of the link per chunk
	}
	line := make(chan chunk, 256)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		for ch := range line {
			if wait := time.Until(ch.due); wait > 0 {
				// The wait IS the fault under test (the link's latency),
				// not a wait for an outcome.
				select {
				case <-time.After(wait):
				case <-c.done:
					return
				}
			}
			if c.write(dst, ch.b) != nil {
				return
			}
		}
	}()
	defer func() { <-delivered }()
	defer close(line)
	var sent, due time.Time // when the link is free to send again; when the last chunk arrives
	for {
		buf := make([]byte, size)
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			sent = later(sent, now)
			if cfg.Rate > 0 {
				sent = sent.Add(time.Duration(n) * time.Second / time.Duration(cfg.Rate))
				// The link is busy sending this chunk: read no more until
				// it is through.
				if wait := time.Until(sent); wait > 0 {
					select {
					case <-time.After(wait):
					case <-c.done:
						return
					}
				}
			}
			at := sent.Add(cfg.Delay)
			if cfg.Jitter > 0 {
				at = at.Add(time.Duration(rnd.Int64N(int64(cfg.Jitter))))
			}
			due = later(due, at)
			select {
			case line <- chunk{buf[:n], due}:
			case <-c.done:
				return
			}
		}
		if err != nil {
			return // io.EOF or a cut: deliver what is on the line, then drop
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// write delivers b, unless the connection's cut falls inside it: then it
// delivers the bytes before the cut and drops the connection.
func (c *linkConn) write(dst net.Conn, b []byte) error {
	n := c.written.Add(int64(len(b)))
	if c.cutAt >= 0 && n > c.cutAt {
		if keep := int64(len(b)) - (n - c.cutAt); keep > 0 {
			if k, _ := dst.Write(b[:keep]); k > 0 {
				c.p.carried.Add(int64(k))
			}
		}
		if c.dropped.CompareAndSwap(false, true) {
			c.p.cuts.Add(1)
		}
		c.cut()
		return net.ErrClosed
	}
	k, err := dst.Write(b)
	c.p.carried.Add(int64(k))
	return err
}
