package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// testClock is a clock that advances one second each time it is read.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// testOptions returns fast options: no fsync, a fixed clock.
func testOptions() Options {
	return Options{NoSync: true, Now: newTestClock().Now}
}

func openT(t testing.TB, dir string, opts Options) *Journal {
	t.Helper()
	j, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendN(t testing.TB, j *Journal, n int) []Record {
	t.Helper()
	var recs []Record
	for i := range n {
		r, err := j.Append("test.event", fmt.Sprintf("Event number %d happened.", i), map[string]any{"i": i, "site": "osaka"})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func since(t testing.TB, j *Journal, cursor uint64) []Record {
	t.Helper()
	recs, _, err := j.Since(cursor, 0)
	if err != nil {
		t.Fatalf("Since(%d): %v", cursor, err)
	}
	return recs
}

func seqs(recs []Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

func equalRecords(t testing.TB, what string, got, want []Record) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got seqs %v, want %v (or contents differ)\ngot:  %+v\nwant: %+v", what, seqs(got), seqs(want), got, want)
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "journal-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// checkFilesValid fails unless every line of every segment in dir is a
// complete, valid record.
func checkFilesValid(t testing.TB, dir string) {
	t.Helper()
	for _, path := range segmentFiles(t, dir) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end in a newline", path)
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			if len(data) == 0 {
				break
			}
			if _, ok := parseLine(line); !ok {
				t.Fatalf("%s line %d is invalid: %q", path, i+1, line)
			}
		}
	}
}

func TestAppendReopenSincePaging(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentBytes = 600
	j := openT(t, dir, opts)
	want := appendN(t, j, 50)
	for i, r := range want {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has Seq %d", i, r.Seq)
		}
		if r.Time.Location() != time.UTC {
			t.Fatalf("record %d time %v is not UTC", i, r.Time)
		}
	}
	if st := j.Stats(); st.Segments < 4 || st.Records != 50 || st.FirstSeq != 1 || st.LastSeq != 50 {
		t.Fatalf("Stats = %+v, want >= 4 segments, 50 records, seq 1..50", st)
	}
	if n := len(segmentFiles(t, dir)); n != j.Stats().Segments {
		t.Fatalf("%d segment files on disk, Stats says %d", n, j.Stats().Segments)
	}

	page := func(j *Journal) []Record {
		var all []Record
		cursor := uint64(0)
		for {
			recs, next, err := j.Since(cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				if next != cursor {
					t.Fatalf("empty page: next = %d, want the cursor %d", next, cursor)
				}
				return all
			}
			if len(recs) > 7 {
				t.Fatalf("page of %d records, limit 7", len(recs))
			}
			if next != recs[len(recs)-1].Seq {
				t.Fatalf("next = %d, want last seq %d", next, recs[len(recs)-1].Seq)
			}
			all = append(all, recs...)
			cursor = next
		}
	}
	equalRecords(t, "paged", page(j), want)
	equalRecords(t, "Since(37)", since(t, j, 37), want[37:])

	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openT(t, dir, opts)
	equalRecords(t, "paged after reopen", page(j), want)
	r, err := j.Append("test.after", "After the restart.", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 51 {
		t.Fatalf("Seq after reopen = %d, want 51", r.Seq)
	}
	if st := j.Stats(); st.TornRecords != 0 || st.CorruptRecords != 0 {
		t.Fatalf("clean reopen found torn/corrupt records: %+v", st)
	}
	checkFilesValid(t, dir)
}

func TestLast(t *testing.T) {
	opts := testOptions()
	opts.SegmentBytes = 500
	j := openT(t, t.TempDir(), opts)
	if recs, err := j.Last(5); err != nil || len(recs) != 0 {
		t.Fatalf("Last on empty journal = %v, %v", recs, err)
	}
	want := appendN(t, j, 30)
	for _, n := range []int{1, 5, 13, 30, 100} {
		got, err := j.Last(n)
		if err != nil {
			t.Fatal(err)
		}
		equalRecords(t, fmt.Sprintf("Last(%d)", n), got, want[max(len(want)-n, 0):])
	}
	if got, err := j.Last(0); err != nil || got != nil {
		t.Fatalf("Last(0) = %v, %v", got, err)
	}
}

func TestRange(t *testing.T) {
	opts := testOptions()
	opts.SegmentBytes = 500
	j := openT(t, t.TempDir(), opts)
	all := appendN(t, j, 30) // one second apart
	from, to := all[10].Time, all[20].Time
	var got []Record
	if err := j.Range(from, to, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	equalRecords(t, "Range [10, 20)", got, all[10:20])

	errEnough := errors.New("enough")
	n := 0
	err := j.Range(time.Time{}, all[29].Time.Add(time.Hour), func(r Record) error {
		n++
		if n == 3 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) || n != 3 {
		t.Fatalf("Range with failing fn = %v after %d calls, want errEnough after 3", err, n)
	}
}

func TestMaxBytesRemovesOldestSegments(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.MaxBytes = 2048
	opts.SegmentBytes = 512
	j := openT(t, dir, opts)
	want := appendN(t, j, 200)
	st := j.Stats()
	if st.Bytes > opts.MaxBytes || st.RemovedSegments == 0 || st.FirstSeq <= 1 || st.LastSeq != 200 {
		t.Fatalf("Stats = %+v: want <= %d bytes, removed segments, first seq > 1, last 200", st, opts.MaxBytes)
	}
	if n := len(segmentFiles(t, dir)); n != st.Segments {
		t.Fatalf("%d segment files on disk, Stats says %d", n, st.Segments)
	}
	kept := want[st.FirstSeq-1:]
	equalRecords(t, "Since(0) after removal", since(t, j, 0), kept)
	recs, next, err := j.Since(3, 5)
	if err != nil {
		t.Fatal(err)
	}
	equalRecords(t, "Since(3, 5)", recs, kept[:5])
	if next != kept[4].Seq {
		t.Fatalf("next = %d, want %d", next, kept[4].Seq)
	}
	if int64(len(since(t, j, 0))) != st.Records {
		t.Fatalf("Stats.Records = %d, Since returned %d", st.Records, len(since(t, j, 0)))
	}
	j.Close()
	j = openT(t, dir, opts)
	equalRecords(t, "Since(0) after reopen", since(t, j, 0), kept)
}

func TestSubscribe(t *testing.T) {
	j := openT(t, t.TempDir(), testOptions())
	ch1, cancel1 := j.Subscribe()
	ch2, cancel2 := j.Subscribe()
	defer cancel2()
	want := appendN(t, j, 3)
	for _, ch := range []<-chan Record{ch1, ch2} {
		for _, w := range want {
			got := <-ch
			equalRecords(t, "delivered", []Record{got}, []Record{w})
		}
	}
	cancel1()
	cancel1() // twice is fine
	if _, ok := <-ch1; ok {
		t.Fatal("channel open after cancel")
	}
	appendN(t, j, 1)
	if r := <-ch2; r.Seq != 4 {
		t.Fatalf("got seq %d, want 4", r.Seq)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch2; ok {
		t.Fatal("channel open after Close")
	}
	cancel2() // after Close is fine
	ch3, cancel3 := j.Subscribe()
	if _, ok := <-ch3; ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
	cancel3()
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	opts := testOptions()
	opts.SubscriberBuffer = 4
	j := openT(t, t.TempDir(), opts)
	slow, cancel := j.Subscribe() // never read until the end
	defer cancel()
	fast, cancelFast := j.Subscribe() // read after every append
	defer cancelFast()
	for i := range 100 {
		appendN(t, j, 1) // would deadlock here if delivery to slow blocked
		if r := <-fast; r.Seq != uint64(i+1) {
			t.Fatalf("fast subscriber got seq %d, want %d", r.Seq, i+1)
		}
	}
	if d := j.Stats().SubscriberDrops; d != 96 {
		t.Fatalf("SubscriberDrops = %d, want 96", d)
	}
	for i := range 4 {
		if r := <-slow; r.Seq != uint64(i+1) {
			t.Fatalf("slow subscriber got seq %d, want %d", r.Seq, i+1)
		}
	}
}

func TestAppendRejects(t *testing.T) {
	j := openT(t, t.TempDir(), testOptions())
	for _, kind := range []string{"", "tunnel up", "tunnel\tup", "tunnel.up\n", "a\x00b"} {
		if _, err := j.Append(kind, "msg", nil); !errors.Is(err, ErrBadKind) {
			t.Errorf("Append(kind %q) = %v, want ErrBadKind", kind, err)
		}
	}
	if _, err := j.Append("test.bad", "msg", map[string]any{"ch": make(chan int)}); err == nil {
		t.Error("Append with an unmarshallable field succeeded")
	}
	big := string(make([]byte, maxLineBytes))
	if _, err := j.Append("test.big", big, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of a huge record = %v, want ErrTooLarge", err)
	}
	if st := j.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Fatalf("rejected records reached the disk: %+v", st)
	}
	if r, err := j.Append("test.ok", "msg", nil); err != nil || r.Seq != 1 {
		t.Fatalf("Append after rejects = %+v, %v; want seq 1", r, err)
	}
}

func TestCloseAndLock(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testOptions()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := j.Append("test.x", "x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, _, err := j.Since(0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Since after Close = %v, want ErrClosed", err)
	}
	j2 := openT(t, dir, testOptions())
	if st := j2.Stats(); st.Segments != 1 || st.Records != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

// lineEnds returns the offset just after each line of data.
func lineEnds(data []byte) []int {
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	return ends
}

// copyDir copies the segment files of src into a new directory under root,
// replacing the contents of the file named newest with newestData.
func copyDir(t testing.TB, root, src, newest string, newestData []byte) string {
	t.Helper()
	dst, err := os.MkdirTemp(root, "cut")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range segmentFiles(t, src) {
		data := newestData
		if filepath.Base(path) != newest {
			if data, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(path)), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestPowerCut cuts the newest segment at every byte offset within its last
// three records, as a power cut during the write of the last one would
// (or, on filesystems that do not order data, of any of them), and checks
// that every record complete before the cut survives intact, nothing else
// does, and the journal carries on correctly.
func TestPowerCut(t *testing.T) {
	for _, tc := range []struct {
		name         string
		n            int
		segmentBytes int64
	}{
		{"one segment", 10, 1 << 20},
		{"several segments", 10, 450}, // the newest holds 1-3 records; offset 0 is a segment created just before the cut
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			opts := testOptions()
			opts.SegmentBytes = tc.segmentBytes
			j := openT(t, src, opts)
			all := appendN(t, j, tc.n)
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			files := segmentFiles(t, src)
			newestPath := files[len(files)-1]
			newest := filepath.Base(newestPath)
			first, _ := parseSegmentName(newest)
			data, err := os.ReadFile(newestPath)
			if err != nil {
				t.Fatal(err)
			}
			ends := lineEnds(data)
			older := all[:first-1]
			inNewest := all[first-1:]
			if len(ends) != len(inNewest) {
				t.Fatalf("newest segment has %d lines, want %d", len(ends), len(inNewest))
			}
			start := 0
			if len(ends) > 3 {
				start = ends[len(ends)-4]
			}
			if tc.segmentBytes < 1000 && (len(files) < 3 || len(ends) > 3) {
				t.Fatalf("%d segments, newest with %d records: want several, the newest cut from offset 0", len(files), len(ends))
			}
			root := t.TempDir()
			for off := start; off <= len(data); off++ {
				dst := copyDir(t, root, src, newest, data[:off])
				complete, boundary := 0, 0
				for _, e := range ends {
					if e <= off {
						complete++
						boundary = e
					}
				}
				want := slices.Concat(older, inNewest[:complete])
				j, err := Open(dst, opts)
				if err != nil {
					t.Fatalf("cut at %d: Open: %v", off, err)
				}
				equalRecords(t, fmt.Sprintf("cut at %d", off), since(t, j, 0), want)
				st := j.Stats()
				wantTorn := 0
				if off != boundary {
					wantTorn = 1
				}
				if st.TornRecords != wantTorn || st.TornBytes != int64(off-boundary) || st.CorruptRecords != 0 {
					t.Fatalf("cut at %d: Stats = %+v, want %d torn record of %d bytes, none corrupt", off, st, wantTorn, off-boundary)
				}
				r, err := j.Append("test.after", "After the power cut.", nil)
				if err != nil {
					t.Fatalf("cut at %d: Append: %v", off, err)
				}
				if r.Seq != uint64(len(want)+1) {
					t.Fatalf("cut at %d: Append got seq %d, want %d", off, r.Seq, len(want)+1)
				}
				if err := j.Close(); err != nil {
					t.Fatal(err)
				}
				checkFilesValid(t, dst)
				j, err = Open(dst, opts)
				if err != nil {
					t.Fatal(err)
				}
				equalRecords(t, fmt.Sprintf("cut at %d, reopened", off), since(t, j, 0), append(want, r))
				if st := j.Stats(); st.TornRecords != 0 || st.CorruptRecords != 0 {
					t.Fatalf("cut at %d: second Open found torn/corrupt records: %+v", off, st)
				}
				j.Close()
				os.RemoveAll(dst)
			}
		})
	}
}

// TestGarbageAfterLastNewline simulates a partly written sector: random
// bytes, newlines included, after the last complete record.
func TestGarbageAfterLastNewline(t *testing.T) {
	src := t.TempDir()
	opts := testOptions()
	j := openT(t, src, opts)
	all := appendN(t, j, 10)
	j.Close()
	path := segmentFiles(t, src)[0]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	root := t.TempDir()
	for i := range 50 {
		garbage := make([]byte, 1+rng.IntN(600))
		for k := range garbage {
			garbage[k] = byte(rng.Uint32())
			if rng.IntN(40) == 0 {
				garbage[k] = '\n'
			}
		}
		if i%5 == 0 {
			clear(garbage) // unwritten blocks read back as zeros
		}
		dst := copyDir(t, root, src, filepath.Base(path), slices.Concat(data, garbage))
		j, err := Open(dst, opts)
		if err != nil {
			t.Fatal(err)
		}
		equalRecords(t, fmt.Sprintf("garbage %d", i), since(t, j, 0), all)
		st := j.Stats()
		if st.TornRecords < 1 || st.TornBytes != int64(len(garbage)) || st.CorruptRecords != 0 {
			t.Fatalf("garbage %d (%d bytes): Stats = %+v", i, len(garbage), st)
		}
		if r, err := j.Append("test.after", "After.", nil); err != nil || r.Seq != 11 {
			t.Fatalf("Append after garbage = %+v, %v", r, err)
		}
		j.Close()
		checkFilesValid(t, dst)
	}
}

// TestFlippedByteInMiddleRecord flips, one at a time, every byte of a record
// in the middle of the newest segment: that record alone is dropped and
// counted, every other record kept.
func TestFlippedByteInMiddleRecord(t *testing.T) {
	src := t.TempDir()
	opts := testOptions()
	j := openT(t, src, opts)
	all := appendN(t, j, 20)
	j.Close()
	path := segmentFiles(t, src)[0]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ends := lineEnds(data)
	const victim = 9                         // record seq 10
	lo, hi := ends[victim-1], ends[victim]-1 // the line, without its newline
	want := slices.Concat(all[:victim], all[victim+1:])
	root := t.TempDir()
	for pos := lo; pos < hi; pos++ {
		bad := slices.Clone(data)
		bad[pos] ^= 0x01
		dst := copyDir(t, root, src, filepath.Base(path), bad)
		j, err := Open(dst, opts)
		if err != nil {
			t.Fatal(err)
		}
		equalRecords(t, fmt.Sprintf("flip at %d", pos), since(t, j, 0), want)
		if st := j.Stats(); st.CorruptRecords != 1 || st.TornRecords != 0 || st.Records != 19 {
			t.Fatalf("flip at %d: Stats = %+v, want 1 corrupt, 19 records", pos, st)
		}
		if r, err := j.Append("test.after", "After.", nil); err != nil || r.Seq != 21 {
			t.Fatalf("flip at %d: Append = %+v, %v; want seq 21", pos, r, err)
		}
		j.Close()
		os.RemoveAll(dst)
	}
}

// TestBitRotAtEndOfOlderSegment: a bad last line in a segment that is not
// the newest is bit rot, not a torn write: counted, skipped, not truncated.
func TestBitRotAtEndOfOlderSegment(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions()
	opts.SegmentBytes = 600
	j := openT(t, dir, opts)
	all := appendN(t, j, 20)
	j.Close()
	oldest := segmentFiles(t, dir)[0]
	data, err := os.ReadFile(oldest)
	if err != nil {
		t.Fatal(err)
	}
	ends := lineEnds(data)
	data[len(data)-5] ^= 0x01 // inside the last record's JSON
	if err := os.WriteFile(oldest, data, 0o640); err != nil {
		t.Fatal(err)
	}
	j = openT(t, dir, opts)
	lost := len(ends) - 1 // index of the damaged record
	equalRecords(t, "after bit rot", since(t, j, 0), slices.Concat(all[:lost], all[lost+1:]))
	if st := j.Stats(); st.CorruptRecords != 1 || st.TornRecords != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if fi, err := os.Stat(oldest); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("older segment was changed: %v, %v", fi, err)
	}
}

// TestConcurrent runs appenders, pagers and a subscriber together; run it
// with -race.
func TestConcurrent(t *testing.T) {
	opts := testOptions()
	opts.SegmentBytes = 2048
	opts.SubscriberBuffer = 1024
	j := openT(t, t.TempDir(), opts)
	const writers, perWriter = 4, 100
	const total = writers * perWriter
	sub, cancel := j.Subscribe()
	defer cancel()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := j.Append("test.concurrent", "Concurrent.", map[string]any{"w": w, "i": i}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			var cursor uint64
			for cursor < total {
				recs, next, err := j.Since(cursor, 13)
				if err != nil {
					t.Error(err)
					return
				}
				for k, r := range recs {
					if r.Seq != cursor+uint64(k)+1 {
						t.Errorf("Since(%d) returned seq %d at %d", cursor, r.Seq, k)
						return
					}
				}
				cursor = next
				j.Stats()
			}
		})
	}
	var delivered []uint64
	wg.Go(func() {
		for r := range sub {
			delivered = append(delivered, r.Seq)
			if len(delivered) == total {
				return
			}
		}
	})
	wg.Wait()
	for i, s := range delivered {
		if s != uint64(i+1) {
			t.Fatalf("subscriber got seq %d at %d", s, i)
		}
	}
	if len(delivered) != total {
		t.Fatalf("subscriber got %d records, want %d", len(delivered), total)
	}
	if st := j.Stats(); st.Records != total || st.LastSeq != total {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestSegmentName(t *testing.T) {
	for _, first := range []uint64{0, 1, 42, 1<<64 - 1} {
		name := segmentName(first)
		got, ok := parseSegmentName(name)
		if !ok || got != first {
			t.Errorf("parseSegmentName(%q) = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"journal-1.log", "journal-0000000000000000000a.log", "journal-99999999999999999999.log", "journal-00000000000000000001.log.tmp", "x"} {
		if _, ok := parseSegmentName(name); ok {
			t.Errorf("parseSegmentName(%q) accepted", name)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			j := openT(b, b.TempDir(), Options{NoSync: noSync})
			fields := map[string]any{"endpoint": "dc1.example.net:51820", "rtt_ms": 12.5}
			for b.Loop() {
				if _, err := j.Append("tunnel.handshake", "Handshake with the datacenter completed.", fields); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSyncedPath runs the real fsync/fdatasync path, in a directory that
// Open must create, across a rotation.
func TestSyncedPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "shisa", "journal")
	j := openT(t, dir, Options{SegmentBytes: 300, Now: newTestClock().Now})
	want := appendN(t, j, 6)
	if st := j.Stats(); st.Segments < 2 {
		t.Fatalf("Stats = %+v, want a rotation", st)
	}
	j.Close()
	j = openT(t, dir, Options{})
	equalRecords(t, "after reopen", since(t, j, 0), want)
}

// Last answers from memory for small n (every status request and scrape
// calls it) and agrees with the files for any n, across reopen.
func TestLastFromMemoryAgreesWithFiles(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{NoSync: true, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := j.Append("test.n", "n", map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(j *Journal) {
		t.Helper()
		for _, n := range []int{1, 10, recentMax, recentMax + 1, 200} {
			got, err := j.Last(n)
			if err != nil {
				t.Fatal(err)
			}
			want, err := j.readLast(n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n || got[0].Seq != want[0].Seq || got[n-1].Seq != 300 {
				t.Fatalf("Last(%d): %d records %d..%d, files say %d..%d", n, len(got), got[0].Seq, got[len(got)-1].Seq, want[0].Seq, want[len(want)-1].Seq)
			}
		}
	}
	check(j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, err = Open(dir, Options{NoSync: true, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	check(j)
	// Fewer records than asked: all of them.
	k, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := k.Append("test.one", "one", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.Last(10); len(got) != 1 {
		t.Fatalf("Last(10) of a one-record journal: %d records", len(got))
	}
}

func BenchmarkLast10(b *testing.B) {
	j, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	for i := range 10000 {
		if _, err := j.Append("test.n", "n", map[string]any{"i": i}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := j.Last(10); err != nil {
			b.Fatal(err)
		}
	}
}
