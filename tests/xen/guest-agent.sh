#!/bin/sh
# Runs in the test guest (a /etc/guest-init.d hook, see make-guest.sh): the project's
# Linux guest agent, as a guest that is an appliance runs it (its tools cannot be
# upgraded: /etc/pv-drivers-not-upgradable), once, with the stock xenstore tools over
# /dev/xen/xenbus.  Its verdict goes to the console for the dom0 side to read.
touch /etc/pv-drivers-not-upgradable
if xenapid-guest-agent --once; then
  echo "GUEST-AGENT: reported at uptime $(cut -d' ' -f1 /proc/uptime)s, data/updated=$(xenstore-read data/updated 2>&1)"
else
  echo "GUEST-AGENT: failed rc=$?"
fi
