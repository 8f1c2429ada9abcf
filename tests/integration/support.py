"""What the foundation's integration tests share: a test case owning a daemon whose
log is checked for sanitizer reports after every test, raw HTTP and XML-RPC on the
wire, curl for JSON-RPC, the unix socket, and the datamodel read from
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


class DaemonCase(unittest.TestCase):
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

    # ---- assertions ----
    def assertFailure(self, expected, fn, *args):
        """fn(*args) raises XenAPI.Failure whose ErrorDescription is expected."""
        with self.assertRaises(XenAPI.Failure) as cm:
            fn(*args)
        self.assertEqual(failure(cm.exception), list(expected))
        return cm.exception


def wait_until(pred, timeout=10.0, interval=0.02, what="a condition"):
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" % (timeout, what))
        time.sleep(interval)


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


class Klass:
    def __init__(self, el):
        self.name = el.get("name")
        self.table = el.get("table", "yes") in ("yes", "true")
        self.create = el.get("create") in ("yes", "true")
        self.destroy = el.get("destroy") in ("yes", "true")
        self.fields = [Field(f) for f in el.findall("field")]
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
