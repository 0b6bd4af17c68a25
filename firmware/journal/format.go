package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// castagnoli is the CRC-32C table; CRC-32C has hardware support on arm64
// and amd64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxLineBytes bounds one encoded record. A record is one human sentence and
// a few fields; anything larger is a caller's mistake.
const maxLineBytes = 64 << 10

// segmentName returns the file name of the segment whose first record has
// sequence first.
func segmentName(first uint64) string {
	return fmt.Sprintf("journal-%020d.log", first)
}

// parseSegmentName returns the first sequence of a segment file name, or
// false if name is not exactly journal-<20 digits>.log.
func parseSegmentName(name string) (uint64, bool) {
	const prefix, suffix, digits = "journal-", ".log", 20
	if len(name) != len(prefix)+digits+len(suffix) || name[:len(prefix)] != prefix || name[len(name)-len(suffix):] != suffix {
		return 0, false
	}
	num := name[len(prefix) : len(prefix)+digits]
	for i := range len(num) {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
	}
	first, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, false // more than MaxUint64
	}
	return first, true
}

// encodeLine returns the line for the record's JSON: checksum, space, JSON,
// newline.
func encodeLine(js []byte) []byte {
	line := make([]byte, 0, 8+1+len(js)+1)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(js, castagnoli))
	line = append(line, js...)
	return append(line, '\n')
}

// parseLine decodes one line, without its newline. It reports false unless
// the checksum is 8 lowercase hex digits matching the JSON and the JSON
// decodes to a record with a non-zero sequence.
func parseLine(line []byte) (Record, bool) {
	if len(line) < 8+1+2 || line[8] != ' ' {
		return Record{}, false
	}
	var sum uint32
	for _, c := range line[:8] {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return Record{}, false
		}
		sum = sum<<4 | uint32(v)
	}
	js := line[9:]
	if crc32.Checksum(js, castagnoli) != sum {
		return Record{}, false
	}
	var rec Record
	if err := json.Unmarshal(js, &rec); err != nil || rec.Seq == 0 {
		return Record{}, false
	}
	return rec, true
}

// scanResult describes one pass over a segment.
type scanResult struct {
	size        int64  // bytes read
	end         int64  // offset just after the last valid line
	valid       int    // valid records
	invalid     int    // invalid lines (a last line without newline counts)
	invalidTail int    // invalid lines after the last valid one
	first, last uint64 // sequences of the first and last valid records; 0 if none
}

// errStop is returned by a scan callback to end the scan early.
var errStop = errors.New("stop")

// scanSegment reads the lines of a segment whose file name says first, and
// calls fn for every valid record, in order. A record is valid when its line
// parses (see parseLine) and first <= Seq < bound and Seq is above the
// previous valid record's. If fn returns errStop the scan ends without error
// (and the result covers only what was read); any other error is returned.
func scanSegment(r io.Reader, first, bound uint64, fn func(Record) error) (scanResult, error) {
	var res scanResult
	br := bufio.NewReaderSize(r, 32<<10)
	var prev uint64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			res.size += int64(len(line))
			rec, ok := Record{}, false
			if line[len(line)-1] == '\n' {
				rec, ok = parseLine(line[:len(line)-1])
			}
			if ok && rec.Seq >= first && rec.Seq < bound && rec.Seq > prev {
				prev = rec.Seq
				res.end = res.size
				res.valid++
				res.invalidTail = 0
				if res.first == 0 {
					res.first = rec.Seq
				}
				res.last = rec.Seq
				if fn != nil {
					if ferr := fn(rec); ferr != nil {
						if errors.Is(ferr, errStop) {
							return res, nil
						}
						return res, ferr
					}
				}
			} else {
				res.invalid++
				res.invalidTail++
			}
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
	}
}
