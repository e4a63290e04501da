package faulttest_test

// A second, independent device: written from docs/SYNC.md alone, to prove
// that the document is enough to build one (issue 11). It imports nothing
// of Ombud: no sync/client, sync/wire, sync/hub, no kiosk package and no
// shared package; ids, clocks, tracking codes, clean text and every
// message are made and checked here as the document says, with the
// standard library and a websocket library. The section numbers in the
// comments are the document's. Where this file and the document disagree,
// the document is wrong or this file is: fix one, never reach for the Go
// implementation. The tests that drive it against the real server are in
// spec_test.go.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Limits and timings of sections 1 and 9.
const (
	specMaxFrame     = 1 << 20
	specMaxBatch     = 1000
	specWindow       = 4
	specReadTimeout  = 60 * time.Second // no frame from the server for this long: dead
	specWriteTimeout = 10 * time.Second
	specCloseGrace   = 5 * time.Second
	specMaxAhead     = 5 * time.Minute
	specSmallBatch   = 4 // slow start's first push after a connection that got nothing through
)

// ---- Messages (sections 3 and 5) ----

type specEnvelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Body json.RawMessage `json:"body"`
}

type specActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// specEvent is an event as section 5.1 describes it.
type specEvent struct {
	ID          string          `json:"id"`
	ComplaintID string          `json:"complaint_id"`
	Type        string          `json:"type"`
	Actor       specActor       `json:"actor"`
	At          uint64          `json:"at"`
	Branch      string          `json:"branch"`
	Data        json.RawMessage `json:"data,omitempty"`
}

type specEntry struct {
	Seq   int64     `json:"seq"`
	Event specEvent `json:"event"`
	// Chain is optional (SYNC.md, "Chain"): this device stores events
	// without checking their links, which the spec allows.
	Chain json.RawMessage `json:"chain,omitempty"`
}

type specClientHello struct {
	Versions  []int            `json:"versions"`
	DeviceID  string           `json:"device_id"`
	Software  string           `json:"software"`
	Cursors   map[string]int64 `json:"cursors"`
	DeviceSeq int64            `json:"device_seq"`
}

type specServerHello struct {
	Version    int       `json:"version"`
	ServerTime uint64    `json:"server_time"`
	DeviceSeq  *int64    `json:"device_seq"`
	Scopes     *[]string `json:"scopes"`
}

type specPush struct {
	Events []specEntry `json:"events"`
}

type specPushAck struct {
	Seq int64 `json:"seq"`
}

type specPushReject struct {
	Seq     int64  `json:"seq"`
	EventID string `json:"event_id"`
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
}

type specEvents struct {
	Scope  string      `json:"scope"`
	From   *int64      `json:"from"`
	Next   int64       `json:"next"`
	Events []specEntry `json:"events"`
}

type specEventsAck struct {
	Scope  string `json:"scope"`
	Cursor int64  `json:"cursor"`
}

// specEncode writes a frame as section 3 asks: compact, v, type, body, no
// HTML escaping.
func specEncode(typ string, body any) ([]byte, error) {
	b, err := specJSON(body)
	if err != nil {
		return nil, err
	}
	return specJSON(specEnvelope{V: 1, Type: typ, Body: b})
}

func specJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// specStrict decodes one JSON value with no unknown member and nothing
// after it (section 3).
func specStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// specName is section 5's "name": 1-128 bytes, no Cc, no Cf, no U+2028/9.
func specName(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}

func specToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// specCheckEvent applies section 5.1's member rules to an event received.
func specCheckEvent(e *specEvent) error {
	switch {
	case !specUUID7(e.ID), !specUUID7(e.ComplaintID):
		return errors.New("event id or complaint_id is not a UUIDv7")
	case !specToken(e.Type), !specToken(e.Actor.Kind):
		return errors.New("event type or actor kind is not a token")
	case e.Actor.ID != "" && !specName(e.Actor.ID):
		return errors.New("actor id is not a name")
	case e.At == 0 || e.At >= 1<<63:
		return errors.New("event at out of range")
	case !specName(e.Branch):
		return errors.New("event branch is not a name")
	case e.Data != nil && (len(e.Data) > 64<<10 || e.Data[0] != '{'):
		return errors.New("event data is not an object of at most 64 KiB")
	}
	return nil
}

// ---- Ids, clocks, tracking codes, clean text (sections 5.1 and 5.3) ----

// specUUID7 makes a UUIDv7 (5.1.1).
func specNewUUID7(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms)
	copy(b[0:6], ts[2:8])
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func specUUID7(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return s[14] == '7' && strings.IndexByte("89ab", s[19]) >= 0
}

// specClock is the hybrid logical clock of 5.1.2.
type specClock struct {
	last uint64
	now  func() time.Time
}

func (c *specClock) Now() uint64 {
	wall := uint64(c.now().UnixMilli())
	switch {
	case wall > c.last>>16:
		c.last = wall << 16
	case c.last&0xffff == 0xffff:
		c.last = (c.last>>16 + 1) << 16
	default:
		c.last++
	}
	return c.last
}

// Observe folds in a server reading unless it is more than 5 minutes ahead.
func (c *specClock) Observe(r uint64) bool {
	if int64(r>>16) > c.now().Add(specMaxAhead).UnixMilli() {
		return false
	}
	c.last = max(c.last, r)
	return true
}

const specAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// specCheckSymbol is section 5.3's Luhn mod 32 over the 11 symbols of body.
func specCheckSymbol(body string) byte {
	sum, factor := 0, 2
	for i := len(body) - 1; i >= 0; i-- {
		p := factor * strings.IndexByte(specAlphabet, body[i])
		sum += p/32 + p%32
		factor = 3 - factor
	}
	return specAlphabet[(32-sum%32)%32]
}

// specNewCode makes a canonical tracking code under prefix: 40 random bits,
// one symbol from each 5.
func specNewCode(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[3:]); err != nil {
		panic(err)
	}
	v := binary.BigEndian.Uint64(b[:])
	body := []byte(prefix)
	for i := 7; i >= 0; i-- {
		body = append(body, specAlphabet[v>>(5*uint(i))&31])
	}
	return string(body) + string(specCheckSymbol(string(body)))
}

// specClean normalises what a person typed into clean text (5.1.4):
// escape sequences and controls gone, line breaks as line feeds (spaces in
// one-line text), tabs as spaces, format characters gone but a joiner
// between emoji, surrounding white space trimmed.
func specClean(s string, multiline bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	rs := []rune(s)
	var out []rune
	brk := func() {
		if multiline {
			out = append(out, '\n')
		} else {
			out = append(out, ' ')
		}
	}
	emoji := func(r rune) bool { return r > 0x7f && unicode.Is(unicode.So, r) }
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[': // CSI: to the final byte
			i += 2
			for i < len(rs) && !(rs[i] >= 0x40 && rs[i] <= 0x7e) {
				i++
			}
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == ']': // OSC: to BEL or ESC \
			i += 2
			for i < len(rs) && rs[i] != 0x07 && !(rs[i] == 0x1b && i+1 < len(rs) && rs[i+1] == '\\') {
				i++
			}
			if i < len(rs) && rs[i] == 0x1b {
				i++
			}
		case r == '\r':
			if i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			brk()
		case r == '\n' || r == 0x2028 || r == 0x2029:
			brk()
		case r == '\t':
			out = append(out, ' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		case r == 0x200d:
			if len(out) > 0 && i+1 < len(rs) && emoji(rs[i+1]) {
				p := out[len(out)-1]
				if emoji(p) || p == 0xfe0f || (p >= 0x1f3fb && p <= 0x1f3ff) {
					out = append(out, r)
				}
			}
		case unicode.Is(unicode.Cf, r):
		default:
			out = append(out, r)
		}
	}
	return strings.TrimFunc(string(out), unicode.IsSpace)
}

// ---- Enrolment (section 2) ----

type specEnrolRequest struct {
	Code       string `json:"code"`
	DeviceName string `json:"device_name"`
	DeviceID   string `json:"device_id,omitempty"`
}

type specEnrolment struct {
	DeviceID   string   `json:"device_id"`
	Credential string   `json:"credential"`
	Branch     string   `json:"branch"`
	BranchName string   `json:"branch_name"`
	CodePrefix string   `json:"code_prefix"`
	Role       string   `json:"role"`
	Teams      []string `json:"teams"`
}

type specHTTPError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string
	Body       []byte
}

func (e *specHTTPError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// specPost sends a JSON body and returns the answer's status, headers and
// body; a JSON error body is returned as a *specHTTPError.
func specPost(ctx context.Context, method, url, auth string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		return nil, &specHTTPError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message,
			RetryAfter: resp.Header.Get("Retry-After"), Body: b}
	}
	return b, nil
}

// specEnrol redeems a one-time code. The answer is checked as section 2
// says: every member present, the credential naming the device.
func specEnrol(ctx context.Context, base string, req specEnrolRequest, record func(dir string, b []byte)) (specEnrolment, error) {
	body, err := specJSON(req)
	if err != nil {
		return specEnrolment{}, err
	}
	record("enrol-request", body)
	b, err := specPost(ctx, http.MethodPost, base+"/api/v1/enrol", "", body)
	var he *specHTTPError
	if errors.As(err, &he) {
		record("enrol-error", he.Body)
	}
	if err != nil {
		return specEnrolment{}, err
	}
	record("enrol-response", b)
	var en specEnrolment
	if err := specStrict(b, &en); err != nil {
		return en, fmt.Errorf("enrolment answer: %w", err)
	}
	id, secret, ok := strings.Cut(en.Credential, ".")
	switch {
	case en.DeviceID == "" || en.Branch == "" || en.Role == "":
		return en, errors.New("enrolment answer lacks device_id, branch or role")
	case !ok || id != en.DeviceID || len(secret) != 43:
		return en, errors.New("enrolment answer: the credential does not name the device")
	case len(en.CodePrefix) != 3 || strings.Trim(en.CodePrefix, specAlphabet) != "":
		return en, errors.New("enrolment answer: code_prefix is not 3 symbols")
	case (en.Role == "team") != (len(en.Teams) > 0):
		return en, errors.New("enrolment answer: teams with the wrong role")
	}
	return en, nil
}

// ---- The device ----

// specComplaint is a filed event's data (5.2.1).
type specComplaint struct {
	ID             string       `json:"id"`
	Code           string       `json:"code"`
	Branch         string       `json:"branch"`
	Device         string       `json:"device"`
	Channel        string       `json:"channel"`
	Category       string       `json:"category"`
	Description    string       `json:"description"`
	DesiredOutcome string       `json:"desired_outcome,omitempty"`
	Contact        *specContact `json:"contact,omitempty"`
	Language       string       `json:"language"`
	FiledAt        string       `json:"filed_at"`
}

type specContact struct {
	Name          string `json:"name,omitempty"`
	Email         string `json:"email,omitempty"`
	Phone         string `json:"phone,omitempty"`
	ConsentAt     string `json:"consent_at"`
	NoticeVersion string `json:"notice_version"`
}

// specDraft is what a customer typed, before normalisation.
type specDraft struct {
	Category, Description, Outcome, Language string
	Name, Email, Phone                       string
	Consent                                  bool
}

type specQuarantined struct {
	Seq    int64
	Event  specEvent
	Code   int
	Reason string
}

// specGiveUp ends Run: a close code (or HTTP 401) that says give up.
type specGiveUp struct {
	Code   int
	Reason string
}

func (e *specGiveUp) Error() string { return fmt.Sprintf("give up: %d %s", e.Code, e.Reason) }

// specClosed is a connection the server (or the network) ended with a
// code that says reconnect.
type specClosed struct {
	Code   int
	Reason string
}

func (e *specClosed) Error() string { return fmt.Sprintf("closed: %d %s", e.Code, e.Reason) }

// specCloseCode is the close code err carries, or 0.
func specCloseCode(err error) int {
	var gu *specGiveUp
	var cl *specClosed
	switch {
	case errors.As(err, &gu):
		return gu.Code
	case errors.As(err, &cl):
		return cl.Code
	}
	return 0
}

// specLocal is a failure this device detected: it closes with Code.
type specLocal struct {
	Code   int
	Reason string
}

func (e *specLocal) Error() string { return fmt.Sprintf("closing with %d: %s", e.Code, e.Reason) }

// specGivesUp is section 8's policy for a close code received.
func specGivesUp(code int) bool {
	switch code {
	case 1003, 1007, 1009, 4000, 4001, 4002, 4005, 4010:
		return true
	case 1000, 1001, 1006, 1011, 1012, 1013, 4008, 4009, 4500:
		return false
	}
	return code >= 4000 && code <= 4499
}

type specConfig struct {
	Base      string // the server, for HTTP
	Sync      string // where to dial the websocket: the server or a proxy in front of it
	Software  string
	AskScopes []string // the scopes to ask for in the hello
	// Backoff of section 8; tests shorten it.
	BackoffBase, BackoffCap time.Duration
	Record                  func(dir string, b []byte) // every frame and HTTP body, for the schemas
	Now                     func() time.Time
}

// specDevice is one device's state. The maps are its durable storage: the
// test process is its disk, and a cut connection never loses them.
type specDevice struct {
	cfg        specConfig
	en         specEnrolment
	enrolledAt time.Time

	mu         sync.Mutex
	clock      specClock
	seq        int64               // highest sequence assigned
	outbox     map[int64]specEvent // unacknowledged
	quarantine map[int64]specQuarantined
	log        map[string]specEvent // every event held: own and received
	cursors    map[string]int64
	codes      map[string]bool
	batch      int   // slow start's current push size
	closes     []int // close codes seen, newest last
	conns      int
	online     bool
	wake       chan struct{}
}

func newSpecDevice(cfg specConfig, en specEnrolment, enrolledAt time.Time) *specDevice {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Record == nil {
		cfg.Record = func(string, []byte) {}
	}
	d := &specDevice{cfg: cfg, en: en, enrolledAt: enrolledAt,
		clock:  specClock{now: cfg.Now},
		outbox: map[int64]specEvent{}, quarantine: map[int64]specQuarantined{},
		log: map[string]specEvent{}, cursors: map[string]int64{}, codes: map[string]bool{},
		batch: specMaxBatch, wake: make(chan struct{}, 1)}
	for _, s := range cfg.AskScopes {
		d.cursors[s] = 0
	}
	return d
}

func (d *specDevice) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// newEvent stamps an event with a fresh id and clock reading.
func (d *specDevice) newEvent(complaintID, typ string, actor specActor, branch string, data any) specEvent {
	d.mu.Lock()
	at := d.clock.Now()
	d.mu.Unlock()
	e := specEvent{ID: specNewUUID7(d.cfg.Now()), ComplaintID: complaintID, Type: typ, Actor: actor, At: at, Branch: branch}
	if data != nil {
		b, err := specJSON(data)
		if err != nil {
			panic(err)
		}
		e.Data = b
	}
	return e
}

// File records a customer's complaint as section 5.2.1 says and puts it in
// the outbox with the next sequence.
func (d *specDevice) File(dr specDraft) specEvent {
	c := specComplaint{
		ID: specNewUUID7(d.cfg.Now()), Branch: d.en.Branch, Device: d.en.DeviceID, Channel: "kiosk",
		Category: specClean(dr.Category, false), Description: specClean(dr.Description, true),
		DesiredOutcome: specClean(dr.Outcome, true), Language: dr.Language,
		FiledAt: d.cfg.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	if dr.Consent {
		ct := &specContact{Name: specClean(dr.Name, false), Email: specClean(dr.Email, false), Phone: specClean(dr.Phone, false),
			ConsentAt: c.FiledAt, NoticeVersion: "1"}
		if ct.Name+ct.Email+ct.Phone != "" {
			c.Contact = ct
		}
	}
	d.mu.Lock()
	for {
		c.Code = specNewCode(d.en.CodePrefix)
		if !d.codes[c.Code] {
			d.codes[c.Code] = true
			break
		}
	}
	d.mu.Unlock()
	e := d.newEvent(c.ID, "filed", specActor{Kind: "device", ID: d.en.DeviceID}, d.en.Branch, c)
	d.Record(e)
	return e
}

// Act records a staff action by staffID (5.2.2).
func (d *specDevice) Act(complaintID, branch, typ, staffID string, data any) specEvent {
	e := d.newEvent(complaintID, typ, specActor{Kind: "staff", ID: staffID}, branch, data)
	d.Record(e)
	return e
}

// Record gives e the next sequence and puts it in the outbox and the log
// (in a real device: one durable transaction, before anything is shown).
func (d *specDevice) Record(e specEvent) int64 {
	d.mu.Lock()
	d.seq++
	s := d.seq
	d.outbox[s] = e
	d.log[e.ID] = e
	d.mu.Unlock()
	d.poke()
	return s
}

// Assign takes the next sequence for an event sent by hand (the probes).
func (d *specDevice) Assign(e specEvent) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.log[e.ID] = e
	return d.seq
}

// Run syncs until ctx ends or a close code says give up.
func (d *specDevice) Run(ctx context.Context) error {
	step := 0
	for {
		progress, err := d.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var gu *specGiveUp
		if errors.As(err, &gu) {
			return err
		}
		if progress {
			step = 0
		}
		delay := min(d.cfg.BackoffCap, d.cfg.BackoffBase<<min(step, 20))
		delay = time.Duration(mrand.Int64N(int64(delay) + 1)) // full jitter
		if code := d.lastClose(); code == 4009 {
			delay = time.Second + time.Duration(mrand.Int64N(int64(9*time.Second)))
		}
		step++
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (d *specDevice) lastClose() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.closes) == 0 {
		return 0
	}
	return d.closes[len(d.closes)-1]
}

func (d *specDevice) noteClose(code int) {
	d.mu.Lock()
	d.closes = append(d.closes, code)
	d.mu.Unlock()
}

// specConn is one websocket: one reader, writes serialised.
type specConn struct {
	d   *specDevice
	ws  *websocket.Conn
	wmu sync.Mutex
}

// Dial opens the sync websocket with the device's credential (section 2.2).
func (d *specDevice) Dial(ctx context.Context) (*specConn, error) {
	url := "ws" + strings.TrimPrefix(d.cfg.Sync, "http") + "/api/v1/sync"
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{"Authorization": {"Bearer " + d.en.Credential}})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, &specGiveUp{Code: 401, Reason: "device not enrolled or revoked"}
		}
		return nil, err
	}
	ws.SetReadLimit(specMaxFrame)
	_ = ws.SetReadDeadline(time.Now().Add(specReadTimeout))
	c := &specConn{d: d, ws: ws}
	ws.SetPingHandler(func(p string) error {
		_ = ws.SetReadDeadline(time.Now().Add(specReadTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(p), time.Now().Add(specWriteTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) {
				return err
			}
		}
		return nil
	})
	return c, nil
}

// Send encodes and writes one message.
func (c *specConn) Send(typ string, body any) error {
	b, err := specEncode(typ, body)
	if err != nil {
		return err
	}
	return c.SendRaw(websocket.TextMessage, b, true)
}

// SendRaw writes a frame as it is; record says whether it is a frame the
// document calls valid (the probes send others on purpose).
func (c *specConn) SendRaw(kind int, b []byte, record bool) error {
	if record {
		c.d.cfg.Record("up", b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(specWriteTimeout))
	return c.ws.WriteMessage(kind, b)
}

// Close sends a close frame and waits (a little) for the server's.
func (c *specConn) Close(code int, reason string) {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(specWriteTimeout))
	c.wmu.Unlock()
}

// Read returns the next message (decoded envelope, strictly), or the close
// code that ended the connection.
func (c *specConn) Read() (specEnvelope, error) {
	kind, b, err := c.ws.ReadMessage()
	if err != nil {
		code := 1006
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			code = ce.Code
		} else if errors.Is(err, websocket.ErrReadLimit) {
			return specEnvelope{}, &specLocal{Code: 1009, Reason: "frame over 1 MiB"}
		}
		c.d.noteClose(code)
		reason := ""
		if ce != nil {
			reason = ce.Text
		}
		if specGivesUp(code) {
			return specEnvelope{}, &specGiveUp{Code: code, Reason: reason}
		}
		return specEnvelope{}, &specClosed{Code: code, Reason: reason}
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(specReadTimeout))
	if kind != websocket.TextMessage {
		return specEnvelope{}, &specLocal{Code: 1003, Reason: "binary frame"}
	}
	c.d.cfg.Record("down", b)
	var env specEnvelope
	if err := specStrict(b, &env); err != nil {
		return env, &specLocal{Code: 4000, Reason: "envelope: " + err.Error()}
	}
	if env.V != 1 && env.Type != "server_hello" {
		return env, &specLocal{Code: 4001, Reason: "a version this device does not speak"}
	}
	return env, nil
}

// Hello runs section 4 from the device's side and returns the server's hello.
func (c *specConn) Hello(deviceSeq int64, cursors map[string]int64) (specServerHello, error) {
	if cursors == nil {
		cursors = map[string]int64{} // an object, never null (section 5)
	}
	h := specClientHello{Versions: []int{1}, DeviceID: c.d.en.DeviceID, Software: c.d.cfg.Software, Cursors: cursors, DeviceSeq: deviceSeq}
	if err := c.Send("client_hello", h); err != nil {
		return specServerHello{}, err
	}
	env, err := c.Read()
	if err != nil {
		return specServerHello{}, err
	}
	var sh specServerHello
	if env.Type != "server_hello" {
		return sh, &specLocal{Code: 4000, Reason: "expected server_hello, got " + env.Type}
	}
	decode := specStrict
	if env.V > 1 {
		decode = json.Unmarshal // a newer hello is read leniently
	}
	if err := decode(env.Body, &sh); err != nil {
		return sh, &specLocal{Code: 4000, Reason: "server_hello: " + err.Error()}
	}
	switch {
	case sh.Version != 1:
		return sh, &specLocal{Code: 4001, Reason: "server chose a version not offered"}
	case sh.ServerTime == 0 || sh.DeviceSeq == nil || *sh.DeviceSeq < 0 || sh.Scopes == nil || len(*sh.Scopes) > 64:
		return sh, &specLocal{Code: 4000, Reason: "server_hello lacks a member or breaks its rule"}
	}
	for _, s := range *sh.Scopes {
		if _, asked := cursors[s]; !asked || !specName(s) {
			return sh, &specLocal{Code: 4000, Reason: "server_hello grants a scope not asked for"}
		}
	}
	return sh, nil
}

// decodeAnswer reads a push_ack, push_reject or events body strictly and
// checks its rules (section 5).
func specDecodeAnswer(env specEnvelope) (any, error) {
	bad := func(format string, a ...any) error {
		return &specLocal{Code: 4000, Reason: env.Type + ": " + fmt.Sprintf(format, a...)}
	}
	switch env.Type {
	case "push_ack":
		var m specPushAck
		if err := specStrict(env.Body, &m); err != nil || m.Seq < 1 {
			return nil, bad("malformed (%v)", err)
		}
		return m, nil
	case "push_reject":
		var m specPushReject
		if err := specStrict(env.Body, &m); err != nil {
			return nil, bad("%v", err)
		}
		// Any code of 4000-4499 is a rejection, known or not (section 8).
		if m.Seq < 1 || !specUUID7(m.EventID) || m.Code < 4000 || m.Code > 4499 || m.Reason == "" || len(m.Reason) > 123 {
			return nil, bad("breaks a rule")
		}
		return m, nil
	case "events":
		var m specEvents
		if err := specStrict(env.Body, &m); err != nil {
			return nil, bad("%v", err)
		}
		if !specName(m.Scope) || m.From == nil || *m.From < 0 || m.Next < 1 || m.Next < *m.From || len(m.Events) > specMaxBatch {
			return nil, bad("breaks a rule")
		}
		prev := *m.From
		for i := range m.Events {
			se := &m.Events[i]
			if se.Seq <= prev || se.Seq > m.Next {
				return nil, bad("seqs not ascending in (from, next]")
			}
			prev = se.Seq
			if err := specCheckEvent(&se.Event); err != nil {
				return nil, bad("%v", err)
			}
		}
		return m, nil
	}
	return nil, bad("not a message the server sends now")
}

// session is one connection: hello, then the device pushes its outbox
// (section 6) while a reader takes the answers and the downstream
// batches (section 7). progress says whether anything got through.
func (d *specDevice) session(ctx context.Context) (progress bool, err error) {
	c, err := d.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer c.ws.Close()
	d.mu.Lock()
	d.conns++
	high := d.seq
	cursors := make(map[string]int64, len(d.cursors))
	for s, v := range d.cursors {
		cursors[s] = v
	}
	d.mu.Unlock()
	sh, err := c.Hello(high, cursors)
	if err != nil {
		return false, d.fail(c, err, nil)
	}
	d.setOnline(true)
	defer d.setOnline(false)
	granted := map[string]bool{}
	for _, s := range *sh.Scopes {
		granted[s] = true
	}
	d.mu.Lock()
	d.clock.Observe(sh.ServerTime)
	lowest := d.lowestLocked()
	d.mu.Unlock()
	switch {
	case *sh.DeviceSeq > high:
		return false, d.fail(c, &specLocal{Code: 4005, Reason: "the server holds seqs this device never assigned"}, nil)
	case lowest > 0 && lowest > *sh.DeviceSeq+1:
		return false, d.fail(c, &specLocal{Code: 4000, Reason: "the server lost events this device forgot"}, nil)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan any, 64)
	readDone := make(chan error, 1)
	go func() { readDone <- d.read(sctx, c, granted, answers) }()

	var (
		inflight  [][2]int64 // unacknowledged pushes: first and last seq
		firstSent int64      // lowest seq sent on this connection
		lastSent  int64
		connAck   int64 // highest ack on this connection
	)
	defer func() {
		if firstSent != 0 && connAck == 0 {
			d.mu.Lock()
			d.batch = specSmallBatch // slow start on the next connection
			d.mu.Unlock()
		}
	}()
	// end stops the reader's hand-offs first, so it cannot wait on a
	// pusher that is leaving, then closes.
	end := func(err error) (bool, error) {
		cancel()
		return progress, d.fail(c, err, readDone)
	}
	for {
		for len(inflight) < specWindow {
			entries := d.nextBatch(lastSent)
			if len(entries) == 0 {
				break
			}
			if err := c.Send("push", specPush{Events: entries}); err != nil {
				return end(err)
			}
			if firstSent == 0 {
				firstSent = entries[0].Seq
			}
			lastSent = entries[len(entries)-1].Seq
			inflight = append(inflight, [2]int64{entries[0].Seq, lastSent})
		}
		select {
		case <-ctx.Done():
			c.Close(1000, "device stopping")
			return end(nil)
		case err := <-readDone:
			readDone <- err // for end, which waits for the reader
			return end(err)
		case <-d.wake:
		case a := <-answers:
			progress = true
			switch m := a.(type) {
			case specPushReject:
				if firstSent == 0 || m.Seq < firstSent || m.Seq > lastSent {
					return end(&specLocal{Code: 4500, Reason: "push_reject for a seq not sent here"})
				}
				d.quarantineEvent(m)
			case specPushAck:
				if firstSent == 0 || m.Seq > lastSent {
					return end(&specLocal{Code: 4500, Reason: "push_ack for a seq not sent here"})
				}
				if m.Seq <= connAck {
					continue
				}
				connAck = m.Seq
				d.ack(m.Seq)
				for len(inflight) > 0 && inflight[0][1] <= m.Seq {
					inflight = inflight[1:]
				}
			}
		}
	}
}

// read is the connection's only reader: push answers go to the pusher in
// arrival order; downstream batches are stored with their cursor and
// acknowledged here.
func (d *specDevice) read(ctx context.Context, c *specConn, granted map[string]bool, answers chan<- any) error {
	for {
		env, err := c.Read()
		if err != nil {
			return err
		}
		a, err := specDecodeAnswer(env)
		if err != nil {
			return err
		}
		if ev, ok := a.(specEvents); ok {
			if !granted[ev.Scope] {
				return &specLocal{Code: 4000, Reason: "events for a scope not granted"}
			}
			d.mu.Lock()
			cur := d.cursors[ev.Scope]
			if *ev.From != cur {
				d.mu.Unlock()
				return &specLocal{Code: 4500, Reason: "events batch not at the cursor"}
			}
			for _, se := range ev.Events {
				d.log[se.Event.ID] = se.Event
			}
			d.cursors[ev.Scope] = ev.Next
			d.mu.Unlock()
			if err := c.Send("events_ack", specEventsAck{Scope: ev.Scope, Cursor: ev.Next}); err != nil {
				return err
			}
			a = struct{}{}
		}
		select {
		case answers <- a:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fail ends a session after err: a failure this device found is closed
// with its code (then the server's close is awaited, briefly); a close
// from the server or a broken connection just ends it.
func (d *specDevice) fail(c *specConn, err error, readDone chan error) error {
	var lc *specLocal
	if errors.As(err, &lc) {
		c.Close(lc.Code, lc.Reason)
		if specGivesUp(lc.Code) {
			err = &specGiveUp{Code: lc.Code, Reason: lc.Reason}
		}
	}
	if readDone != nil {
		t := time.NewTimer(specCloseGrace)
		select {
		case <-readDone:
		case <-t.C:
		}
		t.Stop()
	}
	c.ws.Close()
	if err == nil {
		err = errors.New("connection ended")
	}
	return err
}

func (d *specDevice) lowestLocked() int64 {
	var low int64
	for s := range d.outbox {
		if low == 0 || s < low {
			low = s
		}
	}
	return low
}

// nextBatch is the next push after seq `after`: contiguous outbox entries
// from the lowest one above it, at most the slow-start size and 1 MiB.
func (d *specDevice) nextBatch(after int64) []specEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	seqs := make([]int64, 0, len(d.outbox))
	for s := range d.outbox {
		if s > after {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	var out []specEntry
	size := 64
	for i, s := range seqs {
		if i > 0 && s != seqs[i-1]+1 || len(out) == d.batch {
			break
		}
		b, _ := specJSON(specEntry{Seq: s, Event: d.outbox[s]})
		if size+len(b)+1 > specMaxFrame-1024 && len(out) > 0 {
			break
		}
		size += len(b) + 1
		out = append(out, specEntry{Seq: s, Event: d.outbox[s]})
	}
	return out
}

// ack marks every outbox entry <= seq sent, and grows the push size.
func (d *specDevice) ack(seq int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for s := range d.outbox {
		if s <= seq {
			delete(d.outbox, s)
		}
	}
	d.batch = min(specMaxBatch, d.batch*2)
}

// quarantineEvent moves a rejected event out of the outbox, by its event
// id even when an ack already took it out (section 6).
func (d *specDevice) quarantineEvent(m specPushReject) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.outbox[m.Seq]
	if ok && e.ID == m.EventID {
		delete(d.outbox, m.Seq)
	} else {
		e = d.log[m.EventID]
	}
	d.quarantine[m.Seq] = specQuarantined{Seq: m.Seq, Event: e, Code: m.Code, Reason: m.Reason}
}

// Status is what staff would see.
func (d *specDevice) Status() (pending, quarantined, conns int, closes []int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.outbox), len(d.quarantine), d.conns, slices.Clone(d.closes)
}

// Holds reports whether the device holds every event id of ids.
func (d *specDevice) Holds(ids []string) (missing int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if _, ok := d.log[id]; !ok {
			missing++
		}
	}
	return missing
}

func (d *specDevice) setOnline(on bool) {
	d.mu.Lock()
	d.online = on
	d.mu.Unlock()
}

// Online reports whether a connection is past its hello.
func (d *specDevice) Online() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.online
}

// Cursor is the device's stored cursor for scope.
func (d *specDevice) Cursor(scope string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cursors[scope]
}
