#!/usr/bin/env python3
"""Replay llhttp's strict request fixtures against a running weft.

The fixtures are read from ../shared/testdata/llhttp (env WEFT_TESTDATA
names the testdata folder; never copied into this repository). Their
README says how to rebuild each fixture's bytes and how to read llhttp's
verdict from its log; this runner follows it:

- only `"type": "request"` fixtures (llhttp's strict mode) are replayed;
- `error code=22/23` (Pause on CONNECT/Upgrade, PRI) is a hand-over, not a
  rejection: weft must answer that request without switching protocols;
- `error code=5` (Data after `Connection: close`): the first request was
  fine, weft answers it and ignores the rest;
- any other `error code=` rejects the request being parsed; requests
  completed before it were accepted (pipelining).

Each fixture is sent on a fresh connection; the runner then shuts its
write side and reads until the server closes (or a timeout). weft's
verdict: *accepted* when every request llhttp accepted got a final
response other than 400, *rejected* when a 400 came (then the close).
HTTP/1.1 requests without Host are rejected by weft (RFC 9112 3.2); those
are counted apart as "missing Host". Every other disagreement must be
listed in llhttp_allowlist.txt as `heading -- RFC section and reason`;
unlisted mismatches and stale allowlist entries fail the run.

    python3 llhttp_fixtures.py [--weft-bin PATH] [--list] [--verbose]
            [--only SUBSTRING]

--list prints every fixture with llhttp's verdict and needs no binary.
"""

import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import weftproc  # noqa: E402
from weftproc import RawConn, WeftServer, T, parse_responses  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ALLOWLIST = os.path.join(HERE, "llhttp_allowlist.txt")
HANDOVER_CODES = {22, 23}   # Pause on CONNECT/Upgrade, Pause on PRI/Upgrade
CLOSE_CODES = {5}           # Data after `Connection: close`


def testdata_dir():
    return os.environ.get("WEFT_TESTDATA") or os.path.join(
        weftproc.REPO, "..", "shared", "testdata")


def fixtures_dir():
    return os.path.join(testdata_dir(), "llhttp", "request")


# ------------------------------------------------------------ the fixtures

class Fixture:
    def __init__(self, file, line, heading, meta, text, log):
        self.file = file
        self.line = line
        self.heading = heading
        self.key = heading
        self.meta = meta
        self.text = text
        self.log = log
        self.data = rebuild(text)

    def where(self):
        return "%s:%d" % (self.file, self.line)


def rebuild(text):
    """The input bytes of a fixture's ```http block (testdata/README.md)."""
    s = text[:-1] if text.endswith("\n") else text          # 1
    s = re.sub(r"\\(\r\n|\r|\n)", "", s)                     # 2
    s = re.sub(r"\r\n|\r|\n", "\r\n", s)                     # 3
    s = s.replace("\\r", "\r").replace("\\n", "\n")          # 4
    s = s.replace("\\t", "\t").replace("\\f", "\f")
    s = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), s)
    s = re.sub(r"\\([0-7]{1,3})", lambda m: chr(int(m.group(1), 8)), s)
    return s.encode("utf-8")                                 # 5


_META_RE = re.compile(r"^<!--\s*meta=(\{.*\})\s*-->\s*$")


def parse_markdown(path):
    """[(line, heading, meta, http_text, log_lines)] for every test."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    tests = []
    heading = None
    meta = meta_line = None
    http_text = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            info = line[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            text = "".join(b + "\n" for b in body)
            if info == "http" and meta is not None:
                http_text = text
            elif info == "log" and http_text is not None:
                tests.append((meta_line, heading, meta, http_text,
                              [b for b in body if b.strip()]))
                meta = http_text = None
            i += 1
            continue
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            heading = m.group(2)
        elif (i + 1 < len(lines) and line.strip()
              and re.match(r"^(=+|-+)\s*$", lines[i + 1])):
            heading = line.strip()
        mm = _META_RE.match(line.strip())
        if mm:
            meta = json.loads(mm.group(1))
            meta_line = i + 1
            http_text = None
        i += 1
    return tests


def load_fixtures(folder=None, types=("request",)):
    folder = folder or fixtures_dir()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".md"))
    out = []
    seen = {}
    for name in names:
        for line, heading, meta, text, log in parse_markdown(
                os.path.join(folder, name)):
            if meta.get("type") not in types:
                continue
            fx = Fixture(name, line, heading, meta, text, log)
            n = seen.get(heading, 0) + 1
            seen[heading] = n
            if n > 1:
                fx.key = "%s #%d" % (heading, n)
            out.append(fx)
    return out


# ------------------------------------------------------ llhttp's verdict

class Req:
    def __init__(self, begin):
        self.begin = begin
        self.fields = []             # header names, as sent
        self.values = []             # their values (bytes), as sent
        self._field = ""
        self._value = b""
        self.version = None          # "1/1" from "headers complete"
        self.headers_complete = False
        self.complete = False

    @property
    def hosts(self):
        return sum(1 for f in self.fields if f.lower() == "host")

    def asks_close(self):
        """Whether a Connection header lists `close` (OWS trimmed)."""
        for k, v in zip(self.fields, self.values):
            if k.lower() == "connection":
                toks = [t.strip(b" \t").lower() for t in v.split(b",")]
                if b"close" in toks:
                    return True
        return False

    def lacks_host(self):
        """weft answers 400 (RFC 9112 3.2): HTTP/1.1 without a Host, once
        its head is complete."""
        return self.version == "1/1" and self.hosts == 0


class Expectation:
    """kind: accept | reject | handover | close. `at`: index of the request
    that llhttp rejected or handed over (None for accept/close)."""

    def __init__(self):
        self.requests = []
        self.n_complete = 0
        self.error = None
        self.code = None
        self.kind = "accept"
        self.at = None

    @property
    def trailing_incomplete(self):
        return bool(self.requests) and not self.requests[-1].complete


_LOG_RE = re.compile(r"^off=(\d+|NULL) (.*)$")


def expectation(fx):
    e = Expectation()
    cur = None
    for line in fx.log:
        m = _LOG_RE.match(line)
        if not m:
            continue
        ev = m.group(2)
        if ev == "message begin":
            cur = Req(int(m.group(1)))
            e.requests.append(cur)
        elif ev.startswith("len=") and "span[header_" in ev:
            # The span's bytes, taken from the input by offset and length.
            off, n = int(m.group(1)), int(re.match(r"len=(\d+)", ev).group(1))
            piece = fx.data[off:off + n]
            if "span[header_field]" in ev:
                cur._field += piece.decode("latin-1")
            elif "span[header_value]" in ev:
                cur._value += piece
        elif ev == "header_field complete":
            cur.fields.append(cur._field)
            cur.values.append(b"")
            cur._field = ""
        elif ev == "header_value complete":
            if cur.values:
                cur.values[-1] = cur._value
            cur._value = b""
        elif ev.startswith("headers complete"):
            mv = re.search(r"\bv=(\d+/\d+)", ev)
            cur.version = mv.group(1) if mv else None
            cur.headers_complete = True
        elif ev == "message complete":
            cur.complete = True
            e.n_complete += 1
        elif ev.startswith("error code="):
            e.error = ev
            e.code = int(re.match(r"error code=(\d+)", ev).group(1))
            break
    if e.code is None:
        e.kind = "accept"
    elif e.code in HANDOVER_CODES:
        e.kind = "handover"
        e.at = len(e.requests) - 1
    elif e.code in CLOSE_CODES:
        e.kind = "close"
    else:
        e.kind = "reject"
        e.at = e.n_complete
    return e


def llhttp_verdict(e):
    if e.kind == "reject":
        return "rejects request %d (%s)" % (e.at + 1, e.error)
    if e.kind == "handover":
        return "hands request %d over (%s)" % (e.at + 1, e.error)
    s = "accepts %d request(s)" % e.n_complete
    if e.kind == "close":
        s += ", ignores the rest (%s)" % e.error
    if e.trailing_incomplete:
        s += ", last one incomplete"
    return s


# --------------------------------------------------------- weft's verdict

class Observation:
    def __init__(self, data, how, responses, parse_error):
        self.data = data
        self.how = how                   # closed | reset | timeout
        self.responses = responses       # every response, 1xx included
        self.finals = [r for r in responses if not r.interim]
        self.parse_error = parse_error

    def statuses(self):
        return [r.status for r in self.responses]

    def describe(self):
        s = "statuses %s, then %s" % (self.statuses() or "none", self.how)
        if self.parse_error:
            s += "; unparsable bytes (%s)" % self.parse_error
        return s


def head_indexes(fx, e):
    """Which final responses answer a HEAD (no body follows)."""
    heads = set()
    for i, r in enumerate(e.requests):
        if fx.data[r.begin:r.begin + 5] == b"HEAD ":
            heads.add(i)
    return heads


def observe(port, fx, e, timeout=5.0):
    conn = RawConn(port, timeout=timeout)
    try:
        if not conn.try_send(fx.data):
            data, how = conn.read_all(timeout=2.0)
        else:
            conn.shutdown_write()
            data, how = conn.read_all(timeout=timeout)
    finally:
        conn.close()
    responses, err = parse_responses(data, heads=head_indexes(fx, e))
    return Observation(data, how, responses, err)


def judge(fx, e, obs):
    """('agree' | 'missing-host' | 'mismatch', explanation)."""
    finals = obs.finals
    st = [r.status for r in finals]
    if 101 in [r.status for r in obs.responses]:
        return "mismatch", "weft switched protocols (101)"
    if obs.parse_error:
        return "mismatch", "malformed response bytes: %s" % obs.parse_error
    first400 = st.index(400) if 400 in st else None

    def stricter(i):
        req = e.requests[i] if i < len(e.requests) else None
        if req is not None and req.lacks_host():
            return "missing-host", "request %d has no Host" % (i + 1)
        return "mismatch", ("weft rejects request %d, which llhttp accepts"
                            % (i + 1))

    def closed_after_400():
        if len(finals) > first400 + 1:
            return "mismatch", ("weft answered %d more request(s) after its "
                                "400" % (len(finals) - first400 - 1))
        if obs.how == "timeout":
            return "mismatch", "weft did not close after its 400"
        return None

    if e.kind == "reject":
        if first400 is None:
            return "mismatch", ("weft answers what llhttp rejects: %d "
                                "final response(s) %s, no 400"
                                % (len(st), st))
        if first400 < e.at:
            return stricter(first400)
        if first400 > e.at:
            return "mismatch", ("weft answered request %d (status %d), "
                                "which llhttp rejects"
                                % (e.at + 1, st[e.at]))
        return closed_after_400() or ("agree", "both reject request %d"
                                      % (e.at + 1))

    if e.kind == "handover":
        if first400 is not None and first400 < e.at:
            return stricter(first400)
        if len(st) <= e.at:
            return "mismatch", ("no answer to the hand-over request %d"
                                % (e.at + 1))
        if st[e.at] == 400 and e.requests[e.at].lacks_host():
            return "missing-host", "request %d has no Host" % (e.at + 1)
        return "agree", ("request %d answered %d without switching"
                         % (e.at + 1, st[e.at]))

    # accept / close
    n = e.n_complete
    if first400 is not None and first400 < n:
        return stricter(first400)
    if len(st) < n:
        return "mismatch", ("weft answered %d of the %d request(s) llhttp "
                            "accepts, then %s" % (len(st), n, obs.how))
    if len(st) > n:
        extra = st[n:]
        if (e.kind == "accept" and e.trailing_incomplete and len(extra) == 1
                and extra[0] == 400):
            # A 400 for the request that ends early (the fixture stops
            # there and we shut our side): fine either way.
            if e.requests[n].lacks_host():
                return "missing-host", "request %d has no Host" % (n + 1)
        elif e.kind == "close":
            return "mismatch", ("weft answered bytes after `Connection: "
                                "close`: %s" % extra)
        else:
            return "mismatch", ("weft sent %d response(s) more than llhttp "
                                "parsed requests: %s" % (len(extra), extra))
    if e.kind == "close" and obs.how == "timeout":
        return "mismatch", "weft did not close after `Connection: close`"
    for i in range(n):
        if (e.requests[i].asks_close()
                and not finals[i].has_token("connection", "close")):
            return "mismatch", ("weft's answer to request %d, which has "
                                "`Connection: close`, lacks `Connection: "
                                "close` (headers %r)"
                                % (i + 1, finals[i].headers))
    return "agree", "both accept %d request(s)" % n


# --------------------------------------------------------------- allowlist

def load_allowlist(path=ALLOWLIST):
    """{heading: reason} from `heading -- reason` lines (# comments)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if " -- " not in line:
                raise ValueError("%s:%d: expected 'heading -- reason': %r"
                                 % (path, n, line))
            key, reason = line.split(" -- ", 1)
            out[key.strip()] = reason.strip()
    return out


# -------------------------------------------------------------------- main

def list_fixtures(fixtures):
    for fx in fixtures:
        e = expectation(fx)
        nohost = [i + 1 for i, r in enumerate(e.requests) if r.lacks_host()]
        print("%-55s %-26s %s%s" % (fx.key[:55], fx.where(), llhttp_verdict(e),
                                    ("; no Host in %s" % nohost)
                                    if nohost else ""))


def main(argv):
    weftproc.take_bin_from_argv(argv)
    verbose = "--verbose" in argv or "-v" in argv
    only = None
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
    folder = fixtures_dir()
    if not os.path.isdir(folder):
        print("llhttp fixtures not found in %s (set WEFT_TESTDATA); "
              "skipped" % folder)
        return 77
    fixtures = load_fixtures(folder)
    if only:
        fixtures = [f for f in fixtures if only.lower() in f.key.lower()]
    if "--list" in argv:
        list_fixtures(fixtures)
        return 0
    allow = load_allowlist()
    binary = weftproc.weft_bin()
    if not os.access(binary, os.X_OK):
        print("no weft binary at %s (set WEFT_BIN)" % binary)
        return 1 if os.environ.get("WEFT_BIN") else 77

    server = WeftServer()
    server.start()
    results = []
    try:
        exps = [expectation(fx) for fx in fixtures]

        def one(i):
            fx, e = fixtures[i], exps[i]
            try:
                obs = observe(server.port, fx, e)
            except OSError as ex:
                return fx, e, None, ("mismatch", "socket error: %s" % ex)
            return fx, e, obs, judge(fx, e, obs)

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, range(len(fixtures))))
        alive = server.alive()
        status = None
        try:
            weftproc.get_once(server.port)
        except Exception as ex:  # noqa: BLE001 - reported below
            status = ex
    finally:
        rc = server.stop()

    counts = {"agree": 0, "missing-host": 0, "allowlisted": 0}
    failures = []
    mismatched = set()
    for fx, e, obs, (kind, why) in results:
        if verbose:
            print("%-12s %-50s llhttp %s; weft %s -- %s"
                  % (kind, fx.key[:50], llhttp_verdict(e),
                     obs.describe() if obs else "-", why))
        if kind != "mismatch":
            counts[kind] += 1
            continue
        mismatched.add(fx.key)
        if fx.key in allow:
            counts["allowlisted"] += 1
            continue
        failures.append("UNLISTED MISMATCH %s (%s)\n    bytes: %r\n    "
                        "llhttp: %s\n    weft:   %s\n    %s"
                        % (fx.key, fx.where(), fx.data, llhttp_verdict(e),
                           obs.describe() if obs else "-", why))
    if not only:
        for key in sorted(allow):
            if key not in mismatched:
                known = any(fx.key == key for fx in fixtures)
                failures.append("STALE ALLOWLIST ENTRY %s -- %s (%s)"
                                % (key, allow[key], "weft now agrees with "
                                   "llhttp" if known else "no such fixture"))
    if not alive:
        failures.append("weft died during the run (status %s); stderr: %s"
                        % (rc, server.stderr()[-2000:]))
    elif status is not None:
        failures.append("weft stopped answering after the fixtures: %s"
                        % status)
    if rc != 0 and alive:
        failures.append("weft exited with status %s on SIGTERM" % rc)

    for f in failures:
        print(f)
    print("llhttp fixtures: %d run, %d agreed, %d missing-Host, "
          "%d allowlisted, %d failures"
          % (len(results), counts["agree"], counts["missing-host"],
             counts["allowlisted"], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
