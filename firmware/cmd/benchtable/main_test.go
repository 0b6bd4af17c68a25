package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shisa-gw/shisa/firmware/benchfig"
)

func writeFigs(t *testing.T, dir string, figs ...benchfig.Figure) {
	t.Helper()
	for _, f := range figs {
		if err := benchfig.Write(dir, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTableSorted(t *testing.T) {
	dir := t.TempDir()
	writeFigs(t, dir,
		benchfig.FromSamples("rss_mb", "MB", []float64{12}, 20),
		benchfig.FromSamples("binary_arm64_mb", "MB", []float64{7.5}, 0),
	)
	var out, errOut strings.Builder
	if code := run([]string{dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "figure") ||
		!strings.HasPrefix(lines[1], "binary_arm64_mb") || !strings.HasPrefix(lines[2], "rss_mb") {
		t.Errorf("table not header then sorted rows:\n%s", out.String())
	}
	if !strings.HasSuffix(lines[2], "✓") {
		t.Errorf("rss_mb 12 <= 20 not marked ✓: %q", lines[2])
	}
}

func TestJSON(t *testing.T) {
	dir := t.TempDir()
	writeFigs(t, dir,
		benchfig.FromSamples("b", "s", []float64{1, 2}, 3),
		benchfig.FromSamples("a", "s", []float64{4}, 0),
	)
	var out, errOut strings.Builder
	if code := run([]string{"--json", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	var figs []benchfig.Figure
	if err := json.Unmarshal([]byte(out.String()), &figs); err != nil {
		t.Fatalf("--json output is not an array of figures: %v\n%s", err, out.String())
	}
	if len(figs) != 2 || figs[0].Figure != "a" || figs[1].Figure != "b" || figs[1].P50 != 1 {
		t.Errorf("--json figures = %+v", figs)
	}
}

func TestJSONEmptyIsArray(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"--json", t.TempDir()}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != "[]" {
		t.Errorf("--json on an empty dir = %q, want []", got)
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	writeFigs(t, dir, benchfig.FromSamples("good", "s", []float64{1}, 0))
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"figure":"bad","unit":"s","surprise":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	if code := run([]string{dir}, &out, &errOut); code != 1 {
		t.Errorf("exit %d with a malformed file, want 1", code)
	}
	if !strings.Contains(errOut.String(), "bad.json") {
		t.Errorf("stderr does not name bad.json: %q", errOut.String())
	}
	if !strings.Contains(out.String(), "good") {
		t.Errorf("the good figure was not printed:\n%s", out.String())
	}
}

func TestMissingDir(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{filepath.Join(t.TempDir(), "nope")}, &out, &errOut); code != 1 {
		t.Errorf("exit %d for a missing dir, want 1", code)
	}
	if !strings.Contains(errOut.String(), "make bench") {
		t.Errorf("stderr does not say what to do: %q", errOut.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"a", "b"}, &out, &errOut); code != 2 {
		t.Errorf("exit %d for two dirs, want 2", code)
	}
}
