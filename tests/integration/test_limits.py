"""Idle, slow and greedy clients are harmless: thousands of half-sent requests and
idle keep-alive connections delay nobody and are dropped on time; a client sending
a byte at a time is dropped whatever it sends; 1,000 clients waiting in event.from
hold no threads, slow no other call, and one write wakes them all."""

import re
import selectors
import socket
import threading
import time
import unittest

from harness import Daemon
from support import unresponsive
from server_util import (closed_by_peer, connect_many, https_proxy, login, raise_fd_limit, rss_kib,
                         threads_of, timed, wait_idle, xmlrpc_request)

HALF = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 300\r\n\r\n"
        b"<?xml version='1.0'?><methodCall><methodName>session.login")


def read_responses(socks, timeout):
    """Read one whole HTTP response from each socket; returns {socket: bytes}."""
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        got[s] = b""
    done = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                chunk = b""
            got[s] += chunk
            head, sep, body = got[s].partition(b"\r\n\r\n")
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            if not chunk or (sep and m and len(body) >= int(m.group(1))):
                done[s] = got[s]
                sel.unregister(s)
    sel.close()
    return done


class SlowAndIdleClients(unittest.TestCase):
    N = 2000
    REQUEST_TIMEOUT = 4
    KEEPALIVE_TIMEOUT = 9

    @classmethod
    def setUpClass(cls):
        raise_fd_limit(2 * cls.N + 1000)
        cls.d = Daemon(max_connections=3 * cls.N, max_connections_per_address=3 * cls.N,
                       request_timeout=cls.REQUEST_TIMEOUT, keepalive_timeout=cls.KEEPALIVE_TIMEOUT).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_thousands_of_slow_and_idle_connections(self):
        d, pid = self.d, self.d.proc.pid
        p = d.proxy()
        s = d.login(p)
        vm = p.VM.get_all(s)["Value"][0]
        threads0, rss0 = threads_of(pid), rss_kib(pid)

        t_open = time.monotonic()
        half = connect_many(d.port, self.N, HALF)
        idle = connect_many(d.port, self.N, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = read_responses(idle, 60)
        self.assertEqual(len(answered), self.N)
        self.assertTrue(all(b" 405 " in r.split(b"\r\n")[0] for r in answered.values()))
        opened = time.monotonic() - t_open

        # another client, over plain HTTP and over HTTPS, is served at once
        other = d.proxy()
        t_login = timed(d.login, other)
        t_get = timed(other.VM.get_record, s, vm)
        t_tls = timed(login, https_proxy(d))
        print("\n  %d half requests + %d idle keep-alive opened in %.1fs; login %.3fs, VM.get_record %.3fs, "
              "HTTPS login %.3fs" % (self.N, self.N, opened, t_login, t_get, t_tls))
        self.assertLess(t_login, 1.0)
        self.assertLess(t_get, 1.0)
        self.assertLess(t_tls, 1.0)
        threads, rss = threads_of(pid), rss_kib(pid)
        print("  threads %d -> %d, RSS %d -> %d MiB" % (threads0, threads, rss0 // 1024, rss // 1024))
        self.assertLessEqual(threads - threads0, 8, "connections cost threads")
        self.assertLess(rss - rss0, 300 * 1024, "connections cost too much memory")

        # the half requests go after request-timeout, the idle ones stay until theirs
        deadline = t_open + opened + self.REQUEST_TIMEOUT + 4
        while time.monotonic() < deadline and not all(closed_by_peer(x) for x in half):
            time.sleep(0.2)
        dropped_at = time.monotonic() - t_open
        self.assertTrue(all(closed_by_peer(x) for x in half), "half requests were not dropped")
        self.assertGreaterEqual(dropped_at, self.REQUEST_TIMEOUT - 0.5)
        if dropped_at < self.KEEPALIVE_TIMEOUT - 1:
            self.assertFalse(any(closed_by_peer(x) for x in idle), "idle connections dropped too early")
        deadline = t_open + opened + self.KEEPALIVE_TIMEOUT + 4
        while time.monotonic() < deadline and not all(closed_by_peer(x) for x in idle):
            time.sleep(0.2)
        self.assertTrue(all(closed_by_peer(x) for x in idle), "idle connections were not dropped")
        for x in half + idle:
            x.close()
        self.assertLess(timed(d.login, d.proxy()), 1.0)

    def test_a_byte_at_a_time_is_dropped(self):
        # the request line came, then a header dribbles in: the request's deadline
        # counts from its start, not from the last byte
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\n")
        t0 = time.monotonic()
        dropped = None
        for ch in b"X-Slow: " + b"a" * 200:
            try:
                s.send(bytes([ch]))
            except OSError:
                dropped = time.monotonic() - t0
                break
            if closed_by_peer(s):
                dropped = time.monotonic() - t0
                break
            s.setblocking(True)
            time.sleep(0.25)
            if time.monotonic() - t0 > self.REQUEST_TIMEOUT + 5:
                break
        s.close()
        self.assertIsNotNone(dropped, "a client sending a byte every 0.25s was never dropped")
        self.assertLess(dropped, self.REQUEST_TIMEOUT + 3)


class PasswordGuessers(unittest.TestCase):
    """A failed login's delay holds its answer, not a thread: guessers outnumbering the
    threads that check passwords (8) neither queue behind each other's delays nor delay
    a good login."""

    GUESSERS, LOGIN_THREADS, DELAY = 32, 8, 3.0

    def test_many_failed_logins_at_once(self):
        d = Daemon(login_failure_delay=self.DELAY).start()
        try:
            pid = d.proc.pid
            threads0 = threads_of(pid)
            t0 = time.monotonic()
            guessers = connect_many(d.port, self.GUESSERS,
                                    xmlrpc_request("session.login_with_password", "root", "guess"))
            time.sleep(0.5)
            # were the delays held by the workers, this would wait for them
            self.assertLess(timed(d.login, d.proxy()), self.DELAY - 1)
            self.assertLessEqual(threads_of(pid) - threads0, self.LOGIN_THREADS)
            got = read_responses(guessers, 60)
            took = time.monotonic() - t0
            self.assertEqual(len(got), self.GUESSERS)
            for r in got.values():
                self.assertIn(b"SESSION_AUTHENTICATION_FAILED", r)
            self.assertGreaterEqual(took, self.DELAY)
            # held by the threads they would take GUESSERS / LOGIN_THREADS delays
            self.assertLess(took, 2 * self.DELAY + 1, "the delays were served one after another")
            for x in guessers:
                x.close()
        finally:
            d.cleanup()


class LongOperations(unittest.TestCase):
    """VM operations that wait long (a clean shutdown of a guest that does not answer)
    fill the workers; a login still answers at once."""

    def test_a_login_beside_long_operations(self):
        d = Daemon(worker_threads=2, shutdown_ack_timeout=6).start()
        try:
            p = d.proxy()
            s = d.login(p)
            x = d.session().xenapi
            vms = [unresponsive(x, "deaf-%d" % i) for i in range(2)]
            for vm in vms:
                x.VM.start(vm, False, False)
            t0 = time.monotonic()
            shutdowns = [socket.create_connection(("127.0.0.1", d.port), timeout=30) for _ in vms]
            for c, vm in zip(shutdowns, vms):
                c.sendall(xmlrpc_request("VM.clean_shutdown", s, vm))
            time.sleep(0.5)
            self.assertLess(timed(d.login, d.proxy()), 1.0)
            self.assertEqual(p.VM.get_power_state(s, vms[0])["Value"], "Running")
            got = read_responses(shutdowns, 30)
            self.assertGreaterEqual(time.monotonic() - t0, 5, "the shutdowns did not wait for their guests")
            for r in got.values():
                self.assertIn(b"VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", r)
            for c in shutdowns:
                c.close()
            for vm in vms:
                x.VM.hard_shutdown(vm)
        finally:
            d.cleanup()


class EventWaiters(unittest.TestCase):
    N = 1000

    @classmethod
    def setUpClass(cls):
        raise_fd_limit(cls.N + 1000)
        cls.d = Daemon(max_connections=2 * cls.N, max_connections_per_address=2 * cls.N).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def test_a_thousand_waiters(self):
        d, pid = self.d, self.d.proc.pid
        p = d.proxy()
        s = d.login(p)
        vm = p.VM.get_all(s)["Value"][0]
        token = getattr(p.event, "from")(s, ["vm"], "", 0.0)["Value"]["token"]

        def batch():
            for _ in range(10):
                d.login(p)
            for _ in range(100):
                assert p.VM.get_record(s, vm)["Status"] == "Success"

        batch()  # warm
        alone = timed(batch)
        threads0 = threads_of(pid)
        waiters = connect_many(d.port, self.N, xmlrpc_request("event.from", s, ["vm"], token, 60.0))
        wait_idle(pid)  # every waiter read and parked
        self.assertEqual(read_responses(waiters[:20], 0.5), {}, "event.from answered with nothing to say")
        crowded = timed(batch)
        threads = threads_of(pid)
        print("\n  10 logins + 100 VM.get_record: %.3fs alone, %.3fs beside %d waiters; threads %d -> %d"
              % (alone, crowded, self.N, threads0, threads))
        self.assertLess(crowded, 2 * alone + 0.5)
        self.assertLessEqual(threads - threads0, 8, "waiting clients hold threads")

        # one write wakes every waiter, each with that write
        t0 = time.monotonic()
        p.VM.set_name_description(s, vm, "woken")
        got = read_responses(waiters, 60)
        woke = time.monotonic() - t0
        print("  one write woke %d waiters in %.3fs" % (len(got), woke))
        self.assertEqual(len(got), self.N)
        for r in got.values():
            self.assertIn(b"woken", r)
            self.assertIn(vm.encode(), r)
        for x in waiters:
            x.close()
        self.assertLess(woke, 20)


if __name__ == "__main__":
    unittest.main()


class StopWithWaiters(unittest.TestCase):
    def test_sigterm_answers_the_parked_waits_and_exits_cleanly(self):
        d = Daemon().start()
        try:
            p = d.proxy()
            s = d.login(p)
            token = getattr(p.event, "from")(s, ["vm"], "", 0.0)["Value"]["token"]
            waiters = connect_many(d.port, 50, xmlrpc_request("event.from", s, ["vm"], token, 60.0))
            time.sleep(0.5)
            t0 = time.monotonic()
            self.assertEqual(d.stop(), 0)
            self.assertLess(time.monotonic() - t0, 6)
            got = read_responses(waiters, 5)
            self.assertEqual(len(got), 50)
            answered = [r for r in got.values() if r]
            for r in answered:  # what there was: no events, the same token
                self.assertIn(b" 200 ", r.split(b"\r\n")[0])
                self.assertIn(token.encode(), r)
            self.assertGreater(len(answered), 0, "no parked wait was answered at stop")
            for x in waiters:
                x.close()
        finally:
            d.cleanup()
