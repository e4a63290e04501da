package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/server/enrol"
	"ombud/server/storage/sqlite"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// enrolFleet enrols n devices straight into the (stopped) server's database,
// as `server enrol-code` and the enrol endpoint would, and returns their
// bearer tokens: enrolling a thousand through the CLI would take minutes.
func enrolFleet(tb testing.TB, s *e2eServer, n int) []string {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(s.data, "server.db"))
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	tokens := make([]string, n)
	now := time.Now()
	for i := range tokens {
		code, _, err := enrol.Issue(ctx, st, e2eBranch, time.Hour, now)
		if err != nil {
			tb.Fatal(err)
		}
		e, err := enrol.Redeem(ctx, st, enrol.Request{Code: code, DeviceName: fmt.Sprintf("idle-%d", i)}, now)
		if err != nil {
			tb.Fatal(err)
		}
		tokens[i] = e.Credential
	}
	return tokens
}

// idleFleet holds one websocket per token open against the server, each past
// its hello and asking for nothing, as idle kiosks are; pings are answered by
// the reader goroutine.
type idleFleet struct {
	conns []*websocket.Conn
	wg    sync.WaitGroup
}

func connectFleet(tb testing.TB, url string, tokens []string) *idleFleet {
	tb.Helper()
	endpoint, err := client.SyncURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	f := &idleFleet{}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	for _, token := range tokens {
		ws, _, err := dialer.Dial(endpoint, http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			tb.Fatalf("dial: %v", err)
		}
		ws.SetReadLimit(wire.MaxFrameBytes)
		id, _, _ := strings.Cut(token, ".")
		if err := wire.Write(ws, &wire.ClientHello{Versions: wire.Versions(), DeviceID: id, Software: "bench-idle"}, time.Now().Add(30*time.Second)); err != nil {
			tb.Fatal(err)
		}
		msg, err := wire.Read(ws)
		if err != nil {
			tb.Fatalf("hello: %v", err)
		}
		if _, ok := msg.(*wire.ServerHello); !ok {
			tb.Fatalf("hello: got %s", msg.Type())
		}
		f.conns = append(f.conns, ws)
		f.wg.Go(func() {
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		})
	}
	tb.Cleanup(f.close)
	return f
}

func (f *idleFleet) close() {
	for _, ws := range f.conns {
		ws.Close()
	}
	f.wg.Wait()
}
