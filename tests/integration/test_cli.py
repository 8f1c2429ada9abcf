"""The xe CLI (bin/xe) driven as a user drives it, against a running daemon: what it
prints, on which stream, and its exit code."""

import os
import pty
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, PASSWORD, XE, ROOT

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class XeCase(unittest.TestCase):
    daemon_options = {}

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(**cls.daemon_options).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def xe(self, *args, **kw):
        return self.d.xe(*args, **kw)

    def ok(self, *args, **kw):
        r = self.xe(*args, **kw)
        self.assertEqual(r.returncode, 0, "xe %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def fails(self, rc, *args, **kw):
        r = self.xe(*args, **kw)
        self.assertEqual(r.returncode, rc, "xe %s: rc %d, wanted %d:\n%s%s"
                         % (" ".join(args), r.returncode, rc, r.stdout, r.stderr))
        return r.stderr

    def new_vm(self, name, *fields):
        """An HVM guest the simulator can boot."""
        out = self.ok("vm-install", "new-name-label=" + name, "domain-type=hvm",
                      "HVM-boot-policy=BIOS order", *fields).strip()
        self.assertRegex(out, "^%s$" % UUID)
        return out

    def get(self, cls, uuid, param, *extra):
        return self.ok(cls + "-param-get", "uuid=" + uuid, "param-name=" + param, *extra).rstrip("\n")

    def host(self):
        return self.ok("host-list", "--minimal").strip()


class VersionStory(XeCase):
    """SPEC 1 end to end through the CLI, on a host offering versions 0 and 1."""

    def test_vendor_device_raises_version_and_vm_starts(self):
        vm = self.new_vm("story")
        self.assertEqual(self.get("vm", vm, "hardware-platform-version"), "0")
        self.ok("vm-param-set", "uuid=" + vm, "has-vendor-device=true")
        self.assertEqual(self.get("vm", vm, "has-vendor-device"), "true")
        self.assertEqual(self.get("vm", vm, "hardware-platform-version"), "1")
        self.assertEqual(self.ok("vm-start", "vm=story"), "")
        self.assertEqual(self.get("vm", vm, "power-state"), "running")
        self.assertEqual(self.get("vm", vm, "hardware-platform-version"), "1")
        self.assertEqual(self.get("vm", vm, "resident-on"), self.host())

        # only while Halted: the error as xe prints it, refs as uuid (name-label)
        err = self.fails(1, "vm-param-set", "uuid=" + vm, "has-vendor-device=false")
        lines = err.splitlines()
        self.assertIn("not in an appropriate power state", lines[0])
        self.assertEqual(lines[1:], ["vm: %s (story)" % vm, "expected: halted", "actual: running"])

        self.ok("vm-shutdown", "uuid=" + vm, "--force")
        self.assertEqual(self.get("vm", vm, "power-state"), "halted")

    def test_host_versions(self):
        self.assertEqual(self.get("host", self.host(), "virtual-hardware-platform-versions"), "0; 1")
        self.assertEqual(self.get("host", self.host(), "virtual-hardware-platform-versions", "--minimal"),
                         "0,1")
        out = self.ok("host-param-list", "uuid=" + self.host())
        self.assertRegex(out, r"\n *virtual-hardware-platform-versions \(MRO\): 0; 1\n")

    def test_version_is_read_only_in_the_cli(self):
        vm = self.new_vm("ro")
        err = self.fails(1, "vm-param-set", "uuid=" + vm, "hardware-platform-version=3")
        self.assertEqual(err, "The parameter 'hardware-platform-version' is read-only.\n")
        self.assertEqual(self.get("vm", vm, "hardware-platform-version"), "0")
        out = self.ok("vm-param-list", "uuid=" + vm)
        self.assertRegex(out, r"\n *hardware-platform-version \( RO\): 0\n")
        self.assertRegex(out, r"\n *has-vendor-device \( RW\): false\n")

    def test_boot_check_all_hosts_ok(self):
        vm = self.new_vm("bc", "has-vendor-device=true")
        out = self.ok("vm-boot-check", "uuid=" + vm)
        self.assertIn("can-boot ( RO): true", out)
        self.assertEqual(self.ok("vm-boot-check", "uuid=" + vm, "--minimal").strip(), self.host())


class OldHost(XeCase):
    """A host configured with version 0 only refuses a VM that needs version 1."""
    daemon_options = {"virtual_hardware_platform_versions": "0"}

    def setUp(self):
        self.vm = self.new_vm(self._testMethodName[5:])
        self.name = self.get("vm", self.vm, "name-label")
        self.ok("vm-param-set", "uuid=" + self.vm, "has-vendor-device=true")
        self.hname = self.get("host", self.host(), "name-label")

    def reason_lines(self, indent=""):
        return [indent + l for l in [
            "host: %s (%s)" % (self.host(), self.hname),
            "host_versions: [0]",
            "vm: %s (%s)" % (self.vm, self.name),
            "vm_version: 1"]]

    def test_start_on_refused_with_params(self):
        self.assertEqual(self.get("host", self.host(), "virtual-hardware-platform-versions"), "0")
        err = self.fails(1, "vm-start", "uuid=" + self.vm, "on=" + self.host())
        lines = err.splitlines()
        self.assertEqual(lines[0], "You attempted to run a VM on a host that cannot provide the VM's "
                                   "required virtual hardware platform version.")
        self.assertEqual(lines[1:], self.reason_lines())
        self.assertEqual(self.get("vm", self.vm, "power-state"), "halted")

    def test_start_anywhere_prints_each_hosts_reason(self):
        err = self.fails(1, "vm-start", "vm=" + self.name)
        lines = err.splitlines()
        self.assertEqual(lines[0], "There were no hosts available to complete the operation.")
        self.assertEqual(lines[1], "Why each host cannot start the VM:")
        self.assertEqual(lines[2], "host %s (%s):" % (self.host(), self.hname))
        self.assertIn("required virtual hardware platform version", lines[3])
        self.assertEqual(lines[4:], self.reason_lines("    "))

    def test_boot_check_and_possible_hosts(self):
        out = self.ok("vm-boot-check", "uuid=" + self.vm)
        self.assertIn("can-boot ( RO): false", out)
        self.assertIn("error-code ( RO): VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", out)
        self.assertIn("host_versions: [0]", out)
        self.assertEqual(self.ok("vm-boot-check", "uuid=" + self.vm, "--minimal"), "\n")
        self.assertEqual(self.get("vm", self.vm, "possible-hosts"), "")


class Listing(XeCase):

    def test_vm_list_format(self):
        vm = self.new_vm("fmt")
        out = self.ok("vm-list", "name-label=fmt")
        self.assertEqual(out, "uuid ( RO)           : %s\n"
                              "     name-label ( RW): fmt\n"
                              "    power-state ( RO): halted\n\n\n" % vm)

    def test_filters_and_minimal(self):
        a = self.new_vm("flt", "user-version=7")
        b = self.new_vm("flt")
        self.assertEqual(sorted(self.ok("vm-list", "name-label=flt", "--minimal").strip().split(",")),
                         sorted([a, b]))
        self.assertEqual(self.ok("vm-list", "name-label=flt", "user-version=7", "--minimal"), a + "\n")
        self.assertEqual(self.ok("vm-list", "name-label=nothing-like-this", "--minimal"), "\n")
        self.assertEqual(self.ok("vm-list", "uuid=" + a, "params=user-version", "--minimal"), "7\n")
        # enums read in either case, as xe shows them in lower case
        self.assertIn(a, self.ok("vm-list", "power-state=Halted", "--minimal"))

    def test_params_selection_and_all(self):
        vm = self.new_vm("cols")
        out = self.ok("vm-list", "uuid=" + vm, "params=name-label,VCPUs-max,tags")
        self.assertEqual(out, "name-label ( RW)    : cols\n"
                              "     VCPUs-max ( RO): 1\n"
                              "          tags (MRW): \n\n\n")
        out = self.ok("vm-list", "uuid=" + vm, "params=all")
        for line in ["power-state ( RO): halted", "PV-drivers-version (MRO): <not in database>",
                     "os-version (MRO): <not in database>", "other-config (MRW): ",
                     "resident-on ( RO): <not in database>", "has-vendor-device ( RW): false"]:
            self.assertIn(line, out)

    def test_templates_hidden_unless_asked(self):
        vm = self.new_vm("tmpl")
        self.ok("vm-param-set", "uuid=" + vm, "is-a-template=true")
        self.assertNotIn(vm, self.ok("vm-list", "--minimal"))
        self.assertIn(vm, self.ok("vm-list", "is-a-template=true", "--minimal"))

    def test_param_list_uses_xe_names(self):
        vm = self.new_vm("names")
        out = self.ok("vm-param-list", "uuid=" + vm)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("uuid ( RO)"), lines[0])
        width = lines[0].index(":")
        for want in ["name-label ( RW): names", "power-state ( RO): halted", "VCPUs-max ( RO): 1",
                     "PV-drivers-version (MRO): <not in database>",
                     "PV-drivers-up-to-date ( RO): <not in database>", "HVM-boot-policy ( RW): BIOS order",
                     "domain-type ( RW): hvm", "possible-hosts (MRO): " + self.host()]:
            match = [l for l in lines if l.strip() == want.strip() or l.endswith(want)]
            self.assertTrue(match, want)
            self.assertEqual(match[0].index(":"), width, "colons line up: %r" % match[0])

    def test_host_pool_task_lists(self):
        host = self.host()
        name = self.get("host", host, "name-label")
        self.assertIn("name-label ( RW): %s" % name, self.ok("host-list"))
        self.ok("pool-param-set", "name-label=blue pool")
        self.assertEqual(self.ok("pool-param-get", "param-name=name-label"), "blue pool\n")
        pool = self.ok("pool-list", "--minimal").strip()
        self.assertEqual(self.get("pool", pool, "master"), host)
        out = self.ok("pool-list")
        self.assertIn("name-label ( RW): blue pool", out)
        self.assertIn("master ( RO): " + host, out)
        self.assertEqual(self.xe("task-list").returncode, 0)


class Params(XeCase):

    def test_set_and_get_scalars(self):
        vm = self.new_vm("scal")
        self.ok("vm-param-set", "uuid=" + vm, "name-description=two words", "user-version=3",
                "actions-after-crash=Restart")
        self.assertEqual(self.get("vm", vm, "name-description"), "two words")
        self.assertEqual(self.get("vm", vm, "user-version"), "3")
        self.assertEqual(self.get("vm", vm, "actions-after-crash"), "restart")

    def test_maps(self):
        vm = self.new_vm("maps")
        self.ok("vm-param-set", "uuid=" + vm, "other-config:color=red")
        self.ok("vm-param-add", "uuid=" + vm, "param-name=other-config", "size=big", "shape=round")
        self.assertEqual(self.get("vm", vm, "other-config"), "color: red; size: big; shape: round")
        self.assertEqual(self.get("vm", vm, "other-config", "param-key=size"), "big")
        self.ok("vm-param-set", "uuid=" + vm, "other-config:color=blue")
        self.assertEqual(self.get("vm", vm, "other-config", "param-key=color"), "blue")
        self.ok("vm-param-remove", "uuid=" + vm, "param-name=other-config", "param-key=size")
        err = self.fails(1, "vm-param-get", "uuid=" + vm, "param-name=other-config", "param-key=size")
        self.assertEqual(err, "Key size not found in map other-config.\n")
        self.assertIn(vm, self.ok("vm-list", "other-config:color=blue", "--minimal"))
        self.ok("vm-param-clear", "uuid=" + vm, "param-name=other-config")
        self.assertEqual(self.get("vm", vm, "other-config"), "")

    def test_sets(self):
        vm = self.new_vm("sets")
        self.ok("vm-param-add", "uuid=" + vm, "param-name=tags", "param-key=alpha")
        self.ok("vm-param-add", "uuid=" + vm, "param-name=tags", "param-key=beta")
        self.assertEqual(self.get("vm", vm, "tags"), "alpha; beta")
        self.assertEqual(self.get("vm", vm, "tags", "--minimal"), "alpha,beta")
        self.ok("vm-param-remove", "uuid=" + vm, "param-name=tags", "param-key=alpha")
        self.assertEqual(self.get("vm", vm, "tags"), "beta")

    def test_read_only_and_unknown(self):
        vm = self.new_vm("rdo")
        self.assertEqual(self.fails(1, "vm-param-set", "uuid=" + vm, "power-state=running"),
                         "The parameter 'power-state' is read-only.\n")
        self.assertEqual(self.fails(1, "vm-param-add", "uuid=" + vm, "param-name=allowed-operations",
                                    "param-key=start"),
                         "The parameter 'allowed-operations' is read-only.\n")
        err = self.fails(2, "vm-param-get", "uuid=" + vm, "param-name=no-such-thing")
        self.assertIn("Unknown parameter name 'no-such-thing'", err)
        # nothing is applied when any pair is wrong
        self.fails(2, "vm-param-set", "uuid=" + vm, "name-label=changed", "user-version=x")
        self.assertEqual(self.get("vm", vm, "name-label"), "rdo")

    def test_bad_values(self):
        vm = self.new_vm("badv")
        self.assertEqual(self.fails(2, "vm-param-set", "uuid=" + vm, "user-version=many"),
                         "Invalid value for user-version: 'many' is not an integer.\n")
        self.assertEqual(self.fails(2, "vm-param-set", "uuid=" + vm, "has-vendor-device=maybe"),
                         "Invalid value for has-vendor-device: 'maybe' is not true or false.\n")
        err = self.fails(2, "vm-param-set", "uuid=" + vm, "domain-type=weird")
        self.assertEqual(err, "Invalid value for domain-type: 'weird' is not one of: hvm, pv, pv_in_pvh, "
                              "pvh, unspecified.\n")


class Lifecycle(XeCase):

    def state(self, vm):
        return self.get("vm", vm, "power-state")

    def test_start_paused_unpause_reboot_shutdown(self):
        vm = self.new_vm("life")
        self.ok("vm-start", "uuid=" + vm, "paused=true")
        self.assertEqual(self.state(vm), "paused")
        self.ok("vm-unpause", "uuid=" + vm)
        self.assertEqual(self.state(vm), "running")
        self.ok("vm-pause", "vm=life")
        self.ok("vm-unpause", "vm=life")
        self.ok("vm-reboot", "uuid=" + vm, "--force")
        self.assertEqual(self.state(vm), "running")
        self.ok("vm-shutdown", "uuid=" + vm, "--force")
        self.assertEqual(self.state(vm), "halted")
        err = self.fails(1, "vm-unpause", "uuid=" + vm)
        self.assertIn("actual: halted", err)

    def test_suspend_resume(self):
        vm = self.new_vm("susp")
        self.ok("vm-start", "uuid=" + vm)
        r = self.xe("vm-suspend", "uuid=" + vm)
        if r.returncode != 0:
            self.skipTest("this backend cannot suspend: " + r.stderr.strip())
        self.assertEqual(self.state(vm), "suspended")
        self.ok("vm-resume", "uuid=" + vm, "on=" + self.host())
        self.assertEqual(self.state(vm), "running")
        self.ok("vm-shutdown", "uuid=" + vm, "--force")

    def test_migrate_within_pool(self):
        vm = self.new_vm("mig")
        self.ok("vm-start", "uuid=" + vm)
        hname = self.get("host", self.host(), "name-label")
        r = self.xe("vm-migrate", "uuid=" + vm, "host=" + hname)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertEqual(self.get("vm", vm, "resident-on"), self.host())
        self.ok("vm-shutdown", "uuid=" + vm, "--force")

    def test_progress_on_a_terminal(self):
        vm = self.new_vm("prog")
        master, slave = pty.openpty()
        p = subprocess.Popen(self.d.xe_command("vm-start", "uuid=" + vm), stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:          # EIO: the other end is closed
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        out, _ = p.communicate(timeout=60)
        self.assertEqual((p.returncode, out), (0, b""))
        self.assertRegex(seen, rb"\r\[[# ]{30}\] +\d+%")
        self.assertTrue(seen.endswith(b"\r\x1b[K"), seen[-40:])
        self.ok("vm-shutdown", "uuid=" + vm, "--force")

    def test_multiple(self):
        a, b = self.new_vm("multi"), self.new_vm("multi")
        err = self.fails(1, "vm-start", "name-label=multi")
        self.assertEqual(err, "2 VMs match: add --multiple to act on all of them, or select one by uuid=.\n")
        self.ok("vm-start", "name-label=multi", "--multiple")
        self.assertEqual((self.state(a), self.state(b)), ("running", "running"))
        self.ok("vm-shutdown", "name-label=multi", "power-state=running", "--multiple", "--force")
        self.assertEqual((self.state(a), self.state(b)), ("halted", "halted"))

    def test_selection_errors(self):
        self.assertEqual(self.fails(1, "vm-start", "vm=nobody-has-this-name"), "No matching VMs found.\n")
        err = self.fails(2, "vm-start")
        self.assertTrue(err.startswith("No VM selected: give uuid=, vm= (name or uuid)"), err)
        err = self.fails(1, "vm-start", "uuid=00000000-0000-0000-0000-000000000000")
        self.assertEqual(err, "No object of this class has the uuid you gave.\n"
                              "class: VM\nuuid: 00000000-0000-0000-0000-000000000000\n")

    def test_install_from_template_and_uninstall(self):
        t = self.new_vm("tpl-src", "VCPUs-max=2")
        self.ok("vm-param-set", "uuid=" + t, "is-a-template=true")
        vm = self.ok("vm-install", "new-name-label=from-tpl", "template=tpl-src",
                     "name-description=copied").strip()
        self.assertRegex(vm, UUID)
        self.assertEqual(self.get("vm", vm, "VCPUs-max"), "2")
        self.assertEqual(self.get("vm", vm, "is-a-template"), "false")
        self.assertEqual(self.get("vm", vm, "name-description"), "copied")

        r = self.xe("vm-uninstall", "uuid=" + vm, input="no\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("VM : %s (from-tpl)" % vm, r.stdout)
        self.assertIn("Aborted", r.stderr)
        self.assertEqual(self.ok("vm-list", "uuid=" + vm, "--minimal"), vm + "\n")
        r = self.xe("vm-uninstall", "uuid=" + vm, input="yes\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ok("vm-list", "name-label=from-tpl", "--minimal"), "\n")

        vm = self.new_vm("gone")
        self.ok("vm-destroy", "uuid=" + vm)
        self.assertEqual(self.ok("vm-list", "name-label=gone", "--minimal"), "\n")

    def test_vm_create(self):
        vm = self.ok("vm-create", "name-label=made", "VCPUs-max=4", "has-vendor-device=true").strip()
        self.assertEqual(self.get("vm", vm, "VCPUs-max"), "4")
        # a VM created using a feature gets the version it needs
        self.assertEqual(self.get("vm", vm, "hardware-platform-version"), "1")

    def test_host_disabled_reason(self):
        vm = self.new_vm("dis")
        self.ok("host-disable", "uuid=" + self.host())
        try:
            err = self.fails(1, "vm-start", "uuid=" + vm)
            self.assertIn("The host is disabled", err)
            self.assertIn("    host: %s (" % self.host(), err)
        finally:
            self.ok("host-enable", "uuid=" + self.host())
        self.assertEqual(self.get("host", self.host(), "enabled"), "true")

    def test_event_wait(self):
        vm = self.new_vm("ev")
        args = self.d.xe_command("event-wait", "class=vm", "uuid=" + vm, "power-state=running")
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "event-wait returned before the VM ran")
        self.ok("vm-start", "uuid=" + vm)
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out, err), (0, "", ""))
        # already true: returns at once; /= waits for a different value
        self.ok("event-wait", "class=vm", "uuid=" + vm, "power-state=running")
        err = self.fails(1, "event-wait", "class=vm", "uuid=" + vm, "power-state=/=running", "timeout=1")
        self.assertEqual(err, "Timed out after 1 seconds: no VM matched.\n")
        self.ok("vm-shutdown", "uuid=" + vm, "--force")


class CommandLine(XeCase):

    def test_bad_commands_and_parameters(self):
        self.assertEqual(self.fails(2, "vm-frobnicate"), "Unknown command: vm-frobnicate. For usage run: 'xe help'\n")
        self.assertEqual(self.fails(2, "vm-param-get", "uuid=x"),
                         "Required parameter not found: param-name. See 'xe help vm-param-get'.\n")
        self.assertEqual(self.fails(2, "vm-start", "colour=red"),
                         "Unknown parameter 'colour': VM objects have no such field. See 'xe help vm-start'.\n")
        self.assertEqual(self.fails(2, "vm-list", "loose"),
                         "Invalid argument 'loose': parameters are written key=value.\n")
        self.assertEqual(self.fails(2, "vm-list", "params=name-label,bogus"),
                         "Unknown parameter 'bogus' in params=: VM objects have no such field.\n")
        self.assertEqual(self.fails(2, "event-wait", "class=nothing"), "Unknown class 'nothing'.\n")

    def test_wrong_password(self):
        r = subprocess.run(self.d.xe_command("vm-list", password="nope"), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "The credentials given by the user are incorrect, so access has been "
                                   "denied.\nuname: root\nmessage: Authentication failure\n")

    def test_cannot_connect(self):
        r = subprocess.run([XE, "-s", "127.0.0.1", "-p", "1", "vm-list"], capture_output=True, text=True,
                           timeout=60, env=self.clean_env())
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot talk to the server at https://127.0.0.1:1/", r.stderr)

    def test_help(self):
        out = self.ok("help")
        self.assertIn("Usage: xe", out)
        for cmd in ["vm-list", "vm-param-set", "vm-start", "vm-boot-check", "host-param-get",
                    "pool-param-set", "task-list", "event-wait"]:
            self.assertIn(cmd, out)
        out = self.ok("help", "vm-start")
        self.assertIn("command name            : vm-start\n", out)
        self.assertIn("optional params : on, paused, force, uuid, vm, <vm-selectors>, --multiple\n", out)
        out = self.ok("help", "vm-param-get")
        self.assertIn("reqd params     : uuid, param-name\n", out)
        self.assertIn("vm-param-set", self.ok("help", "--minimal").split(","))
        self.assertIn("PV-drivers-version", self.ok("help", "vm-param-get", "--fields").strip().split(","))
        self.assertEqual(self.fails(2, "help", "vm-nope"), "Unknown command: vm-nope. For usage run: 'xe help'\n")

    # ---- credentials and the local socket ----
    def clean_env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
        env["HOME"] = tempfile.mkdtemp(prefix="xe-home-")
        env.update(extra)
        return env

    def run_xe(self, *args, env):
        return subprocess.run([XE] + list(args), capture_output=True, text=True, timeout=60, env=env)

    def test_unix_socket_and_environment(self):
        env = self.clean_env(XE_SOCKET=self.d.unix_socket, XE_USERNAME="root", XE_PASSWORD=PASSWORD)
        r = self.run_xe("host-list", "--minimal", env=env)
        self.assertEqual((r.returncode, r.stdout), (0, self.host() + "\n"), r.stderr)
        # -s and XE_PORT reach the TCP listener
        env = self.clean_env(XE_PORT=str(self.d.port), XE_PASSWORD=PASSWORD)
        r = self.run_xe("--nossl", "-s", "127.0.0.1", "host-list", "--minimal", env=env)
        self.assertEqual((r.returncode, r.stdout), (0, self.host() + "\n"), r.stderr)

    def test_password_file_must_be_private(self):
        env = self.clean_env(XE_SOCKET=self.d.unix_socket)
        fd, path = tempfile.mkstemp(prefix="xe-pw-")
        os.write(fd, (PASSWORD + "\n").encode())
        os.close(fd)
        try:
            os.chmod(path, 0o600)
            r = self.run_xe("-pwf", path, "host-list", "--minimal", env=env)
            self.assertEqual((r.returncode, r.stdout), (0, self.host() + "\n"), r.stderr)
            os.chmod(path, 0o644)
            r = self.run_xe("-pwf", path, "host-list", "--minimal", env=env)
            self.assertEqual(r.returncode, 1)
            self.assertIn("Refusing to read %s" % path, r.stderr)
        finally:
            os.unlink(path)

    def test_dotxe_config(self):
        env = self.clean_env()
        dotxe = os.path.join(env["HOME"], ".xe")
        with open(dotxe, "w") as f:
            f.write("server=127.0.0.1\nport=%d\nusername=root\npassword=%s\n" % (self.d.port, PASSWORD))
        os.chmod(dotxe, 0o600)
        r = self.run_xe("--nossl", "host-list", "--minimal", env=env)
        self.assertEqual((r.returncode, r.stdout), (0, self.host() + "\n"), r.stderr)
        os.chmod(dotxe, 0o644)
        r = self.run_xe("host-list", "--minimal", env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Refusing to read %s" % dotxe, r.stderr)

    # ---- bash completion ----
    def complete(self, line):
        script = r'''
. "%s/scripts/xe-completion.bash"
COMP_LINE=%s; COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
COMPREPLY=(); _xe; printf '%%s\n' "${COMPREPLY[@]}"
''' % (ROOT, "'" + line + "'")
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [l for l in r.stdout.splitlines() if l]

    def test_completion(self):
        self.assertEqual(self.complete(XE + " vm-sta"), ["vm-start"])
        self.assertIn("paused=", self.complete(XE + " vm-start pa"))
        self.assertIn("param-name=", self.complete(XE + " vm-param-get par"))
        self.assertEqual(sorted(self.complete(XE + " vm-param-get param-name=PV-drivers-v")),
                         ["PV-drivers-version"])
        conn = "--nossl -s 127.0.0.1 -p %d -u root -pw %s" % (self.d.port, PASSWORD)
        self.assertEqual(self.complete("%s %s host-param-list uuid=" % (XE, conn)), [self.host()])


if __name__ == "__main__":
    unittest.main()
