package rootcause

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, c := range All() {
		if err := Validate(c.Code); err != nil {
			t.Errorf("%s: %v", c.Code, err)
		}
		if c.Label == "" || c.LabelFR == "" || strings.ContainsAny(c.Code, " :") {
			t.Errorf("%s: needs labels and a code without spaces or colons", c.Code)
		}
	}
	for _, good := range []string{"other: door locked", "other:x"} {
		if err := Validate(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	for _, bad := range []string{"", "Process", "other:", "other: \u202e", "other: " + strings.Repeat("é", MaxOther+1)} {
		if err := Validate(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
}

func TestOtherLabelKey(t *testing.T) {
	o := Other("  the \x1b[31mdoor\n was   locked ")
	if err := Validate(o); err != nil {
		t.Fatalf("Other gave %q: %v", o, err)
	}
	if Label(o) != "Other: the door was locked" && !strings.HasPrefix(Label(o), "Other: the") {
		t.Errorf("label %q", Label(o))
	}
	if Key(o) != "other" || Key("pricing") != "pricing" || Other(" \n ") != "" {
		t.Error("Key or Other")
	}
	if Label("pricing") != "Fees or pricing" || Label("unknown-x") != "unknown-x" {
		t.Error("Label")
	}
	if len(Other(strings.Repeat("a", 500))) != len(OtherPrefix)+1+MaxOther {
		t.Error("Other does not bound the text")
	}
}
