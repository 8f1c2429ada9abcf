"""VM metadata export and import in xapi's format (issue 13): GET /export_metadata and
PUT /import_metadata with xapi's parameters (session_id, task_id, uuid/ref, dry_run,
force) driven with curl and http.client; xe vm-export/vm-import metadata=true; the
round trip keeping every field, the platform version, the vendor device and the
pinned hardware; an export made by xapi (tests/integration/data/xapi-ova.xml) imported;
the refusals (no live host offers the version, above the pool maximum) with their
declared errors; dry_run; and hostile archives, each refused with a clear error and
changing nothing."""

import http.client
import io
import json
import os
import pty
import subprocess
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
import xmlrpc.client

from support import DaemonTest, ROOT, hvm_vm, pv_vm, raw_exchange, status_of
from test_platform_version import XAPI_REGISTRY, write_registry

FIXTURE = os.path.join(ROOT, "tests", "integration", "data", "xapi-ova.xml")
FIXTURE_UUID = "3a5d2f4e-8c1b-4d7a-9e6f-0b1c2d3e4f50"


def tar_of(members):
    """A tar (as xapi writes: ustar) of (name, bytes[, type]) members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for m in members:
            name, data = m[0], m[1]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o400
            if len(m) > 2:
                info.type = m[2]
                info.linkname = "elsewhere"
                info.size = 0
                data = b""
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def ova_of(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        names = t.getnames()
        return names, t.extractfile("ova.xml").read()


def rpc_value(xml_text):
    """An XML-RPC <value> document as Python values, with Python's own parser."""
    params, _ = xmlrpc.client.loads("<methodResponse><params><param>%s</param></params></methodResponse>"
                                    % xml_text)
    return params[0]


class MetadataCase(DaemonTest):
    daemon_options = {}

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(**self.daemon_options)
        self.sess = self.d.session()
        self.sessions.append(self.sess)
        self.x = self.sess.xenapi
        self.ref = self.sess._session

    def http(self, method, path, body=None, **query):
        query.setdefault("session_id", self.ref)
        q = "&".join("%s=%s" % kv for kv in query.items() if kv[1] is not None)
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=60)
        c.request(method, path + "?" + q, body=body)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def export(self, vm, **query):
        status, headers, data = self.http("GET", "/export_metadata", uuid=self.x.VM.get_uuid(vm), **query)
        self.assertEqual(status, 200, data)
        return data

    def vms(self):
        return sorted(r["uuid"] for r in self.x.VM.get_all_records().values() if not r["is_control_domain"])

    def import_ok(self, data, **query):
        status, headers, body = self.http("PUT", "/import_metadata", data, **query)
        self.assertEqual(status, 200, body)
        task = headers["task-id"]
        self.assertEqual(self.x.task.get_status(task), "success")
        return rpc_value(self.x.task.get_result(task)), body.decode()

    def import_refused(self, data, expected, status=None, **query):
        """The import fails with expected ([CODE, params...]) in the answer and the
        task, and no VM is made or changed."""
        before = self.x.VM.get_all_records()
        st, headers, body = self.http("PUT", "/import_metadata", data, **query)
        if status:
            self.assertEqual(st, status, body)
        self.assertNotEqual(st, 200)
        got = json.loads(body)
        self.assertEqual(got[:len(expected)], expected, got)
        if "task-id" in headers:
            task = headers["task-id"]
            self.assertEqual(self.x.task.get_status(task), "failure")
            self.assertEqual(self.x.task.get_error_info(task), got)
        self.assertEqual(self.x.VM.get_all_records(), before)
        return got

    def fixture(self, **changes):
        text = open(FIXTURE).read()
        for old, new in changes.items():
            text = text.replace(old, new)
        return tar_of([("ova.xml", text.encode())])


class Export(MetadataCase):
    def test_a_tar_with_ova_xml_as_xapi_writes_it(self):
        x = self.x
        vm = hvm_vm(x, "exported", has_vendor_device=True, tags=["a"])
        status, headers, data = self.http("GET", "/export_metadata", uuid=x.VM.get_uuid(vm))
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/octet-stream")
        self.assertIn("export.xva", headers["content-disposition"])
        self.assertEqual(x.task.get_status(headers["task-id"]), "success")
        names, ova = ova_of(data)
        self.assertEqual(names, ["ova.xml"])
        self.assertTrue(ova.startswith(b"<value><struct>"), ova[:40])  # Xmlrpc.to_string: no declaration
        header = rpc_value(ova.decode())
        self.assertEqual(sorted(header), ["objects", "version"])
        self.assertEqual(sorted(header["version"]), ["build_number", "date", "export_vsn", "hostname",
                                                     "product_brand", "product_version", "xapi_major",
                                                     "xapi_minor"])
        self.assertEqual(header["version"]["export_vsn"], "2")
        objs = header["objects"]
        self.assertEqual([o["class"] for o in objs], ["VM", "VM_metrics"])
        self.assertEqual([o["id"] for o in objs], ["Ref:0", "Ref:1"])
        snap = objs[0]["snapshot"]
        self.assertEqual(snap["uuid"], x.VM.get_uuid(vm))
        self.assertEqual(snap["hardware_platform_version"], "1")
        self.assertEqual(snap["has_vendor_device"], True)
        self.assertEqual(snap["metrics"], "Ref:1")
        self.assertEqual(snap["guest_metrics"], "OpaqueRef:NULL")
        self.assertEqual(snap["allowed_operations"], [])
        # the fields xapi's importer needs and this datamodel lacks
        for f in ("VBDs", "VIFs", "consoles", "suspend_VDI", "version", "ha_restart_priority", "children"):
            self.assertIn(f, snap)

    def test_a_resident_vm_brings_its_host(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        objs = rpc_value(ova_of(self.export(vm))[1].decode())["objects"]
        self.assertEqual([o["class"] for o in objs], ["host", "VM", "VM_metrics"])
        host = objs[0]["snapshot"]
        self.assertEqual(host["uuid"], x.host.get_uuid(x.host.get_all()[0]))
        self.assertEqual(host["resident_VMs"], ["Ref:0"])
        self.assertEqual(host["metrics"], "OpaqueRef:NULL")
        self.assertEqual(objs[1]["snapshot"]["resident_on"], objs[0]["id"])
        self.assertEqual(objs[1]["snapshot"]["power_state"], "Running")

    def test_by_ref_and_with_the_clients_task(self):
        x = self.x
        vm = hvm_vm(x)
        task = x.task.create("mine", "")
        status, headers, data = self.http("GET", "/export_metadata", ref=vm, task_id=task)
        self.assertEqual(status, 200)
        self.assertEqual(headers["task-id"], task)
        self.assertEqual(x.task.get_status(task), "success")

    def test_refusals(self):
        x = self.x
        vm = hvm_vm(x)
        st, _, body = self.http("GET", "/export_metadata", uuid=x.VM.get_uuid(vm), session_id="OpaqueRef:bad")
        self.assertEqual((st, json.loads(body)), (403, ["SESSION_INVALID", "OpaqueRef:bad"]))
        st, _, body = self.http("GET", "/export_metadata", uuid="00000000-0000-0000-0000-000000000000")
        self.assertEqual((st, json.loads(body)), (404, ["UUID_INVALID", "VM", "00000000-0000-0000-0000-000000000000"]))
        st, _, body = self.http("GET", "/export_metadata", ref="OpaqueRef:nope")
        self.assertEqual((st, json.loads(body)), (404, ["HANDLE_INVALID", "VM", "OpaqueRef:nope"]))
        st, _, body = self.http("GET", "/export_metadata")
        self.assertEqual((st, json.loads(body)), (400, ["INVALID_VALUE", "uuid", ""]))

    def test_curl_over_https(self):
        vm = hvm_vm(self.x, "curled")
        out = os.path.join(self.d.dir, "curl.xva")
        url = "%sexport_metadata?session_id=%s&uuid=%s" % (self.d.https_url, self.ref, self.x.VM.get_uuid(vm))
        r = subprocess.run(["curl", "-s", "-S", "-f", "--cacert", self.d.certificate, "-o", out, url],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            names, ova = ova_of(f.read())
        self.assertIn(b"<name>name_label</name><value>curled</value>", ova)


class Curl(MetadataCase):
    """The import as a shell user does it: curl -T (a PUT) over HTTPS."""

    def curl_put(self, path, query):
        url = "%simport_metadata?session_id=%s%s" % (self.d.https_url, self.ref, query)
        r = subprocess.run(["curl", "-s", "-S", "--cacert", self.d.certificate, "-T", path, "-w", "\n%{http_code}",
                            url], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body

    def test_dry_run_refusal_and_import(self):
        x = self.x
        vm = hvm_vm(x, "by-curl", has_vendor_device=True)
        uuid = x.VM.get_uuid(vm)
        path = os.path.join(self.d.dir, "curl.xva")
        with open(path, "wb") as f:
            f.write(self.export(vm))
        code, body = self.curl_put(path, "&dry_run=true")
        self.assertEqual(code, 200)
        self.assertIn("would import VM - (by-curl)", body)
        x.pool.set_max_hardware_platform_version(x.pool.get_all()[0], "1")
        code, body = self.curl_put(path, "&force=true")
        self.assertEqual(code, 200)
        self.assertEqual(len(x.VM.get_by_name_label("by-curl")), 2)
        x.VM.destroy(vm)
        for other in x.VM.get_by_name_label("by-curl"):
            x.VM.destroy(other)
        x.pool.set_max_hardware_platform_version(x.pool.get_all()[0], "0")
        code, body = self.curl_put(path, "")
        self.assertEqual((code, json.loads(body)),
                         (409, ["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", uuid, "1", "0"]))
        self.assertEqual(x.VM.get_by_name_label("by-curl"), [])
        with open(path, "wb") as f:
            f.write(b"garbage" * 100)
        code, body = self.curl_put(path, "")
        self.assertEqual(code, 400)
        self.assertEqual(json.loads(body)[0], "IMPORT_ERROR")


class RoundTrip(MetadataCase):
    FIELDS = dict(name_description="kept", VCPUs_max="2", VCPUs_at_startup="2", tags=["x", "y"],
                  other_config={"k": "v", "amp": "a&b<c>"}, platform={"viridian": "true", "vga": "std"},
                  HVM_boot_params={"order": "cd"}, xenstore_data={"vm-data/a": "1"}, actions_after_crash="preserve",
                  reference_label="ref-label", user_version="3", HVM_shadow_multiplier=2.5,
                  NVRAM={"EFI-variables": "AAAA"}, blocked_operations={"clone": "because"})

    def compared(self, rec):
        skip = {"uuid", "metrics", "allowed_operations", "current_operations", "domid", "power_state",
                "resident_on", "guest_metrics"}
        keep = {"hardware_platform_version", "has_vendor_device", "virtual_hardware",
                "pending_hardware_platform_version"}
        dm = {f.get("name"): f.get("qualifier") for f in
              ET.parse(os.path.join(ROOT, "datamodel", "datamodel.xml")).getroot()
              .find("class[@name='VM']").findall("field")}
        return {k: v for k, v in rec.items()
                if k not in skip and (dm.get(k) != "DynamicRO" or k in keep)}

    def test_every_field_and_the_pinned_hardware(self):
        x = self.x
        vm = hvm_vm(x, "round", has_vendor_device=True, **self.FIELDS)
        x.VM.start(vm, False, False)  # pins the hardware (VM.virtual_hardware)
        x.VM.hard_shutdown(vm)
        before = x.VM.get_record(vm)
        self.assertIn("<machine", before["virtual_hardware"])
        refs, report = self.import_ok(self.export(vm))
        self.assertEqual(len(refs), 1)
        after = x.VM.get_record(refs[0])
        self.assertNotEqual(after["uuid"], before["uuid"])
        self.assertEqual(after["power_state"], "Halted")
        self.assertEqual(self.compared(after), self.compared(before))
        self.assertEqual(after["hardware_platform_version"], "1")
        self.assertTrue(after["has_vendor_device"])
        self.assertEqual(after["virtual_hardware"].encode(), before["virtual_hardware"].encode())
        self.assertIn("imported VM %s (round) from %s: hardware-platform-version 1" % (after["uuid"], before["uuid"]),
                      report)
        # the copy runs
        x.VM.start(refs[0], False, False)
        self.assertEqual(x.VM.get_power_state(refs[0]), "Running")

    def test_pending_upgrade_comes_along(self):
        x = self.x
        vm = pv_vm(x)
        x.VM.schedule_hardware_platform_upgrade(vm, "1")
        refs, _ = self.import_ok(self.export(vm))
        self.assertEqual(x.VM.get_pending_hardware_platform_version(refs[0]), "1")

    def test_dry_run_says_what_and_makes_nothing(self):
        x = self.x
        vm = hvm_vm(x, "dry")
        data = self.export(vm)
        before = self.vms()
        refs, report = self.import_ok(data, dry_run="true")
        self.assertEqual(refs, [])
        self.assertEqual(report, "would import VM - (dry) from %s: hardware-platform-version 0\n" % x.VM.get_uuid(vm))
        self.assertEqual(self.vms(), before)

    def test_xe_export_import(self):
        x = self.x
        vm = hvm_vm(x, "xe-trip", has_vendor_device=True)
        path = os.path.join(self.d.dir, "trip.xva")
        r = self.d.xe("vm-export", "vm=xe-trip", "filename=" + path, "metadata=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(ova_of(open(path, "rb").read())[0], ["ova.xml"])
        r = self.d.xe("vm-import", "filename=" + path, "metadata=true", "dry-run=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("would import VM - (xe-trip)", r.stdout)
        self.assertEqual(len(self.vms()), 1)
        r = self.d.xe("vm-import", "filename=" + path, "metadata=true")
        self.assertEqual(r.returncode, 0, r.stderr)
        new = r.stdout.strip()
        self.assertIn(new, self.vms())
        self.assertNotEqual(new, x.VM.get_uuid(vm))
        rec = x.VM.get_record(x.VM.get_by_uuid(new))
        self.assertEqual((rec["name_label"], rec["hardware_platform_version"], rec["has_vendor_device"]),
                         ("xe-trip", "1", True))
        # metadata only; and an unreadable file is the client's error
        r = self.d.xe("vm-export", "vm=xe-trip", "filename=" + path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("metadata=true", r.stderr)
        r = self.d.xe("vm-import", "filename=/nonexistent/file", "metadata=true")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Cannot read /nonexistent/file", r.stderr)

    def test_xe_shows_progress_on_a_terminal(self):
        x = self.x
        hvm_vm(x, "big", other_config={"blob": "z" * (300 << 10)})
        path = os.path.join(self.d.dir, "big.xva")
        for args in (("vm-export", "vm=big", "filename=" + path, "metadata=true"),
                     ("vm-import", "filename=" + path, "metadata=true")):
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(self.d.xe_command()[0], self.d.xe_command(*args))
            out = b""
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
            self.assertIn(b"] 100%", out)
        self.assertEqual(len([v for v in self.vms()]), 2)


class XapiExport(MetadataCase):
    """An export as xapi writes it (the fixture): xapi numbers the vendor device 2."""

    def test_refused_where_no_live_host_offers_its_version(self):
        host = self.x.host.get_all()[0]
        uuid = self.x.host.get_uuid(host)
        self.import_refused(self.fixture(), ["IMPORT_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", FIXTURE_UUID,
                                             "2", "%s [0; 1]" % uuid], status=409)
        # dry_run reports the same refusal
        self.import_refused(self.fixture(), ["IMPORT_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION"], dry_run="true")

    def test_force_imports_it_anyway(self):
        refs, report = self.import_ok(self.fixture(), force="true")
        self.assertIn("no live host offers it", report)
        self.assertEqual(self.x.VM.get_hardware_platform_version(refs[0]), "2")

    def test_a_version_0_export_imports(self):
        refs, _ = self.import_ok(self.fixture(**{
            "<name>hardware_platform_version</name><value>2</value>": "<name>hardware_platform_version</name><value>0</value>",
            "<name>has_vendor_device</name><value><boolean>1</boolean>": "<name>has_vendor_device</name><value><boolean>0</boolean>"}))
        rec = self.x.VM.get_record(refs[0])
        self.assertEqual(rec["hardware_platform_version"], "0")
        self.assertEqual(rec["name_label"], "win10-from-xapi")


class XapiExportOnXapiRegistry(MetadataCase):
    """The same export on hosts numbered as xapi numbers them (0, 1, 2)."""

    def setUp(self):
        self.registry = write_registry(XAPI_REGISTRY)
        self.daemon_options = {"platform_registry": self.registry, "virtual_hardware_platform_versions": "0,1,2"}
        super().setUp()
        self.addCleanup(os.unlink, self.registry)

    def test_every_field_it_shares_with_xapi(self):
        refs, _ = self.import_ok(self.fixture())
        rec = self.x.VM.get_record(refs[0])
        self.assertNotEqual(rec["uuid"], FIXTURE_UUID)
        want = {"name_label": "win10-from-xapi", "name_description": "exported by xapi 24.x", "power_state": "Halted",
                "memory_static_max": "4294967296", "memory_static_min": "1073741824", "VCPUs_max": "2",
                "VCPUs_at_startup": "2", "actions_after_crash": "restart", "HVM_boot_policy": "BIOS order",
                "HVM_boot_params": {"order": "dc"}, "tags": ["windows", "imported"], "hardware_platform_version": "2",
                "has_vendor_device": True, "reference_label": "windows-10-64bit", "domain_type": "hvm",
                "affinity": "OpaqueRef:NULL", "xenstore_data": {"vm-data": "", "vm-data/mmio-hole-size": "268435456"}}
        self.assertEqual({k: rec[k] for k in want}, want)
        self.assertEqual(rec["platform"]["device-model"], "qemu-upstream-compat")
        self.assertEqual(rec["other_config"]["base_template_name"], "Windows 10 (64-bit)")
        self.x.VM.start(refs[0], False, False)
        self.assertEqual(self.x.VM.get_power_state(refs[0]), "Running")


class PoolPolicy(MetadataCase):
    def test_refused_above_the_pool_maximum_even_forced(self):
        x = self.x
        vm = hvm_vm(x, has_vendor_device=True)
        data = self.export(vm)
        uuid = x.VM.get_uuid(vm)
        x.VM.destroy(vm)
        x.pool.set_max_hardware_platform_version(x.pool.get_all()[0], "0")
        for force in ("false", "true"):
            self.import_refused(data, ["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", uuid, "1", "0"],
                                status=409, force=force)

    def test_accepted_once_a_host_offers_the_version(self):
        x = self.x
        vm = hvm_vm(x, has_vendor_device=True)
        data = self.export(vm)
        uuid = x.VM.get_uuid(vm)
        self.close_sessions()
        self.d.restart(virtual_hardware_platform_versions="0")
        self.sess = self.d.session()
        self.sessions.append(self.sess)
        self.x, self.ref = self.sess.xenapi, self.sess._session
        host = self.x.host.get_all()[0]
        self.import_refused(data, ["IMPORT_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", uuid, "1",
                                   "%s [0]" % self.x.host.get_uuid(host)])
        # a host that is not enabled still counts as live for an import
        self.close_sessions()
        self.d.restart(virtual_hardware_platform_versions="0,1")
        self.sess = self.d.session()
        self.sessions.append(self.sess)
        self.x, self.ref = self.sess.xenapi, self.sess._session
        refs, _ = self.import_ok(data)
        self.assertEqual(self.x.VM.get_hardware_platform_version(refs[0]), "1")


class Hostile(MetadataCase):
    """Archives an import must refuse without changing anything."""

    def good_xml(self):
        return ova_of(self.export(hvm_vm(self.x, "src")))[1]

    def test_empty_and_truncated(self):
        self.import_refused(b"", ["IMPORT_ERROR_PREMATURE_EOF"], status=400)
        whole = tar_of([("ova.xml", self.good_xml())])
        for cut in (100, 512, 700, 512 + len(self.good_xml()) - 1):
            self.import_refused(whole[:cut], ["IMPORT_ERROR_PREMATURE_EOF"], status=400)

    def test_path_traversal_and_other_names(self):
        xml = self.good_xml()
        for name in ("../../etc/passwd", "/etc/ova.xml", "../ova.xml", "x/../ova.xml"):
            self.import_refused(tar_of([(name, xml)]), ["IMPORT_ERROR_UNEXPECTED_FILE", "ova.xml", name], status=400)
        self.import_refused(tar_of([("Ref:1/00000000", b"disk"), ("ova.xml", xml)]),
                            ["IMPORT_ERROR_UNEXPECTED_FILE", "ova.xml", "Ref:1/00000000"])
        self.import_refused(tar_of([("ova.xml", b"", tarfile.SYMTYPE)]),
                            ["IMPORT_ERROR", "ova.xml is not a regular file in the archive"])

    def test_huge_member(self):
        hdr = bytearray(tar_of([("ova.xml", b"x")])[:512])
        hdr[124:136] = b"%011o\0" % (4 << 30)  # 4 GiB
        hdr[148:156] = b"        "
        hdr[148:156] = b"%06o\0 " % sum(hdr)
        got = self.import_refused(bytes(hdr) + b"\0" * 1024, ["IMPORT_ERROR"], status=400)
        self.assertEqual(len(hdr), 512)
        self.assertIn("ova.xml is 4294967296 bytes, more than the 8388608 this server reads", got[1])
        # a body larger than any request the server takes never reaches the import
        req = ("PUT /import_metadata?session_id=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % (self.ref, 17 << 20)).encode()
        self.assertEqual(status_of(raw_exchange(self.d.port, req)), 413)

    def test_not_a_tar(self):
        got = self.import_refused(b"x" * 2048, ["IMPORT_ERROR"])
        self.assertIn("not a tar archive", got[1])
        got = self.import_refused(b"\x1f\x8b" + b"\0" * 2000, ["IMPORT_ERROR"])
        self.assertIn("gzip", got[1])
        got = self.import_refused(b"\0" * 1024, ["IMPORT_ERROR"])
        self.assertIn("empty", got[1])

    def test_wrong_xml(self):
        bad = {
            b"<value><struct><member>": "does not parse",
            b"not xml at all": "does not parse",
            b'<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><value>&b;</value>':
                "DTDs are not accepted",
            b"<value><array><data></data></array></value>": "its value is not a struct",
            b"<value><struct><member><name>objects</name><value><array><data/></array></value></member></struct></value>":
                "no version struct",
            b"<value><struct><member><name>version</name><value><struct></struct></value></member></struct></value>":
                "no objects array",
            b"<value><struct><member><name>version</name><value><struct></struct></value></member>"
            b"<member><name>objects</name><value><array><data><value>7</value></data></array></value></member>"
            b"</struct></value>": "object 0 is not a struct",
            b"<value><struct><member><name>version</name><value><struct></struct></value></member>"
            b"<member><name>objects</name><value><array><data></data></array></value></member>"
            b"</struct></value>": "holds no VM",
            b"<value>" + b"<array><data><value>" * 200 + b"1" + b"</value></data></array>" * 200 + b"</value>":
                "does not parse",
        }
        for xml, why in bad.items():
            got = self.import_refused(tar_of([("ova.xml", xml)]), ["IMPORT_ERROR"], status=400)
            self.assertIn(why, got[1], xml[:80])

    def test_a_field_of_the_wrong_type(self):
        xml = self.good_xml().replace(b"<name>memory_static_max</name><value>", b"<name>memory_static_max</name><value>lots")
        got = self.import_refused(tar_of([("ova.xml", xml)]), ["IMPORT_ERROR"], status=400)
        self.assertIn("memory_static_max", got[1])
        xml = self.good_xml().replace(b"<name>actions_after_crash</name><value>destroy",
                                      b"<name>actions_after_crash</name><value>warp")
        got = self.import_refused(tar_of([("ova.xml", xml)]), ["IMPORT_ERROR"])
        self.assertIn("actions_after_crash", got[1])

    def test_all_or_nothing(self):
        # the second VM of the archive is refused: the first is not made either
        x = self.x
        a = ova_of(self.export(hvm_vm(x, "a")))[1].decode()
        b = ova_of(self.export(hvm_vm(x, "b", has_vendor_device=True)))[1].decode()
        start = "<name>objects</name><value><array><data>"
        objs_a = a[a.index(start) + len(start):a.rindex("</data></array>")]
        objs_b = b[b.index(start) + len(start):b.rindex("</data></array>")]
        both = a.replace(objs_a, objs_a + objs_b.replace("Ref:0", "Ref:10").replace("Ref:1", "Ref:11"))
        x.pool.set_max_hardware_platform_version(x.pool.get_all()[0], "1")
        refs, _ = self.import_ok(tar_of([("ova.xml", both.encode())]), dry_run="true")
        x.VM.destroy(x.VM.get_by_name_label("b")[0])
        x.pool.set_max_hardware_platform_version(x.pool.get_all()[0], "0")
        self.import_refused(tar_of([("ova.xml", both.encode())]), ["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM"])

    def test_no_session(self):
        data = tar_of([("ova.xml", self.good_xml())])
        before = self.x.VM.get_all()
        st, _, body = self.http("PUT", "/import_metadata", data, session_id="")
        self.assertEqual((st, json.loads(body)), (403, ["SESSION_INVALID", ""]))
        self.assertEqual(sorted(self.x.VM.get_all()), sorted(before))
