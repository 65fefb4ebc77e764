"""Kent as Spotlight's sidecar: ``POST /stream`` from real SDKs in Spotlight
mode, and the live event stream ``GET /stream`` / ``GET /api/stream/``."""

import contextlib
import gzip
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest
from helpers import (
    APPS,
    AUTH_HEADER,
    EVENT_ID,
    JS,
    envelope,
    event_item,
    http_request,
    post_envelope,
    require_node_sdk,
)

import kent

SDK_VERSION = __import__("importlib.metadata").metadata.version("sentry-sdk")


def run_spotlight_app(*args, env=None):
    """tests/apps/spotlight_app.py in a subprocess: its JSON output line."""
    clean = {k: v for k, v in os.environ.items() if k != "SENTRY_SPOTLIGHT"}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(APPS / "spotlight_app.py")] + list(args),
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def post_stream(url, data, headers=None):
    """POST to Spotlight's ``/stream`` as SDKs do: no auth header."""
    sent = {"Content-Type": "application/x-sentry-envelope", **(headers or {})}
    status, answer_headers, body = http_request(url, "POST", "/stream", data, sent)
    return status, answer_headers, json.loads(body)


# -- Spotlight ingestion: real SDKs ------------------------------------------------


def test_python_sdk_without_dsn_reaches_kent_through_spotlight():
    """``SENTRY_SPOTLIGHT=<url>`` and no DSN: sentry-python samples
    everything and sends PII; the items land in Spotlight's project."""
    with kent.KentServer(spotlight_port=0) as server:
        assert server.spotlight_url != f"{server.url}/stream"  # a second port
        out = run_spotlight_app(env={"SENTRY_SPOTLIGHT": server.spotlight_url})
        [event] = server.wait_for(1, timeout=30, type="event")
        [transaction] = server.wait_for(1, timeout=30, type="transaction")
    assert event.event_id == out["event_id"]
    assert event.project_id == kent.SPOTLIGHT_PROJECT_ID == 0
    assert event.summary == "ValueError: bad value 21"
    assert event.sdk == {"name": "sentry.python", "version": SDK_VERSION}
    assert (event.status, event.error, event.warnings) == (200, None, [])
    assert event.request["endpoint"] == "spotlight"
    assert event.auth["source"] is None  # Spotlight sends no auth
    assert event.body["user"]["email"] == "spot@example.com"  # send_default_pii
    # DSN-less Spotlight mode samples every trace.
    assert transaction.body["contexts"]["trace"]["trace_id"] == out["trace_id"]
    assert transaction.request["endpoint"] == "spotlight"


def test_python_sdk_with_dsn_and_spotlight_sends_two_copies(kent_server):
    """``spotlight=<kent>/stream`` beside a DSN: one copy to the DSN's
    project, one to /stream; the Spotlight copy says so."""
    out = run_spotlight_app(
        "--spotlight", f"{kent_server.url}/stream", "--dsn", kent_server.dsn(5)
    )
    copies = kent_server.wait_for(2, timeout=30, type="event")
    assert {e.event_id for e in copies} == {out["event_id"]}
    by_endpoint = {e.request["endpoint"]: e for e in copies}
    assert sorted(by_endpoint) == ["envelope", "spotlight"]
    assert by_endpoint["envelope"].project_id == 5
    # sentry-python's envelope header has no dsn: Spotlight's project.
    assert by_endpoint["spotlight"].project_id == 0
    assert all(e.warnings == [] for e in copies)
    kent_server.wait_for(2, timeout=30, type="transaction")  # traced, too
    status, _, page = http_request(kent_server.url, "GET", "/")
    assert status == 200 and page.count(b"via Spotlight") == 2  # of 4 rows
    listing = "/api/eventlist/?type=event"
    entries = json.loads(http_request(kent_server.url, "GET", listing)[2])
    assert sorted(e["endpoint"] for e in entries["events"]) == ["envelope", "spotlight"]


def test_node_sdk_without_dsn_reaches_kent_through_spotlight():
    node = require_node_sdk("the @sentry/node tests need Node.js >= 20.19")
    with kent.KentServer(spotlight_port=0) as server:
        env = {**os.environ, "SENTRY_SPOTLIGHT": server.spotlight_url}
        env.pop("SENTRY_DSN", None)
        result = subprocess.run(
            [node, str(JS / "node_spotlight.mjs")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        out = json.loads(result.stdout.strip().splitlines()[-1])
        [event] = server.wait_for(1, timeout=30, type="event")
    assert event.event_id == out["event_ids"][0]
    assert event.summary.startswith("TypeError: Cannot read properties of null")
    assert event.sdk["name"] == "sentry.javascript.node"
    assert (event.project_id, event.request["endpoint"]) == (0, "spotlight")
    assert (event.status, event.error, event.warnings) == (200, None, [])


# -- Spotlight ingestion: the route ---------------------------------------------------


def test_envelope_dsn_names_the_project(kent_server):
    dsn = "http://e12d836b15bb49d7bbf99e64295d995b@127.0.0.1:1/7"
    data = envelope(
        event_item({"message": "tunnelled"}), header={"event_id": EVENT_ID, "dsn": dsn}
    )
    status, _, value = post_stream(kent_server.url, data)
    assert (status, value) == (200, {"id": EVENT_ID, "success": True})
    [event] = kent_server.wait_for(1, timeout=10)
    assert (event.project_id, event.auth["sentry_key"]) == (7, dsn[7:39])


def test_gzip_and_text_plain_as_browsers_send(kent_server):
    data = gzip.compress(envelope(event_item({"message": "from a browser"})))
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Content-Encoding": "gzip"}
    status, answer_headers, _ = post_stream(kent_server.url, data, headers)
    assert status == 200
    assert answer_headers["access-control-allow-origin"] == "*"  # ingestion
    [event] = kent_server.wait_for(1, timeout=10)
    assert (event.summary, event.project_id) == ("from a browser", 0)


def test_preflight_is_answered_for_any_origin(kent_server):
    headers = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    status, answer, _ = http_request(
        kent_server.url, "OPTIONS", "/stream", headers=headers
    )
    assert status == 200 and answer["access-control-allow-origin"] == "*"


def test_broken_envelope_is_refused_and_kept(kent_server):
    status, _, value = post_stream(kent_server.url, b'{"event_id": 12\n{"type"')
    assert status == 400 and "envelope header" in value["error"]
    [kept] = kent_server.wait_for(1, timeout=10, type="kent_error")
    assert (kept.project_id, kept.request["endpoint"]) == (0, "spotlight")


# -- the event stream ---------------------------------------------------------------------


class Stream:
    """A ``text/event-stream`` response read event by event (its own parser,
    not Kent's, so that a bug in one is not hidden by the other)."""

    def __init__(self, url, path="/stream", headers=None, timeout=30):
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parts.hostname, parts.port, timeout=timeout
        )
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def next(self, comments=False):
        """The next event as a dict (id, event, data), or a comment's text."""
        fields = {}
        while True:
            line = self.response.fp.readline()
            assert line, "the stream ended"
            line = line.decode("utf-8").rstrip("\n")
            if line.startswith(":"):
                if comments:
                    return line[1:].strip()
                continue
            if not line:
                if "data" in fields:
                    fields["data"] = json.loads(fields["data"])
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")

    def close(self):
        self.response.close()  # its file holds the socket open too
        self.conn.close()


@contextlib.contextmanager
def stream(url, path="/stream", headers=None):
    opened = Stream(url, path, headers)
    try:
        yield opened
    finally:
        opened.close()


def send_messages(url, *messages, project=1):
    for message in messages:
        body = {"message": message, "event_id": os.urandom(16).hex()}
        status, _, _ = post_envelope(url, envelope(event_item(body)), project)
        assert status == 200


def test_stream_sends_kept_items_then_new_ones_as_they_arrive(kent_server):
    send_messages(kent_server.url, "before")
    with stream(kent_server.url) as events:
        assert events.status == 200
        assert events.response.getheader("Content-Type").startswith("text/event-stream")
        first = events.next()
        assert (first["id"], first["event"]) == ("1", "event")
        assert first["data"]["summary"] == "before"
        send_messages(kent_server.url, "after")
        second = events.next()
        assert (second["id"], second["event"]) == ("2", "event")
        assert second["data"]["seq"] == 2 and second["data"]["summary"] == "after"
        # data is the list entry: the same JSON as GET /api/eventlist/ has
        listing = json.loads(http_request(kent_server.url, "GET", "/api/eventlist/")[2])
        assert second["data"] == listing["events"][1]


def test_stream_resumes_after_last_event_id_or_since(kent_server):
    send_messages(kent_server.url, "one", "two", "three")
    with stream(kent_server.url, headers={"Last-Event-ID": "1"}) as events:
        assert [events.next()["data"]["summary"] for _ in range(2)] == ["two", "three"]
    with stream(kent_server.url, "/api/stream/?since=2") as events:
        assert events.next()["data"]["summary"] == "three"


def test_stream_filters_as_the_event_list(kent_server):
    send_messages(kent_server.url, "project one", project=1)
    send_messages(kent_server.url, "project two", project=2)
    with stream(kent_server.url, "/api/stream/?project=2&type=event") as events:
        assert events.next()["data"]["summary"] == "project two"
        send_messages(kent_server.url, "one again", project=1)
        send_messages(kent_server.url, "two again", project=2)
        assert events.next()["data"]["summary"] == "two again"


def test_an_id_from_before_a_restart_starts_from_the_oldest_kept(kent_server):
    send_messages(kent_server.url, "after the restart")
    with stream(kent_server.url, headers={"Last-Event-ID": "500"}) as events:
        assert events.next()["data"]["summary"] == "after the restart"


def test_an_id_from_another_run_of_kent_starts_from_the_oldest_kept(kent_server):
    send_messages(kent_server.url, "first of this run", "second")
    with stream(kent_server.url) as events:
        run = events.next(comments=True).split()[1]
    path = "/api/stream/?run=0123456789ab"  # a run id the stream gave before
    with stream(kent_server.url, path, {"Last-Event-ID": "1"}) as events:
        assert events.next()["data"]["summary"] == "first of this run"
    with stream(
        kent_server.url, f"/api/stream/?run={run}", {"Last-Event-ID": "1"}
    ) as events:
        assert events.next()["data"]["summary"] == "second"


def test_idle_stream_sends_heartbeat_comments():
    with kent.KentServer(stream_heartbeat=0.2) as server, stream(server.url) as events:
        assert events.next(comments=True).startswith("kent ")
        assert events.next(comments=True) == "heartbeat"


@pytest.mark.parametrize(
    ("headers", "path", "message"),
    [
        ({"Last-Event-ID": "x1"}, "/stream", "bad Last-Event-ID"),
        ({}, "/api/stream/?since=abc", "bad filter since"),
    ],
)
def test_bad_cursor_is_a_400(kent_server, headers, path, message):
    status, _, body = http_request(kent_server.url, "GET", path, headers=headers)
    assert status == 400 and message in json.loads(body)["error"]


def test_streams_are_bounded_and_never_take_ingestion_down():
    with kent.KentServer(max_connections=4) as server:  # 2 streams at most
        with stream(server.url) as first, stream(server.url) as second:
            assert (first.status, second.status) == (200, 200)
            status, _, body = http_request(server.url, "GET", "/stream")
            assert status == 503 and "event streams are open" in body.decode()
            send_messages(server.url, "still ingesting")
            assert first.next()["data"]["summary"] == "still ingesting"
        # Closed streams free their slots once Kent sees the hang-up.
        deadline = time.monotonic() + 30
        while http_request(server.url, "HEAD", "/stream")[0] == 503:
            assert time.monotonic() < deadline, "the closed streams' slots stay taken"
            time.sleep(0.1)
        with stream(server.url) as third:
            assert third.next()["data"]["summary"] == "still ingesting"


def _accept_with_small_send_buffers(httpd):
    """Loopback send buffers grow to megabytes; a small fixed one fills as a
    slow network's would."""
    accept = httpd.get_request

    def accept_small():
        sock, address = accept()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return sock, address

    httpd.get_request = accept_small


def test_a_stream_that_is_not_read_never_blocks_ingestion():
    """A reader that reads nothing: the stream's thread soon blocks writing
    to the socket. It must not hold the store's lock meanwhile: every POST is
    still answered (long before the watchdog would cut the reader)."""
    with kent.KentServer(request_timeout=300) as server, socket.socket() as unread:
        _accept_with_small_send_buffers(server._httpd)
        unread.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        unread.connect(("127.0.0.1", server.port))
        unread.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        headers = {"X-Sentry-Auth": AUTH_HEADER}
        for number in range(300):
            data = envelope(event_item({"message": f"{number} " + "x" * 190}))
            path = "/api/1/envelope/"
            answer = http_request(server.url, "POST", path, data, headers, timeout=20)
            assert answer[0] == 200
        assert server.store.stats()["received"] == 300


def test_stopping_the_server_ends_open_streams():
    server = kent.KentServer().start()
    try:
        opened = Stream(server.url)
        assert opened.next(comments=True).startswith("kent ")
    finally:
        server.stop()
    assert opened.response.fp.read() == b"\n"  # the end of ": kent ...", then EOF
    opened.close()
