"""get_all_records over a few thousand VMs, which the daemon streams (chunked, written
as the records are read) once the answer passes 256 KiB: over XML-RPC and JSON-RPC
(v1 and v2) it holds exactly what get_record gives for each VM, as do
get_all_records_where and event.from from the start (streamed too); a small table still comes whole
with its length.  The store failing midway (tests/fault/faultshim.c failing its page
reads) cuts the connection, so that no client takes a partial answer for a whole one;
failing before the first piece goes out gives a proper fault.  Clients that stop
reading or go away midway leave the daemon serving everyone else, its store
connections and descriptors back where they were."""

import concurrent.futures
import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import xmlrpc.client

from harness import Daemon
from support import FAST, DaemonTest, XenAPI, failure, http_post, wait_until
from test_store_faults import build_shim, clear_fault, set_fault

NVMS = 2000
FILLERS = 4


def xml_body(method, *params):
    return xmlrpc.client.dumps(tuple(params), method)


class JsonConn:
    """JSON-RPC over one kept-alive connection."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method, params, version="2.0", req_id=1):
        body = {"method": method, "params": params, "id": req_id}
        if version:
            body["jsonrpc"] = version
        self.c.request("POST", "/jsonrpc", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        assert r.status == 200, (r.status, data[:200])
        return json.loads(data)

    def close(self):
        self.c.close()


class Bulk(DaemonTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="xa-bulk-", dir="/tmp")
        cls.shim = build_shim(cls.tmp)
        opts = dict(FAST)
        opts["db-sync"] = "normal"  # the filling is not what is tested
        cls.shared = Daemon(**opts)
        cls.ctl = os.path.join(cls.shared.dir, "fault.ctl")
        saved = dict(os.environ)
        os.environ.update(LD_PRELOAD=cls.shim, FAULT_CTL=cls.ctl, FAULT_MATCH=cls.shared.options["db-path"])
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [saved.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
        try:
            cls.shared.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        s = cls.shared.session(https=False)
        x = s.xenapi

        def fill(k):
            fs = cls.shared.session(https=False)
            try:
                for i in range(k, NVMS, FILLERS):
                    fs.xenapi.VM.create({"name_label": "bulk-%d" % i, "PV_kernel": "/boot/vmlinuz",
                                         "other_config": {"i": str(i), "note": "<&\"'> é"},
                                         "memory_static_max": "268435456", "memory_dynamic_max": "268435456",
                                         "memory_dynamic_min": "268435456", "memory_static_min": "134217728"})
            finally:
                fs.xenapi.session.logout()

        with concurrent.futures.ThreadPoolExecutor(FILLERS) as ex:
            list(ex.map(fill, range(FILLERS)))
        x.session.logout()

    @classmethod
    def tearDownClass(cls):
        cls.shared.cleanup(check=False)
        subprocess.run(["rm", "-rf", cls.tmp], check=False)

    def setUp(self):
        super().setUp()
        self.d = self.shared
        self.clear()
        self.x = self.login(self.d)

    def tearDown(self):
        self.clear()
        super().tearDown()
        self.assertEqual(self.d.sanitizer_reports(), "", "the daemon's log holds a sanitizer report")

    # ---- helpers ----
    def fault(self, *spec):
        set_fault(self.ctl, *spec)

    def clear(self):
        clear_fault(self.ctl)

    def injected(self):
        return self.d.read_log().count("faultshim: ")

    def session_ref(self):
        return self.sessions[-1]._session

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.d.proc.pid))

    def raw_request(self, sref, method="VM.get_all_records"):
        body = xml_body(method, sref).encode()
        return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
                % len(body)) + body

    # ---- the answers are what they were ----
    def test_xmlrpc_matches_get_record(self):
        sref = self.session_ref()
        status, headers, body = http_post(self.d.port, "/", xml_body("VM.get_all_records", sref))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("transfer-encoding"), "chunked", "the big answer was not streamed")
        self.assertGreater(len(body), 256 << 10)
        all_recs = xmlrpc.client.loads(body.decode())[0][0]["Value"]
        refs = self.x.VM.get_all()
        self.assertEqual(len(all_recs), NVMS + 1)  # and dom0
        self.assertEqual(list(all_recs), refs, "not every VM, or not in get_all's order")
        for ref in refs:
            self.assertEqual(all_recs[ref], self.x.VM.get_record(ref), ref)
        # the same through XenAPI.py, over HTTPS
        xs = self.d.session()
        self.sessions.append(xs)
        self.assertEqual(xs.xenapi.VM.get_all_records(), all_recs)
        # and through xe (src/rpc/client.c reading the chunked answer)
        r = self.d.xe("vm-list", "params=uuid", "--minimal")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.strip().split(",")), sorted(v["uuid"] for v in all_recs.values()))

    def test_jsonrpc_matches_get_record(self):
        sref = self.session_ref()
        j = JsonConn(self.d.port)
        try:
            v2 = j.call("VM.get_all_records", [sref], req_id=42)
            self.assertEqual(sorted(v2), ["id", "jsonrpc", "result"])
            self.assertEqual((v2["jsonrpc"], v2["id"]), ("2.0", 42))
            v1 = j.call("VM.get_all_records", [sref], version=None, req_id="seven")
            self.assertEqual(sorted(v1), ["error", "id", "result"])
            self.assertEqual((v1["error"], v1["id"]), (None, "seven"))
            self.assertEqual(v1["result"], v2["result"])
            refs = j.call("VM.get_all", [sref])["result"]
            self.assertEqual(list(v2["result"]), refs)
            self.assertEqual(len(refs), NVMS + 1)
            for ref in refs:
                self.assertEqual(v2["result"][ref], j.call("VM.get_record", [sref, ref])["result"], ref)
        finally:
            j.close()
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "60", "-D", "-", "-o", "/dev/null", "--data-binary",
                            json.dumps({"jsonrpc": "2.0", "method": "VM.get_all_records", "params": [sref], "id": 1}),
                            "http://127.0.0.1:%d/jsonrpc" % self.d.port], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("transfer-encoding: chunked", r.stdout.lower(), "the big answer was not streamed")

    def test_where_matches(self):
        all_recs = self.x.VM.get_all_records()
        some = self.x.VM.get_all_records_where('field "name_label" = "bulk-7" or field "name_label" = "bulk-1999"')
        self.assertEqual(some, {r: v for r, v in all_recs.items() if v["name_label"] in ("bulk-7", "bulk-1999")})
        self.assertEqual(len(some), 2)
        halted = self.x.VM.get_all_records_where('field "power_state" = "Halted"')
        self.assertEqual(halted, {r: v for r, v in all_recs.items() if v["power_state"] == "Halted"})
        self.assertEqual(len(halted), NVMS)
        self.assertEqual(self.x.VM.get_all_records_where('field "name_label" = "none"'), {})
        # a bad expression still fails before any record, as a fault
        self.assertFailure(["INVALID_VALUE", 'field "name_label" =', "Stdlib.Parsing.Parse_error"],
                           self.x.VM.get_all_records_where, 'field "name_label" =')

    def test_event_from_matches(self):
        sref = self.session_ref()
        all_recs = self.x.VM.get_all_records()
        status, headers, body = http_post(self.d.port, "/", xml_body("event.from", sref, ["vm", "host"], "", 30.0))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("transfer-encoding"), "chunked", "the big answer was not streamed")
        ev = xmlrpc.client.loads(body.decode())[0][0]["Value"]
        self.assertEqual(list(ev), ["events", "valid_ref_counts", "token"])
        adds = {e["ref"]: e["snapshot"] for e in ev["events"] if e["class"] == "vm"}
        self.assertEqual(set(e["operation"] for e in ev["events"]), {"add"})
        self.assertEqual(adds, all_recs)
        self.assertEqual([e["ref"] for e in ev["events"] if e["class"] == "host"], self.x.host.get_all())
        self.assertEqual(ev["valid_ref_counts"]["vm"], NVMS + 1)
        # the token is where the events stand: nothing new after it
        later = getattr(self.x.event, "from")(["vm"], ev["token"], 0.1)
        self.assertEqual(later["events"], [])
        # and over JSON-RPC, as JSON's get_all_records has them
        j = JsonConn(self.d.port)
        try:
            jev = j.call("event.from", [sref, ["vm"], "", 30.0], req_id=5)
            jall = j.call("VM.get_all_records", [sref])["result"]
        finally:
            j.close()
        self.assertEqual(jev["id"], 5)
        self.assertEqual({e["ref"]: e["snapshot"] for e in jev["result"]["events"]}, jall)
        self.assertEqual(jev["result"]["valid_ref_counts"]["vm"], NVMS + 1)

    def test_small_table_whole(self):
        sref = self.session_ref()
        status, headers, body = http_post(self.d.port, "/", xml_body("host.get_all_records", sref))
        self.assertEqual(status, 200)
        self.assertNotIn("transfer-encoding", headers)
        self.assertEqual(int(headers["content-length"]), len(body))
        self.assertEqual(list(xmlrpc.client.loads(body.decode())[0][0]["Value"]), self.x.host.get_all())

    # ---- failures midway ----
    def test_store_fails_midway(self):
        sref = self.session_ref()
        before = self.injected()
        # past the first pieces (each page read is a few records), before the end
        self.fault("read", "EIO", 300)
        with self.assertRaises(Exception) as cm:
            self.x.VM.get_all_records()
        self.assertNotIsInstance(cm.exception, XenAPI.Failure, "a partial answer read as a fault")
        self.assertGreater(self.injected(), before, "the fault did not happen")
        self.fault("read", "EIO", 300)  # afresh
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "60", "-o", "/dev/null", "--data-binary",
                            json.dumps({"jsonrpc": "2.0", "method": "VM.get_all_records", "params": [sref], "id": 1}),
                            "http://127.0.0.1:%d/jsonrpc" % self.d.port], capture_output=True, text=True)
        self.assertEqual(r.returncode, 18, "curl: the transfer was not cut: " + r.stderr)  # partial file
        self.clear()
        self.assertIn("VM.get_all_records: failed after part of its answer was sent", self.d.read_log())
        self.assertEqual(len(self.x.VM.get_all_records()), NVMS + 1)

    def test_store_fails_first(self):
        before = self.injected()
        self.fault("read", "EIO", 0)
        with self.assertRaises(XenAPI.Failure) as cm:
            self.x.VM.get_all_records()
        self.assertEqual(failure(cm.exception)[0], "INTERNAL_ERROR")
        self.assertGreater(self.injected(), before, "the fault did not happen")
        self.clear()
        self.assertEqual(len(self.x.VM.get_all_records()), NVMS + 1)

    # ---- clients that go away or stall ----
    # Descriptors tell whether the streams' store connections were closed: SQLite keeps
    # the descriptor of a closed connection for the next one to open while others hold
    # locks on the file, so the count is taken after a first round of the same.
    def leave_midway(self, sref, n):
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
            s.sendall(self.raw_request(sref))
            got = 0
            while got < (64 << 10) * (1 + i % 5):
                got += len(s.recv(65536))
            s.close()

    def stall(self, sref, n):
        stalled = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.d.port), timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(self.raw_request(sref))
            stalled.append(s)
        time.sleep(1)
        return stalled

    def test_clients_leave_midway(self):
        sref = self.session_ref()
        self.leave_midway(sref, 5)
        time.sleep(1)
        base = self.open_fds()
        self.leave_midway(sref, 20)
        wait_until(lambda: self.open_fds() <= base, timeout=20, what="the streams' descriptors closed")
        self.assertEqual(len(self.x.VM.get_all_records()), NVMS + 1)

    def stalled_round(self, sref):
        stalled = self.stall(sref, 12)  # more than the store's 8 reader connections
        try:
            # everyone else is served meanwhile, reads and writes
            vm = self.x.VM.create({"name_label": "while-stalled", "PV_kernel": "/boot/vmlinuz"})
            self.assertEqual(self.x.VM.get_record(vm)["name_label"], "while-stalled")
            self.assertEqual(len(self.x.VM.get_all()), NVMS + 2)
            self.assertEqual(len(self.x.VM.get_all_records()), NVMS + 2)
            self.x.VM.destroy(vm)
        finally:
            for s in stalled:
                s.close()

    def test_stalled_readers_hold_nothing(self):
        sref = self.session_ref()
        self.stalled_round(sref)
        time.sleep(1)
        base = self.open_fds()
        self.stalled_round(sref)
        wait_until(lambda: self.open_fds() <= base, timeout=20, what="the streams' descriptors closed")
