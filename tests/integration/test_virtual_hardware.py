"""The virtual hardware over XenAPI.py, the stock xenstore tools and xe: pinned at the
first start (VM.virtual_hardware) and reused, so that an edited registry changes only
VMs that never started; the upgrade (a registry gaining version 2, the daemon
restarted: every VM of versions 0 and 1 gets byte for byte the argv, xenstore tree
and hardware document it had, a new VM of version 2 the new hardware);
VM.get_virtual_hardware; VM.get_platform_capabilities; xapi's platform keys checked
against the VM's version; xe vm-virtual-hardware and param virtual-hardware."""

import os
import re
import tempfile
import unittest
import xml.etree.ElementTree as ET

from support import ROOT, DaemonTest, guest_domids, hvm_vm, pv_vm, sim_dm_argv

SHIPPED = os.path.join(ROOT, "etc", "platform.xml")
UPGRADE = os.path.join(ROOT, "tests", "golden", "platform", "registry-upgrade.xml")


def normal_argv(argv, domid):
    """The argv with the domain's id (-xen-domid, the QMP socket, the VNC display)
    written D: the rest must not change from one start to the next."""
    d = str(domid)
    out = []
    for a in argv:
        if a == d:
            a = "D"
        a = a.replace("qmp-xenapid-%s," % d, "qmp-xenapid-D,").replace("127.0.0.1:%s," % d, "127.0.0.1:D,")
        out.append(a)
    return out


# the nodes that name the domain or its rings, which change from one start to the next
VOLATILE = re.compile(r"^/local/domain/D/(domid|store/port|store/ring-ref|console/port|console/ring-ref) = ")


def tree(d, domid, uuid):
    """The domain's xenstore tree as the stock xenstore-ls -f prints it, the domid
    written D and the nodes that name its rings left out."""
    lines = []
    for root in ("/local/domain/%s" % domid, "/vm/%s" % uuid):
        out = d.xenstore("ls", "-f", root).stdout
        for ln in out.splitlines():
            ln = ln.replace("/local/domain/%s/" % domid, "/local/domain/D/")
            if not VOLATILE.match(ln):
                lines.append(ln)
    return "\n".join(lines)


class VirtualHardwareTest(DaemonTest):
    def restart(self, d, **options):
        d.restart(**options)
        return self.login(d)

    def given(self, x, d, vm):
        """Start vm; what it was given (argv, tree, hardware document); shut it down."""
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        uuid = x.VM.get_uuid(vm)
        got = (normal_argv(sim_dm_argv(d, domid), domid), tree(d, domid, uuid), x.VM.get_virtual_hardware(vm))
        x.VM.hard_shutdown(vm)
        return got

    def edited_registry(self):
        """The shipped registry with version 1's VGA memory default 9 and its vendor
        device at 00:06.0: an edit no booted guest may see."""
        with open(SHIPPED) as f:
            s = f.read()
        v1 = s.index('<version number="1"')
        head, tail = s[:v1], s[v1:]
        tail = tail.replace('key="videoram" type="int" min="1" max="16" default="8"',
                            'key="videoram" type="int" min="1" max="16" default="9"', 1)
        tail = tail.replace('slot="00:04.0"', 'slot="00:06.0"', 1)
        fd, path = tempfile.mkstemp(prefix="xa-hw-", suffix=".xml", dir="/tmp")
        with os.fdopen(fd, "w") as f:
            f.write(head + tail)
        self.addCleanup(os.unlink, path)
        return path


class Pinning(VirtualHardwareTest):
    def test_pinned_at_first_start(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "win", has_vendor_device=True)
        self.assertEqual(x.VM.get_virtual_hardware(vm).count('pinned="no"'), 1)
        self.assertEqual(x.VM.get_record(vm)["virtual_hardware"], "")
        before = x.VM.get_virtual_hardware(vm)
        x.VM.start(vm, False, False)
        pin = x.VM.get_record(vm)["virtual_hardware"]
        root = ET.fromstring(pin.encode())
        self.assertEqual((root.tag, root.get("version"), root.get("pinned")), ("virtualHardware", "1", "yes"))
        self.assertEqual(root.find("machine").get("type"), "xenfv-3.1")
        # the entry it was given, kept whole for the next starts
        self.assertEqual(root.find("version").get("number"), "1")
        self.assertEqual(root.find("version/machine").get("type"), "xenfv-3.1")
        after = x.VM.get_virtual_hardware(vm)
        self.assertEqual(after, pin)
        self.assertEqual(after, before.replace('pinned="no"', 'pinned="yes"'))
        hw = ET.fromstring(after.encode())
        devs = {e.get("name"): e for e in hw.findall("devices/device")}
        self.assertEqual((devs["xen-pvdevice"].get("slot"), devs["xen-pvdevice"].get("pci-id")),
                         ("00:04.0", "5853:c000"))
        self.assertEqual(devs["xen-platform"].get("pci-id"), "5853:0001")
        # the build used the same description
        argv = sim_dm_argv(d, x.VM.get_domid(vm))
        self.assertEqual(argv[argv.index("-machine") + 1], "xenfv-3.1")
        self.assertIn("xen-pvdevice,device-id=0xc000,addr=0x4", argv)
        self.assertIn("VGA,vgamem_mb=8,addr=0x3", argv)
        # read-only over the API
        with self.assertRaises(Exception):
            x.VM.set_virtual_hardware(vm, "")
        # a reboot keeps the pin
        x.VM.hard_reboot(vm)
        self.assertEqual(x.VM.get_record(vm)["virtual_hardware"], pin)
        # a copy has the same hardware: its disks hold a guest that saw it
        x.VM.hard_shutdown(vm)
        copy = x.VM.clone(vm, "win-copy")
        self.assertEqual(x.VM.get_record(copy)["virtual_hardware"], pin)

    def test_a_registry_edit_changes_only_vms_that_never_started(self):
        d = self.start_daemon()
        x = self.login(d)
        booted = hvm_vm(x, "booted", has_vendor_device=True)
        fresh = hvm_vm(x, "fresh", has_vendor_device=True)
        first = self.given(x, d, booted)
        x = self.restart(d, platform_registry=self.edited_registry())
        self.assertEqual(self.given(x, d, booted), first)
        argv, _, hw = self.given(x, d, fresh)
        self.assertIn("VGA,vgamem_mb=9,addr=0x3", argv)
        self.assertIn("xen-pvdevice,device-id=0xc000,addr=0x6", argv)
        self.assertIn('slot="00:06.0"', hw)
        # and from then on the fresh VM keeps what it got
        x = self.restart(d, platform_registry=SHIPPED)
        self.assertEqual(self.given(x, d, fresh)[0], argv)

    def test_a_raised_version_is_repinned(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "raised")
        self.given(x, d, vm)
        self.assertIn('<version number="0">', x.VM.get_record(vm)["virtual_hardware"])
        x.VM.set_has_vendor_device(vm, True)
        self.assertIn('version="1"', x.VM.get_virtual_hardware(vm))
        argv, _, _ = self.given(x, d, vm)
        self.assertIn("xen-pvdevice,device-id=0xc000,addr=0x4", argv)
        self.assertIn('<version number="1">', x.VM.get_record(vm)["virtual_hardware"])


class Upgrade(VirtualHardwareTest):
    def test_version_2_added_and_the_daemon_restarted(self):
        d = self.start_daemon()
        x = self.login(d)
        vms = {
            "pv0": pv_vm(x, "pv0"),
            "hvm0": hvm_vm(x, "hvm0"),
            "keys0": hvm_vm(x, "keys0", platform={"vga": "cirrus", "videoram": "16", "viridian": "true",
                                                   "nic_type": "e1000", "timeoffset": "3600"}),
            "vendor1": hvm_vm(x, "vendor1", has_vendor_device=True),
            "keys1": hvm_vm(x, "keys1", has_vendor_device=True, platform={"hpet": "false"}),
        }
        never = hvm_vm(x, "never-started", has_vendor_device=True)
        before = {n: self.given(x, d, vm) for n, vm in vms.items()}
        never_hw = x.VM.get_virtual_hardware(never)
        self.assertEqual(x.VM.get_hardware_platform_version(vms["vendor1"]), "1")

        x = self.restart(d, platform_registry=UPGRADE, virtual_hardware_platform_versions="0,1,2")
        host = x.host.get_all()[0]
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0", "1", "2"])
        for n, vm in vms.items():
            self.assertEqual(self.given(x, d, vm), before[n], n)
        # a VM of version 1 that never started gets what version 1 gave before too
        self.assertEqual(x.VM.get_virtual_hardware(never), never_hw)

        new = hvm_vm(x, "new", has_vendor_device=True, hardware_platform_version="2")
        argv, _, hw = self.given(x, d, new)
        old_argv = before["vendor1"][0]
        self.assertEqual(argv[argv.index("-machine") + 1], "xenfv-4.2")
        self.assertEqual(old_argv[old_argv.index("-machine") + 1], "xenfv-3.1")
        self.assertIn("xen-pvdevice,device-id=0xc000,addr=0xd", argv)
        self.assertIn("usb-tablet", argv)
        self.assertNotIn("usb-tablet", old_argv)
        root = ET.fromstring(hw.encode())
        nic = [e for e in root.findall("devices/device") if e.get("name") == "nic"][0]
        self.assertEqual(nic.get("model"), "e1000")
        self.assertEqual(root.get("version"), "2")
        self.assertEqual(guest_domids(d), [])


class PlatformKeys(VirtualHardwareTest):
    def test_checked_against_the_version(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        for key, value in (("nic_type", "virtio"), ("videoram", "64"), ("device_id", "0002"), ("vga", "qxl"),
                           ("viridian", "perhaps")):
            vm = hvm_vm(x, "bad-" + key, platform={key: value})
            expected = ["INVALID_VALUE", "platform:" + key, value]
            self.assertFailure(expected, x.VM.start, vm, False, False)
            self.assertFailure(expected, x.VM.get_virtual_hardware, vm)
            self.assertPowerState(x, vm, "Halted")
            self.assertEqual(x.VM.get_record(vm)["virtual_hardware"], "")
        self.assertEqual(guest_domids(d), [])
        # version 2 of the upgrade registry offers virtio
        x = self.restart(d, platform_registry=UPGRADE, virtual_hardware_platform_versions="0,1,2")
        vm = hvm_vm(x, "virtio", hardware_platform_version="2", platform={"nic_type": "virtio"})
        self.assertIn('model="virtio-net-pci"', x.VM.get_virtual_hardware(vm))
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        del host


class Capabilities(VirtualHardwareTest):
    def test_what_a_vm_would_get_on_the_host(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "caps", has_vendor_device=True)
        root = ET.fromstring(x.VM.get_platform_capabilities(vm, host).encode())
        self.assertEqual(root.tag, "vmPlatformCapabilities")
        self.assertEqual((root.get("vm"), root.get("host")), (x.VM.get_uuid(vm), x.host.get_uuid(host)))
        self.assertEqual((root.get("runnable"), root.get("pinned")), ("yes", "no"))
        self.assertIsNone(root.find("refusal"))
        self.assertEqual(root.find("version").get("number"), "1")
        self.assertEqual(ET.tostring(root.find("virtualHardware")).strip(),
                         ET.tostring(ET.fromstring(x.VM.get_virtual_hardware(vm).encode())).strip())
        x = self.restart(d, virtual_hardware_platform_versions="0")
        root = ET.fromstring(x.VM.get_platform_capabilities(vm, host).encode())
        self.assertEqual(root.get("runnable"), "no")
        self.assertTrue(root.find("refusal").text.startswith(
            "VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION"))
        self.assertEqual(root.find("version").get("offered"), "no")
        self.assertFailure(["HANDLE_INVALID", "host", "OpaqueRef:NULL"], x.VM.get_platform_capabilities, vm,
                           "OpaqueRef:NULL")

    def test_host_capabilities_enums_and_tristate(self):
        d = self.start_daemon(platform_registry=UPGRADE, virtual_hardware_platform_versions="0,1,2")
        x = self.login(d)
        host = x.host.get_all()[0]
        root = ET.fromstring(x.host.get_platform_capabilities(host).encode())
        v = {e.get("number"): e for e in root.findall("version")}
        self.assertEqual(v["1"].find("machine").get("type"), "xenfv-3.1")
        self.assertEqual(v["2"].find("machine").get("type"), "xenfv-4.2")
        nics = {n: [e.text for e in v[n].findall("devices/device[@name='nic']/enum/value")] for n in v}
        self.assertEqual(nics, {"0": ["rtl8139", "e1000"], "1": ["rtl8139", "e1000"],
                                "2": ["rtl8139", "e1000", "virtio"]})
        tablet = {n: v[n].find("devices/device[@name='usb-tablet']").get("supported") for n in v}
        self.assertEqual(tablet, {"0": "no", "1": "no", "2": "yes"})
        # a feature the registry does not list is unknown: absent
        self.assertIsNone(v["0"].find("features/feature[@name='usb-tablet']"))
        self.assertEqual(v["2"].find("features/feature[@name='usb-tablet']").get("supported"), "yes")


class Xe(VirtualHardwareTest):
    def test_vm_virtual_hardware_and_the_param(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "xe-hw", has_vendor_device=True)
        uuid = x.VM.get_uuid(vm)
        r = d.xe("vm-virtual-hardware", "uuid=" + uuid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, x.VM.get_virtual_hardware(vm))
        x.VM.start(vm, False, False)
        r = d.xe("vm-param-get", "uuid=" + uuid, "param-name=virtual-hardware")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.rstrip("\n"), x.VM.get_record(vm)["virtual_hardware"].rstrip("\n"))


if __name__ == "__main__":
    unittest.main()
