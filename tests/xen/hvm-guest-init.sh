#!/bin/sh
# /init of the HVM test guest (tests/xen/run.sh builds it with make-guest.sh; the
# device model boots it by direct kernel boot): lists the PCI devices the guest sees,
# as the golden files tests/golden/platform/*/v*.pci write them ("00:SS.F vvvv:dddd"
# in slot order), and reports them on its console and in xenstore (data/pci, the
# lines joined by ","; data/pci-done = 1 once written), then stays up until
# destroyed.  xenstore is reached through the Xen platform device's xenbus.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
echo "GUEST-HVM: init reached, uptime $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r)"
inv=""
for d in /sys/bus/pci/devices/*; do
  v=$(cat $d/vendor); p=$(cat $d/device)
  line="$(basename $d | sed 's/^0000://') ${v#0x}:${p#0x}"
  echo "GUEST-PCI: $line class=$(cat $d/class)"
  inv="$inv${inv:+,}$line"
done
echo "GUEST-PCI-LIST: $inv"
i=0
until xenstore-write data/pci "$inv" data/pci-done 1 2>/tmp/xs.err; do
  i=$((i + 1))
  [ $i -lt 60 ] || { echo "GUEST-HVM: cannot write to xenstore: $(cat /tmp/xs.err)"; break; }
  sleep 1
done
echo "GUEST-HVM: reported, uptime $(cut -d' ' -f1 /proc/uptime)s"
while :; do sleep 3600; done
