package main

// End-to-end tests of the trust model (docs/SECURITY.md): the real server
// program, devices of each role enrolled with real codes and credentials,
// and what each may receive and record, checked from the outside: the
// websocket's answers, the staff directory endpoint, the tracking API and
// the server's own database.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	kioskenrol "ombud/kiosk/enrol"
	"ombud/server/staffapi"
	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/client"
	"ombud/sync/wire"
)

// rawDevice speaks the sync protocol with sync/wire, as an attacker holding
// a device's credential would: nothing on the device side checks what it
// sends.
type rawDevice struct {
	tb    testing.TB
	cred  kioskenrol.Credential
	conn  *websocket.Conn
	clock *hlc.Clock
	seq   int64
	hello *wire.ServerHello
}

// mustRawDevice enrols a device of role with a code from the server's CLI.
func mustRawDevice(tb testing.TB, s *e2eServer, role string, extra ...string) *rawDevice {
	tb.Helper()
	cred, err := kioskenrol.Enrol(context.Background(), nil, s.url, MustCode(tb, s.dir, append([]string{"--role", role}, extra...)...), role+" device")
	if err != nil {
		tb.Fatalf("enrol a %s: %v", role, err)
	}
	return &rawDevice{tb: tb, cred: cred, clock: hlc.New(nil)}
}

// connect opens the websocket and says hello asking for cursors.
func (d *rawDevice) connect(cursors map[string]int64) {
	d.tb.Helper()
	u, err := client.SyncURL(d.cred.ServerURL)
	if err != nil {
		d.tb.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {d.cred.AuthorizationHeader()}})
	if err != nil {
		d.tb.Fatalf("dial: %v", err)
	}
	d.tb.Cleanup(func() { conn.Close() })
	conn.SetReadLimit(wire.MaxFrameBytes)
	d.conn = conn
	hello := &wire.ClientHello{Versions: wire.Versions(), DeviceID: d.cred.DeviceID, Software: "ombud-e2e-raw", DeviceSeq: d.seq + 1000, Cursors: cursors}
	if err := wire.Write(conn, hello, time.Now().Add(e2eWait)); err != nil {
		d.tb.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(e2eWait))
	m, err := wire.Read(conn)
	sh, ok := m.(*wire.ServerHello)
	if err != nil || !ok {
		d.tb.Fatalf("want server_hello, got %T, %v", m, err)
	}
	d.clock.Observe(sh.ServerTime)
	d.hello = sh
}

// push sends events (numbered on) and returns the rejections and the
// events messages that arrived before the ack.
func (d *rawDevice) push(events ...event.Event) (rejects []*wire.PushReject, streamed []*wire.Events) {
	d.tb.Helper()
	p := &wire.Push{}
	for _, e := range events {
		d.seq++
		p.Events = append(p.Events, wire.DeviceEvent{Seq: d.seq, Event: e})
	}
	if err := wire.Write(d.conn, p, time.Now().Add(e2eWait)); err != nil {
		d.tb.Fatal(err)
	}
	for {
		d.conn.SetReadDeadline(time.Now().Add(e2eWait))
		m, err := wire.Read(d.conn)
		if err != nil {
			d.tb.Fatalf("waiting for push_ack: %v", err)
		}
		switch m := m.(type) {
		case *wire.PushReject:
			rejects = append(rejects, m)
		case *wire.Events:
			streamed = append(streamed, m)
			if err := wire.Write(d.conn, &wire.EventsAck{Scope: m.Scope, Cursor: m.Next}, time.Now().Add(e2eWait)); err != nil {
				d.tb.Fatal(err)
			}
		case *wire.PushAck:
			if m.Seq == d.seq {
				return rejects, streamed
			}
		}
	}
}

// filing is a Filed event by the device itself, with contact details.
func (d *rawDevice) filing(description string) event.Event {
	d.tb.Helper()
	code, err := trackcode.Generate(d.cred.CodePrefix)
	if err != nil {
		d.tb.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: d.cred.Branch, Device: d.cred.DeviceID, Channel: complaint.ChannelKiosk,
		Category: "service", Description: description, Language: "en", FiledAt: time.Now().UTC().Truncate(time.Millisecond),
		Contact: &complaint.Contact{Name: "Alice Example", Email: "alice@example.org", ConsentAt: time.Now().UTC().Truncate(time.Millisecond), NoticeVersion: "1"},
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.cred.DeviceID}, d.clock.Now())
	if err != nil {
		d.tb.Fatal(err)
	}
	return e
}

// act is a staff event on complaint by staff member who, at clock at (the
// device's clock now when zero).
func (d *rawDevice) act(complaintID, branch string, typ event.Type, who string, data any, at hlc.Timestamp) event.Event {
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	if at == 0 {
		at = d.clock.Now()
	}
	return event.Event{ID: uid.New(), ComplaintID: complaintID, Type: typ, Actor: event.Actor{Kind: event.ActorStaff, ID: who},
		At: at, Branch: branch, Data: raw}
}

func addStaff(tb testing.TB, s *e2eServer, id string, extra ...string) {
	tb.Helper()
	MustRunInput(tb, "482913\n", append([]string{"staff", "add", "--data", s.dir, "--branch", "main", "--id", id,
		"--name", "Staff " + id, "--role", "agent", "--pin-memory", "64", "--pin-passes", "1"}, extra...)...)
}

func wantReject(tb testing.TB, rejects []*wire.PushReject, code wire.CloseCode, reason string) {
	tb.Helper()
	if len(rejects) != 1 || rejects[0].Code != code || !strings.Contains(rejects[0].Reason, reason) {
		tb.Fatalf("rejections = %+v, want one %d naming %q", rejects, code, reason)
	}
}

// TestE2ETrustKiosk: a customer kiosk's credential, the most exposed one
// (the device stands in a lobby), gets no other customer's complaint, no
// staff directory, and cannot speak for staff: the phishing message the
// security review planted on a customer's page is refused and never shown.
func TestE2ETrustKiosk(t *testing.T) {
	s := MustE2EServer(t, "", "")
	addStaff(t, s, "demo")
	desk := mustRawDevice(t, s, "staff")
	desk.connect(nil)
	theirs := desk.filing("my card was charged twice; call me")
	if rejects, _ := desk.push(theirs); len(rejects) != 0 {
		t.Fatalf("staff terminal's filing refused: %+v", rejects)
	}

	kiosk := mustRawDevice(t, s, "kiosk")
	kiosk.connect(map[string]int64{wire.BranchScope("main"): 0})
	if len(kiosk.hello.Scopes) != 0 {
		t.Fatalf("a kiosk asking for its branch was granted %v", kiosk.hello.Scopes)
	}
	own := kiosk.filing("the queue was too long")
	rejects, streamed := kiosk.push(own)
	if len(rejects) != 0 {
		t.Fatalf("the kiosk's own filing refused: %+v", rejects)
	}
	for _, m := range streamed {
		t.Fatalf("a kiosk received %d events of %s", len(m.Events), m.Scope)
	}

	// The forged staff message: refused, and the customer's page shows
	// only what staff really did.
	phish := kiosk.act(theirs.ComplaintID, "main", event.MessageSent, "demo",
		event.Text{Text: "To get your refund, confirm your card PIN at http://evil.example/refund"}, 0)
	rejects, _ = kiosk.push(phish)
	wantReject(t, rejects, wire.CloseForbiddenEvent, "a customer kiosk may only file complaints")
	c, _ := theirs.Complaint()
	if status, body := httpGet(t, s.url+"/api/v1/track/"+c.Code); status != http.StatusOK || strings.Contains(body, "evil.example") {
		t.Fatalf("tracking API: %d %s", status, body)
	}
	for _, e := range s.events(t, theirs.ComplaintID) {
		if e.ID == phish.ID {
			t.Fatal("the forged message is in the server's log")
		}
	}

	// The operator sees what the server holds of the kiosk: its role, its
	// last hello (written within a few seconds), its filing and the
	// rejection it was sent, and none of the complaint's text.
	waitUntil(t, "the kiosk's hello in `server device show`", func() (bool, string) {
		out := MustRun(t, "device", "show", "--data", s.dir, "--device", kiosk.cred.DeviceID)
		return strings.Contains(out, "Last connected"), out
	})
	out := MustRun(t, "device", "show", "--data", s.dir, "--device", kiosk.cred.DeviceID)
	for _, want := range []string{"customer kiosk of branch main", "ombud-e2e-raw", "filed", "device:" + kiosk.cred.DeviceID,
		"a customer kiosk may only file complaints", phish.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("device show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "queue was too long") || strings.Contains(out, "evil.example") {
		t.Errorf("device show prints complaint text:\n%s", out)
	}
	// The fleet list shows when it was last seen and what waits: this raw
	// device's hello claims 1,000 seqs beyond what it pushes, so they show
	// as waiting, as a kiosk stuck behind a bad link would.
	for _, l := range strings.Split(MustRun(t, "devices", "--data", s.dir), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == kiosk.cred.DeviceID {
			if strings.Contains(l, "never") || len(f) < 9 || f[len(f)-2] == "0" {
				t.Errorf("devices line of a kiosk seen with events waiting: %q", l)
			}
		}
	}

	// No directory for a kiosk: no PIN hash on a lobby device.
	req, _ := http.NewRequest(http.MethodGet, s.url+staffapi.PathDirectory, nil)
	req.Header.Set("Authorization", kiosk.cred.AuthorizationHeader())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(body), "argon2") || strings.Contains(string(body), "demo") {
		t.Fatalf("directory for a kiosk: %d %s", resp.StatusCode, body)
	}
}

// TestE2ETrustClocksAndRevocation: an action of a revoked account is
// refused though its terminal dates it before the revocation; an event
// dated years ahead is refused, and the clock the server stamps customers'
// actions with does not follow it.
func TestE2ETrustClocksAndRevocation(t *testing.T) {
	s := MustE2EServer(t, "", "")
	addStaff(t, s, "nina")
	addStaff(t, s, "gone")
	desk := mustRawDevice(t, s, "staff")
	desk.connect(nil)
	f := desk.filing("the machine ate my card")
	if rejects, _ := desk.push(f); len(rejects) != 0 {
		t.Fatalf("filing refused: %+v", rejects)
	}
	revokedAt := time.Now()
	MustRun(t, "staff", "revoke", "--data", s.dir, "--id", "gone")
	backdated := desk.act(f.ComplaintID, "main", event.NoteAdded, "gone", event.Text{Text: "done before I left"},
		hlc.Make(revokedAt.Add(-time.Hour).UnixMilli(), 0))
	rejects, _ := desk.push(backdated)
	wantReject(t, rejects, wire.CloseForbiddenEvent, "staff account revoked")

	future := desk.act(f.ComplaintID, "main", event.Acknowledged, "nina", nil, hlc.Make(time.Now().AddDate(5, 0, 0).UnixMilli(), 0))
	rejects, _ = desk.push(future)
	wantReject(t, rejects, wire.CloseInvalidEvent, "ahead of the server's")
	huge := desk.act(f.ComplaintID, "main", event.Acknowledged, "nina", nil, hlc.Timestamp(1<<63-1))
	rejects, _ = desk.push(huge)
	wantReject(t, rejects, wire.CloseInvalidEvent, "ahead of the server's")

	// The page works and the customer's next action is stamped now.
	c, _ := f.Complaint()
	if status, _ := httpGet(t, s.url+"/t/"+c.Code); status != http.StatusOK {
		t.Fatalf("tracking page after the attempts: %d", status)
	}
	for _, e := range s.events(t, f.ComplaintID) {
		if e.At.Time().After(time.Now().Add(hlc.MaxAhead)) {
			t.Fatalf("event %s (%s) stored dated %v", e.ID, e.Type, e.At)
		}
	}
}

// TestE2ETrustText: text a device did not clean (escape sequences,
// invisible format characters) is refused; a kiosk's filing through the
// real filing service arrives clean.
func TestE2ETrustText(t *testing.T) {
	s := MustE2EServer(t, "", "")
	addStaff(t, s, "nina")
	desk := mustRawDevice(t, s, "staff")
	desk.connect(nil)
	f := desk.filing("ordinary words")
	desk.push(f)
	for _, text := range []string{"see \x1b]8;;http://evil.example\x1b\\here\x1b]8;;\x1b\\", "re\u200bfund", "\u202egnp.exe"} {
		rejects, _ := desk.push(desk.act(f.ComplaintID, "main", event.NoteAdded, "nina", event.Text{Text: text}, 0))
		wantReject(t, rejects, wire.CloseInvalidEvent, "control or invisible format characters")
	}
	k := MustE2EKiosk(t, s, "Front desk")
	filed := k.file(t, "service", "Charged\u200b twice \x1b[31mfor\u2060 one\u202e transfer")
	waitUntil(t, "the filing reaches the server", func() (bool, string) {
		evs := s.events(t, filed.Complaint.ID)
		return len(evs) > 0, fmt.Sprint(len(evs))
	})
	got, err := s.events(t, filed.Complaint.ID)[0].Complaint()
	if err != nil || got.Description != "Charged twice for one transfer" {
		t.Fatalf("description on the server = %q (%v)", got.Description, err)
	}
}

// TestE2ETrustSlowBody: a client that sends headers and then the body a
// byte at a time, or not at all, is cut off after --read-timeout.
func TestE2ETrustSlowBody(t *testing.T) {
	s := MustE2EServer(t, "", "", "--read-timeout", "1s")
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/enrol HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", s.addr)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(e2eWait))
	_, err = io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("the connection was not closed by the server: %v", err)
	}
	if waited := time.Since(start); waited > 15*time.Second {
		t.Fatalf("cut after %v, want about the 1 s timeout", waited)
	}
}

// TestE2ETrustForwardedHeader: X-Forwarded-For names the client only when
// the connection comes from a trusted proxy; anyone else's header is
// ignored, so a client cannot dodge the rate limit by inventing addresses.
func TestE2ETrustForwardedHeader(t *testing.T) {
	get := func(s *e2eServer, forwarded string) int {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/t", nil)
		req.Header.Set("X-Forwarded-For", forwarded)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	limited := []string{"--tracking-rate", "1", "--tracking-burst", "1"}
	// MustE2EServer sets a generous rate; later flags win.
	untrusted := MustE2EServer(t, "", "", limited...)
	if st := get(untrusted, "203.0.113.1"); st != http.StatusOK {
		t.Fatalf("first request: %d", st)
	}
	if st := get(untrusted, "203.0.113.2"); st != http.StatusTooManyRequests {
		t.Fatalf("a second 'client' invented in the header: %d, want 429 (the header is not believed)", st)
	}
	proxied := MustE2EServer(t, "", "", append(limited, "--trusted-proxy", "127.0.0.1")...)
	for _, client := range []string{"203.0.113.1", "203.0.113.2"} {
		if st := get(proxied, client); st != http.StatusOK {
			t.Fatalf("client %s behind the trusted proxy: %d", client, st)
		}
	}
	if st := get(proxied, "203.0.113.1"); st != http.StatusTooManyRequests {
		t.Fatalf("the same client again behind the proxy: %d, want 429", st)
	}
}

// TestE2ETeamTerminal: a case the dispatch rules send to a team reaches the
// team's terminal whole (its history with it), wherever it was filed; the
// team's staff act on it from there; branch staff may not, and a case of
// the branch queue is out of the team terminal's reach.
func TestE2ETeamTerminal(t *testing.T) {
	s := MustE2EServer(t, e2eDispatch, "")
	addStaff(t, s, "nina")
	addStaff(t, s, "fiona", "--teams", "safety")
	desk := mustRawDevice(t, s, "staff")
	desk.connect(nil)
	fraud := desk.filing("I think this is fraud on my account")
	plain := desk.filing("the queue was long")
	desk.push(fraud, plain)
	waitUntil(t, "dispatch routes the fraud case to team:safety", func() (bool, string) {
		for _, e := range s.events(t, fraud.ComplaintID) {
			if e.Type == event.Assigned && strings.Contains(string(e.Data), "team:safety") {
				return true, ""
			}
		}
		return false, "not yet"
	})

	team := mustRawDevice(t, s, "team", "--teams", "safety")
	team.connect(map[string]int64{wire.TeamScope("safety"): 0, wire.BranchScope("main"): 0})
	if fmt.Sprint(team.hello.Scopes) != "[team:safety]" {
		t.Fatalf("team terminal granted %v, want only team:safety", team.hello.Scopes)
	}
	note := team.act(fraud.ComplaintID, "main", event.NoteAdded, "fiona", event.Text{Text: "called the card issuer"}, 0)
	rejects, streamed := team.push(note)
	if len(rejects) != 0 {
		t.Fatalf("the team's note refused: %+v", rejects)
	}
	seen := map[string]bool{}
	for _, m := range streamed {
		for _, e := range m.Events {
			if e.Event.ComplaintID != fraud.ComplaintID {
				t.Fatalf("the team terminal received an event of complaint %s", e.Event.ComplaintID)
			}
			seen[e.Event.ID] = true
		}
	}
	if !seen[fraud.ID] {
		t.Fatalf("the team terminal did not receive the case's filing (its history); got %d events", len(seen))
	}
	rejects, _ = team.push(team.act(fraud.ComplaintID, "main", event.NoteAdded, "nina", event.Text{Text: "x"}, 0))
	wantReject(t, rejects, wire.CloseForbiddenEvent, "not in the case's team")
	rejects, _ = team.push(team.act(plain.ComplaintID, "main", event.NoteAdded, "fiona", event.Text{Text: "x"}, 0))
	wantReject(t, rejects, wire.CloseForbiddenEvent, "not in the queue of a team this terminal serves")
}
