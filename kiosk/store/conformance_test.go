package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"ombud/kiosk/store"
	"ombud/shared/event"
	"ombud/sync/synctest"
)

// openDevice is the kiosk store as sync/synctest's suites open it: a real
// database file in dir, filing as the kiosk does.
func openDevice(t *testing.T, dir string) synctest.Device {
	t.Helper()
	st := MustOpenPath(t, filepath.Join(dir, "kiosk.db"))
	return synctest.Device{
		Store:   st,
		Enqueue: func(ctx context.Context, e event.Event) error { return fileEvent(ctx, st, e) },
		Events:  st.Events,
	}
}

// fileEvent files the complaint a Filed event carries, with the event.
func fileEvent(ctx context.Context, st *store.Store, e event.Event) error {
	c, err := e.Complaint()
	if err != nil {
		return err
	}
	return st.File(ctx, c, e)
}

func TestOutboxConformance(t *testing.T)  { synctest.TestOutbox(t, openDevice) }
func TestReplicaConformance(t *testing.T) { synctest.TestReplica(t, openDevice) }
