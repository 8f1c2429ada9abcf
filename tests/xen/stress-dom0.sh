#!/bin/sh
# Runs in dom0 under tests/xen/run.sh: a reproducer for memory corruption in dom0 and
# in a PV guest (see README.md, "Random deaths").  Four parallel loops of
# xenstore-write/read, md5sum of libc, busybox and xenstore-write, and sh -c, for
# STRESS_SECS seconds (150), while a PV guest (guest-stress.sh as its hook) does the
# same.  Exits non-zero when any round in dom0 or in the guest failed.
#   TEST_SCRIPT=tests/xen/stress-dom0.sh GUEST_HOOKS=tests/xen/guest-stress.sh BINS= \
#     TIMEOUT=420 tests/xen/run.sh          (QEMU_CPU=..., XEN_EXTRA=... to compare)
T=${STRESS_SECS:-150}
xl dmesg | grep -E "CPU Vendor|Xen settings|XPTI|Command line" | sed 's/^/STRESS-XEN: /'
grep -m1 '^flags' /proc/cpuinfo | sed 's/^/STRESS-FLAGS: /'
L=/lib/x86_64-linux-gnu/libc.so.6
sums() { md5sum $L /bin/busybox /usr/bin/xenstore-write | md5sum; }
ref=$(sums)
cat > /tmp/stress.cfg <<G
name = "stress"
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd.gz"
memory = 128
vcpus = 2
extra = "console=hvc0 guest.hold"
G
xl create /tmp/stress.cfg >/dev/null 2>&1 || echo "STRESS: no guest (xl create failed)"
end=$(( $(cut -d. -f1 /proc/uptime) + T ))
loop() {
  n=0 f=0
  while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
    n=$((n+1))
    xenstore-write /local/domain/0/data/s$1 "v$n" || f=$((f+1))
    [ "$(xenstore-read /local/domain/0/data/s$1)" = "v$n" ] || f=$((f+1))
    [ "$(sums)" = "$ref" ] || f=$((f+1))
    [ "$(sh -c 'echo $((7*191))')" = 1337 ] || f=$((f+1))
  done
  echo "STRESS: dom0 loop $1: $n rounds, $f failures"
  [ $f = 0 ]
}
rc=0 pids=""
for i in 1 2 3 4; do loop $i & pids="$pids $!"; done
for p in $pids; do wait $p || rc=1; done
echo "STRESS: dom0 segfaults in dmesg: $(dmesg | grep -c segfault)"
g=$(grep -a GSTRESS /var/log/xen/console/guest-stress.log 2>/dev/null | tr -d '\r' | tail -1)
echo "STRESS: guest: ${g:-nothing reported}"
case "$g" in *" 0 failures"*) ;; *) rc=1 ;; esac
xl destroy stress 2>/dev/null
[ $rc = 0 ] && echo "STRESS: PASS" || echo "STRESS: FAIL"
exit $rc
