// Package storetest is the storage conformance suite: what the central
// server's storage must do (package storage's contract, the sync hub's Log,
// the case engine's projection, the staff directory and sessions), checked
// the same way against every backend. The SQLite and PostgreSQL packages
// run it from their tests with a Harness that makes fresh databases.
//
// It is a test support package: it imports "testing" and is linked only
// into tests.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ombud/server/admit"
	"ombud/server/kpi"
	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/trackcode"
	"ombud/shared/uid"
	"ombud/sync/wire"
)

// Store is what the suite checks: everything package storage asks of a
// backend.
type Store interface {
	storage.Store
	storage.Cases
	storage.Tracking
	storage.Audit
	storage.Privacy
	storage.Console
	storage.Improve
	kpi.Store
}

// Stmt is one SQL statement for a Tamper hook, its parameters written $1,
// $2, ... (a backend's hook rewrites them to its driver's form).
type Stmt struct {
	SQL  string
	Args []any
}

// Harness makes databases for the suite.
type Harness struct {
	// New returns the location of a fresh, empty database (a file path, a
	// connection string), removed at tb's cleanup. Tests run in parallel,
	// so each call must give its own.
	New func(tb testing.TB) string
	// Open opens a store on the database at loc with the admission policy
	// (zero: the default), closed at tb's cleanup; Close may also be
	// called by the test first. Opening loc again while a store is open
	// on it is a second server on the same database (a restart, or a
	// replica).
	Open func(tb testing.TB, loc string, policy admit.Policy) Store
	// Tamper runs stmts, in order, on the database at loc while no store
	// is open on it, as an intruder with SQL access would: constraints
	// other than the table's keys (foreign keys) not enforced. The audit
	// tests skip without it.
	Tamper func(tb testing.TB, loc string, stmts []Stmt)
}

var admitDefault = admit.Policy{}

// MustOpen opens a store on a fresh database.
func (h Harness) MustOpen(tb testing.TB) Store {
	tb.Helper()
	return h.Open(tb, h.New(tb), admit.Policy{})
}

// Run runs every test of the suite as a parallel subtest.
func Run(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"PushIsIdempotent", testPushIsIdempotent},
		{"PushRejectsPerEvent", testPushRejectsPerEvent},
		{"PushRefusals", testPushRefusals},
		{"RevokedSince", testRevokedSince},
		{"ConcurrentPushesShareCommits", testConcurrentPushesShareCommits},
		{"CommitFeed", testCommitFeed},
		{"PushRoundTripsEvents", testPushRoundTripsEvents},
		{"EventsAfterKeepsBranchesApart", testEventsAfterKeepsBranchesApart},
		{"EventsAfterPagingWhilePushing", testEventsAfterPagingWhilePushing},
		{"EnrolmentIsOneTimeUnderConcurrency", testEnrolmentIsOneTimeUnderConcurrency},
		{"EnrolmentRefusals", testEnrolmentRefusals},
		{"RevokedDeviceIsReported", testRevokedDeviceIsReported},
		{"PrefixesAreUniqueAcrossEnrolments", testPrefixesAreUniqueAcrossEnrolments},
		{"DataSurvivesReopen", testDataSurvivesReopen},
		{"ComplaintByCodeNotFound", testComplaintByCodeNotFound},
		{"AppendStreamsToTheComplaintsBranch", testAppendStreamsToTheComplaintsBranch},
		{"AppendIsIdempotentByEventID", testAppendIsIdempotentByEventID},
		{"AppendRefusalsStoreNothing", testAppendRefusalsStoreNothing},
		{"AppendLeavesDeviceNumberingAlone", testAppendLeavesDeviceNumberingAlone},
		{"CasesRoundTripAndCursor", testCasesRoundTripAndCursor},
		{"CasesDueAndPaging", testCasesDueAndPaging},
		{"CasesSurviveReopen", testCasesSurviveReopen},
		{"CreateStaff", testCreateStaff},
		{"StaffDirectoryVersion", testStaffDirectoryVersion},
		{"SetStaffPIN", testSetStaffPIN},
		{"RevokeStaff", testRevokeStaff},
		{"ListStaff", testListStaff},
		{"PushChecksStaffActor", testPushChecksStaffActor},
		{"PushAttributesStaffActions", testPushAttributesStaffActions},
		{"SignInFailures", testSignInFailures},
		{"AuditVerifyFindsEachBreak", testAuditVerifyFindsEachBreak},
		{"AuditChainAcrossGroupsAndRollbacks", testAuditChainAcrossGroupsAndRollbacks},
		{"AuditBackfill", testAuditBackfill},
		{"AuditEmptyLog", testAuditEmptyLog},
		{"PrivacyRedactKeepsTheChain", testPrivacyRedactKeepsTheChain},
		{"PrivacyHoldBlocksRedaction", testPrivacyHoldBlocksRedaction},
		{"PrivacyErasureClosesOnce", testPrivacyErasureClosesOnce},
		{"PrivacyLogNewestFirst", testPrivacyLogNewestFirst},
		{"PrivacyClosedCases", testPrivacyClosedCases},
		{"ConsoleSearchCases", testConsoleSearchCases},
		{"ConsoleQueueCases", testConsoleQueueCases},
		{"ConsoleSignInState", testConsoleSignInState},
		{"ImproveActionEvents", testImproveActionEvents},
		{"ImproveCauseCounts", testImproveCauseCounts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, h)
		})
	}
}

func Hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

var counter atomic.Int64

// MustDevice creates the branch and its agent account (staffOf) if needed
// and enrols a device into it.
func MustDevice(tb testing.TB, s storage.Store, branch string) storage.Device {
	tb.Helper()
	ctx := context.Background()
	if err := s.CreateBranch(ctx, branch, "Branch "+branch); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatalf("create branch %s: %v", branch, err)
	}
	a := MustAccount(tb, StaffOf(branch), branch, staff.Agent)
	if err := s.CreateStaff(ctx, a); err != nil && storage.ErrorCode(err) != storage.Conflict {
		tb.Fatalf("create staff %s: %v", a.ID, err)
	}
	n := counter.Add(1)
	code := Hash(fmt.Sprintf("code-%d", n))
	now := time.Now()
	if err := s.CreateEnrolment(ctx, storage.Enrolment{Branch: branch, CodeHash: code, ExpiresAt: now.Add(time.Hour), Role: device.Staff}); err != nil {
		tb.Fatalf("create enrolment: %v", err)
	}
	d, err := s.RedeemEnrolment(ctx, code, now, fmt.Sprintf("dev-%d", n), Hash(fmt.Sprintf("cred-%d", n)))
	if err != nil {
		tb.Fatalf("redeem enrolment: %v", err)
	}
	return d
}

// TextOfSize makes a note roughly n bytes long, so events have a realistic
// size (about 500 bytes with ids and clock) without a fixture file.
func TextOfSize(n int) string {
	const words = "the queue ticket was not honoured and staff said to come back tomorrow "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

// Clock stamps the events these helpers make (one clock, so they sort in
// the order they were made).
var Clock = hlc.New(nil)

// StaffOf is the agent account MustDevice gives branch.
func StaffOf(branch string) string { return "staff-" + strings.ToLower(branch) }

// pinHash is a PIN hash made once at the cheapest cost: accounts in tests
// need a valid one, not a slow one.
var pinHash = sync.OnceValue(func() string {
	h, err := staff.HashPINWith("482913", staff.TestCost)
	if err != nil {
		panic(err)
	}
	return h
})

// MustAccount returns a valid account (not stored) named after id.
func MustAccount(tb testing.TB, id, branch string, role staff.Role) staff.Account {
	tb.Helper()
	a := staff.Account{ID: id, Name: "Staff " + id, Role: role, Branch: branch, PINHash: pinHash()}
	if err := a.Validate(); err != nil {
		tb.Fatal(err)
	}
	return a
}

// NoteEvent makes a NoteAdded event of about 500 bytes on the wire, by
// the branch's agent (staffOf).
func NoteEvent(d storage.Device, complaintID string) event.Event {
	data, _ := json.Marshal(event.Text{Text: TextOfSize(300)})
	return event.Event{
		ID: uid.New(), ComplaintID: complaintID, Type: event.NoteAdded,
		Actor: event.Actor{Kind: event.ActorStaff, ID: StaffOf(d.Branch)}, At: Clock.Now(),
		Branch: d.Branch, Data: data,
	}
}

// FiledEvent makes a Filed event for a new complaint with a real tracking
// code from the device's prefix.
func FiledEvent(tb testing.TB, d storage.Device) event.Event {
	tb.Helper()
	code, err := trackcode.Generate(d.Prefix)
	if err != nil {
		tb.Fatal(err)
	}
	c := complaint.Complaint{
		ID: uid.New(), Code: string(code), Branch: d.Branch, Device: d.ID, Channel: complaint.ChannelKiosk,
		Category: "billing", Description: TextOfSize(200), Language: "en",
		FiledAt: time.Now().UTC().Truncate(time.Millisecond),
	}
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: d.ID}, Clock.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// BatchOf makes one event per seq: a Filed event every fourth (the kiosk
// mix), notes on it otherwise.
func BatchOf(tb testing.TB, d storage.Device, seqs ...int64) []wire.DeviceEvent {
	tb.Helper()
	out := make([]wire.DeviceEvent, 0, len(seqs))
	var complaintID string
	for i, seq := range seqs {
		var e event.Event
		if i%4 == 0 {
			e = FiledEvent(tb, d)
			complaintID = e.ComplaintID
		} else {
			e = NoteEvent(d, complaintID)
		}
		out = append(out, wire.DeviceEvent{Seq: seq, Event: e})
	}
	return out
}

// SeqRange returns from, from+1, ..., to.
func SeqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func MustStats(tb testing.TB, s storage.Store) storage.Stats {
	tb.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		tb.Fatalf("stats: %v", err)
	}
	return st
}

// AllEvents pages through scope ("": every scope, AllEventsAfter) with a
// small page, to exercise the cursor.
func AllEvents(tb testing.TB, s storage.Store, scope string) []storage.StoredEvent {
	tb.Helper()
	var out []storage.StoredEvent
	var after int64
	for {
		var (
			page []storage.StoredEvent
			err  error
		)
		if scope == "" {
			page, err = s.AllEventsAfter(context.Background(), after, 7)
		} else {
			page, err = s.EventsAfter(context.Background(), scope, after, 7)
		}
		if err != nil {
			tb.Fatalf("events after %d: %v", after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func wantCode(tb testing.TB, err error, want storage.Code) {
	tb.Helper()
	if got := storage.ErrorCode(err); got != want {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, want)
	}
}
