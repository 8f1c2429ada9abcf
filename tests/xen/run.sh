#!/bin/bash
# Run a test on the real hypervisor: boot Debian's Xen 4.17 under QEMU (TCG) with a
# Linux PV dom0, start the stock xenstored, xen-init-dom0 and xenconsoled there, run a
# test script in dom0, power off.  Prints the timing of each step; exits 0 iff the
# test script exited 0.
#
#   tests/xen/run.sh                 the smoke test of the xc backend (test-smoke.sh)
#   make test-xen                    the smoke test, then the daemon's test (test-daemon.sh)
#
# Env knobs (paths may be relative to the repository):
#   TEST_SCRIPT="a b ..." sh scripts run in dom0 in this order, each as /tests/<name>
#                         from /tmp, whatever the others did; the run passes iff every
#                         one exits 0 (default tests/xen/test-smoke.sh)
#   BINS="a b ..."        project programs, copied into dom0's /usr/local/bin (on PATH)
#                         with their shared libraries (default: build/rel/tests/xen/xc_smoke,
#                         brought up to date with make)
#   EXTRA_FILES="a b ..." other host files, copied into dom0 at the same path (+ libraries)
#   FILES="src:dest ..."  host files copied into dom0 at the path dest (no libraries)
#   GUEST=1|0             put the PV test guest in dom0 at /guest/{vmlinuz,initrd.gz}
#                         (built by make-guest.sh; its GUEST_* knobs apply; defaults here:
#                         GUEST_XENSTORE_TOOLS=1, GUEST_FILES: the guest agent as
#                         /usr/sbin/xenapid-guest-agent, GUEST_HOOKS: guest-xs-probe.sh,
#                         guest-agent.sh, which runs the agent once, and guest-counter.sh,
#                         the counter that shows a resume is no reboot)
#   HVM=0|1               put the device model (Debian's qemu-system-xen, with its ROMs
#                         and SeaBIOS's VGA BIOS) in dom0, and the HVM test guest at
#                         /guest-hvm/{vmlinuz,initrd.gz}: Debian's kernel as it is (the
#                         device model boots it) and hvm-guest-init.sh as its /init
#   TIMEOUT=240           seconds for the whole QEMU run
#   WORK=dir              work dir (default ${TMPDIR:-/tmp}/xenapid-xen-test): rootfs,
#                         initramfs, console.log (absolute times), console.rel.log
#   DOM0_MEM=1024M MEM=3G SMP=2  memory of dom0, of the emulated machine, its CPUs
#   KVER=...              kernel version for dom0 and the guest (default: newest installed)
#   QEMU_CPU=...          the emulated CPU (default max,-smap; see the boot section)
#   XEN_EXTRA="..."       more options on Xen's command line
#
# Host packages: scripts/deps.sh xen.  Markers in the console log: XEN-HARNESS (this
# harness), STEP/TIMING/TEST-*/SMOKE-* (test scripts), GUEST-* (guest console lines that
# tests echo; the guest console itself is in dom0 at /var/log/xen/console/guest-NAME.log).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
abspath() { case "$1" in /*) echo "$1" ;; *) echo "$REPO/$1" ;; esac; }

WORK=${WORK:-${TMPDIR:-/tmp}/xenapid-xen-test}
TIMEOUT=${TIMEOUT:-240}; DOM0_MEM=${DOM0_MEM:-1024M}; MEM=${MEM:-3G}; SMP=${SMP:-2}
GUEST=${GUEST:-1}; HVM=${HVM:-0}
DM=/usr/libexec/xen-qemu-system-i386
KVER=${KVER:-$(ls /lib/modules | sort -V | tail -1)}
XB=/usr/lib/xen-4.17/bin
TEST_SCRIPTS=""
for t in ${TEST_SCRIPT:-tests/xen/test-smoke.sh}; do TEST_SCRIPTS="$TEST_SCRIPTS $(abspath "$t")"; done
if [ -z "${BINS+set}" ]; then
  BINS=build/rel/tests/xen/xc_smoke
  make -C "$REPO" --no-print-directory "$BINS" >&2
fi

for f in /boot/xen-4.17-amd64.gz "/boot/vmlinuz-$KVER" "$XB/xenstored" /usr/bin/qemu-system-x86_64 \
         /bin/busybox /usr/lib/xen-4.17/boot/hvmloader /usr/share/seabios/bios-256k.bin $TEST_SCRIPTS \
         $([ "$HVM" = 1 ] && echo $DM /usr/share/qemu/linuxboot_dma.bin); do
  [ -e "$f" ] || { echo "run.sh: missing $f (scripts/deps.sh xen installs the packages)" >&2; exit 2; }
done

t_start=$(date +%s.%N)
mkdir -p "$WORK"; cd "$WORK"

# QEMU's multiboot loader takes the hypervisor as an uncompressed ELF.  dom0's kernel
# goes in unpacked too: Xen's dom0 builder spends ~9 s on the xz payload under TCG.
[ -s xen.elf ] && [ xen.elf -nt /boot/xen-4.17-amd64.gz ] || zcat /boot/xen-4.17-amd64.gz > xen.elf
[ -s dom0-vmlinux ] && [ dom0-vmlinux -nt "/boot/vmlinuz-$KVER" ] \
  || "$REPO/tests/xen/unpack-kernel.sh" "/boot/vmlinuz-$KVER" dom0-vmlinux

# ---------- dom0's initramfs ----------
R=$WORK/rootfs; rm -rf "$R"
mkdir -p "$R"/{bin,sbin,etc/xen,proc,sys,dev,tmp,run,lib/modules,lib64,usr/bin,usr/sbin,usr/local/bin} \
         "$R"/var/{log/xen/console,lib/xen,lib/xenstored}
ln -s ../run "$R/var/run"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"; done

copy_libs() {  # the shared libraries of $1 into the rootfs, same paths
  local l
  for l in $(ldd "$1" 2>/dev/null | awk '/=>/ && $3 ~ /^\// {print $3} /^\t\// {print $1}'); do
    [ -e "$R$l" ] || { mkdir -p "$R$(dirname "$l")"; cp -L "$l" "$R$l"; }
  done
}
copy_same_path() { local f; for f in "$@"; do mkdir -p "$R$(dirname "$f")"; cp -L "$f" "$R$f"; copy_libs "$f"; done; }

# The stock Xen tools: xenstored and xenconsoled are the services the daemon relies on;
# xl and the xenstore clients are there for tests to cross-check what the daemon did.
copy_same_path $XB/xenstored $XB/xen-init-dom0 $XB/xenconsoled $XB/xenconsole $XB/xl \
  $XB/xenstore-control /usr/bin/xenstore /usr/bin/xenstore-ls /usr/bin/xenstore-read \
  /usr/bin/xenstore-write /usr/bin/xenstore-list /usr/bin/xenstore-rm /usr/bin/xenstore-exists \
  /usr/bin/xenstore-chmod /usr/bin/xenstore-watch /lib/x86_64-linux-gnu/libgcc_s.so.1
# The firmware of an HVM guest, where the xc backend looks for it first: hvmloader and
# the SeaBIOS image it is handed.
for f in /usr/lib/xen-4.17/boot/hvmloader /usr/share/seabios/bios-256k.bin; do
  mkdir -p "$R$(dirname "$f")"; cp -L "$f" "$R$f"
done
if [ "$HVM" = 1 ]; then
  # The device model where hv.c starts it, with what it loads at run time: the
  # option ROMs of direct kernel boot, the VGA BIOS (SeaBIOS's), the keymaps of its
  # VNC server.
  copy_same_path $DM
  mkdir -p "$R/usr/share/qemu" "$R/usr/share/seabios"
  cp -a /usr/share/seabios/. "$R/usr/share/seabios/"
  for f in linuxboot.bin linuxboot_dma.bin kvmvapic.bin; do cp -L /usr/share/qemu/$f "$R/usr/share/qemu/"; done
  cp -aL /usr/share/qemu/keymaps "$R/usr/share/qemu/"
fi
cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
for b in $XB/*; do [ -e "$R$b" ] && ln -sf "$b" "$R/usr/sbin/$(basename "$b")"; done  # not Debian's wrapper
cp -a /etc/xen/xl.conf "$R/etc/xen/"
for f in ${EXTRA_FILES:-}; do copy_same_path "$(abspath "$f")"; done
for f in ${BINS:-}; do
  f=$(abspath "$f")
  [ -x "$f" ] || { echo "run.sh: $f is not an executable (build it first)" >&2; exit 2; }
  cp -L "$f" "$R/usr/local/bin/"; copy_libs "$f"
done
for m in xenfs/xenfs xen-privcmd xen-evtchn xen-gntdev xen-gntalloc; do
  cp "/lib/modules/$KVER/kernel/drivers/xen/$m.ko" "$R/lib/modules/"
done
if [ "$GUEST" = 1 ]; then
  # By default the guest carries the xenstore clients, a probe of what it may write and
  # the project's guest agent.
  GUEST_XENSTORE_TOOLS=${GUEST_XENSTORE_TOOLS:-1} \
    GUEST_FILES=${GUEST_FILES-scripts/xenapid-guest-agent:/usr/sbin/xenapid-guest-agent} \
    GUEST_HOOKS=${GUEST_HOOKS-tests/xen/guest-xs-probe.sh tests/xen/guest-agent.sh tests/xen/guest-counter.sh} \
    KVER=$KVER "$REPO/tests/xen/make-guest.sh" "$R/guest"
fi
if [ "$HVM" = 1 ]; then
  GUEST_XENSTORE_TOOLS=1 GUEST_FILES= GUEST_HOOKS= GUEST_KERNEL_FORMAT=bzimage \
    GUEST_INIT="$REPO/tests/xen/hvm-guest-init.sh" KVER=$KVER "$REPO/tests/xen/make-guest.sh" "$R/guest-hvm"
fi
for f in ${FILES:-}; do
  src=$(abspath "${f%%:*}"); dest=${f#*:}
  [ -e "$src" ] && [ "${dest#/}" != "$dest" ] || { echo "run.sh: FILES entry $f: want an existing src:/dest" >&2; exit 2; }
  mkdir -p "$R$(dirname "$dest")"; cp -L "$src" "$R$dest"
done
mkdir -p "$R/tests"
names=""
for t in $TEST_SCRIPTS; do cp "$t" "$R/tests/$(basename "$t")"; names="$names $(basename "$t")"; done
# Each test script runs from /tmp in its own sh; one failing does not stop the next.
{ echo '#!/bin/sh'; echo 'rc=0'
  for n in $names; do
    echo "echo \"XEN-HARNESS: running $n, dom0 uptime \$(cut -d' ' -f1 /proc/uptime)s\""
    echo "(cd /tmp && sh /tests/$n); r=\$?"
    echo "echo \"XEN-HARNESS-TEST $n rc=\$r\"; [ \$r = 0 ] || rc=1"
  done
  echo 'exit $rc'; } > "$R/test.sh"

cat > "$R/init" <<'INIT'
#!/bin/sh
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /var/log/xen/console
hostname xen-dom0
ifconfig lo 127.0.0.1 up  # the device model's VNC server listens on loopback
echo "XEN-HARNESS: dom0 shell reached, dom0 uptime $(cut -d' ' -f1 /proc/uptime)s"
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do insmod /lib/modules/$m.ko; done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xenstored.pid
i=0; until xenstore-exists /local 2>/dev/null; do i=$((i+1)); [ $i -lt 50 ] || break; sleep 0.1; done
xen-init-dom0 >/dev/null
xenconsoled --log=guest --log-dir=/var/log/xen/console --pid-file=/run/xenconsoled.pid
echo "XEN-HARNESS: control plane up, dom0 uptime $(cut -d' ' -f1 /proc/uptime)s"
sh /test.sh; rc=$?
echo "XEN-HARNESS-RESULT rc=$rc dom0-uptime=$(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
INIT
chmod +x "$R/init"
# Uncompressed: dom0 would otherwise spend seconds inflating it under TCG.
(cd "$R" && find . | cpio -o -H newc --quiet) > dom0-initrd.cpio
t_built=$(date +%s.%N)

# ---------- boot ----------
# -cpu max,-smap: QEMU's TCG pops the IRET frame with supervisor accesses, which trips
#   SMAP for PV guest kernels (ring 3): dom0 faults at its first iretq without it.
# -no-reboot: a crash of Xen or dom0 ends QEMU instead of looping.
# spec-ctrl=eager-fpu: with Xen's default lazy FPU switching (CR0.TS, restored on the
#   first #NM) processes in dom0 and in guests die at random under this QEMU's TCG with
#   the AVX it offers: a loop of xenstore-write/read, md5sum and sh in 4 parallel copies
#   plus a PV guest saw 45 failures in 361 rounds in 150 s (segfaults, ld.so and
#   pthread assertions, "md5sm: not found"), as did the daemon (malloc() corrupted top
#   size, malformed XML) and the guest agent in CI; with eager switching, 0 in 104
#   rounds, as without XSAVE (-cpu ...,-xsave).  The mechanism is our reading, not
#   proven: AVX instructions that do not trap on CR0.TS would use another context's
#   registers.
XEN_CMD="dom0_mem=$DOM0_MEM,max:$DOM0_MEM dom0_max_vcpus=$SMP console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all spec-ctrl=eager-fpu ${XEN_EXTRA:-}"
DOM0_CMD="console=hvc0 earlyprintk=xen rdinit=/init loglevel=4"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu "${QEMU_CPU:-max,-smap}" \
  -m "$MEM" -smp "$SMP" -nographic -no-reboot -nic none \
  -kernel xen.elf -append "$XEN_CMD" \
  -initrd "dom0-vmlinux $DOM0_CMD,dom0-initrd.cpio" </dev/null 2>&1 \
  | while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done > console.log
qemu_rc=${PIPESTATUS[0]}
set -e
t_end=$(date +%s.%N)

# ---------- report ----------
awk -v t0="$t_built" '{ $1 = sprintf("%7.2f", $1 - t0); print }' console.log | tr -d '\r' > console.rel.log
echo "=== console (seconds since QEMU started) ==="
grep -E 'XEN-HARNESS|STEP|TIMING|TEST-|CHECK|SMOKE|GUEST-|NOTE|FAILED|\(XEN\) Xen version|Panic|crashed|FAIL' \
  console.rel.log | cut -c1-220 || true
first() { awk -v p="$1" 'index($0, p) { print $1; exit }' console.rel.log; }
echo "=== timings ==="
printf '  %-34s %7.2fs\n' "initramfs build (host)" "$(echo "$t_built - $t_start" | bc)"
printf '  %-34s %7s\n' "Xen banner" "$(first '(XEN) Xen version')s"
printf '  %-34s %7s\n' "dom0 shell" "$(first 'dom0 shell reached')s"
printf '  %-34s %7s\n' "control plane up" "$(first 'control plane up')s"
printf '  %-34s %7s\n' "test script done" "$(first 'XEN-HARNESS-RESULT')s"
printf '  %-34s %7.2fs\n' "total wall time" "$(echo "$t_end - $t_start" | bc)"
# recorded with the log: the harness's timings and every TIMING line of the tests
{ echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%s %.2fs\n' "initramfs build (host)" "$(echo "$t_built - $t_start" | bc)" \
    "wall" "$(echo "$t_end - $t_start" | bc)"
  printf '%s %ss\n' "dom0 shell" "$(first 'dom0 shell reached')" "control plane up" "$(first 'control plane up')" \
    "tests done" "$(first 'XEN-HARNESS-RESULT')"
  grep -E '^ *[0-9.]+ TIMING ' console.rel.log | sed 's/^ *[0-9.]* TIMING //'
} > timings.txt
echo "log: $WORK/console.rel.log, timings: $WORK/timings.txt"
if grep -q 'XEN-HARNESS-RESULT rc=0' console.log; then
  echo "RESULT: PASS"
  exit 0
fi
[ "$qemu_rc" = 124 ] && echo "run.sh: timed out after ${TIMEOUT}s" >&2
echo "RESULT: FAIL"
exit 1
