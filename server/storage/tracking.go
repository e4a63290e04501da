package storage

import "context"

// Tracking is the read the customer tracking page makes on every request.
// The page keeps each complaint's folded events in memory and checks them
// against the log with this one indexed lookup, instead of reading and
// folding every event again.
type Tracking interface {
	// ComplaintHead is ComplaintByCode (same errors) with the version of
	// the complaint's event log as of the same read.
	ComplaintHead(ctx context.Context, code string) (Complaint, EventsVersion, error)
}

// EventsVersion identifies the stored events of one complaint. Events are
// only ever added, and global sequences are given in commit order, so a
// new event always raises LastSeq; Count also catches events removed (an
// archive). Two reads with equal versions saw the same events.
type EventsVersion struct {
	LastSeq int64 // highest global sequence among the events; 0 for none
	Count   int64
}

// VersionOf is the version of events, as ComplaintEvents returns them.
func VersionOf(events []StoredEvent) EventsVersion {
	v := EventsVersion{Count: int64(len(events))}
	for i := range events {
		v.LastSeq = max(v.LastSeq, events[i].Seq)
	}
	return v
}
