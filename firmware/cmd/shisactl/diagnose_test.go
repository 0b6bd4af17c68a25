package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
)

func diagnosisJSON(t *testing.T, d selfcheck.Diagnosis) []byte {
	b, err := json.Marshal(d)
	require.NoError(t, err)
	return b
}

func TestDiagnose(t *testing.T) {
	broken := selfcheck.Diagnosis{Segment: selfcheck.SegmentWAN,
		Sentence:   "The WAN cable is unplugged or the line is down: check the cable on the WAN port (eth0).",
		SentenceJA: "WAN 回線が切れています。",
		Evidence:   []api.CheckItem{{Name: "wan_link", Detail: "no carrier"}, {Name: "lan_link", OK: true, Detail: "up"}}}
	g := &fakeGetter{body: diagnosisJSON(t, broken)}
	var out bytes.Buffer
	err := runDiagnose(context.Background(), g, []string{"--lang", "en"}, &out)
	assert.Equal(t, []string{"/v1/diagnose"}, g.paths)
	require.Error(t, err, "a broken segment is exit status 1")
	assert.False(t, errors.As(err, new(usageError)))
	text := out.String()
	assert.True(t, strings.HasPrefix(text, broken.Sentence), "the sentence comes first:\n%s", text)
	assert.Contains(t, text, "wan_link")
	assert.Contains(t, text, "no carrier")

	out.Reset()
	require.Error(t, runDiagnose(context.Background(), g, nil, &out))
	assert.True(t, strings.HasPrefix(out.String(), broken.SentenceJA), "Japanese by default")

	ok := selfcheck.Diagnosis{OK: true, Segment: selfcheck.SegmentNone, Sentence: "Everything works.", SentenceJA: "すべて正常です。"}
	g.body = diagnosisJSON(t, ok)
	out.Reset()
	require.NoError(t, runDiagnose(context.Background(), g, []string{"--json"}, &out))
	assert.Contains(t, out.String(), `"segment": "none"`)

	err = runDiagnose(context.Background(), g, []string{"--lang", "fr"}, &out)
	assert.True(t, errors.As(err, new(usageError)), "a bad --lang is a usage error")

	g.body = []byte(`{"nothing": 1}`)
	err = runDiagnose(context.Background(), g, nil, &out)
	assert.ErrorContains(t, err, "different versions")

	g.err = errors.New("shisad is not running (no one at /run/shisa/shisad.sock)")
	err = runDiagnose(context.Background(), g, nil, &out)
	assert.ErrorContains(t, err, "shisad is not running")
}
