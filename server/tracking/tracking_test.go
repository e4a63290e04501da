package tracking_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"ombud/server/tracking"
	"ombud/shared/event"
	"ombud/shared/trackcode"
)

func TestPageShowsStatusAndPublicTimelineOnly(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)

	r := e.get(t, "/t/"+c.Code)
	if r.status != http.StatusOK {
		t.Fatalf("status %d:\n%s", r.status, r.body)
	}
	for _, want := range []string{"We have your complaint and will confirm we are handling it by", "High Street",
		trackcode.Code(c.Code).String(), "Complaint received at High Street", "This date follows our published time limits"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("received page lacks %q", want)
		}
	}

	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.NoteAdded, event.Text{Text: "INTERNAL: customer was rude on the phone"})
	e.staff(t, c, event.MessageSent, event.Text{Text: `<script>alert("x")</script> we are on it`})
	r = e.get(t, "/t/"+c.Code)
	for _, want := range []string{"We are handling your complaint.", "Message from us",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; we are on it", "You get our answer by"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The description is the customer's own words at the kiosk and may hold
	// personal data; contact details, staff ids and notes are never public.
	for _, never := range []string{"<script", secretDescription, secretName, secretEmail, secretPhone, "a refund",
		"INTERNAL", "staff-bob-smith", e.device.ID} {
		if strings.Contains(r.body, never) {
			t.Errorf("page shows %q", never)
		}
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if r.header.Get("Permissions-Policy") == "" || r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("Permissions-Policy %q, HSTS %q (want set, and none over plain HTTP)",
			r.header.Get("Permissions-Policy"), r.header.Get("Strict-Transport-Security"))
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "http://") || strings.Contains(r.body, "https://") {
		t.Error("page has a script or an absolute (third-party) URL")
	}
	css := e.get(t, tracking.PathCSS)
	if css.status != http.StatusOK || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.status, css.header.Get("Content-Type"))
	}
}

func TestStatusWordsPerState(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.InfoRequested, event.Text{Text: "Which day was it?"})
	if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "We are waiting for information from you") ||
		strings.Contains(r.body, "You get our answer by") {
		t.Errorf("waiting page: wants the waiting words and no date (the SLA is paused):\n%s", r.body)
	}
	e.staff(t, c, event.Assessed, event.Assessment{Severity: event.SeverityLow, Priority: 3})
	e.staff(t, c, event.Responded, event.Text{Text: "We refund you."})
	r := e.get(t, "/t/"+c.Code)
	for _, want := range []string{"We have sent our answer: see below", "We refund you.", "I accept this answer",
		"I am not satisfied", "If you are still not satisfied", "How did we handle your complaint?"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("responded page lacks %q", want)
		}
	}
	if fr := e.get(t, "/t/"+c.Code+"?lang=fr"); !strings.Contains(fr.body, "Nous vous avons répondu") ||
		!strings.Contains(fr.body, `href="?lang=en"`) {
		t.Errorf("?lang=fr page is not French or lacks the switch back")
	}
	// The complaint was filed in English: that, not the browser's
	// language, opens the page (the language links switch it).
	if en := e.get(t, "/t/"+c.Code, "Accept-Language", "fr-CA,fr;q=0.9,en;q=0.5"); !strings.Contains(en.body, `<html lang="en">`) {
		t.Error("Accept-Language fr overrode the complaint's English")
	}
	e.closeUnanswered(t, c)
	if r := e.get(t, "/t/"+c.Code); !strings.Contains(r.body, "Your complaint is closed.") || strings.Contains(r.body, "I accept this answer") {
		t.Error("closed page: want the closed words and no answer buttons")
	}
}

func TestUnknownAndMalformedLookTheSame(t *testing.T) {
	e := newEnv(t, nil)
	e.file(t)
	unknown, err := trackcode.Generate(e.device.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	ref := e.get(t, "/t/"+string(unknown))
	if ref.status != http.StatusNotFound {
		t.Fatalf("unknown code: status %d", ref.status)
	}
	for _, path := range []string{"/t/NOT-A-CODE", "/t/%3Cscript%3E", "/t/" + strings.Repeat("A", 40),
		"/t?code=nonsense", "/t?code=" + string(unknown), "/t/" + string(unknown) + "/nope"} {
		r := e.get(t, path)
		if r.status != ref.status || r.body != ref.body {
			t.Errorf("%s: status %d and a body that differs from an unknown code's (%d)", path, r.status, ref.status)
		}
	}
	apiRef := e.get(t, "/api/v1/track/"+string(unknown))
	if apiRef.status != http.StatusNotFound {
		t.Fatalf("api unknown: %d", apiRef.status)
	}
	if r := e.get(t, "/api/v1/track/garbage"); r.status != apiRef.status || r.body != apiRef.body {
		t.Errorf("api malformed: %d %s, want as unknown: %s", r.status, r.body, apiRef.body)
	}

	// One symbol changed: the check symbol catches it, and that is worth
	// telling (it is arithmetic on the code, not a lookup).
	typo := []byte(string(unknown))
	typo[5] = map[bool]byte{true: 'A', false: 'B'}[typo[5] != 'A']
	for _, path := range []string{"/t/" + string(typo), "/t?code=" + string(typo)} {
		r := e.get(t, path)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Please check the code: one of the characters looks mistyped.") {
			t.Errorf("%s: %d, want 400 and the typo message", path, r.status)
		}
	}
	if r := e.get(t, "/api/v1/track/"+string(typo)); r.status != http.StatusBadRequest || !strings.Contains(r.body, `"check_code"`) {
		t.Errorf("api typo: %d %s", r.status, r.body)
	}
}

func TestLookupFormRedirectsToCanonicalPage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	if r := e.get(t, "/t"); r.status != http.StatusOK || !strings.Contains(r.body, `name="code"`) {
		t.Fatalf("GET /t: %d", r.status)
	}
	typed := strings.ToLower(trackcode.Code(c.Code).String()) // grouped, lower case
	r := e.get(t, "/t?lang=fr&code="+url.QueryEscape(" "+typed+" "))
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/t/"+c.Code+"?lang=fr" {
		t.Errorf("lookup: %d to %q, want 303 to /t/%s?lang=fr", r.status, r.header.Get("Location"), c.Code)
	}
}

func TestActionsAppendExactlyTheirEvents(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond bool
		action  string
		form    url.Values
		want    []event.Type
		check   func(t *testing.T, evs []event.Event)
	}{
		{name: "add information", action: "info", form: url.Values{"text": {"  It was on \x1b[31mTuesday\n at 10  "}},
			want: []event.Type{event.InfoProvided}, check: func(t *testing.T, evs []event.Event) {
				var txt event.Text
				json.Unmarshal(evs[0].Data, &txt)
				if txt.Text != "It was on Tuesday\n at 10" {
					t.Errorf("stored text %q: want it cleaned and trimmed", txt.Text)
				}
			}},
		{name: "accept", respond: true, action: "accept", want: []event.Type{event.Closed},
			check: func(t *testing.T, evs []event.Event) {
				var cl event.Closure
				json.Unmarshal(evs[0].Data, &cl)
				if cl.CustomerAccepted == nil || !*cl.CustomerAccepted {
					t.Errorf("closure %+v: want customer accepted", cl)
				}
			}},
		{name: "not satisfied", respond: true, action: "reject", form: url.Values{"reason": {"The refund is too small."}},
			want: []event.Type{event.Closed, event.Reopened, event.Escalated}, check: func(t *testing.T, evs []event.Event) {
				var cl event.Closure
				json.Unmarshal(evs[0].Data, &cl)
				var re event.Text
				json.Unmarshal(evs[1].Data, &re)
				if cl.CustomerAccepted == nil || *cl.CustomerAccepted || re.Text != "The refund is too small." {
					t.Errorf("closure %+v, reopen reason %q", cl, re.Text)
				}
			}},
		{name: "rate", respond: true, action: "rate", form: url.Values{"stars": {"4"}, "comment": {"quick"}},
			want: []event.Type{event.SatisfactionRated}, check: func(t *testing.T, evs []event.Event) {
				var rt event.Rating
				json.Unmarshal(evs[0].Data, &rt)
				if rt.Stars != 4 || rt.Comment != "quick" {
					t.Errorf("rating %+v", rt)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			c := e.file(t)
			if tc.respond {
				e.respond(t, c, "Here is our answer.")
			}
			before := len(e.events(t, c))
			page := e.get(t, "/t/"+c.Code)
			path, form := formOf(t, page.body, tc.action)
			for k, v := range tc.form {
				form[k] = v
			}
			r := e.post(t, path, form, "Origin", "null", "Sec-Fetch-Site", "same-origin")
			if r.status != http.StatusSeeOther || r.header.Get("Location") != "/t/"+c.Code+"?done="+tc.action+"&lang=en" {
				t.Fatalf("POST: %d to %q:\n%s", r.status, r.header.Get("Location"), r.body)
			}
			evs := e.events(t, c)[before:]
			if got := types(evs); !slices.Equal(got, tc.want) {
				t.Fatalf("appended %v, want %v", got, tc.want)
			}
			for _, ev := range evs {
				if ev.Actor.Kind != event.ActorCustomer || ev.Actor.ID != "" || ev.Branch != c.Branch {
					t.Errorf("event %s: actor %+v branch %q", ev.Type, ev.Actor, ev.Branch)
				}
			}
			tc.check(t, evs)
			// The confirmation, and the same form again stores nothing.
			if after := e.get(t, r.header.Get("Location")); !strings.Contains(after.body, `id="done"`) {
				t.Error("no confirmation after the redirect")
			}
			if again := e.post(t, path, form); again.status != http.StatusSeeOther {
				t.Errorf("resubmitted form: %d, want the same redirect", again.status)
			}
			if n := len(e.events(t, c)) - before; n != len(tc.want) {
				t.Errorf("after a resubmit %d events were appended, want %d", n, len(tc.want))
			}
		})
	}
}

func TestFormsRefusedWithoutAValidToken(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "answer") // so the page has several forms
	other := e.file(t)
	page := e.get(t, "/t/"+c.Code)
	path, good := formOf(t, page.body, "info")
	_, rateForm := formOf(t, page.body, "rate")
	_, otherForm := formOf(t, e.get(t, "/t/"+other.Code).body, "info")
	with := func(change func(url.Values)) url.Values {
		v := url.Values{}
		for k, vs := range good {
			v[k] = slices.Clone(vs)
		}
		v.Set("text", "hello")
		change(v)
		return v
	}
	before := len(e.events(t, c))
	for _, tc := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", with(func(v url.Values) { v.Del("token") }), nil},
		{"wrong token", with(func(v url.Values) { v.Set("token", "AAAA") }), nil},
		{"another action's token", with(func(v url.Values) { v.Set("token", rateForm.Get("token")); v.Set("nonce", rateForm.Get("nonce")) }), nil},
		{"another case's token", with(func(v url.Values) { v.Set("token", otherForm.Get("token")); v.Set("nonce", otherForm.Get("nonce")) }), nil},
		{"another nonce", with(func(v url.Values) { v.Set("nonce", rateForm.Get("nonce")) }), nil},
		{"cross-site", with(func(url.Values) {}), []string{"Sec-Fetch-Site", "cross-site"}},
		{"foreign origin", with(func(url.Values) {}), []string{"Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(t, path, tc.form, tc.header...)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "This form has expired") {
				t.Errorf("status %d, want 403 and the expired message", r.status)
			}
		})
	}
	if n := len(e.events(t, c)); n != before {
		t.Errorf("%d events stored by refused forms", n-before)
	}
}

func TestFormTokensExpire(t *testing.T) {
	now := time.Date(2026, 5, 11, 9, 0, 0, 0, time.UTC)
	var clock = func() time.Time { return now }
	e := newEnv(t, func(o *tracking.Options) { o.Now = func() time.Time { return clock() } })
	c := e.file(t)
	path, form := formOf(t, e.get(t, "/t/"+c.Code).body, "info")
	form.Set("text", "late")
	now = now.Add(2*time.Hour + time.Minute)
	if r := e.post(t, path, form); r.status != http.StatusForbidden {
		t.Errorf("a form two hours old: %d, want 403", r.status)
	}
}

func TestBadInputAndNotAllowedStoreNothing(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	page := e.get(t, "/t/"+c.Code).body
	path, form := formOf(t, page, "info")
	before := len(e.events(t, c))

	form.Set("text", "   ")
	if r := e.post(t, path, form); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Please write something before sending.") {
		t.Errorf("empty text: %d", r.status)
	}
	long := strings.Repeat("é", tracking.MaxInfo+1)
	form.Set("text", long)
	r := e.post(t, path, form)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Too long: at most 2000 characters (you wrote 2001).") ||
		!strings.Contains(r.body, long) {
		t.Errorf("too long: %d; want 422, the limit and the text given back", r.status)
	}
	// The info form's token does not open another action.
	if r := e.post(t, "/t/"+c.Code+"/accept", form); r.status != http.StatusForbidden {
		t.Errorf("accept with the info form's token: %d, want 403", r.status)
	}
	if n := len(e.events(t, c)) - before; n != 0 {
		t.Errorf("%d events stored", n)
	}
}

func TestNotAllowedHasAPlainMessage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "answer")
	page := e.get(t, "/t/"+c.Code).body
	path, form := formOf(t, page, "accept")
	// Staff close the case meanwhile (the customer accepted at the
	// branch): the page's accept button is stale.
	yes := true
	e.staff(t, c, event.Closed, event.Closure{CustomerAccepted: &yes})
	before := len(e.events(t, c))
	r := e.post(t, path, form)
	if r.status != http.StatusConflict || !strings.Contains(r.body, "Your complaint was closed on") {
		t.Errorf("stale accept: %d, want 409 and the plain message", r.status)
	}
	if n := len(e.events(t, c)) - before; n != 0 {
		t.Errorf("%d events stored", n)
	}
}

// TestAddInformationIsCappedPerDay: anyone with the code can post, so a
// case takes at most MaxInfoPerDay additions a day; the next is refused
// with a plain message, its text given back, nothing stored.
func TestAddInformationIsCappedPerDay(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	post := func(text string) response {
		t.Helper()
		path, form := formOf(t, e.get(t, "/t/"+c.Code).body, "info")
		form.Set("text", text)
		return e.post(t, path, form)
	}
	for i := range tracking.MaxInfoPerDay {
		if r := post(fmt.Sprintf("detail number %d", i)); r.status != http.StatusSeeOther {
			t.Fatalf("addition %d: %d\n%s", i, r.status, r.body)
		}
	}
	before := len(e.events(t, c))
	r := post("one more thing I forgot")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "at most 5 messages a day") ||
		!strings.Contains(r.body, "one more thing I forgot") {
		t.Fatalf("addition over the cap: %d\n%s", r.status, r.body)
	}
	if n := len(e.events(t, c)); n != before {
		t.Fatalf("%d events stored over the cap", n-before)
	}
}

func TestRatingOncePerCase(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "answer")
	page := e.get(t, "/t/"+c.Code).body
	path, first := formOf(t, page, "rate")
	_, second := formOf(t, e.get(t, "/t/"+c.Code).body, "rate") // another tab
	first.Set("stars", "2")
	second.Set("stars", "5")
	if r := e.post(t, path, first); r.status != http.StatusSeeOther {
		t.Fatalf("first rating: %d", r.status)
	}
	r := e.post(t, path, second)
	if r.status != http.StatusConflict || !strings.Contains(r.body, "You have already rated") {
		t.Errorf("second rating: %d, want 409", r.status)
	}
	if r := e.get(t, "/t/"+c.Code); strings.Contains(r.body, `id="rate-submit"`) || !strings.Contains(r.body, "2 out of 5") {
		t.Error("after rating: the form is still offered or the rating not shown")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, func(o *tracking.Options) { o.RatePerMinute, o.Burst = 1, 3 })
	c := e.file(t)
	for i := range 3 {
		if r := e.get(t, "/t/"+c.Code); r.status != http.StatusOK {
			t.Fatalf("request %d: %d", i+1, r.status)
		}
	}
	r := e.get(t, "/t/"+c.Code)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.body, "Please wait") {
		t.Errorf("4th request: %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if r := e.get(t, "/api/v1/track/"+c.Code); r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"rate_limited"`) {
		t.Errorf("api: %d %s", r.status, r.body)
	}
	if r := e.post(t, "/t/"+c.Code+"/info", url.Values{}); r.status != http.StatusTooManyRequests {
		t.Errorf("post: %d", r.status)
	}
	if r := e.get(t, tracking.PathCSS); r.status != http.StatusOK {
		t.Errorf("stylesheet is limited: %d", r.status)
	}
}

// TestFailedLookupsShareOneBudget: unknown codes from many clients spend
// one budget; once it is spent every look-up, of a real code too, waits
// (429), so a scan spread over many addresses gains nothing, and the page
// comes back when the budget refills.
func TestFailedLookupsShareOneBudget(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	e := newEnv(t, func(o *tracking.Options) {
		o.MissesPerMinute, o.Now = 3, clk.Now
		o.ClientIP = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	})
	c := e.file(t)
	for i := range 3 {
		code, err := trackcode.Generate("ZZZ")
		if err != nil {
			t.Fatal(err)
		}
		if r := e.get(t, "/t/"+string(code), "X-Test-Client", fmt.Sprint("scanner-", i)); r.status != http.StatusNotFound {
			t.Fatalf("miss %d: %d", i, r.status)
		}
	}
	r := e.get(t, "/t/"+c.Code, "X-Test-Client", "customer")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("a real code after the budget is spent: %d, want 429", r.status)
	}
	if r := e.get(t, "/api/v1/track/"+c.Code, "X-Test-Client", "customer"); r.status != http.StatusTooManyRequests {
		t.Fatalf("api after the budget is spent: %d, want 429", r.status)
	}
	clk.Add(time.Minute)
	if r := e.get(t, "/t/"+c.Code, "X-Test-Client", "customer"); r.status != http.StatusOK {
		t.Fatalf("after the budget refilled: %d, want 200", r.status)
	}
}

func TestAPI(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.staff(t, c, event.Acknowledged, nil)
	e.staff(t, c, event.NoteAdded, event.Text{Text: "internal"})
	e.staff(t, c, event.MessageSent, event.Text{Text: "<b>hi</b>"})
	r := e.get(t, "/api/v1/track/"+c.Code+"?lang=fr")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %s", r.status, r.header.Get("Content-Type"))
	}
	var got struct {
		Code, Language, State, Status, Branch string
		NextStep                              *struct{ Kind, Due, Basis string } `json:"next_step"`
		Timeline                              []struct{ Type, By, Title, Text string }
		CanAddInfo                            bool `json:"can_add_info"`
		CanAccept                             bool `json:"can_accept"`
		CanRate                               bool `json:"can_rate"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Code != c.Code || got.Language != "fr" || got.State != "acknowledged" || got.Status != "Nous traitons votre réclamation." ||
		got.Branch != "High Street" || !got.CanAddInfo || got.CanAccept || got.CanRate {
		t.Errorf("status = %+v", got)
	}
	if got.NextStep == nil || got.NextStep.Kind != "respond" || got.NextStep.Basis != "policy" {
		t.Errorf("next step = %+v", got.NextStep)
	}
	var seen []string
	for _, en := range got.Timeline {
		seen = append(seen, en.Type)
	}
	if !slices.Equal(seen, []string{"filed", "acknowledged", "message_sent"}) || got.Timeline[2].Text != "<b>hi</b>" || got.Timeline[2].By != "organisation" {
		t.Errorf("timeline = %+v", got.Timeline)
	}
	for _, never := range []string{secretDescription, secretEmail, "internal", "staff-bob"} {
		if strings.Contains(r.body, never) {
			t.Errorf("api shows %q", never)
		}
	}
}

func TestSecretIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	a, err := tracking.LoadOrCreateSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tracking.LoadOrCreateSecret(dir)
	if err != nil || string(a) != string(b) || len(a) != tracking.SecretLen {
		t.Errorf("second load: %v, equal %v, len %d", err, string(a) == string(b), len(a))
	}
}

// TestNotSatisfiedShowsTheNextStep: after "not satisfied" the reopened case
// owes a new answer, and the page and the API say by when.
func TestNotSatisfiedShowsTheNextStep(t *testing.T) {
	e := newEnv(t, nil)
	c := e.file(t)
	e.respond(t, c, "Here is our answer.")
	path, form := formOf(t, e.get(t, "/t/"+c.Code).body, "reject")
	form.Set("reason", "The refund is too small.")
	if r := e.post(t, path, form, "Origin", "null", "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("POST: %d\n%s", r.status, r.body)
	}
	if page := e.get(t, "/t/"+c.Code); !strings.Contains(page.body, "You get our answer by") {
		t.Errorf("the reopened case's page gives no date for the new answer:\n%s", page.body)
	}
	var got struct {
		NextStep *struct{ Kind, Due string } `json:"next_step"`
	}
	if err := json.Unmarshal([]byte(e.get(t, "/api/v1/track/"+c.Code).body), &got); err != nil || got.NextStep == nil || got.NextStep.Kind != "respond" {
		t.Errorf("API next step %+v, %v: want respond", got.NextStep, err)
	}
}

// TestPageOpensInTheComplaintsLanguage: a complaint filed in French opens
// in French on a phone set to English (the QR link names no language);
// ?lang still switches it, and the API answers in it too.
func TestPageOpensInTheComplaintsLanguage(t *testing.T) {
	e := newEnv(t, nil)
	c := e.fileIn(t, "fr")
	if r := e.get(t, "/t/"+c.Code, "Accept-Language", "en-GB,en;q=0.9"); !strings.Contains(r.body, `<html lang="fr">`) ||
		!strings.Contains(r.body, "Nous avons votre réclamation") {
		t.Errorf("a French complaint on an English phone: not French:\n%s", r.body)
	}
	if r := e.get(t, "/t/"+c.Code+"?lang=en", "Accept-Language", "fr"); !strings.Contains(r.body, `<html lang="en">`) {
		t.Error("?lang=en did not switch the page to English")
	}
	if r := e.get(t, "/api/v1/track/"+c.Code, "Accept-Language", "en"); !strings.Contains(r.body, `"language":"fr"`) {
		t.Errorf("API: %s", r.body)
	}
}
