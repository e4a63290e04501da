package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestScenarios runs every scenario at a tiny size through run, against the
// in-process server, so the simulator keeps working as the code under it
// changes. Sizes are small enough for a few seconds under -race.
func TestScenarios(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(t *testing.T, r result)
	}{
		{"catchup", []string{"--scenario=catchup", "--complaints=20"}, durable(20)},
		{"catchup light", []string{"--scenario=catchup", "--complaints=20", "--store=light"}, durable(20)},
		{"burst", []string{"--scenario=burst", "--devices=3", "--complaints=20"}, durable(60)},
		{"burst light", []string{"--scenario=burst", "--devices=3", "--complaints=20", "--store=light", "--per-branch=3"}, durable(60)},
		{"steady", []string{"--scenario=steady", "--devices=3", "--rate=30", "--duration=1s"}, durable(30)},
		{"idle", []string{"--scenario=idle", "--devices=3", "--store=light", "--idle-clients=inprocess"}, func(t *testing.T, r result) {
			if r.Connections != 3 {
				t.Errorf("connections = %d, want 3", r.Connections)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			args := append([]string{"--timeout=30s", "--dir=" + t.TempDir()}, tc.args...)
			if err := run(ctx, args, strings.NewReader(""), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			var r result
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
				t.Fatalf("last line is not the JSON summary: %v\n%s", err, stdout.String())
			}
			if len(r.Errors) > 0 {
				t.Errorf("errors: %v", r.Errors)
			}
			tc.want(t, r)
		})
	}
}

func durable(n int64) func(t *testing.T, r result) {
	return func(t *testing.T, r result) {
		t.Helper()
		if r.Durable != n || r.PerSecond <= 0 {
			t.Errorf("durable = %d at %.0f/s, want %d", r.Durable, r.PerSecond, n)
		}
	}
}

// TestSniffer checks the frame parser that times push_acks at the device:
// an HTTP response, then frames split at every byte boundary.
func TestSniffer(t *testing.T) {
	tr := newTracker()
	rec := newRecorder(5)
	tr.phase(rec, true)
	for range 5 {
		tr.filed(time.Now())
	}
	stream := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
	frame := func(op byte, payload []byte) []byte {
		b := []byte{0x80 | op}
		switch n := len(payload); {
		case n < 126:
			b = append(b, byte(n))
		case n < 1<<16:
			b = append(b, 126, byte(n>>8), byte(n))
		}
		return append(b, payload...)
	}
	stream = append(stream, frame(1, []byte(`{"v":1,"type":"server_hello","body":{"version":1,"server_time":1,"device_seq":0}}`))...)
	stream = append(stream, frame(1, bytes.Repeat([]byte("x"), 70000/2))...) // a big frame, skipped
	stream = append(stream, frame(9, nil)...)                                // a ping
	stream = append(stream, frame(1, []byte(`{"v":1,"type":"push_ack","body":{"seq":5}}`))...)
	c := &sniffConn{tr: tr}
	for i := range stream {
		c.feed(stream[i : i+1])
	}
	select {
	case <-tr.hello:
	default:
		t.Error("server_hello not seen")
	}
	if got := rec.durable.Load(); got != 5 {
		t.Errorf("durable = %d, want 5", got)
	}
	if len(rec.lat) != 5 {
		t.Errorf("latencies = %d, want 5", len(rec.lat))
	}
}
