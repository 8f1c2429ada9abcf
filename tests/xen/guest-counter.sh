#!/bin/sh
# Runs in the PV test guest (a /etc/guest-init.d hook, see make-guest.sh): a counter
# the guest keeps in its memory and publishes in xenstore every second, with the
# kernel's boot id, so that dom0 can tell a guest that was suspended and resumed
# (the counter goes on, the boot id stays) from one that booted again (the counter
# starts from 1, a new boot id).  In the background: the other hooks go on.
boot=$(cat /proc/sys/kernel/random/boot_id)
(
  n=0
  while :; do
    n=$((n + 1))
    xenstore-write data/counter "$n" data/boot-id "$boot" 2>/dev/null
    sleep 1
  done
) &
echo "GUEST-COUNTER: started, boot id $boot"
