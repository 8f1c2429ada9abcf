#!/bin/sh
# Runs in the test guest (a /etc/guest-init.d hook, see make-guest.sh): the project's
# Linux guest agent, as a guest that is an appliance runs it (its tools cannot be
# upgraded: /etc/pv-drivers-not-upgradable), once, with the stock xenstore tools over
# /dev/xen/xenbus.  Its verdict goes to the console for the dom0 side to read, and so
# does everything it said on stderr (each refused write it retried, why it gave up),
# as GUEST-AGENT-STDERR lines, which the test prints with the other GUEST- lines.
touch /etc/pv-drivers-not-upgradable
xenapid-guest-agent --once 2>/tmp/agent.err
rc=$?
sed 's/^/GUEST-AGENT-STDERR: /' /tmp/agent.err
if [ $rc = 0 ]; then
  echo "GUEST-AGENT: reported at uptime $(cut -d' ' -f1 /proc/uptime)s, data/updated=$(xenstore-read data/updated 2>&1)"
else
  echo "GUEST-AGENT: failed rc=$rc"
fi
