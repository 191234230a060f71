#!/bin/sh
# Builds (once) the test guest that runs kproxy's kernel tests in a kernel with IPVS, ipset, dummy and
# veth: Debian's linux-image-*-amd64, uncompressed for a fast boot under `qemu -accel tcg`, its module
# tree, and a busybox initramfs whose /init is scripts/guest-init.sh.
#
# Cache: .cache/guest/<kernel version>/{vmlinux,initramfs.cpio,root/lib/modules/<version>/,READY}, and
# .cache/guest/current naming the version in use. A complete cache is reused without any network access.
#
# Needs root and apt on Debian (installs what is missing): qemu-system-x86 busybox-static ipvsadm ipset
# iproute2 iptables xz-utils.
#
# Usage: scripts/guest-setup.sh [--print-dir]
#   KPROXY_GUEST_KERNEL_PKG=linux-image-6.1.0-56-amd64 picks a kernel package instead of the current one.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cache="$repo/.cache/guest"
packages="qemu-system-x86 busybox-static ipvsadm ipset iproute2 iptables xz-utils"
# The modules the init needs before the host root is mounted (their dependencies come along).
boot_modules="virtio_pci 9pnet_virtio 9p overlay"

log() { echo "guest-setup: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

ensure_packages() {
  missing=""
  for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages (run as root to install):$missing"
  log "installing:$missing"
  apt_updated=1
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
}

# The versioned package that linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64.
kernel_package() {
  if [ -n "${KPROXY_GUEST_KERNEL_PKG:-}" ]; then
    echo "$KPROXY_GUEST_KERNEL_PKG"
    return
  fi
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
  if [ -z "$pkg" ] && [ -z "${apt_updated:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
    apt_updated=1
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
  fi
  echo "$pkg"
}

# Writes the uncompressed ELF kernel inside a bzImage (xz-compressed in Debian's builds). Booting it
# through its PVH entry skips the in-guest decompression, seconds under TCG.
extract_vmlinux() {
  offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1)
  [ -n "$offset" ] || die "no xz stream in $1"
  # xz stops with an error at the bzImage's trailing data after the stream: the output is complete.
  tail -c "+$((offset + 1))" "$1" | xz -dc >"$2" 2>/dev/null || true
  head -c 4 "$2" | grep -q 'ELF' || die "could not extract vmlinux from $1"
}

# Copies the boot modules and their dependencies (from modules.dep) into an initramfs tree.
copy_boot_modules() {
  src=$1
  dst=$2
  todo=$boot_modules
  done_list=" "
  while [ -n "$todo" ]; do
    set -- $todo
    name=$1
    shift
    todo="$*"
    line=$(grep -E "(^|/)$(echo "$name" | sed 's/[-_]/[-_]/g')\.ko(\.[a-z]+)?:" "$src/modules.dep" | head -n 1)
    [ -n "$line" ] || die "module $name not in $src/modules.dep"
    for rel in ${line%%:*} ${line#*:}; do
      case "$done_list" in *" $rel "*) continue ;; esac
      done_list="$done_list$rel "
      mkdir -p "$dst/$(dirname "$rel")"
      cp "$src/$rel" "$dst/$rel"
    done
  done
}

# The module indexes: busybox's depmod writes the text files its modprobe reads (the guest kernel's
# request_module runs busybox modprobe); kmod's modprobe, in the chroot when the host has kmod, needs the
# binary indexes only kmod's depmod writes.
index_modules() {
  busybox depmod -b "$1" "$2"
  if [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ]; then
    PATH="/usr/sbin:/sbin:$PATH" depmod -b "$1" "$2"
  fi
}

build_kernel() {
  pkg=$1
  ver=${pkg#linux-image-}
  dir="$cache/$ver"
  [ -f "$dir/READY" ] && return 0
  log "building the guest for kernel $ver in $dir"
  rm -rf "$dir"
  work=$(mktemp -d "$cache/.build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # apt downloads as its _apt user when it can write there (otherwise it warns and downloads as root).
  chown _apt "$work" 2>/dev/null || true
  (cd "$work" && apt-get download "$pkg" >&2) || die "cannot download $pkg"
  dpkg-deb -x "$work"/"$pkg"_*.deb "$work/deb"
  mkdir -p "$work/out/root/lib/modules"
  extract_vmlinux "$work/deb/boot/vmlinuz-$ver" "$work/out/vmlinux"
  mv "$work/deb/lib/modules/$ver" "$work/out/root/lib/modules/$ver"
  index_modules "$work/out/root" "$ver"
  echo "$pkg" >"$work/out/READY"
  mv "$work/out" "$dir"
  rm -rf "$work"
  trap - EXIT
}

# The initramfs holds busybox, the init script and the boot modules; rebuilt when the init changes.
build_initramfs() {
  ver=$1
  dir="$cache/$ver"
  out="$dir/initramfs.cpio"
  [ -f "$out" ] && [ ! "$repo/scripts/guest-init.sh" -nt "$out" ] && return 0
  ird=$(mktemp -d "$cache/.initramfs.XXXXXX")
  trap 'rm -rf "$ird"' EXIT
  mkdir -p "$ird/bin" "$ird/sbin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/lib/modules/$ver"
  cp "$(command -v busybox)" "$ird/bin/busybox"
  for applet in $(busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ird/bin/$applet"
  done
  ln -sf ../bin/busybox "$ird/sbin/modprobe"
  cp "$repo/scripts/guest-init.sh" "$ird/init"
  chmod 0755 "$ird/init"
  copy_boot_modules "$dir/root/lib/modules/$ver" "$ird/lib/modules/$ver"
  busybox depmod -b "$ird" "$ver"
  (cd "$ird" && find . | busybox cpio -o -H newc >"$out.tmp" 2>/dev/null)
  mv "$out.tmp" "$out"
  rm -rf "$ird"
  trap - EXIT
}

main() {
  mkdir -p "$cache"
  # Test files run in parallel and may all ask for the guest at once: one builder at a time.
  exec 9>"$cache/.lock"
  flock 9
  ensure_packages
  ver=""
  [ -f "$cache/current" ] && ver=$(cat "$cache/current")
  if [ -n "${KPROXY_GUEST_KERNEL_PKG:-}" ] || [ -z "$ver" ] || [ ! -f "$cache/$ver/READY" ]; then
    pkg=$(kernel_package)
    if [ -z "$pkg" ]; then
      # No apt index to ask (offline): any complete cache will do.
      for ready in "$cache"/*/READY; do
        [ -f "$ready" ] && pkg=$(cat "$ready") && break
      done
    fi
    [ -n "$pkg" ] || die "cannot tell which linux-image-*-amd64 package to use"
    build_kernel "$pkg"
    ver=${pkg#linux-image-}
    echo "$ver" >"$cache/current"
  fi
  if [ ! -f "$cache/$ver/root/lib/modules/$ver/modules.dep.bin" ] && { [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ]; }; then
    index_modules "$cache/$ver/root" "$ver"
  fi
  build_initramfs "$ver"
  if [ "${1:-}" = --print-dir ]; then echo "$cache/$ver"; fi
}

main "$@"
