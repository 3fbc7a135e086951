#!/usr/bin/env python3
"""`weft serve DIR`: static files (issue 10).

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_static.py [-v]

Index files and MIME types, validators and 304s, single byte ranges (206,
416, several ranges as 200), directories (301 to the slash, no listing
unless --listing), a list of path escapes (dot segments, encoded slashes
and dots, backslashes, NUL, symlinks out of DIR: never a 200, never a byte
from outside), a FIFO that must not hang the loop, and a 1 MiB file sent
intact to many clients at once, from the page cache and from disk.
"""

import hashlib
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import HOST, RawConn, T, run_weft  # noqa: E402
from e2ecommon import ServerTestCase, binary_or_skip, curl_or_skip  # noqa: E402

SECRET = b"SECRET-OUTSIDE-THE-ROOT"
BIG = bytes((i * 131 + (i >> 10)) % 251 for i in range(1024 * 1024))
HELLO = b"hello world\n"


def make_tree():
    """A temporary directory: site/ (served) beside secret.txt (not)."""
    top = tempfile.mkdtemp(prefix="weft-static-")
    site = os.path.join(top, "site")
    os.makedirs(os.path.join(site, "docs"))
    os.makedirs(os.path.join(site, "sub", "deeper"))
    files = {
        "index.html": b"<h1>home</h1>\n",
        "hello.txt": HELLO,
        "big.bin": BIG,
        "style.CSS": b"body{}\n",
        "docs/index.html": b"<h1>docs</h1>\n",
        "sub/a.txt": b"a\n",
        "sub/<b>&'.txt": b"odd name\n",
        "space name.txt": b"spaced\n",
        "empty.txt": b"",
        "noext": b"x",
    }
    for name, data in files.items():
        with open(os.path.join(site, name), "wb") as f:
            f.write(data)
    with open(os.path.join(top, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink("hello.txt", os.path.join(site, "inside-link"))
    os.symlink("../secret.txt", os.path.join(site, "escape-link"))
    os.symlink(os.path.join(top, "secret.txt"), os.path.join(site, "abs-link"))
    os.symlink("..", os.path.join(site, "dir-escape"))
    os.symlink("/etc", os.path.join(site, "etc-link"))
    os.symlink("../../secret.txt", os.path.join(site, "sub", "deep-escape"))
    os.mkfifo(os.path.join(site, "fifo"))
    return top, site


def drop_from_cache(path):
    """Out of the page cache (written back first: dirty pages stay)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def disk_reads_by_thread(pid):
    """Bytes each of the server's threads made the disk read, by thread
    name ("weft-http-0", "weft-job-1"...): /proc/PID/task/TID/io."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            with open("/proc/%d/task/%s/io" % (pid, tid)) as f:
                io = dict(line.split(": ") for line in f.read().splitlines())
        except OSError:
            continue
        out[name] = out.get(name, 0) + int(io["read_bytes"])
    return out


def get(port, target, headers=None, method="GET"):
    c = http.client.HTTPConnection(HOST, port, timeout=T(10))
    try:
        c.request(method, target, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


class StaticBase(ServerTestCase):
    extra_args = ()

    @classmethod
    def setUpClass(cls):
        binary_or_skip()
        cls.top, cls.site = make_tree()
        cls.server_args = [cls.site, "--pool", "2"] + list(cls.extra_args)
        try:
            super().setUpClass()
        except BaseException:
            shutil.rmtree(cls.top, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.top, ignore_errors=True)


class Files(StaticBase):
    def test_index_and_types(self):
        s, h, b = get(self.port, "/")
        self.assertEqual((s, b), (200, b"<h1>home</h1>\n"))
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        s, h, b = get(self.port, "/hello.txt")
        self.assertEqual((s, b), (200, HELLO))
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(h["accept-ranges"], "bytes")
        self.assertEqual(h["content-length"], str(len(HELLO)))
        self.assertTrue(h["etag"].startswith('"'))
        self.assertTrue(h["last-modified"].endswith(" GMT"))
        self.assertEqual(get(self.port, "/style.CSS")[1]["content-type"],
                         "text/css; charset=utf-8")
        self.assertEqual(get(self.port, "/noext")[1]["content-type"],
                         "application/octet-stream")
        self.assertEqual(get(self.port, "/space%20name.txt")[2], b"spaced\n")
        s, h, b = get(self.port, "/empty.txt")
        self.assertEqual((s, b, h["content-length"]), (200, b"", "0"))

    def test_head_and_missing(self):
        s, h, b = get(self.port, "/hello.txt", method="HEAD")
        self.assertEqual((s, b, h["content-length"]), (200, b"", str(len(HELLO))))
        self.assertEqual(get(self.port, "/nope.txt")[0], 404)
        self.assertEqual(get(self.port, "/hello.txt/more")[0], 404)
        self.assertEqual(get(self.port, "/hello.txt", method="POST")[0], 405)

    def test_conditional(self):
        _, h, _ = get(self.port, "/hello.txt")
        etag, lm = h["etag"], h["last-modified"]
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            s, h2, b = get(self.port, "/hello.txt", {"If-None-Match": inm})
            self.assertEqual((s, b), (304, b""), inm)
            self.assertEqual(h2["etag"], etag)
            self.assertNotIn("content-length", h2)
        self.assertEqual(get(self.port, "/hello.txt", {"If-None-Match": '"nope"'})[0], 200)
        self.assertEqual(get(self.port, "/hello.txt", {"If-Modified-Since": lm})[0], 304)
        old = "Sun, 06 Nov 1994 08:49:37 GMT"
        self.assertEqual(get(self.port, "/hello.txt", {"If-Modified-Since": old})[0], 200)
        # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        s = get(self.port, "/hello.txt", {"If-None-Match": '"nope"', "If-Modified-Since": lm})[0]
        self.assertEqual(s, 200)
        # If-Match / If-Unmodified-Since: 412 when the client meant another version
        self.assertEqual(get(self.port, "/hello.txt", {"If-Match": etag})[0], 200)
        self.assertEqual(get(self.port, "/hello.txt", {"If-Match": '"other"'})[0], 412)
        self.assertEqual(get(self.port, "/hello.txt", {"If-Match": "W/" + etag})[0], 412)
        self.assertEqual(get(self.port, "/hello.txt", {"If-Unmodified-Since": lm})[0], 200)
        self.assertEqual(get(self.port, "/hello.txt", {"If-Unmodified-Since": old})[0], 412)
        # a changed file gets a new tag
        path = os.path.join(self.site, "changing.txt")
        with open(path, "wb") as f:
            f.write(b"one")
        e1 = get(self.port, "/changing.txt")[1]["etag"]
        with open(path + ".new", "wb") as f:
            f.write(b"two")
        os.rename(path + ".new", path)
        s, h, b = get(self.port, "/changing.txt", {"If-None-Match": e1})
        self.assertEqual((s, b), (200, b"two"))
        self.assertNotEqual(h["etag"], e1)

    def test_ranges(self):
        n = len(HELLO)
        cases = [
            ("bytes=0-4", 206, HELLO[0:5], "bytes 0-4/%d" % n),
            ("bytes=6-", 206, HELLO[6:], "bytes 6-%d/%d" % (n - 1, n)),
            ("bytes=-3", 206, HELLO[-3:], "bytes %d-%d/%d" % (n - 3, n - 1, n)),
            ("bytes=5-1000", 206, HELLO[5:], "bytes 5-%d/%d" % (n - 1, n)),
            ("bytes=-1000", 206, HELLO, "bytes 0-%d/%d" % (n - 1, n)),
            ("bytes=0-1,4-5", 200, HELLO, None),
            ("bytes=x-y", 200, HELLO, None),
            ("bytes=5-2", 200, HELLO, None),
            ("items=0-1", 200, HELLO, None),
        ]
        for rng, status, body, cr in cases:
            s, h, b = get(self.port, "/hello.txt", {"Range": rng})
            self.assertEqual((s, b), (status, body), rng)
            self.assertEqual(h.get("content-range"), cr, rng)
        for rng in ("bytes=12-", "bytes=100-200", "bytes=-0"):
            s, h, _ = get(self.port, "/hello.txt", {"Range": rng})
            self.assertEqual((s, h.get("content-range")), (416, "bytes */%d" % n), rng)
        s, h, b = get(self.port, "/big.bin", {"Range": "bytes=500000-500099"})
        self.assertEqual((s, b), (206, BIG[500000:500100]))
        _, h, _ = get(self.port, "/hello.txt")
        s, _, b = get(self.port, "/hello.txt", {"Range": "bytes=0-4", "If-Range": h["etag"]})
        self.assertEqual((s, b), (206, HELLO[:5]))
        s, _, b = get(self.port, "/hello.txt", {"Range": "bytes=0-4", "If-Range": '"old"'})
        self.assertEqual((s, b), (200, HELLO))
        s, _, b = get(self.port, "/hello.txt",
                      {"Range": "bytes=0-4", "If-Range": h["last-modified"]})
        self.assertEqual((s, b), (206, HELLO[:5]))

    def test_directories(self):
        s, h, _ = get(self.port, "/docs?x=1")
        self.assertEqual((s, h["location"]), (301, "/docs/?x=1"))
        self.assertEqual(get(self.port, "/docs/")[2], b"<h1>docs</h1>\n")
        self.assertEqual(get(self.port, "/docs/index.html")[2], b"<h1>docs</h1>\n")
        self.assertEqual(get(self.port, "/sub/")[0], 404)  # no index, no listing
        self.assertEqual(get(self.port, "/sub/a.txt")[2], b"a\n")
        self.assertEqual(get(self.port, "/inside-link")[2], HELLO)

    def test_escapes_never_leave_the_directory(self):
        targets = [
            "/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
            "/sub/../../secret.txt", "/sub/..%2f..%2fsecret.txt", "/sub%2f..%2f..%2fsecret.txt",
            "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt", "/.%2e/secret.txt", "/..%5csecret.txt",
            "/sub/..%5c..%5csecret.txt", "/%5c..%5csecret.txt", "/escape-link", "/abs-link",
            "/dir-escape/secret.txt", "/dir-escape/site/hello.txt", "/etc-link/passwd",
            "/sub/deep-escape", "/hello.txt%00.html", "/%00", "/./hello.txt", "/sub/./a.txt",
            "/sub/../hello.txt", "//etc/passwd", "/%2fetc%2fpasswd", "/proc/self/root/etc/passwd",
            "/%c0%ae%c0%ae/secret.txt", "/..%c0%afsecret.txt", "/sub/%2e%2e/hello.txt",
        ]
        for t in targets:
            with RawConn(self.port) as c:
                c.send(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t).encode())
                r = c.read_response()
            self.assertNotEqual(r.status, 200, t)
            self.assertIn(r.status, (400, 404), t)
            self.assertNotIn(SECRET, r.body, t)
            self.assertNotIn(b"root:", r.body, t)
        # a raw backslash in the target: the parser or the handler refuses it
        with RawConn(self.port) as c:
            c.send(b"GET /sub\\..\\..\\secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            r = c.read_response()
        self.assertIn(r.status, (400, 404))

    def test_fifo_does_not_hang(self):
        t0 = time.monotonic()
        self.assertEqual(get(self.port, "/fifo")[0], 404)
        self.assertLess(time.monotonic() - t0, T(5))
        self.assertEqual(get(self.port, "/hello.txt")[2], HELLO)

    def assert_read_on_the_pool(self, before, size):
        """The disk reads since `before` were made by pool threads, never
        by a loop thread (a loop must not wait for the disk)."""
        after = disk_reads_by_thread(self.server.pid)
        grew = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
        loops = {k: v for k, v in grew.items() if k.startswith("weft-http")}
        self.assertEqual(loops, {}, grew)
        self.assertGreaterEqual(sum(grew.values()), size, grew)

    def big_clients(self, clients, rounds):
        want = hashlib.sha256(BIG).hexdigest()
        errors = []

        def client():
            try:
                c = http.client.HTTPConnection(HOST, self.port, timeout=T(30))
                for _ in range(rounds):
                    c.request("GET", "/big.bin")
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or hashlib.sha256(body).hexdigest() != want:
                        errors.append((r.status, len(body)))
                c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(T(120))
        self.assertEqual(errors, [])

    def test_big_file_intact_under_load(self):
        self.big_clients(clients=16, rounds=8)

    def test_big_file_from_disk(self):
        """Pages dropped from the cache: the pool reads them, the loop sends."""
        before = disk_reads_by_thread(self.server.pid)
        for _ in range(5):
            drop_from_cache(os.path.join(self.site, "big.bin"))
            self.big_clients(clients=4, rounds=1)
        self.assert_read_on_the_pool(before, len(BIG))

    def test_huge_file_from_disk_streams(self):
        """Above 8 MiB and not cached: read by the pool 256 KiB at a time."""
        huge = bytes((i * 7 + (i >> 12)) % 253 for i in range(9 * 1024 * 1024 + 123))
        path = os.path.join(self.site, "huge.bin")
        with open(path, "wb") as f:
            f.write(huge)
        want = hashlib.sha256(huge).hexdigest()
        errors = []

        def client():
            s, _, b = get(self.port, "/huge.bin")
            if s != 200 or hashlib.sha256(b).hexdigest() != want:
                errors.append((s, len(b)))

        before = disk_reads_by_thread(self.server.pid)
        for _ in range(3):
            drop_from_cache(path)
            threads = [threading.Thread(target=client) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(T(60))
        self.assertEqual(errors, [])
        self.assert_read_on_the_pool(before, len(huge))
        drop_from_cache(path)
        first = 8 * 1024 * 1024 - 5
        s, h, b = get(self.port, "/huge.bin", {"Range": "bytes=%d-" % 1000})
        self.assertEqual((s, b), (206, huge[1000:]))
        self.assertEqual(get(self.port, "/huge.bin", {"Range": "bytes=%d-%d" % (first, first + 9)})[2],
                         huge[first:first + 10])

    def test_curl(self):
        curl = curl_or_skip(self)
        out = subprocess.run([curl, "-sS", "-o", "-", "http://%s:%d/big.bin" % (HOST, self.port)],
                             capture_output=True, timeout=T(30))
        self.assertEqual(out.stdout, BIG)
        out = subprocess.run([curl, "-sS", "-r", "100-199", "http://%s:%d/big.bin"
                              % (HOST, self.port)], capture_output=True, timeout=T(30))
        self.assertEqual(out.stdout, BIG[100:200])


class Listing(StaticBase):
    extra_args = ("--listing", "--max-age", "60s")

    def test_listing(self):
        s, h, b = get(self.port, "/sub/")
        self.assertEqual(s, 200)
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        self.assertIn(b'<a href="a.txt">a.txt</a>', b)
        self.assertIn(b'<a href="deeper/">deeper/</a>', b)
        self.assertIn(b'href="%3Cb%3E%26%27.txt">&#60;b&#62;&#38;&#39;.txt<', b)
        self.assertNotIn(b"<b>", b)
        self.assertEqual(get(self.port, "/")[2], b"<h1>home</h1>\n")  # index wins
        self.assertEqual(get(self.port, "/hello.txt")[1]["cache-control"], "max-age=60")


def plugin_paths():
    """The shipped request-id plugin and the example, from CTest's env."""
    paths = [os.environ.get("WEFT_PLUGIN_REQUEST_ID"), os.environ.get("WEFT_PLUGIN_HELLO")]
    if not all(paths):
        if os.environ.get("WEFT_BIN"):
            raise RuntimeError("WEFT_PLUGIN_REQUEST_ID / WEFT_PLUGIN_HELLO not set")
        raise unittest.SkipTest("set WEFT_PLUGIN_REQUEST_ID and WEFT_PLUGIN_HELLO")
    return paths


class Plugins(StaticBase):
    """Two plugins loaded with --plugin into the files app."""

    @classmethod
    def setUpClass(cls):
        request_id, hello = plugin_paths()
        cls.extra_args = ("--plugin", request_id, "--plugin=" + hello)
        super().setUpClass()

    def test_request_id_on_every_answer(self):
        ids = [get(self.port, "/hello.txt")[1]["x-request-id"] for _ in range(3)]
        self.assertEqual(len(set(ids)), 3)
        self.assertIn("x-request-id", get(self.port, "/nope")[1])  # 404s too
        h = get(self.port, "/hello.txt", {"X-Request-Id": "abc-123"})[1]
        self.assertEqual(h["x-request-id"], "abc-123")

    def test_hello_route_beside_the_files(self):
        self.assertEqual(get(self.port, "/hello/plugin")[2], b"hello from plugin-hello (1)\n")
        self.assertEqual(get(self.port, "/hello/plugin")[2], b"hello from plugin-hello (2)\n")
        self.assertEqual(get(self.port, "/hello.txt")[2], HELLO)


class Command(unittest.TestCase):
    def test_missing_dir(self):
        binary_or_skip()
        status, _, err = run_weft(["serve", "/nonexistent/weft-dir", "--port", "0"])
        self.assertEqual(status, 2)
        self.assertIn("/nonexistent/weft-dir", err)
        self.assertEqual(len(err.strip().splitlines()), 1)

    def test_bad_plugin(self):
        binary_or_skip()
        status, _, err = run_weft(["serve", "--port", "0", "--plugin", "/nonexistent/x.so"])
        self.assertEqual(status, 2)
        self.assertIn("/nonexistent/x.so", err)


if __name__ == "__main__":
    unittest.main()
