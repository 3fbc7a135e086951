#!/usr/bin/env python3
"""weft's HTTP/1.1 engine and the `weft` command, driven from outside.

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_http_basic.py [-v]

Covers the demo routes, keep-alive (curl, http.client, raw sockets),
chunked uploads, HEAD, 100-continue, HTTP/1.0, Connection: close, the Date
header, pipelining, large bodies, Upgrade/CONNECT without switching, and
the command line (flags, exit statuses, signals).
"""

import email.utils
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftproc  # noqa: E402
from weftproc import (HOST, RawConn, WeftServer, T, get_once,  # noqa: E402
                      port_is_free, request, run_weft)
from e2ecommon import ServerTestCase, binary_or_skip, curl_or_skip  # noqa: E402

HELLO = b"Hello, World!"
MAX_BYTES = 64 * 1024 * 1024
IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (0[1-9]|[12][0-9]|3[01]) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] GMT$")


def pattern(n):
    """n bytes of every value, for bodies that must come back intact."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def get(port, target, headers=None, method="GET", body=None):
    c = http.client.HTTPConnection(HOST, port, timeout=T(30))
    try:
        c.request(method, target, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), \
            r.read()
    finally:
        c.close()


class Routes(ServerTestCase):

    def test_plaintext(self):
        status, h, body = get(self.port, "/plaintext")
        self.assertEqual(status, 200)
        self.assertEqual(body, HELLO)
        self.assertTrue(h.get("content-type", "").startswith("text/plain"), h)

    def test_json(self):
        status, h, body = get(self.port, "/json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"message": "Hello, World!"})
        self.assertEqual(body, b'{"message":"Hello, World!"}')
        self.assertTrue(
            h.get("content-type", "").startswith("application/json"), h)

    def test_root_html(self):
        status, h, body = get(self.port, "/")
        self.assertEqual(status, 200)
        self.assertTrue(h.get("content-type", "").startswith("text/html"), h)
        self.assertIn(b"<", body)

    def test_unknown_path_404(self):
        for target in ("/no-such-page", "/plaintext/extra", "/bytes"):
            status, h, body = get(self.port, target)
            self.assertEqual(status, 404, target)

    def test_echo_whole_body(self):
        data = pattern(300000)
        status, h, body = get(self.port, "/echo", method="POST", body=data)
        self.assertEqual(status, 200)
        self.assertEqual(body, data)

    def test_echo_empty_body(self):
        status, h, body = get(self.port, "/echo", method="POST", body=b"",
                              headers={"Content-Length": "0"})
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")

    def test_bytes_sizes(self):
        for n in (0, 1, 13, 4096, 100000):
            status, h, body = get(self.port, "/bytes/%d" % n)
            self.assertEqual(status, 200, n)
            self.assertEqual(len(body), n)

    def test_bytes_zero_has_empty_body(self):
        with RawConn(self.port) as c:
            c.send(request("GET", "/bytes/0") + request("GET", "/plaintext"))
            r0, r1 = c.read_responses(2)
            self.assertEqual(r0.status, 200)
            self.assertEqual(r0.body, b"")
            if not r0.chunked:
                self.assertEqual(r0.header("Content-Length"), "0")
            self.assertEqual(r1.body, HELLO)

    def test_bytes_8mib_intact_then_keepalive(self):
        n = 8 * 1024 * 1024
        with RawConn(self.port, timeout=60) as c:
            c.send(request("GET", "/bytes/%d" % n))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), n)
            c.send(request("GET", "/bytes/%d" % n))
            r2 = c.read_response()
            self.assertEqual(len(r2.body), n)
            self.assertEqual(r2.body, r.body, "/bytes/N differs between calls")
            c.send(request("GET", "/plaintext"))
            self.assertEqual(c.read_response().body, HELLO)

    def test_bytes_limit(self):
        with RawConn(self.port, timeout=120) as c:
            c.send(request("GET", "/bytes/%d" % MAX_BYTES))
            r = c.read_response(timeout=120)
            self.assertEqual(r.status, 200)
            self.assertEqual(len(r.body), MAX_BYTES)
        for n in (MAX_BYTES + 1, 10 ** 12, 10 ** 30):
            status, h, body = get(self.port, "/bytes/%d" % n)
            self.assertIn(status, (400, 413), n)


class KeepAlive(ServerTestCase):

    def test_curl_reuses_connection(self):
        curl = curl_or_skip(self)
        base = "http://%s:%d" % (HOST, self.port)
        p = subprocess.run([curl, "-sSv", "--noproxy", "*",
                            "-m", str(int(T(30))),
                            base + "/plaintext", base + "/json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=T(60))
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(p.stdout, HELLO + b'{"message":"Hello, World!"}')
        self.assertRegex(err, r"(?i)re-?using existing", err)
        self.assertEqual(len(re.findall(r"(?m)^\* +Connected to ", err)), 1,
                         err)

    def test_curl_chunked_upload(self):
        curl = curl_or_skip(self)
        data = pattern(700001)
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "up.bin")
            dst = os.path.join(d, "down.bin")
            with open(src, "wb") as f:
                f.write(data)
            p = subprocess.run(
                [curl, "-sSv", "--noproxy", "*", "-m", str(int(T(30))),
                 "-H", "Transfer-Encoding: chunked",
                 "--data-binary", "@" + src, "-o", dst,
                 "-w", "%{http_code}",
                 "http://%s:%d/echo" % (HOST, self.port)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=T(60))
            err = p.stderr.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 0, err)
            self.assertEqual(p.stdout, b"200", err)
            self.assertRegex(err, r"(?i)> transfer-encoding: chunked")
            with open(dst, "rb") as f:
                self.assertEqual(f.read(), data)

    def test_http_client_chunked_reuse(self):
        c = http.client.HTTPConnection(HOST, self.port, timeout=T(30))
        try:
            sock = None
            for i in range(6):
                parts = [pattern(1 + i * 997), b"x" * 65536,
                         pattern(3), pattern(200000 * (i % 2))]

                def gen():
                    yield from parts

                c.request("POST", "/echo", body=gen(),
                          headers={"Transfer-Encoding": "chunked"},
                          encode_chunked=True)
                r = c.getresponse()
                body = r.read()
                self.assertEqual(r.status, 200)
                self.assertEqual(body, b"".join(parts), "request %d" % i)
                self.assertFalse(r.will_close, r.getheaders())
                if sock is None:
                    sock = c.sock
                self.assertIs(c.sock, sock,
                              "http.client had to reconnect (request %d)" % i)
                c.request("GET", "/plaintext")
                r = c.getresponse()
                self.assertEqual(r.read(), HELLO)
                self.assertIs(c.sock, sock)
        finally:
            c.close()

    def test_http11_default_keepalive(self):
        with RawConn(self.port) as c:
            for i in range(5):
                c.send(request("GET", "/plaintext"))
                r = c.read_response()
                self.assertIsNotNone(r, "closed before request %d" % i)
                self.assertEqual(r.body, HELLO)
                self.assertFalse(r.has_token("Connection", "close"))
            self.assertTrue(c.is_open())

    def test_pipelined_order(self):
        sizes = [0, 1, 2, 17, 100, 1000, 4095, 4096, 4097, 65535, 65536,
                 65537, 100000, 262144, 300001, 1048576, 7, 12345, 2000000,
                 3]
        self.assertEqual(len(set(sizes)), 20)
        with RawConn(self.port, timeout=60) as c:
            c.send(b"".join(request("GET", "/bytes/%d" % n) for n in sizes))
            rs = c.read_responses(20)
            self.assertEqual(len(rs), 20)
            for n, r in zip(sizes, rs):
                self.assertEqual(r.status, 200)
                self.assertEqual(len(r.body), n, "responses out of order?")
            c.send(request("GET", "/plaintext"))
            self.assertEqual(c.read_response().body, HELLO)

    def test_pipelined_mixed(self):
        a, b = pattern(5000), pattern(70001)
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                           for p in (b[:1], b[1:40000], b[40000:])) + \
            b"0\r\n\r\n"
        data = (request("GET", "/plaintext")
                + request("POST", "/echo", body=a)
                + request("GET", "/json")
                + request("POST", "/echo",
                          [("Transfer-Encoding", "chunked")]) + chunked
                + request("HEAD", "/plaintext")
                + request("GET", "/bytes/10"))
        with RawConn(self.port) as c:
            c.send(data)
            rs = c.read_responses(6, heads={4})
            self.assertEqual([r.status for r in rs], [200] * 6)
            self.assertEqual(rs[0].body, HELLO)
            self.assertEqual(rs[1].body, a)
            self.assertEqual(json.loads(rs[2].body),
                             {"message": "Hello, World!"})
            self.assertEqual(rs[3].body, b)
            self.assertEqual(rs[4].header("Content-Length"), "13")
            self.assertEqual(len(rs[5].body), 10)

    def test_pipelined_byte_by_byte(self):
        data = request("GET", "/plaintext") + request(
            "POST", "/echo", body=b"split") + request("GET", "/json")
        with RawConn(self.port) as c:
            for i in range(len(data)):
                c.send(data[i:i + 1])
            rs = c.read_responses(3)
            self.assertEqual([r.body for r in rs],
                             [HELLO, b"split", b'{"message":"Hello, World!"}'])


class Semantics(ServerTestCase):

    def test_head_same_headers_no_body(self):
        for target in ("/plaintext", "/json", "/bytes/1000", "/"):
            with RawConn(self.port) as c:
                c.send(request("GET", target) + request("HEAD", target)
                       + request("GET", "/plaintext"))
                g, h, after = c.read_responses(3, heads={1})
                self.assertEqual(g.status, 200, target)
                self.assertEqual(h.status, 200, target)

                def norm(r):
                    return sorted((k.lower(), v) for k, v in r.headers
                                  if k.lower() != "date")
                self.assertEqual(norm(h), norm(g), target)
                self.assertEqual(h.body, b"")
                # The GET after the HEAD parsed cleanly: no body was sent.
                self.assertEqual(after.body, HELLO, target)

    def test_head_error_answers_have_no_body(self):
        # 404 and 405 to HEAD: headers only (RFC 9110 9.3.2).
        for target in ("/nowhere", "/echo"):
            with RawConn(self.port) as c:
                c.send(request("HEAD", target) + request("GET", "/plaintext"))
                h, after = c.read_responses(2, heads={0})
                self.assertGreaterEqual(h.status, 400, target)
                self.assertEqual(after.body, HELLO,
                                 "HEAD %s: a body was sent" % target)

    def test_head_large(self):
        n = 8 * 1024 * 1024
        with RawConn(self.port) as c:
            c.send(request("HEAD", "/bytes/%d" % n)
                   + request("GET", "/plaintext"))
            h, after = c.read_responses(2, heads={0})
            self.assertEqual(h.status, 200)
            if not h.header("Transfer-Encoding"):
                self.assertEqual(h.header("Content-Length"), str(n))
            self.assertEqual(after.body, HELLO)

    def test_expect_100_continue(self):
        body = b"continued body"
        with RawConn(self.port) as c:
            c.send(request("POST", "/echo", [
                ("Expect", "100-continue"),
                ("Content-Length", str(len(body)))]))
            r = c.read_response(skip_interim=False)
            self.assertEqual(r.status, 100,
                             "server must send 100 Continue before the body")
            self.assertEqual(r.raw.split(b"\r\n")[0], b"HTTP/1.1 100 Continue")
            c.send(body)
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)
            # The connection is still good.
            c.send(request("GET", "/plaintext"))
            self.assertEqual(c.read_response().body, HELLO)

    def test_expect_100_continue_every_time(self):
        # Each request that expects 100 gets its own interim answer: on new
        # connections and on a reused one.
        for i in range(4):
            with RawConn(self.port) as c:
                for j in range(2):
                    c.send(request("POST", "/echo", [
                        ("Expect", "100-continue"), ("Content-Length", "3")]))
                    r = c.read_response(skip_interim=False)
                    self.assertEqual(r.status, 100,
                                     "connection %d, request %d: got %r"
                                     % (i, j, r))
                    c.send(b"abc")
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, b"abc"))

    def test_expect_100_body_sent_at_once(self):
        # A client that does not wait still gets its answer.
        with RawConn(self.port) as c:
            c.send(request("POST", "/echo", [("Expect", "100-continue")],
                           body=b"eager"))
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"eager"))

    def test_expect_100_continue_chunked(self):
        with RawConn(self.port) as c:
            c.send(request("POST", "/echo", [
                ("Expect", "100-continue"),
                ("Transfer-Encoding", "chunked")]))
            r = c.read_response(skip_interim=False)
            self.assertEqual(r.status, 100)
            c.send(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"abcde"))

    def test_http10_closes_by_default(self):
        with RawConn(self.port) as c:
            c.send(b"GET /plaintext HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, HELLO)
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertFalse(r.has_token("Connection", "keep-alive"))
            self.assertEqual(c.wait_closed(timeout=5), b"")
            self.assertFalse(c.reset, "reset instead of a clean close")

    def test_http10_keepalive(self):
        with RawConn(self.port) as c:
            for i in range(3):
                c.send(b"GET /plaintext HTTP/1.0\r\n"
                       b"Connection: keep-alive\r\n\r\n")
                r = c.read_response()
                self.assertIsNotNone(r, "closed before request %d" % i)
                self.assertEqual(r.body, HELLO)
                # A 1.0 client needs to be told (RFC 9112 C.2.2).
                self.assertTrue(r.has_token("Connection", "keep-alive"),
                                r.headers)
            self.assertTrue(c.is_open())

    def test_http10_no_chunked_response(self):
        # RFC 9112 6.1: no Transfer-Encoding in answers to HTTP/1.0.
        data = pattern(150000)
        with RawConn(self.port) as c:
            c.send(b"GET /bytes/300000 HTTP/1.0\r\n"
                   b"Connection: keep-alive\r\n\r\n")
            r = c.read_response()
            self.assertEqual(len(r.body), 300000)
            self.assertIsNone(r.header("Transfer-Encoding"), r.headers)
            c.send(b"POST /echo HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s"
                   % (len(data), data))
            r = c.read_response()
            self.assertEqual(r.body, data)
            self.assertIsNone(r.header("Transfer-Encoding"), r.headers)

    def test_connection_close_both_ways(self):
        with RawConn(self.port) as c:
            c.send(request("GET", "/plaintext", [("Connection", "close")]))
            r = c.read_response()
            self.assertEqual(r.body, HELLO)
            self.assertTrue(r.has_token("Connection", "close"), r.headers)
            self.assertEqual(c.wait_closed(timeout=5), b"")
            self.assertFalse(c.reset, "reset instead of a clean close")

    def test_connection_close_ignores_pipelined_rest(self):
        with RawConn(self.port) as c:
            c.send(request("GET", "/json", [("Connection", "close")])
                   + request("GET", "/plaintext")
                   + request("GET", "/plaintext"))
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(r.has_token("Connection", "close"), r.headers)
            self.assertEqual(c.wait_closed(timeout=5), b"",
                             "answered requests after Connection: close")

    def test_connection_close_spellings(self):
        # Token match is case-insensitive, in a list, and OWS (SP or HTAB)
        # around the value is not part of it (RFC 9110 5.5, 5.6.1, 7.6.1).
        for value in (b"Close", b"foo, close", b"keep-alive, close",
                      b"close ", b"close\t", b"\tclose"):
            with RawConn(self.port) as c:
                c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: "
                       + value + b"\r\n\r\n" + request("GET", "/json"))
                r = c.read_response()
                self.assertTrue(r.has_token("Connection", "close"),
                                "Connection: %r -> %r" % (value, r.headers))
                self.assertEqual(c.wait_closed(timeout=5), b"",
                                 "Connection: %r: answered the next "
                                 "request" % value)

    def test_date_header(self):
        cases = [request("GET", "/plaintext"), request("GET", "/nowhere"),
                 request("POST", "/echo", body=b"x"),
                 request("HEAD", "/json"), request("GET", "/bytes/5")]
        with RawConn(self.port) as c:
            c.send(b"".join(cases))
            rs = c.read_responses(len(cases), heads={3})
            self.assertEqual(len(rs), len(cases))
            for r in rs:
                dates = r.header_all("Date")
                self.assertEqual(len(dates), 1, r.headers)
                self.assertRegex(dates[0], IMF_FIXDATE)
                t = email.utils.parsedate_to_datetime(dates[0]).timestamp()
                self.assertLess(abs(t - time.time()), T(30), dates[0])

    def test_upgrade_not_switched(self):
        with RawConn(self.port) as c:
            c.send(request("GET", "/plaintext", [
                ("Connection", "Upgrade"), ("Upgrade", "websocket"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13")]))
            r = c.read_response(skip_interim=False)
            self.assertIsNotNone(r)
            self.assertNotEqual(r.status, 101)
            self.assertFalse(100 <= r.status < 200, r.status)
            # Still HTTP: the next request gets an HTTP answer (or the
            # server closed; never raw protocol bytes).
            if c.try_send(request("GET", "/json")):
                r2 = c.read_response()
                if r2 is not None:
                    self.assertEqual(r2.status, 200)
                    self.assertEqual(json.loads(r2.body),
                                     {"message": "Hello, World!"})

    def test_h2c_upgrade_not_switched(self):
        with RawConn(self.port) as c:
            c.send(request("GET", "/plaintext", [
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]))
            r = c.read_response(skip_interim=False)
            self.assertNotEqual(r.status, 101)
            if r.status == 200:
                self.assertEqual(r.body, HELLO)

    def test_connect_not_switched(self):
        with RawConn(self.port) as c:
            c.send(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
            r = c.read_response(skip_interim=False)
            self.assertIsNotNone(r, "no answer to CONNECT")
            self.assertNotEqual(r.status, 101)
            self.assertFalse(200 <= r.status < 300,
                             "a 2xx to CONNECT opens a tunnel: %d" % r.status)
            if c.try_send(request("GET", "/plaintext")):
                try:
                    r2 = c.read_response()
                except weftproc.Closed:
                    r2 = None
                if r2 is not None:
                    self.assertEqual(r2.body, HELLO)

    def test_trailers_not_body_not_framing(self):
        # Trailers are consumed, never part of the body, and a framing
        # header among them changes nothing.
        body = (b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
                b"X-Trailer: yes\r\nContent-Length: 3\r\n\r\n")
        with RawConn(self.port) as c:
            c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked"),
                                             ("Trailer", "X-Trailer")])
                   + body + request("GET", "/plaintext"))
            r1, r2 = c.read_responses(2)
            self.assertEqual((r1.status, r1.body), (200, b"hello world"))
            self.assertEqual(r2.body, HELLO)

    def test_chunk_extensions_ignored(self):
        body = b"3;name=value\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n"
        with RawConn(self.port) as c:
            c.send(request("POST", "/echo", [("Transfer-Encoding", "chunked")])
                   + body)
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"abcde"))

    def test_slow_client_split_head(self):
        data = request("POST", "/echo", body=b"0123456789")
        with RawConn(self.port) as c:
            for piece in (data[:3], data[3:20], data[20:-4], data[-4:]):
                c.send(piece)
                time.sleep(0.05)  # separate segments on purpose
            r = c.read_response()
            self.assertEqual(r.body, b"0123456789")


class CommandLine(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        binary_or_skip()

    def assert_one_stderr_line(self, err):
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one line on stderr: %r"
                         % err)

    def test_help(self):
        status, out, err = run_weft(["--help"])
        self.assertEqual(status, 0, err)
        self.assertRegex(out + err, r"(?i)usage")
        self.assertIn("--port", out + err)
        self.assertNotIn("listening on", out)

    def test_serve_help(self):
        status, out, err = run_weft(["serve", "--help"])
        self.assertEqual(status, 0, err)
        self.assertRegex(out + err, r"(?i)usage")

    def test_version(self):
        status, out, err = run_weft(["--version"])
        self.assertEqual(status, 0, err)
        self.assertRegex(out, r"[0-9]+\.[0-9]+\.[0-9]+")
        self.assertNotIn("listening on", out)

    def test_bad_flags(self):
        for args in (["--no-such-flag"], ["serve", "--bogus"],
                     ["serve", "--port"], ["serve", "--port", "http"],
                     ["serve", "--port", "65536"], ["serve", "--port", "-1"],
                     ["serve", "--host", "not an address", "--port", "0"],
                     ["serve", "--threads", "zero"],
                     ["no-such-command"]):
            status, out, err = run_weft(args)
            self.assertEqual(status, 2, "%s: status %s, stderr %r"
                             % (args, status, err))
            self.assert_one_stderr_line(err)
            self.assertNotIn("listening on", out, args)

    def test_threads_other_than_one(self):
        # N loops, one SO_REUSEPORT socket each: every one must serve, and
        # the server must stop cleanly.
        for n in ("4", "2"):
            s = WeftServer(["--threads", n])
            try:
                s.start()
                for i in range(8):
                    self.assertEqual(get_once(s.port).body, HELLO)
                with RawConn(s.port) as c:
                    c.send(request("GET", "/bytes/100000") * 4)
                    rs = c.read_responses(4)
                    self.assertEqual([len(r.body) for r in rs], [100000] * 4)
            finally:
                rc = s.stop()
            self.assertEqual(rc, 0, s.stderr())

    def test_threads_one_serves(self):
        with WeftServer(["--threads", "1"]) as s:
            self.assertEqual(get_once(s.port).body, HELLO)

    def test_first_line(self):
        with WeftServer() as s:
            self.assertEqual(s.first_line,
                             "listening on http://127.0.0.1:%d/" % s.port)
            self.assertGreater(s.port, 0)
            self.assertEqual(get_once(s.port).body, HELLO)

    def test_port_in_use(self):
        with WeftServer() as first:
            status, out, err = run_weft(["serve", "--host", HOST, "--port",
                                         str(first.port)])
            self.assertEqual(status, 2, err)
            self.assertRegex(err, r"(?i)in use")
            self.assert_one_stderr_line(err)
            # The first one is unharmed.
            self.assertEqual(get_once(first.port).body, HELLO)

    def test_port_taken_by_foreign_listener(self):
        s = socket.socket()
        try:
            s.bind((HOST, 0))
            s.listen(1)
            port = s.getsockname()[1]
            status, out, err = run_weft(["serve", "--host", HOST, "--port",
                                         str(port)])
            self.assertEqual(status, 2, err)
            self.assertRegex(err, r"(?i)in use")
        finally:
            s.close()

    def test_no_arguments_serves_8080(self):
        if not port_is_free(8080):
            self.skipTest("127.0.0.1:8080 is busy")
        with WeftServer(cmd=[weftproc.weft_bin()]) as s:
            self.assertEqual(s.first_line, "listening on http://127.0.0.1:8080/")
            self.assertEqual(get_once(8080).body, HELLO)

    def test_sigint_clean_stop(self):
        s = WeftServer().start()
        try:
            self.assertEqual(get_once(s.port).body, HELLO)
            s.send_signal(signal.SIGINT)
            self.assertEqual(s.wait(T(10)), 0, s.stderr())
        finally:
            s.stop()

    def test_sigterm_clean_stop_with_idle_connection(self):
        s = WeftServer().start()
        try:
            with RawConn(s.port) as c:
                c.send(request("GET", "/plaintext"))
                self.assertEqual(c.read_response().body, HELLO)
                s.send_signal(signal.SIGTERM)
                self.assertEqual(s.wait(T(10)), 0, s.stderr())
                # The idle keep-alive connection was closed, not left hanging.
                self.assertEqual(c.wait_closed(timeout=5), b"")
        finally:
            s.stop()
        # And nothing listens there any more.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((HOST, s.port), timeout=T(5)).close()


if __name__ == "__main__":
    weftproc.take_bin_from_argv()
    unittest.main()
