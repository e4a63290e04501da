package sqlite_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/sync/wire"
)

const benchBatch = 500

// reportEventsPerSecond reports the rate over the timed part of the run.
func reportEventsPerSecond(b *testing.B, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

// reportEventSize reports the average JSON size of the events, so figures
// from different fixtures are not compared by mistake.
func reportEventSize(b *testing.B, batch []wire.DeviceEvent) {
	total := 0
	for _, de := range batch {
		j, _ := json.Marshal(de.Event)
		total += len(j)
	}
	b.ReportMetric(float64(total)/float64(len(batch)), "bytes/event")
}

// BenchmarkPush500 is the sync path, what the hub calls: one device's
// 500-event batch (a complaint filed with every fourth event), one Push
// (idempotency keys, the admission rules, one commit).
func BenchmarkPush500(b *testing.B) {
	s := MustOpen(b)
	d := MustDevice(b, s, "A")
	ctx := context.Background()
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := batchOf(b, d, seqRange(seq+1, seq+benchBatch)...)
		if i == 0 {
			reportEventSize(b, batch)
		}
		b.StartTimer()
		res, err := s.Push(ctx, d.ID, batch)
		if err != nil {
			b.Fatal(err)
		}
		seq += benchBatch
		if res.Stored != benchBatch || res.AckedSeq != seq || len(res.Rejected) != 0 {
			b.Fatalf("push = %+v", res)
		}
	}
	reportEventsPerSecond(b, b.N*benchBatch)
}

// BenchmarkPush20Devices1000 is the burst goal's storage side: 1,000
// devices push 20 events each at once, one Push per device, as the hub's
// connections do. Concurrent pushes share transactions (group commit), so
// this costs a few dozen commits rather than 1,000. One op is the whole
// burst of 20,000 events; making the batches is outside the timer.
func BenchmarkPush20Devices1000(b *testing.B) {
	const devices, perPush = 1000, 20
	s := MustOpen(b)
	ctx := context.Background()
	devs := make([]storage.Device, devices)
	for i := range devs {
		devs[i] = MustDevice(b, s, "A")
	}
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batches := make([][]wire.DeviceEvent, devices)
		for j, d := range devs {
			batches[j] = batchOf(b, d, seqRange(seq+1, seq+perPush)...)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		for j, d := range devs {
			wg.Go(func() {
				res, err := s.Push(ctx, d.ID, batches[j])
				if err != nil || res.Stored != perPush {
					b.Errorf("push = %+v, %v", res, err)
				}
			})
		}
		wg.Wait()
		seq += perPush
	}
	reportEventsPerSecond(b, b.N*devices*perPush)
}

// BenchmarkInsertFloor inserts the same rows straight into the events table
// with one prepared statement, 500 per transaction: no idempotency checks,
// no projection, no ack. It is the storage floor BenchmarkPush500 is
// compared with.
func BenchmarkInsertFloor(b *testing.B) {
	s := MustOpen(b)
	d := MustDevice(b, s, "A")
	db := sqlite.WriterDB(s)
	ctx := context.Background()
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := batchOf(b, d, seqRange(seq+1, seq+benchBatch)...)
		if i == 0 {
			reportEventSize(b, batch)
		}
		now := time.Now().UnixNano()
		b.StartTimer()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, de := range batch {
			e := &de.Event
			if _, err := stmt.ExecContext(ctx, e.ID, d.ID, de.Seq, e.ComplaintID, e.Branch, string(e.Type),
				string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), now); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		seq += benchBatch
	}
	reportEventsPerSecond(b, b.N*benchBatch)
}

// BenchmarkCatchUp10000: one device that was offline catches up 10,000
// events, in pushes of the protocol's largest batch, one after another (a
// device waits for each ack). One op is the 10,000.
func BenchmarkCatchUp10000(b *testing.B) {
	const total, per = 10000, wire.MaxEventsPerBatch
	s := MustOpen(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := MustDevice(b, s, "A")
		var batches [][]wire.DeviceEvent
		for seq := int64(1); seq <= total; seq += per {
			batches = append(batches, batchOf(b, d, seqRange(seq, seq+per-1)...))
		}
		b.StartTimer()
		for _, batch := range batches {
			if res, err := s.Push(ctx, d.ID, batch); err != nil || res.Stored != per {
				b.Fatalf("push = %+v, %v", res, err)
			}
		}
	}
	reportEventsPerSecond(b, b.N*total)
}
