package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
)

// Environment of the helper process: set only when TestCrashKeepsEveryAck
// starts this test binary again as the process it kills.
const (
	envHelperDB     = "OMBUD_STORAGE_HELPER_DB"
	envHelperDevice = "OMBUD_STORAGE_HELPER_DEVICE"
	crashBatch      = 50
	crashMaxBatches = 4000 // the helper stops on its own if nobody kills it
)

// TestHelperProcess is not a test: it is the store under test in
// TestCrashKeepsEveryAck, run in its own process so it can be SIGKILLed. It
// pushes numbered batches and prints each ack only after Push returns,
// which is the moment the sync hub would send it to the device.
func TestHelperProcess(t *testing.T) {
	path, device := os.Getenv(envHelperDB), os.Getenv(envHelperDevice)
	if path == "" {
		t.Skip("helper process for TestCrashKeepsEveryAck")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	d, err := s.Device(ctx, device)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	seq := int64(1)
	for range crashMaxBatches {
		batch := batchOf(t, d, seqRange(seq, seq+crashBatch-1)...)
		res, err := s.Push(ctx, d.ID, batch)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		// One write(2) per line, unbuffered: once it returns the parent can read it.
		fmt.Fprintf(os.Stdout, "acked %d\n", res.AckedSeq)
		seq += crashBatch
	}
	os.Exit(0)
}

// TestCrashKeepsEveryAck kills a store with SIGKILL in the middle of a run
// of ingests and checks, after reopening, that every sequence it acked is
// stored, exactly once, and that no batch was half-stored.
//
// SIGKILL loses the process, not the machine: the page cache survives, so
// this proves the transaction and ack logic, not the fsync (synchronous=FULL
// covers that, and is checked at open).
func TestCrashKeepsEveryAck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ombud.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d := MustDevice(t, s, "A")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelperDB+"="+path, envHelperDevice+"="+d.ID)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	// Kill after enough acks that the kill lands during steady ingest, most
	// likely inside a transaction; keep reading until the pipe closes, since
	// every line written before the kill is an ack a device may have acted on.
	const killAfter = 20
	var acked, lines int64
	deadline := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() }) // against a hang; a loaded machine reached 17 acks in 15 s
	defer deadline.Stop()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "acked ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("helper printed %q", sc.Text())
		}
		if n < acked {
			t.Fatalf("ack went back from %d to %d", acked, n)
		}
		acked = n
		lines++
		if lines == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("helper ended before it was killed (after %d acks): %v", lines, err)
	}
	if acked < killAfter*crashBatch {
		t.Fatalf("acked %d before the kill, want at least %d", acked, killAfter*crashBatch)
	}

	s = MustOpenPath(t, path)
	dev, err := s.Device(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.AckedSeq < acked {
		t.Fatalf("device acked %d after restart, but %d was acked before the crash", dev.AckedSeq, acked)
	}
	count := map[int64]int{}
	var highest int64
	rows, err := sqlite.WriterDB(s).QueryContext(ctx, `SELECT device_seq FROM events WHERE device_id = ?`, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			t.Fatal(err)
		}
		count[seq]++
		highest = max(highest, seq)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if n := int64(len(allEventsFast(t, s))); n != highest {
		t.Fatalf("the log holds %d events, want %d", n, highest)
	}
	for seq := int64(1); seq <= highest; seq++ {
		if count[seq] != 1 {
			t.Fatalf("seq %d stored %d times (highest stored %d, acked %d)", seq, count[seq], highest, acked)
		}
	}
	if int64(len(count)) != highest || highest != dev.AckedSeq || highest%crashBatch != 0 {
		t.Fatalf("stored seqs 1..%d (%d distinct), device acked %d: want whole batches, all acked", highest, len(count), dev.AckedSeq)
	}
	// batchOf files a complaint with every fourth event of a batch.
	wantComplaints := highest / crashBatch * ((crashBatch + 3) / 4)
	if st := mustStats(t, s); st.Events != highest || st.Complaints != wantComplaints {
		t.Fatalf("stats %+v, want %d events and %d complaints", st, highest, wantComplaints)
	}
	// The device resumes from the ack: the next batch is stored and acked.
	next := batchOf(t, dev, seqRange(dev.AckedSeq+1, dev.AckedSeq+crashBatch)...)
	if res := mustPush(t, s, dev, next); res.AckedSeq != dev.AckedSeq+crashBatch || res.Stored != crashBatch {
		t.Fatalf("resume after crash = %+v", res)
	}
	t.Logf("killed after %d acks (acked %d); stored %d", lines, acked, highest)
}

// allEventsFast pages with the largest page, for big logs.
func allEventsFast(tb testing.TB, s storage.Store) []storage.StoredEvent {
	tb.Helper()
	var out []storage.StoredEvent
	var after int64
	for {
		page, err := s.AllEventsAfter(context.Background(), after, storage.MaxPage)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}
