package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/gorilla/websocket"

	"ombud/server/dispatch"
	"ombud/server/enrol"
	"ombud/server/storage/sqlite"
	devicerole "ombud/shared/device"
	"ombud/shared/hlc"
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
		code, _, err := enrol.Issue(ctx, st, enrol.Grant{Branch: e2eBranch, Role: devicerole.Kiosk}, time.Hour, now)
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

// BenchmarkDispatchToStaffScreen is how long a new case takes from the
// server's dispatch to a staff terminal's queue, with a fleet of idle
// devices (1,000, or OMBUD_BENCH_DEVICES) connected to the same server: the
// real server program, the real `kiosk staff` program on a 200x60
// simulation screen, signed in, and a customer kiosk filing one complaint at
// a time. The span of each is from the Assigned event's clock (the server's
// wall clock when it dispatched; the hybrid clock keeps milliseconds, so a
// span reads up to 1 ms long) to the Show that first draws a queue row
// holding both the case's code and its queue (goal: p99 under 200 ms).
func BenchmarkDispatchToStaffScreen(b *testing.B) {
	b.StopTimer()
	devices := 1000
	if v := os.Getenv("OMBUD_BENCH_DEVICES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("OMBUD_BENCH_DEVICES=%q: want a count", v)
		}
		devices = n
	}
	s := startE2EServer(b)
	// Enrolled through a second connection to the running server's
	// database (WAL lets it write beside the server); the server reads
	// devices from the database when they connect.
	connectFleet(b, s.url, enrolFleet(b, s, devices))

	dir := s.enrolDevice("staff terminal", "staff")
	s.addStaff("ana", "Ana Agent", "agent", "482913")
	scr := &benchRowScreen{watchScreen: newWatchScreen(200, 60)}
	signin := scr.await("Staff sign-in")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"staff", "--data", dir, "--directory-interval", "200ms", "--timezone", "UTC"},
			func(string) string { return "" }, io.Discard, io.Discard, scr)
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			b.Errorf("kiosk staff: %v", err)
		}
	})
	within(b, "the staff sign-in screen", signin)
	waitForTB(b, "the staff directory", 20*time.Second, func() bool {
		return logLine(filepath.Join(dir, "staff.log"), "staff directory updated") != ""
	})
	queue := scr.await("Showing")
	for _, r := range "ana" {
		scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	scr.InjectKey(tcell.KeyTab, 0, tcell.ModNone)
	for _, r := range "482913" {
		scr.InjectKey(tcell.KeyRune, r, tcell.ModNone)
	}
	scr.InjectKey(tcell.KeyEnter, 0, tcell.ModNone)
	within(b, "the queue after sign-in", queue)

	db, err := sql.Open("sqlite", sqlite.DSN(filepath.Join(s.data, "server.db"), true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	kiosk := s.startCustomerKiosk()
	branchQueue := dispatch.BranchQueue(e2eBranch)

	took := make([]time.Duration, 0, b.N)
	for i := range b.N {
		f := kiosk.file(b, "billing", fmt.Sprintf("Charged twice for one coffee (%d).", i))
		code := f.Code.String()
		shown := scr.awaitRow(code, branchQueue)
		b.StartTimer()
		var at time.Time
		select {
		case at = <-shown:
		case <-time.After(20 * time.Second):
			b.Fatalf("timed out waiting for a row with %s and %s; screen:\n%s", code, branchQueue, scr.rowsText())
		}
		b.StopTimer()
		if i == 0 {
			scr.rmu.Lock()
			b.Logf("first row: %s", scr.matched)
			scr.rmu.Unlock()
		}
		dispatched := assignedAt(b, db, f.Complaint.ID)
		took = append(took, at.Sub(dispatched))
	}
	if b.N > 0 {
		reportPercentiles(b, took)
	}
	b.ReportMetric(float64(devices), "devices")
}

// assignedAt is the clock of the complaint's first Assigned event in the
// server's database, read through a query-only connection. It is there
// already: the terminal drew the queue from it.
func assignedAt(tb testing.TB, db *sql.DB, complaintID string) time.Time {
	tb.Helper()
	var at int64
	err := db.QueryRow(`SELECT at FROM events WHERE complaint_id = ? AND type = 'assigned' ORDER BY seq LIMIT 1`,
		complaintID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		tb.Fatalf("complaint %s: no Assigned event in the server's database", complaintID)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return hlc.Timestamp(at).Time()
}

// benchRowScreen is a watchScreen that also reports the time of the first
// Show that draws a row holding every wanted text. The time is taken as
// soon as the screen is shown, before looking for the row.
type benchRowScreen struct {
	*watchScreen
	rmu  sync.Mutex
	want []string
	ch   chan time.Time
	row  []rune
	// matched is the row that last answered awaitRow.
	matched string
}

// awaitRow returns a channel that receives the time of the first Show with
// a row containing every text.
func (s *benchRowScreen) awaitRow(texts ...string) <-chan time.Time {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.want = texts
	s.ch = make(chan time.Time, 1)
	return s.ch
}

func (s *benchRowScreen) Show() {
	s.watchScreen.Show()
	now := time.Now()
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.ch == nil {
		return
	}
	cells, w, h := s.GetContents()
	for y := range h {
		s.row = s.row[:0]
		for _, c := range cells[y*w : (y+1)*w] {
			if len(c.Runes) == 0 {
				s.row = append(s.row, ' ')
			}
			s.row = append(s.row, c.Runes...)
		}
		row := string(s.row)
		all := true
		for _, t := range s.want {
			if !strings.Contains(row, t) {
				all = false
				break
			}
		}
		if all {
			s.matched = strings.TrimSpace(row)
			s.ch <- now
			s.ch = nil
			return
		}
	}
}

// rowsText is the screen's text, for a failure message.
func (s *benchRowScreen) rowsText() string {
	cells, w, _ := s.GetContents()
	var sb strings.Builder
	for i, c := range cells {
		if i > 0 && i%w == 0 {
			sb.WriteByte('\n')
		}
		if len(c.Runes) == 0 {
			sb.WriteByte(' ')
		}
		for _, r := range c.Runes {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}
