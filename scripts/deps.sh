#!/bin/sh
# Install the Debian packages a target needs, only those missing.
# Usage: scripts/deps.sh build|test|xen|bench|fuzz ...   (needs root to install)
set -eu

build="build-essential pkg-config libxmlrpc-core-c3-dev libmicrohttpd-dev libgnutls28-dev libxml2-dev libsqlite3-dev
       libxen-dev libpam0g-dev libcrypt-dev check"
# test: the stock clients and tools the integration suite talks to the daemon with
test="python3 python3-os-xenapi xenstore-utils curl procps"
# xen: the real hypervisor under QEMU (tests/xen); seabios: the BIOS hvmloader gets;
# qemu-system-xen: the HVM device model (/usr/libexec/xen-qemu-system-i386) put in dom0
xen="xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils linux-image-amd64
     qemu-system-x86 qemu-system-xen seabios busybox-static cpio bc"
# bench: libvirtd (its test driver) and libvirt-dev are the lifecycle baseline
bench="wrk valgrind python3 python3-os-xenapi libvirt-daemon libvirt-dev"
# fuzz: libFuzzer with clang, and its sanitizer runtimes
fuzz="clang libclang-rt-14-dev"

want=""
for target in "$@"; do
  case "$target" in
    build) want="$want $build" ;;
    test)  want="$want $build $test" ;;
    xen)   want="$want $build $xen" ;;
    bench) want="$want $build $bench" ;;
    fuzz)  want="$want $build $fuzz" ;;
    *) echo "deps.sh: unknown target '$target' (build|test|xen|bench|fuzz)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  # dpkg-query reports "install ok installed" only for fully installed packages
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing Debian packages:$missing" >&2
  echo "deps.sh: run as root (or: sudo apt-get install$missing)" >&2
  exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null 2>&1 || apt-get update
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
