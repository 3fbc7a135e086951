#!/usr/bin/env python3
"""Operating one weft process (issue 11): log lines, --log-level, SIGUSR1
reopening the access log, systemd notifications and the watchdog, --user
and --group, --drain-timeout and a job in flight across SIGTERM.

    WEFT_BIN=build/apps/weft/weft WEFT_PLUGIN_STALL=... python3 tests/e2e/test_ops.py [-v]
"""

import http.client
import os
import re
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftproc  # noqa: E402
from weftproc import HOST, T, WeftServer, run_weft  # noqa: E402
from e2ecommon import binary_or_skip, get, wait_for  # noqa: E402

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn|info|debug): .+$")


class Logs(unittest.TestCase):
    def setUp(self):
        binary_or_skip()

    def test_info_lines_have_a_timestamp_and_a_level(self):
        srv = WeftServer(["--log-level", "info"]).start()
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        lines = [ln for ln in srv.stderr().splitlines() if ln]
        self.assertTrue(lines, "no log line at --log-level info")
        for ln in lines:
            self.assertRegex(ln, LOG_LINE)
        self.assertTrue(any("info: Terminated: stopping gracefully" in ln for ln in lines), lines)

    def test_default_level_is_quiet(self):
        srv = WeftServer().start()
        self.assertEqual(srv.stop(signal.SIGTERM), 0)
        self.assertEqual(srv.stderr().strip(), "")

    def test_bad_level(self):
        status, _, err = run_weft(["--log-level", "loud"])
        self.assertEqual(status, 2)
        self.assertIn("--log-level", err)

    def test_sigusr1_reopens_the_access_log(self):
        d = tempfile.mkdtemp(prefix="weft-ops-")
        try:
            path = os.path.join(d, "access.log")
            srv = WeftServer(["--access-log", path, "--log-level", "info"]).start()
            try:
                get(srv.port, "/plaintext?before")
                wait_for(lambda: os.path.getsize(path) > 0, 5, "first line logged")
                os.rename(path, path + ".1")  # what logrotate does
                srv.send_signal(signal.SIGUSR1)
                wait_for(lambda: os.path.exists(path), 5, "the log reopened")
                get(srv.port, "/plaintext?after")
                wait_for(lambda: os.path.getsize(path) > 0, 5, "a line in the new log")
            finally:
                self.assertEqual(srv.stop(), 0)
            with open(path + ".1") as f:
                old = f.read()
            with open(path) as f:
                new = f.read()
            self.assertIn("?before", old)
            self.assertNotIn("?after", old)
            self.assertIn("?after", new)
            self.assertIn("the access log was reopened", srv.stderr())
        finally:
            shutil.rmtree(d, ignore_errors=True)


class Notify(unittest.TestCase):
    """A unix datagram socket plays systemd's part."""

    def setUp(self):
        binary_or_skip()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(lambda: self.sock.close())

    def listen(self, abstract):
        if abstract:
            name = "weft-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            return "@" + name
        d = tempfile.mkdtemp(prefix="weft-notify-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "notify")
        self.sock.bind(path)
        return path

    def messages(self, seconds):
        """Every datagram received within seconds, with its arrival time."""
        out = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            self.sock.settimeout(left)
            try:
                out.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                return out

    def expect(self, state, timeout):
        deadline = time.monotonic() + T(timeout)
        while time.monotonic() < deadline:
            for _, m in self.messages(0.1):
                if state in m.split("\n"):
                    return
        self.fail("no %s within %.1fs" % (state, T(timeout)))

    def run_server(self, notify, args=(), env=None):
        e = {"NOTIFY_SOCKET": notify}
        e.update(env or {})
        srv = WeftServer(list(args), env=e).start()
        self.addCleanup(srv.stop)
        return srv

    def test_ready_and_stopping(self):
        for abstract in (False, True):
            with self.subTest(abstract=abstract):
                self.sock.close()
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                srv = self.run_server(self.listen(abstract))
                self.expect("READY=1", 5)
                self.assertEqual(get(srv.port, "/plaintext")[0], 200)
                srv.send_signal(signal.SIGTERM)
                self.expect("STOPPING=1", 5)
                self.assertEqual(srv.wait(T(10)), 0)
                srv.stop()

    def test_watchdog_pings_stop_while_a_loop_is_stuck(self):
        plugin = os.environ.get("WEFT_PLUGIN_STALL")
        if not plugin:
            if os.environ.get("WEFT_BIN"):
                raise RuntimeError("WEFT_PLUGIN_STALL not set")
            self.skipTest("set WEFT_PLUGIN_STALL")
        srv = self.run_server(self.listen(False), ["--threads", "2", "--plugin", plugin],
                              {"WATCHDOG_USEC": "200000"})
        self.expect("READY=1", 5)
        pings = [t for t, m in self.messages(1.0) if m == "WATCHDOG=1"]
        self.assertGreaterEqual(len(pings), 5, "pings every 100 ms expected")
        # Stall one loop for 1.5 s (a connection lands on one of the two).
        stalled = threading.Thread(target=get, args=(srv.port, "/stall?ms=1500", 20))
        t0 = time.monotonic()
        stalled.start()
        during = [t for t, m in self.messages(1.2) if m == "WATCHDOG=1"]
        stalled.join(T(20))
        after = [t for t, m in self.messages(1.0) if m == "WATCHDOG=1"]
        # A ping may be in flight as the stall starts; then silence.
        late = [t - t0 for t in during if t - t0 > 0.4]
        self.assertEqual(late, [], "pings while a loop was stuck")
        self.assertGreaterEqual(len(after), 3, "pings resume once the loop is free")

    def test_no_watchdog_for_another_pid(self):
        srv = self.run_server(self.listen(False), env={"WATCHDOG_USEC": "100000",
                                                       "WATCHDOG_PID": "1"})
        self.expect("READY=1", 5)
        self.assertEqual([m for _, m in self.messages(0.5) if m == "WATCHDOG=1"], [])
        self.assertEqual(get(srv.port, "/plaintext")[0], 200)


class SocketActivation(unittest.TestCase):
    """systemd's part played by hand: a listening socket as fd 3,
    LISTEN_FDS=1 and LISTEN_PID set to the server's own pid (by a shell
    that execs it)."""

    def setUp(self):
        binary_or_skip()

    def start(self, sock, pid_var="$$"):
        n = sock.fileno()
        moves = "" if n == 3 else " 3<&%d %d<&-" % (n, n)  # to fd 3, where systemd puts it
        script = 'LISTEN_PID=%s LISTEN_FDS=1 exec "$0" serve --port 0%s' % (pid_var, moves)
        proc = subprocess.Popen(["sh", "-c", script, weftproc.weft_bin()], pass_fds=(n,),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, proc)
        return proc

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(T(10))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    def test_serves_the_passed_socket(self):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        proc = self.start(sock)
        sock.close()  # the server holds it now
        line = proc.stdout.readline().decode().strip()
        self.assertEqual(line, "listening on http://%s:%d/" % (HOST, port))
        for _ in range(20):  # every loop accepts from the one socket
            self.assertEqual(get(port, "/plaintext")[1], b"Hello, World!")
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(T(10)), 0)

    def test_another_pids_sockets_are_not_taken(self):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen(64)
        passed = sock.getsockname()[1]
        proc = self.start(sock, pid_var="1")  # meant for another process
        sock.close()
        m = re.match(r"^listening on http://127\.0\.0\.1:(\d+)/$", proc.stdout.readline().decode())
        self.assertTrue(m)
        self.assertNotEqual(int(m.group(1)), passed)  # its own port instead


METRIC_LINE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                         r'(\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                         r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (?P<value>\S+)$')


def parse_prometheus(text):
    """A small checker of the Prometheus text format (0.0.4): every family
    has HELP and TYPE before its samples, counters end in _total, values
    are numbers. Returns {(name, labels): value}."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "two TYPE lines for " + name
            types[name] = kind
            continue
        m = METRIC_LINE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m["name"], m["labels"] or "", float(m["value"])
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) == "histogram":
                family = base
        assert family in types, "a sample before its TYPE: %r" % line
        if types[family] == "histogram" and name.endswith("_bucket"):
            assert re.search(r'le="[^"]+"', labels), line
        assert name.startswith("weft_"), name
        if types[family] == "counter":
            assert name.endswith("_total"), name
            assert value >= 0, line
        samples[(name, labels)] = value
    assert text.endswith("\n")
    return samples


class Admin(unittest.TestCase):
    def setUp(self):
        binary_or_skip()

    def start(self, *args):
        srv = WeftServer(["--admin", "127.0.0.1:0", "--threads", "2"] + list(args)).start()
        self.addCleanup(srv.stop)
        wait_for(lambda: "admin on " in srv.stdout(), 5, "the admin line")
        m = re.search(r"^admin on http://127\.0\.0\.1:(\d+)/$", srv.stdout(), re.M)
        self.assertTrue(m, srv.stdout())
        return srv, int(m.group(1))

    def test_metrics_and_healthz(self):
        srv, admin = self.start()
        for t in ("/plaintext", "/plaintext", "/json", "/nope", "/sleep?ms=10"):
            get(srv.port, t)
        status, body = get(admin, "/metrics")
        self.assertEqual(status, 200)
        m = parse_prometheus(body.decode())
        self.assertGreaterEqual(m[("weft_http_responses_total", 'code="2xx"')], 4)
        self.assertGreaterEqual(m[("weft_http_responses_total", 'code="4xx"')], 1)
        self.assertGreaterEqual(m[("weft_http_requests_total", "")], 5)
        self.assertGreaterEqual(m[("weft_pool_jobs_completed_total", "")], 1)
        self.assertEqual(m[("weft_pool_jobs_queued", "")], 0)
        for loop in ("0", "1"):
            self.assertIn(("weft_loop_busy_seconds_total", 'loop="%s"' % loop), m)
            self.assertIn(("weft_loop_blocked_episodes_total", 'loop="%s"' % loop), m)
        plain = 'method="GET",route="/plaintext",code="2xx"'
        self.assertGreaterEqual(m[("weft_http_requests_by_route_total", plain)], 2)
        self.assertGreaterEqual(m[("weft_http_requests_by_route_total",
                                   'method="GET",route="/sleep",code="2xx"')], 1)
        self.assertGreaterEqual(m[("weft_http_requests_by_route_total",
                                   'method="",route="(none)",code="4xx"')], 1)  # /nope
        buckets = sorted((float(k[1].split('"')[1]), v) for k, v in m.items()
                         if k[0] == "weft_http_request_duration_seconds_bucket"
                         and "+Inf" not in k[1])
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts), "buckets must be cumulative")
        total = m[("weft_http_request_duration_seconds_bucket", 'le="+Inf"')]
        self.assertEqual(total, m[("weft_http_request_duration_seconds_count", "")])
        self.assertGreaterEqual(total, 5)
        self.assertGreater(m[("weft_http_request_duration_seconds_sum", "")], 0.009)  # the 10 ms sleep
        self.assertEqual(get(admin, "/healthz"), (200, b"ok\n"))
        self.assertEqual(get(srv.port, "/metrics")[0], 404)  # not on the public port
        self.assertEqual(get(srv.port, "/healthz")[0], 404)
        self.assertEqual(get(admin, "/plaintext")[0], 404)  # and the app not on the admin one

    def test_shutdown_delay_fails_healthz_first(self):
        srv, admin = self.start("--shutdown-delay", "1s")
        srv.send_signal(signal.SIGTERM)
        wait_for(lambda: get(admin, "/healthz")[0] == 503, 0.5, "/healthz at 503")
        self.assertEqual(get(srv.port, "/plaintext"), (200, b"Hello, World!"))  # still serving
        self.assertIsNone(srv.wait(0.3))
        self.assertEqual(srv.wait(T(10)), 0)

    def test_bad_admin_address(self):
        for value in ("8081", "127.0.0.1:", "127.0.0.1:99999", ":80"):
            status, _, err = run_weft(["--admin", value])
            self.assertEqual(status, 2, value)
            self.assertIn("--admin", err)


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
    return ids


class Privileges(unittest.TestCase):
    def setUp(self):
        binary_or_skip()

    def test_user_and_group(self):
        if os.geteuid() == 0:
            user, uid, group, gid = "nobody", "65534", "nogroup", "65534"
        else:  # not root: the same ids, which still takes the whole path
            uid = gid = str(os.geteuid())
            user, group = uid, str(os.getegid())
            gid = group
        srv = WeftServer(["--user", user, "--group", group]).start()
        try:
            ids = status_ids(srv.pid)
            self.assertEqual(ids["Uid"], [uid] * 4, ids)
            self.assertEqual(ids["Gid"], [gid] * 4, ids)
            self.assertEqual(ids["Groups"], [gid] if os.geteuid() == 0 else ids["Groups"], ids)
            # every thread changed, not only the main one
            for tid in os.listdir("/proc/%d/task" % srv.pid):
                with open("/proc/%d/task/%s/status" % (srv.pid, tid)) as f:
                    self.assertIn("\nUid:\t%s\t" % uid, f.read())
            self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_unknown_user_and_group(self):
        for args in (["--user", "no-such-user-weft"], ["--group", "no-such-group-weft"]):
            status, _, err = run_weft(["--port", "0"] + args)
            self.assertEqual(status, 2, args)
            self.assertIn("no-such-", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)


class Draining(unittest.TestCase):
    def setUp(self):
        binary_or_skip()

    def test_a_job_in_flight_completes_across_sigterm(self):
        srv = WeftServer(["--pool", "2"]).start()
        result = {}

        def sleeper():
            result["r"] = get(srv.port, "/sleep?ms=800", 20)

        t = threading.Thread(target=sleeper)
        t.start()
        time.sleep(0.3)
        srv.send_signal(signal.SIGTERM)
        t.join(T(20))
        self.assertEqual(result.get("r", (None,))[0], 200, result)
        self.assertEqual(srv.wait(T(10)), 0)
        srv.stop()

    def test_queued_jobs_get_503_running_ones_finish(self):
        srv = WeftServer(["--pool", "1", "--queue", "8"]).start()
        results = {}

        def sleeper(name, ms):
            t0 = time.monotonic()
            results[name] = get(srv.port, "/sleep?ms=%d" % ms, 20) + (time.monotonic() - t0,)

        running = threading.Thread(target=sleeper, args=("running", 1500))
        running.start()
        time.sleep(0.3)  # it holds the only worker now
        queued = [threading.Thread(target=sleeper, args=("queued%d" % i, 100)) for i in range(3)]
        for t in queued:
            t.start()
        time.sleep(0.3)
        srv.send_signal(signal.SIGTERM)
        for t in queued + [running]:
            t.join(T(20))
        for i in range(3):
            status, _, took = results["queued%d" % i]
            self.assertEqual(status, 503, results)
            self.assertLess(took, T(1.2), "a queued job waited for the running one")
        self.assertEqual(results["running"][0], 200, results)
        self.assertEqual(srv.wait(T(10)), 0)
        srv.stop()

    def test_h2load_sees_no_failure_across_sigterm(self):
        h2load = shutil.which("h2load")
        if not h2load:
            raise RuntimeError("h2load missing (nghttp2-client): make installs it")
        for depth in ("1", "8"):
            srv = WeftServer(["--threads", "2"]).start()
            timer = threading.Timer(1.0, srv.send_signal, (signal.SIGTERM,))
            timer.start()
            out = subprocess.run([h2load, "--h1", "-D", "3", "-c", "10", "-m", depth, "-t", "1",
                                  "http://%s:%d/plaintext" % (HOST, srv.port)],
                                 capture_output=True, text=True, timeout=T(30)).stdout
            timer.join()
            m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, "
                          r"(\d+) failed, (\d+) errored", out)
            self.assertTrue(m, out)
            self.assertGreater(int(m.group(2)), 1000, out)
            self.assertEqual((m.group(3), m.group(4)), ("0", "0"), out)
            self.assertEqual(srv.wait(T(10)), 0)
            srv.stop()

    def test_every_logged_request_was_answered_whole(self):
        """Clients with request ids under load during SIGTERM: whatever the
        access log recorded, its client got completely."""
        d = tempfile.mkdtemp(prefix="weft-ops-")
        self.addCleanup(shutil.rmtree, d, True)
        log = os.path.join(d, "access.log")
        srv = WeftServer(["--threads", "2", "--access-log", log]).start()
        answered, lock = set(), threading.Lock()

        def client(k):
            for i in range(100000):
                rid = "%d-%d" % (k, i)
                try:
                    c = http.client.HTTPConnection(HOST, srv.port, timeout=T(10))
                    c.request("GET", "/bytes/4096?id=" + rid)
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                except (OSError, http.client.HTTPException):
                    return  # the server stopped
                if r.status == 200 and len(body) == 4096:
                    with lock:
                        answered.add(rid)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        srv.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(T(30))
        self.assertEqual(srv.wait(T(10)), 0)
        srv.stop()
        with open(log) as f:
            logged = set(re.findall(r"\?id=(\d+-\d+) HTTP", f.read()))
        self.assertGreater(len(logged), 100)
        self.assertEqual(logged - answered, set(), "logged but not answered whole")

    def test_drain_timeout_bounds_the_wait(self):
        srv = WeftServer(["--pool", "2", "--drain-timeout", "300ms"]).start()
        t = threading.Thread(target=lambda: self.swallow(srv.port))
        t.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        status = srv.wait(T(10))
        took = time.monotonic() - t0
        t.join(T(20))
        srv.stop()
        self.assertEqual(status, 0)
        self.assertLess(took, T(3.0), "the 5 s job held the stop past --drain-timeout")

    @staticmethod
    def swallow(port):
        try:
            get(port, "/sleep?ms=5000", 20)
        except (OSError, http.client.HTTPException):
            pass  # the connection closes at the drain timeout


if __name__ == "__main__":
    unittest.main()
