"""Every kind of client over HTTPS, as users run them: XenAPI.py with an SSL context that
trusts the daemon's certificate, JSON-RPC with curl --cacert, and xe, which pins the
server's certificate on first use in ~/.xe_known_hosts and refuses a changed one; plain
HTTP on loopback still works for each."""

import os
import socket
import ssl
import stat
import subprocess
import tempfile
import unittest

from harness import PASSWORD, XE, fingerprint_of
from os_xenapi.client import XenAPI
from support import DaemonCase


def xe_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XE_")}
    env["HOME"] = home
    return env


class HttpsCase(DaemonCase):
    """A daemon (its XenAPI.py session, self.x, over HTTPS), and a fresh home for xe in
    each test."""

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="xe-home-", dir=self.d.dir)

    def xe(self, *args, port=None, home=None):
        """xe as a user types it: -s, -p, -u, -pw, nothing else."""
        argv = [XE, "-s", "127.0.0.1", "-p", str(port or self.d.https_port), "-u", "root", "-pw", PASSWORD]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60,
                              env=xe_env(home or self.home))

    def known_hosts(self, home=None):
        return os.path.join(home or self.home, ".xe_known_hosts")

    def host_uuid(self):
        return self.x.host.get_uuid(self.x.host.get_all()[0])


class XenAPIpy(HttpsCase):

    def test_session_over_https(self):
        s = self.d.session(https=True)
        x = s.xenapi
        vm = x.VM.create({"name_label": "over-tls"})
        self.assertEqual(x.VM.get_record(vm)["name_label"], "over-tls")
        x.VM.destroy(vm)
        # the fingerprint the host publishes for pinning is its certificate's
        self.assertEqual(x.host.get_certificate_fingerprint(x.host.get_all()[0]), self.d.fingerprint())
        x.session.logout()
        s("close")()

    def test_the_certificate_served_is_the_daemons_and_verification_is_real(self):
        with socket.create_connection(("127.0.0.1", self.d.https_port), timeout=10) as raw:
            with self.d.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                served = tls.getpeercert(binary_form=True)
                self.assertIn(tls.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(fingerprint_of(ssl.DER_cert_to_PEM_cert(served)), self.d.fingerprint())
        # a client that trusts only the system's CAs refuses the self-signed certificate
        s = XenAPI.Session(self.d.https_url)
        with self.assertRaises(ssl.SSLCertVerificationError):
            s.login_with_password("root", PASSWORD, "2.21", "tests")

    def test_plain_http_on_loopback(self):
        s = self.d.session(https=False)
        self.assertTrue(s.xenapi.host.get_all())
        s.xenapi.session.logout()
        s("close")()


class Curl(HttpsCase):

    def test_jsonrpc_over_https(self):
        r = self.d.curl_json({"jsonrpc": "2.0", "method": "session.login_with_password",
                              "params": ["root", PASSWORD, "2.21", "curl"], "id": 1})
        s = r["result"]
        hosts = self.d.curl_json({"jsonrpc": "2.0", "method": "host.get_all", "params": [s], "id": 2})
        self.assertEqual(len(hosts["result"]), 1)
        self.d.curl_json({"jsonrpc": "2.0", "method": "session.logout", "params": [s], "id": 3})

    def test_xmlrpc_over_https(self):
        body = ('<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName>'
                '<params><param><value>root</value></param><param><value>%s</value></param></params>'
                '</methodCall>' % PASSWORD)
        r = self.d.curl("/", body, content_type="text/xml")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("<name>Status</name><value>Success</value>", r.stdout)

    def test_untrusted_without_cacert(self):
        url = self.d.https_url + "jsonrpc"
        r = subprocess.run(["curl", "-s", "-S", "--max-time", "30", "-d", "{}", url],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 60, r.stderr)     # CURLE_PEER_FAILED_VERIFICATION

    def test_jsonrpc_plain_http(self):
        r = self.d.curl_json({"jsonrpc": "2.0", "method": "session.login_with_password",
                              "params": ["root", PASSWORD], "id": 1}, https=False)
        self.assertTrue(r["result"].startswith("OpaqueRef:"), r)


class Xe(HttpsCase):

    def test_first_use_pins_then_stays_quiet(self):
        host = self.host_uuid()
        fp = self.d.fingerprint()
        r = self.xe("host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout), (0, host + "\n"), r.stderr)
        self.assertIn("first connection to 127.0.0.1:%d" % self.d.https_port, r.stderr)
        self.assertIn(fp, r.stderr)
        path = self.known_hosts()
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            pins = [l.split() for l in f if l.strip() and not l.startswith("#")]
        self.assertEqual(pins, [["127.0.0.1:%d" % self.d.https_port, fp]])
        r = self.xe("host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, host + "\n", ""))
        # what a careful user compares the pin with: the host's own word
        r = self.xe("host-param-get", "uuid=" + host, "param-name=certificate-fingerprint")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, fp + "\n", ""))

    def test_explicit_fingerprint(self):
        host = self.host_uuid()
        fp = self.d.fingerprint()
        # any usual spelling: openssl's line, lower case without colons
        for spelling in ("SHA256 Fingerprint=" + fp, fp.replace(":", "").lower()):
            r = self.xe("--fingerprint", spelling, "host-list", "--minimal")
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, host + "\n", ""))
        self.assertFalse(os.path.exists(self.known_hosts()), "--fingerprint must not pin anything")
        wrong = ":".join(["AB"] * 32)
        r = self.xe("--fingerprint", wrong, "host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("not the one given with --fingerprint", r.stderr)
        self.assertIn(wrong, r.stderr)
        self.assertIn(fp, r.stderr)
        r = self.xe("--fingerprint", "12:34", "host-list")
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_nossl_reaches_the_plain_port(self):
        host = self.host_uuid()
        r = self.xe("--nossl", "host-list", "--minimal", port=self.d.port)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, host + "\n", ""))
        self.assertFalse(os.path.exists(self.known_hosts()))
        # without --nossl the plain port is spoken to in TLS: a clear failure, and a hint
        r = self.xe("host-list", "--minimal", port=self.d.port)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("cannot talk to the server at https://127.0.0.1:%d/" % self.d.port, r.stderr)
        self.assertIn("--nossl", r.stderr)

    def test_known_hosts_others_can_write_is_refused(self):
        self.assertEqual(self.xe("host-list").returncode, 0)
        os.chmod(self.known_hosts(), 0o666)
        r = self.xe("host-list")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("Refusing to use %s" % self.known_hosts(), r.stderr)


class XeChangedCertificate(HttpsCase):
    """The daemon restarted on the same port with a new certificate, as after a
    reinstall -- or as a man in the middle would look."""

    def test_changed_certificate_is_refused(self):
        host = self.host_uuid()
        old = self.d.fingerprint()
        self.assertEqual(self.xe("host-list", "--minimal").returncode, 0)
        with open(self.known_hosts()) as f:
            pinned = f.read()
        port = self.d.https_port
        self.d.stop()
        os.unlink(self.d.options["tls-certificate"])
        os.unlink(self.d.options["tls-key"])
        self.d.restart(https_port=port)
        self.assertEqual(self.d.https_port, port)
        new = self.d.fingerprint()
        self.assertNotEqual(new, old)

        r = self.xe("host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertIn("The certificate of 127.0.0.1:%d has changed" % port, r.stderr)
        self.assertIn(old, r.stderr)
        self.assertIn(new, r.stderr)
        self.assertIn(self.known_hosts(), r.stderr)
        self.assertIn("stopped before sending anything", r.stderr)
        with open(self.known_hosts()) as f:
            self.assertEqual(f.read(), pinned, "a refused certificate must not be pinned")

        # the new fingerprint given explicitly works; deleting the pin re-pins the new one
        r = self.xe("--fingerprint", new, "host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout), (0, host + "\n"), r.stderr)
        os.unlink(self.known_hosts())
        r = self.xe("host-list", "--minimal")
        self.assertEqual((r.returncode, r.stdout), (0, host + "\n"), r.stderr)
        with open(self.known_hosts()) as f:
            self.assertIn("127.0.0.1:%d %s\n" % (port, new), f.read())


if __name__ == "__main__":
    unittest.main()
