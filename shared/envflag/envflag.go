// Package envflag owns the one convention the Ombud programs share besides
// the domain: every command-line flag can also be set from the environment,
// as PREFIX + the flag's name in upper case with dashes as underscores
// (--idle-timeout of the kiosk is OMBUD_KIOSK_IDLE_TIMEOUT, --data of the
// server OMBUD_SERVER_DATA). A flag given on the command line wins over the
// environment, and the environment over the flag's default, so a service
// unit can set a branch's configuration once and an operator can still
// override one flag by hand.
//
// It uses the standard library only.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Var is the environment variable that sets flag name under prefix:
// Var("OMBUD_KIOSK_", "idle-timeout") is "OMBUD_KIOSK_IDLE_TIMEOUT".
func Var(prefix, name string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ValueError is an environment variable whose value its flag refuses.
type ValueError struct {
	Var, Value string
	Err        error
}

func (e *ValueError) Error() string { return fmt.Sprintf("%s=%q: %v", e.Var, e.Value, e.Err) }

func (e *ValueError) Unwrap() error { return e.Err }

// ArgError is a positional argument given to a command that takes flags
// only: Command is the flag set's name.
type ArgError struct {
	Command, Arg string
}

func (e *ArgError) Error() string { return fmt.Sprintf("%s: unexpected argument %q", e.Command, e.Arg) }

// Apply sets every flag of fs that was not given on the command line from
// its variable (Var) when getenv returns a value for it; an empty value
// counts as unset. Call it after fs.Parse. The first value a flag refuses
// is returned as a *ValueError, and the flags after it are left alone.
func Apply(fs *flag.FlagSet, prefix string, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := Var(prefix, f.Name)
		if v := getenv(name); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = &ValueError{Var: name, Value: v, Err: serr}
			}
		}
	})
	return err
}

// Parse parses args into fs, refuses positional arguments (an *ArgError)
// and then applies the environment (Apply). Every error but flag.ErrHelp
// (the person asked for the usage, which fs has printed) is a mistake on
// the command line or in the environment: a program answers it with its
// usage status.
func Parse(fs *flag.FlagSet, args []string, prefix string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &ArgError{Command: fs.Name(), Arg: fs.Arg(0)}
	}
	return Apply(fs, prefix, getenv)
}
