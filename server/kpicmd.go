package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"ombud/server/central"
	"ombud/server/kpi"
	"ombud/shared/sla"
)

// kpiCommand runs `server kpi rebuild`: throw the improvement figures
// away and fold them again from the event log. Safe while the server
// runs (the figures' cursor is a compare-and-set: the two followers take
// turns, neither double-counts).
func kpiCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return usageError{"kpi: want `server kpi rebuild --data DIR` with the server's --sla-config or --ack-days/--respond-days and --timezone"}
	}
	const cmd = "kpi rebuild"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	timezone := fs.String("timezone", "Local", "the server's --timezone: figures are counted by day in it")
	slaConfig := fs.String("sla-config", "", "the server's --sla-config")
	ackDays := fs.Int("ack-days", 2, "the server's --ack-days, without --sla-config")
	respondDays := fs.Int("respond-days", 15, "the server's --respond-days, without --sla-config")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	loc, err := time.LoadLocation(*timezone)
	if err != nil {
		return usageError{fmt.Sprintf("--timezone %q: %v", *timezone, err)}
	}
	var cfg *sla.Config
	if *slaConfig != "" {
		if cfg, err = sla.Load(*slaConfig); err != nil {
			return fmt.Errorf("--sla-config: %w", err)
		}
	} else if cfg, err = sla.Fallback(*ackDays, *respondDays, loc); err != nil {
		return usageError{fmt.Sprintf("--ack-days/--respond-days: %v", err)}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		ks := st
		f, err := kpi.New(kpi.Config{Log: st, Store: ks, SLA: cfg, Location: loc})
		if err != nil {
			return err
		}
		start := time.Now()
		if err := f.Rebuild(ctx); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		seq, _, err := ks.KPICursor(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		fmt.Fprintf(stdout, "Figures rebuilt from the event log up to sequence %d in %s.\n", seq, time.Since(start).Round(time.Millisecond))
		return nil
	})
}
