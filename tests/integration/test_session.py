"""Sessions: login with 2 to 4 parameters, a wrong password's delay and error, logout,
idle expiry, sessions surviving a restart of the daemon (clean or kill -9), and the
password never written to the database or the log."""

import glob
import os
import threading
import time
import xmlrpc.client

from support import PASSWORD, DaemonCase, Daemon, XenAPI, curl_json, failure, wait_until


def login_raw(d, *params):
    with xmlrpc.client.ServerProxy(d.url) as p:
        return p.session.login_with_password(*params)


def call_raw(d, method, *params):
    with xmlrpc.client.ServerProxy(d.url) as p:
        return getattr(p, method)(*params)


def session_exists(x, s):
    """session.get_all is not on xapi's API (sessions are credentials): ask for the record."""
    try:
        x.session.get_record(s)
        return True
    except XenAPI.Failure as f:
        if f.details[0] != "HANDLE_INVALID":
            raise
        return False


class Login(DaemonCase):
    options = {"login_failure_delay": 1.5}

    def test_two_three_and_four_parameters(self):
        host = self.x.host.get_all()[0]
        for params, originator in [(("root", PASSWORD), ""), (("root", PASSWORD, "2.21"), ""),
                                   (("root", PASSWORD, "1.0", "my-tool"), "my-tool")]:
            r = login_raw(self.d, *params)
            self.assertEqual(r["Status"], "Success", params)
            s = r["Value"]
            self.assertTrue(s.startswith("OpaqueRef:"))
            rec = self.x.session.get_record(s)
            self.assertEqual(rec["this_user"], "OpaqueRef:NULL")  # xapi_session.ml: always Ref.null
            self.assertEqual(rec["auth_user_name"], "root")
            self.assertEqual(rec["this_host"], host)
            self.assertEqual(rec["originator"], originator)
            self.assertTrue(rec["is_local_superuser"])
            self.assertEqual(self.x.session.get_this_host(s), host)
            # SPEC: session.get_this_host(s, s)
            self.assertEqual(call_raw(self.d, "session.get_this_host", s, s)["Value"], host)
            self.assertEqual(call_raw(self.d, "session.logout", s)["Status"], "Success")

    def test_each_login_is_a_new_session(self):
        a = login_raw(self.d, "root", PASSWORD)["Value"]
        b = login_raw(self.d, "root", PASSWORD)["Value"]
        self.assertNotEqual(a, b)
        self.assertTrue(session_exists(self.x, a))
        self.assertTrue(session_exists(self.x, b))
        call_raw(self.d, "session.logout", a)
        self.assertFalse(session_exists(self.x, a))
        self.assertEqual(call_raw(self.d, "VM.get_all", b)["Status"], "Success")
        call_raw(self.d, "session.logout", b)

    def test_wrong_password_is_delayed_and_refused(self):
        t0 = time.time()
        r = login_raw(self.d, "root", "not-the-password")
        took = time.time() - t0
        self.assertEqual(r["Status"], "Failure")
        self.assertEqual(r["ErrorDescription"][:2], ["SESSION_AUTHENTICATION_FAILED", "root"])
        self.assertEqual(len(r["ErrorDescription"]), 3)
        self.assertGreaterEqual(took, 1.45)
        self.assertLess(took, 6)
        # XenAPI.py raises it as a Failure
        s = XenAPI.Session(self.d.url)
        with self.assertRaises(XenAPI.Failure) as cm:
            s.login_with_password("root", "nope", "2.21", "t")
        self.assertEqual(failure(cm.exception)[:2], ["SESSION_AUTHENTICATION_FAILED", "root"])
        s("close")()

    def test_a_wrong_password_delays_only_its_own_caller(self):
        done = []
        threads = [threading.Thread(target=lambda: done.append(login_raw(self.d, "root", "bad")))
                   for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.1)
        t0 = time.time()
        ok = login_raw(self.d, "root", PASSWORD)
        for _ in range(5):
            self.x.VM.get_all()
        self.assertLess(time.time() - t0, 1.0)
        self.assertEqual(ok["Status"], "Success")
        for t in threads:
            t.join(10)
        self.assertEqual([r["ErrorDescription"][0] for r in done], ["SESSION_AUTHENTICATION_FAILED"] * 3)
        call_raw(self.d, "session.logout", ok["Value"])

    def test_logout_and_local_logout(self):
        for how in ["session.logout", "session.local_logout"]:
            s = login_raw(self.d, "root", PASSWORD)["Value"]
            self.assertEqual(call_raw(self.d, how, s), {"Status": "Success", "Value": ""})
            self.assertEqual(call_raw(self.d, "VM.get_all", s),
                             {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", s]})
            self.assertFalse(session_exists(self.x, s))
            self.assertEqual(call_raw(self.d, how, s)["ErrorDescription"], ["SESSION_INVALID", s])
        # XenAPI.py's own logout
        sess = self.d.session()
        ref = sess.handle
        sess.xenapi.session.logout()
        self.assertFalse(session_exists(self.x, ref))
        sess("close")()

    def test_session_fields_are_readable_and_other_config_writable(self):
        s = self.session.handle
        rec = self.x.session.get_record(s)
        self.assertEqual(rec["uuid"], self.x.session.get_uuid(s))
        self.assertEqual(self.x.session.get_by_uuid(rec["uuid"]), s)
        self.x.session.add_to_other_config(s, "k", "v")
        self.assertEqual(self.x.session.get_other_config(s), {"k": "v"})
        self.x.session.remove_from_other_config(s, "k")


class IdleExpiry(DaemonCase):
    options = {"session_timeout": 2}

    def test_an_idle_session_expires(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        self.assertEqual(call_raw(self.d, "VM.get_all", s)["Status"], "Success")
        time.sleep(2.6)
        self.assertEqual(call_raw(self.d, "VM.get_all", s),
                         {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", s]})

    def test_the_sweeper_removes_expired_records(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        keep = self.d.session()
        wait_until(lambda: not session_exists(keep.xenapi, s), timeout=6, interval=0.2,
                   what="the expired session's record to go")
        keep.xenapi.session.logout()
        keep("close")()

    def test_an_active_session_lives_on(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        t_end = time.time() + 3.5
        while time.time() < t_end:
            self.assertEqual(call_raw(self.d, "VM.get_all", s)["Status"], "Success")
            time.sleep(0.5)
        call_raw(self.d, "session.logout", s)


class Restart(DaemonCase):
    """Sessions are in the database: a restart, clean or not, keeps them."""

    def test_sessions_survive_a_clean_restart(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        vm = self.x.VM.create({"name_label": "before"})
        self.d.restart(listen_port=self.d.port)  # the same port, for the client below
        self.assertEqual(call_raw(self.d, "VM.get_name_label", s, vm), {"Status": "Success", "Value": "before"})
        self.assertEqual(call_raw(self.d, "session.get_auth_user_name", s, s)["Value"], "root")
        # XenAPI.py's session (and its keep-alive connection) carries on too
        self.assertEqual(self.x.VM.get_name_label(vm), "before")
        call_raw(self.d, "session.logout", s)

    def test_sessions_survive_kill_9(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        self.d.kill9()
        self.d.start()
        self.assertEqual(call_raw(self.d, "VM.get_all", s)["Status"], "Success")
        # and a logged-out session stays logged out
        call_raw(self.d, "session.logout", s)
        self.d.kill9()
        self.d.start()
        self.assertEqual(call_raw(self.d, "VM.get_all", s)["ErrorDescription"], ["SESSION_INVALID", s])


class NoPasswordOnDisk(DaemonCase):
    WRONG = "Wr0ng-Guess-1234"

    def test_the_password_is_in_neither_the_database_nor_the_log(self):
        s = login_raw(self.d, "root", PASSWORD)["Value"]
        login_raw(self.d, "root", self.WRONG)
        login_raw(self.d, "nobody", self.WRONG)
        curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.login_with_password",
                           "params": ["root", PASSWORD], "id": 1})
        call_raw(self.d, "session.logout", s)
        self.d.stop()  # everything flushed, WAL included
        files = [self.d.log_path, self.d.options["auth-file"]] + glob.glob(self.d.options["db-path"] + "*")
        self.assertGreaterEqual(len(files), 3)
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            self.assertNotIn(PASSWORD.encode(), data, path)
            self.assertNotIn(self.WRONG.encode(), data, path)
        # the log does say that logins failed, and for whom
        log = self.d.read_log()
        self.assertIn("failed login for 'root'", log)
        self.assertIn("failed login for 'nobody'", log)
        # the password file is private
        self.assertEqual(os.stat(self.d.options["auth-file"]).st_mode & 0o077, 0)
        self.d.start()


class PasswordFile(DaemonCase):

    def test_a_second_user_and_a_changed_password(self):
        d = Daemon()
        try:
            d.set_password("alice", "alice-pw")
            d.start()
            self.assertEqual(login_raw(d, "alice", "alice-pw")["Status"], "Success")
            self.assertEqual(login_raw(d, "root", PASSWORD)["Status"], "Success")
            d.set_password("alice", "new-pw")  # read at each login: no restart needed
            self.assertEqual(login_raw(d, "alice", "alice-pw")["ErrorDescription"][0], "SESSION_AUTHENTICATION_FAILED")
            s = login_raw(d, "alice", "new-pw")["Value"]
            with xmlrpc.client.ServerProxy(d.url) as p:
                rec = p.session.get_record(s, s)["Value"]
            self.assertEqual(rec["this_user"], "OpaqueRef:NULL")
            self.assertEqual(rec["auth_user_name"], "alice")
            self.assertFalse(rec["is_local_superuser"])
        finally:
            d.cleanup()
