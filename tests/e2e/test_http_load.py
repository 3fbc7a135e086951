#!/usr/bin/env python3
"""weft's multi-loop server under load and at its limits (issue 7).

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_http_load.py [-v]

h2load against two loops (every request answered 2xx), --max-connections
(the listeners pause, the backlog waits, accepting resumes), lingering
close (the last answer survives the client's unread input), the limits
answered with their status then a close (414, 431, 413), and IPv6.

Behaviour only: no throughput figure is asserted. h2load comes with
nghttp2-client (scripts/deps.sh test); without it the tests fail. The port-in-use case lives in test_http_basic.py.
"""

import contextlib
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftproc  # noqa: E402
from weftproc import (HOST, RawConn, WeftServer, T, get_once,  # noqa: E402
                      request)
from e2ecommon import binary_or_skip  # noqa: E402

HELLO = b"Hello, World!"
JSON = b'{"message":"Hello, World!"}'


@contextlib.contextmanager
def serving(tc, args, host=None):
    """A weft for one test; afterwards it must still be alive and stop
    with status 0 on SIGTERM."""
    srv = WeftServer(args)
    if host is not None:
        srv.cmd = [weftproc.weft_bin(), "serve", "--host", host,
                   "--port", "0"] + list(args)
    srv.start()
    ok = False
    try:
        yield srv
        ok = True
    finally:
        alive = srv.alive()
        rc = srv.stop()
    if ok:
        tc.assertTrue(alive, "weft died during the test (status %s); "
                      "stderr: %s" % (rc, srv.stderr()[-2000:]))
        tc.assertEqual(rc, 0, "weft did not stop cleanly on SIGTERM%s; "
                       "stderr: %s" % (" (SIGKILL needed)" if srv.killed
                                       else "", srv.stderr()[-2000:]))


# ------------------------------------------------------------------ h2load

H2_REQ = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, "
                    r"(\d+) succeeded, (\d+) failed, (\d+) errored, "
                    r"(\d+) timeout")
H2_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, "
                       r"(\d+) 5xx")
H2_DATA = re.compile(r"traffic: .*\((\d+)\) data")


class H2Load(unittest.TestCase):
    N = 20000

    @classmethod
    def setUpClass(cls):
        binary_or_skip()
        cls.h2load = shutil.which("h2load")
        if not cls.h2load:  # scripts/deps.sh test installs it
            raise RuntimeError("h2load not found: install nghttp2-client "
                               "(scripts/deps.sh test)")
        cls.server = WeftServer(["--threads", "2"])
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if cls.server.killed or rc != 0:
            raise AssertionError("weft did not stop cleanly: status %s; "
                                 "stderr: %s" % (rc,
                                                 cls.server.stderr()[-2000:]))

    def tearDown(self):
        if not self.server.alive():
            self.fail("weft died (status %s); stderr: %s"
                      % (self.server.proc.returncode,
                         self.server.stderr()[-2000:]))

    def run_h2load(self, target, depth, body):
        cmd = [self.h2load, "--h1", "-m", str(depth), "-n", str(self.N),
               "-c", "50", "-t", "1",
               "http://%s:%d%s" % (HOST, self.server.port, target)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=T(60))
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            self.fail("h2load %s ran over %.0fs: %s"
                      % (" ".join(cmd[1:]), T(60),
                         out.decode("utf-8", "replace")[-2000:]))
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        text = out.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, text[-2000:])
        m = H2_REQ.search(text)
        self.assertIsNotNone(m, "no requests summary: " + text[-2000:])
        total, started, done, ok, failed, errored, timeout = map(
            int, m.groups())
        summary = m.group(0)
        self.assertEqual((failed, errored, timeout), (0, 0, 0), summary)
        self.assertEqual((total, done, ok), (self.N,) * 3, summary)
        s = H2_STATUS.search(text)
        self.assertIsNotNone(s, text[-2000:])
        self.assertEqual(tuple(map(int, s.groups())), (self.N, 0, 0, 0),
                         s.group(0))
        d = H2_DATA.search(text)
        self.assertIsNotNone(d, text[-2000:])
        self.assertEqual(int(d.group(1)), self.N * len(body),
                         "body bytes: " + d.group(0))

    def test_plaintext_pipelined_8(self):
        self.run_h2load("/plaintext", 8, HELLO)

    def test_plaintext_depth_1(self):
        self.run_h2load("/plaintext", 1, HELLO)

    def test_json_pipelined_8(self):
        self.run_h2load("/json", 8, JSON)

    def test_zz_still_serves_after_load(self):
        self.assertEqual(get_once(self.server.port).body, HELLO)


# ---------------------------------------------------------- max connections

class MaxConnections(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        binary_or_skip()

    def test_backlog_waits_then_served(self):
        with serving(self, ["--threads", "2", "--max-connections", "10"]) \
                as srv:
            held = []
            waiting = []
            try:
                for i in range(10):
                    c = RawConn(srv.port)
                    held.append(c)
                    c.send(request("GET", "/plaintext"))
                    r = c.read_response(timeout=5)
                    self.assertEqual(r.body, HELLO, "connection %d" % i)
                # The 11th: TCP connects (backlog), no answer while 10 are
                # open.
                x = RawConn(srv.port)
                waiting.append(x)
                x.send(request("GET", "/plaintext"))
                r, _, _ = select.select([x.sock], [], [], 1.5)
                if r:
                    data, how = x.read_all(timeout=0.5)
                    self.fail("11th connection over --max-connections 10 "
                              "was served: %r (%s)" % (data[:200], how))
                # The 10 are still fine.
                for c in held:
                    self.assertTrue(c.is_open(0.01))
                for c in held[:3]:
                    c.close()
                del held[:3]
                t0 = time.monotonic()
                r = x.read_response(timeout=5)
                dt = time.monotonic() - t0
                self.assertIsNotNone(r, "11th closed without an answer")
                self.assertEqual(r.body, HELLO)
                self.assertLessEqual(dt, T(2), "11th answered %.2fs after "
                                     "3 connections closed" % dt)
                # 7 + 1 open: two more fit, and the old ones still work.
                for i in range(2):
                    c = RawConn(srv.port)
                    held.append(c)
                    c.send(request("GET", "/json"))
                    self.assertEqual(c.read_response(timeout=5).body, JSON)
                for c in held:
                    c.send(request("GET", "/plaintext"))
                    self.assertEqual(c.read_response(timeout=5).body, HELLO)
            finally:
                for c in held + waiting:
                    c.close()
            # All gone: a fresh client is served at once.
            self.assertEqual(get_once(srv.port).body, HELLO)


# --------------------------------------------------------- lingering close

class LingeringClose(unittest.TestCase):
    """The last answer before a close must not be destroyed by a reset
    when the client sent more than the server read."""

    JUNK = 100 * 1024

    @classmethod
    def setUpClass(cls):
        binary_or_skip()

    def answer_despite_junk(self, srv, head, junk, expect_status,
                            expect_len=None):
        c = RawConn(srv.port, timeout=30)
        errs = []

        def writer():
            try:
                c.sock.sendall(head + junk)
            except OSError as e:
                errs.append(e)  # expected once the server closes

        w = threading.Thread(target=writer, daemon=True)
        try:
            w.start()
            # A plain client: it writes everything, then reads (a little
            # later, as any client across a real network would).
            w.join(T(1))
            time.sleep(0.2)
            try:
                r = c.read_response(timeout=10)
            except weftproc.Closed as e:
                self.fail("%s + %d junk bytes: the answer was cut (%s; "
                          "%s)" % (head.split(b"\r\n")[0], len(junk), e,
                                   "ECONNRESET" if c.reset
                                   else "clean close"))
            self.assertIsNotNone(r, "%s: closed without an answer%s"
                                 % (head.split(b"\r\n")[0],
                                    " (reset)" if c.reset else ""))
            self.assertEqual(r.status, expect_status, r.raw[:300])
            if expect_len is not None:
                self.assertEqual(len(r.body), expect_len)
            self.assertTrue(r.has_token("Connection", "close"), r.headers)
            rest, how = c.read_all(timeout=5)
            self.assertEqual(rest, b"", "bytes after the last answer")
            self.assertIn(how, ("closed", "reset"),
                          "connection still open after Connection: close")
        finally:
            w.join(T(10))
            c.close()

    def test_200_then_junk(self):
        with serving(self, ["--threads", "2"]) as srv:
            self.answer_despite_junk(
                srv, request("GET", "/plaintext", [("Connection", "close")]),
                b"J" * self.JUNK, 200, len(HELLO))

    def test_400_then_junk(self):
        with serving(self, ["--threads", "2"]) as srv:
            self.answer_despite_junk(
                srv, b"GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Header\r\n"
                b"\r\n", b"J" * self.JUNK, 400)

    def test_413_while_body_still_coming(self):
        with serving(self, ["--threads", "2", "--max-body-size", "64k"]) \
                as srv:
            total = 2 * 1024 * 1024
            self.answer_despite_junk(
                srv, request("POST", "/echo",
                             [("Content-Length", str(total))]),
                b"x" * total, 413)

    def test_large_streamed_answer_then_junk(self):
        # The answer (300 kB, streamed) is still in the server's socket
        # send queue when the discarded input passes the linger byte cap.
        with serving(self, ["--threads", "2"]) as srv:
            self.answer_despite_junk(
                srv, request("GET", "/bytes/300000",
                             [("Connection", "close")]),
                b"J" * self.JUNK, 200, 300000)


# ------------------------------------------------------------------ limits

class Limits(unittest.TestCase):
    ARGS = ["--threads", "2", "--max-header-size", "32k",
            "--max-body-size", "64k"]

    @classmethod
    def setUpClass(cls):
        binary_or_skip()
        cls.server = WeftServer(cls.ARGS)
        cls.server.start()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        if cls.server.killed or rc != 0:
            raise AssertionError("weft did not stop cleanly: status %s; "
                                 "stderr: %s" % (rc,
                                                 cls.server.stderr()[-2000:]))

    def tearDown(self):
        if not self.server.alive():
            self.fail("weft died (status %s); stderr: %s"
                      % (self.server.proc.returncode,
                         self.server.stderr()[-2000:]))

    def answered_then_closed(self, data, status, label, port=None):
        with RawConn(port or self.port) as c:
            c.try_send(data)  # the server may close before it read all
            try:
                r = c.read_response(timeout=5)
            except weftproc.Closed as e:
                self.fail("%s: no complete answer (%s%s)"
                          % (label, e, ", reset" if c.reset else ""))
            self.assertIsNotNone(r, "%s: closed without an answer" % label)
            self.assertEqual(r.status, status, "%s: %r" % (label, r.raw))
            self.assertTrue(r.has_token("Connection", "close"),
                            "%s: %r" % (label, r.headers))
            self.assertEqual(c.wait_closed(timeout=5), b"", label)

    def served(self, data, label):
        with RawConn(self.port) as c:
            c.send(data)
            r = c.read_response(timeout=5)
            self.assertEqual(r.status, 200, "%s: %r" % (label, r.raw[:300]))
            return r

    def test_414_long_target(self):
        # Over the 8 KiB URI limit, well under --max-header-size 32k.
        self.answered_then_closed(
            request("GET", "/plaintext?" + "a" * 9000), 414, "9 kB target")
        self.served(request("GET", "/plaintext?" + "a" * 4000),
                    "4 kB target")

    def test_431_long_header(self):
        self.answered_then_closed(
            request("GET", "/plaintext", [("X-Long", "b" * 40000)]), 431,
            "40 kB header")
        self.served(request("GET", "/plaintext", [("X-Long", "b" * 20000)]),
                    "20 kB header")

    def test_431_head_never_ends(self):
        self.answered_then_closed(
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX: " + b"c" * 100000,
            431, "100 kB unterminated header")

    def test_431_too_many_fields(self):
        self.answered_then_closed(
            request("GET", "/plaintext",
                    [("X-F%d" % i, "v") for i in range(500)]),
            431, "500 header fields")
        self.served(request("GET", "/plaintext",
                            [("X-F%d" % i, "v") for i in range(50)]),
                    "50 header fields")

    def test_413_content_length(self):
        self.answered_then_closed(
            request("POST", "/echo", [("Content-Length", "70000")]), 413,
            "Content-Length 70000, no body sent")
        self.answered_then_closed(
            request("POST", "/echo", body=b"x" * 70000), 413,
            "Content-Length 70000 with its body")
        r = self.served(request("POST", "/echo", body=b"y" * 65536),
                        "65536-byte body")
        self.assertEqual(len(r.body), 65536)

    def test_413_chunked(self):
        piece = b"%x\r\n%s\r\n" % (4096, b"z" * 4096)
        self.answered_then_closed(
            request("POST", "/echo", [("Transfer-Encoding", "chunked")])
            + piece * 20 + b"0\r\n\r\n", 413, "80 KiB chunked body")
        r = self.served(request("POST", "/echo",
                                [("Transfer-Encoding", "chunked")])
                        + piece * 15 + b"0\r\n\r\n", "60 KiB chunked body")
        self.assertEqual(len(r.body), 15 * 4096)


class SmallHeaderLimit(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        binary_or_skip()

    def test_max_header_size_4k(self):
        # A head limit under the built-in 8 KiB URI limit is a valid
        # setting (nginx's default buffers are 1k/8k): weft must start, and
        # a 6 KiB target cannot fit either limit.
        srv = WeftServer(["--threads", "2", "--max-header-size", "4k"])
        try:
            try:
                srv.start()
            except weftproc.StartError as e:
                self.fail("weft refuses --max-header-size 4k: %s" % e)
            self.assertEqual(get_once(srv.port).body, HELLO)
            with RawConn(srv.port) as c:
                c.try_send(request("GET", "/plaintext?" + "a" * 6000))
                r = c.read_response(timeout=5)
                self.assertIsNotNone(r)
                self.assertIn(r.status, (414, 431), r.raw)
                self.assertEqual(c.wait_closed(timeout=5), b"")
        finally:
            srv.stop()


# -------------------------------------------------------------------- IPv6

def have_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    s = None
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        if s is not None:
            s.close()


class IPv6(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        binary_or_skip()

    def test_serves_on_ipv6_loopback(self):
        if not have_ipv6_loopback():
            print("skipping IPv6: this machine has no ::1", file=sys.stderr)
            self.skipTest("no ::1 on this machine")
        saved = weftproc.LISTEN_RE
        weftproc.LISTEN_RE = re.compile(
            r"^listening on http://\[?([0-9A-Fa-f:.]+)\]?:([0-9]+)/$")
        try:
            with serving(self, ["--threads", "2"], host="::1") as srv:
                self.assertEqual(srv.first_line,
                                 "listening on http://[::1]:%d/" % srv.port)
                with RawConn(srv.port, host="::1") as c:
                    c.send(request("GET", "/plaintext", host="[::1]") +
                           request("GET", "/json", host="[::1]"))
                    r1, r2 = c.read_responses(2)
                    self.assertEqual((r1.body, r2.body), (HELLO, JSON))
        finally:
            weftproc.LISTEN_RE = saved


if __name__ == "__main__":
    weftproc.take_bin_from_argv()
    unittest.main()
