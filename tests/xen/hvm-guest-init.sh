#!/bin/sh
# /init of the HVM test guest (tests/xen/run.sh builds it with make-guest.sh, booted
# by the device model's direct kernel boot): lists the PCI devices the guest sees
# and reports them on its consoles and in xenstore (data/pci, "vendor:device"
# sorted, space separated; data/pci-done = 1 once written), then stays up until
# destroyed.  xenstore is reached through the Xen platform device's xenbus.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
say() { echo "$*"; }  # /dev/console: hvc0 (kernel command line), which xenconsoled logs
say "GUEST-HVM: init reached, uptime $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"
inv=""
for d in /sys/bus/pci/devices/*; do
  v=$(cat $d/vendor); p=$(cat $d/device)
  say "GUEST-PCI: $(basename $d) ${v#0x}:${p#0x} class=$(cat $d/class)"
  inv="$inv ${v#0x}:${p#0x}"
done
inv=$(for i in $inv; do echo $i; done | sort | tr '\n' ' ' | sed 's/ $//')
say "GUEST-PCI-LIST: $inv"
i=0
until xenstore-write data/pci "$inv" data/pci-done 1 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 60 ] || { say "GUEST-HVM: cannot write to xenstore"; break; }
  sleep 1
done
say "GUEST-HVM: reported, uptime $(cut -d' ' -f1 /proc/uptime)s"
while :; do sleep 3600; done
