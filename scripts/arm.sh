#!/usr/bin/env bash
# arm.sh: run the unit tests of every package as the box runs them, on
# arm64 and on armv7 (GOARCH=arm GOARM=7), under qemu-user-static.
#
# The test binaries are cross-compiled (CGO_ENABLED=0) and run by
# qemu-aarch64-static / qemu-arm-static in -short mode, in which the
# root-only integration tests skip themselves. This is where 32-bit faults
# show up: an unaligned 64-bit atomic panics on armv7 and nowhere else
# (firmware/hygiene's TestUnaligned64BitAtomicPanics proves the stage runs).
# SHISA_QEMU=1 is set for tests that need to know they are emulated (slower).
#
# Run alone:   scripts/arm.sh [arm64|armv7]... [-- go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

arches=()
while [ $# -gt 0 ]; do
	case "$1" in
	arm64 | armv7) arches+=("$1"); shift ;;
	--) shift; break ;;
	*) echo "arm: unknown argument $1 (want arm64, armv7, then -- and go test flags)" >&2; exit 2 ;;
	esac
done
[ ${#arches[@]} -gt 0 ] || arches=(arm64 armv7)
PKGS="${PKGS:-./...}"

for arch in "${arches[@]}"; do
	case "$arch" in
	arm64) qemu=qemu-aarch64-static; env=(GOARCH=arm64) ;;
	armv7) qemu=qemu-arm-static; env=(GOARCH=arm GOARM=7) ;;
	esac
	if ! command -v "$qemu" >/dev/null 2>&1; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "arm: SKIPPED $arch: $qemu not found; install qemu-user-static (sudo apt-get install qemu-user-static) or run sudo make test"
			continue
		fi
		echo "arm: $qemu not found although running as root; scripts/deps.sh should have installed qemu-user-static" >&2
		exit 1
	fi
	echo "arm: $arch: go test -short under $qemu"
	start=$SECONDS
	# shellcheck disable=SC2086 # PKGS is a list of patterns
	env "${env[@]}" GOOS=linux CGO_ENABLED=0 SHISA_QEMU=1 \
		go test -short -count=1 -vet=off -timeout 8m -exec "$qemu" "$@" $PKGS
	echo "arm: $arch passed in $((SECONDS - start))s"
done
