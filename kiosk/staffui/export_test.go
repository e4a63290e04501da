package staffui

// Test seams: the external tests drive the real app through a simulation
// screen and use these only to read state on the UI goroutine.

// QueueUpdate runs f on the UI goroutine and waits for it.
func (a *App) QueueUpdate(f func()) { a.tv.QueueUpdate(f) }

// TopScreen names the screen keys go to (call inside QueueUpdate).
func (a *App) TopScreen() string { return a.top().String() }

// SelectedID is the complaint id of the queue's selected row (call inside
// QueueUpdate).
func (a *App) SelectedID() string {
	r, _ := a.queue.Selected()
	return r.ComplaintID
}

// Inert is inert, for its own test.
var Inert = inert
