package wire

import (
	"fmt"
	"time"

	"github.com/gorilla/websocket"
)

// Read reads the next frame from conn and decodes it. Protocol failures are a
// *Error, ready for WriteClose: a binary frame (this protocol is JSON text
// frames only), a frame over the read limit, anything Decode refuses. Other
// errors come from the connection itself (including the peer's close,
// see CloseStatus) and are returned as they are.
//
// Read is for the connection's single reader goroutine; set
// conn.SetReadLimit(MaxFrameBytes) first, so an oversized frame is refused
// from its header without being buffered (gorilla then sends the 1009 close
// frame itself, so a WriteClose for it fails harmlessly).
func Read(conn *websocket.Conn) (Message, error) {
	kind, frame, err := conn.ReadMessage()
	if err != nil {
		if err == websocket.ErrReadLimit {
			return nil, AsError(err)
		}
		return nil, err
	}
	if kind != websocket.TextMessage {
		return nil, errorf(CloseUnsupportedData, "binary frame; this protocol sends JSON text frames")
	}
	return Decode(frame)
}

// Write encodes msg and writes it as one text frame with a write deadline,
// so a stalled peer cannot hold the writer forever. It is for the
// connection's single writer goroutine.
func Write(conn *websocket.Conn, msg Message, deadline time.Time) error {
	frame, err := Encode(msg)
	if err != nil {
		return err
	}
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return fmt.Errorf("write %s: %w", msg.Type(), err)
	}
	return nil
}
