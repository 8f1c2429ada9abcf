"""Guest tools versions (SPEC section 2): the real guest agent, scripts/xenapid-guest-agent,
run as the guest of a simulated domain (the stock xenstore tools on the domain's own
socket, XENSTORED_PATH), and what a XenAPI.py user then sees in VM_guest_metrics and
event.from."""

import calendar
import contextlib
import filecmp
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Daemon, failure  # noqa: E402
from os_xenapi.client import XenAPI  # noqa: E402

AGENT = os.path.join(ROOT, "scripts", "xenapid-guest-agent")
NULL = "OpaqueRef:NULL"
INTERVAL = 0.2          # guest-metrics-interval for these daemons
QUIET = 6 * INTERVAL    # long enough for a read the daemon should not make to show
MIB = 1 << 20
OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              'VERSION_ID="12.5"\nVERSION="12 (bookworm)"\nID=debian\n')
UNAME = "6.1.0-18-test-amd64"
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: \w*Sanitizer")
PV_KEYS = ("MajorVersion", "MinorVersion", "MicroVersion", "BuildVersion")


def agent_version():
    """The version the agent reports by default, from its own --version."""
    out = subprocess.run([AGENT, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.match(r"xenapid-guest-agent (\d+)\.(\d+)\.(\d+)\.(\d+)\s*$", out)
    assert m, "agent --version said %r" % out
    return m.groups()


def version_map(v):
    parts = v.split(".")
    return dict(zip(("major", "minor", "micro", "build"), parts))


def event_from(x, classes, token, timeout):
    return getattr(x.event, "from")(classes, token, float(timeout))


def datetime_seconds(v):
    return calendar.timegm(time.strptime(str(v.value if hasattr(v, "value") else v), "%Y%m%dT%H:%M:%SZ"))


@contextlib.contextmanager
def extra_env(**kv):
    """Variables set only while a daemon starts (it inherits them)."""
    old = {k: os.environ.get(k) for k in kv}
    os.environ.update(kv)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def daemon_asan_options():
    """A sanitized daemon keeps freed memory in quarantine (256 MiB by default), which
    would hide any bound on its memory: a small quarantine, the caller's options kept."""
    cur = os.environ.get("ASAN_OPTIONS", "")
    return (cur + ":" if cur else "") + "quarantine_size_mb=16"


class GuestCase(unittest.TestCase):
    """One simulator daemon per class; helpers to make VMs, to act as their guests and
    to read their guest metrics.  Every test fails if the daemon died or its log holds
    a sanitizer report."""

    options = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="xg-", dir="/tmp")
        opts = {"guest_metrics_interval": INTERVAL, "shutdown_ack_timeout": 2, "clean_shutdown_timeout": 10}
        opts.update(cls.options)
        cls.d = Daemon(**opts)
        with extra_env(ASAN_OPTIONS=daemon_asan_options()):
            cls.d.start()
        cls.connect()

    @classmethod
    def connect(cls):
        cls.session = cls.d.session()
        cls.x = cls.session.xenapi

    @classmethod
    def restart_daemon(cls, kill=False):
        if kill:
            cls.d.kill9()
        else:
            cls.d.stop()
        with extra_env(ASAN_OPTIONS=daemon_asan_options()):
            cls.d.start()
        cls.connect()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.session.xenapi.session.logout()
        except Exception:
            pass
        cls.d.stop()
        log = cls.d.read_log()
        m = SANITIZER.search(log)
        try:
            cls.d.cleanup()
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        assert not m, "sanitizer report in the daemon's log:\n" + log[max(0, m.start() - 500):m.start() + 6000]

    def tearDown(self):
        self.assertIsNotNone(self.d.proc, "no daemon")
        self.assertIsNone(self.d.proc.poll(), "the daemon died:\n" + self.d.read_log()[-3000:])
        m = SANITIZER.search(self.d.read_log())
        self.assertIsNone(m, "sanitizer report in the daemon's log")

    # ---- VMs ----
    def new_vm(self, name="guest", start=True):
        rec = {"name_label": name, "PV_kernel": "/boot/vmlinuz-guest", "PV_args": "console=hvc0",
               "memory_static_max": str(128 * MIB), "memory_dynamic_max": str(128 * MIB),
               "memory_dynamic_min": str(128 * MIB), "memory_static_min": str(64 * MIB),
               "VCPUs_max": "1", "VCPUs_at_startup": "1"}
        vm = self.x.VM.create(rec)
        self.addCleanup(self.remove_vm, vm)
        if start:
            self.x.VM.start(vm, False, False)
        return vm

    def remove_vm(self, vm):
        x = self.__class__.x
        try:
            if x.VM.get_power_state(vm) != "Halted":
                x.VM.hard_shutdown(vm)
            x.VM.destroy(vm)
        except XenAPI.Failure:
            pass

    def domid(self, vm):
        d = int(self.x.VM.get_domid(vm))
        self.assertGreater(d, 0)
        return d

    # ---- the guest's side ----
    def guest_etc(self, os_release=OS_RELEASE):
        etc = tempfile.mkdtemp(dir=self.tmp)
        with open(os.path.join(etc, "os-release"), "w") as f:
            f.write(os_release)
        return etc

    def guest_env(self, domid, etc=None, version=None, **more):
        env = dict(os.environ)
        env["XENSTORED_PATH"] = os.path.join(self.d.options["sim-state-dir"], "domain", str(domid))
        env["XENAPID_AGENT_ETC"] = etc or self.guest_etc()
        env["XENAPID_AGENT_STATE"] = tempfile.mkdtemp(dir=self.tmp)
        env["XENAPID_AGENT_UNAME"] = UNAME
        env.pop("XENAPID_AGENT_VERSION", None)
        if version:
            env["XENAPID_AGENT_VERSION"] = version
        env.update(more)
        return env

    def agent(self, domid, *args, etc=None, version=None, check=True, timeout=30):
        """Run the guest agent once (or with args) as the guest of domid."""
        r = subprocess.run([AGENT] + list(args), env=self.guest_env(domid, etc, version), capture_output=True,
                           text=True, timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, "agent %s failed: %s" % (" ".join(args), r.stderr))
        return r

    def as_guest(self, domid, tool, *args, check=True):
        """A stock xenstore-* tool on domid's own socket: what its guest can do."""
        env = dict(os.environ)
        env["XENSTORED_PATH"] = os.path.join(self.d.options["sim-state-dir"], "domain", str(domid))
        r = subprocess.run(["xenstore-" + tool] + list(args), env=env, capture_output=True, text=True, timeout=30)
        if check:
            self.assertEqual(r.returncode, 0, "guest xenstore-%s %s: %s" % (tool, args, r.stderr))
        return r

    def dom0_read(self, path):
        r = self.d.xenstore("read", path, check=False)
        return r.stdout.rstrip("\n") if r.returncode == 0 else None

    # ---- what a XenAPI user sees ----
    def metrics(self, vm):
        gm = self.x.VM.get_guest_metrics(vm)
        if gm == NULL:
            return None
        rec = self.x.VM_guest_metrics.get_record(gm)
        rec["ref"] = gm
        return rec

    def wait_metrics(self, vm, pred=lambda m: True, timeout=5.0, what="guest metrics"):
        deadline = time.time() + timeout
        m = None
        while time.time() < deadline:
            m = self.metrics(vm)
            if m is not None and pred(m):
                return m
            time.sleep(0.02)
        self.fail("timed out after %gs waiting for %s; last: %r" % (timeout, what, m))

    def report(self, vm, version=None, etc=None):
        """Run the agent in vm's guest and wait until its version shows."""
        want = version_map(version or ".".join(agent_version()))
        self.agent(self.domid(vm), etc=etc, version=version)
        return self.wait_metrics(vm, lambda m: m["PV_drivers_version"] == want,
                                 what="PV_drivers_version %r" % want)


class GuestMetricsTest(GuestCase):

    def test_agent_report_shows_in_vm_guest_metrics(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        self.assertEqual(self.x.VM.get_guest_metrics(vm), NULL, "metrics before the guest ever reported")
        before = time.time()
        self.agent(domid)
        m = self.wait_metrics(vm)
        major, minor, micro, build = agent_version()
        self.assertEqual(m["PV_drivers_version"], {"major": major, "minor": minor, "micro": micro, "build": build})
        # the agent as shipped is what the host ships (guest-tools-version's default)
        self.assertIs(m["PV_drivers_up_to_date"], True)
        self.assertIs(m["PV_drivers_detected"], True)
        self.assertEqual(m["tools_status"], "up_to_date")
        self.assertEqual(m["os_version"], {"name": "Debian GNU/Linux 12 (bookworm)", "uname": UNAME,
                                           "distro": "debian", "major": "12", "minor": "5"})
        self.assertIs(m["live"], True)
        self.assertEqual(m["other"].get("PVAddons-Installed"), "1")
        self.assertNotIn("PVAddons-NotUpgradable", m["other"])
        self.assertLessEqual(abs(datetime_seconds(m["last_updated"]) - before), 60)
        # the keys, where SPEC section 2 says the agent writes them
        base = "/local/domain/%d/" % domid
        self.assertEqual([self.dom0_read(base + "attr/PVAddons/" + k) for k in PV_KEYS], [major, minor, micro, build])
        self.assertEqual(self.dom0_read(base + "attr/PVAddons/Installed"), "1")
        self.assertIsNone(self.dom0_read(base + "attr/PVAddons/NotUpgradable"))
        self.assertEqual(self.dom0_read(base + "data/os_distro"), "debian")
        self.assertTrue(self.dom0_read(base + "data/updated"))
        # and VM_guest_metrics names its VM's object
        self.assertIn(m["ref"], self.x.VM_guest_metrics.get_all())
        self.assertEqual(self.x.VM_guest_metrics.get_by_uuid(m["uuid"]), m["ref"])

    def test_older_version_is_out_of_date(self):
        vm = self.new_vm()
        m = self.report(vm, version="0.9.1.2")
        self.assertEqual(m["PV_drivers_version"], {"major": "0", "minor": "9", "micro": "1", "build": "2"})
        self.assertIs(m["PV_drivers_up_to_date"], False)
        self.assertIs(m["PV_drivers_detected"], True)
        self.assertEqual(m["tools_status"], "out_of_date")
        # upgraded in the guest: the same object says so
        m2 = self.report(vm, version="1.0.0.1")
        self.assertEqual(m2["ref"], m["ref"])
        self.assertIs(m2["PV_drivers_up_to_date"], True)
        self.assertEqual(m2["tools_status"], "up_to_date")

    def test_not_upgradable_file(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        etc = self.guest_etc()
        open(os.path.join(etc, "pv-drivers-not-upgradable"), "w").close()
        self.agent(domid, etc=etc, version="0.5.0.0")
        m = self.wait_metrics(vm, lambda m: m["PV_drivers_version"].get("minor") == "5")
        self.assertEqual(self.dom0_read("/local/domain/%d/attr/PVAddons/NotUpgradable" % domid), "1")
        self.assertIs(m["PV_drivers_up_to_date"], True, "NotUpgradable=1 forces up to date")
        self.assertEqual(m["tools_status"], "not_upgradable")
        self.assertEqual(m["PV_drivers_version"], {"major": "0", "minor": "5", "micro": "0", "build": "0"})
        self.assertEqual(m["other"].get("PVAddons-NotUpgradable"), "1")
        # the appliance flag goes: the key goes, and the old version is out of date again
        os.unlink(os.path.join(etc, "pv-drivers-not-upgradable"))
        self.agent(domid, etc=etc, version="0.5.0.0")
        m = self.wait_metrics(vm, lambda m: m["tools_status"] != "not_upgradable", what="the flag to go")
        r = self.d.xenstore("exists", "/local/domain/%d/attr/PVAddons/NotUpgradable" % domid, check=False)
        self.assertNotEqual(r.returncode, 0, "NotUpgradable still in xenstore")
        self.assertIs(m["PV_drivers_up_to_date"], False)
        self.assertEqual(m["tools_status"], "out_of_date")
        self.assertNotIn("PVAddons-NotUpgradable", m["other"])
        # and back again
        open(os.path.join(etc, "pv-drivers-not-upgradable"), "w").close()
        self.agent(domid, etc=etc, version="0.5.0.0")
        self.wait_metrics(vm, lambda m: m["tools_status"] == "not_upgradable" and m["PV_drivers_up_to_date"])

    def test_keys_without_data_updated_change_nothing(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        m = self.report(vm, version="0.9.0.0")
        token = event_from(self.x, ["vm_guest_metrics"], "", 0)["token"]
        for k, v in (("attr/PVAddons/MajorVersion", "7"), ("attr/PVAddons/NotUpgradable", "1"),
                     ("data/os_name", "changed without telling")):
            self.as_guest(domid, "write", k, v)
        r = event_from(self.x, ["vm_guest_metrics"], token, QUIET)
        self.assertEqual([e for e in r["events"] if e["ref"] == m["ref"]], [], "the daemon read keys unasked")
        m2 = self.metrics(vm)
        self.assertEqual(m2, m)
        # the bump is what makes it read them
        self.as_guest(domid, "write", "data/updated", "now")
        m3 = self.wait_metrics(vm, lambda m: m["PV_drivers_version"].get("major") == "7")
        self.assertEqual(m3["tools_status"], "not_upgradable")
        self.assertEqual(m3["os_version"]["name"], "changed without telling")

    def test_event_from_sees_add_then_mod(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        token = event_from(self.x, ["vm_guest_metrics", "vm"], "", 0)["token"]

        def collect(token, until):
            seen = []
            deadline = time.time() + 5
            while time.time() < deadline:
                r = event_from(self.x, ["vm_guest_metrics", "vm"], token, 1.0)
                token = r["token"]
                seen += r["events"]
                if until(seen):
                    return seen, token
            self.fail("events: %r" % [(e["class"], e["operation"]) for e in seen])

        self.agent(domid, version="0.9.0.0")
        gm_events = lambda s: [e for e in s if e["class"] == "vm_guest_metrics"]  # noqa: E731
        seen, token = collect(token, lambda s: gm_events(s))
        add = gm_events(seen)[0]
        self.assertEqual(add["operation"], "add")
        gm = self.x.VM.get_guest_metrics(vm)
        self.assertEqual(add["ref"], gm)
        self.assertEqual(add["snapshot"]["PV_drivers_version"]["minor"], "9")
        self.assertEqual(add["snapshot"]["tools_status"], "out_of_date")
        # the VM's own record changed too: it now names its guest metrics
        seen, token = collect(token, lambda s: any(e["class"] == "vm" and e["ref"] == vm and
                                                    e["snapshot"]["guest_metrics"] == gm for e in seen + s))
        etc = self.guest_etc()
        open(os.path.join(etc, "pv-drivers-not-upgradable"), "w").close()
        self.agent(domid, etc=etc, version="0.9.0.0")
        seen, token = collect(token, lambda s: any(e["class"] == "vm_guest_metrics" and
                                                    e["snapshot"]["tools_status"] == "not_upgradable" for e in s))
        mods = [e for e in gm_events(seen) if e["snapshot"]["tools_status"] == "not_upgradable"]
        self.assertEqual(mods[0]["operation"], "mod")
        self.assertEqual(mods[0]["ref"], gm)
        self.assertIs(mods[0]["snapshot"]["PV_drivers_up_to_date"], True)

    def test_os_release_as_written(self):
        """os-release(5) quoting: double quotes with \\-escapes, single quotes; and
        backslashes arrive as they are.  What the guest's shell reads is what the user
        reads."""
        vm = self.new_vm()
        etc = self.guest_etc(r'''PRETTY_NAME="Acme \"Road Runner\" OS 3 \\o/ \$5 C:\\new"''' "\n"
                             "ID='acme'\nVERSION_ID='3.1'\n")
        shell = subprocess.run(["sh", "-c", '. "$1/os-release"; printf %s "$PRETTY_NAME"', "sh", etc],
                               capture_output=True, text=True, check=True).stdout
        self.assertEqual(shell, r'Acme "Road Runner" OS 3 \o/ $5 C:\new')
        self.agent(self.domid(vm), etc=etc)
        m = self.wait_metrics(vm)
        self.assertEqual(m["os_version"]["distro"], "acme")
        self.assertEqual(m["os_version"]["name"], shell)
        self.assertEqual((m["os_version"]["major"], m["os_version"]["minor"]), ("3", "1"))

    def test_no_os_release(self):
        vm = self.new_vm()
        etc = tempfile.mkdtemp(dir=self.tmp)
        self.agent(self.domid(vm), etc=etc)
        m = self.wait_metrics(vm)
        self.assertEqual(m["tools_status"], "up_to_date")
        self.assertEqual(m["os_version"]["uname"], UNAME)
        self.assertEqual((m["os_version"]["name"], m["os_version"]["distro"]), ("Linux", "linux"))
        # no PRETTY_NAME: NAME and VERSION_ID
        etc = self.guest_etc('NAME="Plain Linux"\nID=plain\nVERSION_ID=7\n')
        self.agent(self.domid(vm), etc=etc)
        m = self.wait_metrics(vm, lambda m: m["os_version"]["distro"] == "plain")
        self.assertEqual(m["os_version"]["name"], "Plain Linux 7")
        etc = self.guest_etc('NAME="Plain Linux"\nID=rolling\n')
        self.agent(self.domid(vm), etc=etc)
        m = self.wait_metrics(vm, lambda m: m["os_version"]["distro"] == "rolling")
        self.assertEqual(m["os_version"]["name"], "Plain Linux")

    def test_loop_mode_reports_changes(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        etc = self.guest_etc()
        p = subprocess.Popen([AGENT, "--loop", "0.2"], env=self.guest_env(domid, etc), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(self.stop_process, p)
        m = self.wait_metrics(vm, lambda m: m["tools_status"] == "up_to_date")
        # nothing changes in the guest: no new reports
        token = event_from(self.x, ["vm_guest_metrics"], "", 0)["token"]
        r = event_from(self.x, ["vm_guest_metrics"], token, 1.0)
        self.assertEqual([e for e in r["events"] if e["ref"] == m["ref"]], [], "the loop reported nothing new")
        open(os.path.join(etc, "pv-drivers-not-upgradable"), "w").close()
        self.wait_metrics(vm, lambda m: m["tools_status"] == "not_upgradable", what="the loop to see the flag")
        self.assertEqual(self.dom0_read("/local/domain/%d/attr/PVAddons/NotUpgradable" % domid), "1")
        os.unlink(os.path.join(etc, "pv-drivers-not-upgradable"))
        self.wait_metrics(vm, lambda m: m["tools_status"] == "up_to_date", what="the loop to see it go")
        self.assertIsNone(p.poll(), "the loop ended")

    def test_loop_refuses_a_bad_interval(self):
        vm = self.new_vm()
        for bad in ("abc", "0", "-1", "1x"):
            p = subprocess.Popen([AGENT, "--loop", bad], env=self.guest_env(self.domid(vm)),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                out, err = p.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                self.stop_process(p)
                self.fail("--loop %r kept running" % bad)
            self.assertEqual(p.returncode, 2, "--loop %r: %s" % (bad, err))
            self.assertIn("interval", err)

    @staticmethod
    def stop_process(p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in (p.stdout, p.stderr):
            if f:
                f.close()

    def test_install_into_a_root(self):
        root = tempfile.mkdtemp(dir=self.tmp)
        # a systemctl that records its calls: with a root, the agent must not enable
        # anything on the machine it runs on
        fake = tempfile.mkdtemp(dir=self.tmp)
        calls = os.path.join(fake, "calls")
        with open(os.path.join(fake, "systemctl"), "w") as f:
            f.write("#!/bin/sh\necho \"$@\" >> %s\n" % calls)
        os.chmod(os.path.join(fake, "systemctl"), 0o755)
        env = dict(os.environ, PATH=fake + ":" + os.environ["PATH"])
        r = subprocess.run([AGENT, "--install", root], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        installed = os.path.join(root, "usr", "sbin", "xenapid-guest-agent")
        self.assertTrue(filecmp.cmp(installed, AGENT, shallow=False), "installed script differs")
        self.assertTrue(os.stat(installed).st_mode & stat.S_IXUSR)
        with open(os.path.join(root, "etc", "systemd", "system", "xenapid-guest-agent.service")) as f:
            unit = f.read()
        self.assertRegex(unit, r"(?m)^\[Service\]$")
        self.assertRegex(unit, r"(?m)^ExecStart=/usr/sbin/xenapid-guest-agent --loop( \d+)?$")
        self.assertRegex(unit, r"(?m)^\[Install\]$")
        self.assertRegex(unit, r"(?m)^WantedBy=multi-user\.target$")
        self.assertFalse(os.path.exists(calls), "systemctl was called for an install into a root")
        # the installed copy works
        r = subprocess.run([installed, "--version"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.strip(), "xenapid-guest-agent %s" % ".".join(agent_version()))

    def test_help_and_bad_options(self):
        r = subprocess.run([AGENT, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for word in ("--once", "--loop", "--install", "--version", "XENAPID_AGENT_ETC", "NotUpgradable",
                     "data/updated"):
            self.assertIn(word, r.stdout)
        self.assertNotIn("set -u", r.stdout)
        r = subprocess.run([AGENT, "--frobnicate"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--frobnicate", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_agent_without_xenstore_fails(self):
        """A guest whose xenstore cannot be reached: the agent says so and fails."""
        env = self.guest_env(1)
        env["XENSTORED_PATH"] = os.path.join(self.tmp, "no-such-socket")
        env["XENAPID_AGENT_RETRY_DELAY"] = "0.05"
        r = subprocess.run([AGENT], env=env, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("xenstore", r.stderr)
        # it tried the first write its number of times, saying so each time, then gave up
        self.assertEqual(len(re.findall(r"xenstore-write attr/PVAddons/MajorVersion failed \(try \d of 5\)",
                                        r.stderr)), 5, r.stderr)

    def flaky_xenstore_write(self, refusals):
        """A directory to put first on PATH: a xenstore-write that refuses its first
        `refusals` calls (as a busy xenstored can), then runs the stock one."""
        bindir = tempfile.mkdtemp(dir=self.tmp)
        real = shutil.which("xenstore-write")
        self.assertIsNotNone(real, "the stock xenstore-write is needed")
        count = os.path.join(bindir, "count")
        with open(os.path.join(bindir, "xenstore-write"), "w") as f:
            f.write('#!/bin/sh\nn=$(cat %s 2>/dev/null || echo 0); echo $((n + 1)) > %s\n'
                    'if [ "$n" -lt %d ]; then echo "xenstore-write: could not write path $1" >&2; exit 1; fi\n'
                    'exec %s "$@"\n' % (count, count, refusals, real))
        os.chmod(os.path.join(bindir, "xenstore-write"), 0o755)
        return bindir, count

    def test_agent_survives_refused_writes(self):
        """A write xenstored refuses now and then is tried again: the report arrives
        whole, and each refusal is said on stderr (the test guest puts it on its
        console)."""
        vm = self.new_vm()
        domid = self.domid(vm)
        bindir, count = self.flaky_xenstore_write(3)
        env = self.guest_env(domid, XENAPID_AGENT_RETRY_DELAY="0.05")
        env["PATH"] = bindir + os.pathsep + env["PATH"]
        r = subprocess.run([AGENT, "--once"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("xenstore-write attr/PVAddons/MajorVersion failed"), 3, r.stderr)
        self.assertIn("(try 3 of 5): xenstore-write: could not write path attr/PVAddons/MajorVersion", r.stderr)
        major, minor, micro, build = agent_version()
        m = self.wait_metrics(vm)
        self.assertEqual(m["PV_drivers_version"], {"major": major, "minor": minor, "micro": micro, "build": build})
        self.assertEqual(self.dom0_read("/local/domain/%d/attr/PVAddons/MajorVersion" % domid), major)
        # 3 refused, then every key of the report once
        with open(count) as f:
            self.assertGreater(int(f.read()), 3 + 5)


class LifecycleTest(GuestCase):
    """Guest metrics belong to one boot of the VM; the watch to one domain."""

    def test_reset_when_the_vm_starts_again(self):
        vm = self.new_vm()
        m = self.report(vm, version="0.9.0.0")
        self.x.VM.hard_shutdown(vm)
        m2 = self.metrics(vm)
        self.assertEqual(m2["ref"], m["ref"], "stopping keeps the last report")
        self.assertIs(m2["live"], False)
        self.assertEqual(m2["PV_drivers_version"], m["PV_drivers_version"])
        self.x.VM.start(vm, False, False)
        self.assertEqual(self.x.VM.get_guest_metrics(vm), NULL, "metrics of the last boot after a start")
        with self.assertRaises(XenAPI.Failure) as cm:
            self.x.VM_guest_metrics.get_record(m["ref"])
        self.assertEqual(failure(cm.exception)[0], "HANDLE_INVALID")
        time.sleep(QUIET)
        self.assertEqual(self.x.VM.get_guest_metrics(vm), NULL, "metrics before the new boot's agent reported")
        m3 = self.report(vm)
        self.assertNotEqual(m3["ref"], m["ref"])
        self.assertIs(m3["live"], True)
        self.assertEqual(m3["tools_status"], "up_to_date")

    def test_not_live_after_clean_shutdown(self):
        vm = self.new_vm()
        self.report(vm)
        self.x.VM.clean_shutdown(vm)
        self.assertEqual(self.x.VM.get_power_state(vm), "Halted")
        m = self.metrics(vm)
        self.assertIs(m["live"], False)
        self.assertEqual(m["tools_status"], "up_to_date")

    def test_not_live_after_the_guest_powers_off(self):
        vm = self.new_vm()
        domid = self.domid(vm)
        self.report(vm)
        self.d.xenstore("write", "/local/domain/%d/sim/shutdown" % domid, "poweroff")
        deadline = time.time() + 10
        while self.x.VM.get_power_state(vm) != "Halted" and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.x.VM.get_power_state(vm), "Halted")
        self.assertIs(self.metrics(vm)["live"], False)

    def test_stopped_domain_is_no_longer_followed(self):
        vm = self.new_vm()
        old = self.domid(vm)
        m = self.report(vm, version="0.9.0.0")
        self.x.VM.hard_shutdown(vm)
        halted = self.metrics(vm)

        def write_old(major):
            # dom0 writes what the old guest would have, had its domain lived on
            for k, v in (("MajorVersion", major), ("Installed", "1"), ("NotUpgradable", "1")):
                self.d.xenstore("write", "/local/domain/%d/attr/PVAddons/%s" % (old, k), v)
            self.d.xenstore("write", "/local/domain/%d/data/updated" % old, "stale")

        write_old("5")
        time.sleep(QUIET)
        self.assertEqual(self.metrics(vm), halted)
        # a new boot, a new domain: the old one's writes still count for nothing
        self.x.VM.start(vm, False, False)
        self.assertNotEqual(self.domid(vm), old)
        write_old("6")
        time.sleep(QUIET)
        self.assertEqual(self.x.VM.get_guest_metrics(vm), NULL)
        m2 = self.report(vm, version="0.3.0.0")
        self.assertNotEqual(m2["ref"], m["ref"])
        write_old("7")
        time.sleep(QUIET)
        self.assertEqual(self.metrics(vm)["PV_drivers_version"]["major"], "0")


class RebootTest(GuestCase):
    """A reboot is a new boot: its own daemon, so that a crash here fails only this."""

    def test_reset_on_reboot(self):
        """clean_reboot, hard_reboot and a reboot from inside the guest: each boot's
        agent reports afresh, and it is followed."""
        vm = self.new_vm()

        def guest_reboot(vm):
            domid = self.domid(vm)
            self.d.xenstore("write", "/local/domain/%d/sim/shutdown" % domid, "reboot")
            deadline = time.time() + 10
            while int(self.x.VM.get_domid(vm)) in (domid, -1) and time.time() < deadline:
                time.sleep(0.05)

        for i, reboot in enumerate((guest_reboot, self.x.VM.clean_reboot, self.x.VM.hard_reboot)):
            old_domid = self.domid(vm)
            m = self.report(vm, version="0.%d.0.0" % (i + 1))
            reboot(vm)
            self.assertEqual(self.x.VM.get_power_state(vm), "Running")
            self.assertNotEqual(self.domid(vm), old_domid)
            self.assertEqual(self.x.VM.get_guest_metrics(vm), NULL, "after %s" % reboot.__name__)
            m2 = self.report(vm, version="0.%d.5.0" % (i + 1))
            self.assertNotEqual(m2["ref"], m["ref"])
            self.assertEqual(m2["tools_status"], "out_of_date")


class RestartTest(GuestCase):
    """The daemon dies (kill -9) while domains keep running: once back, it follows
    them again."""

    def test_restarted_daemon_follows_running_domains(self):
        a = self.new_vm("a")
        b = self.new_vm("b")
        ma = self.report(a, version="0.9.0.0")
        self.restart_daemon(kill=True)
        self.assertEqual(self.x.VM.get_power_state(a), "Running")
        self.assertEqual(self.x.VM.get_guest_metrics(b), NULL)
        ma2 = self.report(a, version="1.0.0.0")
        self.assertEqual(ma2["ref"], ma["ref"])
        self.assertEqual(ma2["tools_status"], "up_to_date")
        mb = self.report(b, version="0.2.0.0")
        self.assertEqual(mb["tools_status"], "out_of_date")
        # and after a clean restart too
        self.restart_daemon()
        etc = self.guest_etc()
        open(os.path.join(etc, "pv-drivers-not-upgradable"), "w").close()
        self.agent(self.domid(b), etc=etc, version="0.2.0.0")
        self.wait_metrics(b, lambda m: m["tools_status"] == "not_upgradable")


if __name__ == "__main__":
    unittest.main()
