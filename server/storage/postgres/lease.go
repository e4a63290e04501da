package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Lease timing: how often a replica without the lease tries to take it, and
// how often the holder proves its lock connection alive.
const (
	DefaultLeaseRetry = 2 * time.Second
	leaseCheck        = time.Second
)

// Lead runs work while this replica holds the lease: the session advisory
// lock leaseLock on a connection of its own. PostgreSQL releases the lock
// when that session ends, so when the holder dies (killed, crashed, cut
// off) another replica's next try, within retry, takes it. The holder pings
// its connection every second and, if the ping fails, cancels work and
// waits for it before trying again: a replica that cannot prove it holds
// the lease stops the once-only work.
//
// Between a holder losing its connection and its work noticing (a ping),
// two replicas may briefly both run: the work must tolerate that (the case
// engine's cursor is compare-and-set and its events have derived ids that
// are stored once; delivery followers' cursors are compare-and-set too).
// The lease makes the overlap rare and short; it does not have to make it
// impossible.
//
// Lead returns when ctx ends, after work has returned. held, if not nil,
// is told whenever the lease is taken (true) or given up (false).
func (s *Store) Lead(ctx context.Context, retry time.Duration, work func(ctx context.Context), held func(bool)) {
	if retry <= 0 {
		retry = DefaultLeaseRetry
	}
	if held == nil {
		held = func(bool) {}
	}
	for ctx.Err() == nil {
		if conn, ok := s.tryLease(ctx); ok {
			held(true)
			s.log.Info("lease taken: this replica runs the case engine and the delivery followers")
			s.holdLease(ctx, conn, work)
			held(false)
			conn.Close(context.Background())
			if ctx.Err() == nil {
				s.log.Warn("lease lost: the database connection holding it failed; stopping the once-only work")
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// tryLease connects (outside the pool: the lock lives as long as this one
// session) and tries the lock.
func (s *Store) tryLease(ctx context.Context) (*pgx.Conn, bool) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false
	}
	var ok bool
	if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock(`+lockKey(1)+`)`, leaseLock).Scan(&ok); err != nil || !ok {
		conn.Close(context.Background())
		return nil, false
	}
	return conn, true
}

func (s *Store) holdLease(ctx context.Context, conn *pgx.Conn, work func(ctx context.Context)) {
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { work(wctx) })
	defer wg.Wait()
	defer cancel()
	t := time.NewTicker(leaseCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, leaseCheck)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil {
			return
		}
	}
}
