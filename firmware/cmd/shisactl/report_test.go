package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
)

// fakeGetter records the paths asked for and answers body or err.
type fakeGetter struct {
	paths []string
	body  []byte
	err   error
}

func (f *fakeGetter) Get(_ context.Context, path string) ([]byte, error) {
	f.paths = append(f.paths, path)
	return f.body, f.err
}

func TestReportCommand(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 30, 0, 0, time.UTC) // 1 December 00:30 JST
	ctx := context.Background()

	// The box serves the JSON; the page is rendered here.
	js, err := os.ReadFile("../../report/testdata/november.json")
	require.NoError(t, err)
	g := &fakeGetter{body: js}
	var out bytes.Buffer
	require.NoError(t, runReport(ctx, g, nil, &out, now))
	assert.Equal(t, []string{"/v1/report?format=json&lang=ja&month=2026-11"}, g.paths, "default: last month in JST, html (from json), ja")
	page, err := os.ReadFile("../../report/testdata/november.ja.html")
	require.NoError(t, err)
	assert.Equal(t, string(page), out.String(), "the page rendered from the box's JSON is the golden page")

	g = &fakeGetter{body: []byte("not json")}
	assert.ErrorContains(t, runReport(ctx, g, []string{"--format", "html"}, &out, now), "different versions")

	g = &fakeGetter{body: []byte("{}\n")}
	file := filepath.Join(t.TempDir(), "r.json")
	out.Reset()
	require.NoError(t, runReport(ctx, g, []string{"--month", "2026-10", "--format", "json", "--lang", "en", "--out", file}, &out, now))
	assert.Equal(t, []string{"/v1/report?format=json&lang=en&month=2026-10"}, g.paths)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "{}\n", string(data))
	assert.Contains(t, out.String(), file)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--month", "2026-13"}, `--month "2026-13"`},
		{[]string{"--month", "11/2026"}, `--month "11/2026"`},
		{[]string{"--format", "pdf"}, `--format "pdf"`},
		{[]string{"--lang", "fr"}, `--lang "fr"`},
		{[]string{"--bogus"}, "report:"},
	} {
		g := &fakeGetter{}
		err := runReport(ctx, g, tc.args, &out, now)
		assert.ErrorContains(t, err, tc.want)
		assert.ErrorAs(t, err, new(usageError), "bad usage exits 2")
		assert.Empty(t, g.paths, "nothing asked of shisad")
	}

	g = &fakeGetter{err: errors.New("shisad: no journal")}
	assert.ErrorContains(t, runReport(ctx, g, []string{"--month", "2026-10"}, &out, now), "report 2026-10: shisad: no journal")
}

func TestReportCommandNeedsClientGet(t *testing.T) {
	c := api.NewClient(filepath.Join(t.TempDir(), "none.sock"))
	err := cmdReport(context.Background(), c, []string{"--month", "2026-10"}, &bytes.Buffer{})
	if _, ok := any(c).(getter); ok {
		assert.ErrorContains(t, err, "shisad is not running", "with Client.Get wired, the command reaches for the socket")
	} else {
		assert.ErrorContains(t, err, "no Get")
	}
}
