package hub

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"ombud/server/storage"
	"ombud/sync/wire"
)

// outItem is one entry of a connection's send queue: the messages the
// writer sends in order (a push's rejects then its ack; or the server_hello),
// and for the server_hello the cursor downstream streaming starts from.
type outItem struct {
	msgs   []wire.Message
	start  bool
	cursor int64
}

// eventsOverhead bounds the JSON of one streamed event besides its data:
// two UUIDs, type, actor kind and id, branch (each at most 128 bytes, which
// escaping can at most double), the clock, the seq and the member names. It
// lets the writer fill an events frame to MaxFrameBytes without encoding
// twice.
const eventsOverhead = 1024

// conn is one device's websocket.
type conn struct {
	h     *Hub
	ws    *websocket.Conn
	dev   storage.Device
	scope string

	send chan outItem
	// wake tells the writer to look at storage (dirty) or at its window
	// (an events_ack); one slot, so signals coalesce and never block.
	wake  chan struct{}
	dirty atomic.Bool

	quit       chan struct{} // closed by close: the writer sends the close frame and stops
	writerDone chan struct{}
	done       chan struct{} // closed when the connection is gone and unregistered
	closeOnce  sync.Once
	closeErr   *wire.Error // what close was called with
	noFrame    bool        // the socket is unusable or the peer closed: send no close frame
	closeSent  atomic.Bool // a close frame went out (ours, our echo, or gorilla's 1009)

	// pushMu is held by the reader while a push is in storage and its answer
	// is being queued; the writer takes it once when closing, so answers of
	// a push in flight are still sent before the close frame.
	pushMu sync.Mutex

	// deadlineMu orders read-deadline changes: once closing, a late pong
	// must not extend the linger deadline.
	deadlineMu sync.Mutex
	closing    bool

	// The window: next of every events message not yet acknowledged.
	flowMu   sync.Mutex
	inflight []int64

	acksWritten atomic.Int64 // push_acks the writer has sent, for the push window

	replaced   *conn // the connection this one replaced; its end is awaited before the hello
	stopWatch  func()
	helloTimer *time.Timer

	// Reader only.
	helloDone  bool
	pushesRead int64
	// pushTail is closed when the last push handed to storage has been
	// answered (or dropped); nil before the first push.
	pushTail chan struct{}

	// The push chain's (one push at a time, in order; see push).
	acked int64

	// Writer only.
	streaming bool
	cursor    int64
	more      bool // the last page was cut short: read on without waiting for a commit
	pageLimit int
}

func newConn(h *Hub, ws *websocket.Conn, dev storage.Device) *conn {
	return &conn{
		h:          h,
		ws:         ws,
		dev:        dev,
		scope:      ScopeOf(dev.Branch),
		send:       make(chan outItem, h.cfg.SendQueue),
		wake:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
		pageLimit:  wire.MaxEventsPerBatch,
	}
}

// poke wakes the writer; dirty says storage may hold new events.
func (c *conn) poke(dirty bool) {
	if dirty {
		c.dirty.Store(true)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
		c.deadlineMu.Lock()
		c.closing = true
		_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.WriteWait + c.h.cfg.CloseLinger))
		c.deadlineMu.Unlock()
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
// connection is dropped only after PongWait of silence.
func (c *conn) extendRead() {
	c.deadlineMu.Lock()
	if !c.closing {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.PongWait))
	}
	c.deadlineMu.Unlock()
}

// readLoop is the connection's only reader. It runs the hello itself and
// hands each push to storage on a short-lived goroutine chained behind the
// previous push's, so pushes commit strictly in order while the reader
// decodes the next one.
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
		// Only the socket read happens on this long-lived goroutine;
		// decoding and handling run in shallow.
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
		if err := shallow(func() error {
			msg, err := wire.Decode(frame)
			if err != nil {
				return err
			}
			return c.handle(msg)
		}); err != nil {
			c.closeWith(c.asWireError(err), false)
		}
	}
}

// finish runs when the reader ends: it stops the writer, waits for it,
// closes the socket and unregisters.
func (c *conn) finish() {
	c.closeWith(&wire.Error{Code: wire.CloseAbnormal, Reason: "connection ended"}, true)
	<-c.writerDone
	if c.pushTail != nil {
		<-c.pushTail // a push still in storage; those behind it see quit and drop
	}
	c.ws.Close()
	if c.helloTimer != nil {
		c.helloTimer.Stop()
	}
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.h.unregister(c)
	close(c.done)
	c.h.log.Info("sync: connection closed", logDevice, c.dev.ID, logCode, int(c.closeErr.Code), logReason, c.closeErr.Reason)
}

// asWireError maps a handling failure to a close: protocol errors as they
// are, storage refusals to their close codes, anything else to 1011 with the
// detail only in the log.
func (c *conn) asWireError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		return we
	}
	switch {
	case errors.Is(err, storage.ErrGap):
		// Storage's own check, inside the push's transaction: as for the
		// reader's check in push, a transport fault, not a bug.
		return outOfStep("push starts after a gap: reconnect and resend from the lowest unacknowledged seq")
	case storage.ErrorCode(err) == storage.Revoked, storage.ErrorCode(err) == storage.NotFound:
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
// server_hello, which starts the downstream stream.
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
		// Let the replaced connection's push in flight commit first, so
		// device_seq below includes it (else the device resends it: safe,
		// only wasteful). Its later pushes are dropped: it is closing.
		old.pushMu.Lock()
		old.pushMu.Unlock() //nolint:staticcheck // waiting is the point
		c.replaced = nil
	}
	d, err := c.h.cfg.Store.Device(c.h.ctx, c.dev.ID)
	if err != nil {
		return err
	}
	if d.Revoked() {
		return &wire.Error{Code: wire.CloseUnauthorized, Reason: "device credential revoked"}
	}
	if m.DeviceSeq < d.AckedSeq {
		return &wire.Error{Code: wire.CloseDiverged, Reason: fmt.Sprintf("server holds device seq %d, device says %d: re-enrol", d.AckedSeq, m.DeviceSeq)}
	}
	c.acked = d.AckedSeq
	c.helloDone = true
	c.h.log.Info("sync: device connected", logDevice, c.dev.ID, logBranch, c.dev.Branch, "software", m.Software, "device_seq", d.AckedSeq)
	// Stream only what the device asks for and may have: a customer kiosk
	// asks for nothing, so it never holds other customers' complaints and
	// contact details; a staff terminal asks for its branch.
	cursor, asked := m.Cursors[c.scope]
	var granted []string
	if asked {
		granted = []string{c.scope}
	}
	return c.enqueue(outItem{
		msgs:   []wire.Message{&wire.ServerHello{Version: v, ServerTime: c.h.clock.Now(), DeviceSeq: d.AckedSeq, Scopes: granted}},
		start:  asked,
		cursor: cursor,
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

// push hands one push to storage (docs/SYNC.md section 6). The commit runs
// on a goroutine that first waits for the previous push's, so commits and
// answers keep the pushes' order, while the reader goes on to read and
// decode the next push of the window: decoding push N+1 overlaps push N's
// commit. The goroutine ends with its push, so an idle connection keeps
// no extra goroutine.
func (c *conn) push(m *wire.Push) error {
	if c.pushesRead-c.acksWritten.Load() >= wire.Window {
		return outOfStep("more than %d pushes unacknowledged", wire.Window)
	}
	c.pushesRead++
	prev, done := c.pushTail, make(chan struct{})
	c.pushTail = done
	c.h.wg.Add(1)
	go func() {
		defer c.h.wg.Done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		if err := c.commit(m); err != nil {
			c.closeWith(c.asWireError(err), false)
		}
	}()
	return nil
}

// commit stores one push and queues its answers. It runs after the
// previous push's commit, so acked is that commit's.
func (c *conn) commit(m *wire.Push) error {
	if first := m.Events[0].Seq; first > c.acked+1 {
		return outOfStep("push starts at seq %d after a gap: server holds %d", first, c.acked)
	}
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	if c.isClosing() {
		return nil // closing: not acknowledged, so the device resends it
	}
	batch := make([]storage.DeviceEvent, len(m.Events))
	for i := range m.Events {
		batch[i] = storage.DeviceEvent(m.Events[i])
	}
	res, err := c.h.cfg.Store.Push(c.h.ctx, c.dev.ID, batch)
	if err != nil {
		return err
	}
	c.acked = res.AckedSeq
	msgs := make([]wire.Message, 0, len(res.Rejected)+1)
	for _, r := range res.Rejected {
		msgs = append(msgs, &wire.PushReject{Seq: r.Seq, EventID: r.EventID, Code: wire.CloseCode(r.Code), Reason: r.Reason})
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
	if res.Stored > 0 {
		c.h.notify(c.dev.Branch)
	}
	return c.enqueue(outItem{msgs: msgs})
}

// eventsAck frees the window up to the acknowledged batch.
func (c *conn) eventsAck(m *wire.EventsAck) error {
	if m.Scope != c.scope {
		return protocolError("events_ack for a scope this connection does not stream")
	}
	c.flowMu.Lock()
	i := 0
	for i < len(c.inflight) && c.inflight[i] != m.Cursor {
		i++
	}
	if i == len(c.inflight) {
		c.flowMu.Unlock()
		// A replayed or reordered ack (one for a batch already acknowledged
		// by a later one, or from an older connection): resume from the
		// device's stored cursor.
		return outOfStep("events_ack cursor %d matches no unacknowledged events", m.Cursor)
	}
	c.inflight = append(c.inflight[:0], c.inflight[i+1:]...)
	c.flowMu.Unlock()
	c.poke(false)
	return nil
}

// shallow runs f on a short-lived goroutine and waits for it. Storage calls
// (modernc SQLite) and JSON coding grow a goroutine's stack to tens of
// kilobytes; the runtime shrinks a parked stack only by halves, one per GC,
// so a connection's long-lived reader and writer would keep that size while
// idle. Doing the deep work on a goroutine that then exits keeps their
// stacks at the minimum, for about a microsecond per message.
func shallow(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
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
	c.pushMu.Lock()
	// Any push read from now on sees quit closed and is dropped.
	c.pushMu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
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
	c.deadlineMu.Lock()
	_ = c.ws.SetReadDeadline(time.Now().Add(c.h.cfg.CloseLinger))
	c.deadlineMu.Unlock()
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
		c.streaming, c.cursor = true, it.cursor
		c.dirty.Store(true)
		return c.pump()
	}
	return nil
}

// pump streams events from the cursor while the window has room and storage
// may hold more. It reads storage only when a commit was notified since the
// last read (dirty) or the last page was cut short (more).
func (c *conn) pump() error {
	for c.streaming && !c.isClosing() {
		c.flowMu.Lock()
		full := len(c.inflight) >= wire.Window
		c.flowMu.Unlock()
		if full {
			return nil // an events_ack wakes us
		}
		// Clear dirty before reading: a commit after this read sets it again.
		if !c.dirty.Swap(false) && !c.more {
			return nil
		}
		page, err := c.h.cfg.Store.EventsAfter(c.h.ctx, storage.Scope{Branch: c.dev.Branch}, c.cursor, c.pageLimit)
		if err != nil {
			c.closeWith(c.asWireError(err), false)
			return errClosing
		}
		if len(page) == 0 {
			c.more = false
			continue
		}
		msg := c.eventsMessage(page)
		n := len(msg.Events)
		c.more = n < len(page) || len(page) == c.pageLimit
		// Adapt the page to what fits a frame, so large events do not make
		// every read fetch a thousand rows to send a few.
		if n < len(page) {
			c.pageLimit = max(16, n)
		} else {
			c.pageLimit = min(wire.MaxEventsPerBatch, c.pageLimit*2)
		}
		// Into the window before the write: the ack may come back before
		// Write returns.
		c.flowMu.Lock()
		c.inflight = append(c.inflight, msg.Next)
		c.flowMu.Unlock()
		if err := wire.Write(c.ws, msg, time.Now().Add(c.h.cfg.WriteWait)); err != nil {
			return err
		}
		c.cursor = msg.Next
		c.h.sent.Add(int64(n))
	}
	return nil
}

// eventsMessage takes as many events from page as fit one frame.
func (c *conn) eventsMessage(page []storage.StoredEvent) *wire.Events {
	const envelope = 256 // envelope, scope, from, next
	size := envelope
	events := make([]wire.ScopedEvent, 0, len(page))
	for i := range page {
		est := len(page[i].Event.Data) + eventsOverhead
		if i > 0 && size+est > wire.MaxFrameBytes {
			break
		}
		size += est
		events = append(events, wire.ScopedEvent{Seq: page[i].GlobalSeq, Event: page[i].Event})
	}
	return &wire.Events{Scope: c.scope, From: c.cursor, Next: events[len(events)-1].Seq, Events: events}
}
