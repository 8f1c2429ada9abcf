#!/bin/sh
# A hook of the PV test guest for stress-dom0.sh: the same rounds as dom0's loops, a
# line on the console every 10 rounds (GSTRESS: N rounds, F failures).
L=/lib/x86_64-linux-gnu/libc.so.6
sums() { md5sum $L /bin/busybox /usr/bin/xenstore-write | md5sum; }
ref=$(sums)
(n=0 f=0
 while :; do
   n=$((n+1))
   xenstore-write data/stress "v$n" 2>/dev/null || f=$((f+1))
   [ "$(sums)" = "$ref" ] || f=$((f+1))
   [ "$(sh -c 'echo $((7*191))')" = 1337 ] || f=$((f+1))
   [ $((n % 10)) = 0 ] && echo "GSTRESS: $n rounds, $f failures"
 done) &
