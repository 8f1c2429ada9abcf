#!/bin/sh
# Runs in dom0 under tests/xen/run.sh (`make test-xen`): the daemon itself on the real
# hypervisor, driven through its API only -- the xe CLI where a user would use it
# (vm-create, vm-start, vm-shutdown --force, param-get), tests/xen/xapi.c for the exact
# calls and errors (VM.clean_shutdown, VM.start_on, records) -- and cross-checked
# against what Xen and xenstore really hold (xl, xenstore-*).
#
#   1. the host record: the configured platform versions, the real Xen version,
#      memory and CPUs
#   2. a PV VM with the vendor device starts: a real domain with the VM's domid and
#      uuid, Running, hardware_platform_version 1, control/has-vendor-device = 1 and
#      the domain's tree in xenstore
#   3. the guest agent in the guest reports; VM_guest_metrics shows its version keys,
#      NotUpgradable, and PV_drivers_up_to_date true
#   4. clean shutdown ends the domain and leaves no xenstore entries; hard shutdown too;
#      two VMs started at once (paused) both get their domains, and the host answers queries meanwhile
#   5. the daemon restarted on a host offering only version 0 refuses to start the VM
#      with the exact error, and no domain is created
#   6. a PV guest suspended (VM.suspend) and resumed (VM.resume) through the API goes
#      on where it was: the counter it keeps in xenstore continues, its boot id is
#      the same, its console shows one boot; the suspend image was on local disk
#   7. no fake Running: an HVM start without the device model fails with
#      DEVICE_MODEL_FAILED and leaves no domain
#   8. HVM guests booted by the device model (direct kernel boot) list their PCI bus:
#      5853:c000 with has_vendor_device, not without; 5853:0001 in both
#   9. with a registry that gains version 2, after a restart, the version-1 VM sees
#      the same PCI devices
#
# Needs in dom0 (run.sh puts them there): xenapid, xe and xapi on PATH, the platform
# registry at /etc/xenapid/platform.xml, the test guest at /guest/{vmlinuz,initrd.gz},
# the HVM test guest at /guest-hvm/{vmlinuz,initrd.gz}, the device model.
# Prints "CHECK PASS|FAIL: ..." per check and "TIMING step N ...: S s" per step; exits
# non-zero when any check failed.
set -u
D=/tmp/xenapid
SOCK=$D/xenapid.sock
export XAPI_URL=unix:$SOCK XE_SOCKET=$SOCK XE_USERNAME=root XE_PASSWORD=secret
PASSWORD=secret
TOOLS_VERSION=1.1.0.0   # above the agent's 1.0.0.0: only NotUpgradable makes it current
VM_NAME=xenapid-guest
KERNEL=/guest/vmlinuz RAMDISK=/guest/initrd.gz
CONSOLE_LOG=/var/log/xen/console/guest-$VM_NAME.log
npass=0 nfail=0

up() { cut -d' ' -f1 /proc/uptime; }
T_ALL=$(up)
step() { STEP_NAME=$1; STEP_T0=$(up); echo "STEP $STEP_NAME"; }
step_done() {
  if [ -n "${DAEMON_PID:-}" ] && ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    fail "the daemon is still running at the end of $STEP_NAME (it died: see its log below)"
    wait "$DAEMON_PID"; echo "the daemon's exit status: $?"
    dmesg | tail -5 | sed 's/^/  dmesg | /'
    tail -15 $D/daemon.log | sed 's/^/  daemon | /'
    DAEMON_PID=
  fi
  echo "TIMING $STEP_NAME: $(awk -v a="$STEP_T0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }')s"
}
pass() { npass=$((npass + 1)); echo "CHECK PASS: $*"; }
fail() { nfail=$((nfail + 1)); echo "CHECK FAIL: $*"; FAILED="$FAILED
FAILED: $(echo "$*" | cut -c1-160)"; }
FAILED=
# expect DESCRIPTION ACTUAL EXPECTED
expect() {
  if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}
# ok DESCRIPTION COMMAND...: the command succeeds
ok() { d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

x() { xapi call "$@"; }
xe_get() { xe "$1"-param-get uuid="$2" param-name="$3" ${4:+param-key=$4} 2>&1; }
field() { sed -n "s/^$1=//p"; }                 # KEY=VALUE lines -> VALUE of KEY
elapsed() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }'; }
mib() { awk -v b="$1" 'BEGIN { if (b ~ /^[0-9]+$/) printf "%d", b / 1048576; else print "?" b }'; }

# domids Xen has, from libxenctrl through xl (column 2 of xl list)
domids() { xl list 2>/dev/null | awk 'NR > 1 { print $2 }' | sort -n | tr '\n' ' '; }
has_domain() { xl list 2>/dev/null | awk -v d="$1" 'NR > 1 && $2 == d { f = 1 } END { exit !f }'; }

start_daemon() {  # extra --key=value options
  xenapid --config $D/xenapid.conf "$@" >> $D/daemon.log 2>&1 &
  DAEMON_PID=$!
  i=0
  until [ -S $SOCK ] && xapi login root $PASSWORD > $D/session 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 $DAEMON_PID 2>/dev/null; then
      echo "the daemon did not come up; its log:"; tail -20 $D/daemon.log; return 1
    fi
    sleep 0.1
  done
  S=$(cat $D/session)
}
stop_daemon() {
  kill -TERM $DAEMON_PID
  i=0
  while kill -0 $DAEMON_PID 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { fail "the daemon stops on SIGTERM within 10 s"; kill -9 $DAEMON_PID; break; }
    sleep 0.1
  done
  wait $DAEMON_PID 2>/dev/null
  rm -f $SOCK
}
finish() {
  if [ $nfail = 0 ]; then
    echo "daemon log (last lines):"; tail -8 $D/daemon.log | sed 's/^/  | /'
  else
    echo "daemon log:"; tail -200 $D/daemon.log | sed 's/^/  | /'
  fi
  [ -n "${DAEMON_PID:-}" ] && kill -0 "$DAEMON_PID" 2>/dev/null && stop_daemon
  echo "TIMING whole daemon test: $(elapsed "$T_ALL")s"
  # the failures again, last, where a CI summary that keeps the end shows them all
  [ $nfail = 0 ] || echo "TEST-DAEMON: the checks that failed:$FAILED"
  echo "TEST-DAEMON: $npass checks passed, $nfail failed"
  if [ $nfail = 0 ] && [ $npass -gt 0 ]; then echo "TEST-PASS"; exit 0; fi
  echo "TEST-FAIL"; exit 1
}

# ---------------------------------------------------------------- the daemon
step "step 0: set the password, start the daemon (backend xc)"
mkdir -p $D $D/suspend
# the suspend images (a guest's memory each) on a file system of their own: dom0's
# root is the initramfs, in its memory, and mostly full
mount -t tmpfs -o size=320m tmpfs $D/suspend
cat > $D/xenapid.conf <<EOF
backend = xc
listen-address =
unix-socket = $SOCK
db-path = $D/xenapid.db
auth = file
auth-file = $D/passwd
login-failure-delay = 0.1
inventory = $D/inventory
log-level = info
platform-registry = /etc/xenapid/platform.xml
virtual-hardware-platform-versions = 0,1
guest-tools-version = $TOOLS_VERSION
shutdown-ack-timeout = 30
clean-shutdown-timeout = 60
# Xen runs nested in QEMU's emulator here: HVM guests hang without these
hvm-tsc-mode = native
hvm-hide-xsave = true
device-model-timeout = 120
EOF
echo $PASSWORD | xenapid --config $D/xenapid.conf --set-password root >/dev/null
if ! start_daemon; then fail "the daemon starts with backend xc and takes a login"; finish; fi
pass "the daemon starts with backend xc and takes a login"
step_done

# ---------------------------------------------------------------- 1. host
step "step 1: the host record against the hypervisor"
H=$(x host.get_all "$S")
x host.get_record "$S" "$H" > $D/host.rec
x host_metrics.get_record "$S" "$(field metrics < $D/host.rec)" > $D/host_metrics.rec
x host.get_software_version "$S" "$H" > $D/host.sw
xl info > $D/xl.info
xl_info() { sed -n "s/^$1 *: //p" $D/xl.info; }
expect "host.virtual_hardware_platform_versions is the configured 0,1" \
  "$(field virtual_hardware_platform_versions < $D/host.rec)" "0; 1"
expect "software_version:backend" "$(field backend < $D/host.sw)" "xc"
expect "software_version:xen is the running hypervisor's version (xl info)" \
  "$(field xen < $D/host.sw)" "$(xl_info xen_major).$(xl_info xen_minor)$(xl_info xen_extra)"
expect "cpu_info:cpu_count is Xen's nr_cpus" \
  "$(x host.get_cpu_info "$S" "$H" | field cpu_count)" "$(xl_info nr_cpus)"
expect "host_metrics.memory_total is Xen's total_memory (MiB)" \
  "$(mib "$(field memory_total < $D/host_metrics.rec)")" "$(xl_info total_memory)"
free_api=$(mib "$(field memory_free < $D/host_metrics.rec)"); free_xl=$(xl_info free_memory)
# both read Xen's free pages, a moment apart
if awk -v a="$free_api" -v x="$free_xl" -v t="$(xl_info total_memory)" \
     'BEGIN { d = a - x; exit !(a ~ /^[0-9]+$/ && a > 0 && a <= t && d <= 16 && d >= -16) }'; then
  pass "host_metrics.memory_free is Xen's free memory ($free_api MiB, xl info: $free_xl MiB)"
else
  fail "host_metrics.memory_free: $free_api MiB, xl info says $free_xl MiB"
fi
# xl pads xen_caps with a trailing blank, as Xen hands it out
expect "host.capabilities are Xen's" "$(field capabilities < $D/host.rec | tr -d ';')" \
  "$(xl_info xen_caps | sed 's/ *$//')"
HUUID=$(field uuid < $D/host.rec)
expect "xe host-param-get virtual-hardware-platform-versions" \
  "$(xe_get host "$HUUID" virtual-hardware-platform-versions)" "0; 1"
expect "xe host-param-get software-version param-key=xen" "$(xe_get host "$HUUID" software-version xen)" \
  "$(xl_info xen_major).$(xl_info xen_minor)$(xl_info xen_extra)"
echo "host: xen $(field xen < $D/host.sw), $(xl_info nr_cpus) cpus, $(xl_info total_memory) MiB," \
  "versions [$(field virtual_hardware_platform_versions < $D/host.rec)]"
step_done

# ---------------------------------------------------------------- 2. start
step "step 2: create and start a PV VM with the vendor device"
UUID=$(xe vm-create name-label=$VM_NAME PV-kernel=$KERNEL PV-ramdisk=$RAMDISK \
       "PV-args=console=hvc0 rdinit=/init quiet guest.hold" \
       memory-static-max=268435456 memory-dynamic-max=134217728 \
       memory-dynamic-min=134217728 memory-static-min=67108864 \
       VCPUs-max=1 VCPUs-at-startup=1 has-vendor-device=true 2>&1)
VM=$(x VM.get_by_uuid "$S" "$UUID")
case "$VM" in OpaqueRef:*) pass "xe vm-create ... has-vendor-device=true made VM $UUID" ;;
  *) fail "xe vm-create: $UUID"; finish ;; esac
expect "has_vendor_device" "$(x VM.get_has_vendor_device "$S" "$VM")" true
expect "hardware_platform_version is 1 once the VM has the vendor device" \
  "$(x VM.get_hardware_platform_version "$S" "$VM")" 1
before=$(domids)
t=$(up)
r=$(xe vm-start uuid="$UUID" 2>&1) && pass "xe vm-start ($(elapsed "$t")s)" || fail "xe vm-start: $r"
x VM.get_record "$S" "$VM" > $D/vm.rec
DOMID=$(field domid < $D/vm.rec)
expect "power_state" "$(field power_state < $D/vm.rec)" Running
expect "xe vm-param-get power-state" "$(xe_get vm "$UUID" power-state)" running
expect "hardware_platform_version after the start" "$(field hardware_platform_version < $D/vm.rec)" 1
expect "resident_on is this host" "$(field resident_on < $D/vm.rec)" "$H"
xl list -v > $D/xl.list 2>&1
sed 's/^/  xl | /' $D/xl.list
line=$(awk -v d="$DOMID" 'NR > 1 && $2 == d' $D/xl.list)
if [ -n "$DOMID" ] && [ "$DOMID" -gt 0 ] && [ -n "$line" ]; then
  pass "xl list shows domain $DOMID, the VM's domid"
else
  fail "xl list shows no domain with the VM's domid '$DOMID'"
fi
expect "that domain's name" "$(echo "$line" | awk '{ print $1 }')" "$VM_NAME"
expect "that domain's uuid (its Xen handle) is the VM's" "$(echo "$line" | awk '{ print $7 }')" "$UUID"
case "$(echo "$line" | awk '{ print $5 }')" in
  *p*|*s*|*c*|*d*) fail "the domain is not running: state $(echo "$line" | awk '{ print $5 }')" ;;
  *) pass "the domain runs (xl state $(echo "$line" | awk '{ print $5 }'))" ;;
esac
echo "domains before: $before; after: $(domids)"
xs=/local/domain/$DOMID
expect "xenstore $xs/control/has-vendor-device" "$(xenstore-read $xs/control/has-vendor-device 2>&1)" 1
expect "xenstore $xs/domid" "$(xenstore-read $xs/domid 2>&1)" "$DOMID"
expect "xenstore $xs/name" "$(xenstore-read $xs/name 2>&1)" "$VM_NAME"
expect "xenstore $xs/vm" "$(xenstore-read $xs/vm 2>&1)" "/vm/$UUID"
expect "xenstore /vm/$UUID/uuid" "$(xenstore-read /vm/$UUID/uuid 2>&1)" "$UUID"
expect "xenstore $xs/memory/target (KiB)" "$(xenstore-read $xs/memory/target 2>&1)" 131072
ok "xenstore $xs/store/ring-ref and console/ring-ref are set" \
  sh -c "[ -n \"\$(xenstore-read $xs/store/ring-ref)\" ] && [ -n \"\$(xenstore-read $xs/console/ring-ref)\" ]"
# (xenstore-ls -p pads each line to 80 columns, the permissions last)
expect "the guest may not write control/has-vendor-device (its permissions)" \
  "$(xenstore-ls -p $xs/control 2>/dev/null | sed -n 's/^has-vendor-device = .*(\(n[0-9]*,[^()]*\))[ .]*$/\1/p')" "n0,r$DOMID"
step_done

# ---------------------------------------------------------------- 3. guest agent
step "step 3: the guest agent reports, VM_guest_metrics shows it"
t=$(up); GM=OpaqueRef:NULL
while :; do
  GM=$(x VM.get_guest_metrics "$S" "$VM")
  if [ "$GM" != OpaqueRef:NULL ] && x VM_guest_metrics.get_record "$S" "$GM" > $D/gm.rec &&
     [ -n "$(field PV_drivers_version < $D/gm.rec)" ]; then break; fi
  # a bound, not a speed goal: 10 s on an idle machine, minutes on a loaded one
  [ "$(elapsed "$t" | cut -d. -f1)" -lt 300 ] || break
  sleep 1  # dom0 and the guest share the emulated CPUs: do not poll hard
done
grep -a 'GUEST-' $CONSOLE_LOG 2>/dev/null | tr -d '\r' | sed "s/^/console $VM_NAME: /"
if [ "$GM" != OpaqueRef:NULL ] && [ -n "$(field PV_drivers_version < $D/gm.rec)" ]; then
  pass "VM.guest_metrics appeared $(elapsed "$t")s after the start"
  sed 's/^/  VM_guest_metrics | /' $D/gm.rec
  grep -i 'guest\|metrics' $D/daemon.log | tail -3 | sed 's/^/  daemon | /' 
else
  fail "no guest metrics with a version 300 s after the start"
  echo "guest console:"; tail -20 $CONSOLE_LOG 2>/dev/null | sed 's/^/  | /'
fi
expect "the guest itself wrote attr/PVAddons/NotUpgradable (xenstore, owner)" \
  "$(xenstore-read $xs/attr/PVAddons/NotUpgradable 2>&1) $(xenstore-ls -p $xs/attr/PVAddons 2>/dev/null | sed -n 's/^NotUpgradable = "1".*(n\([0-9]*\).*/\1/p')" "1 $DOMID"
expect "PV_drivers_version" "$(field PV_drivers_version < $D/gm.rec)" "major: 1; minor: 0; micro: 0; build: 0"
expect "PV_drivers_detected" "$(field PV_drivers_detected < $D/gm.rec)" true
expect "PV_drivers_up_to_date (tools 1.0.0.0 < host's $TOOLS_VERSION, NotUpgradable 1)" \
  "$(field PV_drivers_up_to_date < $D/gm.rec)" true
expect "tools_status" "$(field tools_status < $D/gm.rec)" not_upgradable
case "$(field other < $D/gm.rec)" in
  *"PVAddons-NotUpgradable: 1"*) pass "other holds PVAddons-NotUpgradable: 1" ;;
  *) fail "other: '$(field other < $D/gm.rec)' lacks PVAddons-NotUpgradable: 1" ;;
esac
case "$(field os_version < $D/gm.rec)" in
  *"uname: $(uname -r)"*) pass "os_version has the guest kernel's uname ($(uname -r))" ;;
  *) fail "os_version '$(field os_version < $D/gm.rec)' lacks uname: $(uname -r)" ;;
esac
expect "VM_guest_metrics.live" "$(field live < $D/gm.rec)" true
expect "xe vm-param-get PV-drivers-up-to-date" "$(xe_get vm "$UUID" PV-drivers-up-to-date)" true
expect "xe vm-param-get PV-drivers-version" "$(xe_get vm "$UUID" PV-drivers-version)" \
  "major: 1; minor: 0; micro: 0; build: 0"
step_done

# ---------------------------------------------------------------- 4. shutdowns
gone() {  # DESCRIPTION DOMID: the domain, its xenstore tree and /vm/<uuid> are gone
  x VM.get_record "$S" "$VM" > $D/vm.rec
  expect "$1: power_state" "$(field power_state < $D/vm.rec)" Halted
  expect "$1: xe vm-param-get power-state" "$(xe_get vm "$UUID" power-state)" halted
  expect "$1: domid" "$(field domid < $D/vm.rec)" -1
  if has_domain "$2"; then fail "$1: domain $2 is still in xl list"; xl list
  else pass "$1: domain $2 is gone from xl list"; fi
  for p in /local/domain/$2 /vm/$UUID; do
    if xenstore-exists $p 2>/dev/null; then fail "$1: xenstore still holds $p"; xenstore-ls -f $p | head
    else pass "$1: xenstore holds no $p"; fi
  done
  expect "$1: the domains left are the ones before the start" "$(domids)" "$before"
}

step "step 4a: clean shutdown"
t=$(up)
r=$(x VM.clean_shutdown "$S" "$VM") && pass "VM.clean_shutdown ($(elapsed "$t")s)" || fail "VM.clean_shutdown: $r"
gone "clean shutdown" "$DOMID"
grep -i "domain $DOMID\b" $D/daemon.log | tail -3 | sed 's/^/  daemon | /'
step_done

step "step 4b: start again, hard shutdown"
t=$(up)
r=$(xe vm-start uuid="$UUID" 2>&1) && pass "xe vm-start again ($(elapsed "$t")s)" || fail "xe vm-start again: $r"
DOMID2=$(x VM.get_domid "$S" "$VM")
expect "power_state" "$(x VM.get_power_state "$S" "$VM")" Running
ok "xl list shows the new domain $DOMID2" has_domain "$DOMID2"
expect "xenstore has-vendor-device of the new domain" \
  "$(xenstore-read /local/domain/$DOMID2/control/has-vendor-device 2>&1)" 1
sleep 2  # let the guest kernel run a little: the hard shutdown must not wait for it
t=$(up)
# xe vm-shutdown --force is VM.hard_shutdown
r=$(xe vm-shutdown uuid="$UUID" --force 2>&1) && pass "xe vm-shutdown --force ($(elapsed "$t")s)" ||
  fail "xe vm-shutdown --force: $r"
gone "hard shutdown" "$DOMID2"
step_done

# ---------------------------------------------------------------- 4c. two starts at once
step "step 4c: two VMs started at once, the host queried while they are built"
# started paused: the builds are what is under test, and two guest kernels booting
# under TCG would only slow the rest of the run
CU=""
for n in 1 2; do
  u=$(xe vm-create name-label=xenapid-conc$n PV-kernel=$KERNEL PV-ramdisk=$RAMDISK \
      "PV-args=console=hvc0 rdinit=/init quiet guest.hold" \
      memory-static-max=268435456 memory-dynamic-max=134217728 \
      memory-dynamic-min=134217728 memory-static-min=67108864 VCPUs-max=1 VCPUs-at-startup=1 2>&1)
  case "$u" in *-*-*-*-*) CU="$CU $u" ;; *) fail "xe vm-create xenapid-conc$n: $u" ;; esac
done
before_conc=$(domids)
t=$(up); pids=""; n=0
for u in $CU; do
  n=$((n + 1)); x VM.start "$S" "$(x VM.get_by_uuid "$S" "$u")" b:true b:false > $D/conc-start$n.out 2>&1 &
  pids="$pids $!"
done
# VM.assert_can_boot_here asks the backend for the host's free memory, as every start
# does: it answers while the builds run (each query is an xapi process, so the
# latency includes its start under TCG)
nq=0; qbad=0; qmax=0
while :; do
  busy=0; for p in $pids; do kill -0 "$p" 2>/dev/null && busy=1; done
  [ $busy = 1 ] || break
  q0=$(up); r=$(x VM.assert_can_boot_here "$S" "$VM" "$H" 2>&1) || qbad=$((qbad + 1)); q=$(elapsed "$q0")
  case "$r" in *FAILURE*) echo "  query: $r" ;; esac
  nq=$((nq + 1)); qmax=$(awk -v a="$qmax" -v b="$q" 'BEGIN { print (b > a) ? b : a }')
done
n=0; for p in $pids; do
  n=$((n + 1))
  if wait "$p"; then pass "concurrent VM.start $n (paused)"; else fail "concurrent VM.start $n: $(cat $D/conc-start$n.out)"; fi
done
echo "TIMING both starts: $(elapsed "$t")s, $nq host queries beside them, the longest ${qmax}s"
expect "every host query beside the starts answered" "$qbad" 0
ok "host queries ran while the VMs were built ($nq)" [ "$nq" -ge 1 ]
cdoms=""
for u in $CU; do
  cvm=$(x VM.get_by_uuid "$S" "$u")
  expect "power_state of $u" "$(x VM.get_power_state "$S" "$cvm")" Paused
  cdom=$(x VM.get_domid "$S" "$cvm")  # not $d: ok() and expect() use that name
  ok "xl list shows domain $cdom of $u" has_domain "$cdom"
  expect "xenstore /local/domain/$cdom/vm" "$(xenstore-read /local/domain/$cdom/vm 2>&1)" "/vm/$u"
  cdoms="$cdoms $cdom"
done
set -- $cdoms
if [ $# = 2 ] && [ "$1" != "$2" ]; then pass "the two VMs have two domains ($cdoms)"
else fail "the two VMs have two domains: got '$cdoms'"; fi
for u in $CU; do
  cvm=$(x VM.get_by_uuid "$S" "$u")
  r=$(x VM.hard_shutdown "$S" "$cvm" 2>&1) || fail "VM.hard_shutdown $u: $r"
  r=$(x VM.destroy "$S" "$cvm" 2>&1) || fail "VM.destroy $u: $r"
done
for cdom in $cdoms; do
  if has_domain "$cdom"; then fail "domain $cdom is still in xl list"; else pass "domain $cdom is gone"; fi
  if xenstore-exists /local/domain/$cdom 2>/dev/null; then fail "xenstore still holds /local/domain/$cdom"
  else pass "xenstore holds no /local/domain/$cdom"; fi
done
expect "the domains left are the ones before the two starts" "$(domids)" "$before_conc"
step_done

# ---------------------------------------------------------------- 5. version 0 host
step "step 5: restart the daemon on a host offering only version 0"
stop_daemon
if ! start_daemon --virtual-hardware-platform-versions=0; then
  fail "the daemon restarts with virtual-hardware-platform-versions=0"; finish
fi
pass "the daemon restarts with virtual-hardware-platform-versions=0"
H=$(x host.get_all "$S")
expect "host.virtual_hardware_platform_versions now" "$(x host.get_virtual_hardware_platform_versions "$S" "$H")" 0
expect "the VM kept its version" "$(x VM.get_hardware_platform_version "$S" "$VM")" 1
before=$(domids); xs_before=$(xenstore-list /local/domain | sort -n | tr '\n' ' ')
expect "VM.start" "$(x VM.start "$S" "$VM" b:false b:false)" "FAILURE NO_HOSTS_AVAILABLE"
expect "VM.start_on this host" "$(x VM.start_on "$S" "$VM" "$H" b:false b:false)" \
  "FAILURE VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION $H [0] $VM 1"
expect "VM.assert_can_boot_here" "$(x VM.assert_can_boot_here "$S" "$VM" "$H")" \
  "FAILURE VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION $H [0] $VM 1"
expect "VM.get_boot_check_results names the reason" "$(x VM.get_boot_check_results "$S" "$VM")" \
  "$H=VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION; $H; [0]; $VM; 1"
expect "power_state" "$(x VM.get_power_state "$S" "$VM")" Halted
expect "no domain was created (xl list)" "$(domids)" "$before"
expect "no domain appeared in xenstore" "$(xenstore-list /local/domain | sort -n | tr '\n' ' ')" "$xs_before"
out=$(xe vm-start uuid="$UUID" 2>&1); rc=$?
echo "$out" | sed 's/^/  xe vm-start | /'
# xe words the error for people, as xe does: the host's versions and the VM's
if [ $rc != 0 ] && echo "$out" | grep -q 'host_versions: \[0\]' && echo "$out" | grep -q 'vm_version: 1'; then
  pass "xe vm-start is refused, saying host_versions: [0] and vm_version: 1"
else
  fail "xe vm-start (rc $rc) does not name the reason"
fi
expect "no domain was created by xe either" "$(domids)" "$before"
step_done

# ---------------------------------------------------------------- 6. suspend / resume
step "step 6: a PV guest suspended and resumed through the API goes on where it was"
stop_daemon
if ! start_daemon; then fail "the daemon restarts with versions 0,1"; finish; fi
SU=$(xe vm-create name-label=xenapid-suspend PV-kernel=$KERNEL PV-ramdisk=$RAMDISK \
     "PV-args=console=hvc0 rdinit=/init quiet guest.hold" \
     memory-static-max=100663296 memory-dynamic-max=100663296 \
     memory-dynamic-min=100663296 memory-static-min=67108864 VCPUs-max=1 VCPUs-at-startup=1 2>&1)
SVM=$(x VM.get_by_uuid "$S" "$SU")
before_susp=$(domids)
r=$(xe vm-start uuid="$SU" 2>&1) || fail "xe vm-start xenapid-suspend: $r"
SD=$(x VM.get_domid "$S" "$SVM")
counter() { xenstore-read /local/domain/$1/data/counter 2>/dev/null; }
t=$(up)
until [ "$(counter $SD)" -ge 3 ] 2>/dev/null; do
  [ "$(elapsed "$t" | cut -d. -f1)" -lt 400 ] || break; sleep 1  # a bound for a loaded machine
done
N=$(counter $SD); BOOT=$(xenstore-read /local/domain/$SD/data/boot-id 2>/dev/null); T_N=$(up)
ok "the guest keeps a counter in xenstore ($N after $(elapsed "$t")s, boot id $BOOT)" [ "${N:-0}" -ge 3 ]
t=$(up)
r=$(x VM.suspend "$S" "$SVM") && pass "VM.suspend ($(elapsed "$t")s)" || fail "VM.suspend: $r"
echo "TIMING suspend: $(elapsed "$t")s"
N1=$(awk -v n="$N" 'BEGIN { print n }')
expect "power_state after suspend" "$(x VM.get_power_state "$S" "$SVM")" Suspended
if has_domain "$SD"; then fail "domain $SD is still in xl list after the suspend"; else pass "domain $SD is gone (xl list)"; fi
IMG=$D/suspend/$SU.image
ok "the suspend image is kept on local disk ($IMG, $(wc -c < $IMG 2>/dev/null) bytes)" [ -s "$IMG" ]
expect "it starts with the stream's magic" "$(head -c 14 $IMG 2>/dev/null)" "XENAPID-DOMAIN"
grep -a "saved\|libxenguest" $D/daemon.log | tail -3 | sed 's/^/  daemon | /'
sleep 3  # a guest that went on running would count on meanwhile; a saved one cannot
t=$(up)
r=$(x VM.resume "$S" "$SVM" b:false b:false) && pass "VM.resume ($(elapsed "$t")s)" || fail "VM.resume: $r"
echo "TIMING resume: $(elapsed "$t")s"
SD2=$(x VM.get_domid "$S" "$SVM")
expect "power_state after resume" "$(x VM.get_power_state "$S" "$SVM")" Running
ok "the resumed VM has a domain in xl list ($SD2)" has_domain "$SD2"
t=$(up)
until [ -n "$(counter $SD2)" ]; do [ "$(elapsed "$t" | cut -d. -f1)" -lt 60 ] || break; sleep 1; done
sleep 2
N2=$(counter $SD2); BOOT2=$(xenstore-read /local/domain/$SD2/data/boot-id 2>/dev/null)
echo "counter before the suspend: $N, after the resume: $N2 ($(elapsed "$t")s after it); boot id $BOOT2"
# it counts at most once a second of the guest's time: from N on, no more than the
# seconds since N was read; a guest that booted again would start from 1
E_N=$(elapsed "$T_N")
ok "the counter went on from where it was ($N -> $N2 in ${E_N}s), not from 1" \
  awk -v a="$N" -v b="$N2" -v e="$E_N" 'BEGIN { exit !(b ~ /^[0-9]+$/ && b > a && b <= a + e + 2) }'
ok "the guest published its kernel's boot id before the suspend ($BOOT)" [ -n "$BOOT" ]
expect "the guest kernel's boot id is the same: it was not rebooted" "$BOOT2" "$BOOT"
expect "the guest booted once (one GUEST-MARKER on its console)" \
  "$(grep -ac 'GUEST-MARKER' /var/log/xen/console/guest-xenapid-suspend.log 2>/dev/null)" 1
ok "the image is gone once resumed" [ ! -e "$IMG" ]
r=$(x VM.hard_shutdown "$S" "$SVM" 2>&1) || fail "VM.hard_shutdown xenapid-suspend: $r"
x VM.destroy "$S" "$SVM" > /dev/null 2>&1
expect "the domains left are the ones before" "$(domids)" "$before_susp"
step_done

# ---------------------------------------------------------------- 7-9. HVM guests
# Booted by the device model (Debian's qemu-system-xen) through the daemon's own
# build (direct kernel boot: the VM's PV_kernel/PV_ramdisk/PV_args); the guest lists
# its PCI bus into xenstore (data/pci, hvm-guest-init.sh), which is compared with the
# golden PCI list of its version (tests/golden/platform/, in dom0 at /golden/).
HK=/guest-hvm/vmlinuz HR=/guest-hvm/initrd.gz
DMBIN=/usr/libexec/xen-qemu-system-i386
hvm_create() {  # NAME VENDOR(true|false)
  xe vm-create name-label=$1 HVM-boot-policy="BIOS order" PV-kernel=$HK PV-ramdisk=$HR \
    "PV-args=rdinit=/init quiet pci=noearly console=ttyS0 console=hvc0" \
    memory-static-max=268435456 memory-dynamic-max=268435456 \
    memory-dynamic-min=268435456 memory-static-min=134217728 VCPUs-max=1 VCPUs-at-startup=1 \
    has-vendor-device=$2 2>&1
}
# hvm_inventory UUID NAME: start the VM, wait for its guest's PCI list; sets INV
# ("00:SS.F vvvv:dddd" lines joined by ",", empty if none came) and HD (its domid).
# A guest that resets itself is followed to the domain the daemon builds for it, once:
# what is checked is the PCI bus the VM's hardware gives, which a rebuild must give
# again.  Seen twice (in CI and here, among some tens of HVM boots): the guest kernel,
# early in its boot (just after it set its Xen upcall vector, before a line on its
# console), triple-faults under QEMU's emulation of the CPU's virtualisation, Xen
# says "Triple fault - invoking HVM shutdown action 1" (a reboot), and the daemon
# restarts the VM as actions_after_reboot says; the same kernel on the same hardware
# boots at the next try.  The restart is said in NOTE lines with what Xen, the
# daemon and the console logged of it; a second one fails the check.
hvm_inventory() {
  INV= HD=
  this_boot() { sed -n "$((clog_at + 1)),\$p" $clog 2>/dev/null; }  # its console since the start
  hvm=$(x VM.get_by_uuid "$S" "$1")
  t=$(up)
  clog=/var/log/xen/console/guest-$2.log
  clog_at=$(cat $clog 2>/dev/null | wc -l)  # the console lines of earlier boots
  r=$(xe vm-start uuid="$1" 2>&1) || { fail "xe vm-start $2: $r"; return 1; }
  HD=$(x VM.get_domid "$S" "$hvm")
  echo "TIMING HVM $2: xe vm-start (domain $HD built, device model ready): $(elapsed "$t")s"
  expect "power_state of $2" "$(x VM.get_power_state "$S" "$hvm")" Running
  restarts=0
  until [ "$(xenstore-read /local/domain/$HD/data/pci-done 2>/dev/null)" = 1 ]; do
    # a bound for a loaded machine, not a speed goal (about 30 s when idle)
    [ "$(elapsed "$t" | cut -d. -f1)" -lt 300 ] || break
    if ! has_domain "$HD"; then
      # the daemon restarts a guest that reset itself: wait for its operation to end
      i=0
      while [ "$(x VM.get_current_operations "$S" "$hvm")" != "" ] && [ $i -lt 120 ]; do
        i=$((i + 1)); sleep 1
      done
      nd=$(x VM.get_domid "$S" "$hvm")
      echo "NOTE: domain $HD of $2 went away before its guest reported; the VM is now" \
        "$(x VM.get_power_state "$S" "$hvm") with domain $nd; Xen and the daemon said:"
      xl dmesg | grep -aiE "d$HD\b|domain $HD\b|crash" | tail -8 | sed 's/^/NOTE: xl dmesg | /'
      grep -a "domain $HD\b" $D/daemon.log | tail -5 | sed 's/^/NOTE: daemon | /'
      this_boot | tr -d '\r' | tail -5 | sed 's/^/NOTE: console | /'
      if [ $restarts -lt 1 ] && [ "$nd" != "$HD" ] && [ "${nd:--1}" -gt 0 ] && has_domain "$nd"; then
        restarts=$((restarts + 1)) HD=$nd
        clog_at=$(cat $clog 2>/dev/null | wc -l)
        continue
      fi
      fail "domain $HD of $2 went away"; break
    fi
    sleep 2
  done
  echo "TIMING HVM $2: start to the guest's PCI list in xenstore: $(elapsed "$t")s"
  INV=$(xenstore-read /local/domain/$HD/data/pci 2>/dev/null)
  this_boot | grep -a 'GUEST-' | tr -d '\r' | sed "s/^/  console $2 | /" | tail -14
  if [ -z "$INV" ]; then
    fail "the HVM guest $2 reported no PCI list"
    echo "  its console:"; this_boot | tail -20 | sed 's/^/  | /'
    echo "  its device model's log:"; tail -20 /run/xenapid/dm/$HD.log 2>/dev/null | sed 's/^/  | /'
    xl dmesg | tail -20 | sed 's/^/  xl dmesg | /'
  fi
}
golden_pci() { paste -sd, "/golden/$1.pci"; }  # the golden list, joined as the guest joins it

if [ ! -e $HK ]; then
  # only with make test-xen XEN_HVM=0: said as a skip, not counted as a pass
  echo "SKIPPED steps 7-9 (real HVM guests): no $HK (make test-xen XEN_HVM=0 leaves it out)"
  finish
fi
step "step 7: no fake Running: an HVM start without its device model fails"
HV1=$(hvm_create xenapid-hvm-vendor true)
HVM1=$(x VM.get_by_uuid "$S" "$HV1")
before_hvm=$(domids)
mv $DMBIN $DMBIN.aside
r=$(x VM.start "$S" "$HVM1" b:false b:false)
mv $DMBIN.aside $DMBIN
case "$r" in "FAILURE DEVICE_MODEL_FAILED "*) pass "VM.start fails: $r" ;; *) fail "VM.start without a device model: $r" ;; esac
expect "power_state" "$(x VM.get_power_state "$S" "$HVM1")" Halted
expect "no domain was left (xl list)" "$(domids)" "$before_hvm"
step_done

step "step 8: HVM guests see their platform version's PCI devices"
hvm_inventory "$HV1" xenapid-hvm-vendor; INV1=$INV
echo "PCI inventory with the vendor device: $INV1"
V1=$(x VM.get_hardware_platform_version "$S" "$HVM1")
expect "hardware_platform_version of the VM with the vendor device" "$V1" 1
case ",$INV1," in *",00:04.0 5853:c000,"*) pass "with has_vendor_device the guest sees 5853:c000 (at 00:04.0)" ;;
  *) fail "with has_vendor_device the guest does not see 5853:c000 at 00:04.0: '$INV1'" ;; esac
expect "its PCI bus is the golden list of version $V1 with the vendor device (v$V1-hvm-vendor.pci)" \
  "$INV1" "$(golden_pci v$V1-hvm-vendor)"
r=$(x VM.hard_shutdown "$S" "$HVM1" 2>&1) || fail "VM.hard_shutdown: $r"
HV0=$(hvm_create xenapid-hvm-plain false)
HVM0=$(x VM.get_by_uuid "$S" "$HV0")
hvm_inventory "$HV0" xenapid-hvm-plain; INV0=$INV
echo "PCI inventory without the vendor device: $INV0"
V0=$(x VM.get_hardware_platform_version "$S" "$HVM0")
case ",$INV0," in *" 5853:c000,"*) fail "without has_vendor_device the guest sees 5853:c000: '$INV0'" ;;
  *" 5853:0001,"*) pass "without has_vendor_device the guest sees no 5853:c000 (and the platform device 5853:0001)" ;;
  *) fail "without has_vendor_device: not even the platform device 5853:0001: '$INV0'" ;; esac
expect "its PCI bus is the golden list of its version $V0 (v$V0-hvm.pci)" "$INV0" "$(golden_pci v$V0-hvm)"
r=$(x VM.hard_shutdown "$S" "$HVM0" 2>&1) || fail "VM.hard_shutdown: $r"
step_done

step "step 9: the registry gains version 2, the daemon restarts: the same VM sees the same devices"
stop_daemon
# the upgrade test's registry (tests/golden/platform/registry-upgrade.xml): versions
# 0 and 1 as shipped, and a version 2 with other hardware
if ! start_daemon --platform-registry=/golden/registry-upgrade.xml --virtual-hardware-platform-versions=0,1,2; then
  fail "the daemon restarts with a registry offering version 2"; finish
fi
H=$(x host.get_all "$S")
expect "host.virtual_hardware_platform_versions" "$(x host.get_record "$S" "$H" | field virtual_hardware_platform_versions)" "0; 1; 2"
hvm_inventory "$HV1" xenapid-hvm-vendor; INV1B=$INV
echo "PCI inventory after the upgrade: $INV1B"
expect "the VM of version 1 sees the same PCI devices as before the upgrade" "$INV1B" "$INV1"
expect "and keeps version 1" "$(x VM.get_hardware_platform_version "$S" "$HVM1")" 1
r=$(x VM.hard_shutdown "$S" "$HVM1" 2>&1) || fail "VM.hard_shutdown: $r"
expect "the domains left are the ones before the HVM guests" "$(domids)" "$before_hvm"
step_done

finish
