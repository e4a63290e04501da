package sqlite

import "database/sql"

// WriterDB exposes the writer pool to the external tests: the storage-floor
// benchmark and the schema-version test write to the file directly.
func WriterDB(s *Store) *sql.DB { return s.w }
