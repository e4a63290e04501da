package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"ombud/sync/hub"
)

// helloFlushInterval is how often the hellos devices said are written (see
// the SQLite store's hellos.go: the fleet view, not the log).
const helloFlushInterval = 2 * time.Second

type hellos struct {
	mu      sync.Mutex
	pending map[string]hub.Hello
	stop    chan struct{}
	done    chan struct{}
}

func (hs *hellos) note(deviceID string, h hub.Hello) {
	hs.mu.Lock()
	if hs.pending == nil {
		hs.pending = make(map[string]hub.Hello)
	}
	hs.pending[deviceID] = h
	hs.mu.Unlock()
}

func (hs *hellos) take() map[string]hub.Hello {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	p := hs.pending
	hs.pending = nil
	return p
}

func (s *Store) startHellos() {
	s.hellos.stop, s.hellos.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.hellos.done)
		t := time.NewTicker(helloFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-s.hellos.stop:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				s.flushHellos(ctx)
				cancel()
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				s.flushHellos(ctx)
				cancel()
			}
		}
	}()
}

func (s *Store) stopHellos() {
	if s.hellos.stop == nil {
		return
	}
	close(s.hellos.stop)
	<-s.hellos.done
	s.hellos.stop = nil
}

// flushHellos writes the pending hellos in one pipelined transaction; a
// failure puts them back (unless a newer hello of the device came).
func (s *Store) flushHellos(ctx context.Context) error {
	p := s.hellos.take()
	if len(p) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for id, h := range p {
			b.Queue(`UPDATE devices SET last_hello_at = $1, last_device_seq = $2, software = $3 WHERE id = $4`,
				nanos(h.At), h.DeviceSeq, h.Software, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		s.hellos.mu.Lock()
		for id, h := range p {
			if _, newer := s.hellos.pending[id]; !newer {
				if s.hellos.pending == nil {
					s.hellos.pending = make(map[string]hub.Hello)
				}
				s.hellos.pending[id] = h
			}
		}
		s.hellos.mu.Unlock()
	}
	return err
}
