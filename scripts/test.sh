#!/usr/bin/env bash
# test.sh: the stages of `make test`, in order, each announced with a
# banner and timed, stopping at the first failure. Each stage is a make
# target (see `make help`), so one stage can be rerun alone.
#
#   1. deps   Debian packages the tests need (scripts/deps.sh)
#   2. vet    go vet ./... and the gofmt check
#   3. unit   go test -race ./... (unit and, as root, integration tests)
#   4. fuzz   every fuzz target for FUZZTIME (scripts/fuzz.sh)
#   5. arm    go test -short ./... on arm64 and armv7 under qemu (scripts/arm.sh)
#
# The last lines are the go test results of stage 3 and one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
MAKE="${MAKE:-make}"

stages=(deps vet unit fuzz arm)
declare -A target=([deps]=deps [vet]=vet [unit]=test-unit [fuzz]=fuzz [arm]=test-arm)
declare -A title=(
	[deps]="Debian packages the tests need"
	[vet]="go vet and gofmt"
	[unit]="unit and integration tests (go test -race)"
	[fuzz]="fuzz targets, ${FUZZTIME:-25000x} each"
	[arm]="unit tests on arm64 and armv7 under qemu-user-static"
)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# results prints the per-package lines of go test from a stage's log.
results() {
	grep -E '^(ok|FAIL|---|panic:)[[:space:]]' "$logs/$1.log" || true
}

total_start=$SECONDS
passed=()
timings=()
n=${#stages[@]}
i=0
for s in "${stages[@]}"; do
	i=$((i + 1))
	echo
	echo "==> make test: stage $i/$n: $s: ${title[$s]}"
	start=$SECONDS
	"$MAKE" --no-print-directory "${target[$s]}" 2>&1 | tee "$logs/$s.log"
	rc=${PIPESTATUS[0]}
	took=$((SECONDS - start))
	if [ "$rc" -ne 0 ]; then
		echo
		echo "==> make test: stage $i/$n ($s) FAILED after $(dur $took) (exit $rc); rerun it alone with: make ${target[$s]}"
		fails=$(grep -E '^(--- FAIL|FAIL|panic:|fuzz: FAILED|deps: |arm: |gofmt: |\./.*\.go$)' "$logs/$s.log" || true)
		if [ -n "$fails" ]; then
			echo "==> failures:"
			echo "$fails"
		fi
		echo "make test: FAIL at stage $i/$n ($s); passed: ${passed[*]:-none} in $(dur $((SECONDS - total_start)))"
		exit 1
	fi
	passed+=("$s")
	timings+=("$s $(dur $took)")
	echo "==> stage $s passed in $(dur $took)"
done

echo
echo "==> go test results (stage unit, $(go env GOARCH), -race):"
results unit
notes=$(grep -h -E '^(deps: not root|arm: SKIPPED)' "$logs"/*.log || true)
if [ -n "$notes" ]; then
	echo "==> skipped:"
	echo "$notes"
fi
summary=$(printf '%s, ' "${timings[@]}")
echo "make test: PASS: ${#passed[@]}/$n stages passed in $(dur $((SECONDS - total_start))) (${summary%, })"
