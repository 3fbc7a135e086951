#!/usr/bin/env python3
"""static.py BUILD_DIR [flags] - issue 10: static files served by
`weft serve DIR` beside nginx, in the same run (bench/README.md).

Two files in a temporary directory, a 4 KiB and a 1 MiB one (a fixed
pattern: 16-byte lines, each holding its own offset), are served by

  weft    BUILD/apps/weft/weft serve DIR --host 127.0.0.1 --port 0
          --threads 1 --max-connections 20000 --idle-timeout 10m
  nginx   bench/http/nginx-static.conf.in: 1 worker, sendfile on,
          tcp_nopush on, access_log off, keepalive_requests 1e9,
          `location / { root DIR; }`, otherwise nginx's defaults
          (open_file_cache off: it opens the file per request, as weft does)

the server pinned to one CPU, wrk to the other. Each run: a fresh server;
one plain http.client GET of the file (status 200, the body intact); the
file read once (warm in the page cache); a 1 s warm-up (not recorded); then

  wrk -t1 -c<C> -d<duration>s --latency URL/FILE

with C = 16 for the 4 KiB file and 4 for the 1 MiB one (a few connections
keep loopback busy with 1 MiB responses). Rounds are interleaved, the
order of the servers rotating; medians are quoted.

Reported per file and server: req/s (min..max of the rounds), p50 and p99
(wrk --latency), MB/s of bodies (req/s x file size, 10^6 bytes), the
server's CPU time per request (utime + stime of its processes from
/proc/PID/stat over the run), its core load, and the client core's load
(wrk's rusage over the wall time; above 90% the row is flagged
client-bound). Targets: weft's CPU per request at most nginx's, for each
file.

Python 3 standard library only; needs wrk, taskset and nginx (nginx-light).
Helpers (tables, formatting, wrk parsing, /proc readers, the server
classes) come from bench/http/run.py. Exit status 1 when a server could
not be started, crashed, answered wrongly or a run failed; a missing peer
is n/a.
"""

import argparse
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "http"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import run as h  # noqa: E402  bench/http/run.py: Table, fmt_*, parse_wrk, cpu_seconds, servers...

# (key, label, file name, size, wrk connections)
FILES = [
    ("4k", "4 KiB", "4k.bin", 4 << 10, 16),
    ("1m", "1 MiB", "1m.bin", 1 << 20, 4),
]
ALL = ["weft", "nginx"]
CLIENT_BOUND = 90.0
WORKER_CONNECTIONS = 20000


def log(msg):
    print("static: " + msg, file=sys.stderr, flush=True)


def pattern(size):
    """size bytes of 16-byte lines, each holding its offset: a misplaced or
    truncated range shows."""
    lines = b"".join(b"%015d\n" % off for off in range(0, size, 16))
    return lines[:size]


# ---- servers -----------------------------------------------------------------


class Weft(h.Weft):
    def argv(self):
        return [
            self.exe(), "serve", self.opts.www, "--host", "127.0.0.1", "--port", "0", "--threads", "1",
            "--max-connections", str(WORKER_CONNECTIONS), "--idle-timeout", "10m",
        ]


class Nginx(h.Nginx):
    def prepare(self):
        self.port = h.free_port()
        self.conf = os.path.join(self.tmp, "nginx-static.conf")
        with open(self.conf, "w") as f:
            f.write(h.fill("nginx-static.conf.in", {
                "DIR": self.tmp, "ROOT": self.opts.www, "PORT": self.port,
                "WORKER_CONNECTIONS": WORKER_CONNECTIONS, "RLIMIT_NOFILE": self.opts.nofile,
            }))

    def stop(self):
        """SIGTERM to the master by PID (run.py's stop); then any worker the
        master left behind (only if it had to be killed), by PID too."""
        kids = [p for p in h.tree(self.proc.pid) if p != self.proc.pid] if self.alive() else []
        code = super().stop()
        for p in kids:
            try:
                with open("/proc/%d/comm" % p) as f:
                    if not f.read().startswith("nginx"):
                        continue
                os.kill(p, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        return code


CLASSES = {"weft": Weft, "nginx": Nginx}


# ---- one run -------------------------------------------------------------------


def check(port, name, data):
    """One plain GET; a list of problems."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/" + name)
        r = c.getresponse()
        body = r.read()
    except (OSError, http.client.HTTPException) as e:
        return ["GET /%s: %s" % (name, e)]
    finally:
        c.close()
    p = []
    if r.status != 200:
        p.append("GET /%s answered %d" % (name, r.status))
    elif body != data:
        p.append("GET /%s: body of %d bytes differs from the file's %d" % (name, len(body), len(data)))
    return p


def warm_cache(path):
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def run_wrk(opts, server, f, duration):
    """One wrk run against server for file f. A dict of figures, or raises."""
    key, _, name, size, conns = f
    argv = ["taskset", "-c", str(opts.client_cpu), "wrk", "-t1", "-c%d" % conns, "-d%ds" % duration,
            "--latency", "http://127.0.0.1:%d/%s" % (server.port, name)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        cpu0 = h.cpu_seconds(server.pid)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu1 = h.cpu_seconds(server.pid) if server.alive() else None
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        etext = err.read().decode(errors="replace").strip()
    r = h.parse_wrk(text)
    if p.returncode != 0 or "requests" not in r or "rps" not in r:
        raise RuntimeError("wrk failed (%s): %s" % (h.describe_exit(p.returncode), (etext or text)[-300:]))
    if cpu1 is None:
        raise RuntimeError("the server died during the run (run dropped)")
    r["mbps"] = r["rps"] * size / 1e6
    r["client_load"] = 100.0 * (ru.ru_utime + ru.ru_stime) / wall
    r["server_load"] = 100.0 * (cpu1 - cpu0) / wall
    r["cpu_per_req"] = (cpu1 - cpu0) / r["requests"] if r["requests"] else None
    return r


def measure(opts, name, f, tmp, live, problems):
    """A fresh server, checked, warmed, measured, stopped. A dict or None."""
    key, flabel, fname, _, _ = f
    what = "%s %s" % (h.LABEL[name], flabel)
    server = CLASSES[name](name, opts, tmp)
    live.append(server)
    try:
        try:
            server.start()
        except RuntimeError as e:
            problems.append("%s: %s" % (what, e))
            return None
        bad = check(server.port, fname, opts.data[key])
        if bad:
            problems += ["%s: %s" % (what, b) for b in bad]
            return None
        warm_cache(os.path.join(opts.www, fname))
        try:
            run_wrk(opts, server, f, opts.warmup)
            warm_cache(os.path.join(opts.www, fname))
            return run_wrk(opts, server, f, opts.duration)
        except RuntimeError as e:
            if not server.alive():
                e = "%s; the server died (%s): %s" % (e, h.describe_exit(server.proc.poll()),
                                                      h.tail(server.err_path) or "-")
            problems.append("%s: %s" % (what, e))
            return None
    finally:
        server.stop()
        problems += ["%s: %s" % (what, p) for p in server.problems]
        live.remove(server)


# ---- report ----------------------------------------------------------------------


def report(opts, names, skipped, results, failed, problems):
    t = h.Table(
        "static files, wrk -t1 --latency (-c16 for 4 KiB, -c4 for 1 MiB), server on CPU %s, wrk on CPU %s, "
        "%d s runs, median of %d rounds" % (opts.server_cpu, opts.client_cpu, opts.duration, opts.rounds),
        "llrrrrrrrrl",
        ["file", "server", "req/s", "min..max", "p50", "p99", "MB/s", "CPU/req", "server core",
         "client core", "notes"],
    )
    med = {}
    for i, f in enumerate(FILES):
        key, flabel = f[0], f[1]
        if i:
            t.gap()
        for n in opts.only:
            if n in skipped:
                t.row(flabel, h.LABEL[n], "n/a", "", "", "", "", "", "", "", skipped[n])
                continue
            rs = results[(key, n)]
            if not rs:
                t.row(flabel, h.LABEL[n], "n/a", "", "", "", "", "", "", "", "no successful run")
                continue
            m = {k: h.median([r.get(k) for r in rs]) for k in
                 ("rps", "p50", "p99", "mbps", "cpu_per_req", "server_load", "client_load")}
            med[(key, n)] = m
            notes = h.run_notes(m["client_load"], rs, CLIENT_BOUND)
            if failed[(key, n)]:
                notes.append("%d failed runs" % failed[(key, n)])
            elif len(rs) < opts.rounds:
                notes.append("%d rounds" % len(rs))
            rps = [r["rps"] for r in rs]
            t.row(
                flabel, h.LABEL[n], h.fmt_rate(m["rps"]),
                "%s..%s" % (h.fmt_rate(min(rps)).replace(" ", ""), h.fmt_rate(max(rps)).replace(" ", "")),
                h.fmt_time(m["p50"]), h.fmt_time(m["p99"]), "%.0f" % m["mbps"], h.fmt_time(m["cpu_per_req"]),
                "%.0f%%" % m["server_load"], "%.0f%%" % m["client_load"], ", ".join(notes),
            )
            non2xx = sum(r["non2xx"] for r in rs)
            se = [sum(x) for x in zip(*(r["sockerr"] for r in rs))]
            if non2xx or any(se):
                problems.append("%s %s: %s non-2xx responses, socket errors connect %d read %d write %d "
                                "timeout %d" % ((h.LABEL[n], flabel, h.fmt_count(non2xx)) + tuple(se)))
    targets = []
    for key, flabel, _, _, _ in FILES:
        w, g = med.get((key, "weft")), med.get((key, "nginx"))
        w, g = w and w["cpu_per_req"], g and g["cpu_per_req"]
        if w and g:
            targets.append("weft CPU/request <= nginx's (%s) (weft %s, nginx %s: %.2fx): %s"
                           % (flabel, h.fmt_time(w), h.fmt_time(g), w / g, "met" if w <= g else "MISSED"))
        else:
            targets.append("weft CPU/request <= nginx's (%s): n/a" % flabel)
    how = [
        "weft: weft serve DIR --host 127.0.0.1 --port 0 --threads 1 --max-connections %d --idle-timeout 10m"
        % WORKER_CONNECTIONS,
        "nginx: bench/http/nginx-static.conf.in: 1 worker, location / { root DIR; }, sendfile on, "
        "tcp_nopush on, access_log off, worker_connections %d, worker_rlimit_nofile %d, "
        "keepalive_requests 1e9; nginx's defaults otherwise (open_file_cache off: a file is opened per "
        "request, as weft does; etag on)" % (WORKER_CONNECTIONS, opts.nofile),
        "files: 4 KiB and 1 MiB of a fixed pattern in a temporary directory, read once before each run "
        "(in the page cache); each run on a fresh server, after one checked GET (200, body intact) and "
        "a %d s warm-up" % opts.warmup,
        "p50/p99: wrk --latency; MB/s: req/s x file size (bodies, 10^6 bytes)",
        "CPU/req: the server's utime+stime (/proc/PID/stat, all its processes) over the requests; "
        "server core: that CPU time over the run's wall time; client core: wrk's utime+stime over the "
        "wall time, client-bound above %.0f%%" % CLIENT_BOUND,
    ]
    how = [x for x in how if x.split(":", 1)[0] not in ALL or x.split(":", 1)[0] in opts.only]

    h.print_report([t], how, "Targets", targets, problems)


# ---- main ------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/static.py",
        description="Static files (4 KiB, 1 MiB) served by `weft serve DIR` and nginx.",
    )
    ap.add_argument("build", help="build directory (its apps/weft/weft is tested)")
    ap.add_argument("--rounds", type=int, help="interleaved rounds; medians are quoted (3)")
    ap.add_argument("--duration", type=int, help="seconds per wrk run (10)")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    ap.add_argument("--only", help="comma list among weft,nginx (default: both)")
    ap.add_argument("--server-cpu", type=int, help="CPU for the servers (first allowed)")
    ap.add_argument("--client-cpu", type=int, help="CPU for wrk (second allowed)")
    ap.add_argument("--keep-temp", action="store_true", help="keep the files, configs and server logs")
    o = ap.parse_args(argv)
    o.rounds = o.rounds or (2 if o.quick else 3)
    o.duration = o.duration or (3 if o.quick else 10)
    o.warmup = 1
    if o.rounds < 1 or o.duration < 1:
        ap.error("--rounds and --duration must be positive")
    if o.only:
        o.only = [x.strip() for x in o.only.split(",") if x.strip()]
        bad = [x for x in o.only if x not in ALL]
        if bad or not o.only:
            ap.error("--only: among weft, nginx")
    else:
        o.only = list(ALL)
    h.pin_cpus(o)
    return o


def banner(opts):
    u = os.uname()
    print("bench/static: run with nothing else busy on this machine.")
    print("machine: nproc %d (online %d), %s %s %s; load average now: %.2f %.2f %.2f"
          % ((len(os.sched_getaffinity(0)), os.cpu_count() or 0, u.sysname, u.release, u.machine)
             + os.getloadavg()))
    print("server on CPU %d, wrk on CPU %d; %d rounds of %d s; files %s"
          % (opts.server_cpu, opts.client_cpu, opts.rounds, opts.duration,
             ", ".join("%s (wrk -c%d)" % (f[1], f[4]) for f in FILES)))
    if opts.server_cpu == opts.client_cpu:
        print("warning: one CPU only: server and client share it; the figures mean little")
    sys.stdout.flush()


def main(argv):
    opts = parse_args(argv)
    banner(opts)
    missing = [x for x in ("wrk", "taskset") if not shutil.which(x)]
    if missing:
        why = "%s not installed (scripts/deps.sh bench)" % ", ".join(missing)
        print("\nstatic: n/a: %s" % why)
        print("\n---- markdown ----\n\nstatic: n/a: %s" % why)
        return 0
    opts.nofile = h.raise_nofile(2 * WORKER_CONNECTIONS + 100)
    tmp = tempfile.mkdtemp(prefix="weft-bench-static-")
    os.chmod(tmp, 0o755)  # nginx's worker runs as nobody when started by root
    opts.www = os.path.join(tmp, "www")
    os.mkdir(opts.www)
    os.chmod(opts.www, 0o755)
    opts.data = {}
    for key, _, name, size, _ in FILES:
        opts.data[key] = pattern(size)
        path = os.path.join(opts.www, name)
        with open(path, "wb") as f:
            f.write(opts.data[key])
        os.chmod(path, 0o644)
    skipped = {}
    for n in opts.only:
        why = CLASSES[n](n, opts, tmp).available()
        if why:
            skipped[n] = why
            log("%s: n/a: %s" % (n, why))
    names = [n for n in opts.only if n not in skipped]
    results = {(f[0], n): [] for f in FILES for n in names}
    failed = {(f[0], n): 0 for f in FILES for n in names}
    problems = []
    live = []  # the server being measured, for the finally below
    try:
        for rnd in range(opts.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)] if names else []
            for f in FILES:
                for n in order:
                    log("round %d/%d: %s %s" % (rnd + 1, opts.rounds, f[1], n))
                    r = measure(opts, n, f, tmp, live, problems)
                    if r is None:
                        failed[(f[0], n)] += 1
                        continue
                    results[(f[0], n)].append(r)
                    log("  %s, p99 %s, CPU/req %s" % (h.fmt_rate(r["rps"]), h.fmt_time(r.get("p99")),
                                                      h.fmt_time(r["cpu_per_req"])))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for s in list(live):
            s.stop()  # by PID; measure() stops it on every other path
        if opts.keep_temp:
            log("files, configs and server logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(opts, names, skipped, results, failed, problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
