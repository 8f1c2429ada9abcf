"""A test pool: daemons on 127.0.0.1, 127.0.0.2, 127.0.0.3, ... sharing one HTTPS port
(free on every address), each with its own directory, database and simulator, as
real pool members share a port and differ by address.  PoolTest.make_pool() starts
them and joins every host after the first to it, as a user would (pool.join on the
joiner); other helpers' tests use it as they use DaemonTest."""

import socket
import time

from harness import PASSWORD, HTTPSTransport
from support import DaemonTest, UnixTransport, XenAPI, failure, wait_until  # noqa: F401

# Short pool intervals keep the tests fast.
POOL_FAST = {"heartbeat_interval": 0.5, "host_dead_after": 2}


def addresses(n):
    return ["127.0.0.%d" % (i + 1) for i in range(n)]


def free_port(addrs, attempts=50):
    """A TCP port nothing listens on at any of addrs."""
    for _ in range(attempts):
        probe = socket.socket()
        probe.bind((addrs[0], 0))
        port = probe.getsockname()[1]
        probe.close()
        ok = True
        for a in addrs:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((a, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port
    raise AssertionError("no port free on all of %s" % addrs)


def wait_member(d, timeout=20):
    """Until d (restarting after pool.join) answers logins with HOST_IS_SLAVE.  On a
    timeout the failure says what the host last answered and ends with its log (a CI
    run once timed out here, with nothing to tell why)."""
    last = ["nothing yet"]

    def slave():
        try:
            s = d.xenapi_session()
            try:
                s.login_with_password("root", PASSWORD)
                s.xenapi.session.logout()
                last[0] = "a login (still not a member)"
                return False
            finally:
                s("close")()
        except XenAPI.Failure as f:
            last[0] = "failure %s" % f.details
            return f.details[0] == "HOST_IS_SLAVE"
        except Exception as e:  # restarting: nothing listens for a moment
            last[0] = "%s: %s" % (type(e).__name__, e)
            return False
    try:
        wait_until(slave, timeout=timeout, interval=0.1, what="%s to restart as a pool member" % d.address)
    except AssertionError as e:
        try:
            with open(d.log_path) as f:
                tail = "".join(f.readlines()[-40:])
        except OSError as oe:
            tail = "(no log: %s)\n" % oe
        raise AssertionError("%s; its last answer: %s; the end of its log:\n%s" % (e, last[0], tail)) from None


def join(d, master):
    """pool.join on d, to master, as a user would; waits for d to come back a member."""
    x = d.session().xenapi
    try:
        x.pool.join(master.address, "root", PASSWORD)
    finally:
        try:
            x.session.logout()
        except Exception:
            pass  # it restarts
    wait_member(d)


class PoolTest(DaemonTest):
    """Tests that start a pool: self.make_pool(n) gives [master, member, ...]."""

    def make_pool(self, n=3, joined=True, options=None, **common):
        addrs = addresses(n)
        port = free_port(addrs)
        # plain HTTP on a fixed port too: a host restarting after pool.join keeps it
        plain = free_port(addrs)
        while plain == port:
            plain = free_port(addrs)
        hosts = []
        for i, a in enumerate(addrs):
            opts = dict(POOL_FAST)
            opts.update(common)
            opts.update((options or {}).get(i, {}))
            opts["https_port"] = port
            opts["host_address"] = a
            opts["listen_port"] = plain
            hosts.append(self.start_daemon(address=a, **opts))
        if joined:
            for d in hosts[1:]:
                join(d, hosts[0])
        return hosts

    def on_member_unix(self, d):
        """A session through the member's unix socket as local root (the member gets
        it from the master with the pool secret); its calls are proxied."""
        s = XenAPI.Session("http://localhost/", transport=UnixTransport(d.unix_socket))
        s.login_with_password("root", "")
        self.sessions.append(s)
        return s.xenapi

    def on_member_https(self, d, master):
        """A client logged in at the master (as clients do after HOST_IS_SLAVE) whose
        calls go to the member's HTTPS address: the member forwards them."""
        ref = master.session()._session
        s = XenAPI.Session(d.https_url, transport=HTTPSTransport(context=d.ssl_context()))
        s._session = ref
        self.sessions.append(s)
        return s.xenapi

    def hosts_by_address(self, x):
        return {r["address"]: ref for ref, r in x.host.get_all_records().items()}
