package storage

import (
	"context"

	"ombud/shared/audit"
)

// Audit is the event log's tamper evidence (package shared/audit). Every
// implementation stores, inside the transaction that stores an event, its
// payload hash and its link (audit.Chain), in global sequence order.
type Audit interface {
	// AuditHead is the last event's sequence and hash (zero for an empty
	// log), for the operator to record elsewhere.
	AuditHead(ctx context.Context) (audit.Head, error)
	// AuditVerify walks the whole log from the first event and reports the
	// first break; head, if not nil, is a head recorded earlier that the
	// log must still contain.
	AuditVerify(ctx context.Context, head *audit.Head) (audit.Report, error)
}
