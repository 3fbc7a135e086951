#!/usr/bin/env python3
"""The process pool through the `weft` command (issue 13).

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_procpool.py [-v]

/isolated/fib/:n runs in a worker process; /isolated/crash makes its
worker segfault on purpose: the client gets a 500 naming the death, the
server and every other request (concurrent /plaintext and /isolated/fib)
are unharmed, and a new worker process -- a child of weft -- is back
within a second. The pool starts with the first /isolated request (so its
workers get the credentials weft serves with, after --user). When weft
stops, its workers go with it.

Time bounds are behavioural and scale with WEFT_TEST_TIMEOUT_MULTIPLIER.
"""

import glob
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import T, get_once  # noqa: E402
from e2ecommon import ServerTestCase  # noqa: E402

WORKER_FLAG = b"--weft-procpool-worker"
WORKERS = 2


def children(pid):
    """The pids of pid's children that are process-pool workers."""
    kids = set()
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                kids.update(int(k) for k in f.read().split())
        except OSError:
            pass
    workers = set()
    for k in kids:
        try:
            with open("/proc/%d/cmdline" % k, "rb") as f:
                if WORKER_FLAG in f.read().split(b"\0"):
                    workers.add(k)
        except OSError:
            pass  # gone meanwhile
    return workers


def wait_workers(pid, pred, timeout, what):
    """Polls the worker children until pred(set) holds; (set, seconds)."""
    t0 = time.monotonic()
    while True:
        w = children(pid)
        if pred(w):
            return w, time.monotonic() - t0
        if time.monotonic() - t0 > T(timeout):
            raise AssertionError("%s: not within %.2fs; workers now: %s"
                                 % (what, T(timeout), sorted(w)))
        time.sleep(0.005)


class Load(threading.Thread):
    """GETs targets round robin on fresh connections until stopped; keeps
    every answer that was not 200 with the expected body."""

    def __init__(self, port, targets):
        super().__init__(daemon=True)
        self.port, self.targets = port, targets
        self.stop_flag = threading.Event()
        self.done = 0
        self.bad = []

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            target, body = self.targets[i % len(self.targets)]
            i += 1
            try:
                r = get_once(self.port, target, timeout=T(10))
                if r.status != 200 or r.body != body:
                    self.bad.append((target, r.status, r.body[:200]))
            except Exception as e:  # noqa: BLE001
                self.bad.append((target, "exception", repr(e)))
            self.done += 1


class ProcpoolTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = get_once(cls.port, "/isolated/fib/1")  # starts the pool
        if r.status != 200:
            raise AssertionError("/isolated/fib/1: %d %r" % (r.status, r.body))

    def test_fib_runs_in_a_worker(self):
        r = get_once(self.port, "/isolated/fib/30")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body, b"832040\n")
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        for bad in ("/isolated/fib/41", "/isolated/fib/x", "/isolated/fib/-1"):
            self.assertEqual(get_once(self.port, bad).status, 400, bad)

    def test_workers_are_children_of_weft(self):
        w, _ = wait_workers(self.server.pid, lambda w: len(w) == WORKERS, 5,
                            "%d workers" % WORKERS)
        st = json.loads(get_once(self.port, "/isolated/stats").body)
        self.assertEqual(set(st["pids"]), w)
        self.assertEqual(st["workers"], WORKERS)

    def test_crash_is_a_500_and_the_worker_comes_back(self):
        pid = self.server.pid
        before, _ = wait_workers(pid, lambda w: len(w) == WORKERS, 5,
                                 "%d workers" % WORKERS)
        load = [Load(self.port, [("/plaintext", b"Hello, World!"),
                                 ("/isolated/fib/20", b"6765\n")])
                for _ in range(3)]
        for t in load:
            t.start()
        time.sleep(0.1)
        r = get_once(self.port, "/isolated/crash")
        self.assertEqual(r.status, 500, r.body)
        self.assertIn(b"the isolated worker crashed: worker killed by SIGSEGV",
                      r.body)
        # A new worker, a child of weft, within a second.
        after, took = wait_workers(
            pid, lambda w: len(w) == WORKERS and w != before, 1.0,
            "a replacement worker")
        self.assertEqual(len(after - before), 1, (before, after))
        # More crashes while the load goes on.
        for _ in range(3):
            r = get_once(self.port, "/isolated/crash")
            self.assertEqual(r.status, 500, r.body)
        time.sleep(0.2)
        for t in load:
            t.stop_flag.set()
        for t in load:
            t.join(T(20))
        done = sum(t.done for t in load)
        bad = [b for t in load for b in t.bad]
        self.assertFalse(bad, "requests harmed by the crashes: %s" % bad[:5])
        self.assertGreater(done, 10)
        wait_workers(pid, lambda w: len(w) == WORKERS, 1.0, "workers back")
        st = json.loads(get_once(self.port, "/isolated/stats").body)
        self.assertGreaterEqual(st["crashed"], 4)
        self.assertEqual(st["submitted"], st["completed"] + st["failed"]
                         + st["cancelled"] + st["timed_out"] + st["queued"]
                         + st["running"])
        sys.stderr.write("\n  a replacement worker was back in %.0f ms\n"
                         % (took * 1000))


class StopTest(unittest.TestCase):
    """Stopping weft takes its workers along: none is left behind."""

    def test_no_worker_outlives_weft(self):
        from weftproc import WeftServer
        from e2ecommon import binary_or_skip
        binary_or_skip()
        srv = WeftServer().start()
        try:
            time.sleep(0.1)
            self.assertEqual(children(srv.pid), set(),
                             "workers before the first /isolated request")
            st = json.loads(get_once(srv.port, "/isolated/stats").body)
            self.assertEqual(st["workers"], 0)
            self.assertEqual(get_once(srv.port, "/isolated/fib/10").body,
                             b"55\n")
            w, _ = wait_workers(srv.pid, lambda w: len(w) == WORKERS, 5,
                                "%d workers" % WORKERS)
        finally:
            rc = srv.stop()
        self.assertEqual(rc, 0, srv.stderr()[-2000:])
        for k in w:
            self.assertFalse(os.path.exists("/proc/%d" % k),
                             "worker %d outlived weft" % k)


if __name__ == "__main__":
    unittest.main()
