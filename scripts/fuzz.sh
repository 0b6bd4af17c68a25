#!/usr/bin/env bash
# fuzz.sh: run every fuzz target in the repository briefly.
#
# Finds each `func FuzzXxx(f *testing.F)` in a _test.go file (outside
# testdata and hidden directories) and runs it alone for FUZZTIME with
# `go test -run '^$' -fuzz '^FuzzXxx$'`. A failing input is saved by go
# test under the package's testdata/fuzz/FuzzXxx/; commit it, it becomes a
# regression test. Zero targets is fine.
#
# FUZZTIME defaults to a count of executions (25000x), not a duration: Go's
# fuzz coordinator up to 1.26 has a race at the end of a duration budget
# (go.dev/issue/75804) that fails a target with a bare "context deadline
# exceeded" and no failing input, most often on a busy CI machine. A count
# has no deadline to race. 25000 runs take 1-15 s per target here.
#
# Run alone:   FUZZTIME=2000x scripts/fuzz.sh   (or a duration: FUZZTIME=30s)
set -euo pipefail
# Fuzz targets that touch files (the journal's) run 30x faster on tmpfs.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	export TMPDIR=/dev/shm
fi
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-25000x}"

# "dir<TAB>Name" for each target, sorted, from grep's "path:line" output.
targets=$(grep -rE --include='*_test.go' --exclude-dir=testdata --exclude-dir='.?*' \
	'^func Fuzz[A-Za-z0-9_]*\(' . 2>/dev/null |
	sed -E 's#^\./##; s#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1\t\2#; s#^[^/\t]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#.\t\1#' |
	sort -u || true)

if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found"
	exit 0
fi

count=$(printf '%s\n' "$targets" | wc -l)
echo "fuzz: $count target(s), $FUZZTIME each"
failed=()
while IFS=$'\t' read -r dir name; do
	echo "fuzz: $name in ./$dir"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir"; then
		failed+=("./$dir $name")
	fi
done <<<"$targets"

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]} (the failing input is saved under the package's testdata/fuzz/; rerun it with go test -run '<Name>/<file>' ./<pkg>)" >&2
	exit 1
fi
echo "fuzz: $count target(s) passed"
