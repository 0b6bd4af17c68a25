package benchfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Target operators. A figure with the operator OpAtMost meets its target
// when its p99 is at most the target (latencies, sizes, memory); one with
// OpAtLeast meets it when its p50 is at least the target (throughput).
const (
	OpAtMost  = "<="
	OpAtLeast = ">="
)

// DefaultDir is where figures go when SHISA_BENCH_OUT is not set, relative
// to the repository root (make bench runs there).
const DefaultDir = "bench/out"

// EnvDir is the environment variable that names the figures' directory.
const EnvDir = "SHISA_BENCH_OUT"

// Figure is one measured quantity, summarised.
//
// Target 0 with an empty TargetOp means the figure has no target (it is
// recorded to watch its trend, like a goroutine count). An empty TargetOp
// with a non-zero Target means OpAtMost.
type Figure struct {
	Figure   string  `json:"figure"` // name, also the file name: dc_failover_s
	Unit     string  `json:"unit"`   // s, ms, MB, count …
	N        int     `json:"n"`      // number of samples
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	Max      float64 `json:"max"`
	Target   float64 `json:"target"`
	TargetOp string  `json:"target_op,omitempty"` // OpAtMost or OpAtLeast
	Note     string  `json:"note,omitempty"`      // how it was measured, in a few words
}

// FromSamples summarises samples as a figure with target OpAtMost target
// (no target when target is 0). Samples are not modified.
//
// Percentiles are nearest-rank: the p-th percentile of n sorted samples is
// the sample of rank ceil(p/100 × n), counting from 1. So p50 of
// {1, 2, 3, 4} is 2, and with fewer than 100 samples p99 is the maximum.
// With no samples N, P50, P99 and Max are all 0.
func FromSamples(name, unit string, samples []float64, target float64) Figure {
	f := Figure{Figure: name, Unit: unit, N: len(samples), Target: target}
	if target != 0 {
		f.TargetOp = OpAtMost
	}
	if len(samples) == 0 {
		return f
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	f.P50 = nearestRank(s, 50)
	f.P99 = nearestRank(s, 99)
	f.Max = s[len(s)-1]
	return f
}

// nearestRank returns the p-th percentile of the sorted, non-empty s.
func nearestRank(s []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1]
}

// Status says whether f meets its target: has is false when f has no
// target; ok is false when it has one and misses it, has no samples, or has
// an operator this package does not know.
func (f Figure) Status() (ok, has bool) {
	op := f.TargetOp
	if op == "" {
		if f.Target == 0 {
			return false, false
		}
		op = OpAtMost
	}
	if f.N == 0 {
		return false, true
	}
	switch op {
	case OpAtMost:
		return f.P99 <= f.Target, true
	case OpAtLeast:
		return f.P50 >= f.Target, true
	}
	return false, true
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// Validate reports what is wrong with f, or nil: the name must be usable as
// a file name, the unit present, the numbers finite and the operator known.
func (f Figure) Validate() error {
	var errs []error
	if !validName.MatchString(f.Figure) {
		errs = append(errs, fmt.Errorf("figure name %q: want letters, digits, '_', '.' or '-'", f.Figure))
	}
	if f.Unit == "" {
		errs = append(errs, errors.New("unit is empty"))
	}
	if f.N < 0 {
		errs = append(errs, fmt.Errorf("n is %d, below 0", f.N))
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"p50", f.P50}, {"p99", f.P99}, {"max", f.Max}, {"target", f.Target}} {
		if math.IsNaN(v.v) || math.IsInf(v.v, 0) {
			errs = append(errs, fmt.Errorf("%s is %v", v.name, v.v))
		}
	}
	switch f.TargetOp {
	case "", OpAtMost, OpAtLeast:
	default:
		errs = append(errs, fmt.Errorf("target_op %q: want %q or %q", f.TargetOp, OpAtMost, OpAtLeast))
	}
	return errors.Join(errs...)
}

// Dir returns the directory figures are written to: $SHISA_BENCH_OUT, or
// DefaultDir when that is unset or empty.
func Dir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return DefaultDir
}

// Write stores f as <dir>/<figure>.json, creating dir if needed. The file
// is replaced atomically: written to a temporary file in dir, synced,
// renamed over the old one, and the directory synced, so a reader (or a
// power cut) sees the old figure or the new one, never half of one.
func Write(dir string, f Figure) (err error) {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("benchfig: write %q: %w", f.Figure, err)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("benchfig: write %q: %w", f.Figure, err)
	}
	data = append(data, '\n')
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+f.Figure+".*.tmp")
	if err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()           // already failed; the first error is the one to report
			os.Remove(tmp.Name()) // best effort: leave no temp file behind
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, f.Figure+".json")); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("benchfig: sync %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("benchfig: %w", err)
	}
	return nil
}

// Read decodes the figure in the file at path strictly: unknown keys,
// trailing data, a missing "figure" or "unit", an invalid figure, or a file
// name that differs from the figure's name are errors naming the file.
func Read(path string) (Figure, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Figure{}, fmt.Errorf("benchfig: %w", err)
	}
	f, err := decode(data, strings.TrimSuffix(filepath.Base(path), ".json"))
	if err != nil {
		return Figure{}, fmt.Errorf("benchfig: %s: %w", path, err)
	}
	return f, nil
}

// decode is Read without the file: data must hold one valid figure named
// name.
func decode(data []byte, name string) (Figure, error) {
	var f Figure
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Figure{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Figure{}, errors.New("data after the figure's object")
	}
	if err := f.Validate(); err != nil {
		return Figure{}, err
	}
	if f.Figure != name {
		return Figure{}, fmt.Errorf("holds figure %q; the file should be named %s.json", f.Figure, f.Figure)
	}
	return f, nil
}

// ReadDir reads every *.json file in dir, sorted by figure name. It reads
// them all and returns every malformed file's error joined.
func ReadDir(dir string) ([]Figure, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("benchfig: %w", err)
	}
	var figs []Figure
	var errs []error
	for _, p := range paths {
		f, err := Read(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		figs = append(figs, f)
	}
	slices.SortFunc(figs, func(a, b Figure) int { return strings.Compare(a.Figure, b.Figure) })
	return figs, errors.Join(errs...)
}

// Table prints figs, in the order given, as aligned columns: figure, unit,
// n, p50, p99, max, target and ok (✓ target met, ✗ missed, - no target).
// Text columns are left-aligned and numbers right-aligned. The table is
// written in one Write; to learn whether it failed, pass a writer that
// remembers (a bufio.Writer, then Flush).
func Table(w io.Writer, figs []Figure) {
	header := []string{"figure", "unit", "n", "p50", "p99", "max", "target", "ok"}
	rightAligned := []bool{false, false, true, true, true, true, true, false}
	rows := [][]string{header}
	for _, f := range figs {
		target, mark := "-", "-"
		if ok, has := f.Status(); has {
			op := f.TargetOp
			if op == "" {
				op = OpAtMost
			}
			target = op + " " + formatNumber(f.Target)
			mark = "✗"
			if ok {
				mark = "✓"
			}
		}
		rows = append(rows, []string{
			f.Figure, f.Unit, strconv.Itoa(f.N),
			formatNumber(f.P50), formatNumber(f.P99), formatNumber(f.Max),
			target, mark,
		})
	}
	width := make([]int, len(header))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if rightAligned[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String()) //nolint:errcheck // see the doc comment
}

// formatNumber prints v with about four significant digits, no exponent and
// no trailing zeros: 12, 7.831, 0.25, 0.001235, 1234.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	decimals := 3 - int(math.Floor(math.Log10(math.Abs(v))))
	decimals = max(0, min(decimals, 6))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
