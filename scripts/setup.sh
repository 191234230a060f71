#!/bin/sh
# `npm run setup`: installs what the real-kernel tests and the benchmarks need on Debian, as root, then
# prepares the test guest kernel (scripts/guest-setup.sh). Packages already installed are left alone; a
# second run with everything in place needs no network.
#
# Kernel tools for the userspace/iptables/ipvs modes and the lab; qemu + busybox for the ipvs guest
# kernel; curl and netcat for the tests' probes; haproxy, wrk, iperf3 for the benchmarks; kubectl
# (kubernetes-client) as the real client of the fake API server (src/e2e/kubectl_apiserver_test.ts). Each
# program the tests check for is mapped to one of these packages in src/lab/kernel_tools.ts.
#
# Usage: npm run setup   (or: sh scripts/setup.sh)
set -eu

packages="iptables nftables ipset conntrack iproute2 ipvsadm procps kmod
qemu-system-x86 busybox-static cpio xz-utils zstd
curl netcat-openbsd haproxy wrk iperf3 kubernetes-client"

log() { echo "setup: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "error: run as root: it installs Debian packages with apt-get (sudo npm run setup)"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  log "error: apt-get not found: this script installs Debian packages"
  exit 1
}

missing=""
for p in $packages; do
  # A kubectl from elsewhere (Google's `kubectl` package, a download) owns /usr/bin/kubectl: installing
  # kubernetes-client over it would fail, and any kubectl serves the test.
  if [ "$p" = kubernetes-client ] && command -v kubectl >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  log "every package is installed"
fi

log "preparing the test guest kernel (scripts/guest-setup.sh)"
sh "$(dirname "$0")/guest-setup.sh"
log "done: npm test runs every kernel test"
