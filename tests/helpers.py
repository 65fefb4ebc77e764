"""Helpers shared by Kent's tests: paths, raw HTTP, envelope bytes, processes,
real clients, hostile payloads. Fixtures are in conftest.py.

Each helper is defined here once; a test module never imports another (see
test_vendoring.py). Nothing here imports an SDK or Playwright at import time:
the stdlib-only test files (tests/pythons.sh) import this module too.
"""

import contextlib
import html.parser
import http.client
import http.server
import importlib
import importlib.metadata
import json
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import urllib.parse
import uuid
import zlib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
KENT_PY = str(ROOT / "kent.py")
APPS = TESTS / "apps"  # the programs the client tests run
DATA = TESTS / "data"  # captured SDK payloads and what they parse to
DEPS = TESTS / ".deps"  # made by tests/install.sh
NO_BROTLI = str(DEPS / "nobrotli")  # PYTHONPATH that hides brotli: SDKs use gzip
SDK1 = os.pathsep.join([str(DEPS / "sdk1"), NO_BROTLI])  # sentry-sdk 1.x
JS = TESTS / "js"
NODE_SDK = JS / "node_modules" / "@sentry" / "node"
BROWSER_DIR = JS / "browser"
BUNDLE = BROWSER_DIR / "dist" / "sentry.bundle.js"
SENTRY_CLI = os.path.join(sysconfig.get_path("scripts"), "sentry-cli")
LONG_TESTS = os.environ.get("KENT_LONG_TESTS") == "1"  # more examples, more events
MIB = 1024 * 1024
SAMPLE_TIME = 1767225600.0  # 2026-01-01T00:00:00Z: samples made then are fixed bytes

CI = os.environ.get("CI") == "true"
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DASHED_EVENT_ID = "9ec79c33-ec99-42ab-8353-589fcb2e04dc"
TRACE_ID = "771a43a4192642f0b136d5159a501700"
CLEAN_KEY = "e12d836b15bb49d7bbf99e64295d995b"  # 32 chars: no public-key warning
AUTH_HEADER = (
    f"Sentry sentry_key={CLEAN_KEY}, sentry_version=7, sentry_client=kent-tests/1.0"
)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",  # a container's 64 MB /dev/shm crashes tabs
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# -- raw HTTP ------------------------------------------------------------------------


def http_request(url, method, path, body=b"", headers=None, timeout=30):
    """One request on a fresh connection: (status, headers dict, body bytes)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def get_json(url, path, **kwargs):
    """GET ``path`` and decode the JSON answer: (status, value)."""
    status, _, data = http_request(url, "GET", path, **kwargs)
    return status, json.loads(data)


def post_envelope(url, data, project=1, headers=None, path=None):
    """POST envelope bytes with a clean auth header: (status, headers, value)."""
    all_headers = {"X-Sentry-Auth": AUTH_HEADER}
    all_headers.update(headers or {})
    target = path or f"/api/{project}/envelope/"
    status, answer_headers, data = http_request(url, "POST", target, data, all_headers)
    return status, answer_headers, json.loads(data) if data else None


def _content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def raw_exchange(url, data, timeout=10, read_limit=1 << 20, to_end=False):
    """Send raw bytes; read one response (to Content-Length, else to close).

    ``to_end`` reads every answer until Kent closes the connection (the
    request side is shut, so that is bounded): a test that must see a second,
    smuggled answer reads to the end, not just the first response.
    """
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)  # a short body ends here, not at a timeout
        answer = b""
        while len(answer) < read_limit:
            head, sep, rest = answer.partition(b"\r\n\r\n")
            length = _content_length(head) if sep else None
            if not to_end and length is not None and len(rest) >= length:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def status_of(response):
    """The status code of a raw HTTP response (0 when there is none)."""
    first = response.split(b"\r\n", 1)[0].split()
    return int(first[1]) if len(first) > 1 and first[1].isdigit() else 0


def exchange_until_closed(url, data, timeout=15):
    """Send raw bytes, keep the connection open, read until Kent closes it.

    Returns ``(bytes, closed)``; ``closed`` is False when Kent still held the
    connection open after ``timeout`` seconds.
    """
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            return answer, False
        except ConnectionResetError:
            pass
        return answer, True


def split_response(data):
    """One raw HTTP response -> (head as text, body bytes as they came)."""
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def split_responses(data):
    """Raw HTTP/1.1 responses one after another -> [(status, head, body)]."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = _content_length(head) if sep else None
        length = len(rest) if length is None else length
        responses.append((status_of(head), head.decode("latin-1"), rest[:length]))
        data = rest[length:]
    return responses


def free_port():
    """A loopback port free right now (for a subprocess told its port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_get(server, path):
    """GET a JSON answer of a running server, asserted to be a 200."""
    status, value = get_json(server.url, path)
    assert status == 200, value
    return value


def api_event(server, ident):
    """``/api/event/<ident>`` of a running server, asserted to be a 200."""
    return api_get(server, f"/api/event/{ident}")


def assert_still_serving(url):
    """Kent answers, and what it stored reads back: list, page, newest event."""
    import kent  # here: helpers is imported where kent may not be wanted yet

    status, value = get_json(url, "/api/status/", timeout=10)
    assert status == 200 and value["version"] == kent.__version__
    status, listed = get_json(url, "/api/eventlist/", timeout=10)
    assert status == 200, listed
    assert http_request(url, "GET", "/")[0] == 200
    if listed["events"]:
        newest = listed["events"][-1]["event_id"]
        for path in (f"/api/event/{newest}", f"/event/{newest}"):
            assert http_request(url, "GET", path)[0] == 200, path
    return value


def wait_in_thread(url, project, results, query="count=2"):
    """Run by a thread: one /api/wait/ for ``project``, its answer in results."""
    path = f"/api/wait/?project={project}&{query}&timeout=30"
    results[project] = get_json(url, path, timeout=60)


# -- envelopes -----------------------------------------------------------------------


def _payload_bytes(payload):
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def envelope(*items, header=None, trailing=True, lengths=True):
    """Envelope bytes from ``(item_header, payload)`` pairs.

    Default: sentry-python style (every item has ``length``, final newline).
    ``lengths=False`` keeps ``length`` only on binary payloads (bytes), as
    sentry-javascript does; see ``js_envelope``.
    """
    lines = [_payload_bytes(header if header is not None else {"event_id": EVENT_ID})]
    for item_header, payload in items:
        raw = _payload_bytes(payload)
        item_header = dict(item_header)
        if lengths or isinstance(payload, (bytes, bytearray)):
            item_header.setdefault("length", len(raw))
        lines += [_payload_bytes(item_header), raw]
    data = b"\n".join(lines)
    return data + b"\n" if trailing else data


def js_envelope(*items, header=None):
    """sentry-javascript style: no length on JSON items, no final newline."""
    return envelope(*items, header=header, trailing=False, lengths=False)


def event_item(body=None, **header):
    """An ``event`` item with a small body."""
    return dict({"type": "event"}, **header), body or {
        "message": "hi",
        "level": "error",
    }


# -- tools that may be missing ---------------------------------------------------------


def require_tool(name_or_path, reason=""):
    """The tool's path; skip when missing, but fail in CI (CI=true)."""
    found = shutil.which(name_or_path) or (
        name_or_path if Path(name_or_path).exists() else None
    )
    if found:
        return found
    message = f"{name_or_path} is not installed" + (f": {reason}" if reason else "")
    if CI:
        pytest.fail(message)
    pytest.skip(message)


def require_module(name, reason_hint=""):
    """The imported module; skip when missing, but fail in CI (CI=true).

    ``pytest.importorskip`` skips in CI too, and there a missing module is a
    broken setup, not a reason to skip.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        message = f"cannot import {name} ({exc})" + (
            f": {reason_hint}" if reason_hint else ""
        )
    if CI:
        pytest.fail(message)
    pytest.skip(message)


def require_node_sdk(reason):
    """node's path, once tests/js/node_modules has @sentry/node; else skip (CI: fail)."""
    node = require_tool("node", reason)
    if not NODE_SDK.is_dir():
        require_tool(str(NODE_SDK), "run tests/install.sh")
    return node


@contextlib.contextmanager
def launch_chromium(reason):
    """Debian's Chromium through Playwright; skip when missing (fail in CI)."""
    require_tool(CHROMIUM, reason)
    sync_api = require_module(
        "playwright.sync_api", "tests/requirements.txt installs playwright"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


# -- processes -----------------------------------------------------------------------


BANNER = re.compile(r"Kent (\S+) listening on (http://127\.0\.0\.1:(\d+))/")


def vm_hwm(pid):
    """Peak resident memory of a process, in bytes (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


class KentProcess:
    """``python3 kent.py run -p 0`` with stderr kept in a file."""

    def __init__(self, tmp_path, *args):
        self.stderr_path = tmp_path / "kent-stderr.txt"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(importlib.import_module("kent").__file__).resolve()),
                    "run",
                    "-p",
                    "0",
                    *args,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        line = self.proc.stdout.readline().decode()
        match = re.search(r"listening on (http://\S+?)/?$", line.strip())
        assert match, f"no 'listening on' line: {line!r}"
        self.url = match.group(1)

    def peak(self):
        return vm_hwm(self.proc.pid)

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()


def read_lines(stream, count, timeout):
    """Up to ``count`` lines from a pipe, giving up after ``timeout`` s.

    Reads the file descriptor directly: a buffered readline could hold
    the second line where the selector cannot see it.
    """
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while data.count(b"\n") < count and selector.select(timeout):
            chunk = os.read(stream.fileno(), 4096)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines(keepends=True)[:count]


@contextlib.contextmanager
def running_kent(command, tmp_path, cwd=None, env=None, banner_lines=2):
    """Start ``command``; yield (url, banner lines, process); SIGINT after.

    ``env`` adds variables; an inherited KENT_DEV is dropped so that only
    ``env`` turns verbose logging on.
    """
    stderr = (tmp_path / "stderr.txt").open("w")
    inherited = {k: v for k, v in os.environ.items() if k != "KENT_DEV"}
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=cwd or tmp_path,
        env={**inherited, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    try:
        lines = read_lines(proc.stdout, banner_lines, 20)
        match = BANNER.search(lines[0] if lines else "")
        assert match, (
            f"no banner: {lines!r}; stderr: {(tmp_path / 'stderr.txt').read_text()}"
        )
        yield match.group(2), lines, proc
    finally:
        stop_process(proc)
        proc.stdout.close()
        stderr.close()


def kent_cli(*args, check=True):
    """``python kent.py ARGS`` to the end: the CompletedProcess (text)."""
    done = subprocess.run(
        [sys.executable, KENT_PY, *args], capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def stop_process(proc):
    """Ctrl-C as a user would; kill what does not stop within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


# -- real clients ----------------------------------------------------------------------


def run_app(script, *args, pythonpath=NO_BROTLI):
    """Run tests/apps/<script> with warnings as errors; its JSON output."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(APPS / script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


def assert_clean(event, sdk_name="sentry.python", version=None):
    """Stored as accepted, without warnings, with the SDK's name and version
    (by default the sentry-sdk installed here) and the clean key."""
    if version is None:
        version = importlib.metadata.version("sentry-sdk")
    assert event.status == 200, event.error
    assert event.error is None
    assert event.warnings == [], event.warnings
    assert event.sdk == {"name": sdk_name, "version": version}
    assert event.auth["sentry_key"] == CLEAN_KEY


def run_node(server, scenario, project=42):
    """Run tests/js/node_scenario.mjs against Kent; its JSON output line."""
    node = require_node_sdk("the @sentry/node tests need Node.js >= 20.19")
    result = subprocess.run(
        [node, str(JS / "node_scenario.mjs"), server.dsn(project, CLEAN_KEY), scenario],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_sentry_cli(server, *args, project=7):
    cli = require_tool(SENTRY_CLI, "pip install sentry-cli")
    env = {
        **os.environ,
        "SENTRY_DSN": server.dsn(project, CLEAN_KEY),
        "SENTRY_LOG_LEVEL": "warn",
    }
    result = subprocess.run(
        [cli, *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class PageHandler(http.server.SimpleHTTPRequestHandler):
    """Serves tests/js/browser; ``csp.html?report=<url>`` gets a CSP header."""

    def end_headers(self):
        parts = urllib.parse.urlsplit(self.path)
        report = urllib.parse.parse_qs(parts.query).get("report")
        if parts.path == "/csp.html" and report:
            self.send_header(
                "Content-Security-Policy",
                f"default-src 'self'; img-src 'none'; report-uri {report[0]}",
            )
        super().end_headers()

    def log_message(self, format, *args):
        pass


def run_page(page, pages, **params):
    """Open index.html with a scenario; window.__result once it is done."""
    page.goto(f"{pages}/index.html?" + urllib.parse.urlencode(params))
    page.wait_for_function("window.__result && window.__result.done", timeout=20000)
    result = page.evaluate("window.__result")
    assert result["error"] is None, result
    return result


# Runs before any page script: records CSP violations and a payload's effects.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def open_page(browser, **options):
    """A page in a fresh context that records dialogs (alert, confirm)."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.add_init_script(WATCH)
    page.dialogs = []
    page.on(
        "dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss())
    )
    return page


# sentry-sdk apps for the leak scanner (tests/apps/leaky_app.py), one project each.
CANARY = "kent-canary-5d1f9a"  # the values leaky_app.py plants
SECRET = "correct-horse-battery"
EMAIL = "alice@example.com"  # the user's, with send_default_pii
SCENARIOS = ("default", "wsgi", "pii", "scrubbed", "canary")
PROJECTS = {name: index for index, name in enumerate(SCENARIOS, 1)}
FRAME_VARS = "/exception/values/0/stacktrace/frames/0/vars"


def _start_scenario(server, scenario):
    env = {
        **os.environ,
        "SENTRY_DSN": server.dsn(PROJECTS[scenario], key=CLEAN_KEY),
        "PYTHONPATH": NO_BROTLI,
    }
    return subprocess.Popen(
        [sys.executable, str(APPS / "leaky_app.py"), scenario],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def only_event(server, scenario, item_type="event", text=""):
    """The one item of ``item_type`` (with ``text`` in its summary) a scenario sent."""
    events = server.events(project=PROJECTS[scenario])
    matching = [e for e in events if e.type == item_type and text in e.summary]
    assert len(matching) == 1, [e.summary for e in events]
    return matching[0]


def run_scenarios(server):
    """Run every scenario's sentry-sdk app against ``server``, all at once."""
    clients = {name: _start_scenario(server, name) for name in SCENARIOS}
    for name, client in clients.items():
        _, stderr = client.communicate(timeout=60)
        assert client.returncode == 0, f"{name}: {stderr}"


# -- minidump uploads -------------------------------------------------------------------


FAKE_MINIDUMP = b"MDMP\x93\xa7\x00\x00" + bytes(range(256)) * 4


def multipart(fields=(), files=()):
    """``multipart/form-data`` bytes and Content-Type, like libcurl builds."""
    boundary = f"------------------------{uuid.uuid4().hex[:16]}"
    chunks = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
            f"\r\n\r\n{value}\r\n".encode()
        )
    for name, filename, content_type, data in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def replay_recording(size):
    """A zlib'd replay recording of about ``size`` bytes of rrweb JSON."""
    events = json.dumps([{"type": 3, "data": "x" * 1000}] * (size // 1024))
    return b'{"segment_id":0}\n' + zlib.compress(events.encode(), 9)


def dump_file(data=FAKE_MINIDUMP, filename="crash.dmp"):
    return ("upload_file_minidump", filename, "application/octet-stream", data)


# -- hostile payloads and the pages' markup ----------------------------------------------


HOSTILE = (
    '"\'><img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
    '</script><a href="javascript:alert(1)">x</a>&amp;javascript:alert(1)'
)
H = HOSTILE  # short, for the payloads below
NONCE = "n0nce"  # the nonce check_page expects by default


def hostile_event():
    frame = {
        "filename": H,
        "function": H,
        "module": H,
        "lineno": 7,
        "colno": 3,
        "pre_context": [H, "before()"],
        "context_line": H,
        "post_context": ["after()", H],
        "in_app": True,
        "vars": {H: H, "n": 21},
    }
    return {
        "event_id": EVENT_ID,
        "level": H,
        "environment": H,
        "release": H,
        "platform": H,
        "server_name": H,
        "transaction": H,
        "logger": H,
        "timestamp": H,
        "logentry": {"formatted": H, "params": [H]},
        "sdk": {"name": H, "version": H, "integrations": [H]},
        "exception": {
            "values": [
                {"type": H, "value": H, "module": H},
                {
                    "type": H,
                    "value": H,
                    "mechanism": {"type": H, "handled": False},
                    "stacktrace": {"frames": [dict(frame, in_app=False), frame]},
                },
            ]
        },
        "threads": {
            "values": [{"id": H, "name": H, "stacktrace": {"frames": [frame]}}]
        },
        "breadcrumbs": {
            "values": [
                {
                    "timestamp": H,
                    "category": H,
                    "type": H,
                    "level": H,
                    "message": H,
                    "data": {H: H, "url": "javascript:alert(1)"},
                }
            ]
        },
        "tags": {H: H},
        "contexts": {H: {H: H}, "trace": {"trace_id": TRACE_ID, "op": H}},
        "user": {"id": H, "email": H, "ip_address": H, H: H},
        "request": {
            "url": "javascript:alert(1)//" + H,
            "method": H,
            "query_string": [[H, H]],
            "headers": {H: H, "Referer": "http://evil.example/" + H},
            "cookies": H,
            "data": {H: [H]},
            "env": {H: H},
            H: H,
        },
        "extra": {H: {H: H}},
        "fingerprint": [H],
    }


def hostile_items():
    """``(item_header, payload)`` pairs: one envelope each, every type."""
    span_attrs = {"sentry.op": {"value": H, "type": "string"}, H: {"value": H}}
    return [
        ({"type": "event"}, hostile_event()),
        (
            {"type": "transaction"},
            {
                "type": "transaction",
                "transaction": H,
                "start_timestamp": 1700000000.0,
                "timestamp": 1700000000.5,
                "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "a" * 16}},
                "spans": [
                    {
                        "span_id": "b" * 16,
                        "parent_span_id": "a" * 16,
                        "op": H,
                        "description": H,
                        "status": H,
                        "start_timestamp": 1700000000.1,
                        "timestamp": 1700000000.3,
                    }
                ],
                "breadcrumbs": [{"message": H}],
            },
        ),
        (
            {"type": "span", "item_count": 1},
            {
                "version": 2,
                "items": [
                    {
                        "trace_id": TRACE_ID,
                        "span_id": "c" * 16,
                        "name": H,
                        "status": H,
                        "start_timestamp": 1700000000.0,
                        "end_timestamp": H,
                        "attributes": span_attrs,
                    }
                ],
            },
        ),
        (
            {"type": "log", "item_count": 1},
            {
                "items": [
                    {"timestamp": H, "level": H, "body": H, "attributes": span_attrs}
                ]
            },
        ),
        (
            {"type": "trace_metric", "item_count": 1},
            {"items": [{"name": H, "type": H, "value": H, "unit": H}]},
        ),
        (
            {"type": "session"},
            {"sid": H, "status": H, "errors": H, "attrs": {"release": H, H: H}},
        ),
        ({"type": "sessions"}, {"aggregates": [{"started": H, H: H}], "attrs": {H: H}}),
        ({"type": "check_in"}, {"check_in_id": H, "monitor_slug": H, "status": H}),
        (
            {"type": "client_report"},
            {
                "timestamp": H,
                "discarded_events": [{"reason": H, "category": H, "quantity": H}],
            },
        ),
        (
            {"type": "raw_security"},
            {
                "csp-report": {
                    "effective-directive": H,
                    "blocked-uri": "javascript:alert(1)" + H,
                    "document-uri": H,
                }
            },
        ),
        (
            {"type": "feedback"},
            {"contexts": {"feedback": {"message": H, "contact_email": H}}},
        ),
        ({"type": "user_report"}, {"event_id": EVENT_ID, "comments": H, "name": H}),
        ({"type": "replay_event"}, {"replay_id": H, "urls": [H]}),
        (
            {
                "type": "attachment",
                "filename": H,
                "content_type": "text/html",
                "attachment_type": H,
            },
            H.encode(),
        ),
        (
            {
                "type": "attachment",
                "filename": "x.svg",
                "content_type": "image/svg+xml",
            },
            f"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'>{H}</svg>".encode(),
        ),
        (
            {
                "type": "attachment",
                "filename": "b.bin",
                "content_type": 'image/png"' + H,
            },
            b"\x00\x01" + H.encode(),
        ),
        ({"type": H}, {H: H}),
    ]


class SafeMarkup(html.parser.HTMLParser):
    """Collects text and fails on any tag, attribute or URL Kent does not make."""

    TAGS = frozenset(
        [
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "header",
            "nav",
            "main",
            "footer",
            "a",
            "h1",
            "h2",
            "h3",
            "p",
            "div",
            "span",
            "strong",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "code",
            "pre",
            "ul",
            "li",
            "dl",
            "dt",
            "dd",
            "details",
            "summary",
            "form",
            "input",
            "button",
            "select",
            "option",
            "label",
            "svg",
            "rect",
            "img",
            "br",
            "script",
        ]
    )
    ATTRS = frozenset(
        [
            "lang",
            "charset",
            "name",
            "content",
            "href",
            "class",
            "id",
            "title",
            "nonce",
            "method",
            "action",
            "type",
            "value",
            "selected",
            "colspan",
            "open",
            "download",
            "viewbox",
            "preserveaspectratio",
            "aria-hidden",
            "x",
            "y",
            "width",
            "height",
            "rx",
            "alt",
            "src",
            "data-seq",
            "data-cursor",
            "data-generation",
            "data-project",
            "data-label",
        ]
    )

    def __init__(self, nonce):
        super().__init__(convert_charrefs=True)
        self.nonce, self.text, self.scripts = nonce, [], 0

    def handle_starttag(self, tag, attrs):
        assert tag in self.TAGS, f"unexpected tag <{tag}>"
        for name, value in attrs:
            assert name in self.ATTRS, f"unexpected attribute {name}= on <{tag}>"
            if name == "href":
                assert re.fullmatch(r"/[\w/.\-]*|#[\w-]+", value), f"link to {value!r}"
            if name == "src":
                assert re.match(r"data:image/(png|jpeg|gif|webp);base64,", value)
            if name == "action":
                assert value in ("/", "/flush", "/faults/clear", "/search", "/diff/")
        if tag in ("script", "style"):
            assert dict(attrs).get("nonce") == self.nonce
            self.scripts += tag == "script"

    def handle_data(self, data):
        self.text.append(data)


def check_page(page, nonce=NONCE):
    """Parse a page; returns its text. Fails on anything Kent did not write."""
    parser = SafeMarkup(nonce)
    parser.feed(page)
    parser.close()
    assert "innerHTML" not in page
    return "".join(parser.text)


def page_of(server, path):
    """GET an HTML page and check its markup; returns (html, text)."""
    status, headers, data = http_request(server.url, "GET", path)
    assert status == 200, data[:300]
    page = data.decode()
    nonce = re.search(r'<style nonce="([0-9a-f]+)"', page).group(1)
    assert f"'nonce-{nonce}'" in headers["content-security-policy"]
    return page, check_page(page, nonce)
