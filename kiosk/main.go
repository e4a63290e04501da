// Command kiosk is the branch terminal where a walk-in customer files a
// complaint and leaves with a receipt: tracking code, QR code and what happens
// next. It stores every complaint in a local SQLite database first, so it
// keeps working when the branch's network is down.
//
// Commands:
//
//	kiosk [flags]           run the kiosk (see kiosk --help)
//	kiosk enrol [flags]     enrol this kiosk with the central server (kiosk enrol --help)
//	kiosk status [--data]   show staff the sync state: online or not, what waits to be sent
//	kiosk staff [flags]     run the staff terminal: sign in, work the queue (kiosk staff --help)
//
// Every flag can also be set from the environment as OMBUD_KIOSK_<FLAG>
// (upper case, dashes as underscores).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/enrol"
	"ombud/kiosk/filing"
	"ombud/kiosk/store"
	"ombud/kiosk/store/cases"
	"ombud/kiosk/termapp"
	"ombud/kiosk/tui"
	devicerole "ombud/shared/device"
	"ombud/shared/envflag"
	"ombud/shared/hlc"
	"ombud/sync/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "kiosk:", err)
		os.Exit(1)
	}
}

// options is the kiosk's configuration, from flags and the environment.
type options struct {
	deviceOptions
	branch         string
	idleTimeout    time.Duration
	idleWarning    time.Duration
	receiptTimeout time.Duration
}

const envPrefix = "OMBUD_KIOSK_"

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("kiosk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data", "kiosk-data", "directory that holds the kiosk's database and log (created if missing)")
	fs.StringVar(&o.printerSpec, "printer", "none", "receipt printer: a device file such as /dev/usb/lp0, a network printer tcp:HOST:9100 (or HOST:9100), file:DIR to write each receipt to DIR (ESC/POS, PNG of the QR, text), or none")
	fs.StringVar(&o.paper, "paper", "80mm", "receipt paper width: 80mm or 58mm")
	fs.StringVar(&o.qrMode, "printer-qr", "raster", "how the printer draws the QR code: raster (an image; works on most printers) or native (the printer's own QR command)")
	fs.StringVar(&o.codePage, "printer-codepage", "cp858", "the printer's character table for accented letters: cp858 (PC858, ESC t 19; most printers), wpc1252 (ESC t 16) or ascii (letters printed without accents)")
	fs.StringVar(&o.publicURL, "public-url", "", "base of the tracking URL the QR code opens, <public-url>/t/<code> (default: the address the server announced at enrolment, else the server's; "+defaultPublicURL+" when not enrolled)")
	fs.StringVar(&o.branch, "branch", "Main branch", "branch name stamped on complaints and printed on receipts")
	fs.StringVar(&o.language, "lang", "en", "language the welcome screen starts in (en, fr, or one added with --catalogs)")
	fs.StringVar(&o.timezone, "timezone", "Local", "the branch's time zone (IANA name such as Europe/Paris) for dates on receipts")
	fs.StringVar(&o.categoriesFile, "categories", "", "JSON file with the complaint categories offered (id and a label per language); built-in list when empty")
	fs.StringVar(&o.retentionFile, "retention-config", "", "a retention policy file (shared/retention) the privacy notice states until the server's policy is received (an enrolled kiosk fetches and keeps it); without it, 12 months after closure, the server's default")
	fs.StringVar(&o.catalogsDir, "catalogs", "", "directory of extra or corrected message catalogs (xx.json) for translators; built-in English and French when empty")
	fs.StringVar(&o.logFile, "log", "", "log file for staff (default: kiosk.log in the data directory); never holds customers' text or contact details")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 2*time.Minute, "with no key or touch for this long, warn and then clear everything for the next customer")
	fs.DurationVar(&o.idleWarning, "idle-warning", 20*time.Second, "how long the 'are you still there?' warning shows before clearing")
	fs.DurationVar(&o.receiptTimeout, "receipt-timeout", 90*time.Second, "how long the receipt stays on screen before returning to the welcome screen")
	fs.BoolVar(&o.allowQuit, "allow-quit", false, "let Ctrl-Q stop the kiosk (for trials and demos; in a branch, stop it with a signal so customers cannot quit it)")
	fs.IntVar(&o.ackDays, "ack-days", 2, "business days (Monday to Friday, 09:00-17:00 in --timezone) to acknowledge, printed on receipts until the server's SLA rules are received (then the server's)")
	fs.IntVar(&o.respondDays, "respond-days", 15, "business days to answer, as --ack-days")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: kiosk [flags]\n\nRuns the branch kiosk where customers file complaints.\nEvery flag can also be set as an environment variable %s<FLAG> (e.g. %sPRINTER=/dev/usb/lp0).\n\nFlags:\n", envPrefix, envPrefix)
		fs.PrintDefaults()
	}
	// Environment overrides defaults, and a flag on the command line overrides both.
	if err := parseFlags(fs, args, envPrefix, getenv, "--help"); err != nil {
		return o, err
	}
	switch {
	case o.idleTimeout <= 0 || o.idleWarning <= 0 || o.receiptTimeout <= 0:
		return o, errors.New("--idle-timeout, --idle-warning and --receipt-timeout must be positive")
	case o.idleWarning >= o.idleTimeout:
		return o, errors.New("--idle-warning must be shorter than --idle-timeout")
	}
	if err := o.check(); err != nil {
		return o, err
	}
	if o.publicURL != "" && !strings.HasPrefix(o.publicURL, "https://") && !strings.HasPrefix(o.publicURL, "http://") {
		return o, fmt.Errorf("--public-url %q: want an http:// or https:// address", o.publicURL)
	}
	return o, nil
}

// run is the whole program; screen is nil for the real terminal (tests pass a
// simulation screen).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, screen tcell.Screen) error {
	if len(args) > 0 {
		switch args[0] {
		case "enrol", "enroll":
			return enrol.Command(ctx, args[1:], getenv, stdout, stderr, enrol.Hooks{
				LocalDeviceID: localDeviceID,
				Adopt:         adoptCredential,
			})
		case "status":
			return statusCommand(ctx, args[1:], getenv, stdout, stderr)
		case "staff":
			return staffCommand(ctx, args[1:], getenv, stdout, stderr, screen)
		}
	}
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The kiosk's heap is a few megabytes, so the default target has the
		// collector run every couple of complaints, and a collection landing
		// between Submit and the receipt is what the customer's slowest
		// waits are made of. A dedicated terminal can spare the memory: 4x
		// the live heap is still only tens of megabytes (BENCHMARKS.md).
		debug.SetGCPercent(400)
	}
	dev, err := openDevice(o.deviceOptions, "kiosk", "kiosk.log")
	if err != nil {
		return err
	}
	defer dev.Close()
	base, logger := dev.base, dev.log

	// Enrolled kiosks file under the branch id the server gave them and sync in
	// the background; a kiosk that is not enrolled works alone.
	branchID, branchName := o.branch, o.branch
	cred, enrolled, err := enrol.Load(o.dataDir)
	if err != nil {
		return fmt.Errorf("credential: %w", err)
	}
	// A customer kiosk stands in a public lobby: once the server holds a
	// complaint, the kiosk forgets the customer's words (whoever takes it
	// finds none). A device enrolled before roles existed is a customer
	// kiosk to the server too.
	redact := enrolled && (cred.Role == devicerole.Kiosk || cred.Role == "")
	st, err := dev.openStore(ctx, cases.NewProjection(cases.Options{Logger: logger}),
		store.Options{RedactAcknowledged: redact})
	if err != nil {
		return err
	}
	defer st.Close()
	clock := hlc.New(nil)
	var syncer *client.Client
	if enrolled {
		if err := adoptCredential(ctx, o.dataDir, cred); err != nil {
			return err
		}
		branchID = cred.Branch
		if cred.BranchName != "" {
			branchName = cred.BranchName
		}
		syncer = client.New(st, clock, client.Config{
			URL:      cred.ServerURL,
			DeviceID: cred.DeviceID,
			Secret:   cred.Secret,
			// No downstream scopes: the customer kiosk only sends.
			Logger: base,
		})
	}
	publicURL := trackingBase(o.publicURL, cred, enrolled)
	rules, err := dev.slaRules(ctx, o.deviceOptions, st, cred, enrolled, nil)
	if err != nil {
		return err
	}
	policy, err := dev.retentionRules(ctx, st, cred, enrolled)
	if err != nil {
		return err
	}
	svc, err := filing.New(st, clock, filing.Config{
		Branch:    branchID,
		PublicURL: publicURL,
		SLA:       rules.Current,
		Logger:    base,
	})
	if err != nil {
		return fmt.Errorf("filing: %w", err)
	}
	var filer termapp.Filer = svc
	if syncer != nil {
		filer = notifyingFiler{svc, syncer}
	}
	app := tui.New(tui.Config{
		Filer:           filer,
		Printer:         dev.printer,
		Bundle:          dev.bundle,
		DefaultLanguage: o.language,
		Categories:      dev.categories,
		Retention:       dev.retention,
		RetentionNow:    policy.Current,
		BranchName:      branchName,
		IdleTimeout:     o.idleTimeout,
		IdleWarning:     o.idleWarning,
		ReceiptTimeout:  o.receiptTimeout,
		Logger:          base,
		OperatorQuit:    o.allowQuit,
		StaffStatus:     func() string { return staffStatus(syncer) },
		OnReceipt: func(f filing.Filed) {
			// No personal data, and not the tracking code (enough to act
			// on the case on its public page): the id names it for staff.
			logger.Info("receipt shown", "complaint", f.Complaint.ID)
		},
	})
	logger.Info("kiosk started", "branch", branchID, "printer", o.printerSpec, "data", o.dataDir, "enrolled", enrolled,
		"redacts_sent", redact)
	var tasks []func(context.Context)
	if syncer != nil {
		tasks = append(tasks, dev.syncTask(syncer), rules.Run, policy.Run)
	}
	if redact {
		// What was sent before this kiosk redacted on acknowledgement.
		tasks = append(tasks, func(ctx context.Context) {
			if _, err := st.RedactSent(ctx); err != nil && ctx.Err() == nil {
				logger.Error("sent complaints not redacted", "err", err)
			}
		})
	}
	if err := runScreen(ctx, app, screen, tasks...); err != nil {
		return err
	}
	logger.Info("kiosk stopped")
	return nil
}

// staffStatus is the F2 panel's text: sync state without any customer data.
func staffStatus(syncer *client.Client) string {
	if syncer == nil {
		return "Not enrolled: this kiosk works alone and sends nothing to the central server.\nEnrol it with: kiosk enrol --server URL --code CODE"
	}
	st := syncer.Status()
	last := "never"
	if !st.LastSuccess.IsZero() {
		last = st.LastSuccess.Local().Format("2006-01-02 15:04:05")
	}
	text := fmt.Sprintf("Sync: %s\nWaiting to be sent: %d\nLast success: %s", st.State, st.Pending, last)
	if now := time.Now(); st.Unstable(now) {
		text += "\nThe link keeps dropping: " + st.Summary(now) + ". Tell IT if it lasts."
	}
	if st.LastError != "" {
		text += "\nLast error: " + st.LastError
	}
	return text
}

// notifyingFiler wakes the sync client after each durable filing, so a
// complaint leaves the branch at once when online; filing never waits for it.
type notifyingFiler struct {
	svc    *filing.Service
	syncer *client.Client
}

func (n notifyingFiler) File(ctx context.Context, d filing.Draft) (filing.Filed, error) {
	f, err := n.svc.File(ctx, d)
	if err == nil {
		n.syncer.Notify()
	}
	return f, err
}

// localDeviceID proposes the id this kiosk already stamps on its events, so
// its history and its enrolment name one device.
func localDeviceID(ctx context.Context, dataDir string) (string, error) {
	if err := privateDir(dataDir); err != nil {
		return "", err
	}
	st, err := store.Open(ctx, dbPath(dataDir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	id, err := st.Identity(ctx)
	if err != nil {
		return "", err
	}
	return id.DeviceID, nil
}

// adoptCredential makes the kiosk's tracking codes use the prefix the server
// assigned, which is what keeps codes unique across the fleet. It runs after
// enrolment and again at every start, repairing a crash between the two.
func adoptCredential(ctx context.Context, dataDir string, c enrol.Credential) error {
	st, err := store.Open(ctx, dbPath(dataDir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	if err := st.SetPrefix(ctx, c.CodePrefix); err != nil {
		return fmt.Errorf("adopt the server's code prefix: %w", err)
	}
	return nil
}

// statusCommand prints what staff need to know about sync, read from the
// kiosk's database (safe while the kiosk runs: WAL lets readers in).
func statusCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kiosk status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "kiosk-data", "the kiosk's data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envflag.Apply(fs, envPrefix, getenv); err != nil {
		return err
	}
	if _, err := os.Stat(dbPath(*dataDir)); err != nil {
		return fmt.Errorf("no kiosk database in %s: %w", *dataDir, err)
	}
	st, err := store.Open(ctx, dbPath(*dataDir), nil, cases.NewProjection(cases.Options{}))
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer st.Close()
	cred, enrolled, err := enrol.Load(*dataDir)
	if err != nil {
		return err
	}
	pending, err := st.OutboxCount(ctx)
	if err != nil {
		return err
	}
	quarantined, err := st.Quarantined(ctx)
	if err != nil {
		return err
	}
	ss, err := st.LoadSyncStatus(ctx)
	if err != nil {
		return err
	}
	if !enrolled {
		fmt.Fprintf(stdout, "Not enrolled: this kiosk works alone. Enrol it with `kiosk enrol --server URL --code CODE`.\n")
	} else {
		fmt.Fprintf(stdout, "Enrolled as %s, branch %s, server %s\n", cred.DeviceID, cred.Branch, cred.ServerURL)
		state := ss.State
		switch {
		case state == "":
			state = "not started yet"
		case pending == 0 && !ss.LastSuccess.IsZero() && state != "online":
			// The state saved when the program stopped: its link closed
			// with it, which is no fault when everything had been sent.
			state = "stopped, with everything sent (" + state + " since it stopped)"
		}
		fmt.Fprintf(stdout, "Sync: %s\n", state)
		if ss.LastSuccess.IsZero() {
			fmt.Fprintf(stdout, "Last success: never\n")
		} else {
			fmt.Fprintf(stdout, "Last success: %s (%s ago)\n", ss.LastSuccess.Local().Format("2006-01-02 15:04:05"), time.Since(ss.LastSuccess).Round(time.Second))
		}
		if ss.LastError != "" {
			fmt.Fprintf(stdout, "Last error: %s\n", ss.LastError)
		}
	}
	fmt.Fprintf(stdout, "Waiting to be sent: %d\n", pending)
	if len(quarantined) > 0 {
		fmt.Fprintf(stdout, "Refused by the server (kept here, not lost): %d\n", len(quarantined))
		for _, q := range quarantined {
			fmt.Fprintf(stdout, "  seq %d, event %s: %s\n", q.Seq, q.Event.ID, q.Reason)
		}
	}
	return nil
}

// defaultPublicURL is the tracking base of a kiosk that is not enrolled: a
// server on this machine, as in the demo.
const defaultPublicURL = "http://localhost:8080"

// trackingBase is the base of the tracking links a device prints: the
// --public-url flag if given, else what the server announced at enrolment
// (its own --public-url), else the address the device enrolled through. A
// link the customer's phone cannot open is worse than none, so the server's
// word comes before a guess.
func trackingBase(flag string, cred enrol.Credential, enrolled bool) string {
	switch {
	case flag != "":
		return strings.TrimSuffix(flag, "/")
	case enrolled && cred.TrackingURL != "":
		return cred.TrackingURL
	case enrolled:
		return strings.TrimSuffix(cred.ServerURL, "/")
	}
	return defaultPublicURL
}
