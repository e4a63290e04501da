package storage_test

import (
	"encoding/json"
	"slices"
	"testing"

	"ombud/server/storage"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

func assign(id, queue string, at hlc.Timestamp) *event.Event {
	data, _ := json.Marshal(event.Assignment{Queue: queue})
	return &event.Event{ID: id, Type: event.Assigned, At: at, Data: data}
}

// TestRoute: a case joins a team with its history, its events follow it
// there, the assignment that moves it away is the team's last, and an
// assignment older than the current one (a late arrival) moves nothing.
func TestRoute(t *testing.T) {
	var m storage.QueueMark
	step := func(e *event.Event, wantScopes []string, wantJoined, wantQueue string) {
		t.Helper()
		after, scopes, joined := storage.Route(m, e)
		if !slices.Equal(scopes, wantScopes) || joined != wantJoined || after.Queue != wantQueue {
			t.Fatalf("Route(%+v, %s %s) = %+v, %v, %q; want queue %q, %v, %q", m, e.Type, e.ID, after, scopes, joined, wantQueue, wantScopes, wantJoined)
		}
		m = after
	}
	note := func(id string, at hlc.Timestamp) *event.Event {
		return &event.Event{ID: id, Type: event.NoteAdded, At: at}
	}
	step(note("n0", 1), nil, "", "")
	step(assign("a1", "branch:north", 2), nil, "", "branch:north")
	step(assign("a2", "team:fraud", 3), []string{"team:fraud"}, "team:fraud", "team:fraud")
	step(note("n1", 4), []string{"team:fraud"}, "", "team:fraud")
	step(assign("a0", "team:billing", 2), []string{"team:fraud"}, "", "team:fraud") // late: older than a2
	step(assign("a3", "team:billing", 5), []string{"team:fraud", "team:billing"}, "team:billing", "team:billing")
	step(assign("a4", "team:billing", 6), []string{"team:billing"}, "", "team:billing") // stays: nothing to copy
	step(assign("a5", "branch:north", 7), []string{"team:billing"}, "", "branch:north")
	step(note("n2", 8), nil, "", "branch:north")
	step(&event.Event{ID: "bad", Type: event.Assigned, At: 9, Data: []byte(`{"queue":""}`)}, nil, "", "branch:north")
}
