package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	File  string // the path the config was read from
	Line  int    // 1-based; 0 when the problem is about the whole file
	Col   int    // 1-based; 0 when unknown
	Field string // dotted path such as "tunnel.endpoints[1].public_key"; "" for the whole file
	Msg   string // what is wrong and, where it helps, what to do
}

// String formats p as "file:line: field: message", leaving out the parts
// that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is returned by Load and Parse when the config is not acceptable. It
// holds every problem found, in file order. Use errors.As to get it.
type Error struct {
	Problems []Problem
}

// Error prints one problem a line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
