//go:build !unix

package central

import "errors"

// LockFile is the data directory's lock (lock.go); elsewhere than Unix no
// lock is taken.
const LockFile = "server.lock"

// ErrLocked says the data directory's lock is held the other way.
var ErrLocked = errors.New("data directory locked")

// LockData does nothing here: restore cannot tell whether a server runs.
func LockData(dir string, exclusive bool) (release func(), err error) { return func() {}, nil }
