package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/directory"
	"ombud/kiosk/enrol"
	"ombud/kiosk/filing"
	"ombud/kiosk/session"
	"ombud/kiosk/slarules"
	"ombud/kiosk/staffui"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/store/signin"
	"ombud/kiosk/termapp"
	"ombud/shared/catalog"
	devicerole "ombud/shared/device"
	"ombud/shared/hlc"
	"ombud/shared/sla"
	"ombud/shared/staff"
	"ombud/sync/client"
)

// staffOptions configure `kiosk staff`, the staff terminal.
type staffOptions struct {
	deviceOptions
	idleSignOut, directoryInterval time.Duration
	maxFailures                    int
	lockFor                        time.Duration
	signInTimeout                  time.Duration
	purgeClosedAfter               time.Duration
}

// DefaultPurgeClosedAfter is how long a closed case stays on a staff
// terminal: long enough to answer a customer who comes back about it.
const DefaultPurgeClosedAfter = 30 * 24 * time.Hour

// purgeEvery is how often the terminal looks for cases to purge.
const purgeEvery = time.Hour

func parseStaffOptions(args []string, getenv func(string) string, stderr io.Writer) (staffOptions, error) {
	var o staffOptions
	fs := flag.NewFlagSet("kiosk staff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data", "staff-data", "directory that holds this terminal's database, credential and log (enrol it first: kiosk enrol --data DIR ...)")
	fs.StringVar(&o.printerSpec, "printer", "none", "receipt printer for assisted filing and reprints: a device file, tcp:HOST:9100, file:DIR, or none")
	fs.StringVar(&o.paper, "paper", "80mm", "receipt paper width: 80mm or 58mm")
	fs.StringVar(&o.qrMode, "printer-qr", "raster", "how the printer draws the QR code: raster or native")
	fs.StringVar(&o.codePage, "printer-codepage", "cp858", "the printer's character table for accented letters: cp858 (PC858, ESC t 19; most printers), wpc1252 (ESC t 16) or ascii (letters printed without accents)")
	fs.StringVar(&o.publicURL, "public-url", "", "base of the tracking URL printed on receipts (default: the address the server announced at enrolment, else the server this terminal is enrolled with)")
	fs.StringVar(&o.timezone, "timezone", "Local", "the branch's time zone (IANA name) for deadlines and dates")
	fs.StringVar(&o.categoriesFile, "categories", "", "JSON file with the complaint categories (as for the kiosk); built-in list when empty")
	fs.StringVar(&o.retentionFile, "retention-config", "", "a retention policy file the privacy notice read to customers states until the server's policy is received (the terminal fetches and keeps it); without it, 12 months")
	fs.StringVar(&o.logFile, "log", "", "log file (default: staff.log in the data directory); never holds customers' text")
	fs.IntVar(&o.ackDays, "ack-days", 2, "business days (Monday to Friday, 09:00-17:00 in --timezone) to acknowledge, until the server's SLA rules are received (then the server's)")
	fs.IntVar(&o.respondDays, "respond-days", 15, "business days to answer, as --ack-days")
	fs.DurationVar(&o.idleSignOut, "idle-sign-out", 5*time.Minute, "sign staff out after this long without a key or click")
	fs.DurationVar(&o.directoryInterval, "directory-interval", directory.DefaultInterval, "how often to fetch the branch's staff accounts from the server (revocations take effect within this)")
	fs.IntVar(&o.maxFailures, "lockout-failures", staff.DefaultLockout.MaxFailures, "wrong PINs in a row that lock an account on this terminal")
	fs.DurationVar(&o.lockFor, "lockout-duration", staff.DefaultLockout.Duration, "how long a locked account stays locked")
	fs.DurationVar(&o.signInTimeout, "sign-in-timeout", session.DefaultTimeout, "how long sign-in waits for the server to check a PIN; past it, or when the server cannot be reached, staff are signed in offline against this terminal's copy of the staff accounts")
	fs.DurationVar(&o.purgeClosedAfter, "purge-closed-after", DefaultPurgeClosedAfter, "delete from this terminal the cases closed this long ago with nothing recorded since (the server keeps them); 0 keeps them for ever")
	fs.BoolVar(&o.allowQuit, "allow-quit", true, "let Ctrl-Q stop the terminal")
	fs.StringVar(&o.language, "lang", "en", "the branch's working language: the staff screens start in it (each person may switch with F2 at sign-in, for their session) and complaints filed here for walk-in customers are in it (en, fr, es, or one added with --catalogs)")
	fs.StringVar(&o.catalogsDir, "catalogs", "", "directory of extra or corrected catalogs for translators: xx.json for receipts and notices (as the kiosk's), staff/xx.json for the staff screens")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kiosk staff [flags]\n\nRuns the staff terminal: sign in, work the branch's queue of cases, file a complaint for a walk-in customer.\nThe terminal must be enrolled first (kiosk enrol --data DIR --server URL --code CODE) and staff accounts made on the server (server staff add).\nEvery flag can also be set as %sSTAFF_<FLAG>.\n\nFlags:\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, envPrefix+"STAFF_", getenv, "kiosk staff --help"); err != nil {
		return o, err
	}
	if o.idleSignOut <= 0 || o.directoryInterval <= 0 || o.lockFor <= 0 || o.maxFailures < 1 || o.signInTimeout <= 0 {
		return o, errors.New("--idle-sign-out, --directory-interval, --lockout-duration, --lockout-failures and --sign-in-timeout must be positive")
	}
	if o.purgeClosedAfter < 0 {
		return o, errors.New("--purge-closed-after must be 0 (keep closed cases) or positive")
	}
	if err := o.check(); err != nil {
		return o, err
	}
	if o.publicURL != "" && !strings.HasPrefix(o.publicURL, "https://") && !strings.HasPrefix(o.publicURL, "http://") {
		return o, fmt.Errorf("--public-url %q: want an http:// or https:// address", o.publicURL)
	}
	return o, nil
}

// staffCommand runs the staff terminal. It is the kiosk program because a
// branch device may be either, and both need the same store, sync, filing
// and printing; what differs is the screen and that the staff terminal asks
// the server for its branch's cases and staff accounts.
func staffCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, screen tcell.Screen) error {
	o, err := parseStaffOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	cred, enrolled, err := enrol.Load(o.dataDir)
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	if !enrolled {
		return fmt.Errorf("this staff terminal is not enrolled (no credential in %s): get a code with `server enrol-code --branch ID --role staff` and run `kiosk enrol --data %s --server URL --code CODE` first", o.dataDir, o.dataDir)
	}
	switch cred.Role {
	case devicerole.Kiosk:
		// The server would give it neither cases nor accounts, and would
		// refuse every staff action from it.
		return fmt.Errorf("this device is enrolled as a customer kiosk, which receives no cases and no staff accounts: enrol it as a staff terminal with a code from `server enrol-code --branch %s --role staff`", cred.Branch)
	}
	// A staff terminal works its branch's cases; a team terminal the cases
	// queued to its teams, from any branch, and files nothing itself (the
	// server would refuse a filing from it).
	scopes, header := []string{"branch:" + cred.Branch}, cred.BranchName
	if header == "" {
		header = cred.Branch
	}
	team := cred.Role == devicerole.Team
	if team {
		scopes = scopes[:0]
		for _, t := range cred.Teams {
			scopes = append(scopes, "team:"+t)
		}
		header = "Team " + strings.Join(cred.Teams, ", ")
	}
	words, err := staffWords(o.catalogsDir, o.language)
	if err != nil {
		return err
	}
	dev, err := openDevice(o.deviceOptions, "staff", "staff.log")
	if err != nil {
		return err
	}
	defer dev.Close()
	base, logger, loc := dev.base, dev.log, dev.loc

	// The queue's dates come from the server's SLA rules (kiosk/slarules),
	// set once the store is open; until then, and before the first answer,
	// the fallback from --ack-days, --respond-days and --timezone.
	fallback, err := sla.Fallback(o.ackDays, o.respondDays, loc)
	if err != nil {
		return err
	}
	var rules atomic.Pointer[slarules.Rules]
	deadline := cases.SLADeadline(func() *sla.Config {
		if r := rules.Load(); r != nil {
			return r.Current()
		}
		return fallback
	}, logger)
	if err := adoptCredential(ctx, o.dataDir, cred); err != nil {
		return err
	}
	proj := cases.NewProjection(cases.Options{Deadline: deadline, Logger: logger})
	// A staff terminal keeps the text of its queue: staff work from it.
	st, err := dev.openStore(ctx, proj, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	queue, accounts := cases.New(st, proj), signin.New(st)
	rebuild := func(ctx context.Context) {
		// Rows keep the due time computed when they were last written; the
		// rules (the server's, --timezone, the business days) may have
		// changed since, so recompute them all, a few hundred per
		// transaction, while staff already work.
		began := time.Now()
		n, err := queue.RebuildCases(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("case deadlines not recomputed", "err", err)
			return
		}
		logger.Info("case deadlines recomputed", "cases", n, "took", time.Since(began).Round(time.Millisecond))
	}
	r, err := dev.slaRules(ctx, o.deviceOptions, st, cred, true, rebuild)
	if err != nil {
		return err
	}
	rules.Store(r)
	policy, err := dev.retentionRules(ctx, st, cred, true)
	if err != nil {
		return err
	}

	publicURL := trackingBase(o.publicURL, cred, true)
	clock := hlc.New(nil)
	syncer := client.New(st, clock, client.Config{
		URL: cred.ServerURL, DeviceID: cred.DeviceID, Secret: cred.Secret,
		// The branch's (or the teams') cases come down to this terminal:
		// staff work them offline from the local copy.
		Scopes:   scopes,
		Software: "ombud-staff",
		Logger:   base,
	})
	dir, err := directory.New(directory.Config{
		ServerURL: cred.ServerURL, Authorization: cred.AuthorizationHeader(), Branch: cred.Branch,
		Teams: cred.Teams, Store: accounts, Interval: o.directoryInterval, Logger: base,
	})
	if err != nil {
		return err
	}
	sessions, err := session.New(session.Config{
		ServerURL: cred.ServerURL, Authorization: cred.AuthorizationHeader(), Timeout: o.signInTimeout,
	})
	if err != nil {
		return err
	}
	svc, err := filing.New(st, clock, filing.Config{
		Branch: cred.Branch, PublicURL: publicURL, SLA: r.Current, Logger: base,
	})
	if err != nil {
		return fmt.Errorf("filing: %w", err)
	}
	var filer termapp.Filer = svc
	if team {
		filer = nil // `n` says filing is not available here
	}
	app := staffui.New(staffui.Config{
		Store:        terminalStore{queue, accounts},
		Clock:        clock,
		Branch:       cred.Branch,
		BranchName:   header,
		Teams:        cred.Teams,
		Filer:        filer,
		Printer:      dev.printer,
		PublicURL:    publicURL,
		Categories:   dev.categories,
		Retention:    dev.retention,
		Bundle:       dev.bundle,
		Language:     o.language,
		Words:        words,
		UILanguage:   o.language,
		Location:     loc,
		SLA:          r.Current,
		Sessions:     sessions,
		RetentionNow: policy.Current,
		RefreshDirectory: func(ctx context.Context) error {
			_, err := dir.Fetch(ctx)
			return err
		},
		Lockout:      staff.Lockout{MaxFailures: o.maxFailures, Duration: o.lockFor},
		IdleSignOut:  o.idleSignOut,
		Logger:       base,
		OperatorQuit: o.allowQuit,
		OnAct:        syncer.Notify,
		SyncStatusIn: func(tr func(string, ...any) string) string { return staffSyncLine(tr, syncer, dir) },
	})
	logger.Info("staff terminal started", "branch", cred.Branch, "device", cred.DeviceID, "data", o.dataDir,
		"purge_closed_after", o.purgeClosedAfter.String())
	tasks := []func(context.Context){dev.syncTask(syncer), dir.Run, rebuild, r.Run, policy.Run}
	if o.purgeClosedAfter > 0 {
		tasks = append(tasks, purgeTask(queue, o.purgeClosedAfter, logger))
	}
	if err := runScreen(ctx, app, screen, tasks...); err != nil {
		return err
	}
	logger.Info("staff terminal stopped")
	return nil
}

// purgeTask deletes from the terminal, at start and every purgeEvery (or
// every after, when that is shorter), the cases closed longer than after
// ago (cases.Queue.PurgeClosed): a stolen terminal holds only the
// customers' words still being worked.
func purgeTask(queue *cases.Queue, after time.Duration, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		tick := time.NewTicker(min(purgeEvery, max(after, time.Second)))
		defer tick.Stop()
		for {
			n, err := queue.PurgeClosed(ctx, time.Now().Add(-after))
			switch {
			case err != nil && ctx.Err() == nil:
				logger.Error("closed cases not purged", "err", err)
			case n > 0:
				logger.Info("closed cases purged", "cases", n, "closed_before", time.Now().Add(-after).UTC().Format(time.RFC3339))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// terminalStore is what the staff screens read and write: the case queue
// and the staff accounts, both on the terminal's one database.
type terminalStore struct {
	*cases.Queue
	*signin.Accounts
}

// staffSyncLine is the status bar's summary of sync and the directory.
func staffSyncLine(tr func(string, ...any) string, syncer *client.Client, dir *directory.Fetcher) string {
	st := syncer.Status()
	line := tr("Sync: {state}", "state", tr(st.State.String()))
	switch now := time.Now(); {
	case st.Unstable(now):
		line = tr("Sync: {state}", "state", st.Summary(now))
	case st.Pending > 0:
		line += ", " + tr("{count} not sent yet", "count", st.Pending)
	}
	if ds := dir.Status(); ds.Err != "" {
		line += " · " + tr("staff list not refreshed")
	}
	return line
}

// staffWords loads the staff screens' catalogs (built in, then
// catalogsDir/staff when there is one) and checks lang has one.
func staffWords(catalogsDir, lang string) (*catalog.Set, error) {
	extra := ""
	if catalogsDir != "" {
		if fi, err := os.Stat(filepath.Join(catalogsDir, "staff")); err == nil && fi.IsDir() {
			extra = filepath.Join(catalogsDir, "staff")
		}
	}
	words, err := staffui.LoadCatalogs(extra)
	if err != nil {
		return nil, fmt.Errorf("staff screens' catalogs: %w", err)
	}
	if !words.Has(lang) {
		return nil, fmt.Errorf("--lang %q: the staff screens have no catalog for it (have %s)", lang, strings.Join(words.Tags(), ", "))
	}
	return words, nil
}
