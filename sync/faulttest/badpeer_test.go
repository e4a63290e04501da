package faulttest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ombud/shared/event"
	"ombud/shared/staff"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// TestBadPeersDoNotDisturbGoodOne extends sync/hub's frame tests to the
// whole system: while a real kiosk files and syncs, other enrolled devices
// send malformed, oversized, invalid-UTF-8, binary and wrong-version frames,
// replay a batch, push an event onto another branch's complaint and push
// another device's event as their own. Each gets its clear close code or
// push_reject, nothing they sent is stored beyond the one legitimate
// replayed batch (once), and the kiosk finishes exactly-once, unaffected.
func TestBadPeersDoNotDisturbGoodOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := MustServer(t)
	good := MustKiosk(t, srv.st, "north", srv.http.URL)
	good.file(t, 20)
	good.run(t)
	waitFor(t, "the good kiosk's first complaints on the server", func() bool {
		return countEvents(t, readDB(t, srv.path)) >= 20
	})
	good.mu.Lock()
	victim := good.filed[0] // a north complaint, for the forbidden event
	good.mu.Unlock()
	victimEvents, err := good.st.Events(ctx, victim.ID)
	if err != nil || len(victimEvents) != 1 {
		t.Fatalf("the good kiosk's events of %s: %v, %v", victim.ID, victimEvents, err)
	}

	var filing sync.WaitGroup
	filing.Go(func() { good.file(t, 100) }) // keeps syncing throughout
	t.Cleanup(filing.Wait)                  // before the kiosk's store closes

	south := mustRawDevice(t, srv.st, "south")
	// The notes' author is a real agent of south: what is refused below
	// is refused for reaching north, not for an unknown author.
	pin, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.st.CreateStaff(ctx, staff.Account{ID: "intruder", Name: "In Truder", Role: staff.Agent, Branch: "south", PINHash: pin}); err != nil {
		t.Fatal(err)
	}
	noteOn := func(complaintID, branch string) event.Event {
		data, _ := json.Marshal(event.Text{Text: "not yours"})
		return event.Event{ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
			Actor: event.Actor{Kind: event.ActorStaff, ID: "intruder"}, At: good.clock.Now(), Branch: branch, Data: data}
	}
	valid := func(m wire.Message) []byte {
		b, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ownNote := noteOn(uid.New(), "south") // a note on a complaint nobody filed yet: allowed
	replayed := []wire.DeviceEvent{{Seq: 1, Event: ownNote}}

	type frame struct {
		kind int
		data []byte
	}
	tests := []struct {
		name       string
		frames     []frame
		wantClose  wire.CloseCode
		wantReject wire.CloseCode // 0: none expected
	}{
		{"malformed JSON", []frame{{websocket.TextMessage, []byte(`{"v":1,"type":"push","body":{`)}}, wire.CloseProtocolError, 0},
		{"oversized", []frame{{websocket.TextMessage, bytes.Repeat([]byte("x"), wire.MaxFrameBytes+1)}}, wire.CloseTooBig, 0},
		{"invalid UTF-8", []frame{{websocket.TextMessage, []byte("{\"v\":1,\"type\":\"events_ack\",\"body\":{\"scope\":\"\xff\",\"cursor\":1}}")}}, wire.CloseInvalidUTF8, 0},
		{"binary", []frame{{websocket.BinaryMessage, valid(&wire.EventsAck{Scope: "branch:south", Cursor: 1})}}, wire.CloseUnsupportedData, 0},
		{"wrong version", []frame{{websocket.TextMessage, []byte(`{"v":7,"type":"events_ack","body":{"scope":"branch:south","cursor":1}}`)}}, wire.CloseUnsupportedVersion, 0},
		{"push after a gap", []frame{{websocket.TextMessage, valid(&wire.Push{Events: []wire.DeviceEvent{{Seq: 50, Event: noteOn(uid.New(), "south")}}})}}, wire.CloseOutOfStep, 0},
		{"another branch's complaint", []frame{{websocket.TextMessage, valid(&wire.Push{Events: []wire.DeviceEvent{{Seq: 2, Event: noteOn(victim.ID, "south")}}})}}, 0, wire.CloseForbiddenEvent},
		{"another device's event", []frame{{websocket.TextMessage, valid(&wire.Push{Events: []wire.DeviceEvent{{Seq: 3, Event: victimEvents[0]}}})}}, 0, wire.CloseConflict},
	}
	// The replayed batch: stored once, then acknowledged again as a
	// duplicate on a later connection.
	for range 2 {
		ws, err := south.dial(ctx, srv.http.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := south.hello(ws, 1); err != nil {
			t.Fatal(err)
		}
		if err := wire.Write(ws, &wire.Push{Events: replayed}, time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		m, err := readAnswer(ws)
		if ack, ok := m.(*wire.PushAck); err != nil || !ok || ack.Seq != 1 {
			t.Fatalf("replayed batch answered %v, %v; want push_ack 1", m, err)
		}
		ws.Close()
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := south.dial(ctx, srv.http.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if _, err := south.hello(ws, int64(3+i)); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.frames {
				if err := ws.WriteMessage(f.kind, f.data); err != nil {
					t.Fatal(err)
				}
			}
			if tt.wantReject != 0 {
				m, err := readAnswer(ws)
				r, ok := m.(*wire.PushReject)
				if err != nil || !ok || r.Code != tt.wantReject || r.Reason == "" {
					t.Fatalf("got %#v, %v; want push_reject %d with a reason", m, err, tt.wantReject)
				}
				return
			}
			if code, _ := readUntilClose(t, ws); code != tt.wantClose {
				t.Fatalf("closed with %d, want %d", code, tt.wantClose)
			}
		})
	}
	filing.Wait()
	waitFor(t, "the good kiosk drained", good.drained)
	db := readDB(t, srv.path)
	var fromBad, onVictim int
	if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE device_id = ?`, south.dev.ID).Scan(&fromBad); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE complaint_id = ?`, victim.ID).Scan(&onVictim); err != nil {
		t.Fatal(err)
	}
	if fromBad != 1 || onVictim != 1 {
		t.Errorf("server holds %d events of the bad peer (want 1: its replayed note, once) and %d of the victim complaint (want 1)", fromBad, onVictim)
	}
	good.mu.Lock()
	filed := len(good.filed)
	good.mu.Unlock()
	var goodEvents int
	if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE device_id = ?`, good.device.ID).Scan(&goodEvents); err != nil {
		t.Fatal(err)
	}
	if goodEvents != filed || filed != 120 {
		t.Errorf("good kiosk: filed %d, server holds %d of its events; want 120 each", filed, goodEvents)
	}
	checkOutboxes(t, []*kiosk{good})
	if st := good.client.Status(); st.CloseCode != 0 {
		t.Errorf("good kiosk's connection was closed (%d): %+v", st.CloseCode, st)
	}
}

// readAnswer reads the next push_ack or push_reject, skipping the events
// batches streamed meanwhile.
func readAnswer(ws *websocket.Conn) (wire.Message, error) {
	ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		m, err := wire.Read(ws)
		if err != nil {
			return nil, err
		}
		switch m.(type) {
		case *wire.PushAck, *wire.PushReject:
			return m, nil
		}
	}
}
