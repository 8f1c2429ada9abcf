"""A host query does not wait for a domain build.  The simulator's builds are made as
slow as a real one (sim-build-delay); while two clients start VMs, a third asks
whether a VM can boot on the host (VM.assert_can_boot_here, which reads the host's
free memory from the hypervisor backend, as every start does)."""

import threading
import time
import unittest

from harness import Daemon

DELAY = 2.0  # seconds each build takes
MIB = 1 << 20


def hvm(x, name):
    return x.VM.create({"name_label": name, "HVM_boot_policy": "BIOS order",
                        "memory_static_max": str(256 * MIB), "memory_dynamic_max": str(256 * MIB),
                        "memory_dynamic_min": str(256 * MIB), "memory_static_min": str(128 * MIB)})


class HostQueriesBesideBuilds(unittest.TestCase):

    def setUp(self):
        self.d = Daemon(sim_build_delay=DELAY).start()
        self.s = self.d.session()
        self.x = self.s.xenapi

    def tearDown(self):
        try:
            self.x.session.logout()
            self.s("close")()
        finally:
            self.d.cleanup()  # raises if the log holds a sanitizer report

    def test_host_answers_while_two_vms_are_built(self):
        x = self.x
        host = x.host.get_all()[0]
        slow = [hvm(x, "slow%d" % i) for i in range(2)]
        probe = hvm(x, "probe")
        took = {}

        def start(vm):
            s = self.d.session()
            t = time.time()
            try:
                s.xenapi.VM.start(vm, False, False)
                took[vm] = time.time() - t
            except Exception as e:  # noqa: BLE001  (asserted below)
                took[vm] = e
            finally:
                s.xenapi.session.logout()
                s("close")()

        def building():
            # a start in flight that has not yet got its domain: the build runs
            recs = [x.VM.get_record(vm) for vm in slow]
            return all(r["current_operations"] and r["power_state"] == "Halted" for r in recs)

        threads = [threading.Thread(target=start, args=(vm,)) for vm in slow]
        t0 = time.time()
        for t in threads:
            t.start()
        during = []  # latencies of the queries made while both builds ran
        while any(t.is_alive() for t in threads):
            before = building()
            q = time.time()
            x.VM.assert_can_boot_here(probe, host)
            lat = time.time() - q
            if before and building():
                during.append(lat)
            time.sleep(0.02)
        for t in threads:
            t.join()
        wall = time.time() - t0

        for vm in slow:
            self.assertIsInstance(took[vm], float, "VM.start of %s: %r" % (vm, took[vm]))
            self.assertGreaterEqual(took[vm], DELAY, "the build took sim-build-delay")
            self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertNotEqual(x.VM.get_domid(slow[0]), x.VM.get_domid(slow[1]))
        self.assertGreaterEqual(len(during), 5, "queries made while both VMs were being built")
        self.assertLess(max(during), DELAY / 4,
                        "no host query waited for a build (latencies %s)" % ["%.3f" % v for v in during])
        # the two builds ran side by side, not one after the other
        self.assertLess(wall, 2 * DELAY, "both starts took %.2fs" % wall)
        for vm in slow:
            x.VM.hard_shutdown(vm)


if __name__ == "__main__":
    unittest.main()
