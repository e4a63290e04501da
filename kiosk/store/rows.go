package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
)

// How the log's rows read back, for this package and for packages that
// join the log in their own queries (kiosk/store/cases): one place knows
// how an event or a complaint is laid out in its table.

// Scanner is a row to scan: *sql.Row or *sql.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// ComplaintColumns are the complaints table's columns in the order
// ScanComplaint reads them.
const ComplaintColumns = `id, code, branch, device, channel, category, description,
	desired_outcome, contact_name, contact_email, contact_phone, consent_at,
	notice_version, language, filed_at`

// ScanComplaint reads ComplaintColumns; complaint.ErrNotFound when row is
// empty.
func ScanComplaint(row Scanner) (complaint.Complaint, error) {
	var c complaint.Complaint
	var channel string
	var name, email, phone, notice sql.NullString
	var consent sql.NullInt64
	var filed int64
	err := row.Scan(&c.ID, &c.Code, &c.Branch, &c.Device, &channel, &c.Category,
		&c.Description, &c.DesiredOutcome, &name, &email, &phone, &consent, &notice,
		&c.Language, &filed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, complaint.ErrNotFound
	}
	if err != nil {
		return c, err
	}
	c.Channel = complaint.Channel(channel)
	c.FiledAt = time.UnixMilli(filed).UTC()
	if consent.Valid {
		c.Contact = &complaint.Contact{
			Name: name.String, Email: email.String, Phone: phone.String,
			ConsentAt: time.UnixMilli(consent.Int64).UTC(), NoticeVersion: notice.String,
		}
	}
	return c, nil
}

// EventColumns are the events table's columns, aliased e, in the order
// ScanEvent reads them.
const EventColumns = `e.id, e.complaint_id, e.type, e.actor_kind, e.actor_id, e.at, e.branch, e.data`

// ScanEvent reads EventColumns, after any leading destinations.
func ScanEvent(rows Scanner, leading ...any) (event.Event, error) {
	var e event.Event
	var typ, kind string
	var at int64
	var data sql.NullString
	dst := append(leading, &e.ID, &e.ComplaintID, &typ, &kind, &e.Actor.ID, &at, &e.Branch, &data)
	if err := rows.Scan(dst...); err != nil {
		return e, err
	}
	e.Type, e.Actor.Kind, e.At = event.Type(typ), event.ActorKind(kind), hlc.Timestamp(at)
	if data.Valid {
		e.Data = json.RawMessage(data.String)
	}
	return e, nil
}
