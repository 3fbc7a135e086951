#!/usr/bin/env python3
"""offload.py BUILD_DIR [flags] - issue 9: a CPU-bound handler offloaded to
the pool against the same computation inline, at equal thread counts
(bench/README.md).

The server is `bench-routing --serve MODE --loops L --pool P` (bench/routing.c):
GET /fib/:n computes fib(n) recursively (the same out-of-line function in
both modes; fib(25) takes about 0.3 ms here), either in the handler on the
loop (inline) or in a job on a weft pool of P threads through weft_offload
(offload); GET /plaintext answers "Hello, World!" on the loop.

Fairness on two cores: the server is pinned to one core (taskset), both
wrk instances to the other, so every configuration has the same CPU (one
core) and the same number of threads:

  2 threads   inline, 2 loops            offload, 1 loop + 1 pool thread
  4 threads   inline, 4 loops            offload, 2 loops + 2 pool threads

Each run, on a fresh server after a short warm-up: the load,
  wrk -t1 -c16 -d<duration+1>s --latency  .../fib/25
and, started 0.5 s later on the same server, the latency probe,
  wrk -t1 -c4 -d<duration>s --latency -s <probe.lua>  .../plaintext
whose Lua delay() waits 2 ms between a connection's requests (at most
~2,000 req/s: light, so the probe measures the loop's responsiveness rather
than loading it; wrk's latency excludes the delay). A baseline run has the
probe alone (no /fib load) on the offload server. Rounds are interleaved,
the order rotating; medians are quoted.

Reported: /fib req/s (the load wrk's), /fib p50, /plaintext p50/p99 (the
probe's wrk --latency), the probe's req/s, the server's CPU time per /fib
request and its core load (utime + stime from /proc/PID/stat over the run),
and the client core's load (both wrk's rusage over the wall time; above 90%
the row is flagged client-bound).

Checks (the issue names no number): offloaded /plaintext p99 below the
inline one at the same thread count; offloaded /fib req/s at least 0.9x
inline's (offloading must not cost the CPU-bound route its throughput).

Python 3 standard library only; needs wrk and taskset. Helpers (wrk output
parsing, tables, /proc readers) come from bench/http/run.py.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "http"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import run as h  # noqa: E402  bench/http/run.py: Table, fmt_*, parse_wrk, cpu_seconds...

FIB_N = 25
FIB_VALUE = b"75025\n"
LOAD_CONNECTIONS = 16
PROBE_CONNECTIONS = 4
PROBE_DELAY_MS = 2
PROBE_START = 0.5  # seconds after the load starts
CLIENT_BOUND = 90.0

PROBE_LUA = """-- the /plaintext latency probe: %d ms between a connection's requests
delay = function()
   return %d
end
""" % (PROBE_DELAY_MS, PROBE_DELAY_MS)

# (key, mode, loops, pool threads, with the /fib load)
PAIRS = {
    2: [("inline-2", "inline", 2, 0, True), ("offload-1+1", "offload", 1, 1, True)],
    4: [("inline-4", "inline", 4, 0, True), ("offload-2+2", "offload", 2, 2, True)],
}
BASELINE = ("baseline", "offload", 1, 1, False)


def log(msg):
    print("offload: " + msg, file=sys.stderr, flush=True)


def label(cfg):
    key, mode, loops, pool, load = cfg
    if not load:
        return "no /fib load (offload, 1 loop + 1 pool thread)"
    s = "%s, %d loop%s" % (mode, loops, "s" if loops > 1 else "")
    if pool:
        s += " + %d pool thread%s" % (pool, "s" if pool > 1 else "")
    return s


def threads(cfg):
    return cfg[2] + cfg[3]


class Server:
    def __init__(self, opts, cfg, tmp):
        self.opts, self.cfg, self.tmp = opts, cfg, tmp
        self.proc, self.port, self.starts = None, None, 0

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        self.starts += 1
        _, mode, loops, pool, _ = self.cfg
        self.out_path = os.path.join(self.tmp, "%s-%d.out" % (self.cfg[0], self.starts))
        self.err_path = os.path.join(self.tmp, "%s-%d.err" % (self.cfg[0], self.starts))
        argv = [
            "taskset", "-c", str(self.opts.server_cpu), self.opts.exe, "--serve", mode,
            "--loops", str(loops), "--pool", str(pool),
        ]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError("server exited at start (%s): %s" % (
                    h.describe_exit(self.proc.returncode), h.tail(self.err_path)))
            try:
                with open(self.out_path) as f:
                    line = f.readline()
                if line.startswith("listening on http://") and line.endswith("/\n"):
                    self.port = int(line.rsplit(":", 1)[1].rstrip("/\n"))
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("server did not start within 10 s: %s" % h.tail(self.err_path))

    def stop(self):
        """SIGTERM by PID; returns a problem or None."""
        if self.proc is None:
            return None
        problem = None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                problem = "did not stop within 10 s of SIGTERM (killed)"
        code = self.proc.returncode
        self.proc = None
        if problem is None and code != 0:
            problem = "on SIGTERM: %s; stderr: %s" % (h.describe_exit(code), h.tail(self.err_path) or "-")
        return problem


def check(port):
    """GET /fib/25 and /plaintext on one connection; a list of problems."""
    req = "GET /fib/%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall((req % FIB_N).encode())
            (a, _, fb), (b, _, pb) = h.read_responses(s, 2)
    except (OSError, ValueError) as e:
        return ["checking /fib and /plaintext: %s" % e]
    p = []
    if a != 200 or fb != FIB_VALUE:
        p.append("/fib/%d answered %d %r" % (FIB_N, a, fb[:40]))
    if b != 200 or pb != h.BODY:
        p.append("/plaintext answered %d %r" % (b, pb[:40]))
    return p


def start_wrk(opts, argv, out, err):
    argv = ["taskset", "-c", str(opts.client_cpu), "wrk"] + argv
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)


def finish_wrk(p, out, err):
    try:
        _, status, ru = os.wait4(p.pid, 0)
    except BaseException:
        p.kill()
        p.wait()
        raise
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    text = out.read().decode(errors="replace")
    etext = err.read().decode(errors="replace").strip()
    r = h.parse_wrk(text)
    if p.returncode != 0 or "requests" not in r or "rps" not in r:
        raise RuntimeError("wrk failed (%s): %s" % (h.describe_exit(p.returncode), (etext or text)[-300:]))
    r["cpu"] = ru.ru_utime + ru.ru_stime
    return r


def one_run(opts, server, load, duration):
    """The /fib load (if load) and the probe at once. A dict of figures."""
    base = "http://127.0.0.1:%d" % server.port
    files = [tempfile.TemporaryFile() for _ in range(4)]
    try:
        cpu0 = h.cpu_seconds(server.pid)
        t0 = time.monotonic()
        lw = None
        if load:
            lw = start_wrk(opts, ["-t1", "-c%d" % LOAD_CONNECTIONS, "-d%ds" % (duration + 1), "--latency",
                                  "%s/fib/%d" % (base, FIB_N)], files[0], files[1])
            time.sleep(PROBE_START)
        pw = start_wrk(opts, ["-t1", "-c%d" % PROBE_CONNECTIONS, "-d%ds" % duration, "--latency",
                              "-s", opts.probe_lua, "%s/plaintext" % base], files[2], files[3])
        probe = finish_wrk(pw, files[2], files[3])
        fib = finish_wrk(lw, files[0], files[1]) if lw else None
        wall = time.monotonic() - t0
        cpu1 = h.cpu_seconds(server.pid) if server.alive() else None
    finally:
        for f in files:
            f.close()
    r = {
        "probe_p50": probe.get("p50"), "probe_p99": probe.get("p99"), "probe_rps": probe["rps"],
        "fib_rps": fib["rps"] if fib else None, "fib_p50": fib.get("p50") if fib else None,
        "non2xx": probe["non2xx"] + (fib["non2xx"] if fib else 0),
        "sockerr": tuple(a + b for a, b in zip(probe["sockerr"], fib["sockerr"] if fib else (0, 0, 0, 0))),
        "client_load": 100.0 * (probe["cpu"] + (fib["cpu"] if fib else 0)) / wall,
        "server_load": None, "cpu_per_fib": None,
    }
    if cpu1 is not None:
        r["server_load"] = 100.0 * (cpu1 - cpu0) / wall
        if fib and fib["requests"]:
            r["cpu_per_fib"] = (cpu1 - cpu0) / fib["requests"]
    return r


def measure(opts, cfg, tmp, problems, warm):
    server = Server(opts, cfg, tmp)
    try:
        server.start()
    except RuntimeError as e:
        problems.append("%s: %s" % (label(cfg), e))
        return None
    try:
        bad = check(server.port)
        if bad:
            problems += ["%s: %s" % (label(cfg), b) for b in bad]
            return None
        if warm:
            one_run(opts, server, cfg[4], opts.warmup)
        return one_run(opts, server, cfg[4], opts.duration)
    except RuntimeError as e:
        problems.append("%s: %s" % (label(cfg), e))
        return None
    finally:
        p = server.stop()
        if p:
            problems.append("%s: %s" % (label(cfg), p))


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/offload.py",
        description="/fib/25 offloaded to weft's pool vs inline, /plaintext latency beside it.",
    )
    ap.add_argument("build", help="build directory configured with -DWEFT_BUILD_BENCH=ON")
    ap.add_argument("--rounds", type=int, help="interleaved rounds; medians are quoted (3)")
    ap.add_argument("--duration", type=int, help="seconds per probe run (10)")
    ap.add_argument("--threads", help="comma list of thread counts among 2,4 (2,4; quick: 2)")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s, 2 threads only")
    ap.add_argument("--no-baseline", action="store_true", help="skip the probe-only run")
    ap.add_argument("--server-cpu", help="CPU (a taskset list) for the server (first allowed)")
    ap.add_argument("--client-cpu", help="CPU (a taskset list) for both wrk (second allowed)")
    o = ap.parse_args(argv)
    o.rounds = o.rounds or (2 if o.quick else 3)
    o.duration = o.duration or (3 if o.quick else 10)
    o.warmup = 1
    if o.rounds < 1 or o.duration < 1:
        ap.error("--rounds and --duration must be positive")
    try:
        o.threads = [int(x) for x in (o.threads or ("2" if o.quick else "2,4")).split(",")]
    except ValueError:
        ap.error("--threads: numbers among 2,4")
    if any(t not in PAIRS for t in o.threads):
        ap.error("--threads: among 2,4")
    allowed = sorted(os.sched_getaffinity(0))
    if o.server_cpu is None:
        o.server_cpu = str(allowed[0])
    if o.client_cpu is None:
        rest = [c for c in allowed if str(c) != o.server_cpu]
        o.client_cpu = str(rest[0] if rest else o.server_cpu)
    o.exe = os.path.join(os.path.abspath(o.build), "bench", "bench-routing")
    return o


def report(opts, configs, results, problems):
    t = h.Table(
        "/fib/%d under wrk -t1 -c%d, /plaintext probed by wrk -t1 -c%d (%d ms apart), server on CPU %s, "
        "wrk on CPU %s, %d s runs, median of %d rounds"
        % (FIB_N, LOAD_CONNECTIONS, PROBE_CONNECTIONS, PROBE_DELAY_MS, opts.server_cpu, opts.client_cpu,
           opts.duration, opts.rounds),
        "lrrrrrrrrrrl",
        ["configuration", "threads", "/fib req/s", "min..max", "/fib p50", "/plaintext p50",
         "/plaintext p99", "probe req/s", "CPU per /fib", "server core", "client core", "notes"],
    )
    med = {}
    prev = None
    for cfg in configs:
        if prev is not None and threads(cfg) != prev:
            t.gap()
        prev = threads(cfg)
        rs = results[cfg[0]]
        if not rs:
            t.row(label(cfg), threads(cfg), "n/a", "", "", "", "", "", "", "", "", "no successful run")
            continue
        m = {k: h.median([r[k] for r in rs]) for k in
             ("fib_rps", "fib_p50", "probe_p50", "probe_p99", "probe_rps", "cpu_per_fib",
              "server_load", "client_load")}
        med[cfg[0]] = m
        fibs = [r["fib_rps"] for r in rs if r["fib_rps"] is not None]
        notes = h.run_notes(m["client_load"], rs, CLIENT_BOUND)
        if len(rs) < opts.rounds:
            notes.append("%d rounds" % len(rs))
        t.row(
            label(cfg), threads(cfg),
            h.fmt_rate(m["fib_rps"]) if fibs else "-",
            ("%s..%s" % (h.fmt_rate(min(fibs)).replace(" ", ""), h.fmt_rate(max(fibs)).replace(" ", "")))
            if fibs else "",
            h.fmt_time(m["fib_p50"]) if fibs else "-",
            h.fmt_time(m["probe_p50"]), h.fmt_time(m["probe_p99"]), h.fmt_rate(m["probe_rps"]),
            h.fmt_time(m["cpu_per_fib"]) if fibs else "-",
            "%.0f%%" % m["server_load"] if m["server_load"] is not None else "n/a",
            "%.0f%%" % m["client_load"], ", ".join(notes),
        )
    checks = []
    for n in opts.threads:
        inl, off = PAIRS[n][0], PAIRS[n][1]
        a, b = med.get(inl[0]), med.get(off[0])
        if not a or not b:
            checks.append("%d threads: n/a" % n)
            continue
        checks.append(
            "%d threads: offloaded /plaintext p99 < inline's (%s vs %s, %.1fx better): %s"
            % (n, h.fmt_time(b["probe_p99"]), h.fmt_time(a["probe_p99"]),
               a["probe_p99"] / b["probe_p99"], "met" if b["probe_p99"] < a["probe_p99"] else "MISSED")
        )
        checks.append(
            "%d threads: offloaded /fib req/s >= 0.9x inline's (%.2fx): %s"
            % (n, b["fib_rps"] / a["fib_rps"], "met" if b["fib_rps"] >= 0.9 * a["fib_rps"] else "MISSED")
        )
    how = [
        "server: BUILD/bench/bench-routing --serve inline|offload --loops L --pool P, pinned to CPU %s; "
        "both wrk pinned to CPU %s" % (opts.server_cpu, opts.client_cpu),
        "/fib/%d: recursive fib, the same function inline (in the handler, on the loop) or in a pool "
        "job (weft_offload); both answer \"75025\\n\" as text/plain" % FIB_N,
        "p50/p99: wrk --latency (its coordinated-omission correction included); the probe's exclude "
        "its %d ms delay" % PROBE_DELAY_MS,
        "CPU per /fib: the server's utime+stime over the run (probe included) over the /fib requests; "
        "server core: that CPU over the wall time; client core: both wrk's CPU over the wall time",
    ]

    h.print_report([t], how, "Checks", checks, problems)


def main(argv):
    opts = parse_args(argv)
    print("bench/offload: run with nothing else busy on this machine.")
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print("machine: nproc %d (online %d), Linux %s; load average now: %s"
          % (len(os.sched_getaffinity(0)), os.cpu_count() or 0, os.uname().release, load))
    print("server on CPU %s, both wrk on CPU %s; %d rounds of %d s; fib(%d)"
          % (opts.server_cpu, opts.client_cpu, opts.rounds, opts.duration, FIB_N))
    sys.stdout.flush()
    missing = [x for x in ("wrk", "taskset") if not shutil.which(x)]
    if missing or not os.access(opts.exe, os.X_OK):
        why = ("%s not installed" % ", ".join(missing)) if missing else "%s not built" % opts.exe
        print("\noffload: n/a: %s" % why)
        print("\n---- markdown ----\n\noffload: n/a: %s" % why)
        return 0
    configs = [c for n in opts.threads for c in PAIRS[n]]
    if not opts.no_baseline:
        configs.append(BASELINE)
    results = {c[0]: [] for c in configs}
    problems = []
    with tempfile.TemporaryDirectory(prefix="weft-bench-offload-") as tmp:
        opts.probe_lua = os.path.join(tmp, "probe.lua")
        with open(opts.probe_lua, "w") as f:
            f.write(PROBE_LUA)
        for rnd in range(opts.rounds):
            order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
            for cfg in order:
                log("round %d/%d: %s" % (rnd + 1, opts.rounds, label(cfg)))
                r = measure(opts, cfg, tmp, problems, warm=True)
                if r:
                    results[cfg[0]].append(r)
                    log("  /fib %s, /plaintext p50 %s p99 %s" % (
                        h.fmt_rate(r["fib_rps"]) if r["fib_rps"] else "-",
                        h.fmt_time(r["probe_p50"]), h.fmt_time(r["probe_p99"])))
    report(opts, configs, results, problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
