package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// terminalSafe writes what it is given with control characters spelled
// out (ESC as \x1b, CR as \r), tabs and newlines apart: file names,
// batch ids and error messages come from other users and from files, and
// printed raw an escape sequence could clear or rewrite the reader's
// terminal. Binary output (download -o -) bypasses it.
type terminalSafe struct{ w io.Writer }

func (t terminalSafe) Write(p []byte) (int, error) {
	if !needsEscape(p) {
		return t.w.Write(p)
	}
	n := len(p)
	var b strings.Builder
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		switch {
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, p[0])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, bidiControl(r): // C1 controls (CSI among them), bidi overrides
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.Write(p[:size])
		}
		p = p[size:]
	}
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return n, nil
}

func needsEscape(p []byte) bool {
	for i, c := range p {
		switch {
		case c < 0x20 && c != '\t' && c != '\n', c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] <= 0x9f: // a C1 control in UTF-8
			return true
		case c == 0xd8 || c == 0xe2: // the lead bytes of the bidi controls
			if r, _ := utf8.DecodeRune(p[i:]); bidiControl(r) {
				return true
			}
		}
	}
	return !utf8.Valid(p)
}

// bidiControl reports the invisible characters that reorder the text after
// them (U+202E, right-to-left override, shows "rlo\u202egpj.exe" as
// "rloexe.jpg"): in a file name they can make one name read as another.
func bidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// cell makes s one table cell: a tab or a line break inside a value (a
// file name, a multi-line error) would start a new column or row.
var cell = strings.NewReplacer("\r\n", " / ", "\n", " / ", "\r", " / ", "\t", " ").Replace

// writeJSON writes one JSON document and a newline to the raw stdout,
// with the characters a terminal acts on that encoding/json leaves as they
// are (DEL, the C1 controls and the bidi controls; it escapes those below
// 0x20 itself) as \u escapes. In JSON they can only stand inside strings, so the document
// stays valid and means the same; spelled out by terminalSafe (\x7f) it
// was no longer JSON.
func (a *cli) writeJSON(b []byte) error {
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == 0x7f || (r >= 0x80 && r <= 0x9f) || bidiControl(r):
			fmt.Fprintf(&out, `\u%04x`, r)
		case r == utf8.RuneError && size == 1:
			out.WriteString(`\ufffd`) // not UTF-8: what encoding/json makes of it
		default:
			out.Write(b[:size])
		}
		b = b[size:]
	}
	out.WriteByte('\n')
	_, err := io.WriteString(a.rawStdout, out.String())
	return err
}

// encodeJSON is writeJSON of v as encoding/json marshals it.
func (a *cli) encodeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.writeJSON(b)
}
