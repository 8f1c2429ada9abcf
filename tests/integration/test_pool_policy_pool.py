"""The pool's platform policy on a three-host simulated pool (issue 13 on issue 11's
pool): pool.get_common_platform_versions and the pool's capabilities as members come,
go and differ (one member running as software that predates the platform version,
platform-version-aware = false, keeps the [0] the master gave it); the default and the
maximum applied to VMs placed on members; a metadata import refused on a pool whose
live hosts lack the VM's version, naming each host's versions, and accepted once a
host that offers it is live."""

import http.client
import os
import shutil
import tempfile
import time
import xml.etree.ElementTree as ET

from harness import ROOT
from pool_fixture import PoolTest, wait_member
from support import hvm_vm, wait_until


class PoolPolicy(PoolTest):
    def pool(self, *options):
        hosts = self.make_pool(len(options), options=dict(enumerate(options)))
        self.hosts = hosts
        self.x = self.login(hosts[0])
        self.by_addr = self.hosts_by_address(self.x)
        return hosts

    def common(self):
        return self.x.pool.get_common_platform_versions()

    def offered(self):
        doc = ET.fromstring(self.x.pool.get_platform_capabilities())
        return {v.get("number"): v.get("offered") for v in doc.findall("version")}

    def test_common_versions_as_members_differ_come_and_go(self):
        m, a, b = self.pool({}, {}, {"platform_version_aware": "false"})
        x = self.x
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(self.by_addr["127.0.0.3"]), ["0"])
        self.assertEqual(self.common(), ["0"])
        self.assertEqual(self.offered(), {"0": "yes", "1": "no"})
        # the old member goes away: what is left has 0 and 1 in common
        b.kill9()
        metrics = x.host.get_metrics(self.by_addr["127.0.0.3"])
        wait_until(lambda: not x.host_metrics.get_live(metrics), timeout=6, what="the member not live")
        self.assertEqual(self.common(), ["0", "1"])
        self.assertEqual(self.offered(), {"0": "yes", "1": "yes"})
        b.start()
        wait_member(b)
        wait_until(lambda: x.host_metrics.get_live(metrics), timeout=6, what="the member live again")
        self.assertEqual(self.common(), ["0"])
        # a disabled host does not count either
        x.host.disable(self.by_addr["127.0.0.3"])
        self.assertEqual(self.common(), ["0", "1"])
        x.host.enable(self.by_addr["127.0.0.3"])
        self.assertEqual(self.common(), ["0"])

    def test_vm_capabilities_on_a_member_come_from_the_member(self):
        """VM.get_platform_capabilities(vm, member) is the member's answer, from its own
        registry (here its version 1 allows more video RAM than the master's) and the
        versions it offers; through a member's socket too; a dead member cannot answer."""
        with open(os.path.join(ROOT, "etc", "platform.xml")) as f:
            shipped = f.read()
        setting = '<setting key="videoram" type="int" min="1" max="16" default="8"/>'
        self.assertEqual(shipped.count(setting), 2, "versions 0 and 1 each have the setting")
        at = shipped.rindex(setting)  # version 1's
        own = shipped[:at] + setting.replace('max="16"', 'max="32"') + shipped[at + len(setting):]
        d = tempfile.mkdtemp(prefix="xa-reg-")
        self.addCleanup(shutil.rmtree, d, True)
        registry = os.path.join(d, "platform.xml")
        with open(registry, "w") as f:
            f.write(own)
        self.pool({}, {"platform_registry": registry}, {"virtual_hardware_platform_versions": "0"})
        x = self.x
        master, member, old = (self.by_addr["127.0.0.%d" % i] for i in (1, 2, 3))
        vm = hvm_vm(x, "caps", has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")

        def caps(conn, host):
            return ET.fromstring(conn.VM.get_platform_capabilities(vm, host).encode())

        def videoram_max(doc):
            found = [e.get("max") for e in doc.iter() if e.get("key") == "videoram" or e.get("name") == "videoram"]
            self.assertTrue(found, ET.tostring(doc))
            return found[0]

        here, there, refused = caps(x, master), caps(x, member), caps(x, old)
        self.assertEqual([d.get("host") for d in (here, there, refused)],
                         [x.host.get_uuid(h) for h in (master, member, old)])
        self.assertEqual((here.get("runnable"), there.get("runnable"), refused.get("runnable")), ("yes", "yes", "no"))
        self.assertEqual((videoram_max(here.find("version")), videoram_max(there.find("version"))), ("16", "32"))
        self.assertTrue(refused.find("refusal").text.startswith(
            "VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION"), ET.tostring(refused))
        # asked through a member's own socket: the same answer
        xm = self.on_member_unix(self.hosts[1])
        self.assertEqual(ET.tostring(caps(xm, member)), ET.tostring(there))
        # a member that is gone cannot say
        self.hosts[1].kill9()
        self.assertFailure(["CANNOT_CONTACT_HOST", member], x.VM.get_platform_capabilities, vm, member)

    def test_maximum_and_default_hold_for_the_whole_pool(self):
        self.pool({}, {})
        x = self.x
        pool = x.pool.get_all()[0]
        x.pool.set_default_hardware_platform_version(pool, "1")
        vm = hvm_vm(x)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        x.VM.start_on(vm, self.by_addr["127.0.0.2"], False, False)
        self.assertEqual(x.VM.get_resident_on(vm), self.by_addr["127.0.0.2"])
        # a VM on a member counts as any other
        self.assertFailure(["POOL_MAXIMUM_HARDWARE_PLATFORM_VERSION_BELOW_VM", vm, "1", "0"],
                           x.pool.set_max_hardware_platform_version, pool, "0")
        x.VM.hard_shutdown(vm)
        x.VM.destroy(vm)
        self.assertFailure(["POOL_DEFAULT_HARDWARE_PLATFORM_VERSION_ABOVE_MAXIMUM", "1", "0"],
                           x.pool.set_max_hardware_platform_version, pool, "0")
        x.pool.set_default_hardware_platform_version(pool, "0")
        x.pool.set_max_hardware_platform_version(pool, "0")
        # through a member too
        xm = self.on_member_unix(self.hosts[1])
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", "m", "1", "0"],
                           lambda: hvm_vm(xm, "m", has_vendor_device=True))

    def export_v1(self, master):
        """A v1 VM's metadata, exported from a standalone host (its own pool)."""
        d = self.start_daemon()
        s = d.session()
        self.sessions.append(s)
        vm = hvm_vm(s.xenapi, "v1", has_vendor_device=True)
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        c.request("GET", "/export_metadata?session_id=%s&ref=%s" % (s._session, vm))
        r = c.getresponse()
        data = r.read()
        self.assertEqual(r.status, 200)
        return data, s.xenapi.VM.get_uuid(vm)

    def put(self, master, data):
        s = master.session()
        self.sessions.append(s)
        c = http.client.HTTPSConnection(master.address, master.https_port, timeout=60,
                                        context=master.ssl_context())
        c.request("PUT", "/import_metadata?session_id=%s" % s._session, body=data)
        r = c.getresponse()
        return r.status, r.read()

    def test_import_refused_until_a_live_host_offers_the_version(self):
        m, a, b = self.pool({"virtual_hardware_platform_versions": "0"}, {"virtual_hardware_platform_versions": "0"},
                            {})
        x = self.x
        data, uuid = self.export_v1(m)
        # the one host offering 1 is away
        b.kill9()
        metrics = x.host.get_metrics(self.by_addr["127.0.0.3"])
        wait_until(lambda: not x.host_metrics.get_live(metrics), timeout=6, what="the member not live")
        status, body = self.put(m, data)
        self.assertEqual(status, 409, body)
        code, vm, version, hosts = __import__("json").loads(body)
        self.assertEqual((code, vm, version), ("IMPORT_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", uuid, "1"))
        want = sorted("%s [0]" % x.host.get_uuid(self.by_addr[a_]) for a_ in ("127.0.0.1", "127.0.0.2"))
        self.assertEqual(sorted(hosts.split(", ")), want)
        self.assertEqual(x.VM.get_by_name_label("v1"), [])
        b.start()
        wait_member(b)
        wait_until(lambda: x.host_metrics.get_live(metrics), timeout=6, what="the member live again")
        status, body = self.put(m, data)
        self.assertEqual(status, 200, body)
        vm = x.VM.get_by_name_label("v1")[0]
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
