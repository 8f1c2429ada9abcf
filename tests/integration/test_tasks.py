"""Async calls return a task at once; the task's status, progress, result and
error_info report the outcome.  task.create/cancel/destroy/set_status/set_progress
for a client's own tasks."""

import re
import time
import xmlrpc.client

from support import DaemonCase, XenAPI, failure, wait_until


def finished(x, task, timeout=20):
    wait_until(lambda: x.task.get_status(task) != "pending", timeout, what="task %s to finish" % task)
    return x.task.get_record(task)


def result_value(task_record):
    """The task's result is an XML-RPC <value> element: read it as a client does."""
    text = "<params><param>%s</param></params>" % task_record["result"]
    return xmlrpc.client.loads("<methodResponse>%s</methodResponse>" % text)[0][0]


class Async(DaemonCase):

    def test_async_create_succeeds(self):
        t0 = time.time()
        task = self.x.Async.VM.create({"name_label": "async"})
        self.assertLess(time.time() - t0, 5)
        self.assertRegex(task, r"^OpaqueRef:")
        self.assertIn(task, self.x.task.get_all())
        rec = finished(self.x, task)
        self.assertEqual(rec["status"], "success")
        self.assertEqual(rec["progress"], 1.0)
        self.assertEqual(rec["error_info"], [])
        self.assertEqual(rec["name_label"], "Async.VM.create")
        self.assertEqual(rec["resident_on"], self.x.host.get_all()[0])
        self.assertNotIn("session", rec)  # internal in xapi (datamodel.ml): a credential
        self.assertIn(task, self.x.session.get_tasks(self.session.handle))
        self.assertEqual(rec["allowed_operations"], [])
        self.assertRegex(rec["result"], r"^<value>OpaqueRef:[0-9a-f-]{36}</value>$")
        vm = result_value(rec)
        self.assertEqual(self.x.VM.get_name_label(vm), "async")
        self.assertLessEqual(rec["created"].value, rec["finished"].value)
        self.x.VM.destroy(vm)
        self.x.task.destroy(task)
        self.assertNotIn(task, self.x.task.get_all())

    def test_async_results_of_every_type(self):
        # only what xapi runs as a task has an Async form: its declared messages and
        # the generic create/destroy (ocaml/idl/datamodel_utils.ml), not the getters
        vm = self.x.VM.create({"name_label": "typed", "other_config": {"a": "b"}})
        host = self.x.host.get_all()[0]
        cases = [(self.x.Async.VM.clone, (vm, "copy"), lambda v: v.startswith("OpaqueRef:")),
                 (self.x.Async.VM.get_possible_hosts, (vm,), lambda v: v == [host]),
                 (self.x.Async.VM.get_boot_check_results, (vm,), lambda v: v == {host: []}),
                 (self.x.Async.host.get_platform_capabilities, (host,), lambda v: v.startswith("<")),
                 (self.x.Async.VM.assert_can_boot_here, (vm, host), lambda v: v == "")]
        for fn, args, ok in cases:
            rec = finished(self.x, fn(*args))
            self.assertEqual(rec["status"], "success", fn)
            self.assertTrue(ok(result_value(rec)), (fn, rec["result"]))
        for copy in self.x.VM.get_by_name_label("copy"):
            self.x.VM.destroy(copy)
        rec = finished(self.x, self.x.Async.VM.destroy(vm))
        self.assertEqual((rec["status"], result_value(rec)), ("success", ""))

    def test_async_failure_reports_the_error(self):
        bad = "OpaqueRef:00000000-0000-0000-0000-00000000bad0"
        task = self.x.Async.VM.destroy(bad)
        rec = finished(self.x, task)
        self.assertEqual(rec["status"], "failure")
        self.assertEqual(rec["progress"], 1.0)  # xapi's TaskHelper.failed
        self.assertEqual(rec["error_info"], ["HANDLE_INVALID", "VM", bad])
        self.assertEqual(rec["result"], "")
        self.assertEqual(self.x.task.get_error_info(task), ["HANDLE_INVALID", "VM", bad])
        task = self.x.Async.VM.create({"name_label": "x", "actions_after_crash": "explode"})
        self.assertEqual(finished(self.x, task)["error_info"], ["INVALID_VALUE", "actions_after_crash", "explode"])

    def test_async_refusals_come_at_once(self):
        # what is wrong before the call can start is not a task
        # xapi strips Async. before naming the message (server_helpers.ml), and answers a
        # message without async mode with a Fault (server_helpers.ml do_dispatch)
        self.assertFailure(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.clone", "2", "0"], self.x.Async.VM.clone)
        self.assertFailure(["FIELD_TYPE_ERROR", "vm"], self.x.Async.VM.clone, 5, "x")
        self.assertFailure(["Fault", "No async mode for this operation (rpc: event.from)"],
                           getattr(self.x.Async.event, "from"), ["*"], "", 0.0)
        vm = self.x.VM.get_all()[0]
        self.assertFailure(["Fault", "No async mode for this operation (rpc: VM.get_record)"],
                           self.x.Async.VM.get_record, vm)
        self.assertFailure(["MESSAGE_METHOD_UNKNOWN", "VM.fly"], self.x.Async.VM.fly)

    def test_tasks_raise_events(self):
        tok = getattr(self.x.event, "from")(["task"], "", 0.0)["token"]
        task = self.x.Async.VM.get_possible_hosts(self.x.VM.get_all()[0])
        finished(self.x, task)
        evs = []
        deadline = time.time() + 10
        while time.time() < deadline and not any(e["operation"] == "mod" and e["snapshot"]["status"] == "success"
                                                 for e in evs):
            r = getattr(self.x.event, "from")(["task/" + task], tok, 2.0)
            evs += r["events"]
            tok = r["token"]
        self.assertEqual(evs[0]["operation"], "add")
        self.assertEqual(evs[0]["snapshot"]["status"], "pending")
        self.assertEqual(evs[-1]["snapshot"]["status"], "success")

    def test_many_async_calls_at_once(self):
        tasks = [self.x.Async.VM.create({"name_label": "burst-%d" % i}) for i in range(20)]
        vms = []
        for t in tasks:
            rec = finished(self.x, t)
            self.assertEqual(rec["status"], "success")
            vms.append(result_value(rec))
        self.assertEqual(sorted(self.x.VM.get_name_label(v) for v in vms), sorted("burst-%d" % i for i in range(20)))
        for v in vms:
            self.x.VM.destroy(v)
        for t in tasks:
            self.x.task.destroy(t)


class ClientTasks(DaemonCase):

    def test_create_set_status_and_progress_destroy(self):
        t = self.x.task.create("copy", "copying things")
        rec = self.x.task.get_record(t)
        self.assertEqual(rec["status"], "pending")
        self.assertEqual(rec["progress"], 0.0)
        self.assertEqual(rec["name_description"], "copying things")
        self.assertEqual(self.x.task.set_progress(t, 0.5), "")
        self.assertEqual(self.x.task.get_progress(t), 0.5)
        self.assertFailure(["INVALID_VALUE", "value", "progress must be between 0.0 and 1.0"],
                           self.x.task.set_progress, t, 1.5)
        self.assertEqual(self.x.task.set_status(t, "success"), "")
        rec = self.x.task.get_record(t)
        self.assertEqual(rec["status"], "success")
        self.assertRegex(rec["finished"].value, r"^\d{8}T")
        self.assertNotEqual(rec["finished"].value, "19700101T00:00:00Z")
        self.assertFailure(["INVALID_VALUE", "value", "done"], self.x.task.set_status, t, "done")
        self.x.task.destroy(t)
        self.assertFailure(["HANDLE_INVALID", "task", t], self.x.task.get_record, t)
        self.assertFailure(["HANDLE_INVALID", "task", t], self.x.task.destroy, t)

    def test_cancel(self):
        t = self.x.task.create("long", "")
        self.assertEqual(self.x.task.cancel(t), "")
        self.assertEqual(self.x.task.get_status(t), "cancelling")
        # a client's task it finished itself cannot be cancelled
        t2 = self.x.task.create("done", "")
        self.x.task.set_status(t2, "success")
        with self.assertRaises(XenAPI.Failure) as cm:
            self.x.task.cancel(t2)
        self.assertEqual(failure(cm.exception)[0], "OPERATION_NOT_ALLOWED")
        self.assertEqual(self.x.task.get_status(t2), "success")
        self.assertFailure(["HANDLE_INVALID", "task", "OpaqueRef:x"], self.x.task.cancel, "OpaqueRef:x")
        for task in (t, t2):
            self.x.task.destroy(task)

    def test_async_task_fields_are_not_the_clients(self):
        task = self.x.Async.VM.get_possible_hosts(self.x.VM.get_all()[0])
        finished(self.x, task)
        # finished server tasks can be destroyed, their fields read but not written
        self.assertFailure(["MESSAGE_METHOD_UNKNOWN", "task.set_result"], self.x.task.set_result, task, "x")
        self.x.task.destroy(task)


class TasksAcrossRestart(DaemonCase):

    def test_finished_tasks_survive_a_restart(self):
        task = self.x.Async.VM.get_possible_hosts(self.x.VM.get_all()[0])
        rec = finished(self.x, task)
        self.d.restart(listen_port=self.d.port)
        again = self.x.task.get_record(task)
        self.assertEqual(again["status"], "success")
        self.assertEqual(again["result"], rec["result"])
        self.assertTrue(re.match(r"^<value><array>", again["result"]))


class StopWhileTasksRun(DaemonCase):
    """SIGTERM while an Async call runs: the task is asked to cancel, the daemon
    stops cleanly (no use of freed memory), and the task's end is on record."""
    options = {"shutdown_ack_timeout": 20}

    def test_stop_during_an_async_call(self):
        x = self.x
        vm = x.VM.create({"name_label": "deaf", "HVM_boot_policy": "BIOS order",
                          "platform": {"sim-guest": "unresponsive"}})
        x.VM.start(vm, False, False)
        task = x.Async.VM.clean_shutdown(vm)
        wait_until(lambda: "cancel" in x.task.get_allowed_operations(task), timeout=10,
                   what="the clean shutdown to be under way")
        t0 = time.time()
        self.assertEqual(self.d.stop(), 0)
        self.assertLess(time.time() - t0, 10)
        self.assertEqual(self.d.sanitizer_reports(), "")
        self.d.start()
        x = self.d.session().xenapi
        rec = x.task.get_record(task)
        self.assertEqual(rec["status"], "cancelled")
        self.assertEqual(rec["error_info"], ["TASK_CANCELLED", task])
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        x.VM.hard_shutdown(vm)
