//go:build unix

package central

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the data directory's lock: every running server holds a
// shared lock on it (several may share a directory), and `server restore`
// takes it exclusively, so a restore never replaces a database under a
// running server and no server starts on a half-restored one. The
// administrative commands take no lock: they are short transactions that
// SQLite's own locking orders.
const LockFile = "server.lock"

// ErrLocked says the data directory's lock is held the other way.
var ErrLocked = errors.New("data directory locked")

// LockData takes the lock of the data directory dir, shared or exclusive,
// without waiting; release gives it back. It fails wrapping ErrLocked when
// it is held the other way (or, for exclusive, at all).
func LockData(dir string, exclusive bool) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	return func() { f.Close() }, nil
}
