// Command loadsim runs simulated devices against a sync server and reports
// what the sync path delivers: complaints durably stored at the server per
// second, filing-to-durable latency percentiles, catch-up time for a
// backlog, and server memory per idle connection (BENCHMARKS.md, "Sync").
//
//	go run ./sync/loadsim --scenario=catchup --complaints=10000
//	go run ./sync/loadsim --scenario=burst   --devices=1000 --complaints=20
//	go run ./sync/loadsim --scenario=steady  --devices=1000 --rate=1000 --duration=20s
//	go run ./sync/loadsim --scenario=idle    --devices=10000 --store=light
//
// By default it starts the server in this process: real SQLite storage in a
// temp dir and the real hub behind a loopback listener, with devices enrolled
// in-process through server/enrol (real credentials, checked by the hub's
// default authentication on every connection). --server URL targets a
// running `server serve` instead (see the flags for how devices enrol there).
//
// Each --store=sqlite device is what a kiosk runs: its own kiosk/store
// database file, kiosk/filing and the sync/client loop. --store=light
// devices speak the protocol with sync/wire from an in-memory outbox: cheap
// enough for 10,000 connections, and a way to see what the device's store
// costs. Every run stops by itself: each phase has a deadline (--timeout).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadsim:", err)
		}
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	scenario    string
	store       string // sqlite | light
	devices     int
	complaints  int // per device (burst), or the backlog (catchup)
	rate        float64
	duration    time.Duration
	perBranch   int
	descBytes   int
	auth        string // real | fake
	server      string
	serverData  string
	serverPID   int
	enrolCodes  string
	cpuProfile  string
	timeout     time.Duration
	idleClients string // child | inprocess
	dir         string
	verbose     bool

	// idleChild: this process is the idle scenario's client process.
	idleChild string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "catchup", "catchup, burst, steady or idle")
	fs.StringVar(&o.store, "store", "sqlite", "device kind: sqlite (a real kiosk/store file, filing and sync/client per device) or light (sync/wire from memory)")
	fs.IntVar(&o.devices, "devices", 0, "simulated devices (default: catchup 1, burst 1000, steady 1000, idle 10000)")
	fs.IntVar(&o.complaints, "complaints", 0, "catchup: the offline backlog (default 10000); burst: complaints per device (default 20)")
	fs.Float64Var(&o.rate, "rate", 1000, "steady: complaints per second offered by all devices together")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "steady: how long to offer load")
	fs.IntVar(&o.perBranch, "per-branch", 1, "devices per branch (each device streams its branch, its own events included)")
	fs.IntVar(&o.descBytes, "desc-bytes", 400, "bytes of complaint description (an event is about 650 bytes of JSON with the default)")
	fs.StringVar(&o.auth, "auth", "real", "in-process server: real (devices enrolled through server/enrol, credentials checked) or fake (idle only: any bearer id is a device, nothing enrolled)")
	fs.StringVar(&o.server, "server", "", "URL of a running `server serve` (http://127.0.0.1:8080); empty: start one in this process")
	fs.StringVar(&o.serverData, "server-data", "", "with --server: its --data DIR; devices are enrolled straight into its database (as `server enrol-code` does, plus the redemption), avoiding the enrol endpoint's rate limit")
	fs.IntVar(&o.serverPID, "server-pid", 0, "with --server: its process id, to report VmRSS from /proc")
	fs.StringVar(&o.enrolCodes, "enrol-codes", "", "with --server: a file of enrolment codes, one a line (from `server enrol-code`), redeemed through POST /api/v1/enrol; that endpoint allows 10 at once, then 1 per 6 s per address")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "deadline of each phase; the run fails rather than waits longer")
	fs.StringVar(&o.idleClients, "idle-clients", "child", "idle: child (clients in a child process, so server memory is measured alone) or inprocess")
	fs.StringVar(&o.dir, "dir", "", "where device and server databases go (default a temp dir, removed after)")
	fs.BoolVar(&o.verbose, "v", false, "log warnings from the server and devices to stderr")
	fs.StringVar(&o.idleChild, "idle-child", "", "internal: run as the idle scenario's client process with this spec file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	defaults := map[string][2]int{"catchup": {1, 10000}, "burst": {1000, 20}, "steady": {1000, 0}, "idle": {10000, 0}}
	d, ok := defaults[o.scenario]
	if !ok && o.idleChild == "" {
		return o, fmt.Errorf("--scenario %q: want catchup, burst, steady or idle", o.scenario)
	}
	if o.devices <= 0 {
		o.devices = d[0]
	}
	if o.complaints <= 0 {
		o.complaints = d[1]
	}
	switch {
	case o.store != "sqlite" && o.store != "light":
		return o, fmt.Errorf("--store %q: want sqlite or light", o.store)
	case o.auth != "real" && o.auth != "fake":
		return o, fmt.Errorf("--auth %q: want real or fake", o.auth)
	case o.auth == "fake" && (o.scenario != "idle" || o.store != "light" || o.server != ""):
		return o, errors.New("--auth=fake is for --scenario=idle --store=light with the in-process server (pushes need enrolled devices)")
	case o.scenario == "idle" && o.store != "light" && o.idleClients == "child":
		return o, errors.New("--scenario=idle runs its clients in a child process: use --store=light (or --idle-clients=inprocess)")
	case o.server != "" && o.serverData == "" && o.enrolCodes == "":
		return o, errors.New("--server needs --server-data DIR or --enrol-codes FILE to enrol devices")
	case o.rate <= 0 || o.duration <= 0 || o.perBranch < 1 || o.descBytes < 1:
		return o, errors.New("--rate, --duration, --per-branch and --desc-bytes must be positive")
	}
	return o, nil
}

// run is the whole program; tests call it with small sizes.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.idleChild != "" {
		return idleChildMain(ctx, o.idleChild, stdin, stdout)
	}
	raiseOpenFiles(stderr)
	res, err := runScenario(ctx, o, stdin, stderr)
	if err != nil {
		return err
	}
	res.print(stdout)
	line, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", line)
	return nil
}

// runScenario sets up the server and devices, runs the scenario and returns
// its figures.
func runScenario(ctx context.Context, o options, stdin io.Reader, stderr io.Writer) (*result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	env, err := newEnv(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	defer env.close()
	var stopProfile func()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		env.startProfile = func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(stderr, "cpuprofile:", err)
				return
			}
			stopProfile = pprof.StopCPUProfile
		}
		defer func() {
			if stopProfile != nil {
				stopProfile()
			}
		}()
	} else {
		env.startProfile = func() {}
	}
	res := &result{Scenario: o.scenario, Store: o.store, Devices: o.devices, Server: env.serverKind(),
		Auth: env.authKind(), Date: time.Now().UTC().Format(time.DateOnly)}
	switch o.scenario {
	case "catchup":
		err = env.catchup(ctx, res)
	case "burst":
		err = env.burst(ctx, res)
	case "steady":
		err = env.steady(ctx, res)
	case "idle":
		err = env.idle(ctx, res, stdin)
	}
	if stopProfile != nil {
		stopProfile()
		stopProfile = nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.scenario, err)
	}
	env.finish(res)
	return res, nil
}

// raiseOpenFiles lifts the soft open-files limit to the hard one: every
// connection is a socket (two when both ends are on this machine) and every
// sqlite device holds a few database files.
func raiseOpenFiles(stderr io.Writer) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(stderr, "getrlimit:", err)
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintln(stderr, "setrlimit:", err)
	}
}
