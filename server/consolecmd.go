package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"ombud/server/central"
	"ombud/server/console"
)

// consoleCommand runs `server console ...`: the web console's side of
// staff accounts, for operators who prefer the shell (and for the first
// administrator, who has no console yet).
func consoleCommand(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"console: want set-password, totp, scope, signout or audit"}
	}
	switch args[0] {
	case "set-password":
		return consolePassword(ctx, args[1:], getenv, stdin, stderr)
	case "totp":
		return consoleTOTP(ctx, args[1:], getenv, stdout, stderr)
	case "scope":
		return consoleScope(ctx, args[1:], getenv, stdout, stderr)
	case "signout":
		return consoleSignOut(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return consoleAudit(ctx, args[1:], getenv, stdout, stderr)
	}
	return usageError{fmt.Sprintf("console: unknown command %q", args[0])}
}

func consolePassword(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stderr io.Writer) error {
	const cmd = "console set-password"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id")
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
	return withConsoleStore(ctx, *data, func(st console.Store) error {
		if _, err := st.StaffAccount(ctx, id); err != nil {
			return storeError(cmd, err)
		}
		p, err := readPassword(stdin, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if err := console.SetPassword(ctx, st, id, p, cost, time.Now()); err != nil {
			return fmt.Errorf("%s: %w; nothing was changed", cmd, err)
		}
		fmt.Fprintf(stderr, "console password of %s set; their console sessions were ended\n", id)
		return nil
	})
}

// readPassword reads a password from the terminal (twice, hidden) or one
// line of standard input.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		first, err := readHidden(f, prompt, "Password: ")
		if err != nil {
			return "", err
		}
		again, err := readHidden(f, prompt, "Password again: ")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", errors.New("the two passwords differ")
		}
		return first, nil
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if line == "" {
		return "", errors.New("no password on standard input: run this in a terminal, or send it as one line")
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

func consoleTOTP(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "console totp"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id")
	reset := fs.Bool("reset", false, "remove the second factor instead: the person sets it up again at their next sign-in")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	return withConsoleStore(ctx, *data, func(st console.Store) error {
		if _, err := st.StaffAccount(ctx, id); err != nil {
			return storeError(cmd, err)
		}
		now := time.Now()
		if *reset {
			if err := st.SetConsoleTOTP(ctx, id, "", false, nil, now); err != nil {
				return storeError(cmd, err)
			}
			if _, err := st.EndConsoleSessions(ctx, id, nil, now); err != nil {
				return storeError(cmd, err)
			}
			fmt.Fprintf(stdout, "second factor of %s removed; they set it up at their next sign-in\n", id)
			return nil
		}
		secret, uri, err := console.NewTOTP("Ombud", id)
		if err != nil {
			return err
		}
		codes, err := console.EnrolTOTP(ctx, st, id, secret, now)
		if err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "Give %s, in person, the authenticator key and the recovery codes (shown only now):\n  key: %s\n  url: %s\nrecovery codes:\n", id, secret, uri)
		for _, c := range codes {
			fmt.Fprintf(stdout, "  %s\n", c)
		}
		return nil
	})
}

func consoleScope(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "console scope"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id")
	branches := fs.String("branches", "", "branches the person sees at the console besides their own, comma-separated, or * for all; empty: their own only")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	var list []string
	for _, b := range strings.Split(*branches, ",") {
		if b = strings.TrimSpace(b); b != "" {
			list = append(list, b)
		}
	}
	return withConsoleStore(ctx, *data, func(st console.Store) error {
		if err := st.SetConsoleBranches(ctx, id, list, time.Now()); err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "console scope of %s: own branch plus %q\n", id, strings.Join(list, ","))
		return nil
	})
}

func consoleSignOut(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "console signout"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	idFlag := fs.String("id", "", "staff id")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	id, err := staffID(cmd, *idFlag)
	if err != nil {
		return err
	}
	return withConsoleStore(ctx, *data, func(st console.Store) error {
		ids, err := st.EndConsoleSessions(ctx, id, nil, time.Now())
		if err != nil {
			return storeError(cmd, err)
		}
		fmt.Fprintf(stdout, "%d console session(s) of %s ended\n", len(ids), id)
		return nil
	})
}

func consoleAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const cmd = "console audit"
	fs := newFlagSet(cmd, stderr)
	data := databaseFlags(fs)
	limit := fs.Int("limit", 50, "entries, newest first")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	return withConsoleStore(ctx, *data, func(st console.Store) error {
		es, err := st.ConsoleAudit(ctx, *limit)
		if err != nil {
			return storeError(cmd, err)
		}
		for _, e := range es {
			fmt.Fprintf(stdout, "%s  %-16s %-18s %s  (%s)\n", e.At.Local().Format(time.DateTime), e.StaffID, e.Action, e.Detail, e.Client)
		}
		return nil
	})
}

// withConsoleStore is withStore for the console's commands: the console's
// storage exists on SQLite only so far, so on PostgreSQL they say so.
func withConsoleStore(ctx context.Context, d central.Database, fn func(console.Store) error) error {
	return withStore(ctx, d, func(st central.Store) error {
		cs, ok := st.(console.Store)
		if !ok {
			return errors.New("the web console's accounts are kept on SQLite only so far; this database has none")
		}
		return fn(cs)
	})
}
