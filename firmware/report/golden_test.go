package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func novemberReport(t *testing.T) *Report {
	t.Helper()
	r, opts := novemberFixture(t)
	rep, err := Build("2026-11", r.source(), opts)
	require.NoError(t, err)
	return rep
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./firmware/report -update to create it")
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got); if the change is meant, run go test ./firmware/report -update:\n%s", path, d)
	}
}

func TestGolden(t *testing.T) {
	rep := novemberReport(t)
	var js, csv bytes.Buffer
	require.NoError(t, rep.JSON(&js))
	require.NoError(t, rep.CSV(&csv))
	// The HTML pages are rendered from this JSON by package reporthtml,
	// which keeps their golden files too.
	golden(t, "november.json", js.Bytes())
	golden(t, "november.csv", csv.Bytes())

	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back), "the JSON reads back")
	assert.Equal(t, rep.Summary, back.Summary)
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, novemberReport(t).CSV(&b))
	s := b.String()
	require.True(t, strings.HasPrefix(s, "\uFEFF日付(date),"), "UTF-8 BOM, then the header")
	lines := strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n")
	assert.Equal(t, "2026-11-01,100.000,100.000,1440.0,0.0,0.0,0.0,0,0", lines[1])
	assert.True(t, strings.HasPrefix(lines[30], "2026-11-30,"))
	assert.True(t, strings.HasPrefix(lines[31], "合計(total),99.765,98.703,"), lines[31])
	assert.Equal(t, "", lines[32])
	assert.Contains(t, s, "\r\n拠点(site),浜松市 本庁舎 (hamamatsu-honcho)\r\n")
	assert.Equal(t, "'=cmd()", cell("=cmd()"), "no formulas from a site name")
}
