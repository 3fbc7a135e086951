#!/usr/bin/env python3
"""Deployment (issue 14) through the weft command: --trust-proxy and
X-Forwarded-For, --proxy-protocol from a raw socket, the client address
in the access log, /status.json's figures, and /status in headless
Chromium (its DOM after it polled, and a screenshot kept as an artifact in
$WEFT_ARTIFACTS, the build directory under CTest).

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_deploy.py [-v]
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
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import HOST, RawConn, T, WeftServer, request, run_weft  # noqa: E402
from e2ecommon import binary_or_skip  # noqa: E402


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + T(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("%s: not within %.1fs" % (what, T(timeout)))


def get(port, target, headers=None, timeout=10):
    c = http.client.HTTPConnection(HOST, port, timeout=T(timeout))
    try:
        c.request("GET", target, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def admin_port(srv):
    wait_for(lambda: "admin on " in srv.stdout(), 5, "the admin line")
    m = re.search(r"^admin on http://127\.0\.0\.1:(\d+)/$", srv.stdout(), re.M)
    assert m, srv.stdout()
    return int(m.group(1))


class Base(unittest.TestCase):
    def setUp(self):
        binary_or_skip()
        self.dir = tempfile.mkdtemp(prefix="weft-deploy-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.log = os.path.join(self.dir, "access.log")

    def start(self, *args):
        srv = WeftServer(["--access-log", self.log, "--admin", "127.0.0.1:0"] + list(args))
        srv.start()
        self.addCleanup(srv.stop)
        return srv, admin_port(srv)

    def log_hosts(self, n):
        """The host field of the access log's first n lines (waiting for
        them)."""
        def lines():
            with open(self.log) as f:
                return f.read().splitlines()
        wait_for(lambda: len(lines()) >= n, 5, "%d access log lines" % n)
        return [ln.split(" ", 1)[0] for ln in lines()]


class TrustProxy(Base):
    def test_forwarded_for_only_from_trusted_proxies(self):
        srv, _ = self.start("--trust-proxy", "10.0.0.0/8, 127.0.0.1", "--trust-proxy", "::1")
        xff = {"X-Forwarded-For": "203.0.113.50, 198.51.100.7, 10.1.2.3"}
        self.assertEqual(get(srv.port, "/plaintext", xff)[0], 200)
        self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        self.assertEqual(self.log_hosts(2), ["198.51.100.7", "127.0.0.1"])

    def test_untrusted_peers_forwarded_for_is_ignored(self):
        srv, _ = self.start("--trust-proxy", "10.0.0.0/8")
        get(srv.port, "/plaintext", {"X-Forwarded-For": "198.51.100.7"})
        self.assertEqual(self.log_hosts(1), ["127.0.0.1"])

    def test_bad_cidrs_are_named_and_exit_2(self):
        for value, bad in (("10.0.0.0/33", "10.0.0.0/33"),
                           ("127.0.0.1,localhost", "localhost"),
                           ("10.0.0.0/8,,::1", ""),
                           ("1.2.3.4:80", "1.2.3.4:80")):
            status, out, err = run_weft(["--port", "0", "--trust-proxy", value])
            self.assertEqual(status, 2, (value, err))
            self.assertEqual(out, "")
            self.assertEqual(err.count("\n"), 1, err)
            self.assertIn("--trust-proxy", err)
            self.assertIn("'%s'" % bad, err)

    def test_help_lists_the_flags(self):
        status, out, _ = run_weft(["--help"])
        self.assertEqual(status, 0)
        self.assertIn("--trust-proxy CIDR[,CIDR]", out)
        self.assertIn("--proxy-protocol", out)


class ProxyProtocol(Base):
    def test_the_header_gives_the_client_address(self):
        srv, admin = self.start("--proxy-protocol")
        with RawConn(srv.port) as c:
            c.send(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\n" +
                   request("GET", "/plaintext") + request("GET", "/json"))
            rs = c.read_responses(2)
        self.assertEqual([r.status for r in rs], [200, 200])
        with RawConn(srv.port) as c:  # split across writes
            for piece in (b"PROXY TCP6 2001:db8::9 ", b"::1 40001 80\r", b"\n",
                          request("GET", "/plaintext", [("Connection", "close")])):
                c.send(piece)
                time.sleep(0.02)
            self.assertEqual(c.read_response().status, 200)
        self.assertEqual(self.log_hosts(3), ["203.0.113.9", "203.0.113.9", "2001:db8::9"])
        # The admin listener does not expect one (load balancers check it).
        self.assertEqual(get(admin, "/healthz"), (200, b"ok\n"))

    def test_no_header_closes_without_an_answer(self):
        srv, admin = self.start("--proxy-protocol", "--log-level", "warn")
        with RawConn(srv.port) as c:
            c.send(request("GET", "/plaintext"))
            data, how = c.read_all(timeout=5)
        self.assertEqual(data, b"")
        self.assertIn(how, ("closed", "reset"))
        s = json.loads(get(admin, "/status.json")[1])
        self.assertEqual(s["proxy"]["rejected"], 1)
        metrics = get(admin, "/metrics")[1].decode()
        self.assertIn("\nweft_proxy_protocol_rejected_total 1\n", metrics)
        self.assertIn("\nweft_proxy_protocol_headers_total 0\n", metrics)
        wait_for(lambda: "PROXY" in srv.stderr(), 5, "the warning")

    def test_without_the_flag_a_proxy_line_is_a_bad_request(self):
        srv, _ = self.start()
        with RawConn(srv.port) as c:
            c.send(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\n" + request("GET", "/plaintext"))
            r = c.read_response()
        self.assertEqual(r.status, 400)


class WithWorkerProcesses(Base):
    """--workers M: every worker takes PROXY headers and trusts the same
    proxies; the master checks --trust-proxy before starting any."""

    def test_proxy_protocol_in_every_worker(self):
        srv, admin = self.start("--workers", "2", "--threads", "1", "--proxy-protocol",
                                "--trust-proxy", "10.0.0.0/8")
        for i in range(8):  # new connections: both workers get some
            with RawConn(srv.port) as c:
                c.send(b"PROXY TCP4 10.0.0.1 127.0.0.1 40000 80\r\n" +
                       request("GET", "/plaintext", [("X-Forwarded-For", "198.51.100.%d" % i),
                                                     ("Connection", "close")]))
                self.assertEqual(c.read_response().status, 200)
        self.assertEqual(sorted(self.log_hosts(8)), sorted("198.51.100.%d" % i for i in range(8)))
        s = json.loads(get(admin, "/status.json")[1])
        self.assertEqual(s["proxy"]["headers"], 8)  # summed over the workers
        self.assertEqual(get(admin, "/healthz"), (200, b"ok\n"))

    def test_a_bad_cidr_stops_the_master(self):
        status, out, err = run_weft(["--port", "0", "--workers", "2", "--trust-proxy", "10.0.0.0/99"])
        self.assertEqual(status, 2, err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("'10.0.0.0/99'", err)


class StatusJson(Base):
    def test_figures(self):
        srv, admin = self.start("--threads", "2")
        for _ in range(5):
            self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        self.assertEqual(get(srv.port, "/sleep?ms=50")[0], 200)
        status, body = get(admin, "/status.json")
        self.assertEqual(status, 200)
        s = json.loads(body)
        self.assertEqual(s["requests"]["app"], 6)
        self.assertGreaterEqual(s["requests"]["total"], 7)  # this one too
        # null while the window is shorter than 0.5 s, then a rate
        self.assertTrue(s["requests"]["per_second"] is None or s["requests"]["per_second"] > 0, s)
        time.sleep(0.6)
        self.assertGreater(json.loads(get(admin, "/status.json")[1])["requests"]["per_second"], 0)
        lat = s["latency_ms"]
        self.assertEqual(lat["count"], 6)
        self.assertLessEqual(lat["p50"], lat["p90"])
        self.assertLessEqual(lat["p90"], lat["p99"])
        self.assertGreaterEqual(lat["p99"], 25)  # the 50 ms job is the top 1 %
        self.assertEqual(s["pool"]["completed"], 1)
        self.assertEqual(len(s["loops"]), 2)
        self.assertFalse(s["draining"])
        self.assertEqual(get(srv.port, "/status")[0], 404)  # never on the public port
        status, page = get(admin, "/status")
        self.assertEqual(status, 200)
        self.assertNotRegex(page.decode(), r"(src|href)=\"?(https?:)?//")  # self-contained


def chromium_or_fail():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is not installed (scripts/deps.sh test installs it)")


class StatusPageInChromium(Base):
    """The page as a browser runs it: Chromium loads /status, its script
    polls /status.json, and the DOM is dumped once virtual time ran out."""

    def chromium(self, url, *args):
        cmd = [chromium_or_fail(), "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
               "--user-data-dir=" + os.path.join(self.dir, "profile"),
               "--virtual-time-budget=5000"] + list(args) + [url]
        env = dict(os.environ, HOME=self.dir)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=T(60))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the renderer too
            out, err = proc.communicate()
            raise AssertionError("chromium ran past %.0fs: %s" % (T(60), err[-2000:]))
        self.assertEqual(proc.returncode, 0, err[-2000:])
        return out.decode("utf-8", "replace")

    def test_the_page_shows_polled_figures(self):
        srv, admin = self.start("--threads", "2")
        for _ in range(7):
            self.assertEqual(get(srv.port, "/plaintext")[0], 200)
        # Chromium's virtual time runs ahead of the clock: its polls may all
        # come within a fraction of a second, and the rate needs 0.5 s of
        # history on the server's side.
        time.sleep(0.6)
        url = "http://%s:%d/status" % (HOST, admin)
        dom = self.chromium(url, "--dump-dom")

        def text(id_):
            m = re.search(r'id="%s"[^>]*>([^<]*)<' % re.escape(id_), dom)
            self.assertTrue(m, "no #%s in the DOM: %s" % (id_, dom[:3000]))
            return m.group(1)

        self.assertGreaterEqual(int(text("polls")), 2, "the page did not poll twice")
        self.assertEqual(text("state"), "serving")
        self.assertEqual(text("app-requests"), "7")
        self.assertEqual(text("r2xx").isdigit(), True)
        self.assertEqual(text("latency-count").isdigit(), True)
        for q in ("p50", "p90", "p99"):
            self.assertRegex(text(q), r"^\d+\.\d\d\+?$")
        self.assertRegex(text("rps"), r"^\d+\.\d$")
        self.assertRegex(text("pool-threads"), r"^[1-9]\d*$")
        self.assertIn('id="loop-0"', dom)
        self.assertIn('id="loop-1"', dom)

        artifacts = os.environ.get("WEFT_ARTIFACTS") or self.dir
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        self.chromium(url, "--window-size=1000,900", "--screenshot=" + shot)
        with open(shot, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        print("status page screenshot: %s" % shot, file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
