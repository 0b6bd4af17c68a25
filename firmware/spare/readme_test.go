package spare

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// ledTable is README's table of LED patterns, from Patterns.
func ledTable() string {
	var b strings.Builder
	for _, p := range Patterns {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.State, p.Show.Power, p.Show.Tunnel, p.Show.Fault)
	}
	return b.String()
}

// TestREADMELEDTable keeps README's LED table in step with Patterns.
func TestREADMELEDTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const head = "| State | Power | Tunnel | Fault |\n|---|---|---|---|\n"
	_, rest, ok := strings.Cut(string(b), head)
	if !ok {
		t.Fatal("README.md has no LED table")
	}
	got, _, _ := strings.Cut(rest, "<!-- /led-table -->")
	if want := ledTable(); got != want {
		t.Errorf("README.md's LED table is not spare.Patterns; want:\n%s\ngot:\n%s", want, got)
	}
}
