#!/usr/bin/env bash
# bench.sh: measure shisa's figures into bench/out/ and print them.
#
# Each benchmark writes one JSON file per figure (package
# firmware/benchfig) into $SHISA_BENCH_OUT; at the end the whole directory
# is printed as a table by firmware/cmd/benchtable. Figures from an earlier
# run are removed first, so the table shows only what this run measured.
# Numbers are reported, never asserted.
#
# To add a benchmark: a test named TestBench… in firmware/itest that writes
# its figures with benchfig.Write(benchfig.Dir(), …) is picked up below;
# anything else goes in the "more benchmarks" section.
#
# Run alone:   scripts/bench.sh   (as root for the namespace benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"
export SHISA_BENCH_OUT="$PWD/bench/out"
mkdir -p "$SHISA_BENCH_OUT"
rm -f "$SHISA_BENCH_OUT"/*.json
failed=() # benchmarks that failed; the table is printed anyway

# record NAME UNIT VALUE NOTE: one figure from a single measurement, no target.
record() {
	local tmp
	tmp=$(mktemp "$SHISA_BENCH_OUT/.$1.XXXXXX")
	printf '{"figure":"%s","unit":"%s","n":1,"p50":%s,"p99":%s,"max":%s,"target":0,"note":"%s"}\n' \
		"$1" "$2" "$3" "$3" "$3" "$4" >"$tmp"
	chmod 0644 "$tmp"
	mv "$tmp" "$SHISA_BENCH_OUT/$1.json"
}

echo "bench: binary sizes (make cross)"
"$MAKE" --no-print-directory cross
for arch in arm64 armv7; do
	bytes=$(stat -c %s "bin/$arch/shisad")
	mb=$(awk -v b="$bytes" 'BEGIN { printf "%.3f", b / 1000000 }')
	record "binary_${arch}_mb" MB "$mb" "stripped shisad (-s -w, trimpath), 1 MB = 10^6 bytes"
done

if [ -d firmware/itest ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: not root: the namespace benchmarks in firmware/itest will skip; run sudo make bench"
	fi
	echo "bench: go test -run '^TestBench' ./firmware/itest/..."
	if ! go test -run '^TestBench' -count=1 -v -timeout 60m ./firmware/itest/...; then
		failed+=("go test -run '^TestBench' ./firmware/itest/...")
	fi
else
	echo "bench: no firmware/itest yet; only binary sizes measured"
fi

# --- more benchmarks: add them here, each writing into $SHISA_BENCH_OUT ---

echo
go run ./firmware/cmd/benchtable "$SHISA_BENCH_OUT"
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: FAILED: ${failed[*]}; the table shows only the figures written before the failure" >&2
	exit 1
fi
