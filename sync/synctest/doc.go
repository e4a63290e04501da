// Package synctest holds conformance suites that any implementation of
// sync/client's and sync/hub's storage interfaces runs, so that a second
// implementation (another device database, the server on PostgreSQL) is
// held to the same promises as the first without copying its tests.
//
// Each suite is an exported function that an implementation's own test
// calls with a way to open its storage, in the manner of testing/fstest's
// TestFS: TestOutbox and TestReplica check client.Outbox and
// client.Replica (docs/SYNC.md sections 6 and 7), including across a
// reopen that stands in for a crash, and under concurrent use. Suites open
// real storage: a fake that passes proves nothing about the real thing.
package synctest
