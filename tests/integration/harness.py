"""Run a real xenapid for a test: private directories, a free loopback port, a known
password, the simulator backend; and clients to talk to it as users do."""

import json
import os
import re
import shutil
import signal
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


class Daemon:
    """A xenapid process.  Extra keyword arguments become --key=value options
    (underscores become dashes)."""

    def __init__(self, workdir=None, **options):
        self.own_dir = workdir is None
        # short paths: unix socket names are limited to 108 bytes
        self.dir = workdir or tempfile.mkdtemp(prefix="xa-", dir="/tmp")
        self.options = {
            "db-path": os.path.join(self.dir, "xenapid.db"),
            "auth-file": os.path.join(self.dir, "passwd"),
            "unix-socket": os.path.join(self.dir, "xenapid.sock"),
            "sim-state-dir": os.path.join(self.dir, "sim"),
            "inventory": os.path.join(self.dir, "inventory"),
            "listen-address": "127.0.0.1",
            "listen-port": "0",
            "https-address": "127.0.0.1",
            "https-port": "0",
            "login-failure-delay": "0.05",
            "log-level": "debug",
            "platform-registry": os.path.join(ROOT, "etc", "platform.xml"),
        }
        for k, v in options.items():
            self.options[k.replace("_", "-")] = str(v)
        self.proc = None
        self.port = None
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
            m = re.match(r"xenapid ready: port (\d+)", line)
            if m:
                self.port = int(m.group(1))
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
        return "http://127.0.0.1:%d/" % self.port

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
        self.stop()
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
    def session(self, user="root", password=PASSWORD):
        s = XenAPI.Session(self.url)
        s.login_with_password(user, password, "2.21", "xenapid-tests")
        return s

    def proxy(self):
        return xmlrpc.client.ServerProxy(self.url, allow_none=True)

    def login(self, proxy=None):
        r = (proxy or self.proxy()).session.login_with_password("root", PASSWORD)
        assert r["Status"] == "Success", r
        return r["Value"]

    def jsonrpc(self, method, params, version="2.0", req_id=1, path="jsonrpc"):
        body = {"method": method, "params": params, "id": req_id}
        if version:
            body["jsonrpc"] = version
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

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

    def xe(self, *args, check=False, env=None, input=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([XE, "-s", "127.0.0.1", "-p", str(self.port), "-u", "root", "-pw",
                               PASSWORD] + list(args), capture_output=True, text=True, timeout=120,
                              env=e, input=input, check=check)


def failure(exc):
    """The ErrorDescription of a XenAPI.Failure, as a list."""
    return list(exc.details)
