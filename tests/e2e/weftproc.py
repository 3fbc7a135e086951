"""Helpers for weft's end-to-end tests: run the `weft` binary, talk raw HTTP.

Standard library only. Everything is bounded in time: every wait takes a
deadline scaled by WEFT_TEST_TIMEOUT_MULTIPLIER (sanitizer builds are slow).

    from weftproc import WeftServer, RawConn, T

    with WeftServer() as srv:            # weft serve --host 127.0.0.1 --port 0
        with RawConn(srv.port) as c:
            c.send(b"GET /plaintext HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            r = c.read_response()
            assert r.status == 200 and r.body == b"Hello, World!"

The binary comes from env WEFT_BIN, else `--weft-bin PATH` on the command
line (taken out of sys.argv by take_bin_from_argv()), else
<repo>/build/apps/weft/weft. Processes are stopped by PID only: SIGTERM,
a wait, then SIGKILL.
"""

import errno
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LISTEN_RE = re.compile(r"^listening on http://([0-9.]+):([0-9]+)/$")
_bin_from_argv = None


def multiplier():
    try:
        m = float(os.environ.get("WEFT_TEST_TIMEOUT_MULTIPLIER", "1"))
    except ValueError:
        m = 1.0
    return m if m >= 1.0 else 1.0


def T(seconds):
    """A timeout of `seconds`, scaled for slow (sanitizer) builds."""
    return seconds * multiplier()


def take_bin_from_argv(argv=None):
    """Remove `--weft-bin PATH` / `--weft-bin=PATH` from argv (so unittest
    does not see it) and remember PATH."""
    global _bin_from_argv
    argv = sys.argv if argv is None else argv
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--weft-bin" and i + 1 < len(argv):
            _bin_from_argv = argv[i + 1]
            del argv[i:i + 2]
            continue
        if a.startswith("--weft-bin="):
            _bin_from_argv = a.split("=", 1)[1]
            del argv[i]
            continue
        i += 1
    return _bin_from_argv


def weft_bin():
    path = os.environ.get("WEFT_BIN") or _bin_from_argv or os.path.join(
        REPO, "build", "apps", "weft", "weft")
    return os.path.abspath(path)


def require_bin(testcase=None):
    """Skip (unittest) or exit 77 if the binary is missing."""
    path = weft_bin()
    if os.access(path, os.X_OK):
        return path
    msg = "weft binary not found at %s (set WEFT_BIN)" % path
    if testcase is not None:
        testcase.skipTest(msg)
    raise RuntimeError(msg)


# ---------------------------------------------------------------- processes

class StartError(Exception):
    pass


class _Drain(threading.Thread):
    """Reads a pipe to EOF into a buffer so the child never blocks on it."""

    def __init__(self, fd, initial=b""):
        super().__init__(daemon=True)
        self.fd = fd
        self.data = bytearray(initial)
        self.lock = threading.Lock()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return bytes(self.data).decode("utf-8", "replace")


class WeftServer:
    """`weft serve --host 127.0.0.1 --port 0 [args]`, port read from stdout.

    Attributes once started: proc, pid, host, port, url, first_line.
    stop() returns the exit status (negative: killed by that signal)."""

    def __init__(self, args=(), cmd=None, start_timeout=10.0, env=None):
        self.args = list(args)
        self.cmd = cmd
        self.start_timeout = start_timeout
        self.env = env
        self.proc = None
        self.host = None
        self.port = None
        self.first_line = None
        self.returncode = None
        self._out = None
        self._err = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def url(self):
        return "http://%s:%d/" % (self.host, self.port)

    def command(self):
        if self.cmd is not None:
            return list(self.cmd)
        return [weft_bin(), "serve", "--host", HOST, "--port", "0"] + self.args

    def start(self):
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self._err = _Drain(self.proc.stderr.fileno())
        self._err.start()
        try:
            line, rest = self._read_first_line(T(self.start_timeout))
        except BaseException:
            self.stop()
            raise
        self._out = _Drain(self.proc.stdout.fileno(), rest)
        self._out.start()
        self.first_line = line
        m = LISTEN_RE.match(line)
        if not m:
            self.stop()
            raise StartError("first stdout line is %r, expected "
                             "'listening on http://H:P/'; stderr: %s"
                             % (line, self.stderr()))
        self.host, self.port = m.group(1), int(m.group(2))
        return self

    def _read_first_line(self, timeout):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartError("no 'listening on' line within %.1fs; "
                                 "stdout so far %r; stderr: %s"
                                 % (timeout, buf, self.stderr()))
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not r:
                if self.proc.poll() is not None and not buf:
                    self._err.join(T(2))
                    raise StartError("weft exited with status %s before "
                                     "listening; stderr: %s"
                                     % (self.proc.returncode, self.stderr()))
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait(T(5))
                self._err.join(T(2))
                raise StartError("weft closed stdout (status %s) before a "
                                 "full first line %r; stderr: %s"
                                 % (self.proc.returncode, buf, self.stderr()))
            buf += chunk
        line, rest = buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r"), rest

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Exit status, or None if still running after timeout seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal by PID, wait up to T(timeout), then SIGKILL. Returns the
        exit status; self.killed says whether SIGKILL was needed."""
        self.killed = False
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait(T(timeout)) is None:
                self.killed = True
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.returncode = self.proc.returncode
        for d in (self._out, self._err):
            if d is not None:
                d.join(T(2))
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        return self.returncode

    def stdout(self):
        return self._out.text() if self._out else ""

    def stderr(self):
        return self._err.text() if self._err else ""

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def run_weft(args, timeout=10.0):
    """Run `weft ARGS` to completion: (status, stdout, stderr) as text.
    A run that outlives T(timeout) is killed by PID and reported as None."""
    proc = subprocess.Popen([weft_bin()] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=T(timeout))
        status = proc.returncode
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        status = None
    return (status, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"))


# ------------------------------------------------------------ raw HTTP/1.1

class ProtocolError(Exception):
    """The server's bytes are not a well-formed HTTP/1.1 response."""


class Closed(Exception):
    """The connection ended (cleanly or by reset) where more was needed."""


class Response:
    def __init__(self, version, status, reason, headers, body, raw,
                 trailers=None, chunked=False):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # [(name, value)] in order, as sent
        self.body = body
        self.raw = raw                  # every byte of this response
        self.trailers = trailers or []
        self.chunked = chunked

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name, token):
        """Whether a comma-separated header (Connection) lists token."""
        token = token.lower()
        for v in self.header_all(name):
            if token in [t.strip().lower() for t in v.split(",")]:
                return True
        return False

    @property
    def interim(self):
        return 100 <= self.status < 200 and self.status != 101

    def __repr__(self):
        return "<Response %d %s, %d header(s), %d body byte(s)>" % (
            self.status, self.reason, len(self.headers), len(self.body))


_STATUS_RE = re.compile(rb"^HTTP/(1\.[01]) ([0-9]{3}) ?([^\r\n]*)$")
_TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class ResponseReader:
    """Incremental HTTP/1.x response parser over a source of bytes.

    `fill(deadline)` must append bytes to self.buf and return False at end
    of stream. Parsing is strict: CRLF line ends, token header names."""

    MAX_HEAD = 256 * 1024

    def __init__(self, fill):
        self.buf = bytearray()
        self._fill = fill
        self.eof = False

    def _more(self, deadline):
        if self.eof:
            return False
        if not self._fill(self, deadline):
            self.eof = True
            return False
        return True

    def _need(self, n, deadline, what):
        while len(self.buf) < n:
            if not self._more(deadline):
                raise Closed("connection ended inside %s (%d of %d bytes)"
                             % (what, len(self.buf), n))

    def _line(self, deadline, what, limit=MAX_HEAD):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                break
            start = len(self.buf)
            if len(self.buf) > limit:
                raise ProtocolError("%s longer than %d bytes" % (what, limit))
            if not self._more(deadline):
                raise Closed("connection ended inside %s: %r"
                             % (what, bytes(self.buf[:200])))
        if i == 0 or self.buf[i - 1] != 0x0D:
            raise ProtocolError("bare LF ending %s: %r"
                                % (what, bytes(self.buf[:i + 1][-200:])))
        line = bytes(self.buf[:i - 1])
        del self.buf[:i + 1]
        return line

    def at_eof(self, deadline):
        """True if the stream ended with no further bytes."""
        while not self.buf:
            if not self._more(deadline):
                return True
        return False

    def read(self, deadline, head=False):
        """Parse one response; `head`: it answers a HEAD (no body).
        Returns None if the stream ended cleanly before its first byte."""
        if self.at_eof(deadline):
            return None
        raw = bytearray()
        status_line = self._line(deadline, "status line")
        raw += status_line + b"\r\n"
        m = _STATUS_RE.match(status_line)
        if not m:
            raise ProtocolError("bad status line %r" % status_line)
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = m.group(3).decode("latin-1")
        headers = self._fields(deadline, raw, "header")
        resp = Response(version, status, reason, headers, b"", raw)
        cl = resp.header_all("content-length")
        te = resp.header_all("transfer-encoding")
        if te and cl:
            raise ProtocolError("response has both Content-Length and "
                                "Transfer-Encoding: %r" % headers)
        if len(set(v.strip() for v in cl)) > 1:
            raise ProtocolError("response has different Content-Lengths %r"
                                % cl)
        if head or 100 <= status < 200 or status in (204, 304):
            resp.raw = bytes(raw)
            return resp
        if te:
            codings = [c.strip().lower() for v in te for c in v.split(",")]
            if codings[-1] != "chunked":
                raise ProtocolError("unexpected Transfer-Encoding %r" % te)
            resp.chunked = True
            resp.body = self._chunked(deadline, raw, resp)
        elif cl:
            v = cl[0].strip()
            if not v.isdigit():
                raise ProtocolError("bad Content-Length %r" % v)
            n = int(v)
            self._need(n, deadline, "a body of %d bytes" % n)
            resp.body = bytes(self.buf[:n])
            raw += self.buf[:n]
            del self.buf[:n]
        else:
            # Delimited by close (RFC 9112 6.3 rule 8).
            while self._more(deadline):
                pass
            resp.body = bytes(self.buf)
            raw += self.buf
            del self.buf[:]
        resp.raw = bytes(raw)
        return resp

    def _fields(self, deadline, raw, what):
        fields = []
        while True:
            line = self._line(deadline, "%s line" % what)
            raw += line + b"\r\n"
            if line == b"":
                return fields
            if line[:1] in (b" ", b"\t"):
                raise ProtocolError("obs-fold in response %s: %r"
                                    % (what, line))
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN_RE.match(name):
                raise ProtocolError("bad %s line %r" % (what, line))
            fields.append((name.decode("latin-1"),
                           value.strip(b" \t").decode("latin-1")))

    def _chunked(self, deadline, raw, resp):
        body = bytearray()
        while True:
            line = self._line(deadline, "chunk size line", 4096)
            raw += line + b"\r\n"
            size = line.split(b";", 1)[0].strip(b" \t")
            if not size or not re.match(rb"^[0-9A-Fa-f]+$", size):
                raise ProtocolError("bad chunk size line %r" % line)
            n = int(size, 16)
            if n == 0:
                resp.trailers = self._fields(deadline, raw, "trailer")
                return bytes(body)
            self._need(n + 2, deadline, "a chunk of %d bytes" % n)
            if self.buf[n:n + 2] != b"\r\n":
                raise ProtocolError("chunk data not followed by CRLF")
            body += self.buf[:n]
            raw += self.buf[:n + 2]
            del self.buf[:n + 2]


def parse_responses(data, heads=()):
    """Split bytes into responses. heads: indexes (counting final responses
    only) that answer HEAD. Returns (responses, error): error is None if
    the bytes ended exactly after the last response, else a description
    of the trailing incomplete or malformed bytes."""
    chunks = [bytes(data)]

    def fill(reader, deadline):
        if not chunks:
            return False
        reader.buf += chunks.pop()
        return True

    reader = ResponseReader(fill)
    out = []
    finals = 0
    while True:
        try:
            r = reader.read(None, head=finals in heads)
        except (ProtocolError, Closed) as e:
            return out, "%s: %s" % (type(e).__name__, e)
        if r is None:
            return out, None
        out.append(r)
        if not r.interim:
            finals += 1


class RawConn:
    """One TCP connection to 127.0.0.1:port with a response parser."""

    def __init__(self, port, host=HOST, timeout=10.0):
        self.timeout = T(timeout)
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reset = False
        self.reader = ResponseReader(self._fill)

    def _fill(self, reader, deadline):
        left = (deadline - time.monotonic()) if deadline else self.timeout
        if left <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(262144)
        except ConnectionResetError:
            self.reset = True
            return False
        except socket.timeout:
            raise socket.timeout("timed out waiting for the server (%.1fs); "
                                 "unparsed bytes: %r"
                                 % (self.timeout, bytes(reader.buf[:300])))
        if not chunk:
            return False
        reader.buf += chunk
        return True

    def _deadline(self, timeout):
        return time.monotonic() + (T(timeout) if timeout else self.timeout)

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """sendall that reports a closed/reset peer instead of raising."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def shutdown_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def read_response(self, head=False, timeout=None, skip_interim=True):
        """The next response (1xx interim ones skipped unless asked), or
        None if the server closed cleanly first. Raises socket.timeout."""
        deadline = self._deadline(timeout)
        while True:
            r = self.reader.read(deadline, head=head)
            if r is None or not (skip_interim and r.interim):
                return r

    def read_responses(self, n, heads=(), timeout=None):
        """n final responses in order; fewer if the connection ends."""
        deadline = self._deadline(timeout)
        out = []
        for i in range(n):
            while True:
                r = self.reader.read(deadline, head=i in heads)
                if r is None or not r.interim:
                    break
            if r is None:
                break
            out.append(r)
        return out

    def wait_closed(self, timeout=None):
        """Read until the server closes. Returns the bytes that came before
        the close ("" expected). Raises socket.timeout if it stays open."""
        deadline = self._deadline(timeout)
        extra = bytearray(self.reader.buf)
        del self.reader.buf[:]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("server kept the connection open "
                                     "%.1fs" % (T(timeout) if timeout else
                                                self.timeout))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                self.reset = True
                return bytes(extra)
            if not chunk:
                return bytes(extra)
            extra += chunk

    def is_open(self, wait=0.2):
        """True if no close or data arrives within `wait` seconds (a short
        probe, for asserting a keep-alive connection survived)."""
        if self.reader.buf:
            return True
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            return False
        return bool(chunk)

    def read_all(self, timeout=None):
        """Everything until close or the timeout: (bytes, how) where how is
        'closed', 'reset' or 'timeout'."""
        deadline = self._deadline(timeout)
        data = bytearray(self.reader.buf)
        del self.reader.buf[:]
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(data), "timeout"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(262144)
            except ConnectionResetError:
                return bytes(data), "reset"
            except socket.timeout:
                return bytes(data), "timeout"
            if not chunk:
                return bytes(data), "closed"
            data += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def request(method, target, headers=(), body=b"", version="1.1",
            host="127.0.0.1"):
    """Bytes of a well-formed request. headers: [(name, value)]; a Host
    header is added for HTTP/1.1 unless host is None; Content-Length is
    added when body is non-empty and no framing header was given."""
    lines = ["%s %s HTTP/%s" % (method, target, version)]
    names = [h[0].lower() for h in headers]
    if host is not None and version == "1.1" and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body and "content-length" not in names and \
            "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def port_is_free(port, host=HOST):
    """Whether nothing listens on host:port (SO_REUSEADDR: connections
    left in TIME_WAIT do not count)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return False
        raise
    finally:
        s.close()


def get_once(port, target="/plaintext", timeout=5.0):
    """GET target on a fresh connection; the Response (or raises)."""
    with RawConn(port, timeout=timeout) as c:
        c.send(request("GET", target, [("Connection", "close")]))
        r = c.read_response()
        if r is None:
            raise Closed("server closed without answering GET %s" % target)
        return r
