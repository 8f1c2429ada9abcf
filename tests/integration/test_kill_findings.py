"""Regression tests for what the kill -9 soak (tests/soak/soak.py) found:

- a start cut short by the kill left the VM Paused with a half-built domain (created,
  its xenstore tree never written, never introduced): on restart the daemon undoes
  the unacknowledged start: the VM is Halted and nothing of the domain is left;
- the simulated xenstored saved its tree up to 0.1 s after acknowledging a write, so a
  kill just after lost it: now what a reply acknowledges is on disk first;
- (a request the guest never acknowledged stayed in control/shutdown: see
  test_backend_faults.UnacknowledgedRequest and test_lifecycle)."""

from support import DaemonTest, guest_domids, pv_vm, sim_list, wait_until, xs_exists, xs_read


class KillFindings(DaemonTest):
    def test_a_start_cut_short_mid_build_is_undone(self):
        # each build takes 2 s in the simulator, with the domain created and paused:
        # the kill lands in that window
        d = self.start_daemon(sim_build_delay=2)
        x = self.login(d)
        vm = pv_vm(x, "cut-short")
        uuid = x.VM.get_uuid(vm)
        x.Async.VM.start(vm, False, False)
        wait_until(lambda: any(u == uuid for u, _ in sim_list(d).values()), 5,
                   what="the simulator to create the domain")
        (domid,) = [k for k, (u, _) in sim_list(d).items() if u == uuid]
        self.assertEqual(sim_list(d)[domid][1], "paused", "the half-built domain is paused")
        self.assertNotIn(domid, guest_domids(d), "the domain is not introduced yet")
        d.kill9()
        d.options["sim-build-delay"] = "0"
        d.start()
        x = self.login(d)
        # the start was never acknowledged: undone, the VM is what it was
        self.assertPowerState(x, vm, "Halted")
        self.assertEqual(sim_list(d), {}, "the half-built domain is left")
        self.assertFalse(xs_exists(d, "/local/domain/%d" % domid))
        self.assertFalse(xs_exists(d, "/vm/" + uuid))
        self.assertIn("was cut short with domain %d paused" % domid, d.read_log())
        x.VM.start(vm, False, False)
        self.assertPowerState(x, vm, "Running")

    def test_a_finished_start_whose_end_was_not_recorded_stays_running(self):
        """Past the unpause the start's work is done: the truth is Running."""
        d = self.start_daemon()
        x = self.login(d)
        vm = pv_vm(x, "done")
        x.VM.start(vm, False, False)
        domid = int(x.VM.get_domid(vm))
        d.kill9()
        d.start()
        x = self.login(d)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(int(rec["domid"]), domid)

    def test_an_acknowledged_xenstore_write_survives_kill9(self):
        d = self.start_daemon()
        for i in range(5):
            # the write is acknowledged, then the daemon (and its xenstored) dies at once
            d.xenstore("write", "/local/domain/0/data/k%d" % i, "v%d" % i)
            d.kill9()
            d.start()
            for j in range(i + 1):
                self.assertEqual(xs_read(d, "/local/domain/0/data/k%d" % j), "v%d" % j,
                                 "acknowledged write %d lost in kill %d" % (j, i))

    def test_a_guest_acknowledgement_survives_kill9(self):
        """The guest's acknowledgement of a request (written back empty) is kept: after
        the restart the guest does not find the request again and act on it."""
        d = self.start_daemon()
        x = self.login(d)
        vm = pv_vm(x, "acked")
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        path = "/local/domain/%s/control/shutdown" % domid
        d.xenstore("write", path, "poweroff")
        d.xenstore("write", path, "")  # as the guest's acknowledgement and its take-back
        d.kill9()
        d.start()
        x = self.login(d)
        self.assertEqual(xs_read(d, path), "")
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["domid"], domid)
