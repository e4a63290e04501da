// Command server is Ombud's central server: it enrols branch devices, takes
// their complaints and events over sync, and serves the API. Subcommands:
//
//	server serve      --data DIR [--listen ADDR] [--tls-cert F --tls-key F] [--public-url URL]
//	                  [--timezone ZONE --ack-days N --respond-days N] [--catalogs DIR]
//	server branch add --data DIR --id ID --name NAME
//	server enrol-code --data DIR --branch ID [--role kiosk|staff|team] [--teams T,...] [--ttl 24h] [--public-url URL]
//	server revoke     --data DIR --device ID
//	server devices    --data DIR
//	server cases      --data DIR [--branch ID]
//	server device role --data DIR --device ID --role kiosk|staff|team [--teams T,...]
//	server device show --data DIR --device ID [--limit 20]
//	server staff add    --data DIR --branch ID --id STAFF --name NAME --role agent|supervisor|manager|administrator [--teams T,...]  (PIN on stdin)
//	server staff pin    --data DIR --id STAFF  (new PIN on stdin)
//	server staff revoke --data DIR --id STAFF
//	server staff list   --data DIR [--branch ID]
//	server webhook add  --data DIR --url URL [--events T,...] [--include-text] [--allow-private-webhooks]
//	server webhook list|remove|deliveries --data DIR [--id ID]
//	server notifications --data DIR [--complaint ID] [--limit 50]
//	server backup  --data DIR --to FILE
//	server restore --data DIR --from FILE
//	server migrate    --data DIR
//
// Every command takes --db postgres://... instead of --data DIR to use a
// PostgreSQL database, which several `server serve` replicas may share.
//
// Every flag can also be set from the environment as OMBUD_SERVER_<FLAG>
// (upper case, dashes as underscores, e.g. OMBUD_SERVER_TLS_CERT); a flag on
// the command line wins. The administrative subcommands open the same
// SQLite file as a running server, which WAL and the busy timeout make safe.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"ombud/server/admit"
	"ombud/server/central"
	"ombud/server/enrol"
	"ombud/server/httpapi"
	"ombud/server/staffapi"
	"ombud/server/storage"
	"ombud/server/tracking"
	"ombud/server/tracking/i18n"
	"ombud/shared/device"
	"ombud/shared/envflag"
	"ombud/shared/retention"
	"ombud/shared/sla"
	"ombud/shared/textsafe"
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
                    [--smtp-addr HOST:PORT --smtp-from ADDR] [--sms-gateway-url URL] [--allow-private-webhooks]
                    [--retention-config FILE]
                    [--metrics-addr 127.0.0.1:9464 [--metrics-token-file F]]
  server branch add --data DIR --id ID --name NAME
  server enrol-code --data DIR --branch ID [--role kiosk|staff|team] [--teams T,...] [--ttl 24h] [--public-url URL]
  server revoke     --data DIR --device ID
  server devices    --data DIR
  server cases      --data DIR [--branch ID]   every case: state, category, queue, dates (no codes, no text)
  server device role --data DIR --device ID --role kiosk|staff|team [--teams T,...]
  server device show --data DIR --device ID [--limit 20]
  server staff add    --data DIR --branch ID --id STAFF --name NAME --role agent|supervisor|manager|administrator [--teams T,...]
  server staff pin    --data DIR --id STAFF
  server staff revoke --data DIR --id STAFF
  server staff list   --data DIR [--branch ID]
  server console set-password --data DIR --id STAFF      (password from the terminal or one line of stdin)
  server console totp   --data DIR --id STAFF [--reset]  (prints the key and recovery codes; --reset: enrol at next sign-in)
  server console scope  --data DIR --id STAFF --branches B,...|*
  server console signout --data DIR --id STAFF           (ends every console session of the account)
  server console audit  --data DIR [--limit 50]
  server webhook add  --data DIR --url URL [--events T,...] [--include-text] [--allow-private-webhooks]
  server webhook list --data DIR
  server webhook remove     --data DIR --id ID
  server webhook deliveries --data DIR --id ID [--limit 50]
  server notifications --data DIR [--complaint ID] [--limit 50]
  server audit head   --data DIR
  server audit verify --data DIR [--head SEQ:HASH]
  server erasure request --data DIR --by SUPERVISOR (--code C | --email E | --phone P) --reason TEXT
  server erasure approve --data DIR --by OTHER-SUPERVISOR --id ID
  server erasure list    --data DIR
  server erasure reapply --data DIR      (after restoring an older copy of server.db)
  server hold set   --data DIR --by SUPERVISOR --code C --reason TEXT
  server hold clear --data DIR --by SUPERVISOR --code C
  server hold list  --data DIR
  server subject-access --data DIR --by SUPERVISOR (--code C | --email E | --phone P) [--json F] [--html F]
  server privacy-log --data DIR [--limit 50]
  server backup  --data DIR --to FILE    (online: while the server runs)
  server restore --data DIR --from FILE  (with the server stopped)
  server migrate    --data DIR
  server kpi rebuild --data DIR [--sla-config F | --ack-days N --respond-days N] [--timezone TZ]
                    (recomputes the improvement figures from the event log; the server's own SLA and zone flags)
  server gen --data DIR --cases N --branches M [--seed 1]
                    (a synthetic data set for benchmarks and trials, into a new SQLite database; never production)
  Every command takes --db postgres://USER@HOST:5432/DB instead of --data DIR to use PostgreSQL
  (OMBUD_SERVER_DB); several servers may then serve one database.
  (staff add and staff pin read the PIN from the terminal, or one line of standard input)
Flags may be set as OMBUD_SERVER_<FLAG> in the environment (e.g. OMBUD_SERVER_DATA).`

// serveClock is the served program's retention clock: nil (the wall
// clock) except in this package's tests, which move it past a retention
// period without waiting a year.
var serveClock atomic.Pointer[func() time.Time]

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
	case "cases":
		return casesCommand(ctx, rest, getenv, stdout, stderr)
	case "device":
		return deviceCommand(ctx, rest, getenv, stdout, stderr)
	case "staff":
		return staffCommand(ctx, rest, getenv, stdin, stdout, stderr)
	case "console":
		return consoleCommand(ctx, rest, getenv, stdin, stdout, stderr)
	case "webhook":
		return webhookCommand(ctx, rest, getenv, stdout, stderr)
	case "notifications":
		return notifications(ctx, rest, getenv, stdout, stderr)
	case "audit":
		return auditCommand(ctx, rest, getenv, stdout, stderr)
	case "erasure":
		return erasureCommand(ctx, rest, getenv, stdout, stderr)
	case "hold":
		return holdCommand(ctx, rest, getenv, stdout, stderr)
	case "subject-access":
		return subjectAccess(ctx, rest, getenv, stdout, stderr)
	case "privacy-log":
		return privacyLog(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return backup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return restore(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "kpi":
		return kpiCommand(ctx, rest, getenv, stdout, stderr)
	case "gen":
		return genCommand(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return usageError{fmt.Sprintf("unknown subcommand %q", cmd)}
	}
}

// parseFlags parses args, then fills every flag not given on the command
// line from OMBUD_SERVER_<FLAG> (shared/envflag); any mistake is a usage
// error.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	err := envflag.Parse(fs, args, envPrefix, getenv)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{err.Error()}
}

// envPrefix starts every environment variable the server reads.
const envPrefix = "OMBUD_SERVER_"

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// databaseFlags registers --data and --db on fs: where the database is.
func databaseFlags(fs *flag.FlagSet) *central.Database {
	var d central.Database
	fs.StringVar(&d.Data, "data", "", "data directory (holds server.db, the embedded SQLite database)")
	fs.StringVar(&d.DB, "db", "", "PostgreSQL database URL (postgres://user@host:5432/db?sslmode=...) instead of SQLite in --data; several servers may share it")
	return &d
}

// openStore opens the database (central.OpenDatabase) for a command.
func openStore(ctx context.Context, d central.Database) (central.Store, error) {
	if d.Data == "" && d.DB == "" {
		return nil, usageError{"--data DIR or --db postgres://... is required"}
	}
	return central.OpenDatabase(ctx, d, central.StoreOptions{})
}

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var (
		cfg                                                   central.Config
		logLevel, timezone, catalogs, slaConfig, trustedProxy string
		retentionConfig                                       string
		metricsTokenFile                                      string
	)
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.Data, "data", "", "data directory (holds server.db, the embedded SQLite database, and the tracking secret)")
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL database URL (postgres://user@host:5432/db?sslmode=...) instead of SQLite in --data; several servers (replicas) may share it")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "the address devices and phones use to reach this server, e.g. https://ombud.example.org")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long in-flight requests may take to finish on shutdown")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", central.DefaultReadTimeout, "how long a client may take to send one request, body included (sync websockets are not cut)")
	fs.IntVar(&cfg.MaxConnsPerClient, "max-conns-per-client", central.DefaultMaxConnsPerClient, "connections one address (an IPv6 /64) may hold open at once; -1 for no cap")
	fs.StringVar(&trustedProxy, "trusted-proxy", "", "addresses or CIDRs of the proxies in front (e.g. 10.0.0.5,fd00::/8): only their X-Forwarded-For is believed, and they are not capped")
	fs.DurationVar(&cfg.RevocationInterval, "revocation-interval", hub.DefaultRevokeCheckInterval, "how often live sync connections are re-checked for revocation")
	fs.DurationVar(&cfg.MaxOffline, "max-offline", admit.DefaultMaxOffline, "how long ago a staff action signed in offline (the server out of reach) may have been recorded; older ones are refused")
	fs.DurationVar(&cfg.SessionTTL, "staff-session", staffapi.DefaultSessionTTL, "how long a staff sign-in the server confirmed lasts on its terminal")
	fs.StringVar(&timezone, "timezone", "Local", "time zone (IANA name such as Europe/Paris) for dates on the tracking page; as the kiosks' --timezone")
	fs.IntVar(&cfg.AckDays, "ack-days", 2, "business days to acknowledge, without --sla-config")
	fs.IntVar(&cfg.RespondDays, "respond-days", 15, "business days to respond, without --sla-config")
	fs.StringVar(&catalogs, "catalogs", "", "directory of extra or corrected tracking-page catalogs (xx.json)")
	fs.Float64Var(&cfg.TrackRate, "tracking-rate", tracking.DefaultRatePerMinute, "tracking page and API requests per minute per client IP")
	fs.IntVar(&cfg.TrackBurst, "tracking-burst", tracking.DefaultBurst, "tracking requests a client may make at once before the rate applies")
	fs.StringVar(&cfg.DispatchConfig, "dispatch-config", "", "dispatch rules (JSON, see server/dispatch); re-read when the file changes or on SIGHUP; without it every case goes to its filing branch's queue")
	fs.StringVar(&slaConfig, "sla-config", "", "SLA calendars, policies and the customer's time to answer a decision (JSON, see shared/sla); sent to kiosks and staff terminals for their receipts and queues; without it, --ack-days and --respond-days business days (Monday to Friday, 09:00-17:00, --timezone)")
	fs.StringVar(&cfg.EscalationQueue, "escalation-queue", "", "queue an overdue case moves to: team:<id> (declared in the dispatch config), branch, or empty to leave it in its queue")
	fs.DurationVar(&cfg.EscalationInterval, "escalation-interval", time.Minute, "how often overdue cases are looked for")
	fs.DurationVar(&cfg.LeaseRetry, "lease-retry", 2*time.Second, "with --db: how often a replica that does not run the case engine and the outbound queues tries to take them over (when the replica running them has died)")
	fs.StringVar(&retentionConfig, "retention-config", "", "retention policy (JSON: default_months, categories; see shared/retention): personal data of a closed case is redacted once its period runs out; without it, 12 months after closure, as the kiosks say (they receive the policy from the server: GET /api/v1/retention)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "address of a separate listener serving /metrics (Prometheus), e.g. 127.0.0.1:9464; keep it off the public network; empty: no metrics")
	fs.StringVar(&metricsTokenFile, "metrics-token-file", "", "file holding a bearer token that scrapes of /metrics must present (Authorization: Bearer ...)")
	outbound := outboundFlags(fs, &cfg)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if err := outbound.apply(&cfg); err != nil {
		return err
	}
	var err error
	if cfg.Location, err = time.LoadLocation(timezone); err != nil {
		return usageError{fmt.Sprintf("--timezone %q: %v", timezone, err)}
	}
	if cfg.AckDays < 1 || cfg.RespondDays < cfg.AckDays {
		return usageError{"--ack-days must be 1 or more and --respond-days at least --ack-days"}
	}
	if cfg.Catalogs, err = i18n.Load(catalogs); err != nil {
		return usageError{fmt.Sprintf("--catalogs: %v", err)}
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return usageError{"--tls-cert and --tls-key go together"}
	}
	if cfg.Data == "" && cfg.DB == "" {
		return usageError{"--data DIR or --db postgres://... is required"}
	}
	if cfg.TrustedProxies, err = httpapi.ParseTrusted(trustedProxy); err != nil {
		return usageError{fmt.Sprintf("--trusted-proxy %q: %v", trustedProxy, err)}
	}
	if metricsTokenFile != "" {
		if cfg.MetricsAddr == "" {
			return usageError{"--metrics-token-file needs --metrics-addr"}
		}
		if cfg.MetricsToken, err = readToken(metricsTokenFile); err != nil {
			return usageError{fmt.Sprintf("--metrics-token-file: %v", err)}
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: %v", logLevel, err)}
	}
	if cfg.Retention, err = retention.Load(retentionConfig); err != nil {
		return usageError{fmt.Sprintf("--retention-config: %v", err)}
	}
	if slaConfig != "" {
		if cfg.SLA, err = sla.Load(slaConfig); err != nil {
			return fmt.Errorf("--sla-config: %w", err)
		}
	}
	// Each package adds its own "component"; the base logger has none, so
	// keys are not repeated.
	cfg.Logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	logger := cfg.Logger.With("component", "server")

	if c := serveClock.Load(); c != nil {
		cfg.Now = *c
	}
	srv := central.New(cfg)
	if err := srv.Open(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if err := srv.ReloadDispatch(); err != nil {
				logger.Error("dispatch rules not reloaded: the old rules stay", "err", err)
			} else {
				logger.Info("dispatch rules reloaded")
			}
			continue
		case err := <-srv.Done():
			// Serve only returns early on a listener failure.
			return errors.Join(fmt.Errorf("serve: %w", err), srv.Close(context.Background()))
		case <-ctx.Done():
		}
		return srv.Close(context.Background())
	}
}

// readToken reads a secret from a file: its first line, trimmed. An empty
// one is refused rather than taken as "no token".
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	tok = strings.TrimSpace(tok)
	if len(tok) < 16 {
		return "", errors.New("the token must be at least 16 characters on the file's first line")
	}
	return tok, nil
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
func withStore(ctx context.Context, d central.Database, fn func(central.Store) error) (err error) {
	st, err := openStore(ctx, d)
	if err != nil {
		return err
	}
	defer closeInto(&err, st)
	return fn(st)
}

func branchAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("branch add", stderr)
	data := databaseFlags(fs)
	id := fs.String("id", "", "branch id, short and stable (e.g. main)")
	name := fs.String("name", "", "branch name shown to staff and customers")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *id == "" || *name == "" {
		return usageError{"branch add: --id and --name are required"}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		if err := st.CreateBranch(ctx, *id, *name); err != nil {
			return fmt.Errorf("branch add: %s", storage.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "Branch %s (%s) added.\n", *id, *name)
		return nil
	})
}

func enrolCode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("enrol-code", stderr)
	data := databaseFlags(fs)
	branch := fs.String("branch", "", "branch the device will belong to")
	role := fs.String("role", string(device.Kiosk), "what the device is: kiosk (a customer kiosk: files complaints, receives nothing), staff (a branch's staff terminal) or team (a team terminal, with --teams)")
	teams := fs.String("teams", "", "for --role team: the teams it serves, comma-separated (ids of the dispatch config's team:<id> queues)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code stays valid")
	publicURL := fs.String("public-url", "", "the server address the kiosk should use (shown in the instructions)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *branch == "" {
		return usageError{"enrol-code: --branch is required"}
	}
	g, err := grantOf(*role, *teams)
	if err != nil {
		return usageError{"enrol-code: " + err.Error()}
	}
	g.Branch = *branch
	return withStore(ctx, *data, func(st central.Store) error {
		code, expires, err := enrol.Issue(ctx, st, g, *ttl, time.Now())
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
		fmt.Fprintf(stdout, "Enrolment code for a %s of branch %s%s:\n\n    %s\n\n", g.Role.Describe(), *branch, teamsNote(g.Teams), code)
		fmt.Fprintf(stdout, "It enrols one device and expires at %s.\n", expires.Local().Format("2006-01-02 15:04 MST"))
		fmt.Fprintf(stdout, "On the device, run:\n\n    kiosk enrol --server %s --code %s\n", server, code)
		return nil
	})
}

// deviceShow is `server device show`: what the server holds of a device
// (its role, its last hello and backlog, its latest events and the
// rejections it was sent), for an operator answering "did it sync?". No
// complaint text: event types, actors, times and attribution only.
func deviceShow(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device show", stderr)
	data := databaseFlags(fs)
	id := fs.String("device", "", "device id (see `server devices`)")
	limit := fs.Int("limit", 20, "how many of its latest events and rejections to list")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *id == "" {
		return usageError{"device show: --device is required"}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		d, err := st.Device(ctx, *id)
		if err != nil {
			return fmt.Errorf("device show: %s", storage.ErrorMessage(err))
		}
		act, err := st.DeviceActivity(ctx, *id, *limit)
		if err != nil {
			return fmt.Errorf("device show: %s", storage.ErrorMessage(err))
		}
		when := func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.Local().Format(time.DateTime)
		}
		revoked := "not revoked"
		if d.Revoked() {
			revoked = "revoked " + when(d.RevokedAt)
		}
		fmt.Fprintf(stdout, "Device %s: %s of branch %s%s, prefix %s, enrolled %s, %s.\n",
			d.ID, d.Role.Describe(), d.Branch, teamsNote(d.Teams), d.Prefix, when(d.EnrolledAt), revoked)
		if d.LastHelloAt.IsZero() {
			fmt.Fprintf(stdout, "It has not connected since this server recorded hellos. Acknowledged up to sequence %d.\n", d.AckedSeq)
		} else {
			fmt.Fprintf(stdout, "Last connected %s (%s), had assigned sequence %d; acknowledged up to %d: %d waiting then.\n",
				when(d.LastHelloAt), d.Software, d.LastDeviceSeq, d.AckedSeq, max(0, d.LastDeviceSeq-d.AckedSeq))
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "\nLatest events (newest first)\nSEQ\tSTORED\tTYPE\tACTOR\tATTRIBUTED\tCOMPLAINT\n")
		for _, e := range act.Events {
			actor := string(e.Event.Actor.Kind)
			if e.Event.Actor.ID != "" {
				actor += ":" + e.Event.Actor.ID
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.DeviceSeq, when(e.StoredAt), e.Event.Type, actor, e.Attest, e.Event.ComplaintID)
		}
		fmt.Fprintf(tw, "\nRejections (newest first)\nSEQ\tREJECTED\tCODE\tEVENT\tREASON\n")
		for _, r := range act.Rejections {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", r.DeviceSeq, when(r.RejectedAt), r.Code, r.EventID, r.Reason)
		}
		return tw.Flush()
	})
}

// grantOf reads --role and --teams.
func grantOf(role, teams string) (enrol.Grant, error) {
	g := enrol.Grant{Role: device.Role(role)}
	if !g.Role.Valid() {
		return g, fmt.Errorf("--role %q: want kiosk, staff or team", role)
	}
	if teams != "" {
		g.Teams = strings.Split(teams, ",")
	}
	if err := device.CheckTeams(g.Role, g.Teams); err != nil {
		return g, fmt.Errorf("--teams: %v", err)
	}
	return g, nil
}

func teamsNote(teams []string) string {
	if len(teams) == 0 {
		return ""
	}
	return " (teams " + strings.Join(teams, ", ") + ")"
}

// deviceCommand is `server device role`: the operator says what an
// enrolled device is (a staff terminal enrolled before roles existed came
// out of the upgrade as a kiosk, the least privileged role).
func deviceCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "show" {
		return deviceShow(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "role" {
		return usageError{"device: want `server device role --device ID --role kiosk|staff|team [--teams T,...]` or `server device show --device ID`"}
	}
	fs := newFlagSet("device role", stderr)
	data := databaseFlags(fs)
	id := fs.String("device", "", "device id (see `server devices`)")
	role := fs.String("role", "", "kiosk, staff or team")
	teams := fs.String("teams", "", "for --role team: the teams it serves, comma-separated")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	if *id == "" || *role == "" {
		return usageError{"device role: --device and --role are required"}
	}
	g, err := grantOf(*role, *teams)
	if err != nil {
		return usageError{"device role: " + err.Error()}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		if err := st.SetDeviceRole(ctx, *id, g.Role, g.Teams); err != nil {
			return fmt.Errorf("device role: %s", storage.ErrorMessage(err))
		}
		fmt.Fprintf(stdout, "Device %s is now a %s%s. It gets what the role allows at its next connection.\n", *id, g.Role.Describe(), teamsNote(g.Teams))
		return nil
	})
}

func revoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("revoke", stderr)
	data := databaseFlags(fs)
	device := fs.String("device", "", "device id to revoke (see `server devices`)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *device == "" {
		return usageError{"revoke: --device is required"}
	}
	return withStore(ctx, *data, func(st central.Store) error {
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
	data := databaseFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		ds, err := st.ListDevices(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		// LAST SEEN and WAITING are from the device's last hello: a device
		// seen recently with events still waiting is not catching up (a
		// link that keeps dropping); `server device show` says more.
		fmt.Fprintln(tw, "ID\tBRANCH\tROLE\tPREFIX\tENROLLED\tLAST SEEN\tWAITING\tREVOKED")
		for _, d := range ds {
			revoked := "-"
			if d.Revoked() {
				revoked = d.RevokedAt.Local().Format(time.DateTime)
			}
			role := string(d.Role)
			if len(d.Teams) > 0 {
				role += ":" + strings.Join(d.Teams, ",")
			}
			seen := "never"
			if !d.LastHelloAt.IsZero() {
				seen = d.LastHelloAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.ID, d.Branch, role, d.Prefix,
				d.EnrolledAt.Local().Format(time.DateTime), seen, max(0, d.LastDeviceSeq-d.AckedSeq), revoked)
		}
		return tw.Flush()
	})
}

// casesCommand lists the cases the server holds, oldest first: id,
// branch, state, category, queue, when filed and what is due next, in the
// machine's local time zone (TZ). Never a tracking code (enough to act on a
// case on its public page) nor the customer's words: an operator's
// terminal and its scroll-back are no place for them.
func casesCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cases", stderr)
	data := databaseFlags(fs)
	branch := fs.String("branch", "", "only this branch's cases")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "COMPLAINT\tBRANCH\tSTATE\tCATEGORY\tQUEUE\tFILED\tNEXT DUE")
		when := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return t.Local().Format("2006-01-02 15:04")
		}
		n, after := 0, ""
		for {
			rows, err := st.CasesAfter(ctx, after, storage.MaxPage)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if *branch != "" && r.Branch != *branch {
					continue
				}
				next := "-"
				if !r.NextDue.IsZero() {
					next = r.NextTarget + " by " + when(r.NextDue)
				}
				queue := r.Queue
				if queue == "" {
					queue = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ComplaintID, textsafe.Line(r.Branch), r.State,
					textsafe.Line(r.Category), textsafe.Line(queue), when(r.FiledAt), next)
				n++
			}
			if len(rows) < storage.MaxPage {
				break
			}
			after = rows[len(rows)-1].ComplaintID
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d case(s).\n", n)
		return nil
	})
}

// migrate applies the pending schema migrations and says where the schema
// is. serve migrates at start-up too; this lets an operator do it first (an
// upgrade's migrations before any new replica starts). Replicas starting at
// once are safe either way: migrations take a lock.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	data := databaseFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		fmt.Fprintf(stdout, "Database %s is migrated to the latest schema.\n", data)
		return nil
	})
}
