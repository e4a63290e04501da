package staff

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// Directory is the staff accounts a terminal signs people in with, as the
// server sends them: a branch's (for its staff terminals), or the accounts
// of some teams (for a team terminal), never both. The whole list each time
// (tens of people, not thousands), revoked accounts included so a terminal
// learns of the revocation and refuses the next sign-in even while offline
// afterwards.
type Directory struct {
	Branch string   `json:"branch,omitempty"`
	Teams  []string `json:"teams,omitempty"`
	// Version increases with every change to any account of the branch;
	// a terminal never replaces a directory with an older one.
	Version  int64     `json:"version"`
	IssuedAt time.Time `json:"issued_at"`
	Accounts []Account `json:"accounts"`
}

// Limits on a directory on the wire.
const (
	MaxDirectoryBytes    = 1 << 20
	MaxDirectoryAccounts = 2000
)

// Validate checks a directory: a branch's or some teams', every account
// valid and of that branch or in one of those teams, ids unique.
func (d Directory) Validate() error {
	if (d.Branch == "") == (len(d.Teams) == 0) {
		return errors.New("directory: want a branch or teams, one of the two")
	}
	if d.Version < 0 {
		return errors.New("directory: negative version")
	}
	if len(d.Accounts) > MaxDirectoryAccounts {
		return fmt.Errorf("directory: more than %d accounts", MaxDirectoryAccounts)
	}
	seen := make(map[string]bool, len(d.Accounts))
	for _, a := range d.Accounts {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("directory: %w", err)
		}
		if d.Branch != "" && a.Branch != d.Branch {
			return fmt.Errorf("directory: account %s is of branch %q, not %q", a.ID, a.Branch, d.Branch)
		}
		if len(d.Teams) > 0 && !a.InTeam(d.Teams) {
			return fmt.Errorf("directory: account %s is in none of the teams %v", a.ID, d.Teams)
		}
		if seen[a.ID] {
			return fmt.Errorf("directory: account %s listed twice", a.ID)
		}
		seen[a.ID] = true
	}
	return nil
}

// Find returns the account with id (normalised), if listed.
func (d Directory) Find(id string) (Account, bool) {
	id = NormalizeID(id)
	i := slices.IndexFunc(d.Accounts, func(a Account) bool { return a.ID == id })
	if i < 0 {
		return Account{}, false
	}
	return d.Accounts[i], true
}

// DecodeDirectory reads a directory sent by the server: strict JSON (no
// unknown fields, one value), at most MaxDirectoryBytes, validated.
func DecodeDirectory(data []byte) (Directory, error) {
	var d Directory
	if len(data) > MaxDirectoryBytes {
		return d, fmt.Errorf("directory: larger than %d bytes", MaxDirectoryBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Directory{}, fmt.Errorf("directory: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Directory{}, errors.New("directory: data after the JSON value")
	}
	if err := d.Validate(); err != nil {
		return Directory{}, err
	}
	return d, nil
}
