package wire_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"ombud/docs/schemas"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// TestEncodedFramesMatchTheSchemas: every message the Go encoder makes,
// with every optional member filled and with each left out, is valid
// against the published schemas (docs/schemas), so the document and the
// encoder cannot drift apart.
func TestEncodedFramesMatchTheSchemas(t *testing.T) {
	s, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	at := hlc.Make(1_700_000_000_123, 7)
	note := event.Event{ID: uid.New(), ComplaintID: uid.New(), Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "alice"}, At: at, Branch: "north",
		Data: json.RawMessage(`{"text":"Called back <at> 9 & left a message."}`)}
	ack := event.Event{ID: uid.New(), ComplaintID: note.ComplaintID, Type: event.Acknowledged,
		Actor: event.Actor{Kind: event.ActorStaff, ID: "alice"}, At: at + 1, Branch: "north"}
	system := event.Event{ID: uid.New(), ComplaintID: note.ComplaintID, Type: event.Assigned,
		Actor: event.Actor{Kind: event.ActorSystem}, At: at + 2, Branch: "north",
		Data: json.RawMessage(`{"queue":"branch:north","rule":"default"}`)}
	msgs := []wire.Message{
		&wire.ClientHello{Versions: wire.Versions(), DeviceID: "kiosk-1", Software: "ombud-kiosk 1.0"},
		&wire.ClientHello{Versions: []int{1, 2}, DeviceID: "kiosk-1", Software: "s", Cursors: map[string]int64{"branch:north": 0, "team:fraud": 12}, DeviceSeq: 40},
		&wire.ServerHello{Version: 1, ServerTime: at, DeviceSeq: 0},
		&wire.ServerHello{Version: 1, ServerTime: at, DeviceSeq: 9, Scopes: []string{"branch:north"}},
		&wire.Push{Events: []wire.DeviceEvent{{Seq: 1, Event: note}, {Seq: 2, Event: ack}}},
		&wire.PushAck{Seq: 2},
		&wire.PushReject{Seq: 2, EventID: ack.ID, Code: wire.CloseForbiddenEvent, Reason: "staff account revoked"},
		&wire.Events{Scope: "branch:north", From: 0, Next: 10},
		&wire.Events{Scope: "branch:north", From: 10, Next: 12, Events: []wire.ScopedEvent{{Seq: 11, Event: note}, {Seq: 12, Event: system}}},
		&wire.EventsAck{Scope: "branch:north", Cursor: 12},
	}
	for _, m := range msgs {
		frame, err := wire.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(schemas.Frame, frame); err != nil {
			t.Errorf("%s: %v\n%s", m.Type(), err, frame)
		}
	}
}

// TestVectorsMatchTheSchemas: the test vectors of docs/SYNC.md section 11
// that every implementation must accept are valid against the schemas, and
// the refused ones that a schema can describe are refused by them too.
func TestVectorsMatchTheSchemas(t *testing.T) {
	s, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Refused for what a schema cannot say: contiguity of seqs, bytes that
	// are not UTF-8 or a lone surrogate (a JSON parser already refuses or
	// replaces them), nesting depth, a frame that is not JSON at all.
	beyondSchema := map[string]bool{"push_gap": true, "invalid_utf8": true, "lone_surrogate": true, "empty": true,
		"deep_nesting": true, "trailing": true}
	checked := 0
	for _, e := range entries {
		name := e.Name()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		frame := fuzzInput(t, name, b)
		err = s.Validate(schemas.Frame, frame)
		switch {
		case strings.HasPrefix(name, "valid_"):
			if err != nil {
				t.Errorf("%s: the decoder accepts it, the schema refuses it: %v", name, err)
			}
		case strings.HasPrefix(name, "accepted_"):
			// Accepted by the Go decoder but not by the protocol (SYNC.md
			// section 3, "Known gap"): the schema is the protocol.
			if err == nil {
				t.Errorf("%s: the schema accepts what the protocol refuses", name)
			}
		case beyondSchema[name]:
			continue
		default:
			if err == nil {
				t.Errorf("%s: the decoder refuses it, the schema accepts it", name)
			}
		}
		checked++
	}
	if checked < 15 {
		t.Fatalf("checked %d vectors; the corpus has shrunk or moved", checked)
	}
}

// fuzzInput reads a "go test fuzz v1" file holding one []byte.
func fuzzInput(tb testing.TB, name string, b []byte) []byte {
	tb.Helper()
	lines := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" {
		tb.Fatalf("%s: not a fuzz corpus file", name)
	}
	lit, ok := strings.CutPrefix(lines[1], "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	if !ok || !ok2 {
		tb.Fatalf("%s: not one []byte", name)
	}
	s, err := strconv.Unquote(lit)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}
