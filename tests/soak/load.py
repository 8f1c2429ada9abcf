"""Load soak: LOAD_CLIENTS clients (default 64) each make LOAD_CALLS calls (default
10,000) against one daemon on the simulator, half over plain HTTP and half over
HTTPS, as XenAPI.py clients do.  Each call is drawn from a mix:

- reads: VM.get_record, VM.get_power_state, VM.get_all_records_where, host.get_all,
  host.get_record, VM.get_all;
- writes: VM.set_name_label, VM.set_name_description, VM.add_to_other_config /
  remove_from_other_config, VM.create and VM.destroy of the client's own VMs;
- lifecycle: start, clean_shutdown, hard_shutdown, pause, unpause, clean_reboot,
  suspend/resume of the client's own VMs, some through Async.VM.* and its task
  (polled, then destroyed);
- events: event.from on the client's own VMs (VM/<ref>) with its own token;
- bad input: a bogus reference, an unknown method, a wrong parameter count, a
  lifecycle call in the wrong power state, malformed XML-RPC and JSON-RPC bodies
  (XMLRPC_UNMARSHAL_FAILURE; JSON-RPC 2.0's parse error -32700).

It asserts, and prints:
- no error but the bad inputs' own: each bad input gets the code it must, and no
  other call fails at all, declared code or not, nor meets a transport error.  Each
  client works on its own VMs only, so no other client changes them under it: a
  real client in its place expects no VM_BAD_POWER_STATE, and no
  VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT from a guest that answers (the simulated one
  does), however busy the host.  Every error is counted by its kind (the call and
  the code or check), printed with the client's calls before it;
- nothing lost: every acknowledged write (name, description, other_config, power
  state, creation, destruction) is what the daemon holds at the end;
- RSS and thread count flat: sampled every LOAD_SAMPLE seconds; after warm-up
  (the first LOAD_WARMUP of all calls, default 20%), the highest RSS may exceed the
  RSS at the end of warm-up by at most LOAD_RSS_SLACK (default 25%) plus 16 MiB, and
  the highest thread count the warm-up's highest by at most 8.  Judged when each
  client makes at least 1,000 calls (LOAD_FLAT=1 or 0 to say otherwise): in a
  shorter run the warm-up is still the clients' first VMs being made and the
  worker threads being started; the figures are printed either way;
- the WAL bounded: at most LOAD_WAL_MAX_MIB (default 128) at any sample, in any run
  (it is restarted every 4096 frames of 4 KiB; held up by readers, tried again up to
  16x farther on).

Clients run as threads in LOAD_PROCS processes (default 8), so that Python's own
overhead does not hide the daemon's.  LOAD_SECONDS, if set, is a time budget: the
clients stop there (each after its call in flight), the checks run on what was done,
and the figures say how many calls that was.  Environment also: XENAPID_BIN,
LOAD_SEED, LOAD_TIMEOUT (a failure: default 7200 s), LOAD_LOG_LEVEL (the daemon's,
default warn) and LOAD_KEEP_LOG (a path the daemon's log is copied to at the end).
Loopback only; every call is bounded in time."""

import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import ssl
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import PASSWORD, Daemon, HTTPSTransport  # noqa: E402
from os_xenapi.client import XenAPI  # noqa: E402

MIB = 1 << 20
VM_RECORD = {"PV_kernel": "/boot/vmlinuz-guest", "PV_args": "console=hvc0",
             "memory_static_max": str(32 * MIB), "memory_dynamic_max": str(32 * MIB),
             "memory_dynamic_min": str(32 * MIB), "memory_static_min": str(16 * MIB)}
OPTIONS = {"shutdown_ack_timeout": 10, "clean_shutdown_timeout": 20,
           "log_level": os.environ.get("LOAD_LOG_LEVEL", "warn"), "sim_memory_mib": 65536,
           "login_failure_delay": 0}
BAD_REF = "OpaqueRef:00000000-0000-0000-0000-000000000bad"
TRANSITIONS = {  # op -> (states it may be called in, state after)
    "start": ({"Halted"}, "Running"), "clean_shutdown": ({"Running"}, "Halted"),
    "hard_shutdown": ({"Running", "Paused", "Suspended"}, "Halted"), "pause": ({"Running"}, "Paused"),
    "unpause": ({"Paused"}, "Running"), "clean_reboot": ({"Running"}, "Running"),
    "suspend": ({"Running"}, "Suspended"), "resume": ({"Suspended"}, "Running"),
}


def declared_codes():
    tree = ET.parse(os.path.join(ROOT, "datamodel", "datamodel.xml"))
    return {e.get("name") for e in tree.iter("error")}


class Client:
    """One client: its own session, VMs and event token; what it was acknowledged."""

    def __init__(self, idx, calls, url, https_url, cafile, seed, declared):
        self.idx, self.calls, self.rng = idx, calls, random.Random(seed)
        self.https = idx % 2 == 1
        self.url = https_url if self.https else url
        self.plain_url = url
        self.cafile = cafile
        self.declared = declared
        self.vms = {}        # ref -> {"name", "desc", "other", "state"} as acknowledged
        self.gone = set()    # refs destroyed, acknowledged
        self.failures = {}   # code -> count, of calls that were not bad input
        self.errors = []     # what should not have happened
        self.counts = {"calls": 0, "reads": 0, "writes": 0, "lifecycle": 0, "async": 0, "events": 0,
                       "bad input": 0}
        self.token = ""
        self.n = 0
        self.latency = {}    # kind of call -> [count, seconds]
        self.kinds = {}      # kind of error (call, code) -> count, so that every one is classified
        self.recent = []     # the client's last calls, printed with an error: what led to it

    def session(self):
        if self.https:
            ctx = ssl.create_default_context(cafile=self.cafile)
            s = XenAPI.Session(self.url, transport=HTTPSTransport(context=ctx))
        else:
            s = XenAPI.Session(self.url)
        s.login_with_password("root", PASSWORD, "2.21", "load-%d" % self.idx)
        return s

    def error(self, what, kind=None):
        kind = kind or (self.kind, re.sub(r"OpaqueRef:[0-9a-f-]+", "<ref>", what)[:60])
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.errors) < 20:
            self.errors.append("client %d call %d: %s (after %s)" % (self.idx, self.counts["calls"], what,
                                                                   "; ".join(self.recent)))
        else:
            self.errors.append(None)

    def note(self, what):
        self.recent = (self.recent + [what])[-5:]

    def run(self, progress, stop):
        try:
            self.s = self.session()
        except Exception as e:  # noqa: BLE001  (any failure to log in is an error)
            self.error("login: %r" % e)
            return self
        self.x = self.s.xenapi
        for _ in range(self.calls):
            if stop.is_set():
                break
            self.counts["calls"] += 1
            t = time.time()
            self.kind, self.detail, outcome = "?", "", "ok"
            try:
                self.one()
            except XenAPI.Failure as e:
                code = e.details[0] if e.details else "?"
                self.failures[code] = self.failures.get(code, 0) + 1
                if code == "INTERNAL_ERROR" or code not in self.declared:
                    self.error("undeclared error %s" % e.details, (self.kind, "undeclared " + code))
                else:
                    self.error("failed: %s" % e.details, (self.kind, code))
                outcome = code
            except Exception as e:  # noqa: BLE001  (transport errors are what this looks for)
                self.error("transport: %r" % e, (self.kind, "transport " + type(e).__name__))
                outcome = "transport error"
                try:
                    self.s = self.session()
                    self.x = self.s.xenapi
                except Exception:  # noqa: BLE001
                    return self
            finally:
                lat = self.latency.setdefault(self.kind, [0, 0.0])
                lat[0] += 1
                lat[1] += time.time() - t
                self.note("%s%s %.1fs %s" % (self.kind, self.detail, time.time() - t, outcome))
            progress()
        self.check_final()
        try:
            self.x.session.logout()
        except Exception:  # noqa: BLE001
            pass
        return self

    # ---- the mix ----
    def one(self):
        r = self.rng.random()
        if r < 0.40:
            self.read()
        elif r < 0.62:
            self.write()
        elif r < 0.80:
            self.lifecycle()
        elif r < 0.90:
            self.events()
        else:
            self.bad_input()

    def mine(self):
        return self.rng.choice(sorted(self.vms)) if self.vms else None

    def read(self):
        self.counts["reads"] += 1
        self.kind = "read"
        vm = self.mine()
        k = self.rng.randrange(6)
        if vm and k == 0:
            rec = self.x.VM.get_record(vm)
            self.compare(vm, rec)
        elif vm and k == 1:
            if self.x.VM.get_power_state(vm) != self.vms[vm]["state"]:
                self.error("%s: power state not as acknowledged" % vm)
        elif k == 2:
            self.x.VM.get_all_records_where('field "name_label" = "c%d-%d"' % (self.idx, self.rng.randrange(50)))
        elif k == 3:
            self.x.host.get_all()
        elif k == 4:
            self.x.host.get_record(self.x.host.get_all()[0])
        else:
            self.x.VM.get_all()

    def write(self):
        self.counts["writes"] += 1
        self.kind = "write"
        vm = self.mine()
        self.n += 1
        k = self.rng.randrange(10)
        if vm is None or (k == 0 and len(self.vms) < 3):
            name = "c%d-%d" % (self.idx, self.n)
            ref = self.x.VM.create(dict(VM_RECORD, name_label=name))
            self.vms[ref] = {"name": name, "desc": "", "other": {}, "state": "Halted"}
        elif k == 1 and len(self.vms) > 1 and self.vms[vm]["state"] == "Halted":
            self.x.VM.destroy(vm)
            del self.vms[vm]
            self.gone.add(vm)
        elif k < 5:
            name = "c%d-%d" % (self.idx, self.n)
            self.x.VM.set_name_label(vm, name)
            self.vms[vm]["name"] = name
        elif k < 7:
            desc = "d%d" % self.n
            self.x.VM.set_name_description(vm, desc)
            self.vms[vm]["desc"] = desc
        else:
            other = self.vms[vm]["other"]
            key = "k%d" % self.rng.randrange(4)
            if key in other:
                self.x.VM.remove_from_other_config(vm, key)
                del other[key]
            else:
                self.x.VM.add_to_other_config(vm, key, str(self.n))
                other[key] = str(self.n)

    def lifecycle(self):
        vm = self.mine()
        if vm is None:
            return self.write()
        self.counts["lifecycle"] += 1
        state = self.vms[vm]["state"]
        ops = [op for op, (whence, _) in TRANSITIONS.items() if state in whence]
        op = self.rng.choice(ops)
        self.kind = op
        args = (False, False) if op in ("start", "resume") else ()
        asynchronous = self.rng.random() < 0.3
        self.detail = "%s %s..%s from %s" % (" async" if asynchronous else "", vm[10:14], vm[-4:], state)
        if asynchronous:
            self.counts["async"] += 1
            task = getattr(self.x.Async.VM, op)(vm, *args)
            deadline = time.time() + 60
            while self.x.task.get_status(task) == "pending":
                if time.time() > deadline:
                    self.error("task %s (%s) still pending after 60 s" % (task, op))
                    return self.settle(vm, task)
                time.sleep(0.02)
            status = self.x.task.get_status(task)
            info = self.x.task.get_error_info(task)
            self.x.task.destroy(task)
            if status != "success":
                raise XenAPI.Failure(info)
        else:
            getattr(self.x.VM, op)(vm, *args)
        self.vms[vm]["state"] = TRANSITIONS[op][1]

    def settle(self, vm, task):
        """After a task the client gave up on (an error already): wait for it to end
        (bounded), then take the VM's state from the daemon, so that one slow task is
        one error, not every later check of that VM."""
        deadline = time.time() + 600
        while self.x.task.get_status(task) == "pending" and time.time() < deadline:
            time.sleep(0.2)
        self.vms[vm]["state"] = self.x.VM.get_power_state(vm)

    def events(self):
        self.counts["events"] += 1
        self.kind = "event.from"
        # the client's own VMs (VM/<ref>), as a client following what it manages; the
        # whole class from 64 busy writers would make this Python client, not the
        # daemon, the bottleneck
        classes = ["VM/" + vm for vm in sorted(self.vms)] or ["host"]
        r = getattr(self.x.event, "from")(classes, self.token, 0.05)
        self.token = r["token"]

    def bad_input(self):
        self.counts["bad input"] += 1
        self.kind = "bad input"
        k = self.rng.randrange(6)
        vm = self.mine()
        if k == 0:
            self.expect("HANDLE_INVALID", self.x.VM.get_record, BAD_REF)
        elif k == 1:
            self.expect("MESSAGE_METHOD_UNKNOWN", self.x.VM.no_such_method, BAD_REF)
        elif k == 2:
            self.expect("MESSAGE_PARAMETER_COUNT_MISMATCH", self.x.VM.get_record)
        elif k == 3 and vm:
            state = self.vms[vm]["state"]
            op = self.rng.choice([o for o, (whence, _) in TRANSITIONS.items() if state not in whence])
            args = (False, False) if op in ("start", "resume") else ()
            self.expect("VM_BAD_POWER_STATE", getattr(self.x.VM, op), vm, *args)
        elif k == 4:
            self.raw(b"<?xml version='1.0'?><methodCall><methodName>VM.get_all</methodName><params><param>"
                     b"<value><string>" + os.urandom(8).hex().encode() + b"</value></params></methodCall>",
                     "text/xml", b"XMLRPC_UNMARSHAL_FAILURE")
        else:
            # JSON-RPC 2.0's own parse error (-32700), as the specification says
            self.raw(b'{"jsonrpc": "2.0", "method": "VM.get_all", "params": [', "application/json",
                     b'"code":-32700', path="jsonrpc")

    def expect(self, code, fn, *args):
        try:
            fn(*args)
        except XenAPI.Failure as e:
            if not e.details or e.details[0] != code:
                self.error("expected %s, got %s" % (code, e.details))
            return
        self.error("expected %s, the call succeeded" % code)

    def raw(self, body, ctype, want, path=""):
        """A malformed body on a fresh plain-HTTP connection: the answer names the parse error."""
        req = urllib.request.Request(self.plain_url + path, data=body, headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                answer = r.read()
        except urllib.error.HTTPError as e:
            answer = e.read()
        if want not in answer:
            self.error("malformed body: answer without %s: %r" % (want.decode(), answer[:200]))

    # ---- nothing lost ----
    def compare(self, vm, rec):
        want = self.vms[vm]
        got = {"name": rec["name_label"], "desc": rec["name_description"],
               "other": {k: v for k, v in rec["other_config"].items() if re.match(r"k\d$", k)},
               "state": rec["power_state"]}
        if got != want:
            self.error("%s: holds %s, acknowledged %s" % (vm, got, want))

    def check_final(self):
        for vm in list(self.vms):
            try:
                self.compare(vm, self.x.VM.get_record(vm))
            except XenAPI.Failure as e:
                self.error("%s: acknowledged, now %s" % (vm, e.details))
        for vm in self.gone:
            try:
                self.x.VM.get_record(vm)
                self.error("%s: destroyed, still there" % vm)
            except XenAPI.Failure as e:
                if e.details[0] != "HANDLE_INVALID":
                    self.error("%s: destroyed, then %s" % (vm, e.details))


def worker(clients, calls, url, https_url, cafile, seed, declared, done, stop, out):
    """One process: its clients as threads; results to out (a queue)."""
    lock = threading.Lock()

    def progress():
        with lock:
            progress.n += 1
            if progress.n % 50 == 0:
                with done.get_lock():
                    done.value += 50
    progress.n = 0
    cs = [Client(i, calls, url, https_url, cafile, seed * 1000 + i, declared) for i in clients]
    threads = [threading.Thread(target=c.run, args=(progress, stop), daemon=True) for c in cs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put([(c.idx, c.counts, c.failures, c.errors, c.latency, c.kinds) for c in cs])


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def sample(pid):
    rss = threads = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def main():
    nclients = int(os.environ.get("LOAD_CLIENTS", "64"))
    calls = int(os.environ.get("LOAD_CALLS", "10000"))
    nprocs = min(int(os.environ.get("LOAD_PROCS", "8")), nclients)
    seed = int(os.environ.get("LOAD_SEED", str(int(time.time()))))
    warmup = float(os.environ.get("LOAD_WARMUP", "0.2"))
    rss_slack = float(os.environ.get("LOAD_RSS_SLACK", "0.25"))
    wal_bound = float(os.environ.get("LOAD_WAL_MAX_MIB", "128")) * MIB
    every = float(os.environ.get("LOAD_SAMPLE", "1"))
    judge_flat = os.environ.get("LOAD_FLAT", "1" if calls >= 1000 else "0") == "1"
    total = nclients * calls
    declared = declared_codes()
    d = Daemon(**OPTIONS)
    ok = True
    t0 = time.time()
    try:
        d.start()
        pid = d.proc.pid
        done = multiprocessing.Value("l", 0)
        stop = multiprocessing.Event()
        out = multiprocessing.Queue()
        budget = float(os.environ["LOAD_SECONDS"]) if os.environ.get("LOAD_SECONDS") else None
        stopped = False
        procs = [multiprocessing.Process(target=worker, args=(list(range(p, nclients, nprocs)), calls, d.url,
                                                                  d.https_url, d.certificate, seed, declared,
                                                                  done, stop, out))
                 for p in range(nprocs)]
        for p in procs:
            p.start()
        samples = []  # (calls done, rss, threads)
        wal = d.dir + "/xenapid.db-wal"
        wal_max = 0
        results = []
        deadline = time.time() + float(os.environ.get("LOAD_TIMEOUT", "7200"))
        last_print = time.time()
        while len(results) < nprocs:
            try:
                results += [out.get(timeout=every)]
            except Exception:  # noqa: BLE001  (queue.Empty: time to sample)
                pass
            if d.proc.poll() is not None:
                print("the daemon died (exit %s)" % d.proc.returncode, flush=True)
                ok = False
                break
            rss, threads = sample(pid)
            samples.append((done.value, rss, threads))
            wal_max = max(wal_max, file_size(wal))
            if time.time() - last_print > 30:
                last_print = time.time()
                print("%.0fs: %d of %d calls, RSS %.1f MiB, %d threads" % (time.time() - t0, done.value, total,
                                                                        rss / MIB, threads), flush=True)
            if budget is not None and not stopped and time.time() - t0 > budget:
                print("time budget (LOAD_SECONDS=%g) reached: the clients stop" % budget, flush=True)
                stop.set()
                stopped = True
            if time.time() > deadline:
                print("LOAD_TIMEOUT passed with %d of %d calls done" % (done.value, total), flush=True)
                ok = False
                break
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        took = time.time() - t0
        counts, failures, errors, latency, kinds = {}, {}, [], {}, {}
        for batch in results:
            for _, c, f, errs, lat, ks in batch:
                for k, v in ks.items():
                    kinds[k] = kinds.get(k, 0) + v
                for k, (n, secs) in lat.items():
                    acc = latency.setdefault(k, [0, 0.0])
                    acc[0] += n
                    acc[1] += secs
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
                for k, v in f.items():
                    failures[k] = failures.get(k, 0) + v
                errors += errs
        # flat after warm-up
        made = counts.get("calls", 0)
        warm = [s for s in samples if s[0] < warmup * made] or samples[:1]
        after = [s for s in samples if s[0] >= warmup * made] or samples[-1:]
        rss0 = warm[-1][1]
        thr0 = max(s[2] for s in warm)
        rss_max = max(s[1] for s in after)
        thr_max = max(s[2] for s in after)
        rss_end, thr_end = samples[-1][1], samples[-1][2]
        print("load soak: seed %d, %d clients x %d calls (%d over HTTPS), %.0fs, %.0f calls/s" %
              (seed, nclients, calls, nclients // 2, took, counts.get("calls", 0) / max(took, 1e-9)))
        print("calls: %s" % ", ".join("%s %d" % kv for kv in counts.items()))
        print("failures of ordinary calls by code (each an error): %s" % (failures or "none"))
        print("mean latency (ms) by call: %s" % ", ".join(
            "%s %.0f (%d)" % (k, 1000 * secs / n, n) for k, (n, secs) in sorted(latency.items()) if n))
        print("RSS: %.1f MiB at start, %.1f MiB after warm-up, %.1f MiB highest after, %.1f MiB at the end" %
              (samples[0][1] / MIB, rss0 / MIB, rss_max / MIB, rss_end / MIB))
        # the WAL is restarted as it grows (src/db/txn.c): 4096 frames of 4 KiB, and when a
        # reader holds it up, tried again ever farther apart (up to 16x): judged by a bound
        print("database: %.1f MiB, its WAL %.1f MiB at the end, %.1f MiB at most" %
              (file_size(d.dir + "/xenapid.db") / MIB, file_size(wal) / MIB, wal_max / MIB))
        print("threads: %d at start, %d highest in warm-up, %d highest after, %d at the end" %
              (samples[0][2], thr0, thr_max, thr_end))
        bad = [e for e in errors if e]
        print("errors: %d" % len(errors))
        for (kind, what), n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print("  %6d  %s: %s" % (n, kind, what))
        for e in bad[:30]:
            print("  " + e)
        if errors:
            ok = False
        if stopped:
            print("PARTIAL: %d of %d calls made in the time budget" % (made, total))
        elif made != total:
            print("only %d of %d calls were made" % (made, total))
            ok = False
        if not judge_flat:
            print("(RSS and threads not judged: a short run, LOAD_FLAT=1 to judge them)")
        elif rss_max > rss0 * (1 + rss_slack) + 16 * MIB:
            print("RSS grew after warm-up: %.1f -> %.1f MiB" % (rss0 / MIB, rss_max / MIB))
            ok = False
        if wal_max > wal_bound:
            print("the WAL grew past %.0f MiB: %.1f MiB at most" % (wal_bound / MIB, wal_max / MIB))
            ok = False
        if judge_flat and thr_max > thr0 + 8:
            print("threads grew after warm-up: %d -> %d" % (thr0, thr_max))
            ok = False
        d.stop()
        if os.environ.get("LOAD_KEEP_LOG"):
            shutil.copy(d.log_path, os.environ["LOAD_KEEP_LOG"])
        reports = d.sanitizer_reports()
        if reports:
            print("sanitizer report:\n" + reports[:3000])
            ok = False
    finally:
        d.cleanup(check=False)
    print("load soak: %s" % ("ok" if ok else "FAILED"))
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
