// Package admit owns the rules that decide what the server does with each
// event a device pushes (docs/SYNC.md section 6): store it, skip it as a
// duplicate, or reject it with a code and a reason the device shows staff.
//
// The rules are pure: they read a View (what the log already holds about
// the batch, looked up by the storage in the push's transaction) and return
// one Decision per event. They never touch a database, so they are tested
// as tables and fuzzed, and every storage backend shares them instead of
// copying them: a storage opens the transaction, looks up Keys, builds the
// View, calls Decide and writes what the decisions say.
package admit

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"ombud/server/storage"
	"ombud/shared/complaint"
	"ombud/shared/device"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/staff"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
	"ombud/sync/wire"
)

// Batch is one push, checked for everything that needs no stored state.
// Make it with Prepare before taking a storage's write lock: a malformed
// push then costs the other devices nothing.
type Batch struct {
	Events []wire.DeviceEvent
	checks []check
}

// check is what can be decided about an event without the log.
type check struct {
	filed  *complaint.Complaint // the complaint a valid Filed event carries
	reason string               // non-empty: reject with CloseInvalidEvent
}

// Prepare applies the stateless rules to every event of a push.
func Prepare(events []wire.DeviceEvent) *Batch {
	b := &Batch{Events: events, checks: make([]check, len(events))}
	for i := range events {
		b.checks[i] = checkEvent(&events[i].Event)
	}
	return b
}

// Filed returns the complaint event i files, or nil when it files none
// (or the complaint is not valid).
func (b *Batch) Filed(i int) *complaint.Complaint { return b.checks[i].filed }

// Keys are what a storage looks up to build a View for a batch.
type Keys struct {
	EventIDs     []string // every event id of the batch
	ComplaintIDs []string // every complaint the batch names, once each
	FiledIDs     []string // complaint ids the batch files
	Codes        []string // tracking codes the batch files
	StaffIDs     []string // staff accounts the batch names as actor, once each
	Prefixes     []string // tracking-code prefixes the batch files under, once each
	FirstSeq     int64    // the batch's device sequences, FirstSeq to LastSeq
	LastSeq      int64
}

// Keys lists what the View for b must answer.
func (b *Batch) Keys() Keys {
	k := Keys{EventIDs: make([]string, 0, len(b.Events))}
	if len(b.Events) > 0 {
		k.FirstSeq, k.LastSeq = b.Events[0].Seq, b.Events[len(b.Events)-1].Seq
	}
	seen := make(map[string]bool, len(b.Events))
	seenActor := make(map[string]bool)
	seenPrefix := make(map[string]bool)
	for i := range b.Events {
		e := &b.Events[i].Event
		k.EventIDs = append(k.EventIDs, e.ID)
		if !seen[e.ComplaintID] {
			seen[e.ComplaintID] = true
			k.ComplaintIDs = append(k.ComplaintIDs, e.ComplaintID)
		}
		if e.Actor.Kind == event.ActorStaff && !seenActor[e.Actor.ID] {
			seenActor[e.Actor.ID] = true
			k.StaffIDs = append(k.StaffIDs, e.Actor.ID)
		}
		if c := b.checks[i].filed; c != nil {
			k.FiledIDs = append(k.FiledIDs, c.ID)
			k.Codes = append(k.Codes, c.Code)
			if p := c.Code[:trackcode.PrefixLen]; !seenPrefix[p] {
				seenPrefix[p] = true
				k.Prefixes = append(k.Prefixes, p)
			}
		}
	}
	return k
}

// Policy is what the operator decides about admission.
type Policy struct {
	// MaxOffline bounds how long ago a staff action with no confirmed
	// sign-in may have been recorded (View.MaxOffline).
	MaxOffline time.Duration
	// AcceptWithin is the customer's time to answer a decision (the SLA
	// rules' accept_within): a staff decision that gives less
	// (event.Decision.AnswerBy) is refused, so no terminal can shorten
	// the customer's recourse (ISO 10002 8.9). Zero: not checked.
	AcceptWithin time.Duration
}

// DefaultMaxOffline is three days: a branch that loses its network on a
// Friday evening still gets Monday's work through.
const DefaultMaxOffline = 72 * time.Hour

// Device is the pushing device as its enrolment says.
type Device struct {
	ID         string
	Branch     string // a kiosk's or staff terminal's only scope: every event it pushes must be of this branch
	Role       device.Role
	Teams      []string  // a team terminal's teams
	Prefix     string    // the tracking-code prefix it was given
	EnrolledAt time.Time // codes it filed before this may bear the random prefix it had then
}

// Account is what the rules need of a staff account an event names.
type Account struct {
	Branch string
	Teams  []string
	// Branches widen the account's scope at the web console beyond its
	// home branch ("*": every branch); terminals ignore them.
	Branches  []string
	Role      staff.Role
	RevokedAt time.Time // zero while active
}

// SlotKind says what a (device, seq) slot already holds.
type SlotKind int

const (
	SlotEmpty    SlotKind = iota
	SlotStored            // an event stored from this slot
	SlotAlias             // an event id stored under another slot, recorded against this one (older imports)
	SlotRejected          // a recorded rejection
)

// Slot is what one of the device's sequences already holds.
type Slot struct {
	Kind    SlotKind
	EventID string
	// Code and Reason of a SlotRejected.
	Code   wire.CloseCode
	Reason string
	// Held is the event a SlotStored holds, to tell a resend from an
	// outbox entry that changed since it was first sent; nil when the
	// store did not read it (then a same-id resend is a duplicate).
	Held *event.Event
}

// View is what the log holds about a batch's Keys, as of the push's
// transaction. Absent keys mean "not held".
type View struct {
	Device Device
	// ReceivedAt is the server's time as the push is judged: no event may
	// be dated beyond it (hlc.MaxAhead), and a staff account revoked
	// before it may record nothing more, whatever its events' clocks say.
	ReceivedAt time.Time
	// Slots holds the device's sequences FirstSeq..LastSeq that are taken.
	Slots map[int64]Slot
	// Stored holds the event ids of the batch already stored.
	Stored map[string]bool
	// Branches is the branch of each complaint the batch names that the log
	// knows: its filed branch, else the branch of any event naming it.
	Branches map[string]string
	// Filed holds the complaint ids of FiledIDs already filed; Codes the
	// tracking codes of Codes already used.
	Filed map[string]bool
	Codes map[string]bool
	// Staff holds the accounts of StaffIDs that exist.
	Staff map[string]Account
	// PrefixOwners holds the device each of Prefixes is given to, where
	// one is.
	PrefixOwners map[string]string
	// Sessions holds, for each of StaffIDs, the sign-ins the server
	// confirmed on this device (package staffapi).
	Sessions map[string][]Session
	// Queues holds where each complaint of ComplaintIDs is queued, where
	// it has been assigned (storage.QueueMark): a team terminal acts only
	// on cases in its teams' queues.
	Queues map[string]storage.QueueMark
	// MaxOffline bounds how long ago a staff action with no confirmed
	// session may have been recorded: a terminal signs people in against
	// its own copy of the directory only while the server is out of reach,
	// and not for ever. Zero: no bound.
	MaxOffline time.Duration
	// AcceptWithin is Policy.AcceptWithin.
	AcceptWithin time.Duration
}

// Session is a sign-in the server confirmed: the staff member typed their
// PIN on this device and the server checked it, from Start until End.
type Session struct {
	ID         string
	Start, End time.Time
	// SignedOut: End is the person's sign-out, not the session's expiry.
	// After a sign-out the terminal's clock is trusted only to
	// SignOutSlack, not hlc.MaxAhead: an action recorded a minute after
	// someone signed out was not done in that sign-in.
	SignedOut bool
}

// SignOutSlack is how far past a sign-out an action's clock may fall and
// still count in the session: the terminal's clock follows the server's
// (it observes the server's time on every connection), so seconds cover
// the difference.
const SignOutSlack = 30 * time.Second

// Verdict is what to do with one event.
type Verdict int

const (
	// Store the event with the next global sequence (and, for a Filed
	// event, its complaint: Batch.Filed).
	Store Verdict = iota
	// Duplicate: the slot already holds this event; nothing to write.
	Duplicate
	// Reject: answer with a push_reject (Code, Reason). Record says
	// whether to record the rejection against the slot: not when the slot
	// already holds it, or holds another event.
	Reject
)

// Decision is the verdict on one event of a batch.
type Decision struct {
	Verdict Verdict
	Code    wire.CloseCode // for Reject: CloseForbiddenEvent, CloseConflict or CloseInvalidEvent
	Reason  string         // for Reject: safe to send to the device; names none of its data
	Record  bool
	// Attest, for Store, is how the event is attributed, kept with it for
	// the audit trail: AttestSession+id, AttestOffline or AttestDevice.
	Attest string
}

// How a stored event is attributed.
const (
	// AttestSession prefixes the id of the confirmed sign-in a staff
	// action falls in: the server checked that person's PIN on this device.
	AttestSession = "session:"
	// AttestOffline marks a staff action with no confirmed sign-in: the
	// terminal checked the PIN against its copy of the directory while the
	// server was out of reach. Supervisors see these apart.
	AttestOffline = "offline"
	// AttestDevice marks a filing by the device itself (a kiosk's customer).
	AttestDevice = "device"
)

// Decide judges every event of b in order against v. An event sees the
// ones before it in the batch as if they were stored (as per-event reads
// inside the transaction would). It does not change v.
func (b *Batch) Decide(v *View) []Decision {
	d := decider{
		v:        v,
		stored:   make(map[string]bool),
		filed:    make(map[string]bool),
		codes:    make(map[string]bool),
		branches: make(map[string]string),
		queues:   make(map[string]storage.QueueMark),
	}
	out := make([]Decision, len(b.Events))
	for i := range b.Events {
		out[i] = d.decide(&b.Events[i], b.checks[i])
	}
	return out
}

// decider carries what earlier events of the batch changed.
type decider struct {
	v                    *View
	stored, filed, codes map[string]bool
	branches             map[string]string            // complaint id -> branch, as judged in this batch
	queues               map[string]storage.QueueMark // complaint id -> queue, after this batch's assignments
}

func reject(code wire.CloseCode, reason string, record bool) Decision {
	return Decision{Verdict: Reject, Code: code, Reason: reason, Record: record}
}

func (d *decider) decide(de *wire.DeviceEvent, ch check) Decision {
	e := &de.Event
	if s, ok := d.v.Slots[de.Seq]; ok && s.Kind != SlotEmpty {
		switch {
		case s.EventID != e.ID:
			// Not recorded: the slot is taken, and a resend meets the
			// same slot again.
			return reject(wire.CloseConflict, "device seq already holds another event", false)
		case s.Kind == SlotRejected:
			return reject(s.Code, s.Reason, false)
		case s.Held != nil && !SameEvent(s.Held, e):
			// The device's outbox no longer holds what it sent under this
			// seq: damaged storage or a bug. Acknowledging it as a
			// duplicate would hide that for ever; the device quarantines
			// it where staff see it. Not recorded: the slot keeps the
			// event it stored.
			return reject(wire.CloseAltered, "device seq already holds this event id with other content", false)
		default:
			return Decision{Verdict: Duplicate}
		}
	}
	if d.v.Stored[e.ID] || d.stored[e.ID] {
		return reject(wire.CloseConflict, "event id already stored under another device seq", true)
	}
	if e.Type == event.Redacted {
		// Only the server redacts (retention, approved erasure): a device
		// that could would erase a case's record at will.
		return reject(wire.CloseForbiddenEvent, "only the server records a redaction", true)
	}
	if reason := d.roleForbidden(e); reason != "" {
		return reject(wire.CloseForbiddenEvent, reason, true)
	}
	if reason := d.forbidden(e, ch.filed); reason != "" {
		return reject(wire.CloseForbiddenEvent, reason, true)
	}
	if reason := d.staffForbidden(e); reason != "" {
		return reject(wire.CloseForbiddenEvent, reason, true)
	}
	if reason := d.invalid(e, ch); reason != "" {
		return reject(wire.CloseInvalidEvent, reason, true)
	}
	attest, reason := d.attest(e)
	if reason != "" {
		return reject(wire.CloseForbiddenEvent, reason, true)
	}
	d.stored[e.ID] = true
	if c := ch.filed; c != nil {
		d.filed[c.ID], d.codes[c.Code] = true, true
	}
	d.branches[e.ComplaintID] = e.Branch
	d.queues[e.ComplaintID], _, _ = storage.Route(d.queue(e.ComplaintID), e)
	return Decision{Verdict: Store, Attest: attest}
}

// queue is where complaint id is queued as far as the log and this batch
// say.
func (d *decider) queue(id string) storage.QueueMark {
	if m, ok := d.queues[id]; ok {
		return m
	}
	return d.v.Queues[id]
}

// attest says how an event that passed every other rule is attributed: a
// staff action to the confirmed session its clock falls in (give or take
// hlc.MaxAhead, the clocks' disagreement), else to an offline sign-in,
// which is refused once older than MaxOffline; a filing by the device to
// the device.
func (d *decider) attest(e *event.Event) (attest, reason string) {
	if e.Actor.Kind != event.ActorStaff {
		return AttestDevice, ""
	}
	at := e.At.Time()
	// A session the clock falls in, else one it falls near.
	for _, slack := range []time.Duration{0, hlc.MaxAhead} {
		for _, s := range d.v.Sessions[e.Actor.ID] {
			after := slack
			if s.SignedOut {
				after = min(slack, SignOutSlack)
			}
			if !at.Before(s.Start.Add(-slack)) && !at.After(s.End.Add(after)) {
				return AttestSession + s.ID, ""
			}
		}
	}
	if d.v.Device.Role == device.Console {
		// The console has no offline: its actions are made by the server
		// while the person is signed in.
		return "", "no console sign-in covers this action: sign in again"
	}
	if d.v.MaxOffline > 0 && at.Before(d.v.ReceivedAt.Add(-d.v.MaxOffline)) {
		return "", "recorded while signed in offline longer ago than the server allows: sign in while online"
	}
	return AttestOffline, ""
}

// roleForbidden returns a reason when the device's role may not record the
// event at all: a customer kiosk only files complaints, as itself; a team
// terminal files nothing.
func (d *decider) roleForbidden(e *event.Event) string {
	switch d.v.Device.Role {
	case device.Kiosk:
		if e.Type != event.Filed || e.Actor.Kind != event.ActorDevice {
			return "a customer kiosk may only file complaints"
		}
	case device.Staff:
	case device.Team:
		if e.Type == event.Filed {
			return "a team terminal does not file complaints"
		}
	case device.Console:
		if e.Type == event.Filed {
			return "the web console does not file complaints"
		}
	default:
		return "the device has no role"
	}
	return ""
}

// forbidden returns a reason when the event reaches outside the device's
// branch, by its own Branch field, by the complaint it carries, or by the
// complaint it names being held under another branch.
func (d *decider) forbidden(e *event.Event, filed *complaint.Complaint) string {
	if d.v.Device.Role == device.Team {
		return d.teamForbidden(e)
	}
	branch := d.v.Device.Branch
	if d.v.Device.Role == device.Console {
		// The console acts on cases the server holds, each through its
		// branch's console device.
		if _, ok := d.branches[e.ComplaintID]; !ok {
			if _, ok := d.v.Branches[e.ComplaintID]; !ok {
				return "the web console acts only on cases the server holds"
			}
		}
	}
	if e.Branch != branch {
		return "event is for another branch than the device's"
	}
	if filed != nil && filed.Branch != branch {
		return "filed complaint is for another branch than the device's"
	}
	b, ok := d.branches[e.ComplaintID]
	if !ok {
		if b, ok = d.v.Branches[e.ComplaintID]; !ok {
			// Unknown complaint: a note may arrive before its Filed event
			// from another device of the branch; the fold copes with that.
			b = branch
		}
		d.branches[e.ComplaintID] = b
	}
	if b != branch {
		return "complaint belongs to another branch"
	}
	return ""
}

// teamForbidden is forbidden for a team terminal, which serves cases of any
// branch while they are in its teams' queues: the complaint must be one the
// server holds, queued to one of the terminal's teams (before this event:
// the assignment that sends a case elsewhere is the team's last), and the
// event must name the complaint's own branch.
func (d *decider) teamForbidden(e *event.Event) string {
	b, ok := d.branches[e.ComplaintID]
	if !ok {
		if b, ok = d.v.Branches[e.ComplaintID]; !ok {
			return "a team terminal acts only on cases the server holds"
		}
	}
	if e.Branch != b {
		return "event is for another branch than the complaint's"
	}
	if t := d.caseTeam(e.ComplaintID); t == "" {
		return "case is not in the queue of a team this terminal serves"
	}
	return ""
}

// caseTeam is the team of the device's teams that complaint id is queued
// to, or "".
func (d *decider) caseTeam(id string) string {
	t, ok := strings.CutPrefix(d.queue(id).Queue, "team:")
	if ok && slices.Contains(d.v.Device.Teams, t) {
		return t
	}
	return ""
}

// staffForbidden returns a reason when the event's actor is staff who may
// not have recorded it: no such account, an account of another branch, one
// revoked before the event (beyond the grace for terminals that had not yet
// heard), or a role that may not do this. Accounts are matched by their id
// exactly: the actor id is the audit trail's name for the person.
//
// A device speaks for itself only when it files a complaint (a kiosk's
// customer); every other event a device sends must name the staff member
// who recorded it, or the checks above could be skipped by not claiming to
// be staff. Customer and system events are the server's own (Append).
func (d *decider) staffForbidden(e *event.Event) string {
	if e.Actor.Kind != event.ActorStaff {
		if e.Type == event.Filed && e.Actor.Kind == event.ActorDevice {
			return ""
		}
		return "only a signed-in staff member may record this from a device"
	}
	a, ok := d.v.Staff[e.Actor.ID]
	team := d.v.Device.Role == device.Team
	console := d.v.Device.Role == device.Console
	switch {
	case !ok:
		return "unknown staff account"
	case console && !ConsoleCovers(a, d.v.Device.Branch, d.queue(e.ComplaintID).Queue):
		return "case outside the staff account's scope"
	case team && !slices.Contains(a.Teams, d.caseTeam(e.ComplaintID)):
		return "staff account not in the case's team"
	case !team && !console && a.Branch != d.v.Device.Branch:
		return "staff account of another branch"
	case !a.RevokedAt.IsZero() && !d.v.ReceivedAt.Before(a.RevokedAt):
		// Judged by when the server receives the event, never by the
		// event's own clock, which the device sets: a revoked account's
		// terminal cannot date its actions before the revocation.
		return "staff account revoked"
	case !staff.Can(a.Role, e.Type):
		return staff.Why(a.Role, e.Type)
	}
	return ""
}

// ConsoleCovers reports whether account a may see and work, at the web
// console, a case of branch queued to queue: one of its branches (its home
// branch, those its console scope adds, or every branch for "*"), or a
// case in the queue of one of its teams, from any branch. The console's
// pages and its pushes ask this same question.
func ConsoleCovers(a Account, branch, queue string) bool {
	if branch != "" && (a.Branch == branch || slices.Contains(a.Branches, branch) || slices.Contains(a.Branches, "*")) {
		return true
	}
	t, ok := strings.CutPrefix(queue, "team:")
	return ok && t != "" && slices.Contains(a.Teams, t)
}

// invalid returns a reason when the domain refuses the event: the stateless
// checks, a clock reading ahead of the server's, then a Filed complaint
// that clashes with one already filed or bears another device's prefix.
func (d *decider) invalid(e *event.Event, ch check) string {
	if ch.reason != "" {
		return ch.reason
	}
	if hlc.Ahead(e.At, d.v.ReceivedAt) {
		return "event clock reading is ahead of the server's: set the device's clock"
	}
	if e.Type == event.Responded && d.v.AcceptWithin > 0 {
		var dec event.Decision
		// A decision without AnswerBy gives the lifecycle's default; one
		// with it must give at least the configured time (a minute's
		// slack for clocks).
		if json.Unmarshal(e.Data, &dec) == nil && !dec.AnswerBy.IsZero() &&
			dec.AnswerBy.Before(e.At.Time().Add(d.v.AcceptWithin-time.Minute)) {
			return fmt.Sprintf("decision gives the customer less than the %s the server's rules give to answer it", d.v.AcceptWithin)
		}
	}
	if ch.filed == nil {
		return ""
	}
	switch c := ch.filed; {
	case d.v.Filed[c.ID] || d.filed[c.ID]:
		return "complaint is already filed"
	case d.v.Codes[c.Code] || d.codes[c.Code]:
		return "tracking code already used by another complaint"
	case !d.ownPrefix(c):
		return "tracking code bears another device's prefix"
	}
	return ""
}

// ownPrefix reports whether the device may file under the complaint's
// code prefix: its own, or, for a complaint it filed before it was
// enrolled (a kiosk works offline before enrolment, with a random prefix),
// one that no device has been given.
func (d *decider) ownPrefix(c *complaint.Complaint) bool {
	dev := d.v.Device
	p := c.Code[:trackcode.PrefixLen]
	if p == dev.Prefix {
		return true
	}
	_, taken := d.v.PrefixOwners[p]
	return !taken && c.FiledAt.Before(dev.EnrolledAt)
}

// checkEvent applies the domain's stateless rules. Reasons are fixed texts
// (plus our own field names): they go to the device and its staff screen
// and must not echo the device's data.
func checkEvent(e *event.Event) check {
	switch {
	case e.ID == "" || e.ComplaintID == "" || e.Type == "" || e.Branch == "" || e.Actor.Kind == "":
		return check{reason: "event lacks id, complaint id, type, branch or actor"}
	case uint64(e.At) > 1<<63-1:
		return check{reason: "event clock reading out of range"}
	case e.Type != event.Filed:
		if !cleanJSON(e.Data) {
			return check{reason: "event text holds control or invisible format characters"}
		}
		return check{}
	}
	c, err := e.Complaint()
	switch {
	case err != nil:
		return check{reason: "filed event data is not a complaint"}
	case c.ID != e.ComplaintID:
		return check{reason: "filed complaint id differs from the event's complaint id"}
	}
	if code, err := trackcode.Parse(c.Code); err != nil || string(code) != c.Code {
		return check{reason: "filed complaint tracking code is not canonical"}
	}
	// The device stores what it files normalised (complaint.Normalize:
	// escape sequences, control and format characters gone, contact
	// details only with consent). A filing that is not is refused rather
	// than cleaned here: the server's copy of an event must be the
	// device's, byte for byte, or the devices holding it would disagree.
	if !reflect.DeepEqual(normalize(&c), c) {
		return check{reason: "filed complaint text holds control or invisible format characters"}
	}
	if err := c.Validate(); err != nil {
		var fe *complaint.FieldError
		if errors.As(err, &fe) {
			return check{reason: fmt.Sprintf("filed complaint is not valid: %.32s %.16s", fe.Field, fe.Problem)}
		}
		return check{reason: "filed complaint is not valid"}
	}
	return check{filed: &c}
}

// normalize returns c as complaint.Normalize leaves it, for comparison.
func normalize(c *complaint.Complaint) complaint.Complaint {
	n := *c
	if c.Contact != nil {
		ct := *c.Contact
		n.Contact = &ct
	}
	n.Normalize()
	return n
}

// cleanJSON reports whether every string in the JSON document data is
// clean text (textsafe.IsClean). Empty data is clean; data that does not
// parse is left to the fold, which ignores what it cannot read.
func cleanJSON(data []byte) bool {
	if len(data) == 0 {
		return true
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return true
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return textsafe.IsClean(v)
		case []any:
			for _, x := range v {
				if !walk(x) {
					return false
				}
			}
		case map[string]any:
			for k, x := range v {
				if !textsafe.IsClean(k) || !walk(x) {
					return false
				}
			}
		}
		return true
	}
	return walk(v)
}

// SameEvent reports whether a and b are the same event: the same fields,
// and data that decodes to the same JSON value (a resend may encode it with
// other spacing). It is what a resend must match the event stored under its
// device seq.
func SameEvent(a, b *event.Event) bool {
	if a.ID != b.ID || a.ComplaintID != b.ComplaintID || a.Type != b.Type || a.Actor != b.Actor ||
		a.At != b.At || a.Branch != b.Branch {
		return false
	}
	if string(a.Data) == string(b.Data) {
		return true
	}
	da, ea := decodeAny(a.Data)
	db, eb := decodeAny(b.Data)
	return ea == nil && eb == nil && reflect.DeepEqual(da, db)
}

func decodeAny(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var v any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
