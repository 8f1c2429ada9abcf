"""HTTPS by default: the certificate made at first start and kept, a configured one
used as given, a key others can read refused; login and calls over HTTPS with
Python's ssl and curl; TLS below 1.2 refused; malformed TLS closed cleanly; and trust
on the unix socket decided by the peer's credentials, not by its name."""

import base64
import hashlib
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import xmlrpc.client

from harness import PASSWORD, Daemon
from server_util import (cert_path, closed_by_peer, https_port, https_proxy, key_path, logged_fingerprint,
                         login, timed, tls_context)
from support import unix_proxy


def fingerprint_of(pem_path):
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha256(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def host_fingerprint(d):
    p = d.proxy()
    s = d.login(p)
    host = p.host.get_all(s)["Value"][0]
    return p.host.get_certificate_fingerprint(s, host)["Value"]


class Certificate(unittest.TestCase):
    def setUp(self):
        self.d = None

    def tearDown(self):
        if self.d:
            self.d.cleanup()

    def test_made_at_first_start_and_kept(self):
        self.d = Daemon().start()
        cert, key = cert_path(self.d), key_path(self.d)
        self.assertTrue(os.path.exists(cert) and os.path.exists(key))
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        fp = fingerprint_of(cert)
        self.assertEqual(logged_fingerprint(self.d), fp)
        self.assertEqual(host_fingerprint(self.d), fp)
        # as a user reads it to pin it
        p = self.d.proxy()
        sess = self.d.login(p)
        uuid = p.host.get_uuid(sess, p.host.get_all(sess)["Value"][0])["Value"]
        r = self.d.xe("host-param-get", "uuid=" + uuid, "param-name=certificate-fingerprint")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, fp), r.stderr)
        # names a client checks: 127.0.0.1 and localhost verify
        login(https_proxy(self.d))
        ctx = tls_context(self.d)
        with socket.create_connection(("127.0.0.1", https_port(self.d))) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                self.assertIn(s.version(), ("TLSv1.2", "TLSv1.3"))
        with open(cert, "rb") as f:
            before = f.read()
        self.d.restart()
        with open(cert, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(logged_fingerprint(self.d), fp)
        self.assertEqual(host_fingerprint(self.d), fp)
        login(https_proxy(self.d))

    def test_configured_certificate_used_as_given(self):
        tmp = tempfile.mkdtemp(prefix="xa-tls-", dir="/tmp")
        cert, key = os.path.join(tmp, "given.pem"), os.path.join(tmp, "given.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=given.example", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        os.chmod(key, 0o600)
        with open(cert, "rb") as f:
            given = f.read()
        self.d = Daemon(tls_certificate=cert, tls_key=key).start()
        with open(cert, "rb") as f:
            self.assertEqual(f.read(), given, "the configured certificate was rewritten")
        served = ssl.get_server_certificate(("127.0.0.1", https_port(self.d)))
        self.assertEqual(ssl.PEM_cert_to_DER_cert(served), ssl.PEM_cert_to_DER_cert(given.decode()))
        self.assertEqual(host_fingerprint(self.d), fingerprint_of(cert))
        login(https_proxy(self.d))

    def test_a_key_others_can_read_is_refused(self):
        d = Daemon()
        self.d = d
        d.start()
        d.stop()
        os.chmod(key_path(d), 0o644)
        r = subprocess.run(d.args(), capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("can be read by others", r.stderr)
        self.assertIn(key_path(d), r.stderr)


class Https(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()
        cls.port = https_port(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_python_ssl_login_and_call(self):
        p = https_proxy(self.d)
        s = login(p)
        r = p.VM.get_all_records(s)
        self.assertEqual(r["Status"], "Success")
        self.assertTrue(any(v["is_control_domain"] for v in r["Value"].values()))

    def test_curl_with_cacert_and_pinned_key(self):
        body = '{"jsonrpc": "2.0", "method": "session.login_with_password", "params": ["root", "%s"], "id": 7}' \
               % PASSWORD
        url = "https://127.0.0.1:%d/jsonrpc" % self.port
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", cert_path(self.d), "-d", body, url],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"result":"OpaqueRef:', r.stdout.replace(" ", ""))
        # pinning the public key, as a client does that trusts no certificate authority
        der = subprocess.run(["openssl", "x509", "-in", cert_path(self.d), "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        spki = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=der,
                              capture_output=True, check=True).stdout
        pin = "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()).decode()
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-k", "--pinnedpubkey", pin, "-d", body, url],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"result":"OpaqueRef:', r.stdout.replace(" ", ""))
        # and a wrong pin is refused by curl: the pin is what is checked
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "-k", "--pinnedpubkey",
                            "sha256//" + base64.b64encode(b"\0" * 32).decode(), "-d", body, url],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)

    def test_keepalive_over_https(self):
        p = https_proxy(self.d)
        s = login(p)
        for _ in range(20):
            self.assertEqual(p.session.get_this_host(s, s)["Status"], "Success")

    def test_tls_below_1_2_refused(self):
        for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = version
            ctx.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with self.assertRaises(ssl.SSLError) as cm:
                    ctx.wrap_socket(raw)
            # refused by the server (its alert), not by our own client library
            self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(cm.exception))
            # (an alert, or the server hanging up on the hello)
            self.assertTrue(isinstance(cm.exception, (ssl.SSLEOFError, ssl.SSLZeroReturnError)) or
                            any(w in str(cm.exception) for w in ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL",
                                                                 "HANDSHAKE_FAILURE", "WRONG_VERSION")),
                            str(cm.exception))
        # 1.2 and 1.3 are served
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = tls_context(self.d, minimum_version=version, maximum_version=version)
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    self.assertEqual(s.version(), version.name.replace("_", "."))

    def test_plain_http_off_loopback_is_warned_about(self):
        self.assertNotIn("plain HTTP on", self.d.read_log())
        d = Daemon(listen_address="0.0.0.0").start()
        try:
            self.assertIn("plain HTTP on 0.0.0.0: passwords and data cross the network in clear", d.read_log())
        finally:
            d.cleanup()

    def test_plain_http_on_the_plain_port_still_works(self):
        p = self.d.proxy()
        self.assertEqual(p.VM.get_all(self.d.login(p))["Status"], "Success")


class MalformedTls(unittest.TestCase):
    """Each bad client gets a clean close; a good client meanwhile is served at once."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(keepalive_timeout=3, request_timeout=3).start()
        cls.port = https_port(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def good_client_served(self):
        p = https_proxy(self.d)
        self.assertLess(timed(login, p), 1.0)

    def wait_closed(self, s, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if closed_by_peer(s):
                return True
            time.sleep(0.05)
        return False

    def test_plain_http_to_the_https_port(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        self.good_client_served()
        self.assertTrue(self.wait_closed(s, 5))
        s.close()

    def test_garbage_bytes(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(os.urandom(4096))
        self.good_client_served()
        self.assertTrue(self.wait_closed(s, 5))
        s.close()

    def test_handshake_that_stops_halfway(self):
        # a real ClientHello, cut in half, then silence
        ctx = ssl.create_default_context()
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
        with self.assertRaises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello = out.read()
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.sendall(hello[:len(hello) // 2])
            socks.append(s)
        self.good_client_served()
        t0 = time.monotonic()
        for s in socks:
            self.assertTrue(self.wait_closed(s, 10), "a stalled handshake was never dropped")
            s.close()
        self.assertLess(time.monotonic() - t0, 8)
        self.good_client_served()


class UnixSocketTrust(unittest.TestCase):
    """Root on the unix socket logs in without a password because the kernel says
    the peer is root (SO_PEERCRED), not because of the socket's name."""

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon().start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_socket_only_for_its_owner(self):
        self.assertEqual(os.stat(self.d.unix_socket).st_mode & 0o777, 0o600)

    def test_root_without_password(self):
        r = unix_proxy(self.d.unix_socket).session.login_with_password("root", "")
        self.assertEqual(r["Status"], "Success", r)

    def test_other_user_needs_the_password(self):
        # open the socket to others, as an operator could: trust must not follow
        os.chmod(self.d.dir, 0o711)
        os.chmod(self.d.unix_socket, 0o666)
        try:
            script = ("import sys, json; sys.path.insert(0, %r)\n"
                      "from support import unix_proxy\n"
                      "p = unix_proxy(%r)\n"
                      "print(json.dumps([p.session.login_with_password('root', '')['Status'],"
                      " p.session.login_with_password('root', %r)['Status']]))\n"
                      % (os.path.dirname(os.path.abspath(__file__)), self.d.unix_socket, PASSWORD))
            r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                "/usr/bin/python3", "-c", script], capture_output=True, text=True, timeout=60,
                               cwd="/")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), '["Failure", "Success"]')
        finally:
            os.chmod(self.d.unix_socket, 0o600)
            os.chmod(self.d.dir, 0o700)
        self.assertIn("failed login for 'root' from unix", self.d.read_log())


if __name__ == "__main__":
    unittest.main()
