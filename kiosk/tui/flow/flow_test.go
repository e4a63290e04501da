package flow_test

import (
	"errors"
	"testing"
	"time"

	"ombud/kiosk/filing"
	"ombud/kiosk/tui/flow"
	"ombud/shared/complaint"
)

func fieldErr(t *testing.T, err error) *complaint.FieldError {
	t.Helper()
	var fe *complaint.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *complaint.FieldError", err)
	}
	return fe
}

func TestWalkThrough(t *testing.T) {
	v := flow.New("en")
	mustNext := func(want flow.Step) {
		t.Helper()
		if err := v.Next(); err != nil {
			t.Fatalf("Next from %v: %v", v.Step, err)
		}
		if v.Step != want {
			t.Fatalf("step = %v, want %v", v.Step, want)
		}
	}
	mustNext(flow.Category)
	if fe := fieldErr(t, v.Next()); fe.Field != complaint.FieldCategory {
		t.Errorf("no category: field %q", fe.Field)
	}
	v.Category = "billing"
	mustNext(flow.Description)
	for _, blank := range []string{"", "   ", "\n\t \n"} {
		v.Description = blank
		if fe := fieldErr(t, v.Next()); fe.Field != complaint.FieldDescription || fe.Problem != complaint.ProblemRequired {
			t.Errorf("description %q: %v", blank, fe)
		}
		if v.Step != flow.Description {
			t.Fatalf("step moved to %v on a blank description", v.Step)
		}
	}
	v.Description = "Charged twice"
	mustNext(flow.Outcome) // outcome optional
	mustNext(flow.Contact)
	mustNext(flow.Review) // contact optional
	v.Back()
	if v.Step != flow.Contact {
		t.Errorf("Back from review: %v", v.Step)
	}
}

func TestEditReturnsToReview(t *testing.T) {
	v := flow.New("fr")
	v.Step = flow.Review
	v.Category, v.Description = "billing", "x"
	for _, s := range []flow.Step{flow.Category, flow.Description, flow.Outcome, flow.Contact} {
		v.Edit(s)
		if v.Step != s || !v.Editing() {
			t.Fatalf("Edit(%v): step %v editing %v", s, v.Step, v.Editing())
		}
		if err := v.Next(); err != nil || v.Step != flow.Review {
			t.Fatalf("Next after Edit(%v): %v, step %v", s, err, v.Step)
		}
		v.Edit(s)
		v.Back()
		if v.Step != flow.Review || v.Editing() {
			t.Fatalf("Back after Edit(%v): step %v", s, v.Step)
		}
	}
}

func TestContactNeedsConsent(t *testing.T) {
	now := time.Date(2026, 5, 12, 10, 0, 0, 0, time.UTC)
	v := flow.New("en")
	v.Category, v.Description = "billing", "x"
	if v.ContactState() != flow.ContactNone || v.Draft().Contact != nil {
		t.Fatal("no details: want no contact")
	}
	v.Name, v.Email = "Ann", "ann@example.org"
	if v.ContactState() != flow.ContactDropped {
		t.Errorf("details without consent: state %v", v.ContactState())
	}
	if v.Draft().Contact != nil {
		t.Error("details without consent are in the draft")
	}
	v.SetConsent(true, now)
	c := v.Draft().Contact
	if c == nil || c.Name != "Ann" || c.Email != "ann@example.org" || !c.ConsentAt.Equal(now) || c.NoticeVersion != flow.NoticeVersion+"/en" {
		t.Fatalf("with consent: contact %+v", c)
	}
	v.SetConsent(true, now.Add(time.Minute)) // ticking again keeps the first time
	if !v.Draft().Contact.ConsentAt.Equal(now) {
		t.Error("consent time moved")
	}
	v.SetConsent(false, now)
	if v.Draft().Contact != nil {
		t.Error("unticked: contact still in draft")
	}
}

func TestContactChecks(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		email, phone string
		consent      bool
		field        string
	}{
		{"ann@example.org", "+44 20 7946 0000", true, ""},
		{"not-an-email", "", true, complaint.FieldEmail},
		{"", "abc", true, complaint.FieldPhone},
		{"not-an-email", "abc", false, ""}, // not kept, so not checked
	} {
		v := flow.New("en")
		v.Step = flow.Contact
		v.Email, v.Phone = tc.email, tc.phone
		v.SetConsent(tc.consent, now)
		err := v.Next()
		if tc.field == "" {
			if err != nil || v.Step != flow.Review {
				t.Errorf("%+v: Next = %v, step %v", tc, err, v.Step)
			}
			continue
		}
		if fe := fieldErr(t, err); fe.Field != tc.field || fe.Problem != complaint.ProblemInvalid {
			t.Errorf("%+v: %v", tc, fe)
		}
	}
}

func TestFixAndFiled(t *testing.T) {
	v := flow.New("en")
	v.Step = flow.Review
	if got := v.Fix(complaint.FieldEmail); got != flow.Contact || !v.Editing() {
		t.Errorf("Fix(email) = %v", got)
	}
	v.Step = flow.Review
	if got := v.Fix(complaint.FieldBranch); got != flow.Review {
		t.Errorf("Fix(branch) = %v", got)
	}
	v.Description, v.Name = "secret", "Ann"
	v.Filed(filing.Filed{URL: "http://x/t/ABC"})
	if v.Step != flow.Receipt || v.Description != "" || v.Name != "" || v.Lang != "en" {
		t.Errorf("after Filed: %+v", v)
	}
	if _, ok := v.Receipt(); !ok {
		t.Error("Receipt not kept")
	}
}
