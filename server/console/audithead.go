package console

import (
	"encoding/json"
	"net/http"
	"strconv"

	"ombud/server/storage"
	"ombud/shared/audit"
)

// The audit chain's head over the console (package shared/audit): an
// administrator's script reads it, with the console's session, to record it
// somewhere the server cannot write, and later asks the server to verify
// its log against that recorded head. `server audit head|verify` do the
// same beside the server; /metrics carries it too.

// headJSON is the body of GET admin/audit/head.
type headJSON struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash,omitempty"`
	// Head is "SEQ:HASH", what `server audit verify --head` and
	// ?head= take; "" for an empty log.
	Head string `json:"head,omitempty"`
}

// verifyJSON is the body of GET admin/audit/verify.
type verifyJSON struct {
	OK   bool     `json:"ok"`
	Rows int64    `json:"rows"`
	Head headJSON `json:"head"` // the last link verified
	// Break is the first place the log stops verifying.
	Break *breakJSON `json:"break,omitempty"`
	// Recorded is the head given (?head=), which the log holds when OK.
	Recorded string `json:"recorded,omitempty"`
}

type breakJSON struct {
	Seq    int64  `json:"seq"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func headOf(h audit.Head) headJSON {
	if h.Seq == 0 {
		return headJSON{}
	}
	return headJSON{Seq: h.Seq, Hash: h.Hash.String(), Head: h.String()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

type jsonError struct {
	Error string `json:"error"`
}

// auditStore is the store's audit chain, or nil when the database does
// not keep one.
func (h *Handler) auditStore() storage.Audit {
	a, _ := h.store.(storage.Audit)
	return a
}

// handleAuditHead answers the chain's head as JSON.
func (h *Handler) handleAuditHead(w http.ResponseWriter, r *http.Request) {
	a := h.auditStore()
	if a == nil {
		writeJSON(w, http.StatusNotImplemented, jsonError{"this database does not keep the audit chain yet"})
		return
	}
	hd, err := a.AuditHead(r.Context())
	if err != nil {
		h.log.Error("audit head", "err", err)
		writeJSON(w, http.StatusInternalServerError, jsonError{"the head could not be read; try again"})
		return
	}
	writeJSON(w, http.StatusOK, headOf(hd))
}

// handleAuditVerify walks the whole log, against ?head=SEQ:HASH when
// given, and answers the outcome as JSON: 200 when the log verifies, 409
// with the first break when it does not. Each walk is recorded in the
// console's audit trail (it reads every event: worth knowing who asks).
func (h *Handler) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	wh := whoOf(r)
	a := h.auditStore()
	if a == nil {
		writeJSON(w, http.StatusNotImplemented, jsonError{"this database does not keep the audit chain yet"})
		return
	}
	var head *audit.Head
	if s := r.URL.Query().Get("head"); s != "" {
		hd, err := audit.ParseHead(s)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, jsonError{"head: " + err.Error()})
			return
		}
		head = &hd
	}
	rep, err := a.AuditVerify(r.Context(), head)
	if err != nil {
		h.log.Error("audit verify", "err", err)
		writeJSON(w, http.StatusInternalServerError, jsonError{"the log could not be read; try again"})
		return
	}
	out := verifyJSON{OK: rep.Break == nil, Rows: rep.Rows, Head: headOf(rep.Head)}
	if head != nil {
		out.Recorded = head.String()
	}
	detail := "verified " + strconv.FormatInt(rep.Rows, 10) + " events: OK"
	status := http.StatusOK
	if b := rep.Break; b != nil {
		out.Break = &breakJSON{Seq: b.Seq, Kind: string(b.Kind), Detail: b.Detail}
		detail = "verified the log: BROKEN at sequence " + strconv.FormatInt(b.Seq, 10) + " (" + string(b.Kind) + ")"
		status = http.StatusConflict
	}
	if head != nil {
		detail += " against recorded head " + head.String()
	}
	h.audit(r, wh.acct.ID, "audit_verify", detail)
	writeJSON(w, status, out)
}
