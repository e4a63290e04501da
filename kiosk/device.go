package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"ombud/kiosk/enrol"
	"ombud/kiosk/slarules"
	"ombud/shared/sla"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gdamore/tcell/v2"

	"ombud/kiosk/i18n"
	"ombud/kiosk/printer"
	"ombud/kiosk/retentionrules"
	"ombud/kiosk/store"
	"ombud/shared/envflag"
	"ombud/shared/retention"
	"ombud/sync/client"
)

// What the two programs of a branch device, the customer kiosk and the
// staff terminal (`kiosk staff`), share: the options they both take, what
// they open before their screens (the log, the branch's time zone, the
// message catalogs, the complaint categories, the receipt printer, the
// store) and how a screen runs with the background work beside it.

// deviceOptions are the options both programs take. Each defines its own
// flags for them, worded and defaulted for its own use.
type deviceOptions struct {
	dataDir, logFile                      string
	printerSpec, paper, qrMode, publicURL string
	codePage                              string
	timezone, categoriesFile              string
	// retentionFile is the server's retention policy file: the contact
	// notice states its period (shared/retention).
	retentionFile string
	// catalogsDir and language are the kiosk's --catalogs and --lang; the
	// staff terminal leaves them empty and has the built-in catalogs.
	catalogsDir, language string
	ackDays, respondDays  int
	allowQuit             bool
}

// check refuses the options neither program can work with.
func (o deviceOptions) check() error {
	switch {
	case o.ackDays < 1 || o.respondDays < o.ackDays:
		return errors.New("--ack-days must be 1 or more and --respond-days at least --ack-days")
	case o.paper != "80mm" && o.paper != "58mm":
		return fmt.Errorf("--paper %q: want 80mm or 58mm", o.paper)
	case o.qrMode != "raster" && o.qrMode != "native":
		return fmt.Errorf("--printer-qr %q: want raster or native", o.qrMode)
	}
	if _, err := printer.ParseCodePage(o.codePage); err != nil {
		return fmt.Errorf("--printer-codepage: %w", err)
	}
	return nil
}

// parseFlags parses args and then the environment (package envflag); a
// stray argument is answered with where the usage is, help.
func parseFlags(fs *flag.FlagSet, args []string, prefix string, getenv func(string) string, help string) error {
	err := envflag.Parse(fs, args, prefix, getenv)
	if ae, ok := errors.AsType[*envflag.ArgError](err); ok {
		return fmt.Errorf("unexpected argument %q (see %s)", ae.Arg, help)
	}
	return err
}

// device is what a program opens before its screen; Close closes it.
type device struct {
	dataDir string
	logFile *os.File
	// base carries no component, so that none is repeated: each part
	// names itself (component=tui, filing, sync...); log is the program's
	// own lines.
	base, log  *slog.Logger
	loc        *time.Location
	bundle     *i18n.Bundle
	categories []i18n.Category
	retention  retention.Policy
	printer    printer.Printer // nil: printing disabled
}

// openDevice opens what o names for the program that logs as component,
// by default into logName in the data directory. The terminal belongs to
// the screen, so the log goes to a file for staff; it never holds
// customers' text or contact details.
func openDevice(o deviceOptions, component, logName string) (_ *device, err error) {
	d := &device{dataDir: o.dataDir}
	if err := privateDir(o.dataDir); err != nil {
		return nil, err
	}
	if d.logFile, err = openLog(o.logFile, o.dataDir, logName); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.logFile.Close()
		}
	}()
	d.base = slog.New(slog.NewJSONHandler(d.logFile, nil))
	d.log = d.base.With("component", component)

	if d.loc, err = time.LoadLocation(o.timezone); err != nil {
		return nil, fmt.Errorf("--timezone %q: %w", o.timezone, err)
	}
	if d.bundle, err = i18n.Load(o.catalogsDir); err != nil {
		return nil, fmt.Errorf("message catalogs: %w", err)
	}
	if o.language != "" && !d.bundle.Has(o.language) {
		return nil, fmt.Errorf("--lang %q: no catalog for it (have %s)", o.language, strings.Join(d.bundle.Tags(), ", "))
	}
	if d.retention, err = retention.Load(o.retentionFile); err != nil {
		return nil, fmt.Errorf("--retention-config: %w", err)
	}
	d.categories = i18n.DefaultCategories()
	if o.categoriesFile != "" {
		if d.categories, err = i18n.LoadCategories(o.categoriesFile); err != nil {
			return nil, fmt.Errorf("--categories: %w", err)
		}
	}
	// Languages added as catalogs label the categories too (topic.<id>).
	d.categories = d.bundle.Labelled(d.categories)
	// nil: printing disabled; the kiosk's receipt screen says to take a
	// photo, the staff terminal to write the code down.
	if d.printer, err = openPrinter(o.printerSpec, o.paper, o.qrMode, o.codePage); err != nil {
		return nil, err
	}
	return d, nil
}

// slaRules loads the SLA rules this device dates receipts and queues by:
// the server's as last received (kiosk/slarules), else the fallback from
// the device's --ack-days, --respond-days and --timezone. A device that is
// not enrolled keeps the fallback.
func (d *device) slaRules(ctx context.Context, o deviceOptions, st *store.Store, cred enrol.Credential, enrolled bool, onChange func(context.Context)) (*slarules.Rules, error) {
	fallback, err := sla.Fallback(o.ackDays, o.respondDays, d.loc)
	if err != nil {
		return nil, err
	}
	cfg := slarules.Config{Store: st, Fallback: fallback, OnChange: onChange, Logger: d.base}
	if enrolled {
		cfg.ServerURL, cfg.Authorization = cred.ServerURL, cred.AuthorizationHeader()
	}
	return slarules.New(ctx, cfg)
}

// retentionRules loads the retention policy this device's privacy notice
// states: the server's as last received (kiosk/retentionrules), else its
// --retention-config (or the default) until the server first answers. A
// device that is not enrolled keeps that fallback.
func (d *device) retentionRules(ctx context.Context, st *store.Store, cred enrol.Credential, enrolled bool) (*retentionrules.Rules, error) {
	cfg := retentionrules.Config{Store: st, Fallback: d.retention, Logger: d.base}
	if enrolled {
		cfg.ServerURL, cfg.Authorization = cred.ServerURL, cred.AuthorizationHeader()
	}
	return retentionrules.New(ctx, cfg)
}

// Close closes the log.
func (d *device) Close() error { return d.logFile.Close() }

// openStore opens the device's database.
func (d *device) openStore(ctx context.Context, p store.Projection, opts store.Options) (*store.Store, error) {
	st, err := store.OpenWith(ctx, dbPath(d.dataDir), d.base, p, opts)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return st, nil
}

// syncTask is a task for runScreen that runs the sync client. The client
// returns early only when reconnecting cannot help (revoked, diverged):
// the device keeps working offline and staff see why in the log and in
// `kiosk status`.
func (d *device) syncTask(syncer *client.Client) func(context.Context) {
	return func(ctx context.Context) {
		if err := syncer.Run(ctx); err != nil {
			d.log.Error("sync stopped", "err", err)
		}
	}
}

// screenApp is either program's screens.
type screenApp interface {
	Run(tcell.Screen) error
	Stop()
}

// runScreen shows app on screen (the terminal when nil) until ctx ends or
// the app stops itself, with each task running meanwhile in a goroutine of
// its own; it then cancels the tasks and waits for them.
func runScreen(ctx context.Context, app screenApp, screen tcell.Screen, tasks ...func(context.Context)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, task := range tasks {
		wg.Go(func() { task(ctx) })
	}
	go func() {
		<-ctx.Done()
		app.Stop()
	}()
	err := app.Run(screen)
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("screen: %w", err)
	}
	return nil
}

func dbPath(dataDir string) string { return filepath.Join(dataDir, "kiosk.db") }

// openPrinter opens the receipt printer the flags name; nil for "none".
func openPrinter(spec, paper, qrMode, codePage string) (printer.Printer, error) {
	if spec == "none" {
		return nil, nil
	}
	opts := printer.Options{QR: printer.QRRaster, CodePage: printer.CodePage(codePage)}
	if qrMode == "native" {
		opts.QR = printer.QRNative
	}
	if paper == "58mm" {
		opts.PaperDots, opts.Columns = printer.Paper58mm, 32
	}
	prn, err := printer.Open(spec, opts)
	if err != nil {
		return nil, fmt.Errorf("--printer: %w", err)
	}
	return prn, nil
}

// openLog opens the log file for appending: path, or name in dataDir. It
// is the owner's alone (ids and sync state, but still no one else's
// business): made 0600, and tightened if others could read it.
func openLog(path, dataDir, name string) (*os.File, error) {
	if path == "" {
		path = filepath.Join(dataDir, name)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil {
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if cerr := f.Chmod(perm &^ 0o077); cerr != nil {
				err = fmt.Errorf("%s can be read by other users (mode %#o) and could not be made private (%v): run `chmod 600 %s` as its owner", path, perm, cerr, path)
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// privateDir makes the data directory, or checks it: the owner's alone
// (0700), whatever the umask. It holds the database with customers'
// complaints, the device credential and the log. One that others could
// read is tightened; when that is not possible (another user's
// directory) the program refuses to start, saying how to fix it.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("data directory %s can be read by other users (mode %#o) and could not be made private (%v): run `chmod 700 %s` as its owner", dir, perm, err, dir)
		}
	}
	return nil
}
