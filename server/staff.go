package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"ombud/server/central"
	"ombud/server/storage"
	"ombud/shared/staff"
)

// The staff commands: the operator manages the accounts staff sign in with
// at the branch terminals. Terminals fetch their branch's accounts (PIN
// hashes, never PINs) from the directory endpoint, so what is done here
// reaches them when they next sync.

const staffUsage = "staff: want `server staff add|pin|revoke|list` (see `server help`)"

func staffCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{staffUsage}
	}
	switch args[0] {
	case "add":
		return staffAdd(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "pin":
		return staffPIN(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "revoke":
		return staffRevoke(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return staffList(ctx, args[1:], getenv, stdout, stderr)
	default:
		return usageError{staffUsage}
	}
}

// pinPolicy is how a new PIN is checked and hashed: --min-pin, the
// operator's minimum length (OMBUD_SERVER_MIN_PIN in the environment file
// sets it for every command), and --pin-memory and --pin-passes, the
// argon2id cost of its hash. Lowering the cost is for tests and demos only:
// the default is what makes a stolen terminal database slow to attack.
type pinPolicy struct {
	minLen         *int
	memory, passes *uint
}

func pinPolicyFlags(fs *flag.FlagSet) pinPolicy {
	return pinPolicy{
		minLen: fs.Int("min-pin", staff.MinPINLen, fmt.Sprintf("the least number of characters a new PIN has (%d to %d); 8 or more, or a passphrase, makes a stolen terminal's PIN hashes far harder to crack", staff.MinPINLen, staff.MaxPINLen)),
		memory: fs.Uint("pin-memory", uint(staff.DefaultCost.MemoryKiB), "memory in KiB each try of the PIN hash takes (argon2id); lower it only for tests and demos"),
		passes: fs.Uint("pin-passes", uint(staff.DefaultCost.Passes), "passes over that memory (argon2id); lower it only for tests and demos"),
	}
}

func (p pinPolicy) cost(cmd string) (staff.Cost, error) {
	c := staff.Cost{MemoryKiB: uint32(min(*p.memory, 1<<32-1)), Passes: uint32(min(*p.passes, 1<<32-1))}
	if !c.Valid() {
		return c, usageError{fmt.Sprintf("%s: --pin-memory (64 to 1048576 KiB) or --pin-passes (1 to 16) out of range", cmd)}
	}
	if *p.minLen < staff.MinPINLen || *p.minLen > staff.MaxPINLen {
		return c, usageError{fmt.Sprintf("%s: --min-pin must be %d to %d", cmd, staff.MinPINLen, staff.MaxPINLen)}
	}
	return c, nil
}

// staffID reads --id as sign-in compares it (trimmed, lower case) and
// checks it.
func staffID(cmd, id string) (string, error) {
	if id == "" {
		return "", usageError{cmd + ": --id is required"}
	}
	id = staff.NormalizeID(id)
	if err := staff.ValidateID(id); err != nil {
		return "", usageError{fmt.Sprintf("%s: --id: %v", cmd, err)}
	}
	return id, nil
}

// storeError shows the operator a storage failure: the safe message for
// the errors they can act on, the whole chain for a database failure (the
// operator is the one who reads server logs anyway).
func storeError(cmd string, err error) error {
	if storage.ErrorCode(err) == storage.Internal {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return fmt.Errorf("%s: %s", cmd, storage.ErrorMessage(err))
}

func staffAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "staff add"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	branch := fs.String("branch", "", "branch the staff member works at (one made with server branch add)")
	idFlag := fs.String("id", "", "the id they sign in with: 2-32 of a-z, 0-9, '.', '-', '_' (e.g. alice or a.martin); never reused")
	name := fs.String("name", "", "their name, shown on the terminal and in the audit trail")
	role := fs.String("role", "", "agent (works cases), supervisor (may also reopen closed cases), manager (a supervisor, often over several branches at the console) or administrator (also manages accounts and devices at the console)")
	teams := fs.String("teams", "", "team queues they work from team terminals, comma-separated (e.g. fraud); none for branch staff")
	policy := pinPolicyFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *branch == "" || *name == "" || *role == "" {
		return usageError{cmd + ": --branch, --id, --name and --role are required"}
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	if r := staff.Role(*role); !r.Valid() {
		return usageError{fmt.Sprintf("%s: --role %q: want agent, supervisor, manager or administrator", cmd, *role)}
	}
	cost, err := policy.cost(cmd)
	if err != nil {
		return err
	}
	a := staff.Account{ID: id, Name: strings.TrimSpace(*name), Role: staff.Role(*role), Branch: *branch}
	if *teams != "" {
		a.Teams = strings.Split(*teams, ",")
	}
	// The account is checked before the PIN is asked for, with a stand-in
	// hash (cheap at the minimum cost) in place of the one to come.
	if a.PINHash, err = staff.HashPINWith("stand-in", staff.TestCost); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if err := a.Validate(); err != nil {
		return usageError{fmt.Sprintf("%s: %v", cmd, err)}
	}
	return withStore(ctx, *data, func(st central.Store) error {
		// Checked before asking for the PIN, so a typo in the branch or a
		// taken id does not cost the operator a PIN typed twice.
		if _, err := st.ListStaff(ctx, a.Branch); err != nil {
			return storeError(cmd, err)
		}
		switch _, err := st.StaffAccount(ctx, id); storage.ErrorCode(err) {
		case storage.NotFound:
		case "":
			return fmt.Errorf("%s: staff id %s is taken (ids are never reused, even after a revocation): choose another", cmd, id)
		default:
			return storeError(cmd, err)
		}
		pin, err := readPIN(stdin, stderr, *policy.minLen)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if a.PINHash, err = staff.HashPINWith(pin, cost); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		a.UpdatedAt = time.Now()
		if err := st.CreateStaff(ctx, a); err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "Staff %s (%s, %s) added to branch %s.\n", a.ID, a.Name, a.Role, a.Branch)
		where := "any staff terminal of branch " + a.Branch
		if len(a.Teams) > 0 {
			where += " or team terminal of " + strings.Join(a.Teams, ", ")
		}
		fmt.Fprintf(stdout, "They sign in with the id %s and their PIN at %s\n"+
			"once it has synced (within a minute). Change a forgotten PIN with `server staff pin --id %s`.\n", a.ID, where, a.ID)
		return nil
	})
}

func staffPIN(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "staff pin"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id whose PIN to replace")
	policy := pinPolicyFlags(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	cost, err := policy.cost(cmd)
	if err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		a, err := st.StaffAccount(ctx, id)
		switch {
		case err != nil:
			return storeError(cmd, err)
		case a.Revoked():
			return fmt.Errorf("%s: staff %s was revoked on %s: a new PIN does not bring the account back; "+
				"add a new account with another id (`server staff add`)", cmd, id, a.RevokedAt.Local().Format(time.DateTime))
		}
		pin, err := readPIN(stdin, stderr, *policy.minLen)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		hash, err := staff.HashPINWith(pin, cost)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if err := st.SetStaffPIN(ctx, id, hash, time.Now()); err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "PIN of staff %s (%s) changed.\n", a.ID, a.Name)
		fmt.Fprintf(stdout, "Staff terminals of branch %s take it when they next sync (within a minute);\n"+
			"until then a terminal that has not synced still accepts the old PIN.\n", a.Branch)
		return nil
	})
}

func staffRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "staff revoke"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id to revoke (server staff list shows them)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		before, err := st.StaffAccount(ctx, id)
		if err != nil {
			return storeError(cmd, err)
		}
		if before.Revoked() {
			fmt.Fprintf(stdout, "Staff %s (%s) was already revoked on %s; nothing changed.\n",
				id, before.Name, before.RevokedAt.Local().Format(time.DateTime))
			return nil
		}
		if err := st.RevokeStaff(ctx, id, time.Now()); err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "Staff %s (%s) revoked.\n", id, before.Name)
		// "a minute" is admit.StaffRevocationGrace.
		fmt.Fprintf(stdout, "Staff terminals of branch %s refuse their sign-in once they have synced (within a minute).\n"+
			"What they recorded before now, offline included, is kept; what is stamped more than a minute\n"+
			"after now is refused by the server. The id is never given to anyone else.\n", before.Branch)
		return nil
	})
}

func staffList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "staff list"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	branch := fs.String("branch", "", "only this branch's accounts (default: every branch)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withStore(ctx, *data, func(st central.Store) error {
		accounts, err := st.ListStaff(ctx, *branch)
		if err != nil {
			return storeError(cmd, err)
		}
		if len(accounts) == 0 {
			fmt.Fprintln(stdout, "No staff accounts yet: add one with `server staff add`.")
			return nil
		}
		// Never the PIN hash: it is no use to the operator and would let
		// anyone who sees the screen or the scrollback start guessing.
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tBRANCH\tTEAMS\tSTATUS")
		for _, a := range accounts {
			status := "active"
			if a.Revoked() {
				status = "revoked " + a.RevokedAt.Local().Format(time.DateTime)
			}
			teams := "-"
			if len(a.Teams) > 0 {
				teams = strings.Join(a.Teams, ",")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Role, a.Branch, teams, status)
		}
		return tw.Flush()
	})
}

// maxPINLine bounds the line read from a pipe: far above any valid PIN, so
// a long one is refused with the PIN rules rather than cut.
const maxPINLine = 1 << 10

// readPIN reads a new PIN and checks it with staff.ValidatePINMin. From a
// terminal it asks twice without echo, prompting on prompt; from anything
// else (a pipe, a file, a test) it reads one line, so scripts can do
// `printf '%s\n' "$PIN" | server staff add ...`.
func readPIN(stdin io.Reader, prompt io.Writer, minLen int) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := readHidden(f, prompt, "PIN: ")
		if err != nil {
			return "", err
		}
		if err := staff.ValidatePINMin(first, minLen); err != nil {
			return "", fmt.Errorf("PIN refused: %v; nothing was changed", err)
		}
		again, err := readHidden(f, prompt, "PIN again: ")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", errors.New("the two PINs differ; nothing was changed")
		}
		return first, nil
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPINLine)).ReadString('\n')
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read the PIN from standard input: %w", err)
	case line == "":
		return "", errors.New("no PIN on standard input: run this in a terminal to be asked for it, " +
			"or send it as one line (printf '%s\\n' \"$PIN\" | server staff ...)")
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if err := staff.ValidatePINMin(pin, minLen); err != nil {
		return "", fmt.Errorf("PIN refused: %v; nothing was changed", err)
	}
	return pin, nil
}

// readHidden prompts and reads one line from the terminal without echo.
func readHidden(f *os.File, prompt io.Writer, label string) (string, error) {
	fmt.Fprint(prompt, label)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt) // the newline the hidden Enter did not echo
	if err != nil {
		return "", fmt.Errorf("read the PIN: %w", err)
	}
	return string(b), nil
}
