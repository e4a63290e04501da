package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"ombud/server/central"
	"ombud/server/gen"
)

// genCommand is `server gen`: a synthetic data set (server/gen) in a new
// data directory's SQLite database, for the console's benchmarks and for
// trying the console at scale. SQLite only.
func genCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", stderr)
	data := fs.String("data", "", "a new data directory (the database must hold no events)")
	cases := fs.Int("cases", 100000, "how many cases")
	branches := fs.Int("branches", 200, "across how many branches (b0000, b0001, ...)")
	seed := fs.Uint64("seed", 1, "the same seed gives the same data set")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *data == "" {
		return usageError{"gen: --data DIR is required (a new directory: gen writes directly to its SQLite database)"}
	}
	if *cases < 0 || *branches < 1 || *branches > 100000 {
		return usageError{"gen: --cases must be 0 or more and --branches from 1 to 100000"}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	last := time.Now()
	res, err := gen.Generate(ctx, filepath.Join(*data, central.DBFile), gen.Options{Cases: *cases, Branches: *branches, Seed: *seed,
		Progress: func(done int) {
			if time.Since(last) > 10*time.Second {
				fmt.Fprintf(stderr, "gen: %d of %d cases\n", done, *cases)
				last = time.Now()
			}
		}})
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	fmt.Fprintf(stdout, "Generated %d cases across %d branches in %s (%s).\n", *cases, *branches, res.Elapsed.Round(time.Second), *data)
	return nil
}
