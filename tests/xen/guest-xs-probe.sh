#!/bin/sh
# Runs in the test guest (a /etc/guest-init.d hook, see make-guest.sh): tries what the
# toolstack's xenstore permissions should allow and refuse, and says so on the console
# for the dom0 side (xc_smoke) to check.
if xenstore-write data/smoke-probe ok 2>/dev/null; then
  echo "GUEST-XS: data write ok"
else
  echo "GUEST-XS: data write refused"
fi
if xenstore-write name intruder 2>/dev/null; then
  echo "GUEST-XS: name write ok"
else
  echo "GUEST-XS: name write refused"
fi
echo "GUEST-XS: has-vendor-device=$(xenstore-read control/has-vendor-device 2>&1)"
