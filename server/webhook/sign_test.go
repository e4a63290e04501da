package webhook_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"ombud/server/webhook"
)

func TestVerify(t *testing.T) {
	const secret = "whsec_test"
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"wh_1/e"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhook.Sign(secret, now, body)
	for _, tc := range []struct {
		name, ts, sig string
		body          []byte
		at            time.Time
		want          error
	}{
		{"good", ts, good, body, now, nil},
		{"rotation: the second of two", ts, "v1=" + "00" + good[5:] + ", " + good, body, now, nil},
		{"at the edge of the window", ts, good, body, now.Add(webhook.DefaultWindow), nil},
		{"replayed later", ts, good, body, now.Add(webhook.DefaultWindow + time.Second), webhook.ErrStale},
		{"from the future", ts, good, body, now.Add(-webhook.DefaultWindow - time.Second), webhook.ErrStale},
		{"body changed", ts, good, []byte(`{"id":"wh_1/f"}`), now, webhook.ErrNoSignature},
		{"timestamp changed", strconv.FormatInt(now.Unix()+1, 10), good, body, now, webhook.ErrNoSignature},
		{"other secret", ts, webhook.Sign("whsec_other", now, body), body, now, webhook.ErrNoSignature},
		{"no signature", ts, "", body, now, webhook.ErrNoSignature},
		{"unknown scheme", ts, "v0=" + good[3:], body, now, webhook.ErrNoSignature},
		{"timestamp with a sign", "+" + ts, good, body, now, webhook.ErrBadTimestamp},
		{"timestamp in ms", ts + "000", good, body, now, webhook.ErrBadTimestamp},
		{"no timestamp", "", good, body, now, webhook.ErrBadTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.Verify(secret, tc.ts, tc.sig, tc.body, tc.at, webhook.DefaultWindow); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzVerify: the header decoder never panics, and accepts only what Sign
// made for that body and time.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"wh_1/e"}`)
	f.Add("1800000000", webhook.Sign("s", now, body), body)
	f.Add("1800000000", "v1=,v1=zz,"+webhook.Sign("s", now, body), body)
	f.Add("-1", "v1=", []byte{})
	f.Add("999999999999", "v1=00", []byte("x"))
	f.Fuzz(func(t *testing.T, ts, sig string, b []byte) {
		err := webhook.Verify("s", ts, sig, b, now, webhook.DefaultWindow)
		if err != nil {
			return
		}
		sec, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil {
			t.Fatalf("accepted an unparsable timestamp %q", ts)
		}
		// Hex is read in either case.
		if want := webhook.Sign("s", time.Unix(sec, 0), b); !strings.Contains(strings.ToLower(sig), want) {
			t.Fatalf("accepted %q for a body it does not sign", sig)
		}
	})
}
