package envflag_test

import (
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"ombud/shared/envflag"
)

type opts struct {
	data    string
	idle    time.Duration
	quit    bool
	retries int
}

func newFlagSet(o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.data, "data", "kiosk-data", "")
	fs.DurationVar(&o.idle, "idle-timeout", 2*time.Minute, "")
	fs.BoolVar(&o.quit, "allow-quit", false, "")
	fs.IntVar(&o.retries, "retries", 3, "")
	return fs
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestVar(t *testing.T) {
	for _, tc := range []struct{ prefix, name, want string }{
		{"OMBUD_KIOSK_", "idle-timeout", "OMBUD_KIOSK_IDLE_TIMEOUT"},
		{"OMBUD_SERVER_", "data", "OMBUD_SERVER_DATA"},
		{"OMBUD_KIOSK_STAFF_", "lockout-failures", "OMBUD_KIOSK_STAFF_LOCKOUT_FAILURES"},
	} {
		if got := envflag.Var(tc.prefix, tc.name); got != tc.want {
			t.Errorf("Var(%q, %q) = %q, want %q", tc.prefix, tc.name, got, tc.want)
		}
	}
}

// TestCommandLineOverEnvironmentOverDefault: the precedence the programs
// promise in their usage.
func TestCommandLineOverEnvironmentOverDefault(t *testing.T) {
	var o opts
	fs := newFlagSet(&o)
	err := envflag.Parse(fs, []string{"--data", "/srv/flag"}, "OMBUD_X_", env(map[string]string{
		"OMBUD_X_DATA":         "/srv/env",
		"OMBUD_X_IDLE_TIMEOUT": "30s",
		"OMBUD_X_ALLOW_QUIT":   "true",
		"OMBUD_X_RETRIES":      "", // empty: unset
		"DATA":                 "/srv/unprefixed",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := opts{data: "/srv/flag", idle: 30 * time.Second, quit: true, retries: 3}
	if o != want {
		t.Errorf("got %+v, want %+v", o, want)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		msg     string
		check   func(error) bool
		checked string
	}{
		{
			name: "bad environment value", env: map[string]string{"OMBUD_X_IDLE_TIMEOUT": "soon"},
			msg: `OMBUD_X_IDLE_TIMEOUT="soon": parse error`, // the flag package's word for it
			check: func(err error) bool {
				ve, ok := errors.AsType[*envflag.ValueError](err)
				return ok && ve.Var == "OMBUD_X_IDLE_TIMEOUT" && ve.Value == "soon"
			}, checked: "a *ValueError naming the variable",
		},
		{
			name: "positional argument", args: []string{"--data", "d", "extra", "more"},
			msg: `serve: unexpected argument "extra"`,
			check: func(err error) bool {
				ae, ok := errors.AsType[*envflag.ArgError](err)
				return ok && ae.Arg == "extra" && ae.Command == "serve"
			}, checked: "an *ArgError naming the first argument",
		},
		{
			name: "positional argument before the environment", args: []string{"extra"}, env: map[string]string{"OMBUD_X_RETRIES": "many"},
			msg:   `serve: unexpected argument "extra"`,
			check: func(err error) bool { _, ok := errors.AsType[*envflag.ArgError](err); return ok }, checked: "an *ArgError",
		},
		{
			name: "unknown flag", args: []string{"--nope"},
			msg:   "flag provided but not defined: -nope",
			check: func(err error) bool { return !errors.Is(err, flag.ErrHelp) }, checked: "not ErrHelp",
		},
		{
			name: "help", args: []string{"--help"},
			msg:   flag.ErrHelp.Error(),
			check: func(err error) bool { return errors.Is(err, flag.ErrHelp) }, checked: "ErrHelp",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o opts
			err := envflag.Parse(newFlagSet(&o), tc.args, "OMBUD_X_", env(tc.env))
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
			if !tc.check(err) {
				t.Errorf("error %v is not %s", err, tc.checked)
			}
		})
	}
}

// TestApplyAlone: a program that allows positional arguments parses them
// itself and applies only the environment.
func TestApplyAlone(t *testing.T) {
	var o opts
	fs := newFlagSet(&o)
	if err := fs.Parse([]string{"--retries", "5", "positional"}); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs, "OMBUD_X_", env(map[string]string{"OMBUD_X_RETRIES": "9", "OMBUD_X_DATA": "/srv/env"})); err != nil {
		t.Fatal(err)
	}
	if o.retries != 5 || o.data != "/srv/env" || fs.Arg(0) != "positional" {
		t.Errorf("got %+v, args %q", o, fs.Args())
	}
}
