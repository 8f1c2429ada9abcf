"""What the integration tests share: test cases owning daemons whose logs are checked
for sanitizer reports; making VMs; the simulated host as a user of it sees it (its guests'
side of xenstore and dom0's, through the stock xenstore-* tools); raw HTTP and XML-RPC on
the wire, curl for JSON-RPC, the unix socket; and the datamodel read from
datamodel/datamodel.xml."""

import http.client
import json
import os
import re
import socket
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET
import xmlrpc.client

from harness import PASSWORD, ROOT, Daemon, failure  # noqa: F401  (re-exported)
from os_xenapi.client import XenAPI  # noqa: F401

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


def wait_until(pred, timeout=10.0, interval=0.02, what="a condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---- test cases ----

class Assertions:
    def assertFailure(self, expected, fn, *args):
        """fn(*args) raises XenAPI.Failure whose ErrorDescription is expected."""
        with self.assertRaises(XenAPI.Failure) as cm:
            fn(*args)
        self.assertEqual(failure(cm.exception), list(expected))
        return cm.exception


class DaemonCase(Assertions, unittest.TestCase):
    """One daemon for the whole class (options from `options`), a XenAPI.py session
    to it as self.x; every test fails if the daemon's log gains a sanitizer report."""

    options = {}

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(**cls.options).start()
        cls.session = cls.d.session()
        cls.x = cls.session.xenapi

    @classmethod
    def tearDownClass(cls):
        try:
            cls.session.xenapi.session.logout()
        except Exception:  # the daemon may be gone: the check below says why
            pass
        cls.session("close")()
        cls.d.cleanup()

    def tearDown(self):
        reports = self.d.sanitizer_reports()
        self.assertEqual(reports, "", "sanitizer report in the daemon's log")


class DaemonTest(Assertions, unittest.TestCase):
    """Tests that start their own daemons (with the FAST guest timeouts); every
    daemon's log is checked for sanitizer reports when the test ends."""

    def setUp(self):
        self.daemons = []
        self.sessions = []
        # tearDown does not run when a subclass's setUp fails after starting daemons
        # (a pool that did not form): the cleanups do
        self.addCleanup(self.stop_leftovers)

    def stop_leftovers(self):
        for d in self.daemons:
            d.cleanup(check=False)  # stops it first
        self.daemons = []

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
        reports = [d.sanitizer_reports() for d in self.daemons]
        self.stop_leftovers()
        self.assertEqual([r for r in reports if r], [], "the daemon's log holds sanitizer reports")

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
        cls.shared.cleanup(check=False)  # a report fails the test that caused it

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
            self.assertEqual(self.d.sanitizer_reports(), "", "the daemon's log holds a sanitizer report")


# ---- VMs ----

def list_methods(d):
    """system.listMethods, as a client discovering the API calls it: over XML-RPC
    the bare array, as xapi answers (ocaml/xapi/api_server.ml)."""
    with d.proxy() as p:
        return p.system.listMethods()

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


# ---- the simulated host, as its guests and dom0 see it ----
# A simulated domain's guest reaches xenstore on its own socket, sim-state-dir/domain/<domid>
# (the XENSTORED_PATH of the guest agent); the socket goes when the domain is destroyed.

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


def guest_domids(d):
    """The domains of the simulated host other than dom0: those whose guest has its
    side of xenstore."""
    return sorted(int(n) for n in os.listdir(os.path.join(d.options["sim-state-dir"], "domain"))
                  if n.isdigit())


def guest_vm_uuid(d, domid):
    """The uuid of the VM a domain runs, as its guest reads it (its vm key); None if the
    guest cannot reach xenstore."""
    r = as_guest(d, domid, "read", "vm")
    vm = r.stdout.strip()
    return vm[len("/vm/"):] if r.returncode == 0 and vm.startswith("/vm/") else None


def domains_of(d, uuid):
    """The domains whose guest says it runs the VM uuid."""
    return [domid for domid in guest_domids(d) if guest_vm_uuid(d, domid) == uuid]


def domain_alive(d, domid):
    """The domain's guest reaches xenstore and reads its own domid there."""
    r = as_guest(d, domid, "read", "domid")
    return r.returncode == 0 and r.stdout.strip() == str(domid)


def domain_gone(d, domid, timeout=2.0):
    """The domain's guest side of xenstore goes (the simulated xenstored drops it on its
    own thread, a moment after the destroy returned); True, or AssertionError."""
    return wait_until(lambda: not os.path.exists(guest_socket(d, domid)), timeout,
                      what="domain %s to be gone" % domid)


# ---- what the simulated hypervisor offers an operator ----
# The device model's command line, in device-model-dir/<domid>.argv as the xc backend
# keeps it; and the simulator's control (`xenapid --sim-domain`), which changes its
# domains while the daemon is down, as a hypervisor does under a dead toolstack.

def dm_argv_path(d, domid):
    return os.path.join(d.options["device-model-dir"], "%s.argv" % domid)


def sim_dm_argv(d, domid):
    """The device model's command line of domain domid, from its <domid>.argv (one
    argument a line, a backslash or newline inside one written \\\\ or \\n); [] when the
    domain has none."""
    try:
        with open(dm_argv_path(d, domid), newline="\n") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return []
    assert lines[-1] == "", "%s does not end its last line" % dm_argv_path(d, domid)
    return [re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), ln) for ln in lines[:-1]]


def sim_control(d, domid, *args):
    """xenapid --sim-domain DOMID ARGS on the daemon's configuration; the completed
    process (check it: the control refuses while a daemon runs)."""
    return subprocess.run(d.args() + ["--sim-domain", str(domid)] + list(args), capture_output=True,
                          text=True, timeout=30)


def _sim_control_ok(d, domid, *args):
    r = sim_control(d, domid, *args)
    assert r.returncode == 0, "xenapid --sim-domain %s %s: %s" % (domid, " ".join(args), r.stderr)


def remove_sim_domain(d, domid):
    """Make a domain vanish from the (stopped) simulator."""
    _sim_control_ok(d, domid, "--remove")


def sim_list(d):
    """The simulated host's domains but dom0, as `xenapid --sim-list` prints them (as
    `xl list` on a real host): domid -> (uuid, state), state running, paused, shutdown
    or dying.  Works beside the running daemon."""
    r = subprocess.run(d.args() + ["--sim-list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "xenapid --sim-list: %s" % r.stderr
    out = {}
    for line in r.stdout.splitlines():
        domid, uuid, state, _ = line.split("\t")
        if domid != "0":
            out[int(domid)] = (uuid, state)
    return out


def sim_fault(d, spec):
    """xenapid --sim-fault SPEC: the simulator fails the next passes through a step."""
    r = subprocess.run(d.args() + ["--sim-fault", spec], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "xenapid --sim-fault %s: %s" % (spec, r.stderr)


def set_sim_domain_shutdown(d, domid, reason):
    """The (stopped) simulator's domain shuts down: reason poweroff, reboot or crash."""
    _sim_control_ok(d, domid, "--set-state", "shutdown", "--reason", reason)


# ---- on the wire ----

def http_post(port, path, body, headers=None, timeout=30):
    """POST body (bytes or str) with http.client; returns (status, headers, body bytes)."""
    if isinstance(body, str):
        body = body.encode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Content-Type": "text/xml"}
        h.update(headers or {})
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def xml_call_raw(port, method, *params, path="/"):
    """An XML-RPC call as xmlrpc.client writes it; returns the raw response text."""
    body = xmlrpc.client.dumps(tuple(params), method)
    status, headers, data = http_post(port, path, body)
    assert status == 200, (status, data)
    return data.decode()


def xml_body_raw(port, body, path="/"):
    status, headers, data = http_post(port, path, body)
    assert status == 200, (status, data)
    return data.decode()


def parse_response(text):
    """The envelope struct of an XML-RPC response, as xmlrpc.client reads it."""
    return xmlrpc.client.loads(text)[0][0]


def raw_exchange(port, data, read_timeout=10.0, shut_write=False):
    """Send raw bytes on a fresh TCP connection; return what comes back until the
    server closes the connection or read_timeout passes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.time() + read_timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                m = re.search(rb"content-length:\s*(\d+)", head, re.I)
                if m and len(rest) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def status_of(response):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(m.group(1)) if m else None


def curl_json(port_or_socket, payload, path="/jsonrpc", unix=False):
    """POST a JSON-RPC payload (dict, or raw str) with curl; returns the parsed reply."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    args = ["curl", "-s", "-S", "--max-time", "30", "-H", "Content-Type: application/json", "-d", body]
    if unix:
        args += ["--unix-socket", port_or_socket, "http://localhost" + path]
    else:
        args += ["http://127.0.0.1:%d%s" % (port_or_socket, path)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class UnixTransport(xmlrpc.client.Transport):
    """xmlrpc.client over the daemon's unix socket, keeping the connection alive."""

    def __init__(self, path):
        super().__init__()
        self.unix_path = path

    def make_connection(self, host):
        if self._connection and self._connection[0] == host:
            return self._connection[1]
        self._connection = host, UnixHTTPConnection(self.unix_path)
        return self._connection[1]


def unix_proxy(path):
    return xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(path), allow_none=True)


# ---- the datamodel, as the tests read it ----

class Field:
    def __init__(self, el):
        self.name = el.get("name")
        self.type = el.get("type", "string")
        self.qualifier = el.get("qualifier", "RW")
        self.default = el.get("default")
        self.inverse = el.get("inverse")
        self.custom_setter = el.get("setter") == "custom"
        self.internal = el.get("internal") in ("yes", "true")  # never on the wire


class Klass:
    def __init__(self, el):
        self.name = el.get("name")
        self.table = el.get("table", "yes") in ("yes", "true")
        self.create = el.get("create") in ("yes", "true")
        self.destroy = el.get("destroy") in ("yes", "true")
        self.get_all = el.get("get_all", "yes") in ("yes", "true")
        self.events = el.get("events", "yes") in ("yes", "true")
        # the fields on the wire: an internal one is in no record and has no getter
        self.fields = [Field(f) for f in el.findall("field") if f.get("internal") not in ("yes", "true")]
        self.messages = {m.get("name"): m for m in el.findall("message")}

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        return None


def load_datamodel():
    root = ET.parse(os.path.join(ROOT, "datamodel", "datamodel.xml")).getroot()
    enums = {e.get("name"): [v.get("name") for v in e.findall("value")] for e in root.findall("enum")}
    classes = {c.get("name"): Klass(c) for c in root.findall("class")}
    errors = {e.get("name"): [p.get("name") for p in e.findall("param")] for e in root.findall("error")}
    return enums, classes, errors


def plain(v):
    """A value as a test compares it: xmlrpc.client's DateTime as its text."""
    if isinstance(v, xmlrpc.client.DateTime):
        return v.value
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v
