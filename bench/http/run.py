#!/usr/bin/env python3
"""run.py BUILD_DIR [flags] - weft's HTTP benchmark (issue 8; bench/README.md).

Serves GET /plaintext ("Hello, World!", text/plain) from weft with one loop,
nginx with one worker, h2o with one thread and the hand-written libuv
ceiling (bench/http-ceiling.c), the server pinned to one core and wrk to
another, and measures, in one run with interleaved rounds (the order
rotating from round to round; medians quoted):

  keep-alive   wrk -t1 -c100 -d<duration> --latency
  pipelined    the same with bench/pipeline.lua: 16 requests per write

req/s, p50/p99 latency, the server's CPU time per request (utime + stime
of the server's processes from /proc/PID/stat, before and after the run,
over the requests), the share of its core the server used, and the client
core's load (wrk's own CPU time from its rusage over the run's wall time;
above 90% the row is flagged client-bound: the figure is wrk's limit).
Then RSS per idle keep-alive connection, weft beside nginx: a fresh server,
N connections opened with one request answered on each and kept open idle,
VmRSS of the server's processes before and after, over N.

Python 3 standard library only; needs wrk, taskset, and (for the peers and
the plot) nginx, h2o, gnuplot. Progress goes to stderr, the tables, the
targets and the plot's path to stdout. Exit status 1 when a server could
not be started, crashed, or answered wrongly; missing peers are n/a.
"""

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
PIPELINE_LUA = os.path.join(BENCH, "pipeline.lua")
BODY = b"Hello, World!"
CONNECTIONS = 100  # wrk -c
DEPTH = 16  # requests per write, pipelined
CLIENT_BOUND = 90.0  # client core load (%) above which a row is flagged
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

ALL = ["weft", "nginx", "h2o", "ceiling"]
LABEL = {"weft": "weft", "nginx": "nginx", "h2o": "h2o", "ceiling": "libuv ceiling"}
SCENARIOS = [("keep-alive", 1), ("pipelined", DEPTH)]


def log(msg):
    print("http: " + msg, file=sys.stderr, flush=True)


# ---- formatting (as bench-common.c) -----------------------------------------


def fmt_time(s):
    if s is None:
        return "n/a"
    if s < 1e-8:
        return "%.2f ns" % (s * 1e9)
    if s < 1e-7:
        return "%.1f ns" % (s * 1e9)
    if s < 1e-6:
        return "%.0f ns" % (s * 1e9)
    if s < 1e-3:
        return "%.2f us" % (s * 1e6)
    if s < 1:
        return "%.1f ms" % (s * 1e3)
    return "%.2f s" % s


def fmt_rate(r):
    if r is None:
        return "n/a"
    if r >= 1e9:
        return "%.2f G/s" % (r / 1e9)
    if r >= 1e6:
        return "%.2f M/s" % (r / 1e6)
    if r >= 1e3:
        return "%.1f k/s" % (r / 1e3)
    return "%.0f /s" % r


def fmt_bytes(b):
    if b is None:
        return "n/a"
    if abs(b) >= 1 << 20:
        return "%.1f MiB" % (b / (1 << 20))
    if abs(b) >= 10 << 10:
        return "%.1f KiB" % (b / 1024)
    return "%.0f B" % b


def fmt_count(n):
    return "{:,}".format(n)


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


class Table:
    """A plain-text and markdown table, printed like bench-common.c's."""

    def __init__(self, title, align, headers):
        self.title, self.align, self.rows = title, align, [list(headers)]

    def row(self, *cells):
        self.rows.append([str(c) for c in cells])

    def gap(self):
        self.rows.append(None)

    def text(self, out):
        rows = [r for r in self.rows if r is not None]
        w = [max(len(r[c]) for r in rows) for c in range(len(self.align))]
        print(self.title, file=out)
        for i, r in enumerate(self.rows):
            if r is None:
                print(file=out)
                continue
            last = len(r)
            while last > 1 and r[last - 1] == "":
                last -= 1
            cells = []
            for c in range(last):
                if self.align[c] == "r":
                    cells.append(r[c].rjust(w[c]))
                elif c + 1 < last:
                    cells.append(r[c].ljust(w[c]))
                else:
                    cells.append(r[c])
            print("  ".join(cells), file=out)
            if i == 0:
                print("-" * (sum(w) + 2 * (len(w) - 1)), file=out)

    def markdown(self, out):
        print("**%s**\n" % self.title, file=out)
        for i, r in enumerate(self.rows):
            if r is None:
                continue
            print("| " + " | ".join(r) + " |", file=out)
            if i == 0:
                print("|" + "".join("---:|" if a == "r" else "---|" for a in self.align), file=out)


# ---- processes ---------------------------------------------------------------


def children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def tree(pid):
    """pid and its descendants (nginx's master and worker)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def cpu_seconds(pid):
    """utime + stime of pid's process tree, from /proc/PID/stat."""
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


def rss_bytes(pid):
    """VmRSS of pid's process tree, from /proc/PID/status."""
    total = 0
    for p in tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip() for l in f if l.strip()]
        return " | ".join(lines[-n:])
    except OSError:
        return ""


def describe_exit(code):
    if code is None:
        return "running"
    if code < 0:
        try:
            return "killed by " + signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit status %d" % code


# ---- HTTP checks -------------------------------------------------------------


def read_responses(sock, n, timeout=5.0):
    """Reads n HTTP/1.1 responses (Content-Length framed) from sock.
    Returns a list of (status, headers, body); raises on errors."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").split("\r\n")
            m = re.match(r"HTTP/1\.[01] (\d{3})", head[0])
            if not m:
                raise ValueError("bad status line %r" % head[0])
            headers = {}
            for h in head[1:]:
                k, _, v = h.partition(":")
                headers[k.strip().lower()] = v.strip()
            if "content-length" not in headers:
                raise ValueError("response without Content-Length: %r" % head)
            length = int(headers["content-length"])
            if len(buf) >= end + 4 + length:
                out.append((int(m.group(1)), headers, buf[end + 4 : end + 4 + length]))
                buf = buf[end + 4 + length :]
                continue
        data = sock.recv(65536)
        if not data:
            raise ValueError("connection closed after %d of %d responses" % (len(out), n))
        buf += data
    if buf:
        raise ValueError("%d stray bytes after the responses" % len(buf))
    return out


def request_bytes(port, n=1):
    req = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port
    return (req * n).encode()


def check_server(name, port):
    """One request, then DEPTH pipelined in one write, on one connection.
    Returns a list of problems (empty: good)."""
    problems = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for n in (1, DEPTH):
                s.sendall(request_bytes(port, n))
                for status, headers, body in read_responses(s, n):
                    if status != 200:
                        problems.append("GET /plaintext answered %d" % status)
                    if body != BODY:
                        problems.append("body %r, not %r" % (body[:40], BODY))
                    ctype = headers.get("content-type", "")
                    if name != "ceiling" and not ctype.startswith("text/plain"):
                        problems.append("Content-Type %r" % ctype)
                    if headers.get("connection", "").lower() == "close":
                        problems.append("Connection: close on a keep-alive request")
                    if problems:
                        return problems
    except (OSError, ValueError) as e:
        problems.append("checking GET /plaintext: %s" % e)
    return problems


# ---- servers -----------------------------------------------------------------


class Server:
    """One contender's server process, pinned to the server core."""

    def __init__(self, name, opts, tmp):
        self.name, self.opts, self.tmp = name, opts, tmp
        self.proc = None
        self.port = None
        self.problems = []  # what went wrong, for the report
        self.starts = 0

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def argv(self):
        raise NotImplementedError

    def available(self):
        """None, or why this contender cannot run here."""
        raise NotImplementedError

    def prepare(self):
        pass

    def start(self):
        self.starts += 1
        tag = "%s-%d" % (self.name, self.starts)
        self.out_path = os.path.join(self.tmp, tag + ".out")
        self.err_path = os.path.join(self.tmp, tag + ".err")
        self.prepare()
        argv = ["taskset", "-c", str(self.opts.server_cpu)] + self.argv()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(
                    "%s exited at start (%s): %s"
                    % (self.name, describe_exit(self.proc.returncode), tail(self.err_path))
                )
            if self.ready():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("%s did not start within 10 s: %s" % (self.name, tail(self.err_path)))

    def ready(self):
        """Fixed port: ready once it accepts a connection."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is None:
            return None
        signalled = self.proc.poll() is None
        if signalled:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        if signalled and self.name in ("weft", "ceiling") and code != 0:
            self.problems.append(
                "on SIGTERM: %s; stderr: %s" % (describe_exit(code), tail(self.err_path) or "-")
            )
        return code


class PrintsPort(Server):
    """weft and the ceiling: --port 0, the port read from the first line
    of stdout, "listening on http://H:P/"."""

    def prepare(self):
        self.port = None

    def ready(self):
        try:
            with open(self.out_path) as f:
                line = f.readline()
        except OSError:
            return False
        m = re.match(r"listening on http://.*:(\d+)/\s*$", line)
        if not m:
            return False
        self.port = int(m.group(1))
        return True


class Weft(PrintsPort):
    def exe(self):
        return os.path.join(self.opts.build, "apps", "weft", "weft")

    def available(self):
        return None if os.access(self.exe(), os.X_OK) else "%s not built" % self.exe()

    def argv(self):
        return [
            self.exe(), "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1",
            "--max-connections", "20000", "--idle-timeout", "10m",
        ]


class Ceiling(PrintsPort):
    def exe(self):
        return os.path.join(self.opts.build, "bench", "http-ceiling")

    def available(self):
        return None if os.access(self.exe(), os.X_OK) else "%s not built" % self.exe()

    def argv(self):
        return [self.exe(), "--host", "127.0.0.1", "--port", "0"]


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    return text


class Nginx(Server):
    def available(self):
        return None if shutil.which("nginx") else "nginx not installed (nginx-light)"

    def prepare(self):
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(
                fill(
                    "nginx.conf.in",
                    {
                        "DIR": self.tmp,
                        "PORT": self.port,
                        "WORKER_CONNECTIONS": 20000,
                        "RLIMIT_NOFILE": self.opts.nofile,
                    },
                )
            )

    def argv(self):
        log_path = os.path.join(self.tmp, "nginx-error.log")
        return [shutil.which("nginx"), "-p", self.tmp, "-c", self.conf, "-e", log_path]


class H2o(Server):
    def available(self):
        return None if shutil.which("h2o") else "h2o not installed"

    def prepare(self):
        self.port = free_port()
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        os.chmod(www, 0o755)
        path = os.path.join(www, "plaintext")
        with open(path, "wb") as f:
            f.write(BODY)
        os.chmod(path, 0o644)
        self.conf = os.path.join(self.tmp, "h2o.conf")
        with open(self.conf, "w") as f:
            f.write(
                fill("h2o.conf.in", {"DIR": self.tmp, "PORT": self.port, "MAX_CONNECTIONS": 20000})
            )

    def argv(self):
        return [shutil.which("h2o"), "-c", self.conf]


CLASSES = {"weft": Weft, "nginx": Nginx, "h2o": H2o, "ceiling": Ceiling}


# ---- wrk ---------------------------------------------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(text):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+([\d.]+)(us|ms|s|m|h)\s*$" % p, text, re.M)
        if m:
            r["p" + p] = float(m.group(1)) * UNITS[m.group(2)]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sockerr"] = tuple(int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    return r


def run_wrk(opts, server, depth, duration):
    """One wrk run against server. Returns a dict of figures or raises."""
    url = "http://127.0.0.1:%d/plaintext" % server.port
    argv = [
        "taskset", "-c", str(opts.client_cpu), "wrk", "-t1", "-c%d" % CONNECTIONS,
        "-d%ds" % duration, "--latency",
    ]
    if depth > 1:
        argv += ["-s", PIPELINE_LUA, url, "--", str(depth)]
    else:
        argv += [url]
    env = dict(os.environ, WEFT_WRK_CONNECTIONS=str(CONNECTIONS))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu0 = cpu_seconds(server.pid)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu1 = cpu_seconds(server.pid) if server.alive() else None
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        etext = err.read().decode(errors="replace").strip()
    r = parse_wrk(text)
    if depth > 1:
        # wrk's own percentiles are wrong when pipelining: pipeline.lua's
        # done() prints the batch latency's (see its comment), or nothing.
        r.pop("p50", None)
        r.pop("p99", None)
        m = re.search(r"^batch-latency: p50 (\d+) us, p99 (\d+) us", text, re.M)
        if m:
            r["p50"], r["p99"] = int(m.group(1)) * 1e-6, int(m.group(2)) * 1e-6
    if p.returncode != 0 or "requests" not in r or "rps" not in r:
        raise RuntimeError("wrk failed (%s): %s" % (describe_exit(p.returncode), (etext or text)[-300:]))
    r["wall"] = wall
    r["client_load"] = 100.0 * (ru.ru_utime + ru.ru_stime) / wall
    if cpu1 is not None and r["requests"] > 0:
        r["server_cpu"] = cpu1 - cpu0
        r["cpu_per_req"] = (cpu1 - cpu0) / r["requests"]
        r["server_load"] = 100.0 * (cpu1 - cpu0) / wall
    return r


# ---- idle connections ----------------------------------------------------------


def idle_rss(opts, server, n):
    """Opens n connections to a fresh server, one request answered on each,
    keeps them idle; returns (bytes per connection, before, after, problems)."""
    problems = []
    time.sleep(0.3)
    before = rss_bytes(server.pid)
    socks = []
    req = request_bytes(server.port)
    failed = 0
    first_error = None
    old_affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {opts.client_cpu})
    try:
        for i in range(n):
            s = None
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                s.sendall(req)
                ((status, _, body),) = read_responses(s, 1, timeout=10)
                if status != 200 or body != BODY:
                    raise ValueError("answered %d %r" % (status, body[:40]))
                socks.append(s)
            except (OSError, ValueError) as e:
                failed += 1
                if first_error is None:
                    first_error = "connection %d: %s" % (i + 1, e)
                    if isinstance(e, OSError) and e.errno == 24:  # EMFILE: ours
                        break
                if s is not None:
                    s.close()
            if not server.alive():
                break
        time.sleep(1.0)
        after = rss_bytes(server.pid) if server.alive() else None
        closed = 0
        for s in socks:
            try:
                s.setblocking(False)
                if s.recv(1, socket.MSG_PEEK) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
    finally:
        for s in socks:
            s.close()
        os.sched_setaffinity(0, old_affinity)
    if failed:
        problems.append("%d of %d idle connections failed (first: %s)" % (failed, n, first_error))
    if closed:
        problems.append("%d of %d idle connections closed by the server" % (closed, len(socks)))
    if after is None:
        return None, before, None, problems
    per = (after - before) / len(socks) if socks else None
    return per, before, after, problems


# ---- the run -----------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/http/run.py",
        description="weft's HTTP benchmark: weft, nginx, h2o and a libuv ceiling on /plaintext.",
    )
    ap.add_argument("build", help="build directory configured with -DWEFT_BUILD_BENCH=ON")
    ap.add_argument("--rounds", type=int, help="interleaved rounds; medians are quoted (5)")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (10)")
    ap.add_argument("--idle", type=int, help="idle keep-alive connections for the RSS figure (10000)")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 2,000 idle connections")
    ap.add_argument("--only", help="comma list among weft,nginx,h2o,ceiling (default: all)")
    ap.add_argument("--server-cpu", type=int, help="CPU for the servers (first allowed)")
    ap.add_argument("--client-cpu", type=int, help="CPU for wrk and the idle client (second allowed)")
    ap.add_argument(
        "--plot",
        default=os.path.join(ROOT, "docs", "benchmark-http.png"),
        help="PNG to write with gnuplot (default docs/benchmark-http.png); '' for none",
    )
    ap.add_argument("--keep-temp", action="store_true", help="keep the configs and server logs")
    o = ap.parse_args(argv)
    o.rounds = o.rounds or (2 if o.quick else 5)
    o.duration = o.duration or (3 if o.quick else 10)
    o.idle = o.idle or (2000 if o.quick else 10000)
    o.warmup = 1 if o.quick else 2
    if o.rounds < 1 or o.duration < 1 or o.idle < 1:
        ap.error("--rounds, --duration and --idle must be positive")
    if o.only:
        o.only = [x.strip() for x in o.only.split(",") if x.strip()]
        bad = [x for x in o.only if x not in ALL]
        if bad:
            ap.error("--only: unknown %s (weft, nginx, h2o, ceiling)" % ", ".join(bad))
    else:
        o.only = list(ALL)
    pin_cpus(o)
    return o


def pin_cpus(o):
    """--server-cpu and --client-cpu default to the first two CPUs this
    process may use; BUILD becomes absolute."""
    allowed = sorted(os.sched_getaffinity(0))
    if o.server_cpu is None:
        o.server_cpu = allowed[0]
    if o.client_cpu is None:
        rest = [c for c in allowed if c != o.server_cpu]
        o.client_cpu = rest[0] if rest else o.server_cpu
    o.build = os.path.abspath(o.build)


def run_notes(client_load, rs, client_bound=90.0):
    """The notes column for one row: client-bound, non-2xx answers, socket
    errors, over the runs rs (each with "non2xx" and "sockerr")."""
    notes = []
    if client_load > client_bound:
        notes.append("client-bound")
    non2xx = sum(r["non2xx"] for r in rs)
    if non2xx:
        notes.append("%s non-2xx" % fmt_count(non2xx))
    se = [sum(x) for x in zip(*(r["sockerr"] for r in rs))]
    if any(se):
        notes.append("socket errors c/r/w/t %d/%d/%d/%d" % tuple(se))
    return notes


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            soft = hard = want
        except (ValueError, OSError):
            pass
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard if hard != resource.RLIM_INFINITY else want


def banner(opts):
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    u = os.uname()
    print("bench/http: run with nothing else busy on this machine.")
    print(
        "machine: nproc %d (online %d), CPU %s, %s %s %s"
        % (len(os.sched_getaffinity(0)), os.cpu_count() or 0, model, u.sysname, u.release, u.machine)
    )
    print(
        "server on CPU %d, client (wrk -t1 -c%d) on CPU %d; %d rounds of %d s; %s idle connections"
        % (opts.server_cpu, CONNECTIONS, opts.client_cpu, opts.rounds, opts.duration,
           fmt_count(opts.idle))
    )
    if opts.server_cpu == opts.client_cpu:
        print("warning: one CPU only: server and client share it; the figures mean little")
    print("load average now: %.2f %.2f %.2f" % os.getloadavg())
    sys.stdout.flush()


def ensure(server):
    """Starts server if it is not running (first start, or after a crash)."""
    if server.alive():
        return True
    if server.proc is not None:
        code = server.stop()
        server.problems.append(
            "the server died (%s); stderr: %s" % (describe_exit(code), tail(server.err_path) or "-")
        )
    try:
        server.start()
    except RuntimeError as e:
        server.problems.append(str(e))
        return False
    bad = check_server(server.name, server.port)
    if bad:
        server.problems += bad
    return True


def main(argv):
    opts = parse_args(argv)
    if not shutil.which("wrk") or not shutil.which("taskset"):
        print("bench/http: needs wrk and taskset (scripts/deps.sh bench)", file=sys.stderr)
        return 1
    opts.nofile = raise_nofile(2 * 20000 + 100)
    banner(opts)
    tmp = tempfile.mkdtemp(prefix="weft-bench-http-")
    os.chmod(tmp, 0o755)  # nginx's and h2o's workers run as nobody when started by root
    servers = {}
    skipped = {}
    for name in opts.only:
        s = CLASSES[name](name, opts, tmp)
        why = s.available()
        if why:
            skipped[name] = why
            log("%s: n/a: %s" % (name, why))
        else:
            servers[name] = s
    names = [n for n in opts.only if n in servers]
    # results[(scenario, name)] = list of per-round dicts
    results = {(sc, n): [] for sc, _ in SCENARIOS for n in names}
    errors = {(sc, n): [] for sc, _ in SCENARIOS for n in names}
    rss = {n: [] for n in names if n in ("weft", "nginx")}
    rss_raw = {n: [] for n in rss}
    try:
        for n in names:
            if ensure(servers[n]):
                for sc, depth in SCENARIOS:
                    log("warm-up: %s %s (%d s)" % (n, sc, opts.warmup))
                    try:
                        run_wrk(opts, servers[n], depth, opts.warmup)
                    except RuntimeError as e:
                        errors[(sc, n)].append("warm-up: %s" % e)
        for r in range(opts.rounds):
            order = names[r % len(names) :] + names[: r % len(names)] if names else []
            for sc, depth in SCENARIOS:
                for n in order:
                    s = servers[n]
                    if not ensure(s):
                        continue
                    log("round %d/%d: %s %s" % (r + 1, opts.rounds, sc, n))
                    try:
                        res = run_wrk(opts, s, depth, opts.duration)
                    except RuntimeError as e:
                        errors[(sc, n)].append(str(e))
                        continue
                    if not s.alive():
                        errors[(sc, n)].append("the server died during the run (run dropped)")
                        continue
                    results[(sc, n)].append(res)
        for n in names:
            servers[n].stop()
        # RSS per idle connection: a fresh server each round, weft beside nginx.
        for r in range(opts.rounds):
            order = list(rss)
            if r % 2 and len(order) > 1:
                order.reverse()
            for n in order:
                s = servers[n]
                try:
                    s.start()
                except RuntimeError as e:
                    s.problems.append(str(e))
                    continue
                bad = check_server(n, s.port)  # warm: the "before" figure has served requests
                if bad:
                    s.problems += bad
                log("round %d/%d: %s idle connections, %s" % (r + 1, opts.rounds, fmt_count(opts.idle), n))
                per, before, after, bad = idle_rss(opts, s, opts.idle)
                s.problems += bad
                if not s.alive():
                    s.problems.append(
                        "the server died holding idle connections (%s); stderr: %s"
                        % (describe_exit(s.proc.poll()), tail(s.err_path) or "-")
                    )
                s.stop()
                if per is not None and not bad:
                    rss[n].append(per)
                    rss_raw[n].append((before, after))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for s in servers.values():
            if s.alive():
                s.stop()
        if opts.keep_temp:
            log("configs and server logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = summarize(names, results)
    report(opts, names, skipped, servers, summary, results, errors, rss, rss_raw)
    failed = any(s.problems for s in servers.values()) or any(errors.values())
    return 1 if failed else 0


def summarize(names, results):
    out = {}
    for sc, _ in SCENARIOS:
        for n in names:
            rs = results[(sc, n)]
            if not rs:
                out[(sc, n)] = None
                continue
            out[(sc, n)] = {
                "rps": median([x["rps"] for x in rs]),
                "rps_min": min(x["rps"] for x in rs),
                "rps_max": max(x["rps"] for x in rs),
                "p50": median([x.get("p50") for x in rs]),
                "p99": median([x.get("p99") for x in rs]),
                "cpu_per_req": median([x.get("cpu_per_req") for x in rs]),
                "server_load": median([x.get("server_load") for x in rs]),
                "client_load": median([x["client_load"] for x in rs]),
                "non2xx": sum(x["non2xx"] for x in rs),
                "sockerr": tuple(sum(x["sockerr"][i] for x in rs) for i in range(4)),
                "requests": sum(x["requests"] for x in rs),
                "rounds": len(rs),
            }
    return out


def targets(names, summary, rss):
    def cpu(sc, n):
        m = summary.get((sc, n))
        return m and m["cpu_per_req"]

    lines = []
    for sc, label in (("keep-alive", "keep-alive"), ("pipelined", "pipelined")):
        w, g = cpu(sc, "weft"), cpu(sc, "nginx")
        if w and g:
            lines.append(
                "weft CPU/request <= 0.75x nginx's, %s (weft %s, nginx %s: %.2fx): %s"
                % (label, fmt_time(w), fmt_time(g), w / g, "met" if w <= 0.75 * g else "MISSED")
            )
        else:
            lines.append("weft CPU/request <= 0.75x nginx's, %s: n/a" % label)
    w, c = cpu("pipelined", "weft"), cpu("pipelined", "ceiling")
    if w and c:
        lines.append(
            "weft pipelined CPU/request within 1.1x of the libuv ceiling (weft %s, ceiling %s: %.2fx): %s"
            % (fmt_time(w), fmt_time(c), w / c, "met" if w <= 1.1 * c else "MISSED")
        )
    else:
        lines.append("weft pipelined CPU/request within 1.1x of the libuv ceiling: n/a")
    w, g = median(rss.get("weft", [])), median(rss.get("nginx", []))
    if w is not None and g is not None:
        lines.append(
            "weft RSS per idle connection <= nginx's (weft %s, nginx %s): %s"
            % (fmt_bytes(w), fmt_bytes(g), "met" if w <= g else "MISSED")
        )
    else:
        lines.append("weft RSS per idle connection <= nginx's: n/a")
    return lines


def report(opts, names, skipped, servers, summary, results, errors, rss, rss_raw):
    t = Table(
        "/plaintext, wrk -t1 -c%d, %d s runs, median of %d rounds" % (CONNECTIONS, opts.duration, opts.rounds),
        "llrrrrrrrl",
        ["scenario", "server", "req/s", "min..max", "p50", "p99", "CPU/req", "server core",
         "client core", "notes"],
    )
    first = True
    for sc, depth in SCENARIOS:
        if not first:
            t.gap()
        first = False
        for n in opts.only:
            m = summary.get((sc, n))
            notes = []
            if n in skipped:
                t.row(sc, LABEL[n], "n/a", "", "", "", "", "", "", skipped[n])
                continue
            if m is None:
                t.row(sc, LABEL[n], "n/a", "", "", "", "", "", "", "no successful run")
                continue
            if m["client_load"] > CLIENT_BOUND:
                notes.append("client-bound")
            if m["non2xx"]:
                notes.append("%s non-2xx" % fmt_count(m["non2xx"]))
            se = m["sockerr"]
            if any(se):
                notes.append("socket errors c/r/w/t %d/%d/%d/%d" % se)
            if errors[(sc, n)]:
                notes.append("%d failed runs" % len(errors[(sc, n)]))
            if m["rounds"] < opts.rounds and not errors[(sc, n)]:
                notes.append("%d rounds" % m["rounds"])
            t.row(
                sc, LABEL[n], fmt_rate(m["rps"]),
                "%s..%s" % (fmt_rate(m["rps_min"]).replace(" ", ""), fmt_rate(m["rps_max"]).replace(" ", "")),
                fmt_time(m["p50"]), fmt_time(m["p99"]), fmt_time(m["cpu_per_req"]),
                "%.0f%%" % m["server_load"] if m["server_load"] is not None else "n/a",
                "%.0f%%" % m["client_load"], ", ".join(notes),
            )
    r = Table(
        "RSS per idle keep-alive connection, %s connections, median of %d rounds"
        % (fmt_count(opts.idle), opts.rounds),
        "lrrrl",
        ["server", "RSS before", "RSS after", "per connection", "notes"],
    )
    for n in ("weft", "nginx"):
        if n not in opts.only:
            continue
        if n in skipped:
            r.row(LABEL[n], "n/a", "n/a", "n/a", skipped[n])
            continue
        v = rss.get(n, [])
        if not v:
            r.row(LABEL[n], "n/a", "n/a", "n/a", "no successful round")
            continue
        b = median([x[0] for x in rss_raw[n]])
        a = median([x[1] for x in rss_raw[n]])
        r.row(LABEL[n], fmt_bytes(b), fmt_bytes(a), fmt_bytes(median(v)), "")
    tl = targets(names, summary, rss)
    plot = make_plot(opts, names, summary, rss) if opts.plot else None

    how = [
        "weft: weft serve --threads 1 --max-connections 20000 --idle-timeout 10m (the demo app's /plaintext)",
        "nginx: 1 worker, return 200 \"Hello, World!\", default_type text/plain, access_log off, "
        "worker_connections 20000, worker_rlimit_nofile %d, keepalive_requests 1e9, keepalive_timeout 600s"
        % opts.nofile,
        "h2o: num-threads 1, no access log, file.dir serving a 13-byte file, text/plain",
        "libuv ceiling: bench/http-ceiling.c, one canned 200 per \"\\r\\n\\r\\n\", one write per read",
        "pipelined: bench/pipeline.lua, %d requests per write; its p50/p99 are of the batch (write to "
        "last response), wrk's correction redone per batch (wrk 4.1's own are wrong when pipelining)"
        % DEPTH,
        "p50/p99: wrk --latency (coordinated-omission corrected); client core: wrk's utime+stime over "
        "the run's wall time, client-bound above %.0f%%" % CLIENT_BOUND,
        "CPU/req: the server's utime+stime (/proc/PID/stat, all its processes) over the requests; "
        "server core: that CPU time over the run's wall time",
    ]
    how = [h for h in how if h.split(":", 1)[0] not in LABEL.values() or
           h.split(":", 1)[0] in [LABEL[n] for n in opts.only]]
    problems = []
    for n in names:
        for p in servers[n].problems:
            problems.append("%s: %s" % (LABEL[n], p))
        for sc, _ in SCENARIOS:
            for e in errors[(sc, n)]:
                problems.append("%s %s: %s" % (LABEL[n], sc, e))
            m = summary.get((sc, n))
            if m and (m["non2xx"] or any(m["sockerr"])):
                problems.append(
                    "%s %s: %s non-2xx responses, socket errors connect %d read %d write %d timeout %d "
                    "(of %s requests)" % ((LABEL[n], sc, fmt_count(m["non2xx"])) + m["sockerr"]
                                          + (fmt_count(m["requests"]),))
                )

    def body(md):
        out = sys.stdout
        print(file=out)
        if md:
            t.markdown(out)
            print(file=out)
            r.markdown(out)
            print(file=out)
            for h in how:
                print("- " + h, file=out)
        else:
            t.text(out)
            print(file=out)
            r.text(out)
            print(file=out)
            for h in how:
                print(h, file=out)
        print("\nTargets", file=out)
        for line in tl:
            print("- " + line, file=out)
        if problems:
            print("\nProblems", file=out)
            for p in problems:
                print("- " + p, file=out)
        if plot:
            rel = os.path.relpath(plot, ROOT)
            if rel.startswith(".."):
                rel = plot
            print("\n" + ("![HTTP benchmark](%s)" % rel if md else "plot: %s" % rel), file=out)

    body(False)
    print("\n---- markdown ----")
    body(True)
    sys.stdout.flush()


def print_report(tables, how, heading, lines, problems):
    """The report the benchmarks share: tables, the notes on how, a list
    under heading (targets or checks), any problems; as text, then again as
    markdown after a "---- markdown ----" line (for docs/benchmarks.md)."""

    def body(md):
        out = sys.stdout
        print(file=out)
        for t in tables:
            t.markdown(out) if md else t.text(out)
            print(file=out)
        for line in how:
            print(("- " if md else "") + line, file=out)
        for title, items in ((heading, lines), ("Problems", problems)):
            if items:
                print("\n" + title + (":\n" if md else ""), file=out)
                for item in items:
                    print("- " + item, file=out)

    body(False)
    print("\n---- markdown ----")
    body(True)
    sys.stdout.flush()


def make_plot(opts, names, summary, rss):
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not installed: no plot")
        return None
    tmp = tempfile.mkdtemp(prefix="weft-bench-http-plot-")
    try:
        dat = os.path.join(tmp, "http.dat")
        with open(dat, "w") as f:
            f.write("# server rps_ka rps_pipe cpu_ka_us cpu_pipe_us p99_ka_ms p99_pipe_ms\n")
            for n in names:
                row = ['"%s"' % LABEL[n]]
                for key, scale in (("rps", 1e-3), ("cpu_per_req", 1e6), ("p99", 1e3)):
                    for sc, _ in SCENARIOS:
                        m = summary.get((sc, n))
                        v = m and m[key]
                        row.append("%.6g" % (v * scale) if v is not None else "NaN")
                f.write(" ".join(row) + "\n")
        rdat = os.path.join(tmp, "rss.dat")
        with open(rdat, "w") as f:
            for n in ("weft", "nginx"):
                v = median(rss.get(n, []))
                if v is not None:
                    f.write('"%s" %.6g\n' % (LABEL[n], v))
        has_rss = os.path.getsize(rdat) > 0
        out = os.path.abspath(opts.plot)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        script = """
set terminal pngcairo size 1400,900 font ",10"
set output "{out}"
set multiplot layout 2,2 title "weft HTTP benchmark: /plaintext, server on one core, wrk -t1 -c{c} on the other ({rounds} rounds of {dur} s, medians)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key top left
set title "throughput (k req/s, higher is better)"
plot "{dat}" using 2:xtic(1) title "keep-alive", "" using 3 title "pipelined x{depth}"
set title "server CPU per request (us, lower is better)"
plot "{dat}" using 4:xtic(1) title "keep-alive", "" using 5 title "pipelined x{depth}"
set title "p99 latency (ms)"
plot "{dat}" using 6:xtic(1) title "keep-alive", "" using 7 title "pipelined x{depth}"
set title "RSS per idle keep-alive connection (bytes, {idle} connections)"
{rss_plot}
unset multiplot
""".format(
            out=out, c=CONNECTIONS, rounds=opts.rounds, dur=opts.duration, dat=dat, depth=DEPTH,
            idle=fmt_count(opts.idle),
            rss_plot=('plot "%s" using 2:xtic(1) notitle' % rdat) if has_rss
            else 'set label 1 "n/a" at graph 0.5, graph 0.5 center\nplot [0:1] NaN notitle',
        )
        res = subprocess.run([gp], input=script, text=True, capture_output=True)
        if res.returncode != 0:
            log("gnuplot failed: %s" % res.stderr.strip()[-300:])
            return None
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
