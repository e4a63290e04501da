package store

import "context"

// OpenAtVersion opens path with the migrations applied only up to version,
// as a kiosk of that schema left it, so tests can make an old database
// and watch the current program migrate it.
func OpenAtVersion(ctx context.Context, path string, version int, p Projection) (*Store, error) {
	return OpenWith(ctx, path, nil, p, Options{upTo: version})
}
