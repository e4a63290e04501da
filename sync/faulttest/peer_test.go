package faulttest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// rawDevice is an enrolled device without a store: the test speaks the
// protocol itself, right or wrong.
type rawDevice struct {
	dev    storage.Device
	secret string
}

func mustRawDevice(tb testing.TB, srv storage.Store, branch string) rawDevice {
	tb.Helper()
	ctx := context.Background()
	if err := srv.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatal(err)
	}
	code, _, err := enrol.Issue(ctx, srv, enrol.Grant{Branch: branch, Role: device.Staff}, time.Hour, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	en, err := enrol.Redeem(ctx, srv, enrol.Request{Code: code, DeviceName: "raw"}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	_, secret, _ := strings.Cut(en.Credential, ".")
	return rawDevice{dev: en.Device, secret: secret}
}

// dial opens a websocket as d (no hello yet).
func (d rawDevice) dial(ctx context.Context, base string) (*websocket.Conn, error) {
	url, err := client.SyncURL(base)
	if err != nil {
		return nil, err
	}
	ws, resp, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).DialContext(ctx, url,
		http.Header{"Authorization": {"Bearer " + d.dev.ID + "." + d.secret}})
	if err != nil {
		if resp != nil {
			return nil, errors.New("dial: " + resp.Status)
		}
		return nil, err
	}
	ws.SetReadLimit(wire.MaxFrameBytes)
	return ws, nil
}

// hello sends a client_hello and reads the server_hello.
func (d rawDevice) hello(ws *websocket.Conn, deviceSeq int64) (*wire.ServerHello, error) {
	deadline := time.Now().Add(waitTimeout)
	err := wire.Write(ws, &wire.ClientHello{Versions: wire.Versions(), DeviceID: d.dev.ID, Software: "faulttest-raw",
		Cursors: map[string]int64{}, DeviceSeq: deviceSeq}, deadline)
	if err != nil {
		return nil, err
	}
	ws.SetReadDeadline(deadline)
	m, err := wire.Read(ws)
	if err != nil {
		return nil, err
	}
	sh, ok := m.(*wire.ServerHello)
	if !ok {
		return nil, errors.New("want server_hello, got " + string(m.Type()))
	}
	return sh, nil
}

// readUntilClose reads (skipping events batches) until the server closes,
// and returns its close code and the push answers seen before.
func readUntilClose(tb testing.TB, ws *websocket.Conn) (wire.CloseCode, []wire.Message) {
	tb.Helper()
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	var answers []wire.Message
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			code, _ := wire.CloseStatus(err)
			return code, answers
		}
		m, err := wire.Decode(frame)
		if err != nil {
			tb.Errorf("server sent an undecodable frame: %v", err)
			continue
		}
		switch m.(type) {
		case *wire.PushAck, *wire.PushReject:
			answers = append(answers, m)
		}
	}
}
