// Command server is Ombud's central server: it enrols branch devices, takes
// their complaints and events over sync, and serves the API. Subcommands:
//
//	server serve      --data DIR [--listen ADDR] [--tls-cert F --tls-key F] [--public-url URL]
//	                  [--timezone ZONE --ack-days N --respond-days N] [--catalogs DIR]
//	server branch add --data DIR --id ID --name NAME
//	server enrol-code --data DIR --branch ID [--ttl 24h] [--public-url URL]
//	server revoke     --data DIR --device ID
//	server devices    --data DIR
//	server staff add    --data DIR --branch ID --id STAFF --name NAME --role agent|supervisor  (PIN on stdin)
//	server staff pin    --data DIR --id STAFF  (new PIN on stdin)
//	server staff revoke --data DIR --id STAFF
//	server staff list   --data DIR [--branch ID]
//
// Every flag can also be set from the environment as OMBUD_SERVER_<FLAG>
// (upper case, dashes as underscores, e.g. OMBUD_SERVER_TLS_CERT); a flag on
// the command line wins. The administrative subcommands open the same
// SQLite file as a running server, which WAL and the busy timeout make safe.
package main

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"ombud/server/cases"
	"ombud/server/dispatch"
	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/staffapi"
	"ombud/server/storage"
	"ombud/server/storage/sqlite"
	"ombud/server/tracking"
	"ombud/server/tracking/i18n"
	"ombud/shared/event"
	"ombud/shared/lifecycle"
	"ombud/shared/sla"
	"ombud/sync/hub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  server serve      --data DIR [--listen 127.0.0.1:8080] [--tls-cert F --tls-key F] [--public-url URL]
                    [--timezone ZONE --ack-days 2 --respond-days 15] [--catalogs DIR]
  server branch add --data DIR --id ID --name NAME
  server enrol-code --data DIR --branch ID [--ttl 24h] [--public-url URL]
  server revoke     --data DIR --device ID
  server devices    --data DIR
  server staff add    --data DIR --branch ID --id STAFF --name NAME --role agent|supervisor
  server staff pin    --data DIR --id STAFF
  server staff revoke --data DIR --id STAFF
  server staff list   --data DIR [--branch ID]
  (staff add and staff pin read the PIN from the terminal, or one line of standard input)
Flags may be set as OMBUD_SERVER_<FLAG> in the environment (e.g. OMBUD_SERVER_DATA).`

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the whole program: args without the program name, getenv for the
// flag overrides, stdin for PINs. Tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return usageError{"no subcommand"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stderr)
	case "branch":
		if len(rest) == 0 || rest[0] != "add" {
			return usageError{"branch: want `server branch add --id ID --name NAME`"}
		}
		return branchAdd(ctx, rest[1:], getenv, stdout, stderr)
	case "enrol-code":
		return enrolCode(ctx, rest, getenv, stdout, stderr)
	case "revoke":
		return revoke(ctx, rest, getenv, stdout, stderr)
	case "devices":
		return devices(ctx, rest, getenv, stdout, stderr)
	case "staff":
		return staffCommand(ctx, rest, getenv, stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return usageError{fmt.Sprintf("unknown subcommand %q", cmd)}
	}
}

// parseFlags parses args, then fills every flag not given on the command
// line from OMBUD_SERVER_<FLAG>.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		key := "OMBUD_SERVER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = usageError{fmt.Sprintf("%s=%q: %v", key, v, serr)}
			}
		}
	})
	return err
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// openStore opens DIR/server.db, creating DIR (private: it holds credential
// hashes and complaints) if needed.
func openStore(ctx context.Context, dir string) (*sqlite.Store, error) {
	if dir == "" {
		return nil, usageError{"--data DIR is required"}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	return st, nil
}

type serveOptions struct {
	listen, data, tlsCert, tlsKey, publicURL, logLevel string
	shutdownTimeout, revocationInterval                time.Duration
	// The tracking page.
	timezone, catalogs   string
	ackDays, respondDays int
	trackRate            float64
	trackBurst           int
	// Dispatch, SLA and escalation (server/cases).
	dispatchConfig, slaConfig, escalationQueue string
	escalationInterval                         time.Duration
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) (err error) {
	var o serveOptions
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&o.data, "data", "", "data directory (holds server.db)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&o.publicURL, "public-url", "", "the address devices and phones use to reach this server, e.g. https://ombud.example.org")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish on shutdown")
	fs.DurationVar(&o.revocationInterval, "revocation-interval", enrol.DefaultWatchInterval, "how often live sync connections are re-checked for revocation")
	fs.StringVar(&o.timezone, "timezone", "Local", "time zone (IANA name such as Europe/Paris) for dates on the tracking page; as the kiosks' --timezone")
	fs.IntVar(&o.ackDays, "ack-days", 2, "business days to acknowledge, as promised on receipts (the kiosks' --ack-days)")
	fs.IntVar(&o.respondDays, "respond-days", 15, "business days to respond, as promised on receipts (the kiosks' --respond-days)")
	fs.StringVar(&o.catalogs, "catalogs", "", "directory of extra or corrected tracking-page catalogs (xx.json)")
	fs.Float64Var(&o.trackRate, "tracking-rate", tracking.DefaultRatePerMinute, "tracking page and API requests per minute per client IP")
	fs.IntVar(&o.trackBurst, "tracking-burst", tracking.DefaultBurst, "tracking requests a client may make at once before the rate applies")
	fs.StringVar(&o.dispatchConfig, "dispatch-config", "", "dispatch rules (JSON, see server/dispatch); re-read when the file changes or on SIGHUP; without it every case goes to its filing branch's queue")
	fs.StringVar(&o.slaConfig, "sla-config", "", "SLA calendars and policies (JSON, see shared/sla); without it cases get no deadlines and nothing escalates, and the tracking page shows the receipt's dates")
	fs.StringVar(&o.escalationQueue, "escalation-queue", "", "queue an overdue case moves to: team:<id> (declared in the dispatch config), branch, or empty to leave it in its queue")
	fs.DurationVar(&o.escalationInterval, "escalation-interval", time.Minute, "how often overdue cases are looked for")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	loc, err := time.LoadLocation(o.timezone)
	if err != nil {
		return usageError{fmt.Sprintf("--timezone %q: %v", o.timezone, err)}
	}
	if o.ackDays < 0 || o.respondDays < o.ackDays {
		return usageError{"--ack-days must be 0 or more and --respond-days at least --ack-days"}
	}
	words, err := i18n.Load(o.catalogs)
	if err != nil {
		return usageError{fmt.Sprintf("--catalogs: %v", err)}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: %v", o.logLevel, err)}
	}
	// Each package adds its own "component"; base has none, so keys are
	// not repeated.
	base := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	logger := base.With("component", "server")

	var tlsConfig *tls.Config
	if o.tlsCert != "" {
		// Loaded before listening, so a bad file fails the start, not the
		// first client.
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	st, err := openStore(ctx, o.data)
	if err != nil {
		return err
	}
	// Closed last, after every request and the watcher have finished.
	defer closeInto(&err, st)
	fleet, err := openFleetReader(filepath.Join(o.data, "server.db"))
	if err != nil {
		return err
	}
	defer closeInto(&err, fleet)

	watcher := enrol.NewWatcher(st, o.revocationInterval, base)
	api := httpapi.New(st, httpapi.Options{Logger: base, Branches: fleet})

	// The public tracking page (/t/{code}) and its JSON twin. The case
	// engine will replace ReceiptPromise with SLA dates (tracking.Deadlines).
	secret, err := tracking.LoadOrCreateSecret(o.data)
	if err != nil {
		return err
	}
	var origins []string
	if u, err := url.Parse(o.publicURL); err == nil && u.Scheme != "" && u.Host != "" {
		origins = append(origins, u.Scheme+"://"+u.Host)
	}
	// The case engine: routes every new case (dispatch rules), keeps its
	// deadlines (SLA) and escalates what is overdue. wake connects it with
	// the sync hub both ways, made below.
	wake := &wakeups{}
	rules := dispatch.Default
	if o.dispatchConfig != "" {
		w, err := dispatch.NewWatcher(o.dispatchConfig, 0, base)
		if err != nil {
			return fmt.Errorf("--dispatch-config: %w", err)
		}
		rules = w.Rules
		wake.dispatch = w
	}
	var slaCfg *sla.Config
	if o.slaConfig != "" {
		if slaCfg, err = sla.Load(o.slaConfig); err != nil {
			return fmt.Errorf("--sla-config: %w", err)
		}
	}
	engine, err := cases.New(cases.Config{
		Store: st, Dispatch: rules, SLA: slaCfg,
		EscalationQueue: o.escalationQueue, Interval: o.escalationInterval,
		Logger: base, Appended: wake.branch,
	})
	if err != nil {
		return fmt.Errorf("case engine: %w", err)
	}
	wake.engine = engine
	var deadlines tracking.Deadlines = tracking.ReceiptPromise{AckDays: o.ackDays, RespondDays: o.respondDays, Location: loc}
	if slaCfg != nil {
		deadlines = engineDeadlines{engine}
	}

	track, err := tracking.New(appendNotifier{Store: st, wake: wake}, tracking.Options{
		Logger: base, Secret: secret, Branches: fleet, Catalogs: words, Location: loc,
		Deadlines:     deadlines,
		RatePerMinute: o.trackRate, Burst: o.trackBurst, Origins: origins,
	})
	if err != nil {
		return err
	}
	api.Handle(tracking.PathLookup, track)
	api.Handle(tracking.PathPage, track)
	api.Handle(tracking.PathAPI, track)

	srv := &http.Server{
		// Security headers (CSP, nosniff, no-referrer, HSTS on TLS) on
		// every response, not only the tracking page's.
		Handler:           tracking.SecurityHeaders(api),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout or WriteTimeout: they would cut long-lived sync
		// websockets. Handlers bound their own bodies.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    slog.NewLogLogger(base.With("component", "http").Handler(), slog.LevelWarn),
	}
	// onShutdown runs, with the shutdown deadline, before http.Server.Shutdown:
	// Shutdown neither closes nor waits for hijacked (websocket) connections,
	// so whatever owns them stops them here.
	var onShutdown []func(context.Context) error

	// The sync endpoint (docs/SYNC.md). With Watch set, a device revoked from
	// the CLI is cut off (4002) within --revocation-interval.
	syncHub := hub.New(hub.Config{Store: pushNotifier{Store: st, wake: wake}, Watch: watcher.Watch, Logger: base})
	wake.hub = syncHub
	api.Handle(httpapi.PathSync, syncHub)
	onShutdown = append(onShutdown, syncHub.Shutdown) // close 4009, wait for its goroutines
	// The staff directory staff terminals sign people in with, offline
	// included (docs/API.md); the same device credentials as sync.
	api.Handle(staffapi.PathDirectory, staffapi.New(st, base))

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	logger.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "public_url", o.publicURL, "data", o.data)
	if tlsConfig == nil {
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
			// Enrolment answers carry credentials: in the clear only if a
			// TLS-terminating proxy sits in front.
			logger.Warn("serving plain HTTP on a non-loopback address: use --tls-cert/--tls-key or a TLS proxy")
		}
	}

	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	wg.Go(func() { watcher.Run(watchCtx) })
	wg.Go(func() { engine.Run(watchCtx) })
	if wake.dispatch != nil {
		wg.Go(func() { wake.dispatch.Run(watchCtx) })
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		wg.Go(func() {
			defer signal.Stop(hup)
			for {
				select {
				case <-hup:
					wake.dispatch.Reload()
					if err := wake.dispatch.LastError(); err != nil {
						logger.Error("dispatch rules not reloaded: the old rules stay", "err", err)
					} else {
						logger.Info("dispatch rules reloaded")
					}
				case <-watchCtx.Done():
					return
				}
			}
		})
	}

	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()

	var serveErr error
	select {
	case serveErr = <-served:
		// Serve only returns early on a listener failure.
	case <-ctx.Done():
		logger.Info("shutting down", "timeout", o.shutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
		for _, f := range onShutdown {
			if err := f(sctx); err != nil {
				logger.Warn("shutdown hook failed", "err", err)
			}
		}
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("shutdown timed out: closing remaining connections", "err", err)
			srv.Close()
		}
		cancel()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			serveErr = err
		}
	}
	stopWatch()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	logger.Info("stopped")
	return nil
}

// closeInto closes c and reports its error through *err unless an earlier
// error is there already.
func closeInto(err *error, c io.Closer) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// withStore runs fn on the store at dir and closes it, reporting a failed
// close (the final WAL checkpoint) as the command's error.
func withStore(ctx context.Context, dir string, fn func(*sqlite.Store) error) (err error) {
	st, err := openStore(ctx, dir)
	if err != nil {
		return err
	}
	defer closeInto(&err, st)
	return fn(st)
}

func branchAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("branch add", stderr)
	data := fs.String("data", "", "data directory (holds server.db)")
	id := fs.String("id", "", "branch id, short and stable (e.g. main)")
	name := fs.String("name", "", "branch name shown to staff and customers")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *id == "" || *name == "" {
		return usageError{"branch add: --id and --name are required"}
	}
	return withStore(ctx, *data, func(st *sqlite.Store) error {
		if err := st.CreateBranch(ctx, *id, *name); err != nil {
			return fmt.Errorf("branch add: %s", storage.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "Branch %s (%s) added.\n", *id, *name)
		return nil
	})
}

func enrolCode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("enrol-code", stderr)
	data := fs.String("data", "", "data directory (holds server.db)")
	branch := fs.String("branch", "", "branch the device will belong to")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code stays valid")
	publicURL := fs.String("public-url", "", "the server address the kiosk should use (shown in the instructions)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *branch == "" {
		return usageError{"enrol-code: --branch is required"}
	}
	return withStore(ctx, *data, func(st *sqlite.Store) error {
		code, expires, err := enrol.Issue(ctx, st, *branch, *ttl, time.Now())
		var ee *enrol.Error
		switch {
		case errors.As(err, &ee):
			return fmt.Errorf("enrol-code: %s", ee.Message)
		case err != nil:
			return fmt.Errorf("enrol-code: %s", storage.ErrorMessage(err))
		}
		server := *publicURL
		if server == "" {
			server = "<server address>"
		}
		fmt.Fprintf(stdout, "Enrolment code for branch %s:\n\n    %s\n\n", *branch, code)
		fmt.Fprintf(stdout, "It enrols one device and expires at %s.\n", expires.Local().Format("2006-01-02 15:04 MST"))
		fmt.Fprintf(stdout, "On the kiosk, run:\n\n    kiosk enrol --server %s --code %s\n", server, code)
		return nil
	})
}

func revoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("revoke", stderr)
	data := fs.String("data", "", "data directory (holds server.db)")
	device := fs.String("device", "", "device id to revoke (see `server devices`)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *device == "" {
		return usageError{"revoke: --device is required"}
	}
	return withStore(ctx, *data, func(st *sqlite.Store) error {
		if err := enrol.Revoke(ctx, st, *device, time.Now()); err != nil {
			return fmt.Errorf("revoke: %s", storage.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "Device %s revoked. A running server drops its connection within a few seconds;\n"+
			"the kiosk keeps working offline until it is enrolled again with a new code.\n", *device)
		return nil
	})
}

func devices(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("devices", stderr)
	data := fs.String("data", "", "data directory (holds server.db)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	// The store is opened first: it creates and migrates a new file.
	return withStore(ctx, *data, func(*sqlite.Store) (err error) {
		fleet, err := openFleetReader(filepath.Join(*data, "server.db"))
		if err != nil {
			return err
		}
		defer closeInto(&err, fleet)
		ds, err := fleet.ListDevices(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tBRANCH\tPREFIX\tENROLLED\tREVOKED")
		for _, d := range ds {
			revoked := "-"
			if d.Revoked() {
				revoked = d.RevokedAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Branch, d.Prefix, d.EnrolledAt.Local().Format(time.DateTime), revoked)
		}
		return tw.Flush()
	})
}

// wakeups connects the parts that store events with the parts that react
// to them, without any of them knowing the others: the hub wakes the case
// engine after a device push, and the engine and the tracking page wake the
// hub so a branch's devices get server-made events at once.
type wakeups struct {
	hub      *hub.Hub
	engine   *cases.Engine
	dispatch *dispatch.Watcher
}

func (w *wakeups) branch(b string) {
	if w.hub != nil {
		w.hub.Notify(b)
	}
}

// pushNotifier is the hub's storage: after a device's push commits, the
// case engine looks at it now rather than at its next poll.
type pushNotifier struct {
	storage.Store
	wake *wakeups
}

func (p pushNotifier) Push(ctx context.Context, deviceID string, batch []storage.DeviceEvent) (storage.PushResult, error) {
	res, err := p.Store.Push(ctx, deviceID, batch)
	if err == nil && p.wake.engine != nil {
		p.wake.engine.Notify()
	}
	return res, err
}

// appendNotifier is the tracking page's storage: what a customer adds on
// the page reaches the branch's devices and the case engine at once.
type appendNotifier struct {
	*sqlite.Store
	wake *wakeups
}

func (a appendNotifier) Append(ctx context.Context, events []event.Event) ([]storage.StoredEvent, error) {
	stored, err := a.Store.Append(ctx, events)
	if err == nil {
		seen := map[string]bool{}
		for _, e := range stored {
			if !seen[e.Event.Branch] {
				seen[e.Event.Branch] = true
				a.wake.branch(e.Event.Branch)
			}
		}
		if a.wake.engine != nil {
			a.wake.engine.Notify()
		}
	}
	return stored, err
}

// engineDeadlines gives the tracking page the SLA's dates.
type engineDeadlines struct{ e *cases.Engine }

func (d engineDeadlines) NextStep(ctx context.Context, c *lifecycle.Case) (tracking.NextStep, error) {
	s, ok, err := d.e.Deadlines(ctx, c.ID)
	if err != nil || !ok {
		return tracking.NextStep{}, err
	}
	return tracking.NextStep{Kind: tracking.StepKind(s.Name), Due: s.Due, Basis: tracking.BasisPolicy}, nil
}

// fleetReader answers the two fleet questions storage.Devices cannot yet: a
// branch's name and the list of devices. It is read-only SQL on the same
// file (a query-only pool, sqlite.DSN). Interim: these belong in
// server/storage as Devices.Branch and Devices.ListDevices (requested);
// delete this when they exist.
type fleetReader struct{ db *sql.DB }

var _ httpapi.BranchNames = (*fleetReader)(nil)

func openFleetReader(path string) (*fleetReader, error) {
	db, err := sql.Open("sqlite", sqlite.DSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("open fleet reader: %w", err)
	}
	db.SetMaxOpenConns(2)
	return &fleetReader{db: db}, nil
}

func (f *fleetReader) Close() error { return f.db.Close() }

// BranchName implements httpapi.BranchNames.
func (f *fleetReader) BranchName(ctx context.Context, id string) (string, error) {
	var name string
	err := f.db.QueryRowContext(ctx, `SELECT name FROM branches WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", storage.Errorf(storage.NotFound, "branch %s not found", id)
	}
	if err != nil {
		return "", fmt.Errorf("read branch %s: %w", id, err)
	}
	return name, nil
}

// ListDevices returns every device, in enrolment order.
func (f *fleetReader) ListDevices(ctx context.Context) ([]storage.Device, error) {
	rows, err := f.db.QueryContext(ctx, `SELECT id, branch_id, prefix, enrolled_at, revoked_at FROM devices ORDER BY enrolled_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var ds []storage.Device
	for rows.Next() {
		var (
			d        storage.Device
			enrolled int64
			revoked  sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.Branch, &d.Prefix, &enrolled, &revoked); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		d.EnrolledAt = time.Unix(0, enrolled).UTC()
		if revoked.Valid {
			d.RevokedAt = time.Unix(0, revoked.Int64).UTC()
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}
