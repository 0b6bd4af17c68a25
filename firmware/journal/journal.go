package journal

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
)

// Record is one event. Seq is the cursor: 1, 2, 3…, never reused, continued
// across restarts. Records must not carry secrets (see the package comment).
//
// Fields come back from the journal as encoding/json decodes them into an
// any: numbers are float64, objects map[string]any, arrays []any.
type Record struct {
	Seq    uint64         `json:"seq"`  // 1, 2, 3… never reused, survives restarts; the cursor
	Time   time.Time      `json:"time"` // UTC, RFC3339Nano
	Kind   string         `json:"kind"` // dotted, e.g. "tunnel.failover"
	Msg    string         `json:"msg"`  // one human sentence
	Fields map[string]any `json:"fields,omitempty"`
}

// Options configures a Journal. The zero value is the production default.
type Options struct {
	// MaxBytes bounds the segments together; beyond it whole segments are
	// removed, oldest first, never the active one. Default 16 MiB.
	MaxBytes int64
	// SegmentBytes is the size beyond which the active segment is closed
	// and a new one started. Default MaxBytes/8.
	SegmentBytes int64
	// SubscriberBuffer is each subscriber's channel capacity. Default 64.
	SubscriberBuffer int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives warnings about torn and corrupt records. May be nil.
	Logger *slog.Logger
	// NoSync skips fsync and fdatasync. For tests and benchmarks only: a
	// power cut then loses any number of records.
	NoSync bool
}

// Stats describes the journal's state.
type Stats struct {
	Records  int64 // valid records in the kept segments
	Bytes    int64 // bytes of the kept segments
	Segments int
	FirstSeq uint64 // oldest kept record; 0 when empty
	LastSeq  uint64 // newest record; 0 when empty

	TornRecords     int   // invalid lines truncated from the newest segment's tail by Open
	TornBytes       int64 // bytes truncated by Open
	CorruptRecords  int   // invalid lines skipped elsewhere by Open (bit rot)
	RemovedSegments int   // segments removed by MaxBytes since Open
	SubscriberDrops int64 // records not delivered to a full subscriber channel
}

// Errors.
var (
	ErrClosed   = errors.New("journal: closed")
	ErrLocked   = errors.New("journal: directory in use by another journal (is another shisad running?)")
	ErrBadKind  = errors.New("journal: kind must be non-empty, without spaces or control characters")
	ErrTooLarge = errors.New("journal: record too large")
)

const (
	defaultMaxBytes         = 16 << 20
	defaultSubscriberBuffer = 64
)

// segment is one segment file as the journal knows it.
type segment struct {
	first   uint64 // from the file name
	path    string
	size    int64  // bytes of complete lines
	records int64  // valid records
	minSeq  uint64 // first valid record's sequence; 0 if none
	maxSeq  uint64 // last valid record's sequence; 0 if none
}

type subscriber struct {
	ch chan Record
}

// Journal is an open journal directory. Its methods are safe for concurrent
// use. Readers (Since, Last, Range) copy the segment list under mu and read
// the files without it, so they never hold up Append.
type Journal struct {
	dir  string
	opts Options // defaults applied; immutable after Open
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below
	closed  bool
	broken  error    // sticky: the active segment may end in a partial line
	dirFile *os.File // the directory, held open and flock'ed; fsynced after creating a segment
	active  *os.File // the newest segment, opened for append
	segs    []segment
	nextSeq uint64
	subs    map[*subscriber]struct{}
	stats   Stats    // only the counters; the rest is computed by Stats
	recent  []Record // the newest records, at most recentMax, oldest first
}

// recentMax is how many of the newest records the journal keeps in memory,
// so that Last (every status request, every scrape) does not parse a
// segment of thousands of records.
const recentMax = 64

// Open opens the journal in dir, creating the directory and the first segment
// if needed. It scans every segment: a torn write at the tail of the newest
// segment is truncated away, corrupt lines elsewhere are skipped; both are
// logged and counted in Stats. Only one Journal may hold dir at a time.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 || opts.SubscriberBuffer < 0 {
		return nil, fmt.Errorf("journal: open %s: negative size in options", dir)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = defaultMaxBytes
	}
	if opts.SegmentBytes == 0 {
		opts.SegmentBytes = max(opts.MaxBytes/8, 1)
	}
	if opts.SubscriberBuffer == 0 {
		opts.SubscriberBuffer = defaultSubscriberBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &Journal{dir: dir, opts: opts, log: log, subs: make(map[*subscriber]struct{})}
	if err := j.open(); err != nil {
		return nil, errors.Join(fmt.Errorf("journal: open %s: %w", dir, err), j.closeFiles())
	}
	recent, err := j.readLast(recentMax)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("journal: open %s: %w", dir, err), j.closeFiles())
	}
	j.recent = recent
	return j, nil
}

func (j *Journal) open() error {
	if _, err := os.Stat(j.dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(j.dir, 0o750); err != nil {
			return err
		}
		// Make the new directory's entry durable too.
		if !j.opts.NoSync {
			if err := atomicfile.SyncDir(filepath.Dir(filepath.Clean(j.dir))); err != nil {
				return err
			}
		}
	}
	d, err := os.Open(j.dir)
	if err != nil {
		return err
	}
	j.dirFile = d
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return ErrLocked
		}
		return fmt.Errorf("lock: %w", err)
	}
	ents, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			j.segs = append(j.segs, segment{first: first, path: filepath.Join(j.dir, e.Name())})
		}
	}
	slices.SortFunc(j.segs, func(a, b segment) int { return cmp.Compare(a.first, b.first) })
	for i := range j.segs {
		if err := j.scanOnOpen(i); err != nil {
			return err
		}
	}
	if len(j.segs) == 0 {
		if err := j.createSegment(1); err != nil {
			return err
		}
	} else {
		newest := j.segs[len(j.segs)-1]
		j.nextSeq = max(newest.maxSeq+1, newest.first, 1)
		if newest.maxSeq == math.MaxUint64 {
			j.broken = errors.New("sequence numbers exhausted")
		}
		f, err := os.OpenFile(newest.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		j.active = f
	}
	j.trimLocked()
	return nil
}

// scanOnOpen scans segment i, counts its invalid lines and, for the newest
// segment, truncates a torn tail.
func (j *Journal) scanOnOpen(i int) error {
	s := &j.segs[i]
	newest := i == len(j.segs)-1
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	res, err := scanSegment(f, s.first, j.boundLocked(i), nil)
	if err != nil {
		return errors.Join(fmt.Errorf("read %s: %w", s.path, err), f.Close())
	}
	s.size, s.records, s.minSeq, s.maxSeq = res.size, int64(res.valid), res.first, res.last
	corrupt := res.invalid
	if newest && res.end < res.size {
		corrupt -= res.invalidTail
		torn := res.size - res.end
		j.log.Warn("journal: torn write at the end of the newest segment; truncating it",
			"file", s.path, "lines", res.invalidTail, "bytes", torn)
		if err := f.Truncate(res.end); err != nil {
			return errors.Join(fmt.Errorf("truncate torn tail of %s: %w", s.path, err), f.Close())
		}
		if err := j.sync(f); err != nil {
			return errors.Join(fmt.Errorf("sync %s: %w", s.path, err), f.Close())
		}
		s.size = res.end
		j.stats.TornRecords += res.invalidTail
		j.stats.TornBytes += torn
	}
	if corrupt > 0 {
		j.log.Warn("journal: corrupt records skipped (bit rot?)", "file", s.path, "lines", corrupt)
		j.stats.CorruptRecords += corrupt
	}
	return f.Close()
}

// boundLocked returns the sequence that segment i's records must stay below:
// the next segment's first, or no bound for the newest.
func (j *Journal) boundLocked(i int) uint64 {
	if i+1 < len(j.segs) {
		return j.segs[i+1].first
	}
	return math.MaxUint64
}

// createSegment creates the segment whose first record will be first, makes
// its creation durable, and makes it the active one.
func (j *Journal) createSegment(first uint64) error {
	path := filepath.Join(j.dir, segmentName(first))
	// O_TRUNC, not O_EXCL: a file of this name can only be left over from a
	// rotation that failed after creating it, and holds no records.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	err = j.sync(f)
	if err == nil {
		err = j.syncDir()
	}
	if err != nil {
		return errors.Join(fmt.Errorf("create %s: %w", path, err), f.Close(), os.Remove(path))
	}
	if j.active != nil {
		if err := j.active.Close(); err != nil {
			// Its records are already synced; nothing is lost.
			j.log.Warn("journal: closing the previous segment failed", "err", err)
		}
	}
	j.active = f
	j.segs = append(j.segs, segment{first: first, path: path})
	j.nextSeq = max(j.nextSeq, first)
	return nil
}

func (j *Journal) sync(f *os.File) error {
	if j.opts.NoSync {
		return nil
	}
	return f.Sync()
}

func (j *Journal) syncDir() error { return j.sync(j.dirFile) }

// fdatasync makes the active segment's data durable.
func (j *Journal) fdatasync() error {
	if j.opts.NoSync {
		return nil
	}
	for {
		err := unix.Fdatasync(int(j.active.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// trimLocked removes the oldest segments while the journal exceeds
// MaxBytes, never the active one. The removal is not fsynced: a segment that
// reappears after a power cut is still valid and is removed again.
func (j *Journal) trimLocked() {
	var total int64
	for _, s := range j.segs {
		total += s.size
	}
	for total > j.opts.MaxBytes && len(j.segs) > 1 {
		s := j.segs[0]
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			j.log.Warn("journal: removing the oldest segment failed", "file", s.path, "err", err)
			return
		}
		total -= s.size
		j.segs = j.segs[1:]
		j.stats.RemovedSegments++
	}
}

// checkKind reports whether kind is acceptable.
func checkKind(kind string) error {
	if kind == "" {
		return ErrBadKind
	}
	for _, r := range kind {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: %q", ErrBadKind, kind)
		}
	}
	return nil
}

// Append writes a record and returns it once it is durable (fdatasynced),
// then hands it to subscribers. fields must be JSON-marshallable and must
// not carry secrets. The returned record is the one readers will see (Fields
// decoded back from JSON).
//
// A failed Append may still consume a sequence number, which is then never
// used: the cursor may skip a number, but never repeats one. If the record
// was written but not synced, it may or may not survive a power cut.
func (j *Journal) Append(kind, msg string, fields map[string]any) (Record, error) {
	if err := checkKind(kind); err != nil {
		return Record{}, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return Record{}, ErrClosed
	}
	if j.broken != nil {
		return Record{}, fmt.Errorf("journal: append: reopen the journal: %w", j.broken)
	}
	rec := Record{Seq: j.nextSeq, Time: j.opts.Now().UTC().Round(0), Kind: kind, Msg: msg, Fields: fields}
	js, err := json.Marshal(rec)
	if err != nil {
		return Record{}, fmt.Errorf("journal: append %s: %w", kind, err)
	}
	line := encodeLine(js)
	if len(line) > maxLineBytes {
		return Record{}, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, kind, len(line), maxLineBytes)
	}
	var stored Record
	if err := json.Unmarshal(js, &stored); err != nil {
		return Record{}, fmt.Errorf("journal: append %s: %w", kind, err)
	}

	if cur := j.segs[len(j.segs)-1]; cur.size > 0 && cur.size+int64(len(line)) > j.opts.SegmentBytes {
		if err := j.createSegment(rec.Seq); err != nil {
			return Record{}, fmt.Errorf("journal: append: new segment: %w", err)
		}
	}
	cur := &j.segs[len(j.segs)-1]
	if _, err := j.active.Write(line); err != nil {
		// Part of the line may be in the file: cut it off, so the next
		// record starts on a line of its own.
		j.nextSeq++
		if terr := j.active.Truncate(cur.size); terr != nil {
			j.broken = fmt.Errorf("partial line left in %s: %w", cur.path, terr)
			return Record{}, fmt.Errorf("journal: append: write: %w", errors.Join(err, j.broken))
		}
		return Record{}, fmt.Errorf("journal: append: write %s: %w", cur.path, err)
	}
	cur.size += int64(len(line))
	cur.records++
	cur.maxSeq = rec.Seq
	if cur.minSeq == 0 {
		cur.minSeq = rec.Seq
	}
	j.nextSeq++
	if err := j.fdatasync(); err != nil {
		return Record{}, fmt.Errorf("journal: append: sync %s: %w", cur.path, err)
	}
	j.trimLocked()
	j.recent = append(j.recent, stored)
	if len(j.recent) > recentMax {
		j.recent = slices.Clone(j.recent[len(j.recent)-recentMax:])
	}
	for sub := range j.subs {
		select {
		case sub.ch <- stored:
		default:
			j.stats.SubscriberDrops++
		}
	}
	return stored, nil
}

// snapshot returns a copy of the segment list and their bounds.
func (j *Journal) snapshot() ([]segment, []uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, nil, ErrClosed
	}
	bounds := make([]uint64, len(j.segs))
	for i := range j.segs {
		bounds[i] = j.boundLocked(i)
	}
	return slices.Clone(j.segs), bounds, nil
}

// readSegment calls fn for every valid record of s, up to the size s had
// when the snapshot was taken.
func readSegment(s segment, bound uint64, fn func(Record) error) error {
	f, err := os.Open(s.path)
	if err != nil {
		return err
	}
	_, err = scanSegment(io.LimitReader(f, s.size), s.first, bound, fn)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Since returns the records with Seq > cursor, oldest first, at most limit
// of them (no limit if limit <= 0), and next, the Seq of the last record
// returned (cursor if none). Call it again with next to page on. If the
// records after cursor were removed by MaxBytes, Since starts from the
// oldest record kept.
func (j *Journal) Since(cursor uint64, limit int) (recs []Record, next uint64, err error) {
	segs, bounds, err := j.snapshot()
	if err != nil {
		return nil, cursor, err
	}
	// Start at the last segment whose first is <= cursor+1: the ones
	// before it hold only records <= cursor.
	start := sort.Search(len(segs), func(i int) bool { return segs[i].first > cursor && segs[i].first-1 > cursor })
	start = max(start-1, 0)
	full := false
	for i := start; i < len(segs) && !full; i++ {
		err := readSegment(segs[i], bounds[i], func(r Record) error {
			if r.Seq <= cursor {
				return nil
			}
			recs = append(recs, r)
			if limit > 0 && len(recs) >= limit {
				full = true
				return errStop
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			// Removed by MaxBytes since the snapshot. Skip it only if
			// nothing was returned yet, so the result has no hole.
			if len(recs) > 0 {
				break
			}
			continue
		}
		if err != nil {
			return nil, cursor, fmt.Errorf("journal: since %d: %w", cursor, err)
		}
	}
	next = cursor
	if len(recs) > 0 {
		next = recs[len(recs)-1].Seq
	}
	return recs, next, nil
}

// Last returns the newest n records, oldest first.
func (j *Journal) Last(n int) ([]Record, error) {
	if n <= recentMax {
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.closed {
			return nil, ErrClosed
		}
		if n <= 0 {
			return nil, nil
		}
		return slices.Clone(j.recent[max(len(j.recent)-n, 0):]), nil
	}
	return j.readLast(n)
}

// readLast reads the newest n records from the segment files.
func (j *Journal) readLast(n int) ([]Record, error) {
	segs, bounds, err := j.snapshot()
	if err != nil || n <= 0 {
		return nil, err
	}
	var recs []Record
	for i := len(segs) - 1; i >= 0 && len(recs) < n; i-- {
		var seg []Record
		err := readSegment(segs[i], bounds[i], func(r Record) error {
			seg = append(seg, r)
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			break // removed since the snapshot, and so are all older ones
		}
		if err != nil {
			return nil, fmt.Errorf("journal: last %d: %w", n, err)
		}
		recs = append(seg, recs...)
	}
	if len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	return recs, nil
}

// Range calls fn for every record with from <= Time < to, in Seq order. It
// reads every kept segment, since the clock may have been stepped (a box
// without an RTC boots in the past). It stops at and returns fn's first
// error. fn may call the journal's methods.
func (j *Journal) Range(from, to time.Time, fn func(Record) error) error {
	segs, bounds, err := j.snapshot()
	if err != nil {
		return err
	}
	for i := range segs {
		var fnErr error
		err := readSegment(segs[i], bounds[i], func(r Record) error {
			if r.Time.Before(from) || !r.Time.Before(to) {
				return nil
			}
			if err := fn(r); err != nil {
				fnErr = err
				return errStop
			}
			return nil
		})
		if fnErr != nil {
			return fnErr
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by MaxBytes since the snapshot
		}
		if err != nil {
			return fmt.Errorf("journal: range: %w", err)
		}
	}
	return nil
}

// Subscribe returns a channel that receives every record appended from now
// on, and a function that ends the subscription and closes the channel.
// Delivery never blocks Append: when the channel is full the record is
// dropped for this subscriber and counted in Stats.SubscriberDrops (read the
// gap with Since). Close closes every subscriber's channel. cancel may be
// called more than once.
func (j *Journal) Subscribe() (ch <-chan Record, cancel func()) {
	sub := &subscriber{ch: make(chan Record, j.opts.SubscriberBuffer)}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		close(sub.ch)
		return sub.ch, func() {}
	}
	j.subs[sub] = struct{}{}
	return sub.ch, func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		if _, ok := j.subs[sub]; ok {
			delete(j.subs, sub)
			close(sub.ch)
		}
	}
}

// Stats returns the journal's current state and counters.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.stats
	st.Segments = len(j.segs)
	for _, s := range j.segs {
		st.Bytes += s.size
		st.Records += s.records
		if st.FirstSeq == 0 {
			st.FirstSeq = s.minSeq
		}
		if s.maxSeq != 0 {
			st.LastSeq = s.maxSeq
		}
	}
	return st
}

// Close closes the journal and every subscriber's channel. It may be called
// more than once; later calls return nil.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	for sub := range j.subs {
		close(sub.ch)
		delete(j.subs, sub)
	}
	if err := j.closeFiles(); err != nil {
		return fmt.Errorf("journal: close %s: %w", j.dir, err)
	}
	return nil
}

// closeFiles closes the active segment and the directory (releasing the
// lock).
func (j *Journal) closeFiles() error {
	var errs []error
	if j.active != nil {
		errs = append(errs, j.active.Close())
		j.active = nil
	}
	if j.dirFile != nil {
		errs = append(errs, j.dirFile.Close())
		j.dirFile = nil
	}
	return errors.Join(errs...)
}
