// Package atomicfile replaces a file's contents so that a power cut at any
// instant leaves either the whole old file or the whole new one, never a
// mix or an empty file.
//
// WriteFile writes a temporary file beside the target (same directory, so
// the same filesystem), fsyncs it, renames it over the target and fsyncs the
// directory so the rename itself is durable. Until the rename the target is
// untouched; after the directory fsync the new contents survive a power cut.
package atomicfile
