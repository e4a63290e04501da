package hub_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/event"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

func TestHelloAndIdempotentPush(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	dev := e.MustDevice(t, "A")
	c, sh := e.MustConnect(t, dev, 0)
	if sh.DeviceSeq != 0 || sh.Version != wire.Version || !slices.Equal(sh.Scopes, []string{"branch:A"}) || sh.ServerTime == 0 {
		t.Fatalf("server_hello = %+v, want device_seq 0, version 1, scopes [branch:A]", sh)
	}
	events := batch(1, storyOf(t, dev, 3)...)
	rejects, ack := c.pushAndAck(events)
	if len(rejects) != 0 || ack.Seq != 3 {
		t.Fatalf("push: %d rejects, ack %d; want none and 3", len(rejects), ack.Seq)
	}
	rejects, ack = c.pushAndAck(events)
	if len(rejects) != 0 || ack.Seq != 3 {
		t.Fatalf("resend: %d rejects, ack %d; want none and 3", len(rejects), ack.Seq)
	}
	got := storedIDs(t, e.store, "A")
	for _, de := range events {
		if got[de.Event.ID] != 1 {
			t.Errorf("event %s stored %d times, want once", de.Event.ID, got[de.Event.ID])
		}
	}
	if len(got) != 3 {
		t.Errorf("stored %d events, want 3", len(got))
	}
	if st := e.hub.Stats(); st.Pushes != 2 || st.EventsStored != 3 || st.Duplicates != 3 {
		t.Errorf("stats = %+v, want 2 pushes, 3 stored, 3 duplicates", st)
	}

	// A reconnect learns where to resume.
	c.ws.Close()
	_, sh = e.MustConnect(t, dev, 0)
	if sh.DeviceSeq != 3 {
		t.Fatalf("server_hello after reconnect: device_seq %d, want 3", sh.DeviceSeq)
	}
}

// TestPushGapCloses: a push after a gap is a transport fault (a cut
// connection, a reordering proxy, a replayed frame), so the close says
// reconnect (4500), not give up, and nothing is stored.
func TestPushGapCloses(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	dev := e.MustDevice(t, "A")
	c, _ := e.MustConnect(t, dev, 0)
	c.send(&wire.Push{Events: batch(2, storyOf(t, dev, 2)...)})
	c.expectClose(wire.CloseOutOfStep)
	if !wire.CloseOutOfStep.Reconnect() {
		t.Fatal("4500 must say reconnect")
	}
	if n := len(storedIDs(t, e.store, "A")); n != 0 {
		t.Fatalf("stored %d events after a gap, want 0", n)
	}
}

// TestPushRejectsOtherBranch: an event for another branch's complaint is
// rejected whether its branch field lies or tells the truth; the events
// after it in the same push are stored, the ack passes it, and a resend of
// its seq gets the same answer instead of a loop.
func TestPushRejectsOtherBranch(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	a, b := e.MustDevice(t, "A"), e.MustDevice(t, "B")
	cb, _ := e.MustConnect(t, b, 0)
	bFiled := filed(t, b)
	if _, ack := cb.pushAndAck(batch(1, bFiled)); ack.Seq != 1 {
		t.Fatalf("B's push ack %d, want 1", ack.Seq)
	}

	ca, _ := e.MustConnect(t, a, 0)
	aStory := storyOf(t, a, 2)
	lying := note(bFiled.ComplaintID, "A", 10)  // claims A, names B's complaint
	honest := note(bFiled.ComplaintID, "B", 10) // says B outright
	after := note(aStory[0].ComplaintID, "A", 10)
	push := batch(1, aStory[0], lying, honest, aStory[1], after)
	rejects, ack := ca.pushAndAck(push)
	if ack.Seq != 5 {
		t.Fatalf("ack %d, want 5", ack.Seq)
	}
	want := []*wire.PushReject{
		{Seq: 2, EventID: lying.ID, Code: wire.CloseForbiddenEvent},
		{Seq: 3, EventID: honest.ID, Code: wire.CloseForbiddenEvent},
	}
	checkRejects(t, rejects, want)

	stored := storedIDs(t, e.store, "A")
	for _, id := range []string{aStory[0].ID, aStory[1].ID, after.ID} {
		if stored[id] != 1 {
			t.Errorf("event %s stored %d times, want once", id, stored[id])
		}
	}
	if len(stored) != 3 || len(storedIDs(t, e.store, "B")) != 1 {
		t.Fatalf("branch A holds %d events, B %d; want 3 and 1", len(stored), len(storedIDs(t, e.store, "B")))
	}

	// The device resends seq 2 (say it crashed before quarantining it).
	// The ack names the push's own last seq, never past it: the device
	// resends from its lowest unacknowledged seq, and an ack passing seqs it
	// has not resent yet could pass a rejection it has not seen.
	rejects, ack = ca.pushAndAck(push[1:2])
	if ack.Seq != 2 {
		t.Fatalf("ack after resend %d, want 2", ack.Seq)
	}
	checkRejects(t, rejects, want[:1])
}

func checkRejects(tb testing.TB, got, want []*wire.PushReject) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d push_rejects, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Seq != want[i].Seq || got[i].EventID != want[i].EventID || got[i].Code != want[i].Code || got[i].Reason == "" {
			tb.Errorf("push_reject %d = %+v, want seq %d event %s code %d", i, got[i], want[i].Seq, want[i].EventID, want[i].Code)
		}
	}
}

// TestDownstream: a device receives its branch's events from another device,
// both catching up from cursor 0 and live; a device of another branch
// receives none.
func TestDownstream(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	a, b, c := e.MustDevice(t, "A"), e.MustDevice(t, "A"), e.MustDevice(t, "C")
	ca, _ := e.MustConnect(t, a, 0)
	first := storyOf(t, a, 5)
	ca.pushAndAck(batch(1, first...))

	cb, _ := e.MustConnect(t, b, 0)
	cc, _ := e.MustConnect(t, c, 0)
	if got := cb.recvEvents(5); !slices.Equal(got, ids(first)) {
		t.Fatalf("catch-up: got %v, want %v", got, ids(first))
	}
	live := storyOf(t, a, 3)
	ca.pushAndAck(batch(6, live...))
	if got := cb.recvEvents(3); !slices.Equal(got, ids(live)) {
		t.Fatalf("live: got %v, want %v", got, ids(live))
	}
	// C is in another branch: A's commits never reach it. Its own push
	// comes back to it, and is the only thing it sees.
	own := storyOf(t, c, 1)
	cc.send(&wire.Push{Events: batch(1, own...)})
	for {
		m := cc.recv()
		if ev, ok := m.(*wire.Events); ok {
			if got := ids2(ev); !slices.Equal(got, ids(own)) {
				t.Fatalf("device of branch C got %v, want only its own %v", got, ids(own))
			}
			break
		}
	}
	// Resume from a cursor: a reconnecting B sees only what is new.
	cb.ws.Close()
	st, _ := e.store.Stats(context.Background())
	cb, _ = e.MustConnect(t, b, st.LastGlobalSeq)
	more := storyOf(t, a, 2)
	ca.pushAndAck(batch(9, more...))
	if got := cb.recvEvents(2); !slices.Equal(got, ids(more)) {
		t.Fatalf("after resume: got %v, want %v", got, ids(more))
	}
}

// TestStreamsEveryGrantedScope: a device the server gives two scopes, and
// which asks for those and a third, is told it gets the two and receives
// each one's events under its own scope name, from its own cursor; every
// events message is acknowledged per scope.
func TestStreamsEveryGrantedScope(t *testing.T) {
	t.Parallel()
	var watcherID atomic.Value
	e := MustEnv(t, func(c *hub.Config) {
		inner := c.Auth
		c.Auth = hub.AuthenticateFunc(func(r *http.Request) (hub.Device, error) {
			d, err := inner.Authenticate(r)
			if err == nil && d.ID == watcherID.Load() {
				d.Scopes = append(d.Scopes, hub.ScopeOf("B"))
			}
			return d, err
		})
	})
	a, b, w := e.MustDevice(t, "A"), e.MustDevice(t, "B"), e.MustDevice(t, "A")
	watcherID.Store(w.ID)
	ca, _ := e.MustConnect(t, a, 0)
	cb, _ := e.MustConnect(t, b, 0)
	before := storyOf(t, a, 3)
	ca.pushAndAck(batch(1, before...))
	bOld := storyOf(t, b, 2)
	cb.pushAndAck(batch(1, bOld...))
	st, _ := e.store.Stats(context.Background())

	cw, _, err := e.dial(t, w)
	if err != nil {
		t.Fatal(err)
	}
	// A from the beginning, B from after what it already holds, C never.
	cw.send(&wire.ClientHello{Versions: wire.Versions(), DeviceID: w.ID, Software: "test/1", DeviceSeq: 0,
		Cursors: map[string]int64{hub.ScopeOf("A"): 0, hub.ScopeOf("B"): st.LastGlobalSeq, hub.ScopeOf("C"): 0}})
	sh, ok := cw.recv().(*wire.ServerHello)
	if !ok || !slices.Equal(sh.Scopes, []string{hub.ScopeOf("A"), hub.ScopeOf("B")}) {
		t.Fatalf("server_hello scopes = %v, want branch A and B", sh.Scopes)
	}
	bNew := storyOf(t, b, 2)
	cb.pushAndAck(batch(3, bNew...))
	aNew := storyOf(t, a, 1)
	ca.pushAndAck(batch(4, aNew...))

	want := map[string][]string{
		hub.ScopeOf("A"): append(ids(before), ids(aNew)...),
		hub.ScopeOf("B"): ids(bNew),
	}
	got := map[string][]string{}
	cursor := map[string]int64{hub.ScopeOf("A"): 0, hub.ScopeOf("B"): st.LastGlobalSeq}
	for len(got[hub.ScopeOf("A")]) < len(want[hub.ScopeOf("A")]) || len(got[hub.ScopeOf("B")]) < len(want[hub.ScopeOf("B")]) {
		m, ok := cw.recv().(*wire.Events)
		if !ok {
			t.Fatal("want events, got another message")
		}
		if m.From != cursor[m.Scope] {
			t.Fatalf("events of %s from %d, want from the scope's cursor %d", m.Scope, m.From, cursor[m.Scope])
		}
		cursor[m.Scope] = m.Next
		got[m.Scope] = append(got[m.Scope], ids2(m)...)
		cw.send(&wire.EventsAck{Scope: m.Scope, Cursor: m.Next})
	}
	for scope := range want {
		if !slices.Equal(got[scope], want[scope]) {
			t.Errorf("scope %s: got %v, want %v", scope, got[scope], want[scope])
		}
	}
}

// TestEventsWindow: a device that never acknowledges gets at most
// wire.Window events messages; an ack opens the window again.
func TestEventsWindow(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	a, b := e.MustDevice(t, "A"), e.MustDevice(t, "A")
	ca, _ := e.MustConnect(t, a, 0)
	cb, _ := e.MustConnect(t, b, 0)
	f := filed(t, a)
	ca.pushAndAck(batch(1, f))
	// Each push commits separately, so B is sent one events message per
	// commit while its window lasts.
	for seq := int64(2); seq <= 7; seq++ {
		ca.pushAndAck(batch(seq, note(f.ComplaintID, "A", 10)))
	}
	var got []*wire.Events
	for {
		m, err := cb.recvWithin(500 * time.Millisecond)
		if isTimeout(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.(*wire.Events))
		if len(got) > wire.Window {
			t.Fatalf("got %d events messages without acknowledging, want at most %d", len(got), wire.Window)
		}
	}
	if len(got) == 0 {
		t.Fatal("got no events messages")
	}
	// The read timed out, which poisons a gorilla connection: reconnect
	// from the last cursor the device "committed" and check the rest
	// arrives once acknowledged.
	cb.ws.Close()
	cb, _ = e.MustConnect(t, b, got[0].Next)
	rest := 7 - len(got[0].Events)
	if ids := cb.recvEvents(rest); len(ids) != rest {
		t.Fatalf("after reconnect got %d events, want %d", len(ids), rest)
	}
}

func ids(events []event.Event) []string {
	out := make([]string, len(events))
	for i := range events {
		out[i] = events[i].ID
	}
	return out
}

func ids2(m *wire.Events) []string {
	out := make([]string, len(m.Events))
	for i := range m.Events {
		out[i] = m.Events[i].Event.ID
	}
	return out
}

// TestMalformedFrames: each bad frame closes its connection with the right
// code, and another device keeps working throughout.
func TestMalformedFrames(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	other := e.MustDevice(t, "B")
	co, _ := e.MustConnect(t, other, 0)
	story := storyOf(t, other, 10)
	next := int64(1)
	pushOther := func() {
		t.Helper()
		if _, ack := co.pushAndAck(batch(next, story[next-1])); ack.Seq != next {
			t.Fatalf("other device: ack %d, want %d", ack.Seq, next)
		}
		next++
	}
	pushOther()
	for _, tt := range []struct {
		name  string
		kind  int
		frame []byte
		want  wire.CloseCode
	}{
		{"malformed JSON", websocket.TextMessage, []byte(`{"v":1,"type":"push","body":{`), wire.CloseProtocolError},
		{"unknown field", websocket.TextMessage, []byte(`{"v":1,"type":"events_ack","body":{"scope":"branch:A","cursor":1,"x":1}}`), wire.CloseProtocolError},
		{"binary frame", websocket.BinaryMessage, []byte(`{"v":1}`), wire.CloseUnsupportedData},
		{"oversized frame", websocket.TextMessage, bytes.Repeat([]byte("a"), wire.MaxFrameBytes+1), wire.CloseTooBig},
		{"invalid UTF-8", websocket.TextMessage, []byte("{\"v\":1,\"type\":\"push\",\"body\":{\"x\":\"\xff\"}}"), wire.CloseInvalidUTF8},
		{"wrong version", websocket.TextMessage, []byte(`{"v":2,"type":"events_ack","body":{"scope":"branch:A","cursor":1}}`), wire.CloseUnsupportedVersion},
		{"server message", websocket.TextMessage, []byte(`{"v":1,"type":"push_ack","body":{"seq":1}}`), wire.CloseProtocolError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dev := e.MustDevice(t, "A")
			c, _ := e.MustConnect(t, dev, 0)
			c.sendRaw(tt.kind, tt.frame)
			c.expectClose(tt.want)
			pushOther()
		})
	}
}

func TestHelloRules(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, func(c *hub.Config) { c.HelloTimeout = 300 * time.Millisecond })
	dev := e.MustDevice(t, "A")
	hello := func(edit func(*wire.ClientHello)) *wire.ClientHello {
		h := &wire.ClientHello{Versions: []int{1}, DeviceID: dev.ID, Software: "test/1", DeviceSeq: 0}
		edit(h)
		return h
	}
	// Give the server a device seq to diverge from.
	c, _ := e.MustConnect(t, dev, 0)
	c.pushAndAck(batch(1, storyOf(t, dev, 2)...))
	c.ws.Close()

	for _, tt := range []struct {
		name string
		send []wire.Message
		want wire.CloseCode
	}{
		{"no hello", nil, wire.CloseProtocolError},
		{"push first", []wire.Message{&wire.Push{Events: batch(3, storyOf(t, dev, 1)...)}}, wire.CloseProtocolError},
		{"no common version", []wire.Message{hello(func(h *wire.ClientHello) { h.Versions = []int{7}; h.DeviceSeq = 2 })}, wire.CloseUnsupportedVersion},
		{"another device's id", []wire.Message{hello(func(h *wire.ClientHello) { h.DeviceID = "someone-else"; h.DeviceSeq = 2 })}, wire.CloseUnauthorized},
		{"restored from a backup", []wire.Message{hello(func(h *wire.ClientHello) { h.DeviceSeq = 1 })}, wire.CloseDiverged},
		{"second hello", []wire.Message{hello(func(h *wire.ClientHello) { h.DeviceSeq = 2 }), hello(func(h *wire.ClientHello) { h.DeviceSeq = 2 })}, wire.CloseProtocolError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := e.dial(t, dev)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.send {
				c.send(m)
			}
			c.expectClose(tt.want)
		})
	}
}

// TestReplacedConnection: a second connection of a device takes over; the
// first is closed with 4010.
func TestReplacedConnection(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	dev := e.MustDevice(t, "A")
	first, _ := e.MustConnect(t, dev, 0)
	second, _ := e.MustConnect(t, dev, 0)
	first.expectClose(wire.CloseReplaced)
	if _, ack := second.pushAndAck(batch(1, storyOf(t, dev, 1)...)); ack.Seq != 1 {
		t.Fatalf("ack %d on the new connection, want 1", ack.Seq)
	}
}

func TestUnauthorizedBeforeUpgrade(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	revoked := e.MustDevice(t, "A")
	if err := e.store.RevokeDevice(context.Background(), revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	unknown := revoked
	unknown.ID = "nobody"
	for _, dev := range []struct {
		name string
		id   string
	}{{"unknown", unknown.ID}, {"revoked", revoked.ID}} {
		t.Run(dev.name, func(t *testing.T) {
			d := revoked
			d.ID = dev.id
			_, resp, err := e.dial(t, d)
			if err == nil || resp == nil {
				t.Fatalf("dial: err %v, want a refused handshake", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("status %d, WWW-Authenticate %q; want 401 with invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRevocationCutsLiveConnections(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	a, b, keep := e.MustDevice(t, "A"), e.MustDevice(t, "A"), e.MustDevice(t, "A")
	ca, _ := e.MustConnect(t, a, 0)
	cb, _ := e.MustConnect(t, b, 0)
	ck, _ := e.MustConnect(t, keep, 0)

	// In this process: at once.
	e.hub.Revoke(a.ID)
	ca.expectClose(wire.CloseUnauthorized)
	// By another process, through the database: within the check interval.
	if err := e.store.RevokeDevice(context.Background(), b.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	cb.expectClose(wire.CloseUnauthorized)
	if _, ack := ck.pushAndAck(batch(1, storyOf(t, keep, 1)...)); ack.Seq != 1 {
		t.Fatalf("unrevoked device: ack %d, want 1", ack.Seq)
	}
}

// TestSlowConsumer: a device that stops reading is dropped (4008 when the
// close frame can still get through; the socket closes either way), and the
// other devices are unaffected.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	e := mustEnvListener(t, func(c *hub.Config) {
		c.WriteWait = time.Second
		c.SendQueue = 1
	}, func(l net.Listener) net.Listener { return smallSendBuffers{l} })
	a, slow, fine := e.MustDevice(t, "A"), e.MustDevice(t, "A"), e.MustDevice(t, "A")
	ca, _ := e.MustConnect(t, a, 0)
	// The slow device's socket buffers little, so the server's writes to it
	// stall within the window of four frames.
	cs, _ := e.mustConnectWith(t, slow, 0, websocket.Dialer{HandshakeTimeout: testWait,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(16 << 10)
			}
			return c, err
		}})
	cf, _ := e.MustConnect(t, fine, 0)
	// The fine device reads and acknowledges all along; the slow one
	// stops reading (its socket stays open).
	const total = 1 + 4*100
	fineGot := make(chan error, 1)
	go func() {
		n := 0
		for n < total {
			_ = cf.ws.SetReadDeadline(time.Now().Add(testWait))
			m, err := wire.Read(cf.ws)
			if err != nil {
				fineGot <- err
				return
			}
			if ev, ok := m.(*wire.Events); ok {
				n += len(ev.Events)
				_ = wire.Write(cf.ws, &wire.EventsAck{Scope: ev.Scope, Cursor: ev.Next}, time.Now().Add(testWait))
			}
		}
		fineGot <- nil
	}()
	f := filed(t, a)
	ca.pushAndAck(batch(1, f))
	var all []string
	seq := int64(2)
	// About 4 MB of events: more than loopback socket buffers hold while
	// nobody reads, so the writer to the slow device misses its deadline.
	for range 4 {
		events := make([]wire.DeviceEvent, 0, 100)
		for range 100 {
			n := note(f.ComplaintID, "A", 5000)
			events = append(events, wire.DeviceEvent{Seq: seq, Event: n})
			all = append(all, n.ID)
			seq++
		}
		ca.pushAndAck(events)
	}
	waitFor(t, "the slow consumer to be dropped", func() bool { return e.hub.Stats().SlowConsumerDrops >= 1 })
	if err := <-fineGot; err != nil {
		t.Fatalf("fine device: %v", err)
	}
	if len(all)+1 != total {
		t.Fatalf("pushed %d events, want %d", len(all)+1, total)
	}
	// The slow device's connection ends: 4008 if the close frame fit behind
	// the half-written data, else the stream just stops.
	for {
		_ = cs.ws.SetReadDeadline(time.Now().Add(testWait))
		_, _, err := cs.ws.ReadMessage()
		if err == nil {
			continue
		}
		if code, _ := wire.CloseStatus(err); code != wire.CloseSlowConsumer && code != wire.CloseAbnormal {
			t.Fatalf("slow device closed with %d (%v), want 4008 or an abnormal close", code, err)
		}
		break
	}
	_ = ca
}

// TestShutdown: a push in flight is acknowledged (or, if it arrived after
// Shutdown began, left for the resend), every connection gets 4009, new
// connections are refused, and no goroutine outlives the hub.
func TestShutdown(t *testing.T) {
	e := MustEnv(t, nil)
	// The hub starts goroutines only for connections.
	before := runtime.NumGoroutine()
	devs := []*client{}
	var pushed []*wire.DeviceEvent
	for range 3 {
		d := e.MustDevice(t, "A")
		c, _ := e.MustConnect(t, d, 0)
		devs = append(devs, c)
	}
	// A push the server has not answered when Shutdown begins.
	inflight := batch(1, storyOf(t, devs[0].dev, 200)...)
	for i := range inflight {
		pushed = append(pushed, &inflight[i])
	}
	devs[0].send(&wire.Push{Events: inflight})

	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := e.hub.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// The pusher sees either its ack then 4009, or 4009 alone; in the
	// latter case nothing may be stored half-way, and its resend is safe.
	acked := int64(0)
	for {
		_ = devs[0].ws.SetReadDeadline(time.Now().Add(testWait))
		m, err := wire.Read(devs[0].ws)
		if err != nil {
			if code, _ := wire.CloseStatus(err); code != wire.CloseShuttingDown {
				t.Fatalf("pusher closed with %d (%v), want 4009", code, err)
			}
			break
		}
		if ack, ok := m.(*wire.PushAck); ok {
			acked = ack.Seq
		}
	}
	stored := storedIDs(t, e.store, "A")
	switch {
	case acked == int64(len(pushed)) && len(stored) == len(pushed):
	case acked == 0 && len(stored) == 0:
	default:
		t.Fatalf("ack %d with %d events stored: want all acknowledged and stored, or none of either", acked, len(stored))
	}
	for _, c := range devs[1:] {
		c.expectClose(wire.CloseShuttingDown)
	}
	d := e.MustDevice(t, "A")
	_, resp, err := e.dial(t, d)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: err %v, resp %v; want 503", err, resp)
	}
	resp.Body.Close()
	for _, c := range devs {
		c.ws.Close()
	}
	e.srv.Close()
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// failingStore fails every Push, as a broken disk would.
type failingStore struct{ hub.Log }

func (failingStore) Push(context.Context, string, []wire.DeviceEvent) (hub.PushResult, error) {
	return hub.PushResult{}, errors.New("disk I/O error at /var/lib/ombud/ombud.db")
}

// TestStorageFailureCloses1011: the device is told 1011 with no detail, and
// the hub keeps serving the others.
func TestStorageFailureCloses1011(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	e := MustEnv(t, func(c *hub.Config) { c.Log = switchStore{c.Log, &fail} })
	a, b := e.MustDevice(t, "A"), e.MustDevice(t, "A")
	ca, _ := e.MustConnect(t, a, 0)
	fail.Store(true)
	ca.send(&wire.Push{Events: batch(1, storyOf(t, a, 1)...)})
	if reason := ca.expectClose(wire.CloseInternal); strings.Contains(reason, "disk") {
		t.Fatalf("close reason %q leaks the storage error", reason)
	}
	fail.Store(false)
	cb, _ := e.MustConnect(t, b, 0)
	if _, ack := cb.pushAndAck(batch(1, storyOf(t, b, 1)...)); ack.Seq != 1 {
		t.Fatalf("other device: ack %d, want 1", ack.Seq)
	}
}

// switchStore fails pushes while fail is set.
type switchStore struct {
	hub.Log
	fail *atomic.Bool
}

func (s switchStore) Push(ctx context.Context, id string, b []wire.DeviceEvent) (hub.PushResult, error) {
	if s.fail.Load() {
		return failingStore{}.Push(ctx, id, b)
	}
	return s.Log.Push(ctx, id, b)
}

// TestEventsAckOutOfStep: an events_ack for no batch in flight (reordered
// behind a later one, or replayed from an older connection) is a transport
// fault: 4500, reconnect and resume from the stored cursor.
func TestEventsAckOutOfStep(t *testing.T) {
	t.Parallel()
	e := MustEnv(t, nil)
	dev := e.MustDevice(t, "A")
	c, _ := e.MustConnect(t, dev, 0)
	c.send(&wire.EventsAck{Scope: hub.ScopeOf("A"), Cursor: 12345})
	c.expectClose(wire.CloseOutOfStep)
}
