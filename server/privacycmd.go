package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"ombud/server/central"
	"ombud/server/privacy"
	"ombud/server/storage"
	"ombud/shared/retention"
)

// The privacy commands (package server/privacy): erasure requests with
// four eyes, legal holds, subject access, the privacy log, and reapplying
// the redaction ledger after a restore. Each names the supervisor acting
// (--by), checked against the staff accounts, and is written to the
// privacy log.

const (
	erasureUsage = "erasure: want `server erasure request|approve|list|reapply` (see `server help`)"
	holdUsage    = "hold: want `server hold set|clear|list` (see `server help`)"
)

// withPrivacy runs fn with the privacy service on the store.
func withPrivacy(ctx context.Context, d central.Database, policyFile string, fn func(*privacy.Service, storage.Privacy) error) error {
	policy, err := retention.Load(policyFile)
	if err != nil {
		return usageError{"--retention-config: " + err.Error()}
	}
	return withStore(ctx, d, func(ps central.Store) error {
		var ledger *privacy.Ledger
		if d.Data != "" {
			ledger = privacy.OpenLedger(d.Data)
		}
		return fn(privacy.New(privacy.Config{Store: ps, Policy: policy, Ledger: ledger}), ps)
	})
}

// subjectFlags are --code, --email and --phone: exactly one.
type subjectFlags struct{ code, email, phone *string }

func newSubjectFlags(fs *flag.FlagSet) subjectFlags {
	return subjectFlags{
		code:  fs.String("code", "", "the tracking code of the person's complaint"),
		email: fs.String("email", "", "the contact e-mail the person gave (every complaint with it)"),
		phone: fs.String("phone", "", "the contact phone number the person gave (every complaint with it)"),
	}
}

func (f subjectFlags) get(cmd string) (kind, value string, err error) {
	n := 0
	for _, c := range []struct{ k, v string }{{privacy.ByCode, *f.code}, {privacy.ByEmail, *f.email}, {privacy.ByPhone, *f.phone}} {
		if c.v != "" {
			kind, value = c.k, c.v
			n++
		}
	}
	if n != 1 {
		return "", "", usageError{cmd + ": give exactly one of --code, --email, --phone"}
	}
	return kind, value, nil
}

// privacyError words a refusal for the operator.
func privacyError(cmd string, err error) error {
	if errors.Is(err, privacy.ErrForbidden) {
		return fmt.Errorf("%s: refused: %v", cmd, err)
	}
	return fmt.Errorf("%s: %s", cmd, storage.ErrorMessage(err))
}

func erasureCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{erasureUsage}
	}
	fs := newFlagSet("erasure "+args[0], stderr)
	data := databaseFlags(fs)
	by := fs.String("by", "", "the supervisor acting (staff id)")
	switch args[0] {
	case "request":
		subj := newSubjectFlags(fs)
		reason := fs.String("reason", "", "how the request came and how the person was identified")
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		kind, value, err := subj.get("erasure request")
		if err != nil {
			return err
		}
		if *by == "" {
			return usageError{"erasure request: --by is required"}
		}
		return withPrivacy(ctx, *data, "", func(svc *privacy.Service, _ storage.Privacy) error {
			r, err := svc.RequestErasure(ctx, *by, kind, value, *reason)
			if err != nil {
				return privacyError("erasure request", err)
			}
			fmt.Fprintf(stdout, "Erasure request %s recorded: %d complaint(s). Another supervisor approves it with:\n\n    server erasure approve --id %s --by STAFF\n", r.ID, len(r.Complaints), r.ID)
			return nil
		})
	case "approve":
		id := fs.String("id", "", "the request's id (see `server erasure list`)")
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		if *id == "" || *by == "" {
			return usageError{"erasure approve: --id and --by are required"}
		}
		return withPrivacy(ctx, *data, "", func(svc *privacy.Service, _ storage.Privacy) error {
			r, err := svc.ApproveErasure(ctx, *id, *by)
			if err != nil {
				return privacyError("erasure approve", err)
			}
			fmt.Fprintf(stdout, "Erasure request %s carried out: %s.\n", r.ID, r.Outcome)
			return nil
		})
	case "list":
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		return withPrivacy(ctx, *data, "", func(_ *privacy.Service, st storage.Privacy) error {
			rs, err := st.Erasures(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tREQUESTED\tBY\tAPPROVED BY\tCOMPLAINTS\tOUTCOME")
			for _, r := range rs {
				approver := "-"
				if r.ApprovedBy != "" {
					approver = r.ApprovedBy
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.State, r.RequestedAt.Local().Format(time.DateTime),
					r.RequestedBy, approver, len(r.Complaints), r.Outcome)
			}
			return tw.Flush()
		})
	case "reapply":
		if err := parseFlags(fs, args[1:], getenv); err != nil {
			return err
		}
		if data.Data == "" {
			return usageError{"erasure reapply: --data DIR is required (the ledger lives beside server.db)"}
		}
		return withPrivacy(ctx, *data, "", func(svc *privacy.Service, _ storage.Privacy) error {
			res, err := svc.Reapply(ctx)
			if err != nil {
				return fmt.Errorf("erasure reapply: %w", err)
			}
			fmt.Fprintf(stdout, "Redaction ledger: %d entries; %d complaint(s) redacted again, %d not in this database, %d under a legal hold.\n",
				res.Entries, res.Redacted, res.Missing, res.Held)
			return nil
		})
	}
	return usageError{erasureUsage}
}

func holdCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{holdUsage}
	}
	fs := newFlagSet("hold "+args[0], stderr)
	data := databaseFlags(fs)
	by := fs.String("by", "", "the supervisor acting (staff id)")
	code := fs.String("code", "", "the complaint's tracking code")
	reason := fs.String("reason", "", "why the case must be kept (shown wherever a redaction skips it)")
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	switch args[0] {
	case "set", "clear":
		if *by == "" || *code == "" || (args[0] == "set" && *reason == "") {
			return usageError{"hold " + args[0] + ": --by, --code" + map[bool]string{true: " and --reason", false: ""}[args[0] == "set"] + " are required"}
		}
		return withPrivacy(ctx, *data, "", func(svc *privacy.Service, _ storage.Privacy) error {
			if args[0] == "set" {
				id, err := svc.SetHold(ctx, *by, *code, *reason)
				if err != nil {
					return privacyError("hold set", err)
				}
				fmt.Fprintf(stdout, "Complaint %s is under a legal hold: retention and erasure skip it until the hold is cleared.\n", id)
				return nil
			}
			id, err := svc.ClearHold(ctx, *by, *code)
			if err != nil {
				return privacyError("hold clear", err)
			}
			fmt.Fprintf(stdout, "The legal hold on complaint %s is cleared.\n", id)
			return nil
		})
	case "list":
		return withPrivacy(ctx, *data, "", func(_ *privacy.Service, st storage.Privacy) error {
			hs, err := st.Holds(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPLAINT\tSET\tBY\tREASON")
			for _, h := range hs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ComplaintID, h.SetAt.Local().Format(time.DateTime), h.SetBy, h.Reason)
			}
			return tw.Flush()
		})
	}
	return usageError{holdUsage}
}

func subjectAccess(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("subject-access", stderr)
	data := databaseFlags(fs)
	by := fs.String("by", "", "the supervisor acting (staff id)")
	subj := newSubjectFlags(fs)
	jsonOut := fs.String("json", "", "write the export as JSON to this file (default: standard output)")
	htmlOut := fs.String("html", "", "also write it as a readable HTML page to this file")
	policyFile := fs.String("retention-config", "", "the retention policy file the server runs with, stated in the export")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	kind, value, err := subj.get("subject-access")
	if err != nil {
		return err
	}
	if *by == "" {
		return usageError{"subject-access: --by is required"}
	}
	return withPrivacy(ctx, *data, *policyFile, func(svc *privacy.Service, _ storage.Privacy) error {
		x, err := svc.SubjectAccess(ctx, *by, kind, value)
		if err != nil {
			return privacyError("subject-access", err)
		}
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return err
		}
		b = append(b, '\n')
		if *jsonOut == "" {
			_, err = stdout.Write(b)
		} else {
			err = os.WriteFile(*jsonOut, b, 0o600)
		}
		if err != nil {
			return err
		}
		if *htmlOut != "" {
			f, err := os.OpenFile(*htmlOut, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			if err := x.WriteHTML(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
		return nil
	})
}

func privacyLog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("privacy-log", stderr)
	data := databaseFlags(fs)
	limit := fs.Int("limit", 50, "how many of the latest entries")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withPrivacy(ctx, *data, "", func(_ *privacy.Service, st storage.Privacy) error {
		es, err := st.PrivacyLog(ctx, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "AT\tACTOR\tACTION\tSUBJECT\tDETAIL")
		for _, e := range es {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Actor, e.Action, e.Subject, e.Detail)
		}
		return tw.Flush()
	})
}
