package main

import (
	"bytes"
	"testing"
)

// Control characters from other people's file names and messages are
// spelled out; tabs, newlines and any UTF-8 text pass as they are, and
// Write reports the bytes it was given.
func TestTerminalSafe(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain field_7.jpg\tcompleted\n", "plain field_7.jpg\tcompleted\n"},
		{"café 🌱 Ünïcødé", "café 🌱 Ünïcødé"},
		{"x\r\ny\x1b[2J.jpg", `x\x0d` + "\n" + `y\x1b[2J.jpg`},
		{"bell\x07 del\x7f nul\x00", `bell\x07 del\x7f nul\x00`},
		{"csi\u009b31m", `csi\u009b31m`},
		{"lat\xe9n1.jpg", `lat\xe9n1.jpg`},
		{"rlo\u202egpj.exe and \u2066isolate\u2069 \u200f", `rlo\u202egpj.exe and \u2066isolate\u2069 \u200f`},
		{"arabic \u0627 and quotes \u2019\u201c stay", "arabic \u0627 and quotes \u2019\u201c stay"},
	} {
		var b bytes.Buffer
		n, err := terminalSafe{&b}.Write([]byte(c.in))
		if err != nil || n != len(c.in) || b.String() != c.want {
			t.Errorf("Write(%q) = %d, %v, wrote %q; want %d, nil, %q", c.in, n, err, b.String(), len(c.in), c.want)
		}
	}
}

// A value with line breaks or tabs stays one table cell.
func TestCell(t *testing.T) {
	if got := cell("libpng: Read Error\nError while reading row 0\r\nmore\tcol"); got != "libpng: Read Error / Error while reading row 0 / more col" {
		t.Errorf("cell = %q", got)
	}
}
