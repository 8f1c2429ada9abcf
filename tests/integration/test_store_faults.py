"""The store's disk fails under the daemon: full, I/O errors on write and on fsync, a
read-only file.  tests/fault/faultshim.c (LD_PRELOAD) makes the database's, its WAL's
and its journal's writes and syncs fail while a control file says so.  During the
fault a write gets the declared DATABASE_WRITE_FAILED and changes nothing, reads keep
working; once the fault clears writes work again without a restart; nothing
acknowledged is lost and the file passes PRAGMA integrity_check."""

import os
import random
import sqlite3
import subprocess
import tempfile

from support import DaemonTest, ROOT, XenAPI, domain_alive, failure, guest_domids, hvm_vm

SHIM_SRC = os.path.join(ROOT, "tests", "fault", "faultshim.c")
REASON = {"ENOSPC": "database or disk is full", "EIO": "disk I/O error", "EROFS": "disk I/O error"}


def build_shim(out_dir):
    so = os.path.join(out_dir, "faultshim.so")
    subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-shared", "-fPIC", "-o", so,
                    SHIM_SRC, "-ldl", "-lpthread"], check=True)
    return so


def set_fault(ctl, ops, err, skip=0, count=-1):
    """The shim's control file, replaced at once (rename): OPS ERRNO SKIP COUNT."""
    tmp = ctl + ".new"
    with open(tmp, "w") as f:
        f.write("%s %s %d %d\n" % (ops, err, skip, count))
    os.rename(tmp, ctl)


def clear_fault(ctl):
    if os.path.exists(ctl):
        os.unlink(ctl)


class StoreFaults(DaemonTest):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="xa-shim-", dir="/tmp")
        cls.shim = build_shim(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.tmp], check=False)

    # ---- the fault ----
    def start_with_shim(self, d, **kw):
        """Start d with the shim preloaded, controlled by self.ctl."""
        saved = dict(os.environ)
        os.environ["LD_PRELOAD"] = self.shim
        os.environ["FAULT_CTL"] = self.ctl
        os.environ["FAULT_MATCH"] = d.options["db-path"]
        # the shim comes before the sanitizer runtime: tell ASan that is fine
        os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [saved.get("ASAN_OPTIONS"),
                                                            "verify_asan_link_order=0"]))
        try:
            d.start(**kw)
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start_faulty(self):
        d = self.make_daemon()
        self.ctl = os.path.join(d.dir, "fault.ctl")
        self.start_with_shim(d)
        self.d = d
        return d

    def fault(self, ops, err, skip=0, count=-1):
        set_fault(self.ctl, ops, err, skip, count)

    def clear(self):
        clear_fault(self.ctl)

    def injected(self):
        return self.d.read_log().count("faultshim: ")

    # ---- what a user checks ----
    def assertWriteFails(self, reason, fn, *args):
        before = self.injected()
        with self.assertRaises(XenAPI.Failure) as cm:
            fn(*args)
        self.assertEqual(failure(cm.exception), ["DATABASE_WRITE_FAILED", reason])
        self.assertGreater(self.injected(), before, "the fault did not happen")

    def check_file(self, d):
        """The stopped daemon's database passes integrity_check."""
        con = sqlite3.connect(d.options["db-path"])
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        finally:
            con.close()

    def check_acked(self, x, acked, absent=()):
        names = {vm: rec["name_label"] for vm, rec in x.VM.get_all_records().items()}
        for vm, name in acked.items():
            self.assertEqual(names.get(vm), name, "acknowledged write lost")
        for name in absent:
            self.assertNotIn(name, names.values(), "a write that failed was made")

    def restart_and_check(self, acked, absent=()):
        """Stop the daemon, check the file, start it again without the shim, and see
        every acknowledged write there."""
        self.close_sessions()
        self.d.stop()
        self.check_file(self.d)
        self.d.start()
        self.check_acked(self.login(self.d), acked, absent)

    # ---- the tests ----
    def run_fault(self, ops, err):
        d = self.start_faulty()
        x = self.login(d)
        acked = {}
        for i in range(5):
            vm = x.VM.create({"name_label": "before-%d" % i})
            acked[vm] = "before-%d" % i
        self.fault(ops, err)
        self.assertWriteFails(REASON[err], x.VM.create, {"name_label": "during"})
        victim = next(iter(acked))
        self.assertWriteFails(REASON[err], x.VM.set_name_label, victim, "renamed-during")
        # reads go on, and show nothing of the failed writes
        self.check_acked(x, acked, absent=["during", "renamed-during"])
        self.assertEqual(x.VM.get_name_label(victim), acked[victim])
        self.assertEqual(x.VM.get_by_name_label("during"), [])
        # a second attempt fails the same way: the failure is not sticky nor a crash
        self.assertWriteFails(REASON[err], x.VM.set_name_label, victim, "renamed-during")
        self.clear()
        # the disk is back: writes work at once, on the same daemon
        x.VM.set_name_label(victim, "renamed-after")
        acked[victim] = "renamed-after"
        vm = x.VM.create({"name_label": "after"})
        acked[vm] = "after"
        self.check_acked(x, acked, absent=["during", "renamed-during"])
        self.restart_and_check(acked, absent=["during", "renamed-during"])

    def test_disk_full(self):
        self.run_fault("write", "ENOSPC")

    def test_eio_on_write(self):
        self.run_fault("write", "EIO")

    def test_eio_on_fsync(self):
        self.run_fault("fsync", "EIO")

    def test_read_only_file(self):
        self.run_fault("write,truncate", "EROFS")

    def test_refused_commit_does_not_come_back_after_a_crash(self):
        """The fsync of a commit fails, so the client is told the write failed; the
        daemon then dies with the disk still failing.  After the restart the write is
        not there (SQLite's WAL recovery would bring the refused transaction back,
        but the daemon wrote a no-op commit over it)."""
        d = self.start_faulty()
        x = self.login(d)
        vm = x.VM.create({"name_label": "kept"})
        for ops, call in (("fsync", lambda: x.VM.set_name_label(vm, "refused")),
                          ("fsync", lambda: x.VM.create({"name_label": "refused-create"})),
                          ("write", lambda: x.VM.set_name_label(vm, "refused"))):
            self.fault(ops, "EIO")
            self.assertWriteFails(REASON["EIO"], call)
            d.kill9()  # at once: any later write (even a logout) would cover the refused one
            self.clear()
            self.start_with_shim(d)
            x = self.login(d)
            self.check_acked(x, {vm: "kept"}, absent=["refused", "refused-create"])
        self.restart_and_check({vm: "kept"}, absent=["refused", "refused-create"])

    def test_stop_while_the_disk_fails(self):
        """The daemon is stopped (SIGTERM) while every write and sync fails, so its
        last checkpoint cannot happen: it still exits, and the next start has every
        acknowledged write from the WAL."""
        d = self.start_faulty()
        x = self.login(d)
        acked = {}
        for i in range(20):
            vm = x.VM.create({"name_label": "s-%d" % i})
            acked[vm] = "s-%d" % i
        self.fault("write,fsync,truncate", "EIO")
        self.assertWriteFails(REASON["EIO"], x.VM.create, {"name_label": "refused"})
        self.close_sessions()
        self.assertEqual(d.stop(), 0, "the daemon did not exit cleanly")
        self.clear()
        self.check_file(d)
        self.start_with_shim(d)
        self.check_acked(self.login(d), acked, absent=["refused"])

    def test_every_step_of_a_commit(self):
        """A one-off failure at the k-th write or sync of a commit, for every k: the
        write either succeeded or got DATABASE_WRITE_FAILED, and the record says which."""
        d = self.start_faulty()
        x = self.login(d)
        vm = x.VM.create({"name_label": "v0"})
        acked = {vm: "v0"}
        failures = 0
        for step in range(12):
            for err in ("EIO", "ENOSPC"):
                name = "v-%d-%s" % (step, err)
                self.fault("write,fsync", err, skip=step, count=1)
                try:
                    x.VM.set_name_label(vm, name)
                    acked[vm] = name
                except XenAPI.Failure as e:
                    # SQLite reports an ENOSPC on fsync as SQLITE_IOERR: which one a
                    # failed step gives depends on whether it was a write or a sync
                    want = [REASON[err]] + (["disk I/O error"] if err == "ENOSPC" else [])
                    self.assertEqual(failure(e)[0], "DATABASE_WRITE_FAILED")
                    self.assertIn(failure(e)[1:], [[w] for w in want])
                    failures += 1
                self.clear()
                self.assertEqual(x.VM.get_name_label(vm), acked[vm])
                # and the next write works
                extra = x.VM.create({"name_label": "x-%d-%s" % (step, err)})
                acked[extra] = "x-%d-%s" % (step, err)
        self.assertGreater(failures, 0, "no step failed: the shim is not working")
        self.check_acked(x, acked)
        self.restart_and_check(acked)

    def test_intermittent_faults_across_checkpoints(self):
        """Hundreds of writes, with a one-off failure now and then at a random step
        (the WAL's checkpoints into the database file among them): each write is
        acknowledged or refused, and exactly the acknowledged ones are there."""
        d = self.start_faulty()
        x = self.login(d)
        rng = random.Random(15)
        vms = [x.VM.create({"name_label": "i-%d" % i}) for i in range(8)]
        acked = {vm: "i-%d" % i for i, vm in enumerate(vms)}
        db_size = os.path.getsize(d.options["db-path"])
        failures = 0
        for i in range(400):
            if i % 4 == 0:
                self.fault("write,fsync,truncate", rng.choice(["EIO", "ENOSPC"]), skip=rng.randrange(8), count=1)
            vm = rng.choice(vms)
            try:
                x.VM.set_name_label(vm, "n-%d" % i)
                acked[vm] = "n-%d" % i
            except XenAPI.Failure as e:
                self.assertEqual(failure(e)[0], "DATABASE_WRITE_FAILED")
                failures += 1
        self.clear()
        self.assertGreater(failures, 10)
        self.assertGreater(os.path.getsize(d.options["db-path"]), db_size, "no checkpoint happened")
        self.check_acked(x, acked)
        self.restart_and_check(acked)

    def test_start_during_fault_leaves_records_agreeing_with_domains(self):
        """VM.start with the k-th store write failing: afterwards the VM is Running
        with its domain, or Halted with none, and no operation is left behind."""
        d = self.start_faulty()
        x = self.login(d)
        vm = hvm_vm(x, "starter")
        failures = 0
        for step in range(10):
            self.fault("write,fsync", "EIO", skip=step, count=1)
            try:
                x.VM.start(vm, False, False)
            except XenAPI.Failure as e:
                self.assertEqual(failure(e)[0], "DATABASE_WRITE_FAILED")
                failures += 1
            self.clear()
            rec = x.VM.get_record(vm)
            self.assertEqual(rec["current_operations"], {})
            if rec["power_state"] == "Running":
                self.assertTrue(domain_alive(d, int(rec["domid"])))
                self.assertEqual(guest_domids(d), [int(rec["domid"])])
                x.VM.hard_shutdown(vm)
            else:
                self.assertEqual(rec["power_state"], "Halted")
                self.assertEqual(guest_domids(d), [], "a domain left without its VM running")
        self.assertGreater(failures, 0)
        self.restart_and_check({vm: "starter"})

    def test_read_only_at_startup(self):
        """A database that cannot be opened for writing: the daemon says so and exits,
        it does not start half-working; with the disk back it starts with every record."""
        d = self.make_daemon()
        d.start()
        x = self.login(d)
        vm = x.VM.create({"name_label": "kept"})
        self.close_sessions()
        d.stop()
        self.d = d
        self.ctl = os.path.join(d.dir, "fault.ctl")
        self.fault("open,write", "EROFS")
        with self.assertRaises(RuntimeError) as cm:
            self.start_with_shim(d)
        d.stop()  # reaped, its pipe closed
        self.assertIn("cannot open database", str(cm.exception))
        self.assertIn("faultshim: open", d.read_log())
        self.clear()
        self.start_with_shim(d)
        self.check_acked(self.login(d), {vm: "kept"})
