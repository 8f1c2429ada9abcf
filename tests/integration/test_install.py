"""`make install`, as a packager runs it (DESTDIR, PREFIX): the tree it lays out, the
paths it writes into the installed configuration and systemd unit, and a daemon started
from that tree, on the installed configuration, answering XenAPI.py and the installed xe."""

import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import PASSWORD, ROOT, Daemon

SAN = os.environ.get("XENAPID_SAN", "0")


def make(*args):
    """make in the checkout, on the build under test (SAN as the suite's)."""
    # a make of its own, as a packager's: nothing of a make this suite may run under
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "SAN=" + SAN] + list(args),
                       capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0:
        raise AssertionError("make %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
    return r


def installed_files(destdir):
    out = {}
    for top, _, files in os.walk(destdir):
        for f in files:
            p = os.path.join(top, f)
            out["/" + os.path.relpath(p, destdir)] = stat.S_IMODE(os.stat(p).st_mode)
    return out


def config_values(path):
    vals = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                vals[k.strip()] = v.strip()
    return vals


class InstalledDaemon(Daemon):
    """The installed xenapid, on the installed configuration; its state (database,
    sockets, simulator) in a temporary directory instead of /var/lib and /run."""

    def __init__(self, destdir, prefix_sbin, confdir, **options):
        self.binary = destdir + prefix_sbin + "/xenapid"
        self.config = destdir + confdir + "/xenapid.conf"
        super().__init__(platform_registry=destdir + confdir + "/platform.xml", **options)

    def args(self):
        return [self.binary, "--config", self.config] + ["--%s=%s" % kv for kv in self.options.items()]


class Install(unittest.TestCase):
    def setUp(self):
        self.destdir = tempfile.mkdtemp(prefix="xa-inst-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.destdir, ignore_errors=True)

    def test_package_layout_and_a_daemon_started_from_it(self):
        d = self.destdir
        make("install", "DESTDIR=" + d, "PREFIX=/usr")
        files = installed_files(d)
        self.assertEqual(files, {
            "/usr/sbin/xenapid": 0o755,
            "/usr/bin/xe": 0o755,
            "/usr/sbin/xenapid-guest-agent": 0o755,
            "/etc/xenapid/xenapid.conf": 0o644,
            "/etc/xenapid/platform.xml": 0o644,
            "/etc/pam.d/xenapid": 0o644,
            "/usr/lib/systemd/system/xenapid.service": 0o644,
            "/usr/share/bash-completion/completions/xe": 0o644,
            "/usr/share/doc/xenapid/README.md": 0o644,
            "/usr/share/doc/xenapid/api.md": 0o644,
            "/usr/share/doc/xenapid/xe.md": 0o644,
        })
        conf = config_values(d + "/etc/xenapid/xenapid.conf")
        self.assertEqual(conf["db-path"], "/var/lib/xenapid/xenapid.db")
        self.assertEqual(conf["unix-socket"], "/run/xenapid/xenapid.sock")
        self.assertEqual(conf["platform-registry"], "/etc/xenapid/platform.xml")
        self.assertEqual(conf["auth-file"], "/etc/xenapid/passwd")
        self.assertEqual(conf["sim-state-dir"], "/var/lib/xenapid/sim")
        self.assertEqual(conf["inventory"], "/var/lib/xenapid/inventory")
        with open(d + "/usr/lib/systemd/system/xenapid.service") as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/sbin/xenapid --config /etc/xenapid/xenapid.conf", unit)

        # the installed daemon, on the installed configuration, its state kept aside
        state = tempfile.mkdtemp(prefix="xa-", dir="/tmp")
        daemon = InstalledDaemon(d, "/usr/sbin", "/etc/xenapid", workdir=state)
        self.addCleanup(shutil.rmtree, state, ignore_errors=True)
        daemon.start()
        self.addCleanup(daemon.cleanup)
        self.assertEqual(daemon.proc.args[:3], [d + "/usr/sbin/xenapid", "--config",
                                                d + "/etc/xenapid/xenapid.conf"])
        s = daemon.session("root", PASSWORD)
        x = s.xenapi
        self.assertEqual(len(x.host.get_all()), 1)
        vm = x.VM.create({"name_label": "installed", "PV_kernel": "/boot/vmlinuz"})
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        x.VM.hard_shutdown(vm)
        x.session.logout()
        s("close")()
        # the installed xe, as local root on the daemon's unix socket
        env = dict(os.environ, XE_SOCKET=daemon.unix_socket)
        r = subprocess.run([d + "/usr/bin/xe", "vm-list", "name-label=installed", "params=power-state",
                            "--minimal"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip(), r.stderr), (0, "halted", ""))

    def test_default_prefix_and_uninstall(self):
        d = self.destdir
        make("install", "DESTDIR=" + d)
        files = installed_files(d)
        self.assertIn("/usr/local/sbin/xenapid", files)
        self.assertIn("/usr/local/bin/xe", files)
        self.assertIn("/usr/local/lib/systemd/system/xenapid.service", files)
        conf = config_values(d + "/usr/local/etc/xenapid/xenapid.conf")
        self.assertEqual(conf["platform-registry"], "/usr/local/etc/xenapid/platform.xml")
        self.assertEqual(conf["db-path"], "/var/lib/xenapid/xenapid.db")
        with open(d + "/usr/local/lib/systemd/system/xenapid.service") as f:
            self.assertIn("ExecStart=/usr/local/sbin/xenapid --config /usr/local/etc/xenapid/xenapid.conf",
                          f.read())
        make("uninstall", "DESTDIR=" + d)
        self.assertEqual(installed_files(d), {})


if __name__ == "__main__":
    unittest.main()
