package dispatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// encoding/json reports where a syntax error is but not where a value came
// from, and an operator needs the line of a bad rule, not just its index.
// So the file is first read into a small tree that remembers the byte offset
// of every value and key, and the config is decoded from that tree.

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "true or false", "a number", "a string", "a list", "an object"}[k]
}

type node struct {
	kind    kind
	off     int // byte offset of the value's first byte
	str     string
	elems   []*node  // kindArray
	members []member // kindObject, in file order, duplicates kept
}

type member struct {
	key string
	off int // byte offset of the key
	val *node
}

// maxDepth bounds nesting. The format needs four levels; the bound keeps a
// hostile or mangled file from recursing deep.
const maxDepth = 16

type treeParser struct {
	data []byte
	dec  *json.Decoder
}

// parseTree reads exactly one JSON value from data. Errors are problems with
// a line.
func parseTree(data []byte) (*node, *Problem) {
	p := &treeParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	root, prob := p.value(0)
	if prob != nil {
		return nil, prob
	}
	start := p.next()
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &Problem{Line: lineAt(data, start), Reason: "unexpected text after the end of the config (it must be one JSON object)"}
	}
	return root, nil
}

// next is the offset of the next token: the decoder's offset is just past the
// previous token, before any space, colon or comma.
func (p *treeParser) next() int {
	off := int(p.dec.InputOffset())
	for off < len(p.data) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
			continue
		}
		break
	}
	return off
}

func (p *treeParser) value(depth int) (*node, *Problem) {
	n := &node{off: p.next()}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return nil, &Problem{Line: lineAt(p.data, n.off), Reason: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
		}
		switch t {
		case '{':
			n.kind = kindObject
			for p.dec.More() {
				koff := p.next()
				ktok, err := p.dec.Token()
				if err != nil {
					return nil, p.syntax(err)
				}
				key, _ := ktok.(string) // the decoder only yields strings in key position
				v, prob := p.value(depth + 1)
				if prob != nil {
					return nil, prob
				}
				n.members = append(n.members, member{key: key, off: koff, val: v})
			}
		case '[':
			n.kind = kindArray
			for p.dec.More() {
				v, prob := p.value(depth + 1)
				if prob != nil {
					return nil, prob
				}
				n.elems = append(n.elems, v)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, p.syntax(err)
		}
	case string:
		n.kind, n.str = kindString, t
	case json.Number:
		n.kind, n.str = kindNumber, t.String()
	case bool:
		n.kind = kindBool
	case nil:
		n.kind = kindNull
	}
	return n, nil
}

// syntax turns a decoder error into a problem on the line where it was found.
func (p *treeParser) syntax(err error) *Problem {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &Problem{Line: lineAt(p.data, p.refused(se)), Reason: "JSON syntax: " + trimJSONPrefix(se.Error())}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if len(bytes.TrimSpace(p.data)) == 0 {
			return &Problem{Line: 1, Reason: `the file is empty (write {} for the default: every complaint to its filing branch's queue)`}
		}
		end := len(bytes.TrimRight(p.data, " \t\r\n")) - 1
		return &Problem{Line: lineAt(p.data, end), Reason: "the file ends in the middle of the config (a missing } or ]?)"}
	default:
		return &Problem{Line: lineAt(p.data, int(p.dec.InputOffset())), Reason: "JSON syntax: " + trimJSONPrefix(err.Error())}
	}
}

// refused finds the byte a syntax error is about. The decoder's offset is
// sometimes that byte and sometimes the end of the token before it (before
// the space, colon or comma that follows), which can be lines earlier.
func (p *treeParser) refused(se *json.SyntaxError) int {
	off := int(se.Offset)
	skipSpace := func() {
		for off < len(p.data) && strings.IndexByte(" \t\r\n", p.data[off]) >= 0 {
			off++
		}
	}
	skipSpace()
	if off < len(p.data) && (p.data[off] == ':' || p.data[off] == ',') &&
		!strings.Contains(se.Error(), "'"+string(p.data[off])+"'") {
		off++
		skipSpace()
	}
	return off
}

func trimJSONPrefix(s string) string {
	if len(s) > 6 && s[:6] == "json: " {
		return s[6:]
	}
	return s
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}
