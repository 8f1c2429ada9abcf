"""Issue 16: every record carries the fields Xen Orchestra reads, over XML-RPC and
JSON-RPC.  The field sets are those xo-server's xapi-object-to-xo.mjs reads from each
xapi object (obj.F, link(obj, 'F'), its metrics and guest metrics); types and defaults
are xapi's (ocaml/idl/datamodel*.ml).  A missing field makes XO drop the object."""

import datetime

from support import DaemonCase, curl_json, hvm_vm, load_datamodel, pv_vm, wait_until

CLASSES = load_datamodel()[1]

# vatesfr/xen-orchestra packages/xo-server/src/xapi-object-to-xo.mjs (read at commit
# 9ef53890b8f5166539ca34654d8e7e77c0b218f1): every obj.F and link(obj, 'F') of each
# class's transform, and what it reads of the objects those point to (host.$updates,
# host.$certificates, pool.$ha_statefiles, host_patch.$pool_patch)
XO_READS = {
    "pool": ["cpu_info", "current_operations", "ha_enabled", "ha_reboot_vm_on_internal_shutdown",
             "migration_compression", "name_description", "name_label", "other_config", "restrictions", "tags",
             "ha_statefiles", "master", "crash_dump_SR", "default_SR", "suspend_image_SR"],
    "host": ["address", "bios_strings", "capabilities", "chipset_info", "cpu_info", "current_operations", "enabled",
             "hostname", "iscsi_iqn", "license_params", "license_server", "logging", "metrics", "name_description",
             "name_label", "power_on_mode", "tags", "software_version", "control_domain", "resident_VMs", "PBDs",
             "PCIs", "PGPUs", "PIFs", "certificates", "updates", "updates_requiring_reboot", "patches"],
    "VM": ["HVM_boot_params", "PV_args", "VCPUs_at_startup", "VCPUs_max", "VCPUs_params", "bios_strings",
           "blocked_operations", "current_operations", "guest_metrics", "ha_restart_priority", "has_vendor_device",
           "is_a_snapshot", "is_a_template", "is_control_domain", "memory_dynamic_max", "memory_dynamic_min",
           "memory_static_max", "memory_static_min", "metrics", "name_description", "name_label", "platform",
           "power_state", "recommendations", "resident_on", "snapshot_time", "start_delay", "tags", "uuid",
           "xenstore_data", "other_config", "affinity", "snapshot_of", "snapshots", "VBDs", "VGPUs", "VIFs",
           "VTPMs", "parent", "suspend_SR", "suspend_VDI"],
    "VM_metrics": ["VCPUs_number", "install_time", "memory_actual", "start_time"],
    "VM_guest_metrics": ["PV_drivers_version", "memory", "os_version", "networks"],
    "host_metrics": ["memory_free", "memory_total"],
    "task": ["allowed_operations", "created", "current_operations", "finished", "name_description", "name_label",
             "other_config", "progress", "resident_on", "result", "status"],
    "session": ["this_host", "this_user", "auth_user_name", "is_local_superuser", "uuid"],
}

# and the classes those records point to, with what XO reads of them
XO_READS.update({
    "SR": ["PBDs", "VDIs", "content_type", "current_operations", "name_description", "name_label", "other_config",
           "physical_size", "physical_utilisation", "shared", "sm_config", "tags", "type", "virtual_allocation"],
    "VDI": ["SR", "VBDs", "cbt_enabled", "current_operations", "is_a_snapshot", "managed", "missing",
            "name_description", "name_label", "other_config", "physical_utilisation", "sm_config", "snapshot_of",
            "snapshot_time", "snapshots", "tags", "type", "virtual_size"],
    "VBD": ["VDI", "VM", "bootable", "currently_attached", "device", "mode", "type", "userdevice"],
    "VIF": ["MAC", "MTU", "VM", "currently_attached", "device", "ipv4_allowed", "ipv6_allowed", "locking_mode",
            "network", "other_config", "qos_algorithm_params", "qos_algorithm_type"],
    "PBD": ["SR", "currently_attached", "device_config", "host", "other_config"],
    "network": ["MTU", "PIFs", "VIFs", "bridge", "current_operations", "default_locking_mode", "name_description",
                "name_label", "other_config", "purpose", "tags"],
    "message": ["body", "name", "obj_uuid", "timestamp"],
    "console": ["protocol", "location", "VM"],
    "host_cpu": ["host", "number", "speed", "vendor", "modelname"],
    "PIF": ["DNS", "IP", "IPv6", "MAC", "MTU", "VLAN", "bond_master_of", "bond_slave_of", "currently_attached",
            "device", "disallow_unplug", "gateway", "host", "ip_configuration_mode", "ipv6_configuration_mode",
            "management", "netmask", "network", "physical", "primary_address_type"],
    "Bond": ["master", "slaves", "mode"],
    "PCI": ["class_name", "device_name", "pci_id", "host"],
    "PGPU": ["dom0_access", "enabled_VGPU_types", "GPU_group", "is_system_display_device", "PCI",
             "supported_VGPU_max_capacities", "supported_VGPU_types", "host", "resident_VGPUs"],
    "VGPU": ["currently_attached", "device", "GPU_group", "other_config", "resident_on", "type", "VM"],
    "GPU_group": ["allocation_algorithm", "enabled_VGPU_types", "GPU_types", "name_description", "name_label",
                  "other_config", "PGPUs", "supported_VGPU_types", "VGPUs"],
    "VGPU_type": ["experimental", "framebuffer_size", "enabled_on_GPU_groups", "max_heads", "max_resolution_x",
                  "max_resolution_y", "model_name", "enabled_on_PGPUs", "vendor_name", "VGPUs"],
    "VTPM": ["VM"],
    "PUSB": ["vendor_desc", "product_desc", "host", "passthrough_enabled", "speed", "USB_group", "vendor_id",
             "version"],
    "VUSB": ["VM", "currently_attached", "USB_group"],
    "USB_group": ["PUSBs", "VUSBs"],
    "host_patch": ["applied", "timestamp_applied", "host", "pool_patch"],
    "pool_patch": ["name_description", "after_apply_guidance", "name_label", "size", "host_patches",
                   "pool_applied"],
    "pool_update": ["name_label", "name_description", "key", "version", "after_apply_guidance", "hosts", "vdi",
                    "installation_size"],
    "Certificate": ["fingerprint", "not_after"],
    # refs in the records above that XO does not read further, declared all the same
    "crashdump": ["VM", "VDI"],
    "host_crashdump": ["host", "timestamp", "size"],
    "VM_appliance": ["VMs", "name_label"],
})
# the classes xapi-object-to-xo.mjs has a transform for (TRANSFORMS); each is declared
# here and in XO_READS, but SM (storage managers: no record here points to one)
XO_TRANSFORMS = ["pool", "host", "vm", "sr", "sm", "pbd", "pif", "vdi", "vbd", "vif", "network", "message", "task",
                 "host_patch", "pool_patch", "pci", "pgpu", "vgpu", "gpu_group", "vgpu_type", "vtpm", "pusb", "vusb",
                 "usb_group", "bond"]
NOT_DECLARED = {"sm"}

# and the VM's other device sets (a VM with none of them must show them empty)
XO_READS["VM"] += ["VUSBs", "consoles", "crash_dumps", "attached_PCIs", "children", "appliance", "ha_always_run"]


class RecordShapes(DaemonCase):

    def records(self, cls):
        """cls's records over XML-RPC (XenAPI.py) and over JSON-RPC v2."""
        x = self.x
        if cls == "session":
            s = self.session.handle
            xml = {s: x.session.get_record(s)}
            j = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.get_record", "params": [s, s],
                                        "id": 1})["result"]
            return xml, {s: j}
        xml = getattr(x, cls).get_all_records()
        j = curl_json(self.d.port, {"jsonrpc": "2.0", "method": cls + ".get_all_records",
                                    "params": [self.session.handle], "id": 1})["result"]
        return xml, j

    def test_every_class_xo_transforms_is_declared(self):
        declared = {c.lower() for c in CLASSES}
        read = {c.lower() for c in XO_READS}
        self.assertEqual({t for t in XO_TRANSFORMS if t not in declared or t not in read}, NOT_DECLARED)

    def test_every_class_has_what_xo_reads(self):
        x = self.x
        vm = hvm_vm(x, "shapes")
        x.VM.start(vm, False, False)
        t = x.Async.VM.get_possible_hosts(vm)
        wait_until(lambda: x.task.get_status(t) != "pending", what="the task")
        try:
            for cls, fields in XO_READS.items():
                xml, j = self.records(cls)
                if not xml:  # no object of the class here: its declaration
                    declared = {f.name for f in CLASSES[cls].fields}
                    self.assertEqual({f for f in fields if f not in declared}, set(), cls)
                    continue
                for wire, recs in (("XML-RPC", xml), ("JSON-RPC", j)):
                    for ref, rec in recs.items():
                        missing = {f for f in fields if f not in rec}
                        self.assertEqual(missing, set(), "%s %s over %s" % (cls, ref, wire))
        finally:
            x.VM.hard_shutdown(vm)
            x.VM.destroy(vm)
            x.task.destroy(t)

    def test_xapi_defaults_of_the_new_fields(self):
        # ocaml/idl/datamodel_pool.ml, datamodel_host.ml, datamodel_vm.ml, datamodel.ml
        pool = self.x.pool.get_record(self.x.pool.get_all()[0])
        self.assertEqual((pool["ha_enabled"], pool["ha_statefiles"], pool["restrictions"],
                          pool["ha_reboot_vm_on_internal_shutdown"], pool["migration_compression"]),
                         (False, [], {}, True, False))
        host = self.x.host.get_record(self.x.host.get_all()[0])
        self.assertEqual((host["license_params"], host["license_server"], host["edition"], host["power_on_mode"]),
                         ({}, {}, "", ""))
        vm = self.x.VM.create({"name_label": "defaults"})
        rec = self.x.VM.get_record(vm)
        self.assertEqual((rec["ha_restart_priority"], rec["ha_always_run"]), ("", False))
        self.x.VM.destroy(vm)

    def test_software_version_keys(self):
        # xapi_globs.ml software_version and create_misc.ml make_software_version; XO reads
        # product_brand, product_version and platform_version of the master
        sv = self.x.host.get_software_version(self.x.host.get_all()[0])
        for k in ("product_brand", "product_version", "platform_name", "platform_version", "xapi", "xapi_build",
                  "build_number", "xen", "hostname"):
            self.assertIn(k, sv)
            self.assertIsInstance(sv[k], str)

    def test_a_host_cpu_per_physical_cpu(self):
        # filled from the backend's host info: the simulator reports sim-cpus (8) CPUs
        host = self.x.host.get_all()[0]
        cpus = self.x.host_cpu.get_all_records()
        self.assertEqual(sorted(int(c["number"]) for c in cpus.values()), list(range(8)))
        self.assertEqual(set(self.x.host.get_host_CPUs(host)), set(cpus))
        mhz = self.x.host.get_cpu_info(host)["speed"]
        for c in cpus.values():
            self.assertEqual((c["host"], c["speed"]), (host, mhz))
        # and the same set after a restart, not a second one
        self.d.restart(listen_port=self.d.port)
        self.assertEqual(set(self.x.host_cpu.get_all()), set(cpus))

    def test_a_console_per_running_domain(self):
        # xapi_xenops.ml (update_vm, consoles): one per protocol xenopsd reports for the
        # domain, at https://ADDRESS/console?uuid=UUID, gone with the domain
        x = self.x
        host = x.host.get_all()[0]
        address = x.host.get_address(host)
        for make, protocol in ((hvm_vm, "rfb"), (pv_vm, "vt100")):
            vm = make(x, "console-" + protocol)
            self.assertEqual(x.VM.get_consoles(vm), [])
            x.VM.start(vm, False, False)
            consoles = x.VM.get_consoles(vm)
            self.assertEqual(len(consoles), 1)
            rec = x.console.get_record(consoles[0])
            self.assertEqual((rec["VM"], rec["protocol"], rec["location"]),
                             (vm, protocol, "https://%s/console?uuid=%s" % (address, rec["uuid"])))
            x.VM.hard_reboot(vm)  # a new domain: a new console
            after = x.VM.get_consoles(vm)
            self.assertEqual(len(after), 1)
            self.assertNotEqual(after, consoles)
            self.assertEqual(x.console.get_all_records_where('field "VM" = "%s"' % vm).keys(), set(after))
            x.VM.hard_shutdown(vm)
            self.assertEqual(x.VM.get_consoles(vm), [])
            self.assertEqual(x.console.get_all_records_where('field "VM" = "%s"' % vm), {})
            x.VM.destroy(vm)

    def test_dom0_has_its_text_console(self):
        # create_misc.ml: dom0's consoles at https://ADDRESS/console?ref=REF (its rfb one
        # is vncterm's, which this host does not run)
        x = self.x
        host = x.host.get_all()[0]
        dom0 = x.host.get_control_domain(host)
        consoles = x.VM.get_consoles(dom0)
        self.assertEqual(len(consoles), 1)
        rec = x.console.get_record(consoles[0])
        self.assertEqual((rec["protocol"], rec["location"], rec["VM"]),
                         ("vt100", "https://%s/console?ref=%s" % (x.host.get_address(host), consoles[0]), dom0))
        self.d.restart(listen_port=self.d.port)
        self.assertEqual(x.VM.get_consoles(dom0), consoles)

    def test_the_host_certificate(self):
        # datamodel_certificate.ml: this host's HTTPS certificate as a Certificate of
        # type host, its fingerprints as colon-separated hex
        x = self.x
        host = x.host.get_all()[0]
        certs = x.host.get_certificates(host)
        self.assertEqual(len(certs), 1)
        rec = x.Certificate.get_record(certs[0])
        self.assertEqual((rec["host"], rec["type"], rec["name"]), (host, "host", ""))
        self.assertEqual(rec["fingerprint_sha256"], self.d.fingerprint())
        self.assertEqual(rec["fingerprint"], x.host.get_certificate_fingerprint(host))
        self.assertRegex(rec["fingerprint_sha1"], r"^([0-9A-F]{2}:){19}[0-9A-F]{2}$")
        nb = datetime.datetime.strptime(str(rec["not_before"]), "%Y%m%dT%H:%M:%SZ")
        na = datetime.datetime.strptime(str(rec["not_after"]), "%Y%m%dT%H:%M:%SZ")
        self.assertLess(nb, datetime.datetime.utcnow())
        self.assertGreater(na, datetime.datetime.utcnow() + datetime.timedelta(days=365))
        # the same one after a restart, not a second
        self.d.restart(listen_port=self.d.port)
        self.assertEqual(x.host.get_certificates(host), certs)

    def test_the_empty_sets_xo_follows(self):
        # what this project has none of is empty, not absent (datamodel.ml defaults)
        x = self.x
        host = x.host.get_record(x.host.get_all()[0])
        for f in ("PCIs", "PGPUs", "PUSBs", "updates", "updates_requiring_reboot", "patches", "crashdumps"):
            self.assertEqual(host[f], [], f)
        vm = x.VM.create({"name_label": "sets"})
        rec = x.VM.get_record(vm)
        for f in ("VGPUs", "VTPMs", "VUSBs", "crash_dumps", "attached_PCIs", "consoles"):
            self.assertEqual(rec[f], [], f)
        self.assertEqual(rec["appliance"], "OpaqueRef:NULL")
        x.VM.destroy(vm)
        for cls in ("PCI", "PGPU", "VGPU", "VTPM", "VUSB", "crashdump", "pool_update", "host_patch", "Bond"):
            self.assertEqual(getattr(x, cls).get_all(), [], cls)
