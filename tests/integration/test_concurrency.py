"""Several clients at once over keep-alive connections: writers and readers side by
side, one client blocked in event.from while others write, one session shared by
several connections, and many connections at once."""

import http.client
import threading
import time
import xmlrpc.client

from support import DaemonCase, parse_response


def run_threads(fns, timeout=120):
    errors = []

    def wrap(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001  (collected and asserted by the caller)
            errors.append(repr(e))
    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    alive = [t for t in threads if t.is_alive()]
    return errors + ["thread still running"] * len(alive)


class Concurrency(DaemonCase):

    def test_writers_and_readers_at_once(self):
        n_clients, n_ops = 6, 25
        results = {}

        def client(i):
            s = self.d.session()
            x = s.xenapi
            mine = []
            for j in range(n_ops):
                vm = x.VM.create({"name_label": "c%d-%d" % (i, j)})
                x.VM.add_to_other_config(vm, "client", str(i))
                x.VM.set_name_description(vm, "op %d" % j)
                rec = x.VM.get_record(vm)
                assert rec["name_label"] == "c%d-%d" % (i, j), rec["name_label"]
                assert rec["other_config"] == {"client": str(i)}, rec["other_config"]
                assert rec["name_description"] == "op %d" % j
                mine.append(vm)
                if j % 5 == 4:  # a reader's view of everything, mid-stream
                    recs = x.VM.get_all_records()
                    assert set(mine) <= set(recs)
            for vm in mine[::2]:
                x.VM.destroy(vm)
            results[i] = mine[1::2]
            x.session.logout()
            s("close")()
        errors = run_threads([lambda i=i: client(i) for i in range(n_clients)])
        self.assertEqual(errors, [])
        kept = [vm for i in range(n_clients) for vm in results[i]]
        all_vms = set(self.x.VM.get_all())
        self.assertLessEqual(set(kept), all_vms)
        for i in range(n_clients):
            for vm in results[i]:
                self.assertEqual(self.x.VM.get_other_config(vm), {"client": str(i)})
        self.assertEqual(len(self.x.VM.get_all_records_where('field "name_description" = "op 1"')), n_clients)
        for vm in kept:
            self.x.VM.destroy(vm)

    def test_one_client_blocked_in_event_from_while_others_write(self):
        vm = self.x.VM.create({"name_label": "watched"})
        token = getattr(self.x.event, "from")(["vm"], "", 0.0)["token"]
        seen = {}

        def watcher():
            s = self.d.session()
            tok, names = token, []
            deadline = time.time() + 30
            while time.time() < deadline and len(set(names)) < 20:
                r = getattr(s.xenapi.event, "from")(["vm/" + vm], tok, 10.0)
                names += [e["snapshot"]["name_label"] for e in r["events"]]
                tok = r["token"]
            seen["names"] = names
            s.xenapi.session.logout()
            s("close")()

        latencies = []

        def writer(k):
            s = self.d.session()
            for i in range(k, 20, 2):
                t0 = time.time()
                s.xenapi.VM.set_name_label(vm, "w-%d" % i)
                s.xenapi.host.get_record(s.xenapi.host.get_all()[0])
                latencies.append(time.time() - t0)
                time.sleep(0.02)
            s.xenapi.session.logout()
            s("close")()

        w = threading.Thread(target=watcher)
        w.start()
        time.sleep(0.3)  # the watcher is blocked by now
        errors = run_threads([lambda: writer(0), lambda: writer(1)])
        w.join(40)
        self.assertEqual(errors, [])
        self.assertFalse(w.is_alive())
        # the writers were never held up by the blocked reader
        self.assertLess(max(latencies), 2.0)
        # the watcher saw every change, each once
        self.assertEqual(set(seen["names"]), {"w-%d" % i for i in range(20)})
        self.assertEqual(len(seen["names"]), 20)
        self.x.VM.destroy(vm)

    def test_many_blocked_watchers_and_one_writer(self):
        vm = self.x.VM.create({"name_label": "many"})
        token = getattr(self.x.event, "from")(["vm"], "", 0.0)["token"]
        got = []

        def watcher():
            with xmlrpc.client.ServerProxy(self.d.url) as p:
                r = getattr(p, "event.from")(self.session.handle, ["vm/" + vm], token, 20.0)
                got.append(r["Value"]["events"][0]["snapshot"]["name_label"])
        threads = [threading.Thread(target=watcher) for _ in range(16)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t0 = time.time()
        self.x.VM.set_name_label(vm, "ping")
        for t in threads:
            t.join(20)
        self.assertLess(time.time() - t0, 10)
        self.assertEqual(got, ["ping"] * 16)
        self.x.VM.destroy(vm)

    def test_one_session_on_several_connections(self):
        sref = self.session.handle
        vm = self.x.VM.create({"name_label": "shared"})

        def conn(k):
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
            for i in range(30):
                body = xmlrpc.client.dumps((sref, vm, "k%d-%d" % (k, i), "v"), "VM.add_to_other_config")
                c.request("POST", "/", body=body, headers={"Content-Type": "text/xml"})
                r = c.getresponse()
                env = parse_response(r.read().decode())
                assert env["Status"] == "Success", env
            c.close()
        errors = run_threads([lambda k=k: conn(k) for k in range(5)])
        self.assertEqual(errors, [])
        # read-modify-write of the map is one transaction: no update was lost
        self.assertEqual(len(self.x.VM.get_other_config(vm)), 150)
        self.x.VM.destroy(vm)

    def test_many_connections_at_once(self):
        def conn():
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=60)
            for _ in range(5):
                c.request("POST", "/", body=xmlrpc.client.dumps((self.session.handle,), "host.get_all"),
                          headers={"Content-Type": "text/xml"})
                env = parse_response(c.getresponse().read().decode())
                assert env["Status"] == "Success", env
            c.close()
        errors = run_threads([conn for _ in range(48)])
        self.assertEqual(errors, [])
