#!/usr/bin/env python3
"""Worker processes under a master (issue 12): `weft --workers M`.

A worker SIGKILLed under load is back within a second while requests on
the other worker never fail; a crash names the route in flight; SIGHUP
restarts every worker one at a time under wrk with no socket error;
SIGKILL of the master takes the workers down and leaves no shared memory;
/metrics sums every worker and never goes backwards across a restart.

    WEFT_BIN=build/apps/weft/weft WEFT_PLUGIN_CRASH=... python3 tests/e2e/test_workers.py [-v]
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import HOST, T, WeftServer, weft_bin  # noqa: E402
from e2ecommon import binary_or_skip, get, wait_for  # noqa: E402

# A crash must stay a signal under the sanitizers (their handlers would
# turn it into a report and exit status 1).
SANITIZER_ENV = {
    "ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0").lstrip(":"),
    "TSAN_OPTIONS": (os.environ.get("TSAN_OPTIONS", "") + ":handle_segv=0").lstrip(":"),
}


def children(pid):
    """The pids of pid's children (every thread's)."""
    out = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.update(int(p) for p in f.read().split())
    except OSError:
        pass
    return out


def gone(pid):
    """Exited: no such process, or a zombie nobody reaped yet."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def route_count(port, route):
    _, body = get(port, "/metrics")
    m = re.search(r'^weft_http_requests_by_route_total\{method="GET",route="%s",code="2xx"\} (\d+)$'
                  % re.escape(route), body.decode(), re.M)
    assert m, body.decode()[:2000]
    return int(m.group(1))


class Workers(unittest.TestCase):
    def setUp(self):
        binary_or_skip()

    def start(self, *args, workers=2):
        srv = WeftServer(["--workers", str(workers), "--threads", "2", "--admin", "127.0.0.1:0",
                          "--drain-timeout", "2s", "--log-level", "info"] + list(args),
                         env=SANITIZER_ENV).start()
        self.addCleanup(srv.stop)
        m = wait_for(lambda: re.search(r"^admin on http://127\.0\.0\.1:(\d+)/$", srv.stdout(),
                                       re.M), 5, "the admin line")
        self.admin = int(m.group(1))
        self.assertEqual(len(children(srv.pid)), workers, srv.stderr())
        return srv

    def pid_of(self, conn):
        conn.request("GET", "/stats")
        r = conn.getresponse()
        return json.loads(r.read())["pid"]

    def test_every_worker_serves_and_metrics_sum_them(self):
        srv = self.start()
        seen, sent = set(), 0
        while len(seen) < 2 or sent < 200:
            c = http.client.HTTPConnection(HOST, srv.port, timeout=T(10))
            seen.add(self.pid_of(c))
            c.close()
            sent += 1
        self.assertEqual(seen, children(srv.pid))
        self.assertEqual(route_count(self.admin, "/stats"), sent)
        # The master is one thread (TSan's runtime may start one of its own).
        with open("/proc/%d/maps" % srv.pid) as f:
            tsan = "libtsan" in f.read()
        self.assertIn(len(os.listdir("/proc/%d/task" % srv.pid)), (1, 2) if tsan else (1,))

    def test_sigkill_a_worker_under_load(self):
        srv = self.start()
        workers = children(srv.pid)
        # Keep-alive clients, each knowing which worker it talks to.
        conns = []
        while {p for p, _ in conns} != workers or len(conns) < 8:
            c = http.client.HTTPConnection(HOST, srv.port, timeout=T(10))
            conns.append((self.pid_of(c), c))
        victim = sorted(workers)[0]
        before = route_count(self.admin, "/plaintext")
        failures, done, stop = [], [0], threading.Event()

        def client(pid, c):
            while not stop.is_set():
                try:
                    c.request("GET", "/plaintext")
                    r = c.getresponse()
                    if r.status != 200 or r.read() != b"Hello, World!":
                        failures.append((pid, r.status))
                    done[0] += 1
                except (OSError, http.client.HTTPException) as e:
                    if pid != victim:
                        failures.append((pid, repr(e)))
                    return  # the victim's connections end here

        threads = [threading.Thread(target=client, args=pc) for pc in conns if pc[0] != victim]
        threads += [threading.Thread(target=client, args=pc) for pc in conns if pc[0] == victim]
        for t in threads:
            t.start()
        time.sleep(0.3)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        back = wait_for(lambda: children(srv.pid) - workers, 1.0, "a new worker")
        back_in = time.monotonic() - killed_at
        # New connections reach a working worker every time.
        for _ in range(50):
            self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(T(10))
        self.assertEqual(failures, [], "requests failed on the workers that lived")
        self.assertGreater(done[0], 100)
        self.assertLessEqual(back_in, T(1.0))
        self.assertEqual(len(children(srv.pid)), 2)
        wait_for(lambda: "killed by SIGKILL" in srv.stderr(), 2, "the crash log line")
        self.assertRegex(srv.stderr(), r"worker \d \(pid %d\) killed by SIGKILL" % victim)
        self.assertIn("restarting it in 0 ms",
                      srv.stderr().split("killed by SIGKILL")[1].split("\n")[0])
        # Counters kept what the dead worker counted.
        self.assertGreaterEqual(route_count(self.admin, "/plaintext"), before + done[0])
        for _, c in conns:
            c.close()
        print("worker back in %.0f ms; %d requests meanwhile" % (back_in * 1000, done[0]))

    def crash_and_check(self, srv, target):
        workers = children(srv.pid)
        crashes = srv.stderr().count("killed by SIGSEGV")
        with self.assertRaises((OSError, http.client.HTTPException)):
            get(srv.port, target, timeout=5)
        wait_for(lambda: srv.stderr().count("killed by SIGSEGV") > crashes, 5, "the crash log line")
        line = [ln for ln in srv.stderr().splitlines() if "killed by SIGSEGV" in ln][-1]
        self.assertIn("while serving GET %s" % target, line)
        wait_for(lambda: len(children(srv.pid)) == 2 and children(srv.pid) != workers, 1.0,
                 "a new worker")
        for _ in range(20):
            self.assertEqual(get(srv.port, "/plaintext")[0], 200)

    def test_a_crash_names_the_route_in_flight(self):
        plugin = os.environ.get("WEFT_PLUGIN_CRASH")
        if not plugin:
            self.skipTest("WEFT_PLUGIN_CRASH is not set")
        srv = self.start("--plugin", plugin)
        self.crash_and_check(srv, "/crash")  # on a loop thread
        self.crash_and_check(srv, "/crash-job")  # in a pool job

    def test_a_worker_that_keeps_crashing_is_restarted_with_backoff(self):
        plugin = os.environ.get("WEFT_PLUGIN_CRASH")
        if not plugin:
            self.skipTest("WEFT_PLUGIN_CRASH is not set")
        srv = self.start("--plugin", plugin, workers=1)
        for i in range(7):  # one seat: 5 immediate restarts in 10 s, then a doubling backoff
            with self.assertRaises((OSError, http.client.HTTPException)):
                get(srv.port, "/crash", timeout=5)
            wait_for(lambda: srv.stderr().count("killed by SIGSEGV") > i, 5, "crash %d" % i)
        delays = [int(d) for d in re.findall(r"killed by SIGSEGV while serving GET /crash; "
                                             r"restarting it in (\d+) ms", srv.stderr())]
        self.assertEqual(delays, [0, 0, 0, 0, 0, 100, 200], srv.stderr())
        # The request waits in the backlog for the held-back worker.
        self.assertEqual(get(srv.port, "/plaintext")[0], 200)

    def test_a_stuck_worker_is_killed_and_named(self):
        plugin = os.environ.get("WEFT_PLUGIN_STALL")
        if not plugin:
            self.skipTest("WEFT_PLUGIN_STALL is not set")
        srv = self.start("--plugin", plugin, "--worker-timeout", "1s", workers=1)
        stuck = children(srv.pid)
        started = time.monotonic()
        with self.assertRaises((OSError, http.client.HTTPException)):
            get(srv.port, "/stall?ms=5000", timeout=10)  # its loop blocks for 5 s
        killed_after = time.monotonic() - started
        wait_for(lambda: "killed by SIGKILL" in srv.stderr(), 5, "the kill")
        self.assertRegex(srv.stderr(), r"worker 0 \(pid %d\) is stuck: no heartbeat for \d+ ms"
                         % list(stuck)[0])
        self.assertRegex(srv.stderr(), r"killed by SIGKILL while serving GET /stall; "
                                       r"restarting it in 0 ms")
        self.assertLess(killed_after, 4.5)  # before the stall would have ended
        wait_for(lambda: children(srv.pid) and children(srv.pid) != stuck, 2, "a new worker")
        self.assertEqual(get(srv.port, "/plaintext")[0], 200)

    def test_sighup_under_wrk_no_socket_error(self):
        if not shutil.which("wrk"):
            self.skipTest("wrk is not installed")
        srv = self.start()
        old = children(srv.pid)
        wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d5s", "--latency",
                                "http://%s:%d/plaintext" % (HOST, srv.port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        health, rolling = [], threading.Event()

        def watch_health():  # what a load balancer's checks see meanwhile
            while not rolling.is_set():
                try:
                    health.append(get(self.admin, "/healthz", timeout=5)[0])
                except (OSError, http.client.HTTPException) as e:
                    health.append(repr(e))
                time.sleep(0.02)

        checker = threading.Thread(target=watch_health)
        try:
            time.sleep(1.0)
            checker.start()
            hup_at = time.monotonic()
            os.kill(srv.pid, signal.SIGHUP)
            wait_for(lambda: "rolling restart done" in srv.stderr(), 10, "the rolling restart")
            roll_ms = (time.monotonic() - hup_at) * 1000
            rolling.set()
            out, _ = wrk.communicate(timeout=T(30))
        finally:
            rolling.set()
            if checker.is_alive():
                checker.join(T(10))
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        self.assertTrue(health and set(health) == {200}, health)
        self.assertNotIn("Socket errors", out, out)
        self.assertNotIn("Non-2xx", out, out)
        m = re.search(r"(\d+) requests in", out)
        self.assertTrue(m and int(m.group(1)) > 1000, out)
        print("SIGHUP under wrk -c32: %s requests, no socket error, no non-2xx; "
              "the rolling restart took %.0f ms" % (m.group(1), roll_ms))
        new = wait_for(lambda: children(srv.pid) if not children(srv.pid) & old else None, 10,
                       "the old workers' exit")
        self.assertEqual(len(new), 2)
        self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        for pid in old:  # each old worker said so, in a line that names it
            self.assertIn("info: worker %d: retiring" % pid, srv.stderr())

    def test_sigterm_stops_gracefully(self):
        srv = self.start()
        workers = children(srv.pid)
        result = []
        t = threading.Thread(target=lambda: result.append(get(srv.port, "/sleep?ms=500")))
        t.start()
        time.sleep(0.2)
        self.assertEqual(srv.stop(), 0)
        t.join(T(10))
        self.assertEqual(result, [(200, b"slept 500 ms\n")])
        for pid in workers:
            self.assertTrue(gone(pid))

    def test_sigkill_the_master(self):
        shm_before = set(os.listdir("/dev/shm"))
        srv = self.start()
        workers = children(srv.pid)
        segment = self.segment_of(srv.pid)  # "device inode" of this master's memfd
        self.assertTrue(segment)
        os.kill(srv.pid, signal.SIGKILL)
        srv.wait(T(5))
        for pid in workers:
            wait_for(lambda: gone(pid), 5, "worker %d's exit" % pid)
        self.assertEqual(set(os.listdir("/dev/shm")), shm_before)
        # No process maps the segment any more: it is gone with them.
        for p in os.listdir("/proc"):
            if p.isdigit():
                self.assertNotEqual(self.segment_of(int(p)), segment, "pid %s maps it" % p)

    @staticmethod
    def segment_of(pid):
        try:
            with open("/proc/%d/maps" % pid) as f:
                for line in f:
                    if "memfd:weft-workers" in line:
                        return " ".join(line.split()[3:5])
        except OSError:
            pass
        return None

    def test_a_worker_that_cannot_start_stops_the_master(self):
        srv = WeftServer(["--workers", "2", "--plugin", "/nonexistent/plugin.so"])
        with self.assertRaises(Exception):
            srv.start()
        self.assertEqual(srv.wait(T(10)), 2)
        self.assertIn("/nonexistent/plugin.so", srv.stderr())
        self.assertIn("before it was ready", srv.stderr())

    def test_systemd_hears_the_master_only(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        name = "weft-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        sock.bind("\0" + name)
        srv = WeftServer(["--workers", "2", "--threads", "1"],
                         env={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "200000"}).start()
        self.addCleanup(srv.stop)
        got, deadline = [], time.monotonic() + T(2)
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                break
        self.assertEqual(got.count("READY=1"), 1, got)  # the master's: workers have no socket
        self.assertGreaterEqual(got.count("WATCHDOG=1"), 4, got)
        srv.send_signal(signal.SIGTERM)
        self.assertEqual(srv.wait(T(10)), 0)
        sock.settimeout(T(2))
        rest = [sock.recv(4096).decode() for _ in range(1)]
        self.assertIn("STOPPING=1", got + rest)

    def test_bad_worker_count(self):
        for bad in ("-1", "65", "x"):
            p = subprocess.run([weft_bin(), "--workers", bad],
                               capture_output=True, text=True, timeout=T(10))
            self.assertEqual(p.returncode, 2)
            self.assertIn("--workers", p.stderr)


if __name__ == "__main__":
    unittest.main()
