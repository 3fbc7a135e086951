#!/usr/bin/env python3
"""Request smuggling vectors and the Host rules: weft answers 400 and
closes the connection, and keeps serving everyone else.

    WEFT_BIN=build/apps/weft/weft python3 tests/e2e/test_http_strict.py [-v]

Each vector is sent whole on a fresh connection (and once more after a
good request on the same connection, to check the good one is answered
first). The server must answer 400 (with a Date), send nothing after it,
and close (recv returns b''), without a reset.
"""

import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftproc  # noqa: E402
from weftproc import RawConn, get_once, request  # noqa: E402
from e2ecommon import ServerTestCase  # noqa: E402

HELLO = b"Hello, World!"
GOOD = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"


def chunked_post(size_line, version=b"1.1", host=True):
    return (b"POST /echo HTTP/" + version + b"\r\n"
            + (b"Host: a\r\n" if host else b"")
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + size_line + b"\r\nhello\r\n0\r\n\r\n")


# name -> the bad request's bytes
VECTORS = {
    # Content-Length together with Transfer-Encoding (RFC 9112 6.1, 6.3)
    "cl_then_te": b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "te_then_cl": b"POST /echo HTTP/1.1\r\nHost: a\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n",
    "te_and_cl_zero": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
                      b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0\r\n\r\n",
    # Two different Content-Length values (RFC 9110 8.6, RFC 9112 6.3)
    "two_content_lengths": b"POST /echo HTTP/1.1\r\nHost: a\r\n"
                           b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n"
                           b"hello!",
    "content_length_list": b"POST /echo HTTP/1.1\r\nHost: a\r\n"
                           b"Content-Length: 5, 6\r\n\r\nhello!",
    # Chunked not the final transfer coding (RFC 9112 6.3 rule 4)
    "chunked_not_final": b"POST /echo HTTP/1.1\r\nHost: a\r\n"
                         b"Transfer-Encoding: chunked, gzip\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n",
    # obs-fold (RFC 9112 5.2)
    "obs_fold_space": b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n"
                      b" baz\r\n\r\n",
    "obs_fold_tab": b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n"
                    b"\tbaz\r\n\r\n",
    "obs_fold_host": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
    "space_before_first_header": b"GET /plaintext HTTP/1.1\r\n Host: a\r\n"
                                 b"\r\n",
    # Bare LF in the head (RFC 9112 2.2)
    "bare_lf_request_line": b"GET /plaintext HTTP/1.1\nHost: a\r\n\r\n",
    "bare_lf_header_line": b"GET /plaintext HTTP/1.1\r\nHost: a\nX-A: b\r\n"
                           b"\r\n",
    "bare_lf_end_of_head": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\n",
    "bare_lf_everywhere": b"GET /plaintext HTTP/1.1\nHost: a\n\n",
    # Bare CR in the head (RFC 9112 2.2)
    "bare_cr_in_value": b"GET /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n"
                        b"\r\n",
    "bare_cr_line_end": b"GET /plaintext HTTP/1.1\r\nX-A: b\rHost: a\r\n\r\n",
    "bare_cr_request_line": b"GET /plaintext\r HTTP/1.1\r\nHost: a\r\n\r\n",
    "bare_cr_after_version": b"GET /plaintext HTTP/1.1\rHost: a\r\n\r\n",
    "bare_cr_end_of_head": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\r\n",
    # Invalid chunk sizes (RFC 9112 7.1)
    "chunk_size_not_hex": chunked_post(b"zz"),
    "chunk_size_negative": chunked_post(b"-5"),
    "chunk_size_0x": chunked_post(b"0x5"),
    "chunk_size_plus": chunked_post(b"+5"),
    "chunk_size_empty": chunked_post(b""),
    "chunk_size_leading_space": chunked_post(b" 5"),
    "chunk_size_overflow": chunked_post(b"1" + b"0" * 16),
    "chunk_size_huge_overflow": chunked_post(b"f" * 40),
    # Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1)
    "te_in_http10": chunked_post(b"5", version=b"1.0", host=False),
    "te_in_http10_with_host": chunked_post(b"5", version=b"1.0"),
    # Empty header name (RFC 9110 5.1: field-name = token)
    "empty_header_name": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n: value\r\n"
                         b"\r\n",
    "empty_header_name_no_space": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
                                  b":value\r\n\r\n",
    # Non-ASCII bytes in the target (RFC 9112 3.2, RFC 3986)
    "target_latin1": b"GET /plain\xfftext HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_utf8": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "target_query_8bit": b"GET /plaintext?q=\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
    # Host rules on HTTP/1.1 (RFC 9112 3.2)
    "host_missing": b"GET /plaintext HTTP/1.1\r\n\r\n",
    "host_missing_absolute_form": b"GET http://a/plaintext HTTP/1.1\r\n\r\n",
    "host_duplicate_different": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
                                b"Host: b\r\n\r\n",
    "host_duplicate_same": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
                           b"Host: a\r\n\r\n",
    "host_duplicate_case": b"GET /plaintext HTTP/1.1\r\nHost: a\r\n"
                           b"hOST: a\r\n\r\n",
    # A 400 to HEAD is headers only too (RFC 9110 9.3.2): no bytes follow.
    "head_host_missing": b"HEAD /plaintext HTTP/1.1\r\n\r\n",
    "head_host_duplicate": b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\n"
                           b"Host: b\r\n\r\n",
    "head_obs_fold": b"HEAD /plaintext HTTP/1.1\r\nHost: a\r\nX-A: b\r\n"
                     b" c\r\n\r\n",
}


class Strict(ServerTestCase):

    def expect_rejected(self, data, before=()):
        """Send [good requests] + data in one write: each good one gets 200,
        then a 400, then nothing and a clean close."""
        with RawConn(self.port, timeout=10) as c:
            sent = c.try_send(b"".join(before) + data)
            rs = []
            head = data.startswith(b"HEAD ")
            try:
                while True:
                    r = c.read_response(head=head and len(rs) == len(before))
                    if r is None:
                        break
                    rs.append(r)
                    if r.status == 400:
                        break
            except weftproc.Closed as e:
                self.fail("%r: %s; got %r" % (data, e, rs))
            except socket.timeout as e:
                self.fail("%r: no 400 (%s); got %r" % (data, e, rs))
            statuses = [r.status for r in rs]
            self.assertEqual(statuses, [200] * len(before) + [400],
                             "%r (sent: %s, reset: %s)"
                             % (data, sent, c.reset))
            bad = rs[-1]
            self.assertEqual(len(bad.header_all("Date")), 1, bad.headers)
            after = c.wait_closed(timeout=10)
            self.assertEqual(after, b"", "bytes after the 400 to %r" % data)
            self.assertFalse(c.reset, "connection reset after the 400 to %r "
                             "(expected a clean close)" % data)
        # Everyone else is still served.
        self.assertEqual(get_once(self.port).body, HELLO)

    def test_http10_without_host_is_fine(self):
        with RawConn(self.port) as c:
            c.send(b"GET /plaintext HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, HELLO))

    def test_good_chunked_control(self):
        # The same framing as the chunk-size vectors, valid: answered.
        with RawConn(self.port) as c:
            c.send(chunked_post(b"5"))
            r = c.read_response()
            self.assertEqual((r.status, r.body), (200, b"hello"))

    def test_identical_host_case_insensitive_name_ok(self):
        with RawConn(self.port) as c:
            c.send(b"GET /plaintext HTTP/1.1\r\nhOsT: a\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)

    def test_smuggled_request_not_answered(self):
        # The classic CL.TE desync: whatever the body hides is never run.
        hidden = request("GET", "/json")
        data = (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s"
                % (5 + len(hidden), hidden))
        self.expect_rejected(data)


def _make(name, data):
    def alone(self):
        self.expect_rejected(data)

    def after_good(self):
        self.expect_rejected(data, before=[GOOD])
    return alone, after_good


for _name, _data in VECTORS.items():
    _a, _b = _make(_name, _data)
    setattr(Strict, "test_%s" % _name, _a)
    setattr(Strict, "test_%s_after_good_request" % _name, _b)


if __name__ == "__main__":
    weftproc.take_bin_from_argv()
    unittest.main()
