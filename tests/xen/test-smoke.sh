#!/bin/sh
# Runs in dom0 under tests/xen/run.sh: the xc backend's smoke test (xc_smoke, from BINS),
# with the test guest that run.sh puts in /guest.
set -e
echo "STEP xc_smoke start, dom0 uptime $(cut -d' ' -f1 /proc/uptime)s"
rc=0
xc_smoke /guest/vmlinuz /guest/initrd.gz || rc=$?
echo "STEP xc_smoke done rc=$rc, dom0 uptime $(cut -d' ' -f1 /proc/uptime)s"
xl list
if [ $rc = 0 ]; then echo "TEST-PASS"; else echo "TEST-FAIL: xc_smoke exited $rc"; fi
exit $rc
