package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/event"
	"ombud/sync/wire"
)

// A session is one connection: the hellos, then four goroutines until the
// first failure.
//
//   - reader: the only reader (gorilla allows one). It hands push_ack and
//     push_reject to the pusher in arrival order (a reject precedes the ack
//     that passes it, so the event is quarantined before it is forgotten),
//     and downstream batches to the applier, in order too.
//   - applier: stores each downstream batch with its cursor (an fsync each)
//     and sends its events_ack, one batch at a time in arrival order, so
//     the cursor check stays trivially ordered. It is apart from the reader
//     so that push_acks are not read only after the device has applied its
//     own events echoed back; its queue holds wire.Window batches, all the
//     server may have unacknowledged, so the reader never waits on it.
//   - pusher: owns everything upstream: what is sent, the window of at most
//     wire.Window unacknowledged pushes, acking and quarantining the outbox.
//     It streams without waiting for each ack, so a commit at the server
//     overlaps the next push on the wire.
//   - writer: the only writer, draining a small queue of encoded frames with
//     a deadline on every write.
//
// Whoever fails first decides how the session ends; the others stop on the
// session's context.
type session struct {
	c       *Client
	conn    *websocket.Conn
	out     chan []byte       // encoded frames for the writer
	up      chan wire.Message // push_ack and push_reject, reader to pusher
	down    chan *wire.Events // downstream batches, reader to applier
	cursors map[string]int64  // granted scopes and their cursors; the applier's alone after the hello
	// serverSeq is the server's device_seq from its hello: the outbox may
	// not start beyond serverSeq+1.
	serverSeq int64
	// acked is the highest seq acknowledged in this session (the pusher's).
	acked int64
	// The pusher's account of the connection, for the flow control (read
	// once the pusher has returned): bytes of the pushes acknowledged, of
	// the first push sent, and how many pushes were in flight at the end.
	ackedBytes, firstBytes, inflightAtEnd int
}

// sentPush is a push in flight: its last seq and its size on the wire.
type sentPush struct {
	last  int64
	bytes int
}

// outcome is how a connection went, for Run's backoff and flow control.
type outcome struct {
	up time.Duration // from the server's hello; 0 if it never got there
	// acked is the bytes of pushes acknowledged on it: the connection moved
	// the outbox forward.
	acked int
	// inflight and firstBytes: pushes unacknowledged when it ended, and
	// the size of its first push.
	inflight, firstBytes int
}

// session runs one connection and returns why it ended and how it went.
func (c *Client) session(ctx context.Context, endpoint string) (outcome, error) {
	header := http.Header{"Authorization": {"Bearer " + c.cfg.DeviceID + "." + c.cfg.Secret}}
	conn, resp, err := c.cfg.Dialer.DialContext(ctx, endpoint, header)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			// Reconnecting with the same credential gets the same answer.
			return outcome{}, &GiveUpError{Code: wire.CloseUnauthorized, HTTPStatus: resp.StatusCode}
		}
		if resp != nil {
			return outcome{}, fmt.Errorf("dial %s: HTTP %d", endpoint, resp.StatusCode)
		}
		return outcome{}, fmt.Errorf("dial %s: %w", endpoint, err)
	}
	defer conn.Close()
	conn.SetReadLimit(wire.MaxFrameBytes)
	conn.SetPingHandler(func(data string) error {
		// Any frame proves the server is there, pings included; then answer
		// as gorilla's default handler does.
		conn.SetReadDeadline(time.Now().Add(readTimeout))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		var ne net.Error
		if err == nil || errors.Is(err, websocket.ErrCloseSent) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil
		}
		return err
	})

	s := &session{
		c: c, conn: conn,
		out: make(chan []byte, wire.Window+2),
		// Room for every reject of a full window plus the acks, so the
		// reader rarely waits on the pusher.
		up:   make(chan wire.Message, 64),
		down: make(chan *wire.Events, wire.Window),
	}
	if err := s.hello(ctx); err != nil {
		return outcome{}, s.close(ctx, err, nil)
	}
	upSince := time.Now()
	c.setStatus(func(st *Status) { st.State, st.LastError, st.CloseCode = Online, "", 0 })
	c.success()

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var first error // the failure that ends the session
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		fail(s.read(sctx))
		// Keep reading, and discarding, so a close frame from the server
		// is seen (and answered) while the session hangs up; close stops
		// this by closing the socket.
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() { fail(s.write(sctx)) })
	wg.Go(func() { fail(s.push(sctx)) })
	wg.Go(func() { fail(s.applyLoop(sctx)) })
	<-sctx.Done()
	mu.Lock()
	err = first
	mu.Unlock()
	if ctx.Err() != nil {
		err = ctx.Err() // stopping on purpose, whatever failed on the way
	}
	err = s.close(ctx, err, readerDone)
	wg.Wait()
	return outcome{up: time.Since(upSince), acked: s.ackedBytes, inflight: s.inflightAtEnd, firstBytes: s.firstBytes}, err
}

// close ends the connection after err. A failure this side detected (and a
// deliberate stop) sends a close frame first and waits up to closeGrace for
// the server's, so the reason arrives; a connection the server closed or
// that broke is just dropped. readerDone is nil before the reader started.
func (s *session) close(ctx context.Context, err error, readerDone <-chan struct{}) error {
	var code wire.CloseCode
	var reason string
	var lc *localClose
	switch {
	case ctx.Err() != nil:
		code, reason = wire.CloseNormal, "device stopping"
	case errors.As(err, &lc):
		code, reason = lc.Code, lc.Reason
		s.c.log.Warn("closing sync connection", logKeyCode, int(code), logKeyReason, reason, logKeyErr, lc.Err)
	}
	if code != 0 {
		if werr := wire.WriteClose(s.conn, &wire.Error{Code: code, Reason: reason}, time.Now().Add(writeTimeout)); werr == nil {
			if readerDone == nil {
				s.conn.SetReadDeadline(time.Now().Add(closeGrace))
				for {
					if _, _, err := s.conn.NextReader(); err != nil {
						break
					}
				}
			} else {
				t := time.NewTimer(closeGrace)
				select {
				case <-readerDone:
				case <-t.C:
				}
				t.Stop()
			}
		}
	}
	s.conn.Close()
	if readerDone != nil {
		<-readerDone
	}
	if err == nil {
		err = errors.New("connection ended")
	}
	return err
}

// hello sends client_hello and checks server_hello (docs/SYNC.md section 4).
func (s *session) hello(ctx context.Context) error {
	st, c := s.c.st, s.c
	highest, err := st.HighestSeq(ctx)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	stored, err := st.Cursors(ctx)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	// Ask for the configured scopes only; a scope with no cursor starts at 0.
	cursors := make(map[string]int64, len(c.cfg.Scopes))
	for _, sc := range c.cfg.Scopes {
		cursors[sc] = stored[sc]
	}
	hello := &wire.ClientHello{Versions: wire.Versions(), DeviceID: c.cfg.DeviceID,
		Software: c.cfg.Software, Cursors: cursors, DeviceSeq: highest}
	if err := wire.Write(s.conn, hello, time.Now().Add(writeTimeout)); err != nil {
		var we *wire.Error
		if errors.As(err, &we) { // our own hello is invalid: configuration
			return &GiveUpError{Code: we.Code, Reason: we.Reason}
		}
		return err
	}

	s.conn.SetReadDeadline(time.Now().Add(readTimeout))
	msg, err := wire.Read(s.conn)
	if err != nil {
		return readError(err)
	}
	sh, ok := msg.(*wire.ServerHello)
	if !ok {
		return protocolError("expected server_hello, got %s", msg.Type())
	}
	if !slices.Contains(wire.Versions(), sh.Version) {
		return protocolError("server chose version %d, offered %v", sh.Version, wire.Versions())
	}
	// Before anything else: events made from now on must order after
	// everything the server has seen.
	c.clock.Observe(sh.ServerTime)
	if sh.DeviceSeq > highest {
		// The server holds sequences this device never assigned (as far as
		// this database knows): a restored backup would reuse them for
		// different events.
		reason := fmt.Sprintf("server holds device seq %d, device has %d", sh.DeviceSeq, highest)
		return &localClose{Code: wire.CloseDiverged, Reason: reason,
			Err: &GiveUpError{Code: wire.CloseDiverged, Reason: reason}}
	}
	// The outbox is NOT acknowledged up to sh.DeviceSeq here, though the
	// server holds all of it: some of those seqs may be rejections whose
	// push_reject was lost with the last connection, and forgetting them
	// would drop the events without quarantining them. The pusher resends
	// from the lowest outbox entry instead; the server answers each seq it
	// holds again (push_ack for stored ones, the same push_reject for
	// rejected ones).
	s.serverSeq = sh.DeviceSeq
	s.cursors = make(map[string]int64, len(sh.Scopes))
	for _, sc := range sh.Scopes {
		s.cursors[sc] = stored[sc]
	}
	c.log.Info("sync connected", logKeyDeviceSeq, sh.DeviceSeq, logKeyScopes, sh.Scopes)
	return nil
}

// readError classifies a failed read: a close from the server (give up or
// reconnect, by its code), a frame this device refuses (give up: the server
// is broken or something altered the frame), or a dead connection.
func readError(err error) error {
	var we *wire.Error
	if errors.As(err, &we) {
		return &localClose{Code: we.Code, Reason: we.Reason,
			Err: &GiveUpError{Code: we.Code, Reason: "from the server: " + we.Reason}}
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		code, reason := wire.CloseStatus(err)
		if !code.Reconnect() {
			return &GiveUpError{Code: code, Reason: reason}
		}
		return &closedError{Code: code, Reason: reason}
	}
	return fmt.Errorf("read: %w", err)
}

// read is the reader loop; it returns on the first failure.
func (s *session) read(ctx context.Context) error {
	for {
		msg, err := wire.Read(s.conn)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the session is ending; the read failed because of it
			}
			return readError(err)
		}
		s.conn.SetReadDeadline(time.Now().Add(readTimeout))
		switch m := msg.(type) {
		case *wire.PushAck, *wire.PushReject:
			select {
			case s.up <- m:
			case <-ctx.Done():
				return nil
			}
		case *wire.Events:
			select {
			case s.down <- m:
			case <-ctx.Done():
				return nil
			}
		default:
			return protocolError("unexpected %s", msg.Type())
		}
	}
}

// applyLoop is the applier: it applies the reader's batches in order.
func (s *session) applyLoop(ctx context.Context) error {
	for {
		select {
		case m := <-s.down:
			if err := s.apply(ctx, m); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// apply stores one downstream batch with its cursor, then acknowledges it
// (docs/SYNC.md section 7).
func (s *session) apply(ctx context.Context, m *wire.Events) error {
	cur, granted := s.cursors[m.Scope]
	if !granted {
		return protocolError("events for scope %.48q, not granted", m.Scope)
	}
	if m.From != cur {
		return outOfStep("events for %.48q from %d, cursor is %d: a batch was lost", m.Scope, m.From, cur)
	}
	// A batch whose chain does not check is refused whole: not stored,
	// cursor not moved. The session ends and the client reconnects with
	// backoff; the server resends from the same cursor.
	if err := verifyChain(m.Events); err != nil {
		s.c.log.Error("audit chain check failed: batch refused", logKeyScope, m.Scope, logKeyFrom, m.From, "err", err)
		return chainError("scope %.48q: %v", m.Scope, err)
	}
	evs := make([]event.Event, len(m.Events))
	for i, se := range m.Events {
		evs[i] = se.Event
		// Events made here later must order after what staff elsewhere did.
		s.c.clock.Observe(se.Event.At)
	}
	if err := s.c.st.ApplyRemote(ctx, m.Scope, m.From, m.Next, evs); err != nil {
		switch {
		case ctx.Err() != nil:
			return nil // rolled back; the batch is resent from the cursor
		case errors.Is(err, ErrCursorMismatch):
			// Only this reader writes cursors: something else touched the
			// database. Give up rather than guess which cursor is right.
			return protocolError("stored cursor of %.48q moved under the client", m.Scope)
		}
		return storageError(err)
	}
	s.cursors[m.Scope] = m.Next
	s.c.success()
	if len(m.Events) > 0 {
		s.c.log.Debug("events applied", logKeyScope, m.Scope, logKeyFrom, m.From, logKeyNext, m.Next, logKeyCount, len(m.Events))
	}
	frame, err := wire.Encode(&wire.EventsAck{Scope: m.Scope, Cursor: m.Next})
	if err != nil {
		return protocolError("events_ack: %v", err)
	}
	select {
	case s.out <- frame:
	case <-ctx.Done():
	}
	return nil
}

// write is the writer loop.
func (s *session) write(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case frame := <-s.out:
			if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}
