#!/usr/bin/env python3
"""The demo's /upload: a request body read as a stream (issue 9).

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_http_upload.py [-v]

Bodies far larger than --max-body-size (the route's own limit is 1 GiB)
with Content-Length and chunked, from http.client and curl, answered with
their size and FNV-1a hash while the server's memory stays flat; 413 at
once past the route's limit; keep-alive after an upload.
"""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from weftproc import HOST, RawConn, T  # noqa: E402
from e2ecommon import ServerTestCase  # noqa: E402

FNV_START = 0xcbf29ce484222325
MASK = (1 << 64) - 1
BLOCK = bytes((i * 7 + 3) % 256 for i in range(64 * 1024))


def fnv1a(data, h=FNV_START):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & MASK
    return h


def blocks(n):
    """n bytes as 64 KiB blocks of a fixed pattern."""
    while n > 0:
        yield BLOCK[:min(n, len(BLOCK))]
        n -= len(BLOCK)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class RssWatch(threading.Thread):
    """Samples a process's RSS every 20 ms until stopped; keeps the peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, rss_kib(pid), threading.Event()

    def run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


class Upload(ServerTestCase):

    def upload(self, body, headers):
        c = http.client.HTTPConnection(HOST, self.port, timeout=T(120))
        try:
            c.request("POST", "/upload", body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def check_flat(self, size, chunked):
        base = rss_kib(self.server.pid)
        watch = RssWatch(self.server.pid)
        watch.start()
        headers = {} if chunked else {"Content-Length": str(size)}
        status, body = self.upload(blocks(size), headers)
        peak = watch.stop()
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["bytes"], size)
        grew = peak - base
        print("  %d MiB %s: RSS %d KiB -> peak %d KiB"
              % (size >> 20, "chunked" if chunked else "with length", base,
                 peak), file=sys.stderr)
        self.assertLess(grew, 32 * 1024 * max(1, T(1)),
                        "RSS grew by %d KiB for a %d MiB body" % (grew, size >> 20))

    def test_hash_with_length(self):
        data = b"".join(blocks(3 * 1024 * 1024 + 17))
        status, body = self.upload(data, {"Content-Length": str(len(data))})
        self.assertEqual(status, 200)
        got = json.loads(body)
        self.assertEqual(got["bytes"], len(data))
        self.assertEqual(got["fnv1a64"], "%016x" % fnv1a(data))

    def test_hash_chunked(self):
        data = b"".join(blocks(1024 * 1024 + 5))
        status, body = self.upload(iter([data[:1000], data[1000:]]), {})
        self.assertEqual(status, 200)
        got = json.loads(body)
        self.assertEqual(got["bytes"], len(data))
        self.assertEqual(got["fnv1a64"], "%016x" % fnv1a(data))

    def test_200_mib_with_length_in_flat_memory(self):
        self.check_flat(200 << 20, chunked=False)

    def test_200_mib_chunked_in_flat_memory(self):
        self.check_flat(200 << 20, chunked=True)

    def test_curl_upload_file(self):
        if not shutil.which("curl"):
            self.fail("curl not found (scripts/deps.sh test installs it)")
        with tempfile.NamedTemporaryFile() as f:
            for b in blocks(5 << 20):
                f.write(b)
            f.flush()
            out = subprocess.run(
                ["curl", "-sS", "-T", f.name, "-X", "POST",
                 "http://%s:%d/upload" % (HOST, self.port)],
                capture_output=True, timeout=T(60))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["bytes"], 5 << 20)

    def test_past_the_route_limit_is_413_at_once(self):
        status, body = self.upload(b"x", {"Content-Length": "2000000000"})
        self.assertEqual(status, 413)

    def test_keep_alive_after_an_upload(self):
        with RawConn(self.port) as c:
            c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                   b"\r\nhello")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(json.loads(r.body)["bytes"], 5)
            c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"Hello, World!")


if __name__ == "__main__":
    unittest.main()
