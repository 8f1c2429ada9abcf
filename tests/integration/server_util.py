"""What the server tests share: the daemon's HTTPS port and certificate, TLS
clients trusting it, its thread count and memory, raw sockets in bulk."""

import os
import re
import resource
import socket
import ssl
import time
import xmlrpc.client

from harness import PASSWORD, Daemon  # noqa: F401  (re-exported)


def https_port(d):
    """The HTTPS port the daemon serves (its log says it at start)."""
    m = re.findall(r"serving the XenAPI on https://[^ ]*:(\d+)/", d.read_log())
    assert m, "the daemon serves no HTTPS:\n" + d.read_log()[-3000:]
    return int(m[-1])


def cert_path(d):
    return d.options.get("tls-certificate") or os.path.join(d.dir, "xenapid-cert.pem")


def key_path(d):
    return d.options.get("tls-key") or os.path.join(d.dir, "xenapid-key.pem")


def logged_fingerprint(d):
    m = re.findall(r"SHA-256 fingerprint ([0-9A-F:]{95})", d.read_log())
    assert m, "no fingerprint in the log"
    return m[-1]


def tls_context(d, **versions):
    """A client context that trusts exactly the daemon's certificate."""
    ctx = ssl.create_default_context(cafile=cert_path(d))
    for k, v in versions.items():
        setattr(ctx, k, v)
    return ctx


def https_proxy(d, ctx=None):
    return xmlrpc.client.ServerProxy("https://127.0.0.1:%d/" % https_port(d), allow_none=True,
                                     context=ctx or tls_context(d))


def login(proxy, password=PASSWORD):
    r = proxy.session.login_with_password("root", password)
    assert r["Status"] == "Success", r
    return r["Value"]


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"Threads:\s+(\d+)", f.read()).group(1))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(pid, timeout=20):
    """Until the process has used (almost) no CPU for half a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_ticks(pid)
        time.sleep(0.5)
        if cpu_ticks(pid) - before <= 2:
            return
    raise AssertionError("the daemon stayed busy for %ds" % timeout)


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, n), hard) if hard != resource.RLIM_INFINITY else max(soft, n)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    assert want >= n, "this test needs %d file descriptors; the hard limit is %d" % (n, hard)


def connect_many(port, n, payload=b""):
    """n sockets to the port, each having sent payload."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if payload:
            s.sendall(payload)
        socks.append(s)
    return socks


def closed_by_peer(s):
    """True once the daemon closed the socket (EOF or reset), without blocking."""
    s.setblocking(False)
    try:
        return s.recv(65536) == b""
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def timed(fn, *args):
    t = time.monotonic()
    fn(*args)
    return time.monotonic() - t


def xmlrpc_request(method, *params):
    body = xmlrpc.client.dumps(params, method).encode()
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body
