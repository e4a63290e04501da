// Package faulttest holds the sync protocol's fault-injection tests
// (docs/ARCHITECTURE.md, "Sync": each guarantee proven by a test that injects
// the fault). It has no code of its own besides this comment: the tests run
// the real pieces (server/storage/sqlite, sync/hub, sync/client, kiosk/store,
// kiosk/filing, and the server program itself as a subprocess) and break
// what is between them: a chaos TCP proxy that cuts connections, delays
// chunks and reorders or replays websocket frames; SIGKILL of the server and
// of a kiosk mid-upload; a long outage; a fleet reconnecting after a
// restart; peers that send garbage.
//
// Sizes are small by default so the package fits CI (2 cores, -race); set
// OMBUD_FAULT_SCALE=full for the sizes of the brief (10,000 complaints
// offline, 1,000 devices in the stampede, longer chaos).
package faulttest
