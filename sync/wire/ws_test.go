package wire_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/hlc"
	"ombud/sync/wire"
)

const testWait = 5 * time.Second

// StartServer runs a websocket server that reads messages with wire.Read,
// answers a client hello, and closes the connection the way the hub must:
// wire.WriteClose, then linger until the peer's close (or a deadline) so the
// peer reads the reason before the socket goes.
func StartServer(tb testing.TB) string {
	tb.Helper()
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetReadLimit(wire.MaxFrameBytes)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(testWait))
			msg, err := wire.Read(conn)
			if err == nil {
				err = answer(conn, msg)
			}
			if err == nil {
				continue
			}
			var we *wire.Error
			if !errors.As(err, &we) {
				return // the peer went away or closed
			}
			if we.Code != wire.CloseTooBig { // gorilla has sent 1009 itself
				_ = wire.WriteClose(conn, we, time.Now().Add(testWait))
			}
			// Linger: drain whatever the peer still sends (the rest of an
			// oversize frame, its close reply) until it closes the socket.
			_ = conn.SetReadDeadline(time.Now().Add(testWait))
			_, _ = io.Copy(io.Discard, conn.NetConn())
			return
		}
	}))
	tb.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func answer(conn *websocket.Conn, msg wire.Message) error {
	hello, ok := msg.(*wire.ClientHello)
	if !ok {
		return nil
	}
	v, err := wire.Negotiate(hello.Versions, wire.Versions())
	if err != nil {
		return err
	}
	return wire.Write(conn, &wire.ServerHello{Version: v, ServerTime: hlc.Make(time.Now().UnixMilli(), 0), DeviceSeq: 0},
		time.Now().Add(testWait))
}

// MustDial connects to url with a read deadline, so no test can hang.
func MustDial(tb testing.TB, url string) *websocket.Conn {
	tb.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	if err := conn.SetReadDeadline(time.Now().Add(testWait)); err != nil {
		tb.Fatal(err)
	}
	return conn
}

func TestWebsocketOversizeFrameCloses1009(t *testing.T) {
	conn := MustDial(t, StartServer(t))
	big := []byte(`{"v":1,"type":"push","body":{"events":[` + strings.Repeat(" ", wire.MaxFrameBytes) + `]}}`)
	if err := conn.WriteMessage(websocket.TextMessage, big); err != nil {
		t.Fatal(err)
	}
	_, _, err := conn.ReadMessage()
	code, _ := wire.CloseStatus(err)
	if code != wire.CloseTooBig {
		t.Fatalf("read error %v: close code %d, want %d", err, code, wire.CloseTooBig)
	}
	if code.Reconnect() {
		t.Fatal("1009 says reconnect: the device would resend the same batch forever")
	}
}

func TestWebsocketRefusalsCloseWithCodeAndReason(t *testing.T) {
	malformed := frame(1, "push", `{"events":[{"seq":1,"event":{"id":"not-a-uuid"}}]}`)
	_, decodeErr := wire.Decode(malformed)
	tests := []struct {
		name   string
		kind   int
		frame  []byte
		code   wire.CloseCode
		reason string
	}{
		{"malformed push", websocket.TextMessage, malformed, wire.CloseProtocolError, wire.AsError(decodeErr).Reason},
		{"invalid UTF-8", websocket.TextMessage, []byte("{\"v\":1,\"type\":\"push_ack\xff\"}"), wire.CloseInvalidUTF8, "frame is not valid UTF-8"},
		{"binary frame", websocket.BinaryMessage, frame(1, "push_ack", `{"seq":1}`), wire.CloseUnsupportedData, "binary frame; this protocol sends JSON text frames"},
		{"no common version", websocket.TextMessage, frame(7, "client_hello", `{"versions":[7],"device_id":"d","software":"s"}`),
			wire.CloseUnsupportedVersion, "no common protocol version: device offers [7], server speaks [1]"},
	}
	url := StartServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := MustDial(t, url)
			if err := conn.WriteMessage(tt.kind, tt.frame); err != nil {
				t.Fatal(err)
			}
			_, _, err := conn.ReadMessage()
			code, reason := wire.CloseStatus(err)
			if code != tt.code || reason != tt.reason {
				t.Fatalf("closed with %d %q, want %d %q (read error %v)", code, reason, tt.code, tt.reason, err)
			}
			if code.Reconnect() {
				t.Fatalf("%d says reconnect; the same frame would fail again", code)
			}
		})
	}
}

func TestWebsocketHello(t *testing.T) {
	conn := MustDial(t, StartServer(t))
	if err := wire.Write(conn, &wire.ClientHello{Versions: []int{3, 1}, DeviceID: "dev-1", Software: "kiosk test"},
		time.Now().Add(testWait)); err != nil {
		t.Fatal(err)
	}
	msg, err := wire.Read(conn)
	if err != nil {
		t.Fatal(err)
	}
	sh, ok := msg.(*wire.ServerHello)
	if !ok || sh.Version != 1 {
		t.Fatalf("got %#v, want a server hello choosing version 1", msg)
	}
}
