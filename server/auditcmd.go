package main

import (
	"context"
	"fmt"
	"io"

	"ombud/server/central"
	"ombud/server/storage"
	"ombud/shared/audit"
)

// withAudit runs fn on the store's audit chain (every backend keeps one).
func withAudit(ctx context.Context, d central.Database, fn func(storage.Audit) error) error {
	return withStore(ctx, d, func(cs central.Store) error { return fn(cs) })
}

// The audit commands: the event log's tamper evidence (package
// shared/audit). `server audit head` prints the chain's head for the
// operator to record somewhere the server cannot write (a ticket, a
// notebook, another machine); `server audit verify` walks the whole log
// and names the first break, checked against a recorded head if given.

const auditUsage = "audit: want `server audit verify [--head SEQ:HASH]` or `server audit head`"

func auditCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{auditUsage}
	}
	switch args[0] {
	case "head":
		fs := newFlagSet("audit head", stderr)
		data := databaseFlags(fs)
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		return withAudit(ctx, *data, func(st storage.Audit) error {
			h, err := st.AuditHead(ctx)
			if err != nil {
				return err
			}
			if h.Seq == 0 {
				fmt.Fprintln(stdout, "The event log is empty: no head yet.")
				return nil
			}
			fmt.Fprintln(stdout, h)
			return nil
		})
	case "verify":
		fs := newFlagSet("audit verify", stderr)
		data := databaseFlags(fs)
		headFlag := fs.String("head", "", "a head recorded earlier (SEQ:HASH, as `server audit head` printed it): the log must still hold it")
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		var head *audit.Head
		if *headFlag != "" {
			h, err := audit.ParseHead(*headFlag)
			if err != nil {
				return usageError{"audit verify: --head: " + err.Error()}
			}
			head = &h
		}
		return withAudit(ctx, *data, func(st storage.Audit) error {
			rep, err := st.AuditVerify(ctx, head)
			if err != nil {
				return err
			}
			if rep.Break != nil {
				fmt.Fprintf(stdout, "BROKEN at sequence %d: %s: %s.\nThe log verifies up to %s.\n",
					rep.Break.Seq, rep.Break.Kind, rep.Break.Detail, rep.Head)
				return fmt.Errorf("audit verify: the event log was changed at sequence %d (%s)", rep.Break.Seq, rep.Break.Kind)
			}
			fmt.Fprintf(stdout, "OK: %d events verified; head %s.\n", rep.Rows, rep.Head)
			if head != nil {
				fmt.Fprintf(stdout, "The recorded head %s is in the log.\n", head)
			}
			return nil
		})
	default:
		return usageError{auditUsage}
	}
}
