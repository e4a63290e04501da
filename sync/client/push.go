package client

import (
	"context"
	"errors"
	"sync"
	"time"
	"unicode/utf8"

	"ombud/sync/wire"
)

// Frame budget of a push. estimate gives an entry's encoded size without
// encoding it: its strings as encoding/json writes them (escapes counted)
// plus a bound for the member names and numbers. It is exact enough that a
// batch fills to the count limit (1,000) unless events are really large;
// Encode has the last word, and a batch it still finds too big is halved.
const (
	envelopeBytes = 256 // {"v":1,"type":"push","body":{"events":[ ... ]}}
	entryBytes    = 160 // {"seq":N,"event":{...}} member names, numbers, punctuation
)

func estimate(o *wire.DeviceEvent) int {
	e := &o.Event
	return entryBytes + jsonLen(e.Data) + jsonLen(e.ID) + jsonLen(e.ComplaintID) + jsonLen(string(e.Type)) +
		jsonLen(string(e.Actor.Kind)) + jsonLen(e.Actor.ID) + jsonLen(e.Branch)
}

// jsonLen bounds the bytes s takes inside a JSON string as encoding/json
// writes it (without HTML escaping): short escapes take 2 bytes, other
// control characters 6, U+2028 and U+2029 6 instead of 3, and a byte of
// invalid UTF-8 at most 6 (\ufffd). Data is already JSON and is carried as
// it is, so counting it this way can only overestimate it.
func jsonLen[T ~string | ~[]byte](s T) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			n++
		case c < 0x20:
			n += 5
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			n += 3
		}
	}
	if !utf8.ValidString(string(s)) {
		n += 5 * len(s) // rare: bound it generously rather than exactly
	}
	return n
}

// pendingEvery bounds how often the pusher recounts the outbox for Status
// while acks stream in; it always recounts once nothing is in flight, so
// Pending is exact whenever the outbox is settled.
const pendingEvery = 250 * time.Millisecond

// push is the pusher loop (docs/SYNC.md section 6): send the outbox from its
// lowest entry in batches, at most wire.Window unacknowledged, without
// waiting for each ack; on push_reject quarantine, on push_ack forget. It
// returns nil when the session's context ends.
func (s *session) push(ctx context.Context) error {
	c := s.c
	var next int64             // the next sequence to send; 0 until the first page says where the outbox starts
	var inflight []sentPush    // each unacknowledged push, ascending
	var buf []wire.DeviceEvent // read from the outbox, not yet sent
	more := true               // the outbox may hold entries at or after next
	defer func() { s.inflightAtEnd = len(inflight) }()
	var counted time.Time // when Pending was last recounted

	// The next outbox page is read while the current one is sent. A wake
	// (new filings) drops it: it may have been read before they committed.
	type page struct {
		after   int64
		entries []wire.DeviceEvent
		err     error
	}
	var ahead chan page
	var readers sync.WaitGroup
	defer readers.Wait()
	readAhead := func(after int64) {
		ch := make(chan page, 1)
		ahead = ch
		readers.Go(func() {
			entries, err := c.st.OutboxAfter(ctx, after, c.cfg.MaxBatch)
			ch <- page{after, entries, err}
		})
	}
	readPage := func(after int64) ([]wire.DeviceEvent, error) {
		if ch := ahead; ch != nil {
			ahead = nil
			if p := <-ch; p.after == after {
				return p.entries, p.err
			}
		}
		return c.st.OutboxAfter(ctx, after, c.cfg.MaxBatch)
	}

	// answers handles m (if any) and every answer the reader has queued
	// behind it, in order: rejections are quarantined at once, the acks
	// coalesce into one AckOutbox for the highest.
	answers := func(m wire.Message) error {
		ackTo := s.acked
		for {
			if m != nil {
				var err error
				if inflight, err = s.answer(ctx, m, inflight, next, &ackTo); err != nil {
					return err
				}
			}
			select {
			case m = <-s.up:
				continue
			default:
			}
			break
		}
		if ackTo > s.acked {
			if err := c.st.AckOutbox(ctx, ackTo); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return storageError(err)
			}
			s.acked = ackTo
			c.success()
			if len(inflight) == 0 || time.Since(counted) >= pendingEvery {
				c.refreshPending(ctx)
				counted = time.Now()
			}
		}
		return nil
	}

	for {
		// Whatever the reader has handed over first: it opens the window,
		// and quarantines a rejected event before its ack can arrive.
		if err := answers(nil); err != nil {
			return err
		}
		if more && len(inflight) < wire.Window {
			if len(buf) == 0 {
				page, err := readPage(max(next-1, 0))
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return storageError(err)
				}
				if len(page) == 0 {
					more = false
					continue
				}
				buf = page
				if len(page) == c.cfg.MaxBatch {
					readAhead(page[len(page)-1].Seq)
				}
			}
			if err := s.resume(ctx, buf[0].Seq, next); err != nil {
				return err
			}
			if next == 0 {
				s.acked = buf[0].Seq - 1
			}
			next = buf[0].Seq
			n, frame, err := s.batch(buf, next, s.c.flow.pushCap(s.ackedBytes))
			if err != nil {
				return err
			}
			select {
			case s.out <- frame:
			case <-ctx.Done():
				return nil
			}
			last := buf[n-1].Seq
			inflight = append(inflight, sentPush{last: last, bytes: len(frame)})
			if s.firstBytes == 0 {
				s.firstBytes = len(frame)
			}
			next = last + 1
			buf = buf[n:]
			continue
		}
		select {
		case m := <-s.up:
			if err := answers(m); err != nil {
				return err
			}
		case <-c.wake:
			more = true
			if ahead != nil {
				<-ahead // may predate the filings this wake is for
				ahead = nil
			}
			c.refreshPending(ctx)
			counted = time.Now()
		case <-ctx.Done():
			return nil
		}
	}
}

// resume checks that the outbox may go on at seq when next was expected (0:
// the session's first push). Sequences are assigned without gaps and an
// entry leaves the outbox only once the server handled it (acknowledged, or
// rejected and quarantined), so the outbox starts at most one past the
// server's device_seq, and a hole inside it is a quarantined entry. Anything
// else means a damaged database or a server restored from an old backup:
// resending would be refused as a gap forever, so give up.
func (s *session) resume(ctx context.Context, seq, next int64) error {
	if next == 0 {
		if seq > s.serverSeq+1 {
			return protocolError("outbox starts at seq %d but the server holds only %d: server data lost?", seq, s.serverSeq)
		}
		return nil
	}
	if seq == next {
		return nil
	}
	q, err := s.c.st.Quarantined(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return storageError(err)
	}
	held := make(map[int64]bool, len(q))
	for _, e := range q {
		held[e.Seq] = true
	}
	for n := next; n < seq; n++ {
		if !held[n] {
			return protocolError("device outbox has a gap: want seq %d, found %d", next, seq)
		}
	}
	return nil
}

// batch encodes the longest push at the head of buf (which starts at next)
// that fits the count and frame limits and maxBytes (the flow control's cap;
// a push holds one event whatever the cap), and returns how many entries it
// holds. It stops at a hole: a push's seqs are contiguous.
func (s *session) batch(buf []wire.DeviceEvent, next int64, maxBytes int) (int, []byte, error) {
	limit := min(len(buf), s.c.cfg.MaxBatch)
	maxBytes = min(maxBytes, wire.MaxFrameBytes)
	size, n := envelopeBytes, 0
	for n < limit && buf[n].Seq == next+int64(n) {
		sz := estimate(&buf[n])
		if n > 0 && size+sz > maxBytes {
			break
		}
		size += sz
		n++
	}
	events := make([]wire.DeviceEvent, n)
	copy(events, buf) // Encode may rewrite an event's data in canonical form: leave the page as read
	for {
		frame, err := wire.Encode(&wire.Push{Events: events[:n]})
		if err == nil {
			return n, frame, nil
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CloseTooBig && n > 1 {
			n /= 2
			continue
		}
		// An event this device stored cannot be sent, and nothing after it
		// can pass it: only a fixed build helps.
		return 0, nil, protocolError("outbox seq %d cannot be sent: %v", buf[0].Seq, err)
	}
}

// answer handles a push_ack or push_reject and returns the pushes still
// unacknowledged. A rejection is quarantined at once; an ack only raises
// *ackTo, which the caller applies to the outbox once for a run of answers.
func (s *session) answer(ctx context.Context, m wire.Message, inflight []sentPush, next int64, ackTo *int64) ([]sentPush, error) {
	c := s.c
	switch m := m.(type) {
	case *wire.PushReject:
		if m.Seq >= next {
			// Nothing is lost by reconnecting; guessing could be.
			return inflight, outOfStep("push_reject for seq %d, sent only up to %d", m.Seq, next-1)
		}
		// Below next it is a rejection of something this device sent, in
		// this session or (a replayed frame) an earlier one: rejections are
		// final, so quarantining it is right whenever it arrives, and
		// quarantining twice is harmless.
		err := c.st.Quarantine(ctx, m.Seq, m.EventID, int(m.Code), m.Reason)
		switch {
		case errors.Is(err, ErrNotInOutbox):
			c.log.Warn("push_reject for an event no longer in the outbox", logKeySeq, m.Seq, logKeyEvent, m.EventID)
		case err != nil:
			if ctx.Err() != nil {
				// Stop here: an ack behind this rejection must not be
				// applied, or the outbox would forget the refused event
				// without quarantining it. The resend after reconnecting
				// gets the same rejection again.
				return inflight, ctx.Err()
			}
			return inflight, storageError(err)
		default:
			c.log.Warn("event refused by the server, quarantined", logKeySeq, m.Seq, logKeyEvent, m.EventID,
				logKeyCode, int(m.Code), logKeyReason, m.Reason)
		}
		c.refreshPending(ctx)
	case *wire.PushAck:
		if m.Seq >= next {
			// Forgetting entries never sent would lose them. Only a
			// replayed frame or a misbehaving peer does this: resume.
			return inflight, outOfStep("push_ack for seq %d, sent only up to %d", m.Seq, next-1)
		}
		if m.Seq <= *ackTo {
			return inflight, nil // a repeat (e.g. the answer to a replayed push): nothing new
		}
		i := 0
		for i < len(inflight) && inflight[i].last <= m.Seq {
			s.ackedBytes += inflight[i].bytes
			i++
		}
		inflight = inflight[i:]
		*ackTo = m.Seq
	}
	return inflight, nil
}
