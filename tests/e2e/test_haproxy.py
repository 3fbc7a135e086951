#!/usr/bin/env python3
"""Scale-out behind HAProxy (issue 14): two weft instances behind a real
haproxy on 127.0.0.1, with the configuration of docs/haproxy.cfg (health
checks on each instance's admin listener, retries, redispatch, retry-on,
send-proxy). Under load, one instance gets SIGTERM: haproxy sees its
/healthz fail during --shutdown-delay and takes it out before it stops,
and not one request fails. Then the instance comes back on the same ports,
haproxy marks it up again, and it takes traffic.

Every process is started here and stopped by its PID, also on failure.

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_haproxy.py [-v]
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import HOST, T, WeftServer, weft_bin  # noqa: E402
from e2ecommon import binary_or_skip  # noqa: E402

CHECK_INTER_MS = 200  # haproxy's check interval; fall 2, rise 2
# Longer than inter x fall (plus a check's own time): haproxy has marked
# the instance down before it stops accepting.
SHUTDOWN_DELAY = "1500ms"

CONFIG = """\
global
    maxconn 1000
    stats socket {dir}/haproxy.sock mode 600 level admin
    log stderr format short local0 notice

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend public
    bind 127.0.0.1:{front}
    default_backend weft

backend weft
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter {inter}ms fall 2 rise 2 send-proxy
    server w1 127.0.0.1:{p1} check port {a1}
    server w2 127.0.0.1:{p2} check port {a2}
"""


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + T(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("%s: not within %.1fs" % (what, T(timeout)))


class Load:
    """Threads with a keep-alive connection each, GETting /plaintext
    through haproxy until stopped; every failure is kept."""

    def __init__(self, port, threads=4):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=T(10))
                conn.request("GET", "/plaintext")
                r = conn.getresponse()
                body = r.read()
                good = r.status == 200 and body == b"Hello, World!"
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failures.append("%d %r" % (r.status, body[:100]))
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append(repr(e))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(T(15))
        return False


class ScaleOut(unittest.TestCase):
    def setUp(self):
        binary_or_skip()
        self.haproxy_bin = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if not self.haproxy_bin:
            raise RuntimeError("haproxy is not installed (scripts/deps.sh test installs it)")
        self.dir = tempfile.mkdtemp(prefix="weft-haproxy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.haproxy = None
        self.addCleanup(self.stop_haproxy)

    def weft(self, name, port, admin, generation):
        log = os.path.join(self.dir, "%s-%d.log" % (name, generation))
        cmd = [weft_bin(), "serve", "--host", HOST, "--port", str(port),
               "--admin", "%s:%d" % (HOST, admin), "--threads", "2",
               "--shutdown-delay", SHUTDOWN_DELAY, "--drain-timeout", "2s",
               "--proxy-protocol", "--trust-proxy", "127.0.0.1",
               "--access-log", log, "--log-level", "info"]
        srv = WeftServer(cmd=cmd).start()
        self.addCleanup(srv.stop)
        return srv, log

    def stop_haproxy(self):
        p = self.haproxy
        if p is None or p.poll() is not None:
            return
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(T(10))
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()

    def server_states(self):
        """{server name: status} from haproxy's stats socket."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(T(5))
        try:
            s.connect(os.path.join(self.dir, "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return {}
        finally:
            s.close()
        lines = data.decode().splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        cols = lines[0][2:].split(",")
        out = {}
        for ln in lines[1:]:
            row = dict(zip(cols, ln.split(",")))
            if row.get("pxname") == "weft" and row.get("svname") in ("w1", "w2"):
                out[row["svname"]] = row.get("status", "")
        return out

    def wait_states(self, want, timeout):
        wait_for(lambda: all(self.server_states().get(k, "").startswith(v)
                             for k, v in want.items()),
                 timeout, "haproxy states %r (now %r)" % (want, self.server_states()))

    def log_lines(self, path):
        try:
            with open(path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def test_sigterm_under_load_fails_nothing_and_the_instance_comes_back(self):
        p1, p2, a1, a2, front = (free_port() for _ in range(5))
        w1, log1 = self.weft("w1", p1, a1, 1)
        w2, log2 = self.weft("w2", p2, a2, 1)
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(dir=self.dir, front=front, inter=CHECK_INTER_MS,
                                  p1=p1, p2=p2, a1=a1, a2=a2))
        check = subprocess.run([self.haproxy_bin, "-c", "-f", cfg], capture_output=True,
                               text=True, timeout=T(30))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        herr = open(os.path.join(self.dir, "haproxy.err"), "wb")
        self.addCleanup(herr.close)
        self.haproxy = subprocess.Popen([self.haproxy_bin, "-f", cfg, "-db"],
                                        stdin=subprocess.DEVNULL, stdout=herr, stderr=herr)
        self.wait_states({"w1": "UP", "w2": "UP"}, 10)

        with Load(front) as load:
            wait_for(lambda: load.ok >= 200, 10, "traffic through haproxy")
            self.assertTrue(self.log_lines(log1) and self.log_lines(log2), "both serve")
            t0 = time.monotonic()
            w1.send_signal(signal.SIGTERM)
            self.wait_states({"w1": "DOWN"}, 5)
            self.assertIsNone(w1.wait(0), "w1 stopped before haproxy took it out")
            status = w1.wait(T(15))
            self.assertEqual(status, 0, w1.stderr()[-2000:])
            self.assertGreaterEqual(time.monotonic() - t0, 1.4, "the shutdown delay was kept")
            served_alone = load.ok
            wait_for(lambda: load.ok >= served_alone + 100, 10, "w2 serving alone")

            w1b, log1b = self.weft("w1", p1, a1, 2)  # back, on the same ports
            self.wait_states({"w1": "UP"}, 10)
            wait_for(lambda: len(self.log_lines(log1b)) >= 20, 10,
                     "the new w1 taking traffic")
        w1b.stop()
        self.assertEqual(w2.stop(), 0)
        self.assertEqual(load.failures, [], "failed requests (of %d good)" % load.ok)
        self.assertGreater(load.ok, 500)
        # send-proxy: the client address came in the PROXY header
        for line in self.log_lines(log1b)[:5] + self.log_lines(log2)[:5]:
            self.assertTrue(line.startswith("127.0.0.1 - - ["), line)


if __name__ == "__main__":
    unittest.main()
