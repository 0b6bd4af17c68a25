// Package benchfig records benchmark figures the way every shisa benchmark
// reports them: one JSON file per figure in a directory (bench/out/ by
// default), each holding a name, a unit, the sample count, the p50, p99 and
// maximum of the samples, and the target the figure must meet:
//
//	{"figure":"dc_failover_s","unit":"s","n":20,"p50":1.2,"p99":2.4,"max":2.4,"target":3,"target_op":"<="}
//
// A benchmark builds a [Figure] with [FromSamples] and writes it with
// [Write] into [Dir]; `make bench` then prints every figure in the directory
// as a table (see [Table] and the benchtable command). Numbers are never
// asserted in go test: a figure that misses its target shows ✗ in the table
// and nothing fails.
package benchfig
