package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"ombud/server/storage"
	"ombud/shared/staff"
	"ombud/shared/uid"
)

// Password rules.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
	// RecoveryCodes is how many one-time recovery codes a person gets.
	RecoveryCodes = 10
)

// common is the bundled list of the most used passwords, lower case.
var common = func() map[string]bool {
	m := make(map[string]bool)
	for _, l := range strings.Split(commonPasswords, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[strings.ToLower(l)] = true
		}
	}
	return m
}()

// ValidatePassword checks a new console password: 12 to 128 characters,
// no control characters, not one of the most common passwords (a bundled
// list; checked without case, and with trailing digits and punctuation
// removed, so "Password2024!" is refused too), and not the staff id.
func ValidatePassword(staffID, p string) error {
	n := utf8.RuneCountInString(p)
	switch {
	case !utf8.ValidString(p):
		return errors.New("the password must be valid text")
	case n < MinPasswordLen || n > MaxPasswordLen:
		return fmt.Errorf("a password is %d to %d characters (a few words make a good one)", MinPasswordLen, MaxPasswordLen)
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return errors.New("the password must not hold control characters")
	}
	low := strings.ToLower(p)
	stem := strings.TrimRightFunc(low, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	if common[low] || common[stem] || (staffID != "" && strings.Contains(low, strings.ToLower(staffID))) {
		return errors.New("this password is among the most common ones, or holds the staff id: choose another")
	}
	return nil
}

// HashPassword is the argon2id hash a password is stored as.
func HashPassword(p string, c staff.Cost) (string, error) { return staff.HashPINWith(p, c) }

// SetPassword checks and stores a new password for an account: what the
// command and the console share. It ends the account's console sessions:
// a password reset after a suspected leak must sign everyone out.
func SetPassword(ctx context.Context, st storage.Console, staffID, password string, c staff.Cost, now time.Time) error {
	if err := ValidatePassword(staffID, password); err != nil {
		return err
	}
	hash, err := HashPassword(password, c)
	if err != nil {
		return err
	}
	if err := st.SetConsolePassword(ctx, staffID, hash, now); err != nil {
		return err
	}
	if _, err := st.EndConsoleSessions(ctx, staffID, nil, now); err != nil {
		return err
	}
	return st.AuditConsole(ctx, storage.AuditEntry{At: now, StaffID: staffID, Action: "password_set", Detail: "console password set", Client: "command"})
}

// NewTOTP makes a TOTP secret for an account and the otpauth URL an
// authenticator app reads from its QR code.
func NewTOTP(issuer, staffID string) (secret, uri string, err error) {
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: staffID, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	return k.Secret(), k.URL(), nil
}

// EnrolTOTP stores a new secret, already on (for the command, whose
// operator shows the person the URL), with fresh recovery codes, which it
// returns: shown once, stored hashed.
func EnrolTOTP(ctx context.Context, st storage.Console, staffID, secret string, now time.Time) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	if err := st.SetConsoleTOTP(ctx, staffID, secret, true, hashes, now); err != nil {
		return nil, err
	}
	return codes, nil
}

// otpURL is the otpauth URL of a secret.
func (h *Handler) otpURL(staffID, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", h.opts.Issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(h.opts.Issuer) + ":" + url.PathEscape(staffID) + "?" + v.Encode()
}

func newRecoveryCodes() (codes []string, hashes [][]byte) {
	for range RecoveryCodes {
		b := make([]byte, 10)
		rand.Read(b)
		c := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
		c = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		codes = append(codes, c)
		hashes = append(hashes, recoveryHash(c))
	}
	return codes, hashes
}

func recoveryHash(c string) []byte {
	c = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(c), " ", ""))
	s := sha256.Sum256([]byte("ombud/console/recovery/v1\x00" + c))
	return s[:]
}

// Cookie names. The __Host- prefix (Secure, path /, no domain) is used
// when Secure: a sibling subdomain cannot then plant a session cookie.
func (h *Handler) cookieName(base string) string {
	if h.opts.Secure {
		return "__Host-" + base
	}
	return base
}

const (
	sessionCookie = "ombud_console"
	preCookie     = "ombud_console_pre"
)

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: h.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		Secure: h.opts.Secure, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func tokenHash(tok string) []byte {
	s := sha256.Sum256([]byte(tok))
	return s[:]
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// who is the signed-in person of a request.
type who struct {
	sess  storage.ConsoleSession
	acct  storage.ConsoleAccount
	scope storage.Scope
	csrf  string
}

type whoKey struct{}

func whoOf(r *http.Request) *who { w, _ := r.Context().Value(whoKey{}).(*who); return w }

// session reads the request's session: valid, not ended, within both
// expiries, of an active account.
func (h *Handler) session(r *http.Request) (*who, error) {
	c, err := r.Cookie(h.cookieName(sessionCookie))
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	s, err := h.store.ConsoleSessionByToken(r.Context(), tokenHash(c.Value))
	if err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			return nil, errNoSession
		}
		return nil, err
	}
	now := h.opts.Now()
	if !s.EndedAt.IsZero() || !now.Before(s.ExpiresAt) || now.Sub(s.SeenAt) >= h.opts.IdleTTL {
		return nil, errNoSession
	}
	a, err := h.store.ConsoleAccount(r.Context(), s.StaffID)
	if err != nil {
		return nil, err
	}
	if a.Revoked() || !a.Role.Valid() {
		return nil, errNoSession
	}
	if now.Sub(s.SeenAt) > time.Minute {
		if err := h.store.TouchConsoleSession(r.Context(), s.TokenHash, s.Stage, now); err != nil {
			return nil, err
		}
	}
	return &who{sess: s, acct: a, scope: ConsoleScope(a), csrf: h.csrfToken(s.ID)}, nil
}

var errNoSession = errors.New("no session")

// authed wraps a route: a session at the route's stage, a role at least
// the route's, and, on POST, the form's CSRF token.
func (h *Handler) authed(rt Route, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wh, err := h.session(r)
		if err != nil && !errors.Is(err, errNoSession) {
			h.fail(w, r, err)
			return
		}
		if wh == nil || (rt.Stage == storage.StageFull && wh.sess.Stage != storage.StageFull) {
			if r.Method == http.MethodGet && !strings.HasSuffix(r.URL.Path, "/events") {
				http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
				return
			}
			h.render(w, r, http.StatusUnauthorized, "error", h.errView(r, "Please sign in."))
			return
		}
		if !wh.acct.Role.AtLeast(rt.Need) {
			h.render(w, r, http.StatusForbidden, "error", h.errView(r, "Your role does not allow this page."))
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil || !h.checkForm(r, wh.sess.ID) {
				h.render(w, r, http.StatusForbidden, "error", h.errView(r, "This form has expired: go back, reload the page and try again."))
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, wh)))
	})
}

func (h *Handler) audit(r *http.Request, staffID, action, detail string) {
	if err := h.store.AuditConsole(r.Context(), storage.AuditEntry{At: h.opts.Now(), StaffID: staffID, Action: action, Detail: detail, Client: h.opts.ClientIP(r)}); err != nil {
		h.log.Error("console audit not written", "action", action, "err", err)
	}
}

// preToken is the sign-in form's CSRF token, bound to a random cookie set
// with the form (there is no session yet).
func (h *Handler) preToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(h.cookieName(preCookie)); err == nil && len(c.Value) >= 32 {
		v = c.Value
	} else {
		v = newToken()
		h.setCookie(w, preCookie, v, 3600)
	}
	return h.csrfToken("pre:" + v)
}

type signInView struct {
	baseView
	ID    string
	Error string
}

func (h *Handler) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	if wh, _ := h.session(r); wh != nil && wh.sess.Stage == storage.StageFull {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	v := signInView{baseView: h.base(r, "Sign in")}
	v.CSRF = h.preToken(w, r)
	h.render(w, r, http.StatusOK, "signin", v)
}

func (h *Handler) handleSignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	r.ParseForm()
	id := staff.NormalizeID(r.PostForm.Get("id"))
	v := signInView{baseView: h.base(r, "Sign in"), ID: id}
	refuse := func(status int, msg string) {
		v.CSRF, v.Error = h.preToken(w, r), msg
		h.render(w, r, status, "signin", v)
	}
	pre, err := r.Cookie(h.cookieName(preCookie))
	if err != nil || !h.checkFormToken(r, "pre:"+pre.Value) {
		refuse(http.StatusForbidden, "This form has expired: please try again.")
		return
	}
	if ok, _ := h.limit.Allow(h.opts.ClientIP(r)); !ok {
		h.audit(r, "", "signin_throttled", "too many attempts from this address")
		refuse(http.StatusTooManyRequests, "Too many attempts: wait a minute and try again.")
		return
	}
	const wrong = "The staff id or password is wrong."
	now := h.opts.Now()
	a, err := h.store.ConsoleAccount(r.Context(), id)
	if err != nil {
		if storage.ErrorCode(err) != storage.NotFound {
			h.fail(w, r, err)
			return
		}
		staff.VerifyPIN(h.dummy, r.PostForm.Get("password"))
		h.audit(r, "", "signin_failed", "unknown staff id")
		refuse(http.StatusUnauthorized, wrong)
		return
	}
	if locked, until, err := h.locked(r.Context(), id, now); err != nil {
		h.fail(w, r, err)
		return
	} else if locked {
		h.audit(r, id, "signin_locked", "refused while locked out")
		refuse(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong attempts: this account is locked until %s.", until.Format("15:04")))
		return
	}
	hash := a.PasswordHash
	if hash == "" {
		hash = h.dummy
	}
	ok := staff.VerifyPIN(hash, r.PostForm.Get("password"))
	switch {
	case a.Revoked():
		h.audit(r, id, "signin_failed", "account revoked")
		refuse(http.StatusUnauthorized, wrong)
		return
	case a.PasswordHash == "":
		h.audit(r, id, "signin_failed", "no console password set")
		refuse(http.StatusUnauthorized, wrong)
		return
	case !ok:
		h.failure(r, id, "wrong password")
		refuse(http.StatusUnauthorized, wrong)
		return
	}
	tok := newToken()
	s := storage.ConsoleSession{ID: uid.New(), TokenHash: tokenHash(tok), StaffID: id, Stage: storage.StagePassword,
		StartedAt: now, SeenAt: now, ExpiresAt: now.Add(h.opts.AbsoluteTTL)}
	if err := h.store.CreateConsoleSession(r.Context(), s); err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, id, "signin_password", "password accepted; second factor awaited")
	h.setCookie(w, sessionCookie, tok, int(h.opts.AbsoluteTTL.Seconds()))
	http.Redirect(w, r, Prefix+"2fa", http.StatusSeeOther)
}

func (h *Handler) checkFormToken(r *http.Request, id string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && got == h.csrfToken(id)
}

func (h *Handler) locked(ctx context.Context, id string, now time.Time) (bool, time.Time, error) {
	n, last, err := h.store.ConsoleFailures(ctx, id)
	if err != nil {
		return false, time.Time{}, err
	}
	locked, until := h.opts.Lockout.Locked(n, last, now)
	return locked, until, nil
}

func (h *Handler) failure(r *http.Request, id, what string) {
	n, err := h.store.RecordConsoleFailure(r.Context(), id, h.opts.Now())
	if err != nil {
		h.log.Error("console failure not counted", "err", err)
	}
	h.audit(r, id, "signin_failed", fmt.Sprintf("%s (%d in a row)", what, n))
	if n == h.opts.Lockout.MaxFailures {
		h.audit(r, id, "locked", fmt.Sprintf("locked for %s after %d failures", h.opts.Lockout.Duration, n))
	}
}

type secondView struct {
	baseView
	Enrol    bool
	Secret   string
	QR       template.URL // data: URL of the PNG we made
	URI      string
	Recovery []string
	Error    string
}

func (h *Handler) handleSecondPage(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	if wh.sess.Stage == storage.StageFull {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	h.renderSecond(w, r, wh, http.StatusOK, "")
}

func (h *Handler) renderSecond(w http.ResponseWriter, r *http.Request, wh *who, status int, msg string) {
	v := secondView{baseView: h.baseFor(r, wh, "Second step"), Error: msg}
	if !wh.acct.TOTPOn {
		v.Enrol = true
		secret := wh.acct.TOTPSecret
		if secret == "" {
			var err error
			if secret, _, err = NewTOTP(h.opts.Issuer, wh.acct.ID); err != nil {
				h.fail(w, r, err)
				return
			}
			if err := h.store.SetConsoleTOTP(r.Context(), wh.acct.ID, secret, false, nil, h.opts.Now()); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		v.Secret, v.URI = secret, h.otpURL(wh.acct.ID, secret)
		if key, err := otp.NewKeyFromURL(v.URI); err == nil {
			if img, err := key.Image(240, 240); err == nil {
				var b bytes.Buffer
				if png.Encode(&b, img) == nil {
					v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
				}
			}
		}
	}
	h.render(w, r, status, "second", v)
}

// validCode checks a TOTP code against secret, a step either side, and
// spends its step: a code accepted once (seen over a shoulder, or sent
// twice) is refused after, as is any code of an earlier step.
func (h *Handler) validCode(ctx context.Context, staffID, secret, code string) (bool, error) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 || secret == "" {
		return false, nil
	}
	now := h.opts.Now().UTC()
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew*30) * time.Second)
		if ok, err := totp.ValidateCustom(code, secret, at, opts); err != nil || !ok {
			continue
		}
		return h.store.UseTOTPStep(ctx, staffID, at.Unix()/30)
	}
	return false, nil
}

// handleSecond checks the code (or a recovery code) and upgrades the
// sign-in to a full session under a new token.
func (h *Handler) handleSecond(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	now := h.opts.Now()
	if wh.sess.Stage == storage.StageFull || !wh.acct.TOTPOn {
		http.Redirect(w, r, Prefix+"2fa", http.StatusSeeOther)
		return
	}
	if locked, until, err := h.locked(r.Context(), wh.acct.ID, now); err != nil {
		h.fail(w, r, err)
		return
	} else if locked {
		h.audit(r, wh.acct.ID, "signin_locked", "second factor refused while locked out")
		h.renderSecond(w, r, wh, http.StatusTooManyRequests, fmt.Sprintf("Too many wrong attempts: locked until %s.", until.Format("15:04")))
		return
	}
	how := "totp"
	ok, err := h.validCode(r.Context(), wh.acct.ID, wh.acct.TOTPSecret, r.PostForm.Get("code"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok && r.PostForm.Get("recovery") != "" {
		if ok, err = h.store.UseRecoveryCode(r.Context(), wh.acct.ID, recoveryHash(r.PostForm.Get("recovery")), now); err != nil {
			h.fail(w, r, err)
			return
		}
		how = "recovery code"
	}
	if !ok {
		h.failure(r, wh.acct.ID, "wrong second-factor code")
		h.renderSecond(w, r, wh, http.StatusUnauthorized, "That code is not right. Use the current code from your app, or a recovery code.")
		return
	}
	h.upgrade(w, r, wh, "signin", "signed in with password and "+how)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

// upgrade ends the half-signed-in session and starts a full one with a
// new token: a token seen before the second factor is worth nothing after.
func (h *Handler) upgrade(w http.ResponseWriter, r *http.Request, wh *who, action, detail string) bool {
	now := h.opts.Now()
	if _, err := h.store.EndConsoleSessions(r.Context(), wh.acct.ID, wh.sess.TokenHash, now); err != nil {
		h.fail(w, r, err)
		return false
	}
	tok := newToken()
	s := storage.ConsoleSession{ID: uid.New(), TokenHash: tokenHash(tok), StaffID: wh.acct.ID, Stage: storage.StageFull,
		StartedAt: now, SeenAt: now, ExpiresAt: wh.sess.ExpiresAt}
	if err := h.store.CreateConsoleSession(r.Context(), s); err != nil {
		h.fail(w, r, err)
		return false
	}
	if err := h.store.ClearConsoleFailures(r.Context(), wh.acct.ID); err != nil {
		h.log.Warn("console failures not cleared", "err", err)
	}
	h.audit(r, wh.acct.ID, action, detail)
	h.setCookie(w, sessionCookie, tok, int(time.Until(s.ExpiresAt).Seconds()))
	return true
}

// handleEnrol confirms a new TOTP secret with a code from the app, turns
// it on, and shows the recovery codes once.
func (h *Handler) handleEnrol(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	if wh.acct.TOTPOn || wh.sess.Stage == storage.StageFull {
		http.Redirect(w, r, Prefix+"2fa", http.StatusSeeOther)
		return
	}
	ok, err := h.validCode(r.Context(), wh.acct.ID, wh.acct.TOTPSecret, r.PostForm.Get("code"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		h.failure(r, wh.acct.ID, "wrong code at enrolment")
		h.renderSecond(w, r, wh, http.StatusUnauthorized, "That code is not right: type the 6 digits your app shows now.")
		return
	}
	codes, err := EnrolTOTP(r.Context(), h.store, wh.acct.ID, wh.acct.TOTPSecret, h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !h.upgrade(w, r, wh, "signin", "second factor enrolled; signed in") {
		return
	}
	v := secondView{baseView: h.baseFor(r, wh, "Recovery codes"), Recovery: codes}
	h.render(w, r, http.StatusOK, "recovery", v)
}

func (h *Handler) handleSignOut(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	if _, err := h.store.EndConsoleSessions(r.Context(), wh.acct.ID, wh.sess.TokenHash, h.opts.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "signout", "signed out")
	h.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}

func (h *Handler) handleSignOutAll(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	ids, err := h.store.EndConsoleSessions(r.Context(), wh.acct.ID, nil, h.opts.Now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "signout_all", fmt.Sprintf("signed out everywhere (%d sessions)", len(ids)))
	h.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin", http.StatusSeeOther)
}
