"""Helpers shared by Kent's tests: raw HTTP, envelope bytes, tool checks."""

import contextlib
import http.client
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

CI = os.environ.get("CI") == "true"
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DASHED_EVENT_ID = "9ec79c33-ec99-42ab-8353-589fcb2e04dc"
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


def api_event(server, ident):
    """``/api/event/<ident>`` of a running server, asserted to be a 200."""
    status, value = get_json(server.url, f"/api/event/{ident}")
    assert status == 200, value
    return value


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
