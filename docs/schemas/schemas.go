// Package schemas holds the sync protocol's JSON Schemas (draft 2020-12),
// the published description of every message (docs/SYNC.md section 11),
// and compiles them so tests can hold the code to the text: every frame
// the Go encoder makes, the test vectors and every frame of a real session
// (sync/wire, sync/faulttest) are validated against them. It is a package
// only so that the schemas can be embedded; nothing in the programs uses it.
package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.schema.json
var files embed.FS

// base is where the schemas are registered for the compiler; their $refs
// are relative, so any base works and nothing is ever fetched.
const base = "file:///ombud/docs/schemas/"

// Names of the top-level schemas.
const (
	Frame         = "frame"          // one sync websocket frame, any message
	Event         = "event"          // one event
	Filed         = "filed"          // the complaint a filed event carries
	EnrolRequest  = "enrol-request"  // POST /api/v1/enrol body
	EnrolResponse = "enrol-response" // its 200 answer
	Error         = "error"          // the JSON error body of every endpoint
)

// Set is the compiled schemas.
type Set struct {
	byName map[string]*jsonschema.Schema
}

// Load compiles every schema in the package.
func Load() (*Set, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	names, err := fs.Glob(files, "*.schema.json")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		if err := c.AddResource(base+n, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
	}
	s := &Set{byName: make(map[string]*jsonschema.Schema, len(names))}
	for _, n := range names {
		sch, err := c.Compile(base + n)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", n, err)
		}
		s.byName[strings.TrimSuffix(path.Base(n), ".schema.json")] = sch
	}
	return s, nil
}

// Names lists the schemas by name ("frame", "push", "filed", ...).
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	return out
}

// Validate checks the JSON document doc against the schema called name.
func (s *Set) Validate(name string, doc []byte) error {
	sch, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("no schema %q", name)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Errorf("%s schema: %w", name, err)
	}
	return nil
}
