package hub_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/hub"
	"ombud/sync/wire"
)

// testWait bounds every wait in these tests, so none can hang.
const testWait = 10 * time.Second

// env is a hub over real SQLite storage behind a real HTTP server.
type env struct {
	store *sqlite.Store
	hub   *hub.Hub
	srv   *httptest.Server
	url   string
}

// testConfig has short timings so closes and revocations are quick.
func testConfig(store storage.Store) hub.Config {
	return hub.Config{
		Log:                 store,
		Auth:                testAuthenticate(store),
		Logger:              testLogger(),
		PongWait:            5 * time.Second,
		WriteWait:           2 * time.Second,
		HelloTimeout:        2 * time.Second,
		CloseLinger:         time.Second,
		RevokeCheckInterval: 100 * time.Millisecond,
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("HUB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// testAuthenticate stands in for enrol.SyncAuth: "Bearer <device-id>",
// unknown and revoked devices refused, the device's branch queue its scope.
func testAuthenticate(store storage.Store) hub.Authenticator {
	return hub.AuthenticateFunc(func(r *http.Request) (hub.Device, error) {
		id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return hub.Device{}, fmt.Errorf("%w: no credential", hub.ErrRefused)
		}
		d, err := store.Device(r.Context(), id)
		switch {
		case storage.ErrorCode(err) == storage.NotFound:
			return hub.Device{}, fmt.Errorf("%w: %w", hub.ErrRefused, err)
		case err != nil:
			return hub.Device{}, err
		case d.Revoked():
			return hub.Device{}, fmt.Errorf("%w: device %s is revoked", hub.ErrRefused, id)
		}
		return hub.Device{ID: d.ID, Scopes: []string{hub.ScopeOf(d.Branch)}}, nil
	})
}

// MustEnv starts a hub; edit adjusts the test config. Cleanup shuts it down.
func MustEnv(tb testing.TB, edit func(*hub.Config)) *env {
	tb.Helper()
	return mustEnvListener(tb, edit, nil)
}

// smallSendBuffers makes every accepted socket's kernel send buffer small
// and fixed, so a peer that stops reading stalls the server's writes after
// kilobytes instead of megabytes.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

func mustEnvListener(tb testing.TB, edit func(*hub.Config), wrap func(net.Listener) net.Listener) *env {
	tb.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ombud.db"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := testConfig(store)
	if edit != nil {
		edit(&cfg)
	}
	h := hub.New(cfg)
	srv := httptest.NewUnstartedServer(h)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	e := &env{store: store, hub: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		srv.Close()
		if err := store.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return e
}

var deviceCounter atomic.Int64

// MustDevice enrols a device into branch (created if needed, with the
// agent account staffOf(branch) that note names).
func (e *env) MustDevice(tb testing.TB, branch string) storage.Device {
	tb.Helper()
	ctx := context.Background()
	if err := e.store.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
	pin, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		tb.Fatal(err)
	}
	a := staff.Account{ID: staffOf(branch), Name: "Staff of " + branch, Role: staff.Agent, Branch: branch, PINHash: pin}
	if err := e.store.CreateStaff(ctx, a); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
	n := deviceCounter.Add(1)
	code := sha256.Sum256(fmt.Appendf(nil, "code-%d", n))
	cred := sha256.Sum256(fmt.Appendf(nil, "cred-%d", n))
	now := time.Now()
	if err := e.store.CreateEnrolment(ctx, storage.Enrolment{Branch: branch, CodeHash: code[:], ExpiresAt: now.Add(time.Hour), Role: device.Staff}); err != nil {
		tb.Fatal(err)
	}
	d, err := e.store.RedeemEnrolment(ctx, code[:], now, fmt.Sprintf("dev-%d", n), cred[:])
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// client is a test device speaking the protocol with sync/wire directly.
type client struct {
	tb  testing.TB
	ws  *websocket.Conn
	dev storage.Device
}

func (e *env) dial(tb testing.TB, dev storage.Device) (*client, *http.Response, error) {
	tb.Helper()
	return e.dialWith(tb, dev, websocket.Dialer{HandshakeTimeout: testWait})
}

func (e *env) dialWith(tb testing.TB, dev storage.Device, d websocket.Dialer) (*client, *http.Response, error) {
	tb.Helper()
	hdr := http.Header{"Authorization": {"Bearer " + dev.ID}}
	ws, resp, err := d.Dial(e.url, hdr)
	if err != nil {
		return nil, resp, err
	}
	tb.Cleanup(func() { ws.Close() })
	ws.SetReadLimit(2 * wire.MaxFrameBytes)
	return &client{tb: tb, ws: ws, dev: dev}, resp, nil
}

// MustConnect dials and completes the hello from cursor.
func (e *env) MustConnect(tb testing.TB, dev storage.Device, cursor int64) (*client, *wire.ServerHello) {
	tb.Helper()
	return e.mustConnectWith(tb, dev, cursor, websocket.Dialer{HandshakeTimeout: testWait})
}

func (e *env) mustConnectWith(tb testing.TB, dev storage.Device, cursor int64, d websocket.Dialer) (*client, *wire.ServerHello) {
	tb.Helper()
	c, _, err := e.dialWith(tb, dev, d)
	if err != nil {
		tb.Fatalf("dial as %s: %v", dev.ID, err)
	}
	hello := &wire.ClientHello{Versions: wire.Versions(), DeviceID: dev.ID, Software: "test/1",
		Cursors: map[string]int64{hub.ScopeOf(dev.Branch): cursor}, DeviceSeq: 1 << 40}
	c.send(hello)
	sh, ok := c.recv().(*wire.ServerHello)
	if !ok {
		tb.Fatalf("first message is not a server_hello")
	}
	return c, sh
}

func (c *client) send(msg wire.Message) {
	c.tb.Helper()
	if err := wire.Write(c.ws, msg, time.Now().Add(testWait)); err != nil {
		c.tb.Fatalf("send %s: %v", msg.Type(), err)
	}
}

func (c *client) sendRaw(kind int, frame []byte) {
	c.tb.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(testWait))
	if err := c.ws.WriteMessage(kind, frame); err != nil {
		c.tb.Fatalf("send raw frame: %v", err)
	}
}

// recv reads the next message, failing the test on anything else.
func (c *client) recv() wire.Message {
	c.tb.Helper()
	msg, err := c.recvWithin(testWait)
	if err != nil {
		c.tb.Fatalf("%s: receive: %v", c.dev.ID, err)
	}
	return msg
}

func (c *client) recvWithin(d time.Duration) (wire.Message, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
	return wire.Read(c.ws)
}

// expectClose reads (discarding messages) until the server closes, and
// checks the close code.
func (c *client) expectClose(want wire.CloseCode) string {
	c.tb.Helper()
	deadline := time.Now().Add(testWait)
	for {
		_ = c.ws.SetReadDeadline(deadline)
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		code, reason := wire.CloseStatus(err)
		if code != want {
			c.tb.Fatalf("%s: closed with %d %q (%v), want %d", c.dev.ID, code, reason, err, want)
		}
		return reason
	}
}

// pushAndAck pushes batch and returns the rejects and the ack that follow.
func (c *client) pushAndAck(batch []wire.DeviceEvent) ([]*wire.PushReject, *wire.PushAck) {
	c.tb.Helper()
	c.send(&wire.Push{Events: batch})
	var rejects []*wire.PushReject
	for {
		switch m := c.recv().(type) {
		case *wire.PushReject:
			rejects = append(rejects, m)
		case *wire.PushAck:
			return rejects, m
		case *wire.Events:
			// Our own events come back downstream; acknowledge and go on.
			c.send(&wire.EventsAck{Scope: m.Scope, Cursor: m.Next})
		default:
			c.tb.Fatalf("unexpected %s while waiting for push_ack", m.Type())
		}
	}
}

// recvEvents reads events messages, acknowledging each, until want events
// arrived, and returns their ids in order.
func (c *client) recvEvents(want int) []string {
	c.tb.Helper()
	var ids []string
	for len(ids) < want {
		m, ok := c.recv().(*wire.Events)
		if !ok {
			c.tb.Fatalf("want events, got another message")
		}
		for _, se := range m.Events {
			ids = append(ids, se.Event.ID)
		}
		c.send(&wire.EventsAck{Scope: m.Scope, Cursor: m.Next})
	}
	return ids
}

var clock = hlc.New(nil)

// filed makes a valid Filed event for a new complaint of dev's branch.
func filed(tb testing.TB, dev storage.Device) event.Event {
	tb.Helper()
	code, err := trackcode.Generate(dev.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: dev.Branch, Device: dev.ID, Channel: complaint.ChannelKiosk,
		Category: "billing", Description: "the queue ticket was not honoured", Language: "en",
		FiledAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: dev.ID}, clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// staffOf is the agent account MustDevice gives branch.
func staffOf(branch string) string { return "staff-" + strings.ToLower(branch) }

// note makes a NoteAdded event on complaintID claiming branch, by that
// branch's agent, with about size bytes of text.
func note(complaintID, branch string, size int) event.Event {
	data, _ := json.Marshal(event.Text{Text: strings.Repeat("n", size)})
	return event.Event{ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: staffOf(branch)}, At: clock.Now(), Branch: branch, Data: data}
}

// batch numbers events from seq on.
func batch(seq int64, events ...event.Event) []wire.DeviceEvent {
	out := make([]wire.DeviceEvent, len(events))
	for i, e := range events {
		out[i] = wire.DeviceEvent{Seq: seq + int64(i), Event: e}
	}
	return out
}

// storyOf makes n events for dev: a Filed event and notes on it.
func storyOf(tb testing.TB, dev storage.Device, n int) []event.Event {
	tb.Helper()
	f := filed(tb, dev)
	out := []event.Event{f}
	for len(out) < n {
		out = append(out, note(f.ComplaintID, dev.Branch, 100))
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		// Yield briefly between polls; this is polling a condition with a
		// deadline, not sleeping for an expected duration.
		<-time.After(5 * time.Millisecond)
	}
}

func storedIDs(tb testing.TB, s storage.Store, branch string) map[string]int {
	tb.Helper()
	out := map[string]int{}
	var after int64
	for {
		page, err := s.EventsAfter(context.Background(), hub.ScopeOf(branch), after, 1000)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			out[e.Event.ID]++
		}
		after = page[len(page)-1].Seq
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
