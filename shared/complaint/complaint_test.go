package complaint_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"ombud/shared/complaint"
)

func valid() complaint.Complaint {
	return complaint.Complaint{
		ID: "0190d7e4-7c1a-7b2e-8d3f-1234567890ab", Code: "K7QM4XRT9B2C", Branch: "Main",
		Channel: complaint.ChannelKiosk, Category: "billing", Description: "Charged twice.",
		Language: "en", FiledAt: time.Unix(1_700_000_000, 0).UTC(),
	}
}

func TestValidate(t *testing.T) {
	consent := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name          string
		edit          func(*complaint.Complaint)
		field, reason string
	}{
		{"ok", func(*complaint.Complaint) {}, "", ""},
		{"blank description", func(c *complaint.Complaint) { c.Description = " \n\t " }, complaint.FieldDescription, complaint.ProblemRequired},
		{"description at limit", func(c *complaint.Complaint) { c.Description = strings.Repeat("é", complaint.MaxDescription) }, "", ""},
		{"description over limit", func(c *complaint.Complaint) { c.Description = strings.Repeat("a", complaint.MaxDescription+1) }, complaint.FieldDescription, complaint.ProblemTooLong},
		{"no category", func(c *complaint.Complaint) { c.Category = "" }, complaint.FieldCategory, complaint.ProblemRequired},
		{"outcome over limit", func(c *complaint.Complaint) { c.DesiredOutcome = strings.Repeat("a", complaint.MaxOutcome+1) }, complaint.FieldOutcome, complaint.ProblemTooLong},
		{"contact ok", func(c *complaint.Complaint) {
			c.Contact = &complaint.Contact{Email: "ana@example.org", Phone: "+44 20 7946 0000", ConsentAt: consent, NoticeVersion: "1"}
		}, "", ""},
		{"bad email", func(c *complaint.Complaint) {
			c.Contact = &complaint.Contact{Email: "ana.example.org", ConsentAt: consent, NoticeVersion: "1"}
		}, complaint.FieldEmail, complaint.ProblemInvalid},
		{"bad phone", func(c *complaint.Complaint) {
			c.Contact = &complaint.Contact{Phone: "call me", ConsentAt: consent, NoticeVersion: "1"}
		}, complaint.FieldPhone, complaint.ProblemInvalid},
		{"contact without notice version", func(c *complaint.Complaint) {
			c.Contact = &complaint.Contact{Name: "Ana", ConsentAt: consent}
		}, complaint.FieldConsent, complaint.ProblemRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *complaint.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Problem != tc.reason {
				t.Fatalf("Validate() = %v, want %s %s", err, tc.field, tc.reason)
			}
		})
	}
}

func TestNormalizeCleansAndDropsContactWithoutConsent(t *testing.T) {
	c := valid()
	c.Description = "  \x1b[2JCharged\ttwice\r\n  "
	c.Category = "billing\n"
	c.Contact = &complaint.Contact{Name: "Ana\x1b]0;x\x07", Email: "ana@example.org"}
	c.Normalize()
	if got, want := c.Description, "Charged twice"; got != want {
		t.Errorf("Description = %q, want %q", got, want)
	}
	if got, want := c.Category, "billing"; got != want {
		t.Errorf("Category = %q, want %q", got, want)
	}
	if c.Contact != nil {
		t.Errorf("Contact = %+v, want nil: no consent was given", c.Contact)
	}

	c = valid()
	c.Contact = &complaint.Contact{Name: " Ana ", ConsentAt: time.Now(), NoticeVersion: "1"}
	c.Normalize()
	if c.Contact == nil || c.Contact.Name != "Ana" {
		t.Errorf("Contact = %+v, want kept with name trimmed", c.Contact)
	}
}
