package metrics

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// counterValue reads one counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

// TestInstrumentKeepsStreamingAndCounts: a handler behind Instrument can
// still flush (the console's event stream asserts http.Flusher), and the
// status codes are counted by route kind, never by path.
func TestInstrumentKeepsStreamingAndCounts(t *testing.T) {
	m := New()
	mux := http.NewServeMux()
	mux.HandleFunc("/console/events", func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			http.Error(w, "streaming unsupported", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("event: change\ndata: x\n\n"))
		fl.Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		fl, ok := w.(http.Flusher)
		if !ok {
			t.Error("a counted route lost http.Flusher")
		}
		w.Write([]byte("ok"))
		fl.Flush()
	})
	mux.HandleFunc("/t/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	srv := httptest.NewServer(m.Instrument(mux))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/console/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || line != "event: change\n" {
		t.Fatalf("event stream through Instrument: %d %q %v", resp.StatusCode, line, err)
	}
	for _, p := range []string{"/console/", "/t/AAAA-BBBB-CCCC", "/t/DDDD-EEEE-FFFF"} {
		r, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	// The count lands just after the answer is written: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		console := counterValue(t, m.requests.WithLabelValues("console", "200"))
		notFound := counterValue(t, m.tracking.WithLabelValues("page", "not_found"))
		if console == 1 && notFound == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("console 200s = %v (want 1), tracking not_found = %v (want 2)", console, notFound)
		}
		<-time.After(5 * time.Millisecond) // poll the condition again; the deadline above bounds the wait
	}
	// The stream is not counted (it lasts as long as the page is open),
	// and no path is a label.
	ch := make(chan prometheus.Metric, 100)
	m.requests.Collect(ch)
	close(ch)
	for c := range ch {
		var d dto.Metric
		c.Write(&d)
		for _, l := range d.Label {
			if v := l.GetValue(); v == "stream" || v == "/console/events" || v == "/t/AAAA-BBBB-CCCC" {
				t.Errorf("requests counted with %s=%q", l.GetName(), v)
			}
		}
	}
}
