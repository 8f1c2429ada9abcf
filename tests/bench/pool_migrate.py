"""`make bench`, the pool part: the time of a VM.pool_migrate on the simulator between
two daemons of a pool on 127.0.0.1 and 127.0.0.2 (the release build, log-level info),
there and back, against a VM.suspend + VM.resume on one host measured in the same run
(the same save and restore, through a file instead of HTTPS between hosts) and a
VM.start + VM.hard_shutdown.  Each figure is the median of BENCH_MIGRATIONS round
trips (default 20) timed by the client (XenAPI.py over HTTPS: its own cost, about a
millisecond a call, is in every figure alike).  Prints figures and ratios, asserts
nothing on speed."""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import Daemon  # noqa: E402
from pool_fixture import addresses, free_port, join  # noqa: E402

MIB = 1 << 20
N = int(os.environ.get("BENCH_MIGRATIONS", "20"))


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main():
    addrs = addresses(2)
    port, plain = free_port(addrs), None
    while plain is None or plain == port:
        plain = free_port(addrs)
    hosts = []
    try:
        for a in addrs:
            hosts.append(Daemon(address=a, https_port=port, listen_port=plain, host_address=a,
                                log_level="info", heartbeat_interval=1, shutdown_ack_timeout=5).start())
        join(hosts[1], hosts[0])
        s = hosts[0].session()
        x = s.xenapi
        by = {r["address"]: ref for ref, r in x.host.get_all_records().items()}
        vm = x.VM.create({"name_label": "bench", "PV_kernel": "/boot/vmlinuz-guest",
                          "memory_static_max": str(256 * MIB), "memory_dynamic_max": str(256 * MIB),
                          "memory_dynamic_min": str(256 * MIB), "memory_static_min": str(128 * MIB)})
        x.VM.start_on(vm, by[addrs[0]], False, False)
        there, back, suspend, start = [], [], [], []
        for _ in range(N):
            there.append(timed(x.VM.pool_migrate, vm, by[addrs[1]], {}))
            back.append(timed(x.VM.pool_migrate, vm, by[addrs[0]], {}))
        for _ in range(N):
            suspend.append(timed(x.VM.suspend, vm) + timed(x.VM.resume, vm, False, False))
        x.VM.hard_shutdown(vm)
        for _ in range(N):
            start.append(timed(x.VM.start_on, vm, by[addrs[0]], False, False) + timed(x.VM.hard_shutdown, vm))
        mt, mb = statistics.median(there), statistics.median(back)
        ms, mst = statistics.median(suspend), statistics.median(start)
        print("VM.pool_migrate, simulator, 256 MiB PV VM, median of %d: master->member %.1f ms, "
              "member->master %.1f ms (min %.1f, max %.1f)" % (N, 1e3 * mt, 1e3 * mb, 1e3 * min(there + back),
                                                              1e3 * max(there + back)))
        print("  same run: VM.suspend+VM.resume on the master %.1f ms, VM.start_on+VM.hard_shutdown %.1f ms" %
              (1e3 * ms, 1e3 * mst))
        print("  ratios: a migration %.2fx a suspend+resume, %.2fx a start+shutdown" %
              ((mt + mb) / 2 / ms if ms else 0, (mt + mb) / 2 / mst if mst else 0))
        x.session.logout()
        s("close")()
    finally:
        for d in reversed(hosts):
            d.stop()
            d.cleanup(check=False)


if __name__ == "__main__":
    main()
