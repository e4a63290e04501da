package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// result is one run's figures; it is also the one-line JSON summary.
type result struct {
	Scenario string `json:"scenario"`
	Date     string `json:"date"`
	Store    string `json:"store"`
	Server   string `json:"server"`
	Auth     string `json:"auth"`
	Devices  int    `json:"devices"`

	Complaints int     `json:"complaints"`             // filed in the measured phase
	Durable    int64   `json:"durable"`                // acknowledged by the server (push_ack seen by the device)
	Seconds    float64 `json:"seconds"`                // the measured phase
	PerSecond  float64 `json:"durable_per_s"`          // Durable / Seconds
	FilingSecs float64 `json:"filing_s,omitempty"`     // time the devices took to file (burst, catchup backlog)
	ServerSecs float64 `json:"server_s,omitempty"`     // first to last push_ack: the server's own pace
	ServerRate float64 `json:"server_per_s,omitempty"` // Durable / ServerSecs

	P50 float64 `json:"p50_ms,omitempty"` // filing (committed on the device) to the push_ack covering it
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	Max float64 `json:"max_ms,omitempty"`
	// Offered and Lag (steady): complaints/s asked for, and how late the
	// filing schedule ran at worst (a device busy filing falls behind it).
	Offered float64 `json:"offered_per_s,omitempty"`
	Lag     float64 `json:"schedule_lag_max_ms,omitempty"`

	Connections  int     `json:"connections,omitempty"`
	MemPerConn   float64 `json:"server_bytes_per_conn,omitempty"`
	MemHow       string  `json:"server_mem_how,omitempty"`
	StackPerConn float64 `json:"server_stack_bytes_per_conn,omitempty"`
	Goroutines   int     `json:"server_goroutines,omitempty"`

	ServerPushes  int64    `json:"server_pushes,omitempty"` // push messages committed (in-process only)
	ServerRejects int64    `json:"server_rejects,omitempty"`
	ServerDups    int64    `json:"server_duplicates,omitempty"`
	ProcessMemMiB float64  `json:"process_heap_stack_mib,omitempty"` // this process after the run (devices included)
	Errors        []string `json:"errors,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentiles fills P50..Max from latencies (sorted in place).
func (r *result) percentiles(lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(lat))+0.5), len(lat)) - 1
		return ms(lat[max(i, 0)])
	}
	r.P50, r.P90, r.P99, r.Max = at(0.50), at(0.90), at(0.99), ms(lat[len(lat)-1])
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "loadsim %s  %s  server=%s auth=%s  devices=%d store=%s\n", r.Scenario, r.Date, r.Server, r.Auth, r.Devices, r.Store)
	if r.Complaints > 0 {
		fmt.Fprintf(w, "  complaints filed      %d (durable at server: %d)\n", r.Complaints, r.Durable)
		fmt.Fprintf(w, "  measured phase        %.3f s  ->  %.0f complaints/s durably stored at the server\n", r.Seconds, r.PerSecond)
	}
	if r.FilingSecs > 0 {
		fmt.Fprintf(w, "  devices filing        %.3f s (%.0f filings/s, each one fsynced on its device)\n", r.FilingSecs, float64(r.Complaints)/r.FilingSecs)
	}
	if r.ServerSecs > 0 {
		fmt.Fprintf(w, "  first to last ack     %.3f s  ->  %.0f complaints/s\n", r.ServerSecs, r.ServerRate)
	}
	if r.Offered > 0 {
		fmt.Fprintf(w, "  offered               %.0f complaints/s (schedule lag max %.1f ms)\n", r.Offered, r.Lag)
	}
	if r.P50 > 0 || r.Max > 0 {
		fmt.Fprintf(w, "  filing->push_ack      p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", r.P50, r.P90, r.P99, r.Max)
	}
	if r.Connections > 0 {
		fmt.Fprintf(w, "  idle connections      %d: %.0f bytes/conn at the server (%s), %.0f of it stack; %d goroutines\n",
			r.Connections, r.MemPerConn, r.MemHow, r.StackPerConn, r.Goroutines)
	}
	if r.ServerPushes > 0 {
		fmt.Fprintf(w, "  server                %d pushes committed (%.1f events/push), %d rejects, %d duplicates\n",
			r.ServerPushes, float64(r.Durable)/float64(r.ServerPushes), r.ServerRejects, r.ServerDups)
	}
	if r.ProcessMemMiB > 0 {
		fmt.Fprintf(w, "  this process          %.0f MiB heap+stack in use (server and devices)\n", r.ProcessMemMiB)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}
