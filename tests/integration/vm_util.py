"""Helpers shared by the VM lifecycle, platform version, xenstore layout and restart
tests: making VMs, waiting for the daemon to notice things, reading the simulator's
state the way a user of the simulator can (its state file and its xenstore), and
checking the daemon's log for sanitizer reports."""

import os
import re
import subprocess
import time
import unittest
import urllib.parse

from harness import Daemon, failure  # noqa: F401  (re-exported for the tests)
from os_xenapi.client import XenAPI

HALTED_OPS = {"start", "start_on", "clone", "destroy"}
RUNNING_OPS = {"clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot", "pause",
               "suspend", "pool_migrate"}
PAUSED_OPS = {"unpause", "hard_shutdown", "shutdown", "hard_reboot"}
SUSPENDED_OPS = {"resume", "resume_on", "hard_shutdown", "shutdown", "destroy"}
OPS_BY_STATE = {"Halted": HALTED_OPS, "Running": RUNNING_OPS, "Paused": PAUSED_OPS,
                "Suspended": SUSPENDED_OPS}

MIB = 1 << 20

# Short guest timeouts keep the tests fast: an unresponsive guest fails the clean
# shutdown after this long.
FAST = {"shutdown_ack_timeout": 0.5, "clean_shutdown_timeout": 5}


def list_methods(d):
    """system.listMethods, as a client discovering the API calls it."""
    with d.proxy() as p:
        return p.system.listMethods()["Value"]


def wait_until(pred, timeout=10.0, interval=0.02, what="a condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


def hvm_vm(x, name="hvm", **fields):
    rec = {"name_label": name, "HVM_boot_policy": "BIOS order", "memory_static_max": str(256 * MIB),
           "memory_dynamic_max": str(256 * MIB), "memory_dynamic_min": str(256 * MIB),
           "memory_static_min": str(128 * MIB)}
    rec.update(fields)
    return x.VM.create(rec)


def pv_vm(x, name="pv", **fields):
    rec = {"name_label": name, "PV_kernel": "/boot/vmlinuz-guest", "PV_args": "console=hvc0",
           "memory_static_max": str(128 * MIB), "memory_dynamic_max": str(128 * MIB),
           "memory_dynamic_min": str(128 * MIB), "memory_static_min": str(64 * MIB)}
    rec.update(fields)
    return x.VM.create(rec)


def unresponsive(x, name="deaf", **fields):
    """An HVM VM whose simulated guest ignores control/shutdown."""
    return hvm_vm(x, name, platform={"sim-guest": "unresponsive"}, **fields)


def sim_domains(d):
    """The simulator's domains, from its state file: {domid: {...}}."""
    out = {}
    path = os.path.join(d.options["sim-state-dir"], "domains")
    with open(path, newline="\n") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] != "dom":
                continue
            domid = int(fields[1])
            argv = fields[10].split("\x1f") if len(fields) > 10 and fields[10] else []
            out[domid] = {"uuid": fields[2], "name": fields[3], "state": int(fields[4]),
                          "reason": int(fields[5]), "hvm": fields[6] == "1",
                          "memory": int(fields[7]),
                          "argv": [urllib.parse.unquote(a) for a in argv]}  # %XX-escaped
    return out


def remove_sim_domain(d, domid):
    """Make a domain vanish from the (stopped) simulator: drop its line."""
    path = os.path.join(d.options["sim-state-dir"], "domains")
    with open(path) as f:
        lines = f.readlines()
    kept = [ln for ln in lines if not (ln.startswith("dom\t") and ln.split("\t")[1] == str(domid))]
    assert len(kept) == len(lines) - 1, "domain %s not in %s" % (domid, path)
    with open(path, "w") as f:
        f.writelines(kept)


def guest_socket(d, domid):
    return os.path.join(d.options["sim-state-dir"], "domain", str(domid))


def as_guest(d, domid, tool, *args):
    """Run a stock xenstore-* tool as the guest of domain domid (its own socket)."""
    env = dict(os.environ)
    env["XENSTORED_PATH"] = guest_socket(d, domid)
    return subprocess.run(["xenstore-" + tool] + list(args), env=env, capture_output=True, text=True,
                          timeout=30)


def xs_read(d, path):
    """xenstore-read as dom0; None when the node does not exist."""
    r = d.xenstore("read", path, check=False)
    return r.stdout.rstrip("\n") if r.returncode == 0 else None


def xs_exists(d, path):
    return d.xenstore("exists", path, check=False).returncode == 0


SAN_PATTERNS = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: (Address|Undefined|Leak)Sanitizer")


class DaemonTest(unittest.TestCase):
    """Tests that start their own daemons; every daemon's log is checked for sanitizer
    reports when the test ends."""

    def setUp(self):
        self.daemons = []
        self.sessions = []

    def make_daemon(self, **options):
        """A daemon with the fast guest timeouts, stopped and checked when the test ends."""
        opts = dict(FAST)
        opts.update(options)
        d = Daemon(**opts)
        self.daemons.append(d)
        return d

    def start_daemon(self, **options):
        return self.make_daemon(**options).start()

    def tearDown(self):
        self.close_sessions()
        for d in self.daemons:
            d.stop()
        reports = []
        for d in self.daemons:
            log = d.read_log()
            m = SAN_PATTERNS.search(log)
            if m:
                reports.append(log[max(0, m.start() - 2000):m.start() + 8000])
            try:
                d.cleanup()
            except AssertionError:
                pass  # the harness saw the same report
        self.assertEqual(reports, [], "the daemon's log holds sanitizer reports")

    def login(self, d):
        s = d.session()
        self.sessions.append(s)
        return s.xenapi

    def close_sessions(self):
        for s in self.sessions:
            try:
                s.xenapi.session.logout()
            except Exception:
                pass  # the daemon may be gone already
            s("close")()
        self.sessions = []

    # ---- assertions a user would make ----
    def assertFailure(self, expected, fn, *args):
        with self.assertRaises(XenAPI.Failure) as cm:
            fn(*args)
        self.assertEqual(failure(cm.exception), expected)

    def assertPowerState(self, x, vm, state):
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["power_state"], state)
        self.assertEqual(rec["current_operations"], {})
        self.assertEqual(set(rec["allowed_operations"]), OPS_BY_STATE[state],
                         "allowed_operations of a %s VM" % state)
        if state in ("Running", "Paused"):
            self.assertGreater(int(rec["domid"]), 0)
            self.assertEqual(rec["resident_on"], x.host.get_all()[0])
        else:
            self.assertEqual(rec["domid"], "-1")
            self.assertEqual(rec["resident_on"], "OpaqueRef:NULL")
        self.assertEqual(rec["scheduled_to_be_resident_on"], "OpaqueRef:NULL")
        return rec


class SharedDaemonTest(DaemonTest):
    """One daemon for the whole class (options from `options`, with FAST), for tests
    that only touch the VMs they make; self.d and self.x as in DaemonTest.  Its log
    is checked after every test, and the VMs a test left running are stopped."""

    options = {}

    @classmethod
    def setUpClass(cls):
        opts = dict(FAST)
        opts.update(cls.options)
        cls.shared = Daemon(**opts).start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.shared.cleanup()
        except AssertionError:
            pass  # reported by the test that caused it

    def setUp(self):
        super().setUp()
        self.d = self.shared
        self.x = self.login(self.d)

    def tearDown(self):
        try:
            for vm, rec in self.x.VM.get_all_records().items():
                if not rec["is_control_domain"] and rec["power_state"] != "Halted" and not rec["current_operations"]:
                    self.x.VM.hard_shutdown(vm)
        finally:
            super().tearDown()
            m = SAN_PATTERNS.search(self.d.read_log())
            self.assertIsNone(m, "the daemon's log holds a sanitizer report:\n" +
                              (self.d.read_log()[max(0, m.start() - 2000):m.start() + 8000] if m else ""))
