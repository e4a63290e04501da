package console

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"ombud/server/enrol"
	"ombud/server/storage"
	"ombud/shared/device"
	"ombud/shared/staff"
)

// Administration: staff accounts and roles, devices and enrolment codes,
// branches. Every change goes through the same storage calls as the
// `server staff`, `server enrol-code`, `server revoke` and `server branch`
// commands (which keep working), and into the console's audit trail.

type staffRow struct {
	storage.ConsoleAccount
}

type adminView struct {
	baseView
	Staff    []staffRow
	Devices  []deviceRow
	Branches []storage.Branch
	Roles    []staff.Role
	DevRoles []device.Role
	Notice   string
	Error    string
	Input    map[string]string
	// An enrolment code just issued (shown once).
	Code, CodeURI string
	CodeQR        template.URL // a data: URL of the PNG we made
	CodeExpires   time.Time
}

type deviceRow struct {
	storage.Device
	Backlog int64
}

func (h *Handler) adminBase(r *http.Request, title string) adminView {
	return adminView{baseView: h.baseFor(r, whoOf(r), title), Roles: staff.Roles(), DevRoles: device.Roles, Input: map[string]string{}}
}

func (h *Handler) handleStaffList(w http.ResponseWriter, r *http.Request) {
	v := h.adminBase(r, "Staff accounts")
	v.Notice = noticeOf(r)
	h.renderStaff(w, r, http.StatusOK, v)
}

func noticeOf(r *http.Request) string {
	if d := r.URL.Query().Get("done"); d != "" && len(d) < 100 {
		return "Done: " + d + "."
	}
	return ""
}

func (h *Handler) renderStaff(w http.ResponseWriter, r *http.Request, status int, v adminView) {
	accts, err := h.store.ListStaff(r.Context(), "")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, a := range accts {
		ca, err := h.store.ConsoleAccount(r.Context(), a.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		v.Staff = append(v.Staff, staffRow{ca})
	}
	if v.Branches, err = h.store.ListBranches(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "admin-staff", v)
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// handleStaffAdd makes an account. Its terminal PIN is random and unknown
// (set one with `server staff pin`); its console password is the one typed.
func (h *Handler) handleStaffAdd(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	f := r.PostForm
	v := h.adminBase(r, "Staff accounts")
	for _, k := range []string{"id", "name", "branch", "role", "teams"} {
		v.Input[k] = f.Get(k)
	}
	refuse := func(status int, msg string) {
		v.Error = msg
		h.renderStaff(w, r, status, v)
	}
	id := staff.NormalizeID(f.Get("id"))
	if err := staff.ValidateID(id); err != nil {
		refuse(http.StatusUnprocessableEntity, err.Error())
		return
	}
	if err := ValidatePassword(id, f.Get("password")); err != nil {
		refuse(http.StatusUnprocessableEntity, "Console password: "+err.Error())
		return
	}
	pin := make([]byte, 24)
	rand.Read(pin)
	pinHash, err := staff.HashPINWith(base64.RawURLEncoding.EncodeToString(pin), h.opts.PasswordCost)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a := staff.Account{ID: id, Name: strings.TrimSpace(f.Get("name")), Role: staff.Role(f.Get("role")), Branch: f.Get("branch"),
		Teams: splitList(f.Get("teams")), PINHash: pinHash}
	if err := a.Validate(); err != nil {
		refuse(http.StatusUnprocessableEntity, err.Error())
		return
	}
	now := h.opts.Now()
	if err := h.store.CreateStaff(r.Context(), a); err != nil {
		if c := storage.ErrorCode(err); c == storage.Conflict || c == storage.NotFound || c == storage.Invalid {
			refuse(http.StatusConflict, storage.ErrorMessage(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	hash, err := HashPassword(f.Get("password"), h.opts.PasswordCost)
	if err == nil {
		err = h.store.SetConsolePassword(r.Context(), id, hash, now)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "admin_staff_add", fmt.Sprintf("added %s (%s, branch %s, teams %s)", id, a.Role, a.Branch, strings.Join(a.Teams, ",")))
	http.Redirect(w, r, Prefix+"admin/staff?done="+url.QueryEscape("added "+id), http.StatusSeeOther)
}

// handleStaffChange: role (with teams), scope, password, reset-2fa,
// signout, revoke.
func (h *Handler) handleStaffChange(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	id := r.PathValue("id")
	ctx := r.Context()
	a, err := h.store.ConsoleAccount(ctx, id)
	if err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such staff account."))
			return
		}
		h.fail(w, r, err)
		return
	}
	f := r.PostForm
	now := h.opts.Now()
	v := h.adminBase(r, "Staff accounts")
	refuse := func(msg string) {
		v.Error = id + ": " + msg
		h.renderStaff(w, r, http.StatusUnprocessableEntity, v)
	}
	var detail string
	switch change := r.PathValue("change"); change {
	case "role":
		role, teams := staff.Role(f.Get("role")), splitList(f.Get("teams"))
		if id == wh.acct.ID && role != staff.Administrator {
			refuse("you cannot take the administrator role from yourself (another administrator can)")
			return
		}
		err = h.store.SetStaffRole(ctx, id, role, teams, now)
		detail = fmt.Sprintf("%s: role %s → %s, teams %s", id, a.Role, role, strings.Join(teams, ","))
	case "scope":
		br := splitList(f.Get("branches"))
		err = h.store.SetConsoleBranches(ctx, id, br, now)
		detail = fmt.Sprintf("%s: console branches %q", id, strings.Join(br, ","))
	case "password":
		if err := ValidatePassword(id, f.Get("password")); err != nil {
			refuse(err.Error())
			return
		}
		var hash string
		if hash, err = HashPassword(f.Get("password"), h.opts.PasswordCost); err == nil {
			if err = h.store.SetConsolePassword(ctx, id, hash, now); err == nil {
				_, err = h.store.EndConsoleSessions(ctx, id, nil, now)
			}
		}
		detail = id + ": console password set; sessions ended"
	case "reset-2fa":
		if err = h.store.SetConsoleTOTP(ctx, id, "", false, nil, now); err == nil {
			_, err = h.store.EndConsoleSessions(ctx, id, nil, now)
		}
		detail = id + ": second factor removed; enrols at next sign-in"
	case "signout":
		_, err = h.store.EndConsoleSessions(ctx, id, nil, now)
		detail = id + ": signed out everywhere"
	case "revoke":
		if f.Get("confirm") != "on" {
			refuse("tick 'sure' to revoke: a revoked account is never restored")
			return
		}
		if id == wh.acct.ID {
			refuse("you cannot revoke your own account")
			return
		}
		if err = h.store.RevokeStaff(ctx, id, now); err == nil {
			_, err = h.store.EndConsoleSessions(ctx, id, nil, now)
		}
		detail = id + ": revoked"
	default:
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such change."))
		return
	}
	if err != nil {
		if c := storage.ErrorCode(err); c == storage.Invalid || c == storage.NotFound || c == storage.Conflict {
			refuse(storage.ErrorMessage(err))
			return
		}
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "admin_staff_"+r.PathValue("change"), detail)
	http.Redirect(w, r, Prefix+"admin/staff?done="+url.QueryEscape(detail), http.StatusSeeOther)
}

func (h *Handler) handleDevices(w http.ResponseWriter, r *http.Request) {
	v := h.adminBase(r, "Devices")
	v.Notice = noticeOf(r)
	h.renderDevices(w, r, http.StatusOK, v)
}

func (h *Handler) renderDevices(w http.ResponseWriter, r *http.Request, status int, v adminView) {
	ds, err := h.store.ListDevices(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, d := range ds {
		v.Devices = append(v.Devices, deviceRow{Device: d, Backlog: max(0, d.LastDeviceSeq-d.AckedSeq)})
	}
	if v.Branches, err = h.store.ListBranches(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "admin-devices", v)
}

// handleEnrolCode issues a one-time enrolment code and shows it once, with
// a QR code of "ombud-enrol:?server=<url>&code=<code>" for a device that
// scans, and the command to type for one that does not.
func (h *Handler) handleEnrolCode(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	f := r.PostForm
	v := h.adminBase(r, "Devices")
	g := enrol.Grant{Branch: f.Get("branch"), Role: device.Role(f.Get("role")), Teams: splitList(f.Get("teams"))}
	ttl, err := time.ParseDuration(f.Get("ttl"))
	if err != nil || ttl <= 0 || ttl > 7*24*time.Hour {
		ttl = 24 * time.Hour
	}
	code, expires, err := enrol.Issue(r.Context(), h.store, g, ttl, h.opts.Now())
	if err != nil {
		var ee *enrol.Error
		if errors.As(err, &ee) {
			v.Error = ee.Message
		} else if c := storage.ErrorCode(err); c == storage.NotFound || c == storage.Invalid {
			v.Error = storage.ErrorMessage(err)
		} else {
			h.fail(w, r, err)
			return
		}
		h.renderDevices(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	server := h.opts.TrackingURL
	if server == "" {
		server = "http://" + r.Host
	}
	v.Code, v.CodeExpires = code, expires
	v.CodeURI = "ombud-enrol:?" + url.Values{"server": {server}, "code": {code}}.Encode()
	if png, err := qrcode.Encode(v.CodeURI, qrcode.Medium, 256); err == nil {
		v.CodeQR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
	h.audit(r, wh.acct.ID, "admin_enrol_code", fmt.Sprintf("enrolment code for a %s of branch %s (teams %s), until %s",
		g.Role.Describe(), g.Branch, strings.Join(g.Teams, ","), expires.UTC().Format(time.RFC3339)))
	v.Notice = "Enrolment code issued: it is shown only now."
	h.renderDevices(w, r, http.StatusOK, v)
}

func (h *Handler) handleDeviceRevoke(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	id := r.PathValue("id")
	if _, err := h.store.Device(r.Context(), id); err != nil {
		if storage.ErrorCode(err) == storage.NotFound {
			h.render(w, r, http.StatusNotFound, "error", h.errView(r, "There is no such device."))
			return
		}
		h.fail(w, r, err)
		return
	}
	if r.PostForm.Get("confirm") != "on" {
		v := h.adminBase(r, "Devices")
		v.Error = "Tick 'sure' to revoke " + id + ": a revoked device is never restored."
		h.renderDevices(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err := h.store.RevokeDevice(r.Context(), id, h.opts.Now()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "admin_device_revoke", "revoked device "+id)
	http.Redirect(w, r, Prefix+"admin/devices?done="+url.QueryEscape("revoked "+id), http.StatusSeeOther)
}

func (h *Handler) handleBranches(w http.ResponseWriter, r *http.Request) {
	v := h.adminBase(r, "Branches")
	v.Notice = noticeOf(r)
	h.renderBranches(w, r, http.StatusOK, v)
}

func (h *Handler) renderBranches(w http.ResponseWriter, r *http.Request, status int, v adminView) {
	var err error
	if v.Branches, err = h.store.ListBranches(r.Context()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, "admin-branches", v)
}

func (h *Handler) handleBranchAdd(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	id, name := strings.TrimSpace(r.PostForm.Get("id")), strings.TrimSpace(r.PostForm.Get("name"))
	v := h.adminBase(r, "Branches")
	v.Input["id"], v.Input["name"] = id, name
	if !device.ValidTeam(id) || name == "" || len(name) > 80 {
		v.Error = "A branch needs an id (1-64 lower-case letters, digits, '-' or '_') and a name."
		h.renderBranches(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	if err := h.store.CreateBranch(r.Context(), id, name); err != nil {
		if c := storage.ErrorCode(err); c == storage.Conflict || c == storage.Invalid {
			v.Error = storage.ErrorMessage(err)
			h.renderBranches(w, r, http.StatusConflict, v)
			return
		}
		h.fail(w, r, err)
		return
	}
	h.audit(r, wh.acct.ID, "admin_branch_add", fmt.Sprintf("added branch %s (%s)", id, name))
	http.Redirect(w, r, Prefix+"admin/branches?done="+url.QueryEscape("added "+id), http.StatusSeeOther)
}
