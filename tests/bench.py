#!/usr/bin/env python3
"""Benchmark Kent against the original Kent 2.2.0 and a bare stdlib server.

    python3 tests/bench.py [--quick] [--only kent,original,ceiling] [--duration S]

Each server runs as a subprocess on a free loopback port, one at a time, and
gets the same load: a realistic sentry-python error envelope over keep-alive
(c=1, 8, 32), the same gzip'd, a new connection per request, a 10 MB
attachment, 10,000 events for memory, and reads of the event list. Prints one
table, the Kent/original and Kent/ceiling ratios from this run, a PASS/MISS
line per target, and writes tests/output/bench.json.

Not a test (the name does not start with test_); stdlib only.
"""

import argparse
import asyncio
import concurrent.futures
import gzip
import http.client
import json
import multiprocessing
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
KENT_PY = REPO_DIR / "kent.py"
ORIGINAL_VENV = TESTS_DIR / ".deps" / "kent-original"
ORIGINAL_VERSION = "2.2.0"
OUTPUT_JSON = TESTS_DIR / "output" / "bench.json"

HOST = "127.0.0.1"
PROJECT_ID = 1
SDK_VERSION = "2.19.2"
# event_id placeholder: same length as a real one, so it can be swapped in
# pre-built request bytes without touching Content-Length or item lengths.
EVENT_ID_SLOT = "e" * 32
MB = 1024 * 1024
UPLOAD_BYTES = 10 * MB
MEMORY_EVENTS = 10_000
LIST_EVENTS = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("kent", "original", "ceiling")
# --pin: the server gets CPU 0 and the load generator CPU 1
SERVER_CPUS, CLIENT_CPUS = {0}, {1}

# (key, label, method, path, body kind, concurrency, keep-alive)
PHASES = [
    ("ka_c1", "keep-alive c=1", "POST", "envelope", "plain", 1, True),
    ("ka_c8", "keep-alive c=8", "POST", "envelope", "plain", 8, True),
    ("ka_c32", "keep-alive c=32", "POST", "envelope", "plain", 32, True),
    ("gzip_c8", "gzip keep-alive c=8", "POST", "envelope", "gzip", 8, True),
    ("close_c8", "new conn/request c=8", "POST", "envelope", "plain", 8, False),
    ("list_c8", "GET eventlist (100) c=8", "GET", "eventlist", None, 8, True),
]


# --------------------------------------------------------------------------
# Payload: what sentry-python 2.x sends for an unhandled Django exception.


def _frame(module, function, lineno, line, in_app, variables):
    path = module.replace(".", "/") + ".py"
    root = "/app" if in_app else "/usr/local/lib/python3.11/site-packages"
    return {
        "filename": path,
        "abs_path": f"{root}/{path}",
        "function": function,
        "module": module,
        "lineno": lineno,
        "pre_context": ["", "    @staticmethod", f"    def {function}(self, request):"],
        "context_line": f"        {line}",
        "post_context": ["", "        return response", ""],
        "vars": variables,
        "in_app": in_app,
    }


def _frames():
    request_var = "<WSGIRequest: GET '/api/orders/42/'>"
    return [
        _frame(
            "django.core.handlers.exception",
            "inner",
            55,
            "response = get_response(request)",
            False,
            {
                "exc": "ZeroDivisionError('division by zero')",
                "get_response": "<bound method BaseHandler._get_response>",
                "request": request_var,
            },
        ),
        _frame(
            "django.core.handlers.base",
            "_get_response",
            197,
            "response = wrapped_callback(request, *callback_args, **callback_kwargs)",
            False,
            {
                "callback": "<function order_detail>",
                "callback_args": [],
                "callback_kwargs": {"order_id": "42"},
                "request": request_var,
                "response": "None",
                "self": "<WSGIHandler object>",
            },
        ),
        _frame(
            "shop.views",
            "order_detail",
            31,
            "average = order.total / order.item_count",
            True,
            {"order": "<Order: 42>", "order_id": "'42'", "request": request_var},
        ),
        _frame(
            "shop.models",
            "average_price",
            88,
            "return self.total / self.item_count",
            True,
            {"self": "<Order: 42>", "total": "Decimal('129.90')", "item_count": "0"},
        ),
    ]


def _breadcrumbs():
    queries = [
        'SELECT "auth_user"."id" FROM "auth_user" WHERE "id" = %s',
        'SELECT "shop_order"."id", "shop_order"."total" FROM "shop_order" '
        'WHERE "id" = %s',
        'SELECT COUNT(*) FROM "shop_orderitem" WHERE "order_id" = %s',
    ]
    crumbs = [
        {
            "type": "default",
            "category": "query",
            "message": q,
            "data": {"db.params": ["42"], "db.paramstyle": "format"},
            "timestamp": f"2024-05-02T10:11:12.{100 + i:06d}Z",
            "level": "info",
        }
        for i, q in enumerate(queries)
    ]
    crumbs.append(
        {
            "type": "http",
            "category": "httplib",
            "level": "info",
            "data": {
                "url": "https://payments.example.com/v1/charges",
                "method": "GET",
                "status_code": 200,
                "reason": "OK",
            },
            "timestamp": "2024-05-02T10:11:12.200000Z",
        }
    )
    return {"values": crumbs}


def build_event():
    """A ~5 KB error event like sentry-python 2.x's Django integration makes."""
    modules = {
        "django": "4.2.11",
        "sentry-sdk": SDK_VERSION,
        "psycopg2-binary": "2.9.9",
        "requests": "2.31.0",
        "urllib3": "2.2.1",
        "certifi": "2024.2.2",
        "gunicorn": "22.0.0",
        "asgiref": "3.8.1",
        "sqlparse": "0.5.0",
        "idna": "3.7",
        "charset-normalizer": "3.3.2",
        "pip": "24.0",
    }
    return {
        "level": "error",
        "exception": {
            "values": [
                {
                    "mechanism": {"type": "django", "handled": False},
                    "module": None,
                    "type": "ZeroDivisionError",
                    "value": "division by zero",
                    "stacktrace": {"frames": _frames()},
                }
            ]
        },
        "event_id": EVENT_ID_SLOT,
        "timestamp": "2024-05-02T10:11:12.345678Z",
        "contexts": {
            "trace": {
                "trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
                "span_id": "a0cfbde2bdd5f9a8",
                "parent_span_id": None,
                "op": "http.server",
                "status": "internal_error",
                "origin": "auto.http.django",
            },
            "runtime": {
                "name": "CPython",
                "version": "3.11.9",
                "build": "3.11.9 (main, Apr 10 2024, 13:16:36) [GCC 12.2.0]",
            },
        },
        "breadcrumbs": _breadcrumbs(),
        "transaction": "/api/orders/{order_id}/",
        "transaction_info": {"source": "route"},
        "request": {
            "url": "http://shop.example.com/api/orders/42/",
            "query_string": "",
            "method": "GET",
            "env": {"SERVER_NAME": "web-1", "SERVER_PORT": "8000"},
            "headers": {
                "Host": "shop.example.com",
                "User-Agent": "Mozilla/5.0",
                "Accept": "application/json",
                "X-Forwarded-For": "[Filtered]",
            },
        },
        "modules": modules,
        "extra": {"sys.argv": ["/usr/local/bin/gunicorn", "shop.wsgi", "-w", "4"]},
        "release": "shop@1.8.3",
        "environment": "production",
        "server_name": "web-1",
        "sdk": {
            "name": "sentry.python.django",
            "version": SDK_VERSION,
            "packages": [{"name": "pypi:sentry-sdk", "version": SDK_VERSION}],
            "integrations": [
                "argv",
                "atexit",
                "dedupe",
                "django",
                "excepthook",
                "logging",
                "modules",
                "stdlib",
                "threading",
            ],
        },
        "platform": "python",
    }


def _dumps(obj):
    # sentry-python serialises compactly
    return json.dumps(obj, separators=(",", ":")).encode()


def build_envelope(extra_items=()):
    """Envelope bytes as sentry-python's Envelope.serialize_into writes them."""
    header = {
        "event_id": EVENT_ID_SLOT,
        "sent_at": "2024-05-02T10:11:12.400000Z",
        "trace": {
            "trace_id": "4c79f60c11214eb38604f4ae0781bfb2",
            "environment": "production",
            "release": "shop@1.8.3",
            "public_key": "public",
            "sample_rate": "1.0",
            "sampled": "true",
        },
    }
    items = [
        ({"type": "event", "content_type": "application/json"}, _dumps(build_event()))
    ]
    items.extend(extra_items)
    parts = [_dumps(header), b"\n"]
    for item_header, payload in items:
        parts += [_dumps(dict(item_header, length=len(payload))), b"\n", payload, b"\n"]
    return b"".join(parts)


def build_upload_envelope():
    """The error envelope plus a 10 MB binary attachment (e.g. a core dump)."""
    attachment = (
        {
            "type": "attachment",
            "filename": "core.dump",
            "content_type": "application/octet-stream",
            "attachment_type": "event.attachment",
        },
        os.urandom(UPLOAD_BYTES),
    )
    return build_envelope([attachment])


def sdk_headers(gzipped):
    agent = f"sentry.python/{SDK_VERSION}"
    auth = f"Sentry sentry_key=public, sentry_version=7, sentry_client={agent}"
    headers = {
        "User-Agent": agent,
        "X-Sentry-Auth": auth,
        "Content-Type": "application/x-sentry-envelope",
        "Accept-Encoding": "identity",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers


def build_request(port, method, path, body=b"", headers=None, keepalive=True):
    """Raw HTTP/1.1 request bytes, built once and replayed."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    if not keepalive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ENVELOPE_PATH = f"/api/{PROJECT_ID}/envelope/"
PATHS = {
    "envelope": ENVELOPE_PATH,
    "eventlist": "/api/eventlist/",
    "flush": "/api/flush/",
}


# --------------------------------------------------------------------------
# The ceiling: http.server doing no parsing, tuned as perf-notes.md says.


class CeilingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # else every response waits on a delayed ACK

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)  # consume it, or the next request is garbage
        self._reply()

    def do_GET(self):
        self._reply()

    def _reply(self):
        # Echo Connection: close, or the client would reuse a closed socket.
        close = b"Connection: close\r\n" if self.close_connection else b""
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\n" + close + b"\r\n{}"
        )

    def log_message(self, *args):
        pass


class CeilingServer(ThreadingHTTPServer):
    request_queue_size = 128  # default 5 drops SYNs at c=32
    daemon_threads = True

    def handle_error(self, request, client_address):
        # wrk resets its connections when it stops; that is not an error
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve_ceiling(port):
    CeilingServer((HOST, port), CeilingHandler).serve_forever()


# --------------------------------------------------------------------------
# Starting the servers.


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def ensure_original_venv():
    """A cached venv with kent==2.2.0; returns its kent-server path."""
    exe = ORIGINAL_VENV / "bin" / "kent-server"
    stamp = ORIGINAL_VENV / f".installed-{ORIGINAL_VERSION}"
    if exe.exists() and stamp.exists():
        return exe
    print(f"Creating {ORIGINAL_VENV} with kent=={ORIGINAL_VERSION} ...", flush=True)
    shutil.rmtree(ORIGINAL_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(ORIGINAL_VENV)], check=True)
    pip = [
        str(ORIGINAL_VENV / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    subprocess.run(pip + [f"kent=={ORIGINAL_VERSION}"], check=True)
    stamp.touch()
    return exe


def server_command(name, port, kent_py):
    """argv to start a server, or a reason string when it cannot run."""
    if name == "kent":
        if not kent_py.exists():
            return f"{kent_py} does not exist yet"
        return [
            sys.executable,
            str(kent_py),
            "run",
            "-p",
            str(port),
            "--max-events",
            "100",
        ]
    if name == "original":
        return [str(ensure_original_venv()), "run", "-p", str(port)]
    return [sys.executable, str(Path(__file__).resolve()), "--serve-ceiling", str(port)]


class Server:
    """One server subprocess; its log goes to a temp file shown on failure."""

    def __init__(self, name, argv, port, workdir, pin=False):
        self.name, self.port = name, port
        self.log_path = Path(workdir) / f"{name}.log"
        # no Flask debug/reloader, no Kent options, and no PYTHONPATH that
        # could put this repo's kent.py in front of the original's package
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLASK_", "KENT_")) and k != "PYTHONPATH"
        }
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=workdir,
            )
        self.pid = self.proc.pid
        if pin:
            os.sched_setaffinity(self.pid, SERVER_CPUS)  # threads inherit it

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} not listening after {timeout}s: {self.log_tail()}"
        )

    def log_tail(self, lines=15):
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------
# Reading the server's CPU and memory from /proc.


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        # fields after the ")" of comm; utime and stime are fields 14 and 15
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_mb(pid):
    return proc_status_kb(pid, "VmRSS") / 1024


def reset_peak_rss(pid):
    """Reset VmHWM so it shows this phase's peak (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Max VmRSS polled every ms: a backup when VmHWM cannot be reset."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stopped = pid, 0, threading.Event()

    def run(self):
        while not self.stopped.wait(0.001):
            try:
                self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            except OSError:
                return

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak_kb / 1024


# --------------------------------------------------------------------------
# Load generators. wrk is preferred: it is C, so on 2 shared cores it leaves
# nearly a whole core to the server. The Python client is the fallback.

WRK_SCRIPT = """
wrk.method = %(method)s
wrk.path = %(path)s
%(headers)s
local f = io.open(%(body_path)s, "rb")
wrk.body = f:read("*a")
f:close()
if #wrk.body == 0 then wrk.body = nil end

done = function(summary, latency, requests)
  -- wrk's "status" errors are responses >= 400; Kent answers no 3xx
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%%d,"duration_us":%%d,"non2xx":%%d,'
    .. '"errors":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def ensure_wrk():
    """Path to wrk, installing the Debian package if we can; None otherwise."""
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing wrk with apt-get ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"], **quiet
        ).returncode:
            subprocess.run(["apt-get", "update", "-qq"], **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
    return shutil.which("wrk")


def pin_client():
    os.sched_setaffinity(0, CLIENT_CPUS)


def run_wrk(wrk, port, spec, duration, workdir, pin):
    body_path = Path(workdir) / "wrk-body"
    body_path.write_bytes(spec["body"])
    headers = dict(spec["headers"])
    if not spec["keepalive"]:
        headers["Connection"] = "close"
    lua = WRK_SCRIPT % {
        "method": json.dumps(spec["method"]),
        "path": json.dumps(spec["path"]),
        "body_path": json.dumps(str(body_path)),
        "headers": "\n".join(
            f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}"
            for k, v in headers.items()
        ),
    }
    script = Path(workdir) / "wrk.lua"
    script.write_text(lua)
    # One client thread: it is enough for 30k req/s and leaves a core to the server.
    argv = [
        wrk,
        "-t1",
        f"-c{spec['concurrency']}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://{HOST}:{port}",
    ]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=duration + 30,
        preexec_fn=pin_client if pin else None,
    ).stdout
    line = next((x for x in out.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out[-500:]}")
    r = json.loads(line[6:])
    return {
        "requests": r["requests"],
        "seconds": r["duration_us"] / 1e6,
        "non2xx": r["non2xx"],
        "errors": r["errors"],
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
    }


async def _read_response(reader):
    """Status code and whether the server will close; parses nothing else."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    length = int(lower[at + 15 : lower.index(b"\r\n", at)]) if at >= 0 else 0
    if length:
        await reader.readexactly(length)
    close = b"connection: close" in lower or head.startswith(b"HTTP/1.0")
    return status, close


async def _connection(port, request, keepalive, deadline, state):
    writer = None
    while time.monotonic() < deadline and state["left"] > 0:
        state["left"] -= 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            # a fresh event_id per request, as a real SDK sends
            data = request.replace(EVENT_ID_SLOT.encode(), uuid.uuid4().hex.encode())
            started = time.perf_counter()
            writer.write(data)
            status, close = await _read_response(reader)
            state["latencies"].append(time.perf_counter() - started)
            state["non2xx"] += not 200 <= status < 300
        except (OSError, asyncio.IncompleteReadError, ValueError):
            state["errors"] += 1
            close = True
        if close or not keepalive:
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _python_load(port, request, concurrency, keepalive, duration, count):
    state = {"left": count, "latencies": [], "non2xx": 0, "errors": 0}
    deadline = time.monotonic() + duration
    started = time.perf_counter()
    tasks = [
        _connection(port, request, keepalive, deadline, state)
        for _ in range(concurrency)
    ]
    try:
        # bounded even if the server hangs mid-response
        await asyncio.wait_for(asyncio.gather(*tasks), duration + 10)
    except asyncio.TimeoutError:
        state["errors"] += 1
    return state, time.perf_counter() - started


def python_load(port, request, concurrency, keepalive, duration, count=10**9):
    """Runs in a child process; returns the same shape as run_wrk."""
    state, seconds = asyncio.run(
        _python_load(port, request, concurrency, keepalive, duration, count)
    )
    lat = sorted(state["latencies"]) or [0.0]

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1000

    return {
        "requests": len(state["latencies"]),
        "seconds": seconds,
        "non2xx": state["non2xx"],
        "errors": state["errors"],
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


class LoadRunner:
    """Runs one load phase and measures the server's CPU across it."""

    def __init__(self, client, workdir, pin):
        self.wrk = ensure_wrk() if client != "python" else None
        if client == "wrk" and not self.wrk:
            sys.exit("wrk is not available")
        self.workdir, self.pin = workdir, pin
        # The Python client runs in its own process so it does not share a GIL
        # with anything here; fork keeps it cheap to start.
        self.pool = concurrent.futures.ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=pin_client if pin else None,
        )
        self.name = "wrk" if self.wrk else "python"

    def run(self, server, spec, duration, count=None):
        cpu_before = cpu_seconds(server.pid)
        if self.wrk and count is None:
            r = run_wrk(self.wrk, server.port, spec, duration, self.workdir, self.pin)
        else:
            request = build_request(
                server.port,
                spec["method"],
                spec["path"],
                spec["body"],
                spec["headers"],
                spec["keepalive"],
            )
            r = self.pool.submit(
                python_load,
                server.port,
                request,
                spec["concurrency"],
                spec["keepalive"],
                duration,
                count or 10**9,
            ).result()
        cpu = cpu_seconds(server.pid) - cpu_before
        r["rps"] = r["requests"] / r["seconds"] if r["seconds"] else 0.0
        r["cpu_us_per_req"] = cpu / r["requests"] * 1e6 if r["requests"] else None
        return r

    def close(self):
        self.pool.shutdown()


# --------------------------------------------------------------------------
# Single requests (sanity checks, flush, the upload).


def request_once(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def flush(server):
    request_once(server.port, "POST", PATHS["flush"], b"")


def fresh(body):
    return body.replace(EVENT_ID_SLOT.encode(), uuid.uuid4().hex.encode())


def sanity_check(server, payloads):
    """Both envelopes are accepted and (for Kents) show up in the event list."""
    problems = []
    for kind, gzipped in (("plain", False), ("gzip", True)):
        status, body = request_once(
            server.port,
            "POST",
            ENVELOPE_PATH,
            fresh(payloads[kind]),
            sdk_headers(gzipped),
        )
        if not 200 <= status < 300:
            problems.append(f"{kind} envelope -> {status} {body[:100]!r}")
    if server.name != "ceiling":
        status, body = request_once(server.port, "GET", PATHS["eventlist"])
        if status != 200 or b"ZeroDivisionError" not in body:
            problems.append(f"eventlist -> {status} {body[:200]!r}")
    return "; ".join(problems) or "ok"


# --------------------------------------------------------------------------
# The measurements for one server.


def phase_spec(method, path_key, kind, concurrency, keepalive, payloads):
    body = payloads[kind] if kind else b""
    headers = sdk_headers(kind == "gzip") if kind else {}
    return {
        "method": method,
        "path": PATHS[path_key],
        "body": body,
        "headers": headers,
        "concurrency": concurrency,
        "keepalive": keepalive,
    }


def measure_memory(server, runner, payloads, cap_seconds):
    """RSS idle vs after 10,000 events over keep-alive, then after a flush.

    Runs first, on a fresh process, so 'idle' means idle. The original manages
    under 1,000/s, so the phase is capped in time and records how many it sent.
    """
    idle = rss_mb(server.pid)
    spec = phase_spec("POST", "envelope", "plain", 8, True, payloads)
    r = runner.run(server, spec, cap_seconds, count=MEMORY_EVENTS)
    time.sleep(0.2)  # let any deferred work settle
    after = rss_mb(server.pid)
    flush(server)
    time.sleep(0.2)
    return {
        "idle_rss_mb": idle,
        "events_sent": r["requests"],
        "non2xx": r["non2xx"],
        "rss_after_events_mb": after,
        "rss_after_flush_mb": rss_mb(server.pid),
        "growth_mb": after - idle,
        "ingest_rps": r["rps"],
    }


def measure_upload(server, payloads):
    """One 10 MB attachment envelope: time, and peak RSS above what was there."""
    flush(server)
    body = fresh(payloads["upload"])
    before = rss_mb(server.pid)
    hwm_reset = reset_peak_rss(server.pid)
    sampler = RssSampler(server.pid)
    sampler.start()
    started = time.perf_counter()
    status, _ = request_once(
        server.port, "POST", ENVELOPE_PATH, body, sdk_headers(False)
    )
    seconds = time.perf_counter() - started
    time.sleep(0.1)
    peak = sampler.stop()
    if hwm_reset:
        peak = max(peak, proc_status_kb(server.pid, "VmHWM") / 1024)
    after = rss_mb(server.pid)
    flush(server)
    return {
        "status": status,
        "seconds": seconds,
        "body_mb": len(body) / MB,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "rss_after_mb": after,
        "peak_over_before_mb": peak - before,
        "retained_mb": after - before,
        "overhead_x_body": upload_overhead(before, peak, after, len(body) / MB),
    }


def upload_overhead(before, peak, after, body_mb):
    """Peak RSS above what is stored, in multiples of the body.

    'Stored' is what stays resident after the upload, but at most the body
    itself: memory kept beyond that is overhead (a leak or a copy), not storage.
    """
    stored = min(max(after - before, 0.0), body_mb)
    return (peak - before - stored) / body_mb


def store_events(server, payloads, count):
    """Exactly `count` distinct events; returns how many the event list shows."""
    flush(server)
    for _ in range(count):
        request_once(
            server.port,
            "POST",
            ENVELOPE_PATH,
            fresh(payloads["plain"]),
            sdk_headers(False),
        )
    status, body = request_once(server.port, "GET", PATHS["eventlist"])
    try:
        return len(json.loads(body)["events"])
    except (ValueError, KeyError, TypeError):
        return None  # the ceiling answers {}


def run_phases(server, runner, payloads, duration, result):
    """The timed load phases, in PHASES order; notes oddities in result."""
    phases = {}
    for key, label, method, path_key, kind, conc, keepalive in PHASES:
        if key == "list_c8":
            listed = store_events(server, payloads, LIST_EVENTS)
            if server.name != "ceiling" and listed != LIST_EVENTS:
                result["sanity"] += f"; event list shows {listed}, not {LIST_EVENTS}"
        spec = phase_spec(method, path_key, kind, conc, keepalive, payloads)
        r = phases[key] = runner.run(server, spec, duration)
        print(
            f"[{server.name}] {label:24} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
            f"p99 {r['p99_ms']:.2f} ms  non-2xx {r['non2xx']}  errors {r['errors']}",
            flush=True,
        )
    return phases


def bench_server(name, runner, payloads, args, workdir):
    port = free_port()
    argv = server_command(name, port, args.kent)
    if isinstance(argv, str):
        print(f"[{name}] skipped: {argv}", flush=True)
        return {"skipped": argv}
    server = Server(name, argv, port, workdir, args.pin)
    try:
        server.wait_ready()
        result = {"sanity": sanity_check(server, payloads)}
        print(
            f"[{name}] pid {server.pid} port {server.port}, sanity: {result['sanity']}",
            flush=True,
        )
        time.sleep(0.3)
        result["memory"] = measure_memory(server, runner, payloads, args.memory_cap)
        result["upload"] = measure_upload(server, payloads)
        result["phases"] = run_phases(server, runner, payloads, args.duration, result)
        if server.proc.poll() is not None:
            result["sanity"] += f"; exited with {server.proc.returncode}"
        return result
    except Exception as exc:  # one broken server should not lose the others' results
        print(f"[{name}] failed: {exc}\n{server.log_tail()}", flush=True)
        return {"failed": str(exc)}
    finally:
        server.stop()


# --------------------------------------------------------------------------
# Report.


def _fmt(value, spec):
    if value is None:
        return "-"
    text = format(value, spec)
    # no "-0.0" for a tiny negative delta
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def _get(results, name, *path):
    node = results.get(name)
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def table_rows(results, names):
    """(label, [cell per server]) rows of the one table."""

    def cells(template, *fields):
        # fields: (path into a server's results, format spec), one per {}
        return [
            template.format(
                *(_fmt(_get(results, n, *path), spec) for path, spec in fields)
            )
            for n in names
        ]

    rows = []
    for key, label, *_ in PHASES:
        p = ("phases", key)
        rows += [
            (label, cells("{} req/s", (p + ("rps",), ",.0f"))),
            (
                "  p50 / p99 ms",
                cells("{} / {}", (p + ("p50_ms",), ".2f"), (p + ("p99_ms",), ".2f")),
            ),
            ("  CPU µs/req", cells("{}", (p + ("cpu_us_per_req",), ",.0f"))),
            (
                "  non-2xx / errors",
                cells("{} / {}", (p + ("non2xx",), "d"), (p + ("errors",), "d")),
            ),
        ]
    m, u = ("memory",), ("upload",)
    rows += [
        ("RSS idle MB", cells("{}", (m + ("idle_rss_mb",), ".1f"))),
        (
            "RSS after N events MB",
            cells(
                "{} (N={})",
                (m + ("rss_after_events_mb",), ".1f"),
                (m + ("events_sent",), "d"),
            ),
        ),
        ("RSS after flush MB", cells("{}", (m + ("rss_after_flush_mb",), ".1f"))),
        (
            "10 MB upload s (status)",
            cells("{} ({})", (u + ("seconds",), ".3f"), (u + ("status",), "d")),
        ),
        ("  peak RSS MB", cells("{}", (u + ("peak_rss_mb",), ".1f"))),
        ("  peak above before MB", cells("{}", (u + ("peak_over_before_mb",), ".1f"))),
        ("  retained MB", cells("{}", (u + ("retained_mb",), ".1f"))),
        ("  overhead x body", cells("{}", (u + ("overhead_x_body",), ".2f"))),
    ]
    return rows


def format_table(results, names):
    rows = [("", names)] + table_rows(results, names)
    w0 = max(len(r[0]) for r in rows)
    widths = [max(len(r[1][i]) for r in rows) for i in range(len(names))]
    lines = []
    for label, cells in rows:
        padded = [c.rjust(w) for c, w in zip(cells, widths, strict=True)]
        lines.append(label.ljust(w0) + "  " + "  ".join(padded))
    return "\n".join(lines)


def compute_ratios(results):
    """Kent's req/s over the original's and the ceiling's, phase by phase."""
    ratios = {}
    for other in ("original", "ceiling"):
        ratios[other] = {}
        for key, *_ in PHASES:
            mine = _get(results, "kent", "phases", key, "rps")
            theirs = _get(results, other, "phases", key, "rps")
            ratios[other][key] = mine / theirs if mine and theirs else None
    return ratios


def format_ratios(ratios):
    lines = []
    for other in ("original", "ceiling"):
        cells = [
            f"{key} "
            + ("n/a" if ratios[other][key] is None else f"{ratios[other][key]:.2f}x")
            for key, *_ in PHASES
        ]
        lines.append(f"Kent/{other:8} req/s: " + "  ".join(cells))
    return "\n".join(lines)


def evaluate_targets(results, ratios):
    """(description, measured text, PASS/MISS/n/a) for the issue's targets."""

    def k(*path):
        return _get(results, "kent", *path)

    up = results.get("kent", {}).get("upload") or {}
    overhead = up.get("overhead_x_body")
    checks = [
        (
            "keep-alive c=8 >= 6x original",
            ratios["original"]["ka_c8"],
            lambda v: v >= 6,
            "x",
        ),
        (
            "keep-alive c=8 >= 0.45x ceiling",
            ratios["ceiling"]["ka_c8"],
            lambda v: v >= 0.45,
            "x",
        ),
        ("p50 < 1 ms at c=1", k("phases", "ka_c1", "p50_ms"), lambda v: v < 1, " ms"),
        ("p99 < 10 ms at c=8", k("phases", "ka_c8", "p99_ms"), lambda v: v < 10, " ms"),
        (
            "RSS after 10,000 events within 10 MB of idle",
            k("memory", "growth_mb"),
            lambda v: v <= 10 and k("memory", "events_sent") >= MEMORY_EVENTS,
            " MB",
        ),
        (
            "10 MB upload peak <= ~3x body above what is stored",
            overhead,
            lambda v: v <= 3.0 and 200 <= up.get("status", 0) < 300,
            "x body",
        ),
        (
            "event list read >= 5x original",
            ratios["original"]["list_c8"],
            lambda v: v >= 5,
            "x",
        ),
    ]
    out = []
    for desc, value, ok, unit in checks:
        verdict = "n/a" if value is None else ("PASS" if ok(value) else "MISS")
        out.append(
            {
                "target": desc,
                "value": value,
                "result": verdict,
                "text": "-" if value is None else f"{value:.2f}{unit}",
            }
        )
    return out


# --------------------------------------------------------------------------


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 s phases (about a minute)")
    p.add_argument(
        "--only",
        default=",".join(SERVERS),
        help="comma-separated subset of kent,original,ceiling",
    )
    p.add_argument(
        "--duration", type=float, help="seconds per load phase (default 5, quick 2)"
    )
    p.add_argument(
        "--client",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator (auto: wrk if installable, else Python)",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to CPU 0 and the client to CPU 1 (steadier)",
    )
    p.add_argument(
        "--kent",
        type=Path,
        default=KENT_PY,
        help="the kent.py to measure (default: the repo's)",
    )
    p.add_argument(
        "--json", type=Path, default=OUTPUT_JSON, help="where to write results"
    )
    p.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.duration = args.duration or (2.0 if args.quick else 5.0)
    # the time cap on the 10,000-event phase (binds only on slow servers)
    args.memory_cap = 8.0 if args.quick else 25.0
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(args.only) - set(SERVERS)
    if unknown:
        p.error(f"unknown server(s): {', '.join(sorted(unknown))}")
    return args


def build_payloads():
    plain = build_envelope()
    return {
        "plain": plain,
        "gzip": gzip.compress(plain, 9),
        "upload": build_upload_envelope(),
    }


def main():
    args = parse_args()
    if args.serve_ceiling:
        return serve_ceiling(args.serve_ceiling)
    started = time.monotonic()
    payloads = build_payloads()
    with tempfile.TemporaryDirectory(prefix="kent-bench-") as workdir:
        runner = LoadRunner(args.client, workdir, args.pin)
        print(
            f"client {runner.name}; envelope {len(payloads['plain'])} B, gzip'd "
            f"{len(payloads['gzip'])} B; {args.duration:g} s per phase",
            flush=True,
        )
        warn_if_busy()
        try:
            results = {
                n: bench_server(n, runner, payloads, args, workdir) for n in args.only
            }
        finally:
            runner.close()
    names = [n for n in args.only if "phases" in results[n]]
    ratios = compute_ratios(results)
    targets = evaluate_targets(results, ratios)
    print()
    print(format_table(results, names) if names else "no server produced results")
    print()
    for name, res in results.items():
        status = (
            res.get("sanity") or f"skipped: {res.get('skipped') or res.get('failed')}"
        )
        print(f"{name}: {status}")
    print(format_ratios(ratios))
    for t in targets:
        print(f"{t['result']:4}  {t['target']}: {t['text']}")
    elapsed = time.monotonic() - started
    print(f"\ntotal {elapsed:.0f} s; results in {args.json}")
    write_json(args, runner.name, payloads, results, ratios, targets, elapsed)


def warn_if_busy():
    # client and server share 2 cores: anything else running skews the numbers
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f}; numbers will be noisy", flush=True)


def write_json(args, client, payloads, results, ratios, targets, elapsed):
    meta = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "client": client,
        "pinned": args.pin,
        "load_average_after": os.getloadavg()[0],
        "phase_seconds": args.duration,
        "envelope_bytes": len(payloads["plain"]),
        "gzip_bytes": len(payloads["gzip"]),
        "upload_bytes": len(payloads["upload"]),
        "elapsed_seconds": elapsed,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {"meta": meta, "servers": results, "ratios": ratios, "targets": targets},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
