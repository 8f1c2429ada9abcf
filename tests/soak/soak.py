"""kill -9 soak: SOAK_KILLS times (default 1000), 8 clients run lifecycle operations and
writes on the simulator through XenAPI.py, the daemon is killed with SIGKILL at a
random moment and started again on the same files.  After each restart:

- every acknowledged write is there: each VM's name and power state are what the
  daemon last acknowledged, or, for the one call per client that was in flight when
  the daemon died, what that call would have made them; no VM exists that no client
  made (no unacknowledged create appears but the one in flight);
- the database passes PRAGMA integrity_check;
- every VM's power state agrees with the simulator's domains: a Running or Paused
  VM has its domain, a Halted one has none, no domain is left without its VM, and
  no operation is left in current_operations;
- no VM is left Paused by a start or reboot cut short (its half-built domain is
  undone at restart), and the simulated xenstored forgets no domain (what it
  acknowledged is on disk): both were findings of this soak, now violations.

Prints the counts and exits 1 on any violation.  Environment: SOAK_KILLS, SOAK_CLIENTS
(8), SOAK_MAX_UP (longest a daemon lives, seconds, default 0.8), SOAK_SEED,
XENAPID_BIN.  Loopback only; every call, start and join is bounded in time."""

import os
import random
import signal
import sqlite3
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from harness import PASSWORD, Daemon  # noqa: E402
from support import guest_domids, sim_list  # noqa: E402  (the domains as their guests and the hypervisor see them)
from os_xenapi.client import XenAPI  # noqa: E402

MIB = 1 << 20
# a small PV guest: 8 clients' VMs fit the simulated host many times over
VM_RECORD = {"PV_kernel": "/boot/vmlinuz-guest", "PV_args": "console=hvc0",
             "memory_static_max": str(64 * MIB), "memory_dynamic_max": str(64 * MIB),
             "memory_dynamic_min": str(64 * MIB), "memory_static_min": str(32 * MIB)}
OPTIONS = {"shutdown_ack_timeout": 0.5, "clean_shutdown_timeout": 5, "log_level": "info"}
GONE = None  # the state of a destroyed VM


class Soak:
    def __init__(self, kills, clients, max_up, seed):
        self.kills, self.nclients, self.max_up = kills, clients, max_up
        self.rng = random.Random(seed)
        self.seed = seed
        self.lock = threading.Lock()
        self.model = {}        # ref -> (name_label, power_state) as last acknowledged
        self.owner = {}        # ref -> client index
        self.pending = {}      # client -> (ref or None, op, state before, state after) of the call in flight
        self.counts = {"kills": 0, "acked writes": 0, "records checked": 0, "declared failures": 0,
                       "undeclared errors": 0,
                       "left Paused by a start or reboot cut short": 0, "domains xenstored forgot": 0,
                       "domains xenstored kept after their end": 0,
                       "violations": 0}
        self.forgotten = set()      # domains the simulated xenstored lost in a kill
        self.kept = set()           # domains it kept introduced after their end
        self.guest_may_act = set()  # VMs whose guest has a shutdown request from a call cut short or refused
        self.failures = {}     # error code -> count
        self.violations = []
        self.cycle = 0

    # ---- bookkeeping, under self.lock ----
    def violation(self, what):
        self.counts["violations"] += 1
        if len(self.violations) < 50:
            self.violations.append("kill %d: %s" % (self.cycle, what))
        print("VIOLATION after kill %d: %s" % (self.cycle, what), flush=True)

    # ---- a client ----
    def client(self, i, url, stop, rng):
        try:
            s = XenAPI.Session(url)
            s.login_with_password("root", PASSWORD, "2.21", "soak")
        except Exception:
            return  # the daemon died before this client got going
        x = s.xenapi
        n = 0
        while not stop.is_set():
            with self.lock:
                mine = [r for r, o in self.owner.items() if o == i and self.model.get(r)]
            n += 1
            if len(mine) < 3:
                name = "c%d-k%d-%d" % (i, self.cycle, n)
                op, ref, before, after = "create", None, GONE, (name, "Halted")
            else:
                ref = rng.choice(mine)
                with self.lock:
                    before = self.model[ref]
                name, state = before
                choices = {"Halted": ["start", "start", "rename", "destroy"],
                           "Running": ["clean_shutdown", "hard_shutdown", "rename", "pause", "clean_reboot"],
                           "Paused": ["unpause", "hard_shutdown", "rename"],
                           "Suspended": ["hard_shutdown"]}[state]
                op = rng.choice(choices)
                new_state = {"start": "Running", "clean_shutdown": "Halted", "hard_shutdown": "Halted",
                             "pause": "Paused", "unpause": "Running", "clean_reboot": "Running"}.get(op, state)
                if op == "rename":
                    name = "c%d-k%d-%d" % (i, self.cycle, n)
                after = GONE if op == "destroy" else (name, new_state)
            with self.lock:
                self.pending[i] = (ref, op, before, after)
            try:
                if op == "create":
                    rec = dict(VM_RECORD, name_label=after[0])
                    ref = x.VM.create(rec)
                elif op == "rename":
                    x.VM.set_name_label(ref, after[0])
                elif op == "start":
                    x.VM.start(ref, False, False)
                elif op == "destroy":
                    x.VM.destroy(ref)
                else:
                    getattr(x.VM, op)(ref)
            except XenAPI.Failure as e:
                # declared, with the daemon alive: what it holds now is what it acknowledges
                code = e.details[0] if e.details else "?"
                with self.lock:
                    self.failures[code] = self.failures.get(code, 0) + 1
                    self.counts["declared failures"] += 1
                    if code == "INTERNAL_ERROR":
                        # not a loss, but an error no declaration names: say so loudly
                        self.counts["undeclared errors"] += 1
                        print("UNDECLARED ERROR after kill %d: %s %s: %s" % (self.cycle, op, ref, e.details),
                              flush=True)
                try:
                    rec = x.VM.get_record(ref)
                    with self.lock:
                        self.model[ref] = (rec["name_label"], rec["power_state"])
                        self.pending[i] = None
                        if op in ("clean_shutdown", "clean_reboot") and rec["power_state"] != "Halted":
                            # a guest slow to acknowledge may still act on the request later
                            self.guest_may_act.add(ref)
                except Exception:
                    return  # the daemon died: the call stays in flight
                continue
            except Exception:
                return  # the daemon died under the call: it stays in flight
            with self.lock:  # acknowledged
                self.model[ref] = after
                self.owner[ref] = i
                self.pending[i] = None
                self.counts["acked writes"] += 1

    # ---- the checks after a restart ----
    def settled(self, d, x, timeout=10.0):
        """The records once the daemon has dealt with what it found at start-up (a
        domain its guest shut down meanwhile is handled as actions_after_* say, as an
        operation of its own), and how they disagree with the domains read just after
        them: nothing once settled, or what is still wrong after timeout."""
        deadline = time.time() + timeout
        while True:
            records = {r: v for r, v in x.VM.get_all_records().items() if not v["is_control_domain"]}
            disagreements = self.domain_disagreements(d, records)
            if not disagreements or time.time() > deadline:
                return records, disagreements
            time.sleep(0.05)

    def domain_disagreements(self, d, records):
        doms = set(sim_domains(d))
        out = []
        for ref, rec in records.items():
            domid = int(rec["domid"])
            if rec["current_operations"]:
                out.append("%s left with current_operations %s" % (ref, rec["current_operations"]))
            if rec["power_state"] in ("Running", "Paused"):
                if domid not in doms:
                    out.append("%s is %s with domid %d, which has no domain" % (ref, rec["power_state"], domid))
                doms.discard(domid)
            elif domid != -1:
                out.append("%s is %s with domid %d" % (ref, rec["power_state"], domid))
        out += ["domain %d has no Running or Paused VM" % domid for domid in sorted(doms)]
        return out

    def check(self, d, x):
        records, disagreements = self.settled(d, x)
        in_flight = {}       # ref -> the states the call in flight may have left
        creating = {}        # name -> client, for creates in flight
        in_flight_op = {}
        for i, p in self.pending.items():
            if not p:
                continue
            ref, op, before, after = p
            if ref is None:
                creating[after[0]] = i
            else:
                in_flight[ref] = interrupted_outcomes(op, before, after)
                in_flight_op[ref] = op
                if op in ("clean_shutdown", "clean_reboot"):
                    # the guest may still act on the request it was sent
                    self.guest_may_act.add(ref)
        for ref, acked in list(self.model.items()):
            rec = records.get(ref)
            actual = (rec["name_label"], rec["power_state"]) if rec else GONE
            self.counts["records checked"] += 1
            allowed = [acked] + in_flight.get(ref, [])
            if ref in self.guest_may_act and acked:
                allowed += [(acked[0], st) for st in ("Halted", "Running", "Paused")]
            cut_short = in_flight_op.get(ref) in ("start", "clean_reboot") or ref in self.guest_may_act
            if cut_short and actual and actual[1] == "Paused" and acked and acked[1] != "Paused" \
                    and ref not in self.guest_may_act:
                self.counts["left Paused by a start or reboot cut short"] += 1
                self.violation("%s left Paused by a %s cut short" % (ref, in_flight_op.get(ref)))
            if actual not in allowed:
                self.violation("%s is %s, acknowledged %s" % (ref, actual, " or ".join(map(str, allowed))))
            self.model[ref] = actual  # resolved: the next round starts from what is there
            if actual is GONE or actual[1] == "Halted":
                self.guest_may_act.discard(ref)  # its domain, and the request, are gone
        for ref, rec in records.items():
            if ref in self.model:
                continue
            i = creating.pop(rec["name_label"], None)
            if i is None:
                self.violation("%s (%s) exists, no client made it" % (ref, rec["name_label"]))
            self.model[ref] = (rec["name_label"], rec["power_state"])
            self.owner[ref] = i if i is not None else 0
        self.pending = {}
        # the records agree with the domains
        for v in disagreements:  # judged on the same records and domains, read together
            self.violation(v)
        # Read one after the other, the two sides can catch the daemon acting on a guest
        # that stopped itself (a destroy takes the domain from the hypervisor, then from
        # xenstored; a restart adds it in that order): seen at kill 65 of 1,000, a domain
        # the daemon was halting.  A forgotten domain stays so: it is one still in the
        # hypervisor with no guest side a moment later.
        forgot = set(sim_domains(d)) - set(guest_domids(d))
        if forgot - self.forgotten:
            time.sleep(1)
            forgot &= set(sim_domains(d)) - set(guest_domids(d))
        for domid in sorted(forgot - self.forgotten):
            self.violation("the simulated xenstored forgot domain %d" % domid)
        self.forgotten |= forgot
        self.counts["domains xenstored forgot"] = len(self.forgotten)
        # and the other way: a domain the hypervisor no longer has, still introduced (its
        # guest socket there), as a kill between a destroy's two steps left it until
        # xenstored released such domains at its start; judged as above, a second later
        kept = set(guest_domids(d)) - set(sim_domains(d))
        if kept:
            time.sleep(1)
            kept &= set(guest_domids(d)) - set(sim_domains(d))
        for domid in sorted(kept):
            self.violation("the simulated xenstored kept domain %d, gone from the hypervisor" % domid)
        # counted once each, however many rounds one stays (a set, as forgotten is)
        self.kept |= kept
        self.counts["domains xenstored kept after their end"] = len(self.kept)
        self.integrity(d)

    def integrity(self, d):
        con = sqlite3.connect("file:%s?mode=ro" % d.options["db-path"], uri=True, timeout=10)
        try:
            r = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        if r != [("ok",)]:
            self.violation("integrity_check: %s" % r)

    # ---- the rounds ----
    def run(self):
        d = Daemon(**OPTIONS)
        t0 = time.time()
        try:
            d.start()
            while self.cycle < self.kills:
                x = self.login(d)
                self.check(d, x.xenapi)
                x.xenapi.session.logout()
                self.round(d)
                self.cycle += 1
                self.counts["kills"] += 1
                d.start()
                if self.cycle % 50 == 0:
                    print("%d kills, %.0fs: %s" % (self.cycle, time.time() - t0, self.summary()), flush=True)
            x = self.login(d)
            self.check(d, x.xenapi)
            x.xenapi.session.logout()
            d.stop()
            self.integrity(d)
            reports = d.sanitizer_reports()
            if reports:
                self.violation("sanitizer report:\n" + reports[:2000])
        finally:
            d.cleanup(check=False)
        print("soak: seed %d, %.0fs: %s" % (self.seed, time.time() - t0, self.summary()))
        print("declared failures by code: %s" % (self.failures or "none"))
        return self.counts["violations"] == 0

    def login(self, d):
        s = XenAPI.Session(d.url)
        s.login_with_password("root", PASSWORD, "2.21", "soak-check")
        return s

    def round(self, d):
        stop = threading.Event()
        threads = [threading.Thread(target=self.client, args=(i, d.url, stop, random.Random(self.rng.random())),
                                    daemon=True) for i in range(self.nclients)]
        for t in threads:
            t.start()
        time.sleep(self.rng.uniform(0.02, self.max_up))
        d.stop(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(30)
            if t.is_alive():
                self.violation("a client is stuck 30 s after the kill")

    def summary(self):
        c = self.counts
        return ", ".join("%s %d" % kv for kv in c.items())


def interrupted_outcomes(op, before, after):
    """What a call cut short by the kill may have left, besides the state before it:
    its result, or a state on its way there (a reboot stops the old domain, then
    builds the new one; a start's paused, half-built domain is undone at restart)."""
    if after is GONE or before is GONE:
        return [after]
    name = after[0]
    extra = {"start": [], "clean_reboot": ["Halted"], "clean_shutdown": [],
             "hard_shutdown": []}.get(op, [])
    return [after] + [(name, st) for st in extra]


def sim_domains(d):
    """The simulated hypervisor's domains other than dom0 (its state file, which it
    writes before answering, as `xenapid --sim-list` reads it): what a hypervisor has,
    whatever xenstore remembers."""
    return list(sim_list(d))


def main():
    kills = int(os.environ.get("SOAK_KILLS", "1000"))
    clients = int(os.environ.get("SOAK_CLIENTS", "8"))
    max_up = float(os.environ.get("SOAK_MAX_UP", "0.8"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    ok = Soak(kills, clients, max_up, seed).run()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
