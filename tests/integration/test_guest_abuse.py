"""A guest's xenstore tree is written by the guest, which may be hostile: garbage and
oversized values, keys in any order, data/updated bumped thousands of times a second.
The metrics must stay sensible (unknown is fine), the daemon must not crash, grow
without bound or let one guest delay another's report.

The guest side speaks the xenstore wire protocol itself on the domain's own socket,
for bytes the stock tools would not pass (invalid UTF-8, control characters) and for
the speed of a flood; the flood runs in its own process:
    python3 test_guest_abuse.py --flood SECONDS MODE SOCKET...
"""

import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_guest_metrics import INTERVAL, NULL, QUIET, GuestCase, event_from  # noqa: E402

XS_READ, XS_WRITE, XS_RM, XS_WATCH_EVENT, XS_ERROR = 2, 11, 13, 15, 16
HDR = struct.Struct("<IIII")   # type, req_id, tx_id, len
PV = "attr/PVAddons/"
KEYS = [PV + k for k in ("MajorVersion", "MinorVersion", "MicroVersion", "BuildVersion", "Installed",
                         "NotUpgradable")] + ["data/os_name", "data/os_uname", "data/os_distro",
                                              "data/os_majorver", "data/os_minorver"]
STATUSES = {"not_installed", "out_of_date", "up_to_date", "not_upgradable"}
MIB = 1 << 20


class XsGuest:
    """The guest's end of xenstore: raw requests on its domain socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.rid = 0
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, typ, payload):
        self.rid += 1
        self.s.sendall(HDR.pack(typ, self.rid, 0, len(payload)) + payload)

    def reply(self):
        """The next reply (watch events skipped): (type, payload)."""
        while True:
            while len(self.buf) < HDR.size:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("xenstore closed the connection")
                self.buf += chunk
            typ, _rid, _tx, n = HDR.unpack_from(self.buf)
            while len(self.buf) < HDR.size + n:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise ConnectionError("xenstore closed the connection")
                self.buf += chunk
            body = self.buf[HDR.size:HDR.size + n]
            self.buf = self.buf[HDR.size + n:]
            if typ != XS_WATCH_EVENT:
                return typ, body

    def call(self, typ, payload):
        self.send(typ, payload)
        typ, body = self.reply()
        if typ == XS_ERROR:
            raise OSError(body.rstrip(b"\0").decode())
        return body

    def write(self, path, value):
        if isinstance(value, str):
            value = value.encode()
        self.call(XS_WRITE, path.encode() + b"\0" + value)

    def rm(self, path):
        try:
            self.call(XS_RM, path.encode() + b"\0")
        except OSError as e:
            if str(e) != "ENOENT":
                raise


def flood(seconds, mode, paths):
    """Write as fast as xenstore takes it, pipelined, to every socket in turn.  mode
    "updated": data/updated only; "mixed": the version keys too.  Returns the count."""
    guests = [XsGuest(p) for p in paths]
    batch, n, i = 64, 0, 0
    end = time.time() + seconds
    while time.time() < end:
        for g in guests:
            for _ in range(batch):
                i += 1
                if mode == "mixed" and i % 2:
                    key = KEYS[i % 4]
                    g.send(XS_WRITE, key.encode() + b"\0" + str(i).encode())
                else:
                    g.send(XS_WRITE, b"data/updated\0" + str(i).encode())
            for _ in range(batch):
                typ, body = g.reply()
                if typ == XS_ERROR:
                    raise SystemExit("flood: %r" % body)
            n += batch
    for g in guests:
        g.close()
    return n


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


class GuestAbuseTest(GuestCase):

    def guest(self, vm):
        g = XsGuest(os.path.join(self.d.options["sim-state-dir"], "domain", str(self.domid(vm))))
        self.addCleanup(g.close)
        return g

    def assertSane(self, m):
        """What any report, however bad, must give."""
        self.assertIn(m["tools_status"], STATUSES)
        self.assertIsInstance(m["PV_drivers_up_to_date"], bool)
        self.assertIsInstance(m["PV_drivers_detected"], bool)
        self.assertLessEqual(set(m["PV_drivers_version"]), {"major", "minor", "micro", "build"})
        for v in m["PV_drivers_version"].values():
            self.assertRegex(v, r"^\d{1,9}$")
        self.assertLessEqual(set(m["os_version"]), {"name", "uname", "distro", "major", "minor"})
        for v in list(m["os_version"].values()) + list(m["other"].values()):
            self.assertLessEqual(len(v.encode()), 256 * 3)   # U+FFFD for a bad byte takes 3
            self.assertFalse(any(ord(c) < 0x20 or ord(c) == 0x7f for c in v), "control character in %r" % v)

    def bump_and_wait(self, vm, g, pred, what):
        g.write("data/updated", str(time.time()))
        return self.wait_metrics(vm, pred, what=what)

    def test_garbage_values(self):
        vm = self.new_vm()
        g = self.guest(vm)
        garbage = {PV + "MajorVersion": "abc", PV + "MinorVersion": "-1", PV + "MicroVersion": "1e9",
                   PV + "BuildVersion": "0x10", PV + "Installed": "yes", PV + "NotUpgradable": "maybe",
                   "data/os_name": b"\x1b[2J\x07evil\r\nname\x7f", "data/os_uname": b"\xff\xfe\xfd",
                   "data/os_distro": b"", "data/os_majorver": b"\xc3", "data/os_minorver": "\t"}
        for k, v in garbage.items():
            g.write(k, v)
        m = self.bump_and_wait(vm, g, lambda m: True, "metrics from garbage")
        self.assertSane(m)
        self.assertEqual(m["PV_drivers_version"], {})
        self.assertIs(m["PV_drivers_detected"], False)
        self.assertIs(m["PV_drivers_up_to_date"], False)
        self.assertEqual(m["tools_status"], "not_installed")
        self.assertIn("evil", m["os_version"]["name"])
        self.assertIn("name", m["os_version"]["name"])
        self.assertEqual(m["os_version"]["distro"], "")
        self.assertEqual(m["other"]["PVAddons-NotUpgradable"], "maybe")
        # every client reads it back: XML-RPC (above), JSON-RPC, all records at once
        r = self.d.jsonrpc("VM_guest_metrics.get_record", [self.session._session, m["ref"]])
        self.assertIsNone(r.get("error"), r)
        self.assertEqual(r["result"]["tools_status"], "not_installed")
        self.assertIn(m["ref"], self.x.VM_guest_metrics.get_all_records())
        # half-garbage: what can be read is used
        for k, v in {PV + "MajorVersion": " 2 ", PV + "MinorVersion": "007", PV + "MicroVersion": "1 2",
                     PV + "BuildVersion": "99999999999", PV + "Installed": "1", PV + "NotUpgradable": "0"}.items():
            g.write(k, v)
        m = self.bump_and_wait(vm, g, lambda m: m["PV_drivers_version"].get("major") == "2", "half-garbage")
        self.assertSane(m)
        self.assertEqual(m["PV_drivers_version"], {"major": "2", "minor": "7"})
        self.assertEqual(m["tools_status"], "up_to_date")   # 2.7 >= the host's 1.0.0.0
        # NUL bytes and a NotUpgradable that is almost 1
        g.write(PV + "MajorVersion", b"0\x009")
        g.write(PV + "NotUpgradable", b"1\x00")
        m = self.bump_and_wait(vm, g, lambda m: m["PV_drivers_version"].get("major") != "2", "NUL bytes")
        self.assertSane(m)

    def test_oversized_values(self):
        vm = self.new_vm()
        g = self.guest(vm)
        for k in KEYS:
            g.write(k, ("1" if k.startswith(PV) else "A") * 2000)
        m = self.bump_and_wait(vm, g, lambda m: True, "metrics from 2000-byte values")
        self.assertSane(m)
        self.assertEqual(m["PV_drivers_version"], {})
        self.assertEqual(m["tools_status"], "not_installed")
        for k in ("name", "uname", "distro", "major", "minor"):
            self.assertEqual(m["os_version"][k], "A" * 256, k)
        self.assertEqual(len(m["other"]["PVAddons-Installed"]), 256)
        # multibyte text cut on a character boundary
        g.write("data/os_name", "x" + "é" * 999)
        m = self.bump_and_wait(vm, g, lambda m: m["os_version"]["name"].startswith("x"), "a long UTF-8 name")
        self.assertEqual(m["os_version"]["name"], "x" + "é" * 127)
        # xenstore itself refuses what is too big for a guest; the last report stands
        with self.assertRaises(OSError):
            g.write("data/os_name", "B" * 2100)
        g.write("data/updated", "after a refused write")
        time.sleep(QUIET)
        self.assertEqual(self.metrics(vm)["os_version"]["name"], "x" + "é" * 127)

    def test_keys_in_any_order_many_times(self):
        vm = self.new_vm()
        g = self.guest(vm)
        rnd = random.Random(4)
        for _ in range(40):
            keys = KEYS + ["data/updated"] * rnd.randint(0, 3)
            rnd.shuffle(keys)
            for k in keys:
                g.write(k, str(rnd.randint(0, 3)) if k != "data/updated" else str(rnd.random()))
            if rnd.random() < 0.3:
                g.rm(PV + rnd.choice(["NotUpgradable", "Installed", "MajorVersion"]))
        # the last report, in a random order, bumped once at the end
        final = {PV + "MajorVersion": "1", PV + "MinorVersion": "0", PV + "MicroVersion": "0",
                 PV + "BuildVersion": "7", PV + "Installed": "1", "data/os_name": "Final",
                 "data/os_uname": "u", "data/os_distro": "d", "data/os_majorver": "4", "data/os_minorver": "2"}
        items = list(final.items())
        rnd.shuffle(items)
        g.rm(PV + "NotUpgradable")
        for k, v in items:
            g.write(k, v)
        m = self.bump_and_wait(vm, g, lambda m: m["os_version"].get("name") == "Final", "the final report")
        self.assertEqual(m["PV_drivers_version"], {"major": "1", "minor": "0", "micro": "0", "build": "7"})
        self.assertEqual(m["tools_status"], "up_to_date")
        self.assertEqual(m["os_version"], {"name": "Final", "uname": "u", "distro": "d", "major": "4", "minor": "2"})
        self.assertNotIn("PVAddons-NotUpgradable", m["other"])
        # the latest write wins even when bumps come faster than the interval
        for i in range(20):
            g.write(PV + "BuildVersion", str(100 + i))
            g.write("data/updated", str(i))
        m = self.wait_metrics(vm, lambda m: m["PV_drivers_version"].get("build") == "119", what="the last of 20")
        time.sleep(QUIET)
        self.assertEqual(self.metrics(vm)["PV_drivers_version"]["build"], "119")

    def test_keys_removed(self):
        vm = self.new_vm()
        g = self.guest(vm)
        self.report(vm)
        g.rm("attr/PVAddons")
        for k in KEYS[6:]:
            g.rm(k)
        m = self.bump_and_wait(vm, g, lambda m: m["tools_status"] == "not_installed", "the keys to go")
        self.assertEqual(m["PV_drivers_version"], {})
        self.assertEqual(m["os_version"], {})
        self.assertEqual(m["other"], {})
        self.assertIs(m["live"], True)
        # data/updated itself removed, and a subtree written under it: no crash, and the
        # next proper report lands
        g.rm("data/updated")
        g.write("data/updated/x/y", "z")
        g.rm("data/updated")
        self.report(vm, version="0.4.0.0")

    def test_flood_does_not_delay_another_guest(self):
        flooded = self.new_vm("flooded")
        mixed = self.new_vm("mixed")
        other = self.new_vm("other")
        m_flooded = self.report(flooded, version="0.9.0.0")
        self.report(mixed, version="0.9.0.0")
        sockets = [os.path.join(self.d.options["sim-state-dir"], "domain", str(self.domid(vm)))
                   for vm in (flooded, mixed)]
        pid = self.d.proc.pid
        seconds = 8.0
        token = event_from(self.x, ["vm_guest_metrics"], "", 0)["token"]
        rss_before = rss_bytes(pid)
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--flood", str(seconds), mode, s],
                                  stdout=subprocess.PIPE, text=True)
                 for mode, s in (("updated", sockets[0]), ("mixed", sockets[1]))]
        self.addCleanup(lambda: [p.kill() for p in procs if p.poll() is None])
        started = time.time()
        samples, lands = [], []
        version = 0
        while time.time() - started < seconds - 1:
            samples.append((time.time() - started, rss_bytes(pid)))
            if len(lands) < 3 and time.time() - started > 1 + 2 * len(lands):
                version += 1
                self.agent(self.domid(other), version="0.%d.0.0" % version)
                t = time.time()
                self.wait_metrics(other, lambda m: m["PV_drivers_version"].get("minor") == str(version),
                                  timeout=10, what="the other guest's report during the flood")
                lands.append(time.time() - t)
            time.sleep(0.2)
        counts = []
        for p in procs:
            out, _ = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0)
            counts.append(json.loads(out)["writes"])
        # it was a flood
        for c in counts:
            self.assertGreater(c / seconds, 1000, "only %d writes in %gs" % (c, seconds))
        self.assertEqual(len(lands), 3)
        for s in lands:
            self.assertLess(s, 2.0, "another guest's report took %.2fs to land during the flood: %r" % (s, lands))
        # memory: bounded, and not still growing at the end of the flood
        peak = max(r for _, r in samples)
        self.assertLess(peak - rss_before, 64 * MIB, "RSS %d -> %d during the flood" % (rss_before, peak))
        third = [r for t, r in samples if t < (seconds - 1) / 3]
        late = [r for t, r in samples if t > 2 * (seconds - 1) / 3]
        self.assertLess(max(late) - max(third), 16 * MIB, "still growing: %r" % samples)
        # the rate limit: the flooded guest was read at most once an interval
        r = event_from(self.x, ["vm_guest_metrics"], token, 0.1)
        reads = [e for e in r["events"] if e["ref"] == m_flooded["ref"] and e["operation"] == "mod"]
        self.assertGreaterEqual(len(reads), 1, "the flooded guest was never read")
        self.assertLessEqual(len(reads), seconds / INTERVAL + 3, "%d reads in %gs" % (len(reads), seconds))
        # the flooded guests are still followed, their reports as good as anyone's
        self.report(flooded, version="0.7.0.0")
        self.report(mixed, version="0.6.0.0")
        self.assertLess(rss_bytes(pid) - rss_before, 64 * MIB)

    def test_writes_to_another_domain_are_refused(self):
        """One guest cannot report for another."""
        a = self.new_vm("a")
        b = self.new_vm("b")
        g = self.guest(a)
        path = "/local/domain/%d/" % self.domid(b)
        with self.assertRaises(OSError) as cm:
            g.write(path + PV + "NotUpgradable", "1")
        self.assertEqual(str(cm.exception), "EACCES")
        with self.assertRaises(OSError):
            g.write(path + "data/updated", "x")
        time.sleep(QUIET)
        self.assertEqual(self.x.VM.get_guest_metrics(b), NULL)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--flood":
        n = flood(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
        print(json.dumps({"writes": n}))
        sys.exit(0)
    unittest.main()
