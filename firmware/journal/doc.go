// Package journal is the box's append-only event journal: every event (tunnel
// up or down, endpoint switch, failover, power, self-checks) is one record,
// durable on flash when Append returns, numbered by a sequence that is never
// reused and that the datacenter uses as its cursor ("what happened since N").
//
// # On disk
//
// A directory of segment files named journal-<first seq, 20 digits>.log.
// Each line is one record:
//
//	<crc32c of the JSON, 8 lowercase hex> <JSON>\n
//
// The newest segment is the active one; Append writes the whole line with
// one write and fdatasyncs it. A segment beyond Options.SegmentBytes is
// closed and a new one created (file fsynced, then the directory); when the
// segments together exceed Options.MaxBytes, whole segments are removed,
// oldest first, never the active one.
//
// # Power cuts and bit rot
//
// A power cut loses at most the record being written. Open scans every
// segment: invalid lines (no newline, bad checksum, bad JSON, sequence out of
// order) at the tail of the newest segment are a torn write and are truncated
// away (the file is then fsynced); an invalid line anywhere else is bit rot:
// it is skipped and counted, and reading goes on past it. The counts are in
// Stats. Sequence numbers continue after the highest one seen.
//
// A record is valid when its checksum matches, its JSON decodes, and its
// sequence is at least its segment's first, below the next segment's first,
// and above the previous valid record's in the same segment. Every reader
// applies the same rule, so Open and Since agree on what the journal holds.
//
// # Secrets
//
// Records are kept for months, read by the datacenter and printed by
// shisactl. They must never carry secrets (keys, pre-shared keys, tokens,
// passwords): the caller is responsible for leaving them out of Msg and
// Fields; the journal cannot tell.
package journal
