package enrol

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"ombud/shared/device"
	"ombud/shared/envflag"
)

// Hooks connect the `kiosk enrol` command to the rest of the kiosk without
// this package importing its store.
type Hooks struct {
	// LocalDeviceID, if set, returns the id the kiosk already uses (its
	// store's Identity), proposed to the server so the kiosk's events keep
	// one device id. Nil: the server makes the id.
	LocalDeviceID func(ctx context.Context, dataDir string) (string, error)
	// Adopt is called after the credential is saved, to make the kiosk use
	// the server-assigned tracking-code prefix (store.SetPrefix). It should
	// also be safe to call at every start with the loaded credential, which
	// repairs a kiosk that crashed between Save and Adopt.
	Adopt func(ctx context.Context, dataDir string, c Credential) error
	// Client is the HTTP client; nil uses one with a 30 s timeout.
	Client *http.Client
}

// Command runs `kiosk enrol --server URL --code CODE [--name NAME] [--data
// DIR] [--force]`: args are the arguments after "enrol". Flags may be set as
// OMBUD_KIOSK_<FLAG> in the environment, like the kiosk's own. It refuses to
// replace an existing credential without --force, because the old one then
// stops working only once staff revoke it.
func Command(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, h Hooks) error {
	fs := flag.NewFlagSet("kiosk enrol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "", "the server's address, e.g. https://ombud.example.org")
	code := fs.String("code", "", "the one-time enrolment code from `server enrol-code`")
	name := fs.String("name", "", "a name for this kiosk that staff recognise (default: the host name)")
	dataDir := fs.String("data", "kiosk-data", "the kiosk's data directory (the same as the kiosk's --data)")
	force := fs.Bool("force", false, "replace an existing credential (re-enrolment)")
	if err := envflag.Parse(fs, args, "OMBUD_KIOSK_", getenv); err != nil {
		if ae, ok := errors.AsType[*envflag.ArgError](err); ok {
			return fmt.Errorf("enrol: unexpected argument %q", ae.Arg)
		}
		return err
	}
	if *server == "" || *code == "" {
		return errors.New("enrol: --server and --code are required")
	}
	if *name == "" {
		if hn, err := os.Hostname(); err == nil && hn != "" {
			*name = hn
		} else {
			*name = "kiosk"
		}
	}
	if old, ok, err := Load(*dataDir); err != nil && !*force {
		return fmt.Errorf("enrol: %w (or pass --force to replace it)", err)
	} else if ok && !*force {
		return fmt.Errorf("enrol: this kiosk is already enrolled as %s; pass --force to enrol it again", old)
	}
	var id string
	if h.LocalDeviceID != nil {
		var err error
		if id, err = h.LocalDeviceID(ctx, *dataDir); err != nil {
			return fmt.Errorf("enrol: %w", err)
		}
	}
	c, err := EnrolAs(ctx, h.Client, *server, *code, *name, id)
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	if err := Save(*dataDir, c); err != nil {
		// The code is spent: say so, or staff would retry it in vain.
		return fmt.Errorf("enrol: the server enrolled this kiosk as %s but the credential could not be saved (%w); fix the data directory and ask for a new code", c.DeviceID, err)
	}
	if h.Adopt != nil {
		if err := h.Adopt(ctx, *dataDir, c); err != nil {
			return fmt.Errorf("enrol: credential saved, but adopting the code prefix %s failed: %w (it is retried at the next start)", c.CodePrefix, err)
		}
	}
	branch := c.Branch
	if c.BranchName != "" && c.BranchName != c.Branch {
		branch = fmt.Sprintf("%s (%s)", c.BranchName, c.Branch)
	}
	what, next := "device", "kiosk --data "+*dataDir
	switch c.Role {
	case device.Kiosk, device.Staff, device.Team:
		what = c.Role.Describe()
	}
	if c.Role == device.Staff || c.Role == device.Team {
		next = "kiosk staff --data " + *dataDir
	}
	fmt.Fprintf(stdout, "Enrolled as a %s of branch %s (device id %s).\nTracking codes from it start with %s. Credential saved in %s.\nStart it with: %s\n",
		what, branch, c.DeviceID, c.CodePrefix, *dataDir, next)
	return nil
}
