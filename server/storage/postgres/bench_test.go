package postgres_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/server/storage"
	"ombud/server/storage/postgres/pgtest"
	"ombud/server/storage/storetest"
	"ombud/sync/wire"
)

// The PostgreSQL side of the storage benchmarks in ../sqlite/bench_test.go,
// on the same fixture (storetest.BatchOf: a complaint filed with every
// fourth event, about 500 bytes an event), each on a fresh schema of the
// test server ($OMBUD_TEST_PG). BENCHMARKS.md has the figures and the
// commands.

func reportEventsPerSecond(b *testing.B, events int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(events)/s, "events/s")
	}
}

func reportEventSize(b *testing.B, batch []wire.DeviceEvent) {
	total := 0
	for _, de := range batch {
		j, _ := json.Marshal(de.Event)
		total += len(j)
	}
	b.ReportMetric(float64(total)/float64(len(batch)), "bytes/event")
}

func seqRange(from, to int64) []int64 {
	out := make([]int64, 0, to-from+1)
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// BenchmarkPush500: one device's 500-event batch, one Push.
func BenchmarkPush500(b *testing.B) {
	s := harness.MustOpen(b)
	d := storetest.MustDevice(b, s, "A")
	ctx := context.Background()
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := storetest.BatchOf(b, d, seqRange(seq+1, seq+500)...)
		if i == 0 {
			reportEventSize(b, batch)
		}
		b.StartTimer()
		res, err := s.Push(ctx, d.ID, batch)
		seq += 500
		if err != nil || res.Stored != 500 || res.AckedSeq != seq {
			b.Fatalf("push = %+v, %v", res, err)
		}
	}
	reportEventsPerSecond(b, b.N*500)
}

// BenchmarkPush20Devices1000: 1,000 devices push 20 events each at once,
// one Push per device, as the hub's connections do (group commit shares
// transactions among them). One op is the burst of 20,000 events.
func BenchmarkPush20Devices1000(b *testing.B) {
	const devices, perPush = 1000, 20
	s := harness.MustOpen(b)
	ctx := context.Background()
	devs := make([]storage.Device, devices)
	for i := range devs {
		devs[i] = storetest.MustDevice(b, s, "A")
	}
	b.ResetTimer()
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batches := make([][]wire.DeviceEvent, devices)
		for j, d := range devs {
			batches[j] = storetest.BatchOf(b, d, seqRange(seq+1, seq+perPush)...)
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

// BenchmarkCatchUp10000: one device that was offline catches up 10,000
// events, in pushes of the protocol's largest batch, one after another (a
// device waits for each ack). One op is the 10,000.
func BenchmarkCatchUp10000(b *testing.B) {
	const total, per = 10000, wire.MaxEventsPerBatch
	s := harness.MustOpen(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		d := storetest.MustDevice(b, s, "A")
		var batches [][]wire.DeviceEvent
		for seq := int64(1); seq <= total; seq += per {
			batches = append(batches, storetest.BatchOf(b, d, seqRange(seq, seq+per-1)...))
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

// BenchmarkCopyFloor COPYs the same rows straight into the events table,
// 500 per transaction: no lock, no idempotency checks, no projection, no
// ack. The floor the pushes are compared with.
func BenchmarkCopyFloor(b *testing.B) {
	s := open(b, pgtest.DSN(b), admitZero)
	d := storetest.MustDevice(b, s, "A")
	ctx := context.Background()
	cols := []string{"id", "device_id", "device_seq", "complaint_id", "branch", "type", "actor_kind", "actor_id", "at", "data", "stored_at"}
	var seq int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := storetest.BatchOf(b, d, seqRange(seq+1, seq+500)...)
		if i == 0 {
			reportEventSize(b, batch)
		}
		now := time.Now().UnixNano()
		rows := make([][]any, len(batch))
		for k, de := range batch {
			e := &de.Event
			rows[k] = []any{e.ID, d.ID, de.Seq, e.ComplaintID, e.Branch, string(e.Type), string(e.Actor.Kind), e.Actor.ID, int64(e.At), []byte(e.Data), now}
		}
		b.StartTimer()
		err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, cols, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		seq += 500
	}
	reportEventsPerSecond(b, b.N*500)
}
