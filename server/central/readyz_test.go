package central

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// pingStore is a store whose database answers or not at will: the one
// part of a store /readyz asks, where a real database cannot be made to
// stop answering on cue.
type pingStore struct {
	Store
	err error
}

func (p pingStore) Ping(context.Context) error { return p.err }

func TestReadyz(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ready      bool
		leader     bool
		ping       error
		wantStatus int
		wantBody   string
	}{
		{"starting or stopping", false, false, nil, http.StatusServiceUnavailable, "starting or stopping"},
		{"database gone", true, true, errors.New("connection refused"), http.StatusServiceUnavailable, "database unavailable"},
		{"ready, standby", true, false, nil, http.StatusOK, `{"status":"ready","leader":false}`},
		{"ready, leader", true, true, nil, http.StatusOK, `{"status":"ready","leader":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{log: slog.New(slog.DiscardHandler), store: pingStore{err: tc.ping}}
			s.ready.Store(tc.ready)
			s.leader.Store(tc.leader)
			rec := httptest.NewRecorder()
			s.readyz(rec, httptest.NewRequest(http.MethodGet, PathReady, nil))
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("GET /readyz = %d %q, want %d with %q", rec.Code, rec.Body.String(), tc.wantStatus, tc.wantBody)
			}
		})
	}
}
