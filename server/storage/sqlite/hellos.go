package sqlite

import (
	"context"
	"sync"
	"time"

	"ombud/sync/hub"
)

// helloFlushInterval is how often the hellos devices said are written: the
// fleet view may be this much behind, and a crash loses at most this much
// of it (it is not the log: nothing of sync depends on it).
const helloFlushInterval = 2 * time.Second

// hellos keeps the latest hello of each device until the flusher writes
// them, all in one transaction.
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

// startHellos runs the flusher until Close.
func (s *Store) startHellos() {
	s.hellos.stop, s.hellos.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.hellos.done)
		t := time.NewTicker(helloFlushInterval)
		defer t.Stop()
		for {
			select {
			case <-s.hellos.stop:
				s.flushHellos(context.Background())
				return
			case <-t.C:
				s.flushHellos(context.Background())
			}
		}
	}()
}

// stopHellos writes what is pending and stops the flusher.
func (s *Store) stopHellos() {
	if s.hellos.stop == nil {
		return
	}
	close(s.hellos.stop)
	<-s.hellos.done
	s.hellos.stop = nil
}

// flushHellos writes the pending hellos; a failure puts them back for the
// next try (unless a newer hello of the device came meanwhile).
func (s *Store) flushHellos(ctx context.Context) error {
	p := s.hellos.take()
	if len(p) == 0 {
		return nil
	}
	err := func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		st, err := tx.PrepareContext(ctx, `UPDATE devices SET last_hello_at = ?, last_device_seq = ?, software = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for id, h := range p {
			if _, err := st.ExecContext(ctx, nanos(h.At), h.DeviceSeq, h.Software, id); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
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
