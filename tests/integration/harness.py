"""Run a real xenapid for a test: private directories, free loopback ports (HTTPS and
plain HTTP), a known password, the simulator backend; and clients to talk to it as
users do: XenAPI.py and xmlrpc.client, JSON-RPC with urllib or curl, xe -- over HTTPS,
trusting the daemon's own certificate, or over plain HTTP on loopback."""

import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
import xmlrpc.client

from os_xenapi.client import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
XENAPID = os.environ.get("XENAPID_BIN", os.path.join(ROOT, "bin", "xenapid"))
XE = os.environ.get("XE_BIN", os.path.join(ROOT, "bin", "xe"))
PASSWORD = "s3cret-pw"

# What a sanitized daemon writes to its log when ASan, LSan or UBSan find something.
SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                              r"SUMMARY: \w*Sanitizer")


class HTTPSTransport(xmlrpc.client.SafeTransport):
    """xmlrpc.client's HTTPS transport, retrying a request once on a fresh connection
    when the kept-alive one turns out closed -- as its plain-HTTP transport does for
    ECONNRESET, EPIPE and RemoteDisconnected, but not for their TLS spelling (an
    SSLEOFError from the write), which a daemon restart produces."""

    def request(self, host, handler, request_body, verbose=False):
        try:
            return super().request(host, handler, request_body, verbose)
        except ssl.SSLEOFError:
            self.close()
            return self.single_request(host, handler, request_body, verbose)


def fingerprint_of(pem):
    """The SHA-256 fingerprint of the first certificate of a PEM text, as colon-separated
    upper-case hex (what `openssl x509 -fingerprint -sha256` and xe print)."""
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    if not m:
        raise ValueError("no certificate in the PEM text")
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0))).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


class Daemon:
    """A xenapid process.  Extra keyword arguments become --key=value options
    (underscores become dashes).

    It serves HTTPS on https_port with the certificate it makes at its first start
    (tls-certificate, tls-key in its directory), and plain HTTP on port, on
    127.0.0.1.  session() talks HTTPS unless asked not to; proxy(), jsonrpc() and
    url (which existing tests build raw requests from) stay on plain HTTP."""

    def __init__(self, workdir=None, address="127.0.0.1", **options):
        self.own_dir = workdir is None
        # short paths: unix socket names are limited to 108 bytes
        self.dir = workdir or tempfile.mkdtemp(prefix="xa-", dir="/tmp")
        self.options = {
            "db-path": os.path.join(self.dir, "xenapid.db"),
            "auth-file": os.path.join(self.dir, "passwd"),
            "unix-socket": os.path.join(self.dir, "xenapid.sock"),
            "sim-state-dir": os.path.join(self.dir, "sim"),
            "device-model-dir": os.path.join(self.dir, "dm"),
            "inventory": os.path.join(self.dir, "inventory"),
            "listen-address": address,
            "listen-port": "0",
            "https-address": address,
            "https-port": "0",
            "tls-certificate": os.path.join(self.dir, "xenapid-cert.pem"),
            "tls-key": os.path.join(self.dir, "xenapid-key.pem"),
            "login-failure-delay": "0.05",
            "log-level": "debug",
            "platform-registry": os.path.join(ROOT, "etc", "platform.xml"),
        }
        for k, v in options.items():
            self.options[k.replace("_", "-")] = str(v)
        self.address = address
        if address != "127.0.0.1":
            # a pool member is reached at its own address (127.0.0.1 would be taken
            # for every host of a test pool)
            self.options.setdefault("host-address", address)
        self.proc = None
        self.port = None
        self.https_port = None
        self.log_path = os.path.join(self.dir, "xenapid.log")
        if not os.path.exists(self.options["auth-file"]):
            self.set_password("root", PASSWORD)

    def args(self):
        return [XENAPID] + ["--%s=%s" % kv for kv in self.options.items()]

    def set_password(self, user, password):
        subprocess.run(self.args() + ["--set-password", user], input=password + "\n",
                       text=True, check=True, capture_output=True)

    def start(self, timeout=20):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=self.log, text=True)
        deadline = time.time() + timeout
        line = ""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            m = re.match(r"xenapid ready: port (\d+)(?: https-port (\d+))?", line)
            if m:
                self.port = int(m.group(1))
                self.https_port = int(m.group(2) or 0) or None   # 0: no HTTPS listener
                return self
            if self.proc.poll() is not None:
                break
        raise RuntimeError("xenapid did not start:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    @property
    def url(self):
        """Plain HTTP, on loopback."""
        return "http://%s:%d/" % (self.address, self.port)

    @property
    def https_url(self):
        return "https://%s:%d/" % (self.address, self.https_port)

    # ---- the daemon's certificate ----
    @property
    def certificate(self):
        """The file holding the certificate the daemon serves (made at its first start)."""
        return self.options["tls-certificate"]

    def fingerprint(self):
        """The SHA-256 fingerprint of the daemon's certificate file."""
        with open(self.certificate) as f:
            return fingerprint_of(f.read())

    def ssl_context(self):
        """A client context that trusts the daemon's certificate, and only it; the host
        name (127.0.0.1) is checked against the certificate's names as usual."""
        return ssl.create_default_context(cafile=self.certificate)

    @property
    def unix_socket(self):
        return self.options["unix-socket"]

    @property
    def xenstore_socket(self):
        return os.path.join(self.options["sim-state-dir"], "xenstored.sock")

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.log.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def restart(self, **options):
        """Stop, then start again; on the same HTTPS port unless told otherwise, so that
        the HTTPS sessions opened before carry on (tests that need the plain port kept
        say listen_port=d.port)."""
        self.stop()
        if self.https_port and "https_port" not in options and "https-port" not in options:
            self.options["https-port"] = str(self.https_port)
        for k, v in options.items():
            self.options[k.replace("_", "-")] = str(v)
        return self.start()

    def sanitizer_reports(self):
        """The sanitizer reports in the daemon's log so far ('' when there are none)."""
        log = self.read_log()
        m = SANITIZER_REPORT.search(log)
        if not m:
            return ""
        start = log.rfind("\n", 0, max(0, m.start() - 2000)) + 1
        return log[start:m.start() + 8000]

    def cleanup(self, check=True):
        """Stop the daemon and remove its directory.  Raises AssertionError when its
        log holds a sanitizer report (ASan, LSan at exit, UBSan), unless check is
        false."""
        self.stop()
        reports = self.sanitizer_reports()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        if check and reports:
            raise AssertionError("the daemon's log holds a sanitizer report:\n" + reports)

    # ---- clients ----
    def session(self, user="root", password=PASSWORD, https=None):
        """A logged-in XenAPI.py session: over HTTPS (when the daemon serves it) unless
        https is false."""
        s = self.xenapi_session(https)
        s.login_with_password(user, password, "2.21", "xenapid-tests")
        return s

    def xenapi_session(self, https=None):
        """A XenAPI.py session, not logged in."""
        if https is None:
            https = self.https_port is not None
        if not https:
            return XenAPI.Session(self.url)
        return XenAPI.Session(self.https_url, transport=HTTPSTransport(context=self.ssl_context()))

    def proxy(self, https=False):
        if https:
            return xmlrpc.client.ServerProxy(self.https_url, allow_none=True, context=self.ssl_context())
        return xmlrpc.client.ServerProxy(self.url, allow_none=True)

    def login(self, proxy=None):
        r = (proxy or self.proxy()).session.login_with_password("root", PASSWORD)
        assert r["Status"] == "Success", r
        return r["Value"]

    def jsonrpc(self, method, params, version="2.0", req_id=1, path="jsonrpc", https=False):
        body = {"method": method, "params": params, "id": req_id}
        if version:
            body["jsonrpc"] = version
        req = urllib.request.Request((self.https_url if https else self.url) + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30, context=self.ssl_context() if https else None) as r:
            return json.loads(r.read())

    def curl(self, path, body, https=True, content_type="application/json", extra=()):
        """POST body with curl (trusting the daemon's certificate with --cacert for
        HTTPS); returns the CompletedProcess (stdout: the response body)."""
        url = (self.https_url if https else self.url) + path.lstrip("/")
        args = ["curl", "-s", "-S", "--max-time", "30", "-H", "Content-Type: " + content_type,
                "--data-binary", body] + list(extra)
        if https:
            args += ["--cacert", self.certificate]
        return subprocess.run(args + [url], capture_output=True, text=True, timeout=60)

    def curl_json(self, payload, https=True):
        """A JSON-RPC call with curl; the parsed reply."""
        r = self.curl("jsonrpc", json.dumps(payload), https=https)
        if r.returncode != 0:
            raise RuntimeError("curl failed (%d): %s" % (r.returncode, r.stderr))
        return json.loads(r.stdout)

    def xenstore_env(self):
        env = dict(os.environ)
        env["XENSTORED_PATH"] = self.xenstore_socket
        return env

    def xenstore(self, tool, *args, check=True):
        """Run a stock xenstore-* tool against the simulator's xenstore."""
        r = subprocess.run(["xenstore-" + tool] + list(args), env=self.xenstore_env(),
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("xenstore-%s %s failed: %s" % (tool, " ".join(args), r.stderr))
        return r

    def xe_command(self, *args, password=PASSWORD, https=None):
        """The argv of xe reaching this daemon as root: over HTTPS with its certificate's
        fingerprint given (so no ~/.xe_known_hosts is read or written) unless https is
        false (then --nossl to the plain port)."""
        if https is None:
            https = self.https_port is not None
        if https:
            conn = ["-s", self.address, "-p", str(self.https_port), "--fingerprint", self.fingerprint()]
        else:
            conn = ["--nossl", "-s", self.address, "-p", str(self.port)]
        return [XE] + conn + ["-u", "root", "-pw", password] + list(args)

    def xe(self, *args, check=False, env=None, input=None, https=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run(self.xe_command(*args, https=https), capture_output=True, text=True,
                              timeout=120, env=e, input=input, check=check)


def failure(exc):
    """The ErrorDescription of a XenAPI.Failure, as a list."""
    return list(exc.details)
