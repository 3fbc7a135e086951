"""Shared bits of the e2e unittest suites (server per test class)."""

import http.client
import os
import shutil
import time
import unittest

import weftproc
from weftproc import HOST, T, WeftServer


def wait_for(pred, timeout, what):
    """pred()'s first true value within T(timeout) seconds, else fail."""
    deadline = time.monotonic() + T(timeout)
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("%s: not within %.1fs" % (what, T(timeout)))


def get(port, target, timeout=10):
    """One GET on a fresh connection: (status, body)."""
    c = http.client.HTTPConnection(HOST, port, timeout=T(timeout))
    try:
        c.request("GET", target)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def binary_or_skip():
    """The weft binary; a missing one fails when WEFT_BIN names it (CTest),
    and skips when only the default path was guessed (a manual run)."""
    path = weftproc.weft_bin()
    if os.access(path, os.X_OK):
        return path
    if os.environ.get("WEFT_BIN"):
        raise RuntimeError("WEFT_BIN=%s is not an executable" % path)
    raise unittest.SkipTest("no weft binary at %s (set WEFT_BIN)" % path)


def curl_or_skip(testcase):
    path = shutil.which("curl")
    if not path:
        testcase.skipTest("curl not installed")
    return path


class ServerTestCase(unittest.TestCase):
    """Starts one `weft serve --host 127.0.0.1 --port 0` for the class and
    checks it is still alive after each test and stops with status 0."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        binary_or_skip()
        cls.server = WeftServer(cls.server_args)
        cls.server.start()
        cls.port = cls.server.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.server.stop()
        killed = getattr(cls.server, "killed", False)
        if killed or rc != 0:
            raise AssertionError(
                "weft did not stop cleanly on SIGTERM: status %s%s; stderr: %s"
                % (rc, " (needed SIGKILL)" if killed else "",
                   cls.server.stderr()[-2000:]))

    def tearDown(self):
        if not self.server.alive():
            self.fail("weft died (status %s); stderr: %s"
                      % (self.server.proc.returncode,
                         self.server.stderr()[-2000:]))
