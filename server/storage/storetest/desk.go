package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"ombud/server/storage"
	"ombud/shared/staff"
)

// DeskStore is what RunDesk checks: the console's saved views and
// configuration versions, with the accounts they belong to.
type DeskStore interface {
	storage.Store
	storage.Desk
}

// RunDesk runs storage.Desk's tests on stores from open (each a fresh
// database), as parallel subtests.
func RunDesk(t *testing.T, open func(tb testing.TB) DeskStore) {
	t.Run("SavedViews", func(t *testing.T) { t.Parallel(); testSavedViews(t, open(t)) })
	t.Run("ConfigVersions", func(t *testing.T) { t.Parallel(); testConfigVersions(t, open(t)) })
}

func testSavedViews(t *testing.T, s DeskStore) {
	ctx := context.Background()
	MustBranch(t, s, "main")
	MustCreateStaff(t, s, "ann", "main", staff.Supervisor)
	MustCreateStaff(t, s, "bob", "main", staff.Agent)
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	mine := storage.SavedView{ID: "v1", StaffID: "ann", Name: "Fraud overdue", Query: "queue=team%3Afraud&state=open", CreatedAt: at}
	shared := storage.SavedView{ID: "v2", StaffID: "ann", Name: "Team: all open", Query: "state=open", Team: "fraud", CreatedAt: at}
	bobs := storage.SavedView{ID: "v3", StaffID: "bob", Name: "Fraud overdue", Query: "branch=main", CreatedAt: at}
	for _, v := range []storage.SavedView{mine, shared, bobs} {
		if err := s.SaveView(ctx, v); err != nil {
			t.Fatalf("save %s: %v", v.ID, err)
		}
	}
	// A second view of the same name for the same person is refused; the
	// same name for another person is not (bobs above).
	dup := mine
	dup.ID = "v4"
	if err := s.SaveView(ctx, dup); storage.ErrorCode(err) != storage.Conflict {
		t.Errorf("same name twice: %v, want Conflict", err)
	}
	for _, bad := range []storage.SavedView{{ID: "v5", StaffID: "ann", Name: " "}, {ID: "v6", StaffID: "ann", Name: "x", Query: string(bytes.Repeat([]byte("a"), storage.MaxViewQuery+1))}} {
		if err := s.SaveView(ctx, bad); storage.ErrorCode(err) != storage.Invalid {
			t.Errorf("bad view %s: %v, want Invalid", bad.ID, err)
		}
	}
	if err := s.SaveView(ctx, storage.SavedView{ID: "v7", StaffID: "nobody", Name: "x"}); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("unknown owner: %v, want NotFound", err)
	}
	// Bob sees his own, and Ann's shared view once he is in team fraud.
	got, err := s.Views(ctx, "bob", nil)
	if err != nil || len(got) != 1 || got[0].ID != "v3" {
		t.Fatalf("bob's views: %+v, %v", got, err)
	}
	got, err = s.Views(ctx, "bob", []string{"fraud"})
	if err != nil || len(got) != 2 || got[0].ID != "v3" || got[1].ID != "v2" {
		t.Fatalf("bob's views with team fraud: %+v, %v", got, err)
	}
	v, err := s.View(ctx, "v1")
	if err != nil || v != mine {
		t.Errorf("view v1: %+v, %v; want %+v", v, err, mine)
	}
	if _, err := s.View(ctx, "nope"); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("unknown view: %v", err)
	}
	// Only the owner deletes.
	if err := s.DeleteView(ctx, "v1", "bob"); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("bob deletes ann's view: %v, want NotFound", err)
	}
	if _, err := s.View(ctx, "v1"); err != nil {
		t.Errorf("ann's view after bob's delete: %v", err)
	}
	if err := s.DeleteView(ctx, "v1", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.View(ctx, "v1"); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("deleted view: %v", err)
	}
}

func testConfigVersions(t *testing.T, s DeskStore) {
	ctx := context.Background()
	if vs, err := s.ConfigVersions(ctx, storage.ConfigSLA, 10); err != nil || len(vs) != 0 {
		t.Fatalf("empty: %v, %v", vs, err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var added []storage.ConfigVersion
	for i, src := range []string{storage.SourceFile, storage.SourceConsole, storage.SourceRollback} {
		v, err := s.AddConfigVersion(ctx, storage.ConfigVersion{Kind: storage.ConfigSLA, Body: []byte{'{', byte('0' + i), '}'}, Digest: "d" + src,
			Source: src, StaffID: "ann", Note: "n", At: at.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != int64(i+1) {
			t.Errorf("version %d numbered %d", i+1, v.Version)
		}
		added = append(added, v)
	}
	// Kinds are numbered apart.
	if v, err := s.AddConfigVersion(ctx, storage.ConfigVersion{Kind: storage.ConfigDispatch, Body: []byte("{}"), At: at}); err != nil || v.Version != 1 {
		t.Errorf("first dispatch version: %d, %v", v.Version, err)
	}
	vs, err := s.ConfigVersions(ctx, storage.ConfigSLA, 2)
	if err != nil || len(vs) != 2 || vs[0].Version != 3 || vs[1].Version != 2 {
		t.Fatalf("newest two: %+v, %v", vs, err)
	}
	got, err := s.ConfigVersion(ctx, storage.ConfigSLA, 2)
	if err != nil || !bytes.Equal(got.Body, added[1].Body) || got.Source != storage.SourceConsole || !got.At.Equal(added[1].At) || got.StaffID != "ann" || got.Digest != "dconsole" {
		t.Errorf("version 2: %+v, %v; want %+v", got, err, added[1])
	}
	if _, err := s.ConfigVersion(ctx, storage.ConfigSLA, 9); storage.ErrorCode(err) != storage.NotFound {
		t.Errorf("missing version: %v", err)
	}
}
