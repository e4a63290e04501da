package hub

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"ombud/sync/wire"
)

// outItem is one entry of a connection's send queue: the messages the
// writer sends in order (a push's rejects then its ack; or the server_hello),
// and for the server_hello that downstream streaming starts after it.
type outItem struct {
	msgs  []wire.Message
	start bool
}

// stream is one granted scope being sent downstream. cursor, more and
// pageLimit are the writer's alone; dirty is set by the commit feed under
// conn.mu.
type stream struct {
	scope  string
	cursor int64
	dirty  bool // a commit touched the scope since the last read
	// dirtyAt is when a commit first made the scope dirty since the last
	// read (zero if none did), for the fan-out latency.
	dirtyAt   time.Time
	more      bool // the last page was cut short: read on without waiting for a commit
	pageLimit int
}

// inflight is one events message not yet acknowledged.
type inflight struct {
	scope string
	next  int64
}

// eventsOverhead bounds the JSON of one streamed event besides its data:
// two UUIDs, type, actor kind and id, branch (each at most 128 bytes, which
// escaping can at most double), the clock, the seq and the member names. It
// lets the writer fill an events frame to MaxFrameBytes without encoding
// twice.
const eventsOverhead = 1024

// conn is one device's websocket.
type conn struct {
	h   *Hub
	ws  *websocket.Conn
	dev Device

	send chan outItem
	// wake tells the writer to look at its streams (a commit) or its window
	// (an events_ack); one slot, so signals coalesce and never block.
	wake chan struct{}

	quit       chan struct{} // closed by close: the writer sends the close frame and stops
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   *wire.Error // what close was called with
	noFrame    bool        // the socket is unusable or the peer closed: send no close frame
	closeSent  atomic.Bool // a close frame went out (ours, our echo, or gorilla's 1009)

	// mu guards everything below it that more than one goroutine touches.
	mu      sync.Mutex
	closing bool // set with quit: read deadlines no longer move, pushes are dropped
	// queued pushes wait for the committer; committing says one runs.
	// idle is signalled when it stops, for those that must wait for a
	// push in storage to be answered (the close, a replacing hello).
	queued     []*wire.Push
	committing bool
	idle       sync.Cond
	window     []inflight // events messages not yet acknowledged
	streams    []*stream  // set once by the hello, before the writer starts them

	acksWritten atomic.Int64 // push_acks the writer has sent, for the push window

	replaced   *conn // the connection this one replaced; its push in storage is awaited before the hello
	helloTimer *time.Timer

	// Reader only.
	helloDone  bool
	pushesRead int64

	// Committer only (one at a time, in order).
	acked int64

	// Writer only.
	streaming bool
	next      int // the stream the pump looks at first, so none starves
}

func newConn(h *Hub, ws *websocket.Conn, dev Device) *conn {
	c := &conn{
		h:          h,
		ws:         ws,
		dev:        dev,
		send:       make(chan outItem, h.cfg.SendQueue),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.idle.L = &c.mu
	return c
}

// poke wakes the writer.
func (c *conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// markDirty says a commit touched scope, and wakes the writer.
func (c *conn) markDirty(scope string) {
	c.mu.Lock()
	for _, st := range c.streams {
		if st.scope == scope {
			if !st.dirty && st.dirtyAt.IsZero() {
				st.dirtyAt = time.Now()
			}
			st.dirty = true
		}
	}
	c.mu.Unlock()
	c.poke()
}

// close starts closing with code and reason; the first call wins. The
// writer sends the close frame after the answers already queued; the read
// deadline bounds how long the reader waits for the peer's close frame.
func (c *conn) close(code wire.CloseCode, reason string) {
	c.closeWith(&wire.Error{Code: code, Reason: reason}, false)
}

func (c *conn) closeWith(we *wire.Error, noFrame bool) {
	c.closeOnce.Do(func() {
		c.closeErr, c.noFrame = we, noFrame
		c.mu.Lock()
		c.closing = true
		c.queued = nil // not acknowledged: the device resends them
		_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.WriteWait + c.h.cfg.CloseLinger))
		c.mu.Unlock()
		close(c.quit)
	})
}

func (c *conn) isClosing() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// extendRead pushes the read deadline out after any frame or pong: the
// connection is dropped only after PongWait of silence. Once closing, the
// linger deadline stands: a late pong must not extend it.
func (c *conn) extendRead() {
	c.mu.Lock()
	if !c.closing {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.PongWait))
	}
	c.mu.Unlock()
}

// waitCommitted returns once no push is in storage: its answers are queued
// for the writer. Called when closing (no new push starts then), so it
// cannot wait for ever.
func (c *conn) waitCommitted() {
	c.mu.Lock()
	for c.committing {
		c.idle.Wait()
	}
	c.mu.Unlock()
}

// readLoop is the connection's only reader: it decodes every frame, runs
// the hello and queues pushes for the committer.
func (c *conn) readLoop() {
	defer c.h.wg.Done()
	defer c.finish()
	c.ws.SetReadLimit(wire.MaxFrameBytes)
	c.extendRead()
	c.ws.SetPongHandler(func(string) error { c.extendRead(); return nil })
	c.ws.SetCloseHandler(func(code int, _ string) error {
		// The peer closed. Echo its code unless we sent a close frame
		// already; the reader then ends.
		if c.closeSent.CompareAndSwap(false, true) {
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(c.h.cfg.WriteWait))
		}
		return nil
	})
	c.helloTimer = time.AfterFunc(c.h.cfg.HelloTimeout, func() {
		c.close(wire.CloseProtocolError, fmt.Sprintf("no client_hello within %s", c.h.cfg.HelloTimeout))
	})
	for {
		kind, frame, err := c.ws.ReadMessage()
		if err == websocket.ErrReadLimit {
			err = wire.AsError(err)
		}
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				return // the peer closed, went silent or dropped
			}
			if we.Code == wire.CloseTooBig {
				// gorilla has sent 1009 itself and its reader is now
				// unusable: drain the raw socket until the peer closes.
				c.closeSent.Store(true)
				c.closeWith(we, true)
				_, _ = io.Copy(io.Discard, c.ws.NetConn())
				return
			}
			c.close(we.Code, we.Reason)
			continue // linger: read until the peer's close frame or the deadline
		}
		c.extendRead()
		if c.isClosing() {
			continue // discard while lingering; unacked pushes are resent later
		}
		if kind != websocket.TextMessage {
			c.close(wire.CloseUnsupportedData, "binary frame; this protocol sends JSON text frames")
			continue
		}
		err = shallow(func() error {
			msg, err := wire.Decode(frame)
			if err == nil {
				err = c.handle(msg)
			}
			return err
		})
		if err != nil {
			c.closeWith(c.asWireError(err), false)
		}
	}
}

// finish runs when the reader ends: it stops the writer, waits for it and
// for a push in storage, closes the socket and unregisters.
func (c *conn) finish() {
	c.closeWith(&wire.Error{Code: wire.CloseAbnormal, Reason: "connection ended"}, true)
	<-c.writerDone
	c.waitCommitted()
	c.ws.Close()
	c.helloTimer.Stop()
	c.h.unregister(c)
	c.h.log.Info("sync: connection closed", logDevice, c.dev.ID, logCode, int(c.closeErr.Code), logReason, c.closeErr.Reason)
}

// asWireError maps a handling failure to a close: protocol errors as they
// are, the log's refusals to their close codes, anything else to 1011 with
// the detail only in the log.
func (c *conn) asWireError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	switch {
	case errors.Is(err, ErrGap):
		// The log's own check, inside the push's transaction: as for the
		// committer's check, a transport fault, not a bug.
		return outOfStep("push starts after a gap: reconnect and resend from the lowest unacknowledged seq")
	case errors.Is(err, ErrDeviceRevoked):
		return &wire.Error{Code: wire.CloseUnauthorized, Reason: "device credential revoked"}
	}
	if c.h.ctx.Err() == nil {
		c.h.log.Error("sync: storage failed", logDevice, c.dev.ID, logErr, err)
	}
	return &wire.Error{Code: wire.CloseInternal, Reason: "internal error"}
}

func protocolError(format string, args ...any) *wire.Error {
	return &wire.Error{Code: wire.CloseProtocolError, Reason: fmt.Sprintf(format, args...)}
}

// outOfStep is an ordering failure that a cut connection, a misbehaving
// proxy or a frame replayed from an older connection can cause as well as a
// bug: the device reconnects (4500) and the hellos put both sides back in
// step. Closing with 4000 would stop a kiosk's sync for good over a network
// fault. Malformed content stays 4000: resending cannot fix it.
func outOfStep(format string, args ...any) *wire.Error {
	return &wire.Error{Code: wire.CloseOutOfStep, Reason: fmt.Sprintf(format, args...)}
}

func (c *conn) handle(msg wire.Message) error {
	if m, ok := msg.(*wire.ClientHello); ok {
		if c.helloDone {
			return protocolError("second client_hello")
		}
		return c.hello(m)
	}
	if !c.helloDone {
		return protocolError("%s before client_hello", msg.Type())
	}
	switch m := msg.(type) {
	case *wire.Push:
		return c.push(m)
	case *wire.EventsAck:
		return c.eventsAck(m)
	}
	return protocolError("%s is not sent by devices", msg.Type())
}

// hello runs the checks of docs/SYNC.md section 4 in order and queues the
// server_hello, which starts the downstream streams.
func (c *conn) hello(m *wire.ClientHello) error {
	c.helloTimer.Stop()
	v, err := wire.Negotiate(m.Versions, wire.Versions())
	if err != nil {
		return err
	}
	if m.DeviceID != c.dev.ID {
		return &wire.Error{Code: wire.CloseUnauthorized, Reason: "device_id is not the credential's device"}
	}
	if old := c.replaced; old != nil {
		// Let the replaced connection's push in storage commit first, so
		// device_seq below includes it (else the device resends it: safe,
		// only wasteful). It is closing, so it starts no other.
		old.waitCommitted()
		c.replaced = nil
	}
	acked, err := c.h.cfg.Log.Resume(c.h.ctx, c.dev.ID, Hello{At: c.h.cfg.Now(), DeviceSeq: m.DeviceSeq, Software: m.Software})
	if err != nil {
		return err
	}
	if m.DeviceSeq < acked {
		return &wire.Error{Code: wire.CloseDiverged, Reason: fmt.Sprintf("server holds device seq %d, device says %d: re-enrol", acked, m.DeviceSeq)}
	}
	c.acked = acked // the committer starts after this, on the reader's push
	c.helloDone = true
	// Stream only what the device asks for and may have: a customer kiosk
	// asks for nothing, so it never holds other customers' complaints and
	// contact details; a staff terminal asks for its branch.
	var granted []string
	var streams []*stream
	for _, scope := range c.dev.Scopes {
		if cursor, asked := m.Cursors[scope]; asked {
			granted = append(granted, scope)
			streams = append(streams, &stream{scope: scope, cursor: cursor, dirty: true, pageLimit: wire.MaxEventsPerBatch})
		}
	}
	slices.Sort(granted)
	c.h.log.Info("sync: device connected", logDevice, c.dev.ID, logScopes, strings.Join(granted, ","), "software", m.Software, "device_seq", acked)
	c.mu.Lock()
	c.streams = streams
	c.mu.Unlock()
	c.h.subscribe(c, granted)
	return c.enqueue(outItem{
		msgs:  []wire.Message{&wire.ServerHello{Version: v, ServerTime: c.h.clock.Now(), DeviceSeq: acked, Scopes: granted}},
		start: len(streams) > 0,
	})
}

// enqueue hands an item to the writer without blocking: a full queue means
// the device is not reading its answers, a slow consumer (4008).
func (c *conn) enqueue(it outItem) error {
	select {
	case c.send <- it:
		return nil
	default:
		c.h.slowDrops.Add(1)
		return &wire.Error{Code: wire.CloseSlowConsumer, Reason: "send queue full: reconnect and resume"}
	}
}

// push queues one push for the committer (docs/SYNC.md section 6), which
// commits pushes strictly in order while the reader goes on to decode the
// next push of the window: decoding push N+1 overlaps push N's commit. The
// committer runs only while pushes are queued, so an idle connection keeps
// no third goroutine.
func (c *conn) push(m *wire.Push) error {
	if c.pushesRead-c.acksWritten.Load() >= wire.Window {
		return outOfStep("more than %d pushes unacknowledged", wire.Window)
	}
	c.pushesRead++
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil // not acknowledged: the device resends it
	}
	c.queued = append(c.queued, m)
	if !c.committing {
		c.committing = true
		c.h.wg.Add(1)
		go c.commitLoop()
	}
	return nil
}

// commitLoop commits the queued pushes in order and ends when none is left
// (or the connection is closing: the rest are resent after a reconnect).
func (c *conn) commitLoop() {
	defer c.h.wg.Done()
	for {
		c.mu.Lock()
		if len(c.queued) == 0 || c.closing {
			c.queued = nil
			c.committing = false
			c.idle.Broadcast()
			c.mu.Unlock()
			return
		}
		m := c.queued[0]
		c.queued = c.queued[1:]
		c.mu.Unlock()
		if err := c.commit(m); err != nil {
			c.closeWith(c.asWireError(err), false)
		}
	}
}

// commit stores one push and queues its answers.
func (c *conn) commit(m *wire.Push) error {
	if first := m.Events[0].Seq; first > c.acked+1 {
		return outOfStep("push starts at seq %d after a gap: server holds %d", first, c.acked)
	}
	start := time.Now()
	res, err := c.h.cfg.Log.Push(c.h.ctx, c.dev.ID, m.Events)
	c.h.cfg.Observer.Pushed(c.dev, res, time.Since(start), err)
	if err != nil {
		return err
	}
	c.acked = res.AckedSeq
	msgs := make([]wire.Message, 0, len(res.Rejected)+1)
	for i := range res.Rejected {
		msgs = append(msgs, &res.Rejected[i])
	}
	// The ack names this push's last seq, not everything storage holds: a
	// device resending from its lowest unacknowledged seq may still have
	// held-but-unanswered seqs after this push, some of them rejections
	// whose push_reject it has yet to see, and an ack passing them would
	// make it forget those events before quarantining them.
	msgs = append(msgs, &wire.PushAck{Seq: m.Events[len(m.Events)-1].Seq})
	c.h.pushes.Add(1)
	c.h.stored.Add(int64(res.Stored))
	c.h.duplicates.Add(int64(res.Duplicates))
	c.h.rejects.Add(int64(len(res.Rejected)))
	return c.enqueue(outItem{msgs: msgs})
}

// eventsAck frees the window up to the acknowledged batch.
func (c *conn) eventsAck(m *wire.EventsAck) error {
	c.mu.Lock()
	i := slices.Index(c.window, inflight{scope: m.Scope, next: m.Cursor})
	if i < 0 {
		streamed := slices.ContainsFunc(c.streams, func(st *stream) bool { return st.scope == m.Scope })
		c.mu.Unlock()
		if !streamed {
			return protocolError("events_ack for a scope this connection does not stream")
		}
		// A replayed or reordered ack (one for a batch already acknowledged
		// by a later one, or from an older connection): resume from the
		// device's stored cursor.
		return outOfStep("events_ack cursor %d matches no unacknowledged events", m.Cursor)
	}
	// Batches of one scope are acknowledged in order: an ack covers the
	// earlier unacknowledged batches of its scope too.
	kept := c.window[:0]
	for j, in := range c.window {
		if in.scope != m.Scope || j > i {
			kept = append(kept, in)
		}
	}
	c.window = kept
	c.mu.Unlock()
	c.poke()
	return nil
}

// writeLoop is the connection's only writer of data frames.
func (c *conn) writeLoop() {
	defer c.h.wg.Done()
	defer close(c.writerDone)
	ping := time.NewTicker(c.h.cfg.PingPeriod)
	defer ping.Stop()
	for {
		var err error
		select {
		case <-c.quit:
			c.writeClose()
			return
		case it := <-c.send:
			err = shallow(func() error { return c.writeItem(it) })
		case <-c.wake:
			err = shallow(c.pump)
		case <-ping.C:
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.h.cfg.WriteWait))
		}
		if err != nil {
			if !errors.Is(err, errClosing) {
				c.writeFailed(err)
			}
			c.writeClose()
			return
		}
	}
}

// shallow runs f on a short-lived goroutine and waits for it. The reader and
// the writer live as long as their connection, mostly idle; decoding,
// storage calls and encoding grow a goroutine's stack, and the runtime
// shrinks a waiting goroutine's stack only when under a quarter of it is in
// use, so doing that work on the long-lived goroutines keeps them at about
// twice the memory for the connection's lifetime: measured at 17.4 KB per
// idle connection against 11.5 KB with shallow (BENCHMARKS.md, "idle").
// Starting a goroutine per message costs about a microsecond, nothing
// beside a decode or a commit, and order is kept: the caller waits.
func shallow(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
}

// errClosing tells the write loop that close has been called: nothing failed
// on the socket, so the close goes out the normal way.
var errClosing = errors.New("closing")

// writeFailed closes after a failed write. A missed deadline is a slow
// consumer (4008): the device resumes from its cursors. The stream may now
// hold half a frame, so the close frame is only attempted, and the socket
// is closed at once so the reader does not wait for the linger.
func (c *conn) writeFailed(err error) {
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.As(err, &we):
		// Our own message failed to encode: a bug, not the device's fault.
		c.h.log.Error("sync: message not sent", logDevice, c.dev.ID, logErr, err)
		c.closeWith(&wire.Error{Code: wire.CloseInternal, Reason: "internal error"}, false)
		return
	case errors.As(err, &ne) && ne.Timeout():
		if !c.isClosing() { // else counted where the close began (a full queue)
			c.h.slowDrops.Add(1)
		}
		c.h.log.Info("sync: slow consumer dropped", logDevice, c.dev.ID)
		c.closeWith(&wire.Error{Code: wire.CloseSlowConsumer, Reason: "write deadline missed: reconnect and resume"}, false)
	default:
		c.closeWith(&wire.Error{Code: wire.CloseAbnormal, Reason: "write failed"}, true)
	}
	_ = c.ws.WriteControl(websocket.CloseMessage, wire.CloseMessage(c.closeErr.Code, c.closeErr.Reason), time.Now().Add(c.h.cfg.WriteWait))
	c.closeSent.Store(true)
	c.ws.NetConn().Close()
}

// writeClose sends what is queued (the answers to pushes already committed,
// including one in its transaction right now) and then the close frame, and
// shortens the reader's wait for the peer's close to CloseLinger.
func (c *conn) writeClose() {
	if c.noFrame || c.closeSent.Load() {
		return
	}
	// Closing stops new pushes; wait for the one in storage, if any, so its
	// answers go out before the close frame.
	c.waitCommitted()
	for drained := false; !drained; {
		select {
		case it := <-c.send:
			it.start = false
			if err := c.writeItem(it); err != nil {
				c.ws.NetConn().Close()
				return
			}
		default:
			drained = true
		}
	}
	if !c.closeSent.CompareAndSwap(false, true) {
		return
	}
	if err := wire.WriteClose(c.ws, c.closeErr, time.Now().Add(c.h.cfg.WriteWait)); err != nil {
		c.ws.NetConn().Close()
		return
	}
	c.mu.Lock()
	_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.CloseLinger))
	c.mu.Unlock()
}

func (c *conn) writeItem(it outItem) error {
	for _, m := range it.msgs {
		if _, ok := m.(*wire.PushAck); ok {
			// Counted before the write: the device may answer the ack
			// with its next push before Write returns, and the reader
			// must not see that push as beyond the window.
			c.acksWritten.Add(1)
		}
		if err := wire.Write(c.ws, m, time.Now().Add(c.h.cfg.WriteWait)); err != nil {
			return err
		}
	}
	if it.start {
		c.streaming = true
		return c.pump()
	}
	return nil
}

// pump streams events while the window has room and some stream may have
// more: it reads the log for a stream only when a commit touched its scope
// since the last read (dirty) or the last page was cut short (more). The
// streams take turns, so a scope with a long backlog does not starve the
// others.
func (c *conn) pump() error {
	for c.streaming && !c.isClosing() {
		c.mu.Lock()
		if len(c.window) >= wire.Window {
			c.mu.Unlock()
			return nil // an events_ack wakes us
		}
		var st *stream
		for i := range c.streams {
			s := c.streams[(c.next+i)%len(c.streams)]
			if s.dirty || s.more {
				st = s
				c.next = (c.next + i + 1) % len(c.streams)
				break
			}
		}
		var dirtyAt time.Time
		if st != nil {
			// Cleared before reading: a commit after this read sets it again.
			st.dirty = false
			dirtyAt, st.dirtyAt = st.dirtyAt, time.Time{}
		}
		c.mu.Unlock()
		if st == nil {
			return nil
		}
		page, err := c.h.cfg.Log.EventsAfter(c.h.ctx, st.scope, st.cursor, st.pageLimit)
		if err != nil {
			c.closeWith(c.asWireError(err), false)
			return errClosing
		}
		if len(page) == 0 {
			st.more = false
			continue
		}
		msg := eventsMessage(st, page)
		n := len(msg.Events)
		st.more = n < len(page) || len(page) == st.pageLimit
		// Adapt the page to what fits a frame, so large events do not make
		// every read fetch a thousand rows to send a few.
		if n < len(page) {
			st.pageLimit = max(16, n)
		} else {
			st.pageLimit = min(wire.MaxEventsPerBatch, st.pageLimit*2)
		}
		// Into the window before the write: the ack may come back before
		// Write returns.
		c.mu.Lock()
		c.window = append(c.window, inflight{scope: st.scope, next: msg.Next})
		c.mu.Unlock()
		if err := wire.Write(c.ws, msg, time.Now().Add(c.h.cfg.WriteWait)); err != nil {
			return err
		}
		st.cursor = msg.Next
		c.h.sent.Add(int64(n))
		var since time.Duration
		if !dirtyAt.IsZero() {
			since = time.Since(dirtyAt)
		}
		c.h.cfg.Observer.Streamed(c.dev, n, since)
	}
	return nil
}

// eventsMessage takes as many events from page as fit one frame.
func eventsMessage(st *stream, page []wire.ScopedEvent) *wire.Events {
	const envelope = 256 // envelope, scope, from, next
	size, n := envelope, 0
	for n < len(page) {
		est := len(page[n].Event.Data) + eventsOverhead
		if n > 0 && size+est > wire.MaxFrameBytes {
			break
		}
		size += est
		n++
	}
	return &wire.Events{Scope: st.scope, From: st.cursor, Next: page[n-1].Seq, Events: page[:n:n]}
}
