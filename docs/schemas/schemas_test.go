package schemas_test

import (
	"strings"
	"testing"

	"ombud/docs/schemas"
)

func mustLoad(tb testing.TB) *schemas.Set {
	tb.Helper()
	s, err := schemas.Load()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestEverySchemaCompiles: a schema that does not compile (a bad $ref, a
// pattern the regexp engine refuses) fails here, not in a distant test.
func TestEverySchemaCompiles(t *testing.T) {
	s := mustLoad(t)
	want := []string{"frame", "client_hello", "server_hello", "push", "push_ack", "push_reject", "events", "events_ack",
		"event", "filed", "payloads", "common", "enrol-request", "enrol-response", "error"}
	have := strings.Join(s.Names(), " ")
	for _, n := range want {
		if !strings.Contains(" "+have+" ", " "+n+" ") {
			t.Errorf("schema %q missing; have %s", n, have)
		}
	}
}

const (
	evID  = `"018bcfe5-6800-7e13-8aef-f69dba4a93f4"`
	cmpID = `"018bcfe5-6800-7c55-9a5e-c647e3de77d3"`
)

// filedData is a complaint as docs/SYNC.md 5.2.1 describes, with the code of
// the document's worked example (section 5.3).
func filedData(override string) string {
	fields := map[string]string{
		"id": cmpID, "code": `"K7QM4XRT9B2Y"`, "branch": `"north"`, "device": `"kiosk-1"`, "channel": `"kiosk"`,
		"category": `"billing"`, "description": `"Charged twice.\nPlease refund."`, "language": `"en"`,
		"filed_at": `"2026-12-02T09:15:04.123Z"`,
	}
	order := []string{"id", "code", "branch", "device", "channel", "category", "description", "language", "filed_at"}
	var b strings.Builder
	b.WriteString("{")
	for i, k := range order {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + k + `":` + fields[k])
	}
	if override != "" {
		b.WriteString("," + override)
	}
	b.WriteString("}")
	return b.String()
}

func filedFrame(actor, data string) string {
	return `{"v":1,"type":"push","body":{"events":[{"seq":1,"event":{"id":` + evID + `,"complaint_id":` + cmpID +
		`,"type":"filed","actor":` + actor + `,"at":111411200000000000,"branch":"north","data":` + data + `}}]}}`
}

func staffFrame(typ, data string) string {
	d := ""
	if data != "" {
		d = `,"data":` + data
	}
	return `{"v":1,"type":"push","body":{"events":[{"seq":7,"event":{"id":` + evID + `,"complaint_id":` + cmpID +
		`,"type":"` + typ + `","actor":{"kind":"staff","id":"alice"},"at":111411200000000000,"branch":"north"` + d + `}}]}}`
}

// TestSchemasSayWhatTheDocumentSays: documents the text calls valid pass,
// and the mistakes it names fail, schema by schema.
func TestSchemasSayWhatTheDocumentSays(t *testing.T) {
	s := mustLoad(t)
	device := `{"kind":"device","id":"kiosk-1"}`
	tests := []struct {
		name, schema, doc string
		valid             bool
	}{
		{"client hello", "frame", `{"v":1,"type":"client_hello","body":{"versions":[1],"device_id":"kiosk-1","software":"x 1.0","cursors":{"branch:north":0},"device_seq":0}}`, true},
		{"client hello without optional members", "frame", `{"v":1,"type":"client_hello","body":{"versions":[1],"device_id":"kiosk-1","software":"x"}}`, true},
		{"client hello unknown member", "frame", `{"v":1,"type":"client_hello","body":{"versions":[1],"device_id":"k","software":"x","extra":1}}`, false},
		{"newer client hello is read leniently", "frame", `{"v":2,"type":"client_hello","body":{"versions":[1,2],"device_id":"k","software":"x","extra":1}}`, true},
		{"client hello no versions", "frame", `{"v":1,"type":"client_hello","body":{"versions":[],"device_id":"k","software":"x"}}`, false},
		{"client hello control character in software", "frame", `{"v":1,"type":"client_hello","body":{"versions":[1],"device_id":"k","software":"x\u001b"}}`, false},
		{"server hello", "frame", `{"v":1,"type":"server_hello","body":{"version":1,"server_time":111411200000000000,"device_seq":0,"scopes":[]}}`, true},
		{"server hello without scopes", "frame", `{"v":1,"type":"server_hello","body":{"version":1,"server_time":1,"device_seq":0}}`, false},
		{"push of a filing", "frame", filedFrame(device, filedData("")), true},
		{"push of a filing with contact", "frame", filedFrame(device, filedData(`"contact":{"email":"a@b.org","consent_at":"2026-12-02T09:15:00Z","notice_version":"1"}`)), true},
		{"filing by the customer", "frame", filedFrame(`{"kind":"customer"}`, filedData("")), false},
		{"filing without data", "frame", strings.Replace(filedFrame(device, "{}"), `,"data":{}`, "", 1), false},
		{"filing with an escape sequence", "frame", filedFrame(device, strings.Replace(filedData(""), "Charged", `\u001b[31mCharged`, 1)), false},
		{"filing with a tab", "frame", filedFrame(device, strings.Replace(filedData(""), "Charged", `\tCharged`, 1)), false},
		{"filing with a line feed in the category", "frame", filedFrame(device, strings.Replace(filedData(""), "billing", `bill\ning`, 1)), false},
		{"filing with a leading space", "frame", filedFrame(device, strings.Replace(filedData(""), `"Charged`, `" Charged`, 1)), false},
		{"filing with a bidi override", "frame", filedFrame(device, strings.Replace(filedData(""), "Charged", `\u202eCharged`, 1)), false},
		{"filing with an emoji sequence", "frame", filedFrame(device, strings.Replace(filedData(""), "Charged", "👩‍💻 Charged", 1)), true},
		{"filing with a stray joiner", "frame", filedFrame(device, strings.Replace(filedData(""), "Charged", "a\u200db Charged", 1)), false},
		{"filing with a lower-case code", "frame", filedFrame(device, strings.Replace(filedData(""), "K7QM4XRT9B2Y", "k7qm4xrt9b2y", 1)), false},
		{"filing with a grouped code", "frame", filedFrame(device, strings.Replace(filedData(""), "K7QM4XRT9B2Y", "K7QM-4XRT-9B2Y", 1)), false},
		{"filing with contact but no consent", "frame", filedFrame(device, filedData(`"contact":{"email":"a@b.org"}`)), false},
		{"filing with an empty contact", "frame", filedFrame(device, filedData(`"contact":{"consent_at":"2026-12-02T09:15:00Z","notice_version":"1"}`)), false},
		{"filing with an implausible phone", "frame", filedFrame(device, filedData(`"contact":{"phone":"12-34","consent_at":"2026-12-02T09:15:00Z","notice_version":"1"}`)), false},
		{"filing with an unknown member", "frame", filedFrame(device, filedData(`"mood":"angry"`)), false},
		{"note by staff", "frame", staffFrame("note_added", `{"text":"Called back."}`), true},
		{"note without text", "frame", staffFrame("note_added", `{}`), false},
		{"acknowledgement", "frame", staffFrame("acknowledged", ""), true},
		{"assessment", "frame", staffFrame("assessed", `{"severity":"high","priority":1}`), true},
		{"assessment priority 5", "frame", staffFrame("assessed", `{"severity":"high","priority":5}`), false},
		{"closure with acceptance", "frame", staffFrame("closed", `{"customer_accepted":true}`), true},
		{"closure with a root cause", "frame", staffFrame("closed", `{"customer_accepted":true,"root_cause":"equipment"}`), true},
		{"closure with another root cause", "frame", staffFrame("closed", `{"root_cause":"other: door locked"}`), true},
		{"closure with an empty other root cause", "frame", staffFrame("closed", `{"root_cause":"other:  "}`), false},
		{"closure with a root cause in capitals", "frame", staffFrame("closed", `{"root_cause":"Equipment"}`), false},
		{"customer's type from a device", "frame", staffFrame("info_provided", `{"text":"x"}`), false},
		{"a staff action without a staff actor", "frame", strings.Replace(staffFrame("acknowledged", ""), `{"kind":"staff","id":"alice"}`, device, 1), false},
		{"push of a non-UUIDv7 id", "frame", strings.Replace(filedFrame(device, filedData("")), evID, `"018BCFE5-6800-7E13-8AEF-F69DBA4A93F4"`, 1), false},
		{"push ack", "frame", `{"v":1,"type":"push_ack","body":{"seq":3}}`, true},
		{"push ack zero", "frame", `{"v":1,"type":"push_ack","body":{"seq":0}}`, false},
		{"push ack in version 2", "frame", `{"v":2,"type":"push_ack","body":{"seq":3}}`, false},
		{"push reject 4007", "frame", `{"v":1,"type":"push_reject","body":{"seq":3,"event_id":` + evID + `,"code":4007,"reason":"altered"}}`, true},
		{"push reject with a code added later", "frame", `{"v":1,"type":"push_reject","body":{"seq":3,"event_id":` + evID + `,"code":4011,"reason":"new"}}`, true},
		{"push reject with a close code", "frame", `{"v":1,"type":"push_reject","body":{"seq":3,"event_id":` + evID + `,"code":4002,"reason":"x"}}`, false},
		{"push reject without reason", "frame", `{"v":1,"type":"push_reject","body":{"seq":3,"event_id":` + evID + `,"code":4003,"reason":""}}`, false},
		{"empty events batch", "frame", `{"v":1,"type":"events","body":{"scope":"branch:north","from":0,"next":5}}`, true},
		{"events batch of a system event", "frame", `{"v":1,"type":"events","body":{"scope":"branch:north","from":0,"next":5,"events":[{"seq":5,"event":{"id":` + evID + `,"complaint_id":` + cmpID + `,"type":"assigned","actor":{"kind":"system"},"at":1,"branch":"north","data":{"queue":"branch:north","rule":"default"}}}]}}`, true},
		{"events ack", "frame", `{"v":1,"type":"events_ack","body":{"scope":"branch:north","cursor":5}}`, true},
		{"events ack at 0", "frame", `{"v":1,"type":"events_ack","body":{"scope":"branch:north","cursor":0}}`, false},
		{"unknown type", "frame", `{"v":1,"type":"hello","body":{}}`, false},
		{"envelope extra member", "frame", `{"v":1,"type":"push_ack","body":{"seq":3},"x":1}`, false},
		{"enrol request", "enrol-request", `{"code":"7kqx-m2pb-0rtc-9z4d","device_name":"Lobby kiosk 2","device_id":"kiosk-lobby-2"}`, true},
		{"enrol request without a name", "enrol-request", `{"code":"7KQXM2PB0RTC9Z4D"}`, false},
		{"enrol request with a short code", "enrol-request", `{"code":"7KQX","device_name":"k"}`, false},
		{"enrol answer", "enrol-response", `{"device_id":"k","credential":"k.` + strings.Repeat("A", 43) + `","branch":"north","branch_name":"North","code_prefix":"9XG","role":"kiosk"}`, true},
		{"enrol answer of a kiosk with teams", "enrol-response", `{"device_id":"k","credential":"k.` + strings.Repeat("A", 43) + `","branch":"north","branch_name":"North","code_prefix":"9XG","role":"kiosk","teams":["fraud"]}`, false},
		{"enrol answer of a team terminal", "enrol-response", `{"device_id":"k","credential":"k.` + strings.Repeat("A", 43) + `","branch":"north","branch_name":"North","code_prefix":"9XG","role":"team","teams":["fraud"]}`, true},
		{"error", "error", `{"error":{"code":"enrolment_refused","message":"This enrolment code is not valid."}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate(tt.schema, []byte(tt.doc))
			if tt.valid && err != nil {
				t.Errorf("refused, want valid: %v\n%s", err, tt.doc)
			}
			if !tt.valid && err == nil {
				t.Errorf("valid, want refused:\n%s", tt.doc)
			}
		})
	}
}
