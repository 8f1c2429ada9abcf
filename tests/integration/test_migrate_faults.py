"""A migration between two pool members (127.0.0.1 and 127.0.0.2) whose simulated
hypervisor fails at a step on either side (`xenapid --sim-fault`, src/xen/simfault.c):
on the source the suspend request, the save and the send; on the destination the
restore, its xenstore introduction and the receive.  Each time: the client gets
VM_MIGRATE_FAILED [vm, source, destination, why] naming the injected step; the VM is
Running on the source in the same domain, whose guest goes on (it answers through
its own xenstore connection); nothing is left on the destination (no domain, no
xenstore tree, no guest socket); nothing stays in current_operations; and once the
fault is used up the migration succeeds."""

from pool_fixture import PoolTest
from support import XenAPI, as_guest, failure, guest_domids, pv_vm, sim_fault, sim_list, xs_exists


class MigrateFaults(PoolTest):

    def setUp(self):
        super().setUp()
        self.hosts = self.make_pool(2)
        self.x = self.login(self.hosts[0])
        by = self.hosts_by_address(self.x)
        self.ref = {self.hosts[0]: by["127.0.0.1"], self.hosts[1]: by["127.0.0.2"]}
        for d in self.hosts:
            sim_fault(d, "none")
            self.addCleanup(sim_fault, d, "none")

    def domains(self, d, uuid):
        return {domid: st for domid, (u, st) in sim_list(d).items() if u == uuid}

    def assertStaysOnSource(self, vm, src, dst, domid):
        x = self.x
        rec = x.VM.get_record(vm)
        self.assertEqual((rec["power_state"], rec["resident_on"], rec["domid"]),
                         ("Running", self.ref[src], domid))
        self.assertEqual(rec["current_operations"], {})
        self.assertEqual(rec["scheduled_to_be_resident_on"], "OpaqueRef:NULL")
        self.assertEqual(self.domains(src, rec["uuid"]), {int(domid): "running"})
        # the guest goes on with its own connection to xenstore
        self.assertIn(int(domid), guest_domids(src))
        r = as_guest(src, int(domid), "write", "data/after-failed-migration", "yes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.domains(dst, rec["uuid"]), {}, "a domain is left on the destination")
        self.assertFalse(xs_exists(dst, "/vm/" + rec["uuid"]), "a xenstore tree is left on the destination")
        self.assertEqual(guest_domids(dst), sorted(sim_list(dst)), "guest sockets of no domain on the destination")

    def test_each_step_on_each_side(self):
        x = self.x
        a, b = self.hosts
        vm = pv_vm(x, "faulty-move")
        x.VM.start_on(vm, self.ref[a], False, False)
        src, dst = a, b
        steps = [(src, "request-suspend"), (src, "save"), (src, "migrate-send"),
                 (dst, "restore"), (dst, "introduce"), (dst, "migrate-receive")]
        for i, (where, step) in enumerate(steps):
            with self.subTest(step=step, side="source" if where is src else "destination"):
                domid = x.VM.get_domid(vm)
                sim_fault(where, step)
                with self.assertRaises(XenAPI.Failure) as cm:
                    x.VM.pool_migrate(vm, self.ref[dst], {})
                f = failure(cm.exception)
                self.assertEqual(f[:4], ["VM_MIGRATE_FAILED", vm, self.ref[src], self.ref[dst]], f)
                self.assertIn("injected fault at step %s" % step, f[4])
                self.assertStaysOnSource(vm, src, dst, domid)
                # the fault is used up: it moves, and the next step is tried from there
                x.VM.pool_migrate(vm, self.ref[dst], {})
                rec = x.VM.get_record(vm)
                self.assertEqual((rec["power_state"], rec["resident_on"]), ("Running", self.ref[dst]))
                self.assertEqual(self.domains(src, rec["uuid"]), {})
                self.assertEqual(list(self.domains(dst, rec["uuid"]).values()), ["running"])
                src, dst = dst, src
                steps[i + 1:] = [(src if w is dst else dst, s) for w, s in steps[i + 1:]]
