package sqlite

import (
	"context"
	"database/sql"
)

// WriterDB exposes the writer pool to the external tests: the storage-floor
// benchmark and the schema-version test write to the file directly.
func WriterDB(s *Store) *sql.DB { return s.w }

// MigrateTo applies migrations up to version upTo on db: the upgrade test
// builds an old schema with data and then opens it with Open.
func MigrateTo(ctx context.Context, db *sql.DB, upTo int) error { return migrateTo(ctx, db, upTo) }
