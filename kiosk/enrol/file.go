package enrol

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"ombud/shared/device"
)

// FileName is the credential's file in the kiosk's data directory. It is a
// file beside kiosk.db rather than a row in it so that the credential can be
// replaced (re-enrolment) or wiped without touching the complaints, and so
// its permissions can be checked on their own.
const FileName = "credential.json"

// fileVersion lets a later format be told apart.
const fileVersion = 1

type credentialFile struct {
	Version    int      `json:"version"`
	ServerURL  string   `json:"server_url"`
	DeviceID   string   `json:"device_id"`
	Secret     string   `json:"secret"`
	Branch     string   `json:"branch"`
	BranchName string   `json:"branch_name"`
	CodePrefix string   `json:"code_prefix"`
	Role       string   `json:"role,omitempty"`
	Teams      []string `json:"teams,omitempty"`
	// TrackingURL: optional in version 1 (credentials saved before it
	// existed have none).
	TrackingURL string    `json:"tracking_url,omitempty"`
	EnrolledAt  time.Time `json:"enrolled_at"`
}

// Save writes c to dataDir/credential.json, readable by the owner only, and
// atomically: a temporary file in the same directory is written, fsynced
// and renamed over the old one, then the directory is fsynced, so a crash
// leaves either the old credential or the new one, never half of either.
func Save(dataDir string, c Credential) (err error) {
	if err := c.validate(); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	b, err := json.MarshalIndent(credentialFile{
		Version: fileVersion, ServerURL: c.ServerURL, DeviceID: c.DeviceID, Secret: c.Secret,
		Branch: c.Branch, BranchName: c.BranchName, CodePrefix: c.CodePrefix,
		Role: string(c.Role), Teams: c.Teams, TrackingURL: c.TrackingURL, EnrolledAt: c.EnrolledAt,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	// CreateTemp makes the file 0600 from the start: the secret is never
	// readable by others, not even for a moment.
	tmp, err := os.CreateTemp(dataDir, ".credential-*.tmp")
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil { // in case the platform's default differs
		return fmt.Errorf("save credential: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	// The rename is durable only once the directory entry is.
	dir, err := os.Open(dataDir)
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("save credential: sync directory: %w", err)
	}
	return nil
}

// Load reads dataDir/credential.json. ok is false (and err nil) when the
// kiosk has not been enrolled. A file others can read, or one that does not
// parse, is an error that says what to do: the kiosk must not sync with a
// leaked or damaged credential.
func Load(dataDir string) (c Credential, ok bool, err error) {
	path := filepath.Join(dataDir, FileName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Credential{}, false, nil
	}
	if err != nil {
		return Credential{}, false, fmt.Errorf("read credential: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Credential{}, false, fmt.Errorf("read credential: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Credential{}, false, fmt.Errorf("credential file %s can be read by other users (mode %#o): run `chmod 600 %s`, or re-enrol if it may have leaked", path, perm, path)
	}
	var cf credentialFile
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return Credential{}, false, fmt.Errorf("credential file %s is damaged (%v): delete it and enrol this kiosk again", path, err)
	}
	if cf.Version != fileVersion {
		return Credential{}, false, fmt.Errorf("credential file %s has version %d, this kiosk reads version %d: upgrade the kiosk or enrol again", path, cf.Version, fileVersion)
	}
	c = Credential{
		ServerURL: cf.ServerURL, DeviceID: cf.DeviceID, Secret: cf.Secret, Branch: cf.Branch,
		BranchName: cf.BranchName, CodePrefix: cf.CodePrefix, EnrolledAt: cf.EnrolledAt,
		Role: device.Role(cf.Role), Teams: cf.Teams, TrackingURL: cf.TrackingURL,
	}
	if err := c.validate(); err != nil {
		return Credential{}, false, fmt.Errorf("credential file %s is damaged (%v): delete it and enrol this kiosk again", path, err)
	}
	return c, true, nil
}

// LoadRequired is Load for callers that cannot work without a credential (the
// sync client): not enrolled is an error too.
func LoadRequired(dataDir string) (Credential, error) {
	c, ok, err := Load(dataDir)
	if err != nil {
		return Credential{}, err
	}
	if !ok {
		return Credential{}, errNotEnrolled
	}
	return c, nil
}
