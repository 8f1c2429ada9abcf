#!/bin/bash
# Build the PV test guest: a kernel Xen's PV loader takes plus a small busybox initrd.
#
#   tests/xen/make-guest.sh OUTDIR      -> OUTDIR/vmlinuz, OUTDIR/initrd.gz
#
# The guest's /init mounts proc, sys and devtmpfs, prints "GUEST-MARKER: ..." on its
# console (hvc0), runs every executable in /etc/guest-init.d/ in order, then powers
# off -- unless the kernel command line holds "guest.hold", in which case it keeps
# running until it is destroyed.  /sbin/poweroff and /sbin/reboot act at once
# (busybox poweroff -f / reboot -f): this /init is no init daemon that a signal could
# ask, and a Linux PV guest answers the toolstack's control/shutdown request by
# running /sbin/poweroff (or /sbin/reboot) from the kernel (orderly_poweroff).
#
# Env knobs:
#   GUEST_KERNEL=path       kernel to boot (default /boot/vmlinuz-$KVER, Debian's)
#   GUEST_KERNEL_FORMAT=elf|bzimage
#                           elf (default): unpack the bzImage to its vmlinux ELF on the
#                           host (unpack-kernel.sh); the domain builder in dom0 runs under
#                           TCG, where unpacking the xz payload costs ~10 s per domain.
#                           bzimage: ship the file as it is.
#   GUEST_FILES="a b:/d ..." host files copied into the initrd at the same path (or at
#                           the path after a colon), with their shared libraries (for
#                           the guest agent and its tools); relative paths are taken
#                           from the repository
#   GUEST_XENSTORE_TOOLS=1  add the stock xenstore-* clients (they talk to /dev/xen/xenbus)
#   GUEST_HOOKS="a b ..."   scripts installed as /etc/guest-init.d/NN-<name>, run by /init
#   GUEST_INIT=path         replace the default /init altogether
set -euo pipefail
OUT=${1:?usage: make-guest.sh OUTDIR}
KVER=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
KERNEL=${GUEST_KERNEL:-/boot/vmlinuz-$KVER}
FORMAT=${GUEST_KERNEL_FORMAT:-elf}
REPO=$(cd "$(dirname "$0")/../.." && pwd)  # relative GUEST_* paths are taken from here
mkdir -p "$OUT"

# ---- kernel ----
if [ "$FORMAT" = elf ]; then
  "$(dirname "$0")/unpack-kernel.sh" "$KERNEL" "$OUT/vmlinuz"
else
  cp -L "$KERNEL" "$OUT/vmlinuz"
fi

# ---- initrd ----
G=$(mktemp -d "${TMPDIR:-/tmp}/xenapid-guest.XXXXXX")
trap 'rm -rf "$G"' EXIT
mkdir -p "$G"/{bin,sbin,proc,sys,dev,tmp,run,etc/guest-init.d,usr/bin,usr/sbin,lib64}
cp /bin/busybox "$G/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$G/bin/$a" ] || ln -s busybox "$G/bin/$a"; done
printf '#!/bin/sh\nexec /bin/busybox poweroff -f\n' > "$G/sbin/poweroff"
printf '#!/bin/sh\nexec /bin/busybox reboot -f\n' > "$G/sbin/reboot"
chmod +x "$G/sbin/poweroff" "$G/sbin/reboot"

copy_with_libs() {  # host files (src or src:dest) and their shared libraries
  local f l d
  for f in "$@"; do
    case "$f" in *:*) d=${f#*:}; f=${f%%:*} ;; *) d=$f ;; esac
    mkdir -p "$G$(dirname "$d")"; cp -L "$f" "$G$d"
    for l in $(ldd "$f" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\// {print $1}'); do
      [ -e "$G$l" ] || { mkdir -p "$G$(dirname "$l")"; cp -L "$l" "$G$l"; }
    done
  done
}
files=${GUEST_FILES:-}
if [ "${GUEST_XENSTORE_TOOLS:-0}" = 1 ]; then
  files="$files /usr/bin/xenstore /usr/bin/xenstore-read /usr/bin/xenstore-write
         /usr/bin/xenstore-exists /usr/bin/xenstore-rm /usr/bin/xenstore-list
         /usr/bin/xenstore-ls /usr/bin/xenstore-watch /usr/bin/xenstore-chmod"
fi
abs_files=""
for f in $files; do case "$f" in /*) abs_files="$abs_files $f" ;; *) abs_files="$abs_files $REPO/$f" ;; esac; done
for f in $abs_files; do
  [ -e "${f%%:*}" ] || { echo "make-guest.sh: no such file: ${f%%:*}" >&2; exit 2; }
done
# shellcheck disable=SC2086
[ -z "${abs_files// /}" ] || copy_with_libs $abs_files

i=10
for h in ${GUEST_HOOKS:-}; do
  case "$h" in /*) ;; *) h="$REPO/$h" ;; esac
  cp "$h" "$G/etc/guest-init.d/$i-$(basename "$h")"; chmod +x "$G/etc/guest-init.d/$i-$(basename "$h")"
  i=$((i + 1))
done

if [ -n "${GUEST_INIT:-}" ]; then
  cp "$GUEST_INIT" "$G/init"
else
  cat > "$G/init" <<'GI'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
echo "GUEST-MARKER: hello from PV domU, kernel $(uname -r), uptime $(cut -d' ' -f1 /proc/uptime)s"
for h in /etc/guest-init.d/*; do [ -x "$h" ] && "$h"; done
if grep -qw guest.hold /proc/cmdline; then
  echo "GUEST-HOLD: staying up until destroyed"
  while :; do sleep 3600; done
fi
poweroff -f
GI
fi
chmod +x "$G/init"
(cd "$G" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.gz"
