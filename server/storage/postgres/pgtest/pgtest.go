// Package pgtest gives tests their own PostgreSQL schema, so tests (and
// packages) run in parallel on one server: each gets a fresh schema and a
// connection string whose search_path names it, dropped at cleanup.
//
// The server is found through $OMBUD_TEST_PG (DefaultDSN when unset). When
// it cannot be reached a test is skipped with a message, except under
// CI=true, where it fails: CI has PostgreSQL, and a skipped suite there
// would hide a broken backend.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the test server's connection string.
const EnvDSN = "OMBUD_TEST_PG"

// DefaultDSN is the PostgreSQL this project's machines and CI provide.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ServerDSN is the test server's connection string (no schema).
func ServerDSN() string {
	if v := os.Getenv(EnvDSN); v != "" {
		return v
	}
	return DefaultDSN
}

// Connect opens a plain connection to the test server, skipping or failing
// tb (see the package doc) when it cannot.
func Connect(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, ServerDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at $%s (default %s) is unreachable, and CI must run the PostgreSQL tests: %v", EnvDSN, DefaultDSN, err)
		}
		tb.Skipf("PostgreSQL unreachable (set $%s, default %s): %v", EnvDSN, DefaultDSN, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// DSN creates a fresh schema and returns a connection string whose
// search_path is that schema. The schema is dropped at tb's cleanup
// (register anything that uses it after calling DSN, so it closes first).
func DSN(tb testing.TB) string {
	tb.Helper()
	conn := Connect(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(ServerDSN())
	if err != nil {
		tb.Fatalf("$%s: %v", EnvDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
