package benchfig

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The expectations below were worked out by hand from the nearest-rank
// definition (rank = ceil(p/100 × n), counted from 1 in sorted order), not
// copied from this package's output.
func TestFromSamples(t *testing.T) {
	seq := func(from, to float64) []float64 {
		var s []float64
		for v := from; v <= to; v++ {
			s = append(s, v)
		}
		return s
	}
	tests := []struct {
		name          string
		samples       []float64
		n             int
		p50, p99, max float64
	}{
		{"none", nil, 0, 0, 0, 0},
		{"one", []float64{0.7}, 1, 0.7, 0.7, 0.7},
		// sorted 1 2 3 4 5: p50 rank ceil(2.5)=3 → 3; p99 rank ceil(4.95)=5 → 5.
		{"five unsorted", []float64{5, 1, 4, 2, 3}, 5, 3, 5, 5},
		// sorted 1 2 3 4: p50 rank ceil(2)=2 → 2 (nearest rank does not interpolate).
		{"four", []float64{4, 3, 2, 1}, 4, 2, 4, 4},
		// 20 failover trials: p50 rank 10; p99 rank ceil(19.8)=20, the maximum.
		{"twenty", seq(1, 20), 20, 10, 20, 20},
		// 1..100: p50 rank 50 → 50; p99 rank 99 → 99.
		{"hundred", seq(1, 100), 100, 50, 99, 100},
		// 1..200: p50 rank 100 → 100; p99 rank ceil(198)=198 → 198.
		{"two hundred", seq(1, 200), 200, 100, 198, 200},
		// an outlier shows in p99 and max but not p50.
		{"outlier", []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 9}, 10, 1, 9, 9},
		{"duplicates", []float64{2, 2, 2}, 3, 2, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.samples)
			f := FromSamples("x_s", "s", in, 3)
			if f.Figure != "x_s" || f.Unit != "s" || f.Target != 3 || f.TargetOp != OpAtMost {
				t.Errorf("FromSamples kept name/unit/target as %q %q %v %q", f.Figure, f.Unit, f.Target, f.TargetOp)
			}
			if f.N != tt.n || f.P50 != tt.p50 || f.P99 != tt.p99 || f.Max != tt.max {
				t.Errorf("n, p50, p99, max = %d, %v, %v, %v; want %d, %v, %v, %v",
					f.N, f.P50, f.P99, f.Max, tt.n, tt.p50, tt.p99, tt.max)
			}
			if !slices.Equal(in, tt.samples) {
				t.Errorf("FromSamples reordered its input: %v, was %v", in, tt.samples)
			}
		})
	}
}

func TestFromSamplesNoTarget(t *testing.T) {
	f := FromSamples("goroutines", "count", []float64{12}, 0)
	if f.TargetOp != "" {
		t.Errorf("TargetOp = %q, want empty for a figure without target", f.TargetOp)
	}
	if _, has := f.Status(); has {
		t.Error("Status says a figure with target 0 has a target")
	}
}

func TestJSONKeys(t *testing.T) {
	f := Figure{Figure: "dc_failover_s", Unit: "s", N: 20, P50: 1.5, P99: 2.5, Max: 2.75, Target: 3}
	got, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"figure":"dc_failover_s","unit":"s","n":20,"p50":1.5,"p99":2.5,"max":2.75,"target":3}`
	if string(got) != want {
		t.Errorf("json.Marshal = %s\nwant           %s", got, want)
	}
	f.TargetOp, f.Note = OpAtMost, "20 trials, link cut"
	got, err = json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	const wantAll = `{"figure":"dc_failover_s","unit":"s","n":20,"p50":1.5,"p99":2.5,"max":2.75,"target":3,"target_op":"\u003c=","note":"20 trials, link cut"}`
	if string(got) != wantAll {
		t.Errorf("json.Marshal = %s\nwant           %s", got, wantAll)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name    string
		f       Figure
		ok, has bool
	}{
		{"no target", Figure{N: 3, P99: 100}, false, false},
		{"at most, met", Figure{N: 3, P99: 3, Target: 3, TargetOp: OpAtMost}, true, true},
		{"at most, missed", Figure{N: 3, P50: 1, P99: 3.01, Target: 3, TargetOp: OpAtMost}, false, true},
		{"empty op means at most", Figure{N: 3, P99: 19, Target: 20}, true, true},
		{"at least judges p50", Figure{N: 3, P50: 90, P99: 10, Target: 90, TargetOp: OpAtLeast}, true, true},
		{"at least, missed", Figure{N: 3, P50: 89, P99: 200, Target: 90, TargetOp: OpAtLeast}, false, true},
		{"no samples never meets", Figure{N: 0, Target: 3, TargetOp: OpAtMost}, false, true},
		{"unknown op", Figure{N: 3, Target: 3, TargetOp: "<"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, has := tt.f.Status()
			if ok != tt.ok || has != tt.has {
				t.Errorf("Status() = %v, %v; want %v, %v", ok, has, tt.ok, tt.has)
			}
		})
	}
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "")
	if got := Dir(); got != "bench/out" {
		t.Errorf("Dir() with %s empty = %q, want bench/out", EnvDir, got)
	}
	t.Setenv(EnvDir, "/tmp/figs")
	if got := Dir(); got != "/tmp/figs" {
		t.Errorf("Dir() = %q, want /tmp/figs", got)
	}
}

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench", "out") // Write creates it
	f := FromSamples("start_to_handshake_s", "s", []float64{0.2, 0.4, 0.3}, 1)
	f.Note = "daemon start to first handshake"
	if err := Write(dir, f); err != nil {
		t.Fatal(err)
	}
	f.P50 = 0.25 // overwrite in place
	if err := Write(dir, f); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"start_to_handshake_s.json"}; !slices.Equal(names, want) {
		t.Errorf("directory holds %v, want %v (no temporary files left)", names, want)
	}
	got, err := Read(filepath.Join(dir, "start_to_handshake_s.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got != f {
		t.Errorf("Read = %+v\nwant   %+v", got, f)
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Figure{
		{Figure: "", Unit: "s"},
		{Figure: "../escape", Unit: "s"},
		{Figure: "a/b", Unit: "s"},
		{Figure: ".hidden", Unit: "s"},
		{Figure: "no_unit"},
		{Figure: "nan", Unit: "s", P99: math.NaN()},
		{Figure: "inf", Unit: "s", Max: math.Inf(1)},
		{Figure: "bad_op", Unit: "s", Target: 1, TargetOp: "=="},
		{Figure: "neg_n", Unit: "s", N: -1},
	} {
		if err := Write(dir, f); err == nil {
			t.Errorf("Write(%+v) succeeded, want an error", f)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("rejected figures left %d files behind", len(entries))
	}
}

func TestReadMalformed(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"unknown_key.json": `{"figure":"unknown_key","unit":"s","n":1,"p50":1,"p99":1,"max":1,"target":0,"p95":1}`,
		"trailing.json":    `{"figure":"trailing","unit":"s","n":1,"p50":1,"p99":1,"max":1,"target":0} {}`,
		"renamed.json":     `{"figure":"other","unit":"s","n":1,"p50":1,"p99":1,"max":1,"target":0}`,
		"no_unit.json":     `{"figure":"no_unit","n":1,"p50":1,"p99":1,"max":1,"target":0}`,
		"not_json.json":    `figure: yaml`,
		"wrong_type.json":  `{"figure":"wrong_type","unit":"s","n":"many"}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(p); err == nil {
			t.Errorf("Read(%s) succeeded, want an error", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("Read(%s) error %q does not name the file", name, err)
		}
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Figure{
		{Figure: "rss_mb", Unit: "MB", N: 1, P50: 9, P99: 9, Max: 9, Target: 20},
		{Figure: "binary_arm64_mb", Unit: "MB", N: 1, P50: 7, P99: 7, Max: 7},
		{Figure: "goroutines", Unit: "count", N: 1, P50: 14, P99: 14, Max: 14},
	} {
		if err := Write(dir, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not a figure"), 0o644); err != nil {
		t.Fatal(err)
	}
	figs, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Figure)
	}
	if want := []string{"binary_arm64_mb", "goroutines", "rss_mb"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir names = %v, want %v", names, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	figs, err = ReadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Errorf("ReadDir error = %v, want one naming broken.json", err)
	}
	if len(figs) != 3 {
		t.Errorf("ReadDir returned %d good figures beside the broken one, want 3", len(figs))
	}
}

func TestTable(t *testing.T) {
	figs := []Figure{
		{Figure: "dc_failover_s", Unit: "s", N: 20, P50: 1.25, P99: 2.5, Max: 2.5, Target: 3, TargetOp: OpAtMost},
		{Figure: "goroutines", Unit: "count", N: 1, P50: 14, P99: 14, Max: 14},
		{Figure: "rss_mb", Unit: "MB", N: 3, P50: 21.5, P99: 22.25, Max: 22.25, Target: 20},
		{Figure: "tput_mbps", Unit: "Mbit/s", N: 5, P50: 95, P99: 99, Max: 99, Target: 90, TargetOp: OpAtLeast},
	}
	// Column widths by hand: figure 13 (dc_failover_s), unit 6 (Mbit/s),
	// n 2, p50 4, p99 5, max 5, target 6 (the header), ok 2; two spaces
	// between columns; numbers and targets right-aligned; no trailing blanks.
	const want = `figure         unit     n   p50    p99    max  target  ok
dc_failover_s  s       20  1.25    2.5    2.5    <= 3  ✓
goroutines     count    1    14     14     14       -  -
rss_mb         MB       3  21.5  22.25  22.25   <= 20  ✗
tput_mbps      Mbit/s   5    95     99     99   >= 90  ✓
`
	var b strings.Builder
	Table(&b, figs)
	if got := b.String(); got != want {
		t.Errorf("Table printed\n%s\nwant\n%s", got, want)
	}
}

func TestTableEmpty(t *testing.T) {
	var b strings.Builder
	Table(&b, nil)
	if got, want := b.String(), "figure  unit  n  p50  p99  max  target  ok\n"; got != want {
		t.Errorf("Table(nil) = %q, want %q", got, want)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{
		0:          "0",
		12:         "12",
		-3:         "-3",
		7.83123:    "7.831",
		0.25:       "0.25",
		0.00123456: "0.001235",
		1234.4:     "1234",
		19.99:      "19.99",
		-0.5:       "-0.5",
		1e-9:       "0",
	} {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

// FuzzDecode checks that decoding never panics on any file content, and
// that a figure it accepts survives encoding and decoding unchanged.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"figure":"x","unit":"s","n":1,"p50":1,"p99":2,"max":2,"target":3,"target_op":"<="}`))
	f.Add([]byte(`{"figure":"x","unit":"s","n":0,"p50":0,"p99":0,"max":0,"target":0}`))
	f.Add([]byte(`{"figure":"x","unit":"s","n":-1}`))
	f.Add([]byte(`{"figure":"x","unit":"s","p50":1e400}`))
	f.Add([]byte(`{"figure":"x","unit":"s"} garbage`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fig, err := decode(data, "x")
		if err != nil {
			return
		}
		if err := fig.Validate(); err != nil {
			t.Fatalf("decode accepted an invalid figure: %v", err)
		}
		enc, err := json.Marshal(fig)
		if err != nil {
			t.Fatalf("Marshal of a figure decode accepted: %v", err)
		}
		again, err := decode(enc, "x")
		if err != nil {
			t.Fatalf("decode of %s: %v", enc, err)
		}
		if again != fig {
			t.Fatalf("round trip changed the figure: %+v became %+v", fig, again)
		}
	})
}
