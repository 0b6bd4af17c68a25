package journal

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"testing"
)

var hex8 = regexp.MustCompile(`^[0-9a-f]{8}$`)

// referenceRecords decodes, independently of the package's parser, every
// complete line of data whose checksum matches, keyed by Seq.
func referenceRecords(data []byte) map[uint64][]Record {
	table := crc32.MakeTable(crc32.Castagnoli)
	out := make(map[uint64][]Record)
	lines := bytes.Split(data, []byte("\n"))
	for _, line := range lines[:len(lines)-1] { // the last piece has no newline
		if len(line) < 9 || line[8] != ' ' || !hex8.Match(line[:8]) {
			continue
		}
		sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
		if err != nil || crc32.Checksum(line[9:], table) != uint32(sum) {
			continue
		}
		var r Record
		if json.Unmarshal(line[9:], &r) == nil {
			out[r.Seq] = append(out[r.Seq], r)
		}
	}
	return out
}

// FuzzOpen feeds arbitrary bytes as the only segment file. Open must not
// panic or fail, must return only records whose checksum matches, in
// increasing Seq order, and the journal must carry on: the next Append gets
// a higher Seq and survives a reopen with everything read before.
func FuzzOpen(f *testing.F) {
	seed := func(lines ...string) []byte {
		var b []byte
		for _, l := range lines {
			b = append(b, encodeLine([]byte(l))...)
		}
		return b
	}
	good := seed(`{"seq":1,"time":"2026-03-01T09:00:00Z","kind":"a.b","msg":"one"}`,
		`{"seq":2,"time":"2026-03-01T09:00:01Z","kind":"a.b","msg":"two","fields":{"x":1}}`)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add(append(bytes.Clone(good), "deadbeef {\"seq\":3}\n\x00\x00"...))
	f.Add(seed(`{"seq":5}`, `{"seq":4}`, `{"seq":5}`, `{"seq":18446744073709551615}`))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, data, 0o640); err != nil {
			t.Fatal(err)
		}
		opts := Options{NoSync: true}
		j, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer j.Close()
		recs := since(t, j, 0)
		ref := referenceRecords(data)
		var prev uint64
		for _, r := range recs {
			if r.Seq <= prev {
				t.Fatalf("seq %d after %d", r.Seq, prev)
			}
			prev = r.Seq
			found := false
			for _, c := range ref[r.Seq] {
				found = found || reflect.DeepEqual(c, r)
			}
			if !found {
				t.Fatalf("returned record %+v matches no line with a valid checksum", r)
			}
		}
		if st := j.Stats(); st.Records != int64(len(recs)) {
			t.Fatalf("Stats.Records = %d, Since returned %d", st.Records, len(recs))
		}
		r, err := j.Append("fuzz.after", "After.", map[string]any{"n": 1})
		if err != nil {
			if prev == 1<<64-1 {
				return // sequence numbers exhausted: refusing is right
			}
			t.Fatalf("Append: %v", err)
		}
		if r.Seq <= prev {
			t.Fatalf("Append got seq %d, not above %d", r.Seq, prev)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j2, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer j2.Close()
		if st := j2.Stats(); st.TornRecords != 0 {
			t.Fatalf("reopen found a torn tail: %+v", st)
		}
		equalRecords(t, "after reopen", since(t, j2, 0), append(recs, r))
	})
}
