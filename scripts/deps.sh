#!/usr/bin/env bash
# deps.sh: make sure the Debian packages the tests need are installed.
#
# As root (CI), installs the missing ones with apt-get, non-interactively,
# running `apt-get update` only when something is missing. Not as root, says
# which root-only tests will be skipped and how to run them. A no-op that
# takes a fraction of a second when everything is present.
#
# Run alone:   sudo scripts/deps.sh     (or as part of `make test`)
set -euo pipefail

# The one list. Later issues append here (nut-server, prometheus, …).
#   qemu-user-static  run the arm64/armv7 test binaries (ARM stage of make test)
#   iproute2          ip netns, for the namespace rig's debugging and setup
#   nftables          MSS clamping and firewall rules in integration tests
#   iputils-ping      ping between namespaces in integration tests
#   procps            sysctl, ps (RSS of shisad in make bench)
#   gcc libc6-dev     cgo, which `go test -race` needs
#   systemd           systemd-analyze verify/security of the unit file
#   nut-server nut-client  a real upsd with the dummy-ups driver (hal/nut)
#   prometheus        a real Prometheus and promtool (deploy/prometheus, itest)
PACKAGES="qemu-user-static iproute2 nftables iputils-ping procps gcc libc6-dev systemd nut-server nut-client prometheus"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian system (no dpkg-query); make sure these are installed: $PACKAGES"
	exit 0
fi

missing=()
for p in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$p")
	fi
done

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: not root: root-only integration tests (network namespaces, TUN, nftables) will be skipped; run them with: sudo make test"
	if [ ${#missing[@]} -gt 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]} (install: sudo apt-get install ${missing[*]})"
	fi
	exit 0
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all test packages present ($PACKAGES)"
	exit 0
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if ! apt-get "${apt_opts[@]}" update </dev/null; then
	echo "deps: apt-get update failed; check the network and /etc/apt/sources.list" >&2
	exit 1
fi
# Packages such as nut-server and prometheus start their daemons from
# their postinst; the tests start their own, in namespaces. A temporary
# policy-rc.d (Debian's mechanism for this) keeps the installs from
# starting any service; one that was already there is left alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
if ! apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" </dev/null; then
	echo "deps: apt-get install ${missing[*]} failed; see the apt output above" >&2
	exit 1
fi
echo "deps: installed ${missing[*]}"
