package event_test

import (
	"reflect"
	"testing"
	"time"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
)

func TestFiledCarriesTheComplaint(t *testing.T) {
	c := complaint.Complaint{
		ID: uid.New(), Code: "K7QM4XRT9B2C", Branch: "Main", Device: "dev-1", Channel: complaint.ChannelKiosk,
		Category: "billing", Description: "Charged twice", Language: "fr",
		Contact: &complaint.Contact{Email: "a@b.org", ConsentAt: time.UnixMilli(5).UTC(), NoticeVersion: "1"},
		FiledAt: time.UnixMilli(1_700_000_000_123).UTC(),
	}
	at := hlc.Make(1_700_000_000_123, 0)
	e, err := event.NewFiled(c, event.Actor{Kind: event.ActorDevice, ID: "dev-1"}, at)
	if err != nil {
		t.Fatal(err)
	}
	if e.ComplaintID != c.ID || e.Branch != "Main" || e.Type != event.Filed || e.At != at || !uid.Valid(e.ID) {
		t.Fatalf("event = %+v", e)
	}
	got, err := e.Complaint()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	e.Type = event.NoteAdded
	if _, err := e.Complaint(); err == nil {
		t.Fatal("Complaint() on a note event succeeded")
	}
}

func TestLessIsTotal(t *testing.T) {
	a := &event.Event{ID: "a", At: 2}
	b := &event.Event{ID: "b", At: 2}
	c := &event.Event{ID: "0", At: 3}
	if !event.Less(a, b) || event.Less(b, a) || !event.Less(b, c) || event.Less(c, a) {
		t.Fatal("Less does not order by clock then id")
	}
}
