#!/usr/bin/python3
"""Seed corpora from real traffic (tests/fuzz/corpus/<harness>/).

  capture.py http [test modules...]  runs integration tests (default: test_wire test_generic
      test_errors test_session test_events test_tasks) with every HTTP request the clients
      (XenAPI.py, xmlrpc.client, the JSON-RPC helpers) send recorded; the bodies become the
      xmlrpc and json corpora, the whole requests the http corpus.
  capture.py xenstore  starts a daemon on the simulator and records, through a proxy in
      front of its xenstore socket, the bytes the stock xenstore-* tools send as dom0 and the
      guest agent (scripts/xenapid-guest-agent) sends as domain 1: the xenstored corpus
      (mode byte 0 for dom0, 1 for the guest, then the connection's bytes).

Needs a built bin/xenapid (or XENAPID_BIN).  Each seed is named by its content's sha1,
so capturing again adds only what is new."""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
MAX_SEED = 8192   # bytes: a seed larger than this teaches the fuzzer nothing new
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def save(harness, data, per_key=None, key=None, limit=None):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if per_key is not None and limit is not None:
        if per_key.get(key, 0) >= limit:
            return False
        per_key[key] = per_key.get(key, 0) + 1
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    return True


# ---- HTTP: XML-RPC and JSON-RPC bodies ----
def capture_http(modules):
    import http.client
    import re
    import unittest

    requests = []
    orig_send, orig_getresponse = http.client.HTTPConnection.send, http.client.HTTPConnection.getresponse

    def send(self, data):
        if not hasattr(self, "_fuzz_out"):
            self._fuzz_out = bytearray()
        self._fuzz_out += data if isinstance(data, (bytes, bytearray)) else data.encode()
        return orig_send(self, data)

    def getresponse(self, *a, **k):
        out = getattr(self, "_fuzz_out", None)
        if out:
            requests.append(bytes(out))
            self._fuzz_out = bytearray()
        return orig_getresponse(self, *a, **k)

    http.client.HTTPConnection.send = send
    http.client.HTTPConnection.getresponse = getresponse
    suite = unittest.defaultTestLoader.loadTestsFromNames(modules)
    unittest.TextTestRunner(verbosity=0).run(suite)
    http.client.HTTPConnection.send, http.client.HTTPConnection.getresponse = orig_send, orig_getresponse

    # at most a few bodies per method, none large: the corpus stays small and every message is in it
    per = {}
    counts = {"xmlrpc": 0, "json": 0, "http": 0}
    for req in requests:
        head, _, body = req.partition(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].split(b" ")
        path = line[1] if len(line) > 1 else b"/"
        m = re.search(rb"<methodName>([^<]*)</methodName>|\"method\"\s*:\s*\"([^\"]*)\"", body)
        method = (m.group(1) or m.group(2)) if m else body[:40]
        kind = "json" if path.startswith(b"/jsonrpc") else "xmlrpc"
        if len(req) > MAX_SEED:
            continue
        if save(kind, body, per, (kind, method), 2):
            counts[kind] += 1
        verb = line[0]
        cls = method.split(b".")[0]
        if save("http", req, per, ("http", verb, path, cls), 1):
            counts["http"] += 1
    print("captured %d requests: %s" % (len(requests), counts))


# ---- xenstore: what the tools and the guest agent send ----
class Proxy:
    """A unix socket in front of the server's; what each client sends is recorded."""

    def __init__(self, path, target):
        self.path, self.target, self.conns = path, target, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.target)
            rec = bytearray()
            self.conns.append(rec)
            threading.Thread(target=self.pump, args=(c, s, rec), daemon=True).start()
            threading.Thread(target=self.pump, args=(s, c, None), daemon=True).start()

    @staticmethod
    def pump(a, b, rec):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if rec is not None:
                    rec += d
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def take(self):
        time.sleep(0.2)
        out = [bytes(r) for r in self.conns if r]
        self.conns.clear()
        return out


def capture_xenstore():
    from harness import Daemon
    from os_xenapi.client import XenAPI

    d = Daemon(guest_metrics_interval="0.2")
    d.start()
    tmp = tempfile.mkdtemp(prefix="xa-cap-", dir="/tmp")
    n = 0
    try:
        x = XenAPI.Session(d.url)
        x.login_with_password("root", "s3cret-pw")
        mib = 1 << 20
        vm = x.xenapi.VM.create({"name_label": "capture", "PV_kernel": "/boot/vmlinuz", "PV_args": "",
                                 "memory_static_max": str(128 * mib), "memory_dynamic_max": str(128 * mib),
                                 "memory_dynamic_min": str(128 * mib), "memory_static_min": str(64 * mib),
                                 "VCPUs_max": "1", "VCPUs_at_startup": "1"})
        x.xenapi.VM.start(vm, False, False)
        domid = x.xenapi.VM.get_domid(vm)
        dom0 = Proxy(os.path.join(tmp, "dom0"), d.xenstore_socket)
        guest = Proxy(os.path.join(tmp, "guest"),
                      os.path.join(d.options["sim-state-dir"], "domain", str(domid)))
        env0 = dict(os.environ, XENSTORED_PATH=dom0.path)
        home = "/local/domain/%s" % domid
        dom0_cmds = [
            ["xenstore-write", "/fuzz/a", "1", "/fuzz/b/c", "two words"],
            ["xenstore-read", "/fuzz/a"],
            ["xenstore-read", "-s", home + "/name"],
            ["xenstore-ls", "-f", "-p", home],
            ["xenstore-list", "/local/domain"],
            ["xenstore-exists", "/fuzz/nope"],
            ["xenstore-chmod", "/fuzz/a", "n0", "r%s" % domid, "w5", "b7"],
            ["xenstore-chmod", "-r", "/fuzz", "n0"],
            ["xenstore-rm", "/fuzz/b/c"],
            ["xenstore-rm", "-t", "/fuzz"],
            ["xenstore-watch", "-n", "1", home + "/data/updated"],
            ["xenstore-watch", "-n", "1", "@releaseDomain"],
            ["xenstore-write", "/fuzz/esc", "a\\x00b\\n\\\\"],
            ["xenstore-read", home + "/attr/PVAddons/MajorVersion"],
        ]
        for cmd in dom0_cmds:
            subprocess.run(cmd, env=env0, capture_output=True, timeout=10)
        for rec in dom0.take():
            n += save("xenstored", b"\x00" + rec)
        envg = dict(os.environ, XENSTORED_PATH=guest.path, XENAPID_AGENT_UNAME="6.1.0-18-test-amd64",
                    XENAPID_AGENT_ETC=tmp, XENAPID_AGENT_STATE=tempfile.mkdtemp(dir=tmp))
        with open(os.path.join(tmp, "os-release"), "w") as f:
            f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12.5"\n')
        agent = os.path.join(ROOT, "scripts", "xenapid-guest-agent")
        subprocess.run([agent], env=envg, capture_output=True, timeout=30)
        subprocess.run([agent], env=dict(envg, XENAPID_AGENT_VERSION="0.9.1.2"), capture_output=True, timeout=30)
        for cmd in (["xenstore-read", "name"], ["xenstore-write", "data/os_name", "\\x1b[2Jevil"],
                    ["xenstore-ls", "attr"], ["xenstore-rm", "attr/PVAddons"],
                    ["xenstore-write", "/local/domain/0/x", "denied"],
                    ["xenstore-watch", "-n", "1", "control/shutdown"]):
            subprocess.run(cmd, env=envg, capture_output=True, timeout=10)
        for rec in guest.take():
            n += save("xenstored", b"\x01" + rec)
        x.xenapi.VM.hard_shutdown(vm)
        x.xenapi.VM.destroy(vm)
        x.logout()
    finally:
        d.stop()
        subprocess.run(["rm", "-rf", tmp, d.dir])
    print("captured %d xenstore connections" % n)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "http":
        capture_http(sys.argv[2:] or ["test_wire", "test_generic", "test_errors", "test_session",
                                      "test_events", "test_tasks"])
    elif what == "xenstore":
        capture_xenstore()
    else:
        sys.exit(__doc__)
