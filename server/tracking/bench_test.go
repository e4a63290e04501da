package tracking_test

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"ombud/server/tracking"
	"ombud/shared/event"
)

// BenchmarkTrackingPage renders a case page with a realistic timeline
// through a real loopback HTTP client, requests in parallel; compare it
// with BenchmarkTrivialHandler, the same stack doing no work, to see what
// the page itself costs. Reports req/s and p99 latency.
//
//	go test -run '^$' -bench . -benchtime 3s ./server/tracking/
func BenchmarkTrackingPage(b *testing.B) {
	e := newEnv(b, unlimited)
	c := e.file(b)
	e.staff(b, c, event.Acknowledged, nil)
	for range 5 {
		e.staff(b, c, event.MessageSent, event.Text{Text: "We are looking into the card payment from last week."})
		e.staff(b, c, event.NoteAdded, event.Text{Text: "internal"})
	}
	benchGet(b, e.srv.URL+"/t/"+c.Code)
}

func BenchmarkTrivialHandler(b *testing.B) {
	e := newEnv(b, unlimited)
	benchGet(b, e.srv.URL+"/trivial")
}

// unlimited sets a rate limit the benchmark client cannot reach, for both
// benchmarks: a 429 fails the benchmark rather than flattering it.
func unlimited(o *tracking.Options) { o.RatePerMinute, o.Burst = 1e9, 1e9 }

func benchGet(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		all []time.Duration
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
