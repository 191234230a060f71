#!/bin/sh
# PID 1 of the kproxy test guest (see scripts/guest-setup.sh and src/lab/guest/).
#
# Mounts the host's / (9p, read-only) under a tmpfs overlay, loads modules from the cached module tree
# of this kernel, runs /out/cmd (written by the host) chrooted into the overlay, stores its stdout,
# stderr and exit code in the writable 9p share `kptout`, then resets the machine (qemu runs with
# -no-reboot, so a reset ends it).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
  echo "KPT-GUEST-FAIL: $*" >/dev/console
  reboot -f
}

param() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "$1="*) echo "${word#*=}" ;; esac
  done
}

ver=$(uname -r)
modules=$(param kpt.modules)
[ -n "$modules" ] || fail "no kpt.modules= on the kernel command line"

modprobe -a virtio_pci 9pnet_virtio 9p overlay || fail "cannot load the boot modules"
mkdir -p /host /out /rw /newroot
o9p=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$o9p,ro,cache=loose" hostroot /host || fail "cannot mount the host root"
mount -t 9p -o "$o9p" kptout /out || fail "cannot mount the output share"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay"

# The full module tree replaces the boot subset, both here (the kernel's request_module runs
# /sbin/modprobe in this root) and in the chroot (for the command's own modprobe).
[ -d "/host$modules" ] || fail "no module tree at $modules"
mount --bind "/host$modules" "/lib/modules/$ver"
mkdir -p "/newroot/lib/modules/$ver"
mount --bind "/lib/modules/$ver" "/newroot/lib/modules/$ver"
# Hosts without kmod: busybox named modprobe is a modprobe.
[ -x /newroot/sbin/modprobe ] || cp /bin/busybox /newroot/sbin/modprobe

mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
# /tmp stays the overlay of the host's /tmp (writable through the tmpfs upper layer): a checkout under
# /tmp (as CI's clone may be) must stay visible in the guest.
mkdir -p /newroot/run/kpt-guest
mount --bind /out /newroot/run/kpt-guest
ip link set lo up
hostname kpt-guest

env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LC_ALL=C \
  chroot /newroot /bin/sh /run/kpt-guest/cmd </dev/null >/out/stdout 2>/out/stderr
echo "$?" >/out/rc
umount /newroot/run/kpt-guest
sync
umount /out
reboot -f
