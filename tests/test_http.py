"""Every route through a real socket; every error status; stored content."""

import base64
import gzip
import http.client
import json
import socket
import threading
import urllib.parse
import zlib

import pytest
from helpers import (
    AUTH_HEADER,
    CLEAN_KEY,
    DASHED_EVENT_ID,
    EVENT_ID,
    assert_still_serving,
    envelope,
    event_item,
    exchange_until_closed,
    get_json,
    http_request,
    js_envelope,
    post_envelope,
    raw_exchange,
    require_module,
    split_responses,
    status_of,
    wait_in_thread,
)

import kent

BAD_LENGTH = envelope(event_item()) + b'{"type":"attachment","length":30}\nhello'


def only(server, **filters):
    [event] = server.events(**filters)
    return event


def connect(server, timeout=30):
    return http.client.HTTPConnection(server.host, server.port, timeout=timeout)


# -- ingestion: success --------------------------------------------------------------


def test_envelope_is_stored_and_answered_with_its_id(kent_server):
    status, headers, value = post_envelope(kent_server.url, envelope(event_item()))
    assert status == 200
    assert value == {"id": EVENT_ID, "success": True}
    assert headers["content-type"] == "application/json"
    event = kent_server.wait_for(1, timeout=5, type="event")[0]
    assert event.body == {"message": "hi", "level": "error"}
    assert event.event_id == EVENT_ID and event.project_id == 1
    assert (
        event.auth["sentry_key"] == CLEAN_KEY
        and event.auth["source"] == "x-sentry-auth"
    )
    assert event.request["endpoint"] == "envelope" and event.status == 200


def test_dashed_event_id_is_normalized(kent_server):
    data = envelope(event_item(), header={"event_id": DASHED_EVENT_ID})
    _, _, value = post_envelope(kent_server.url, data)
    assert value == {"id": EVENT_ID, "success": True}
    assert only(kent_server).event_id == EVENT_ID


def test_envelope_without_event_id_answers_success_only(kent_server):
    session = ({"type": "session"}, {"sid": "s1", "status": "ok", "errors": 0})
    status, _, value = post_envelope(kent_server.url, envelope(session, header={}))
    assert (status, value) == (200, {"success": True})
    assert only(kent_server).body["sid"] == "s1"


def test_js_style_envelope_with_query_auth(kent_server):
    path = f"/api/7/envelope/?sentry_version=7&sentry_key={CLEAN_KEY}"
    data = js_envelope(event_item({"message": "from js"}))
    status, _, _ = http_request(
        kent_server.url, "POST", path, data, {"Content-Type": "text/plain"}
    )
    assert status == 200
    event = only(kent_server)
    assert event.project_id == 7 and event.body["message"] == "from js"
    assert event.auth["source"] == "query"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("identity", bytes)],
)
def test_content_encodings(kent_server, encoding, encode):
    data = envelope(event_item({"message": f"via {encoding}"}))
    status, _, _ = post_envelope(
        kent_server.url, encode(data), headers={"Content-Encoding": encoding}
    )
    assert status == 200
    event = only(kent_server)
    assert event.body["message"] == f"via {encoding}"
    assert event.request["content_encoding"] == encoding
    assert event.request["decoded_size"] == len(data)


def test_brotli_encoding(kent_server):
    brotli = require_module("brotli", "tests/requirements.txt installs brotli")
    data = envelope(event_item({"message": "via br"}))
    status, _, _ = post_envelope(
        kent_server.url, brotli.compress(data), headers={"Content-Encoding": "br"}
    )
    assert status == 200 and only(kent_server).body["message"] == "via br"


def test_store_endpoint_json_and_legacy_encodings(kent_server):
    body = {"event_id": EVENT_ID, "message": "legacy store"}
    plain = json.dumps(body).encode()
    for data in (plain, base64.b64encode(zlib.compress(plain))):
        status, _, value = post_envelope(kent_server.url, data, path="/api/3/store/")
        assert (status, value) == (200, {"id": EVENT_ID, "success": True})
    events = kent_server.events(project=3)
    assert [e.body for e in events] == [body, body]
    assert [e.request["endpoint"] for e in events] == ["store", "store"]


def test_store_endpoint_generates_an_id(kent_server):
    status, _, value = post_envelope(
        kent_server.url, b'{"message":"no id"}', path="/api/1/store/"
    )
    assert status == 200 and len(value["id"]) == 32
    assert only(kent_server).event_id == value["id"]


def test_store_endpoint_takes_an_envelope_by_content_type(kent_server):
    headers = {"Content-Type": "application/x-sentry-envelope"}
    data = envelope(event_item({"message": "envelope via store"}))
    status, _, value = post_envelope(
        kent_server.url, data, path="/api/1/store/", headers=headers
    )
    assert status == 200 and value["id"] == EVENT_ID
    assert only(kent_server).body["message"] == "envelope via store"


@pytest.mark.parametrize("route", ["security", "csp-report"])
def test_security_endpoint_csp_report(kent_server, route):
    report = {"csp-report": {"effective-directive": "img-src", "blocked-uri": "x"}}
    path = f"/api/2/{route}/?sentry_key={CLEAN_KEY}&sentry_release=r9"
    status, _, data = http_request(
        kent_server.url,
        "POST",
        path,
        json.dumps(report).encode(),
        {"Content-Type": "application/csp-report"},
    )
    assert status == 200 and json.loads(data)["success"] is True
    event = only(kent_server)
    assert event.type == "security" and event.body == report
    assert event.header["sentry_release"] == "r9"
    assert event.title == "csp-report: img-src blocked x"
    assert event.summary == "csp-report: unknown"  # Kent 2.x: violated-directive


def test_security_endpoint_reporting_api_list(kent_server):
    reports = [
        {
            "type": "csp-violation",
            "body": {"effectiveDirective": "a", "blockedURL": "1"},
        },
        {
            "type": "csp-violation",
            "body": {"effectiveDirective": "b", "blockedURL": "2"},
        },
    ]
    status, _, _ = http_request(
        kent_server.url,
        "POST",
        f"/api/1/security/?sentry_key={CLEAN_KEY}",
        json.dumps(reports).encode(),
        {"Content-Type": "application/reports+json"},
    )
    assert status == 200
    assert [e.body for e in kent_server.events(type="security")] == reports


def test_chunked_gzip_request_body(kent_server):
    data = gzip.compress(envelope(event_item({"message": "chunked"})))
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    conn = connect(kent_server)
    try:
        conn.request(
            "POST",
            "/api/1/envelope/",
            body=iter(pieces),
            headers={"X-Sentry-Auth": AUTH_HEADER, "Content-Encoding": "gzip"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["id"] == EVENT_ID
    finally:
        conn.close()
    event = only(kent_server)
    assert event.body["message"] == "chunked"
    assert event.request["transfer_encoding"] == "chunked"


def test_expect_100_continue(kent_server):
    data = envelope(event_item({"message": "after continue"}))
    head = (
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
        f"X-Sentry-Auth: {AUTH_HEADER}\r\nContent-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((kent_server.host, kent_server.port), 10) as sock:
        sock.sendall(head)
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert status_of(answer) == 200
    assert only(kent_server).body["message"] == "after continue"


def test_expect_100_continue_over_max_body_is_413():
    with kent.KentServer(max_body=100) as server:
        head = (
            b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
            b"Content-Length: 5000\r\n\r\n"
        )
        answer = raw_exchange(server.url, head)
        assert status_of(answer) == 413
        assert b"5000" in answer.split(b"\r\n\r\n", 1)[1]
        [kept] = server.store.snapshot()  # refused unread, and kept to say so
        assert kept.type == "kent_error" and kept.status == 413
        assert kept.project_id == 1 and bytes(kept.raw) == b""


# -- ingestion: errors, each stored as kent_error ---------------------------------


def assert_rejected(server, status, words, raw=None):
    """The kent_error item: summary starts with status; raw bytes kept."""
    error = only(server, type="kent_error")
    assert error.status == status
    assert error.summary.startswith(f"{status} "), error.summary
    assert words in error.summary
    if raw is not None:
        code, headers, data = http_request(
            server.url, "GET", f"/api/event/{error.id}/raw"
        )
        assert code == 200 and data == raw
    return error


def test_bad_framing_is_400_with_message_and_stored(kent_server):
    status, headers, value = post_envelope(kent_server.url, BAD_LENGTH)
    assert status == 400
    assert "declared length 30" in value["error"] and value["detail"] == value["error"]
    assert headers["access-control-allow-origin"] == "*"
    assert_rejected(kent_server, 400, "declared length 30", raw=BAD_LENGTH)


def test_items_before_a_bad_one_are_kept_with_their_body(kent_server):
    post_envelope(kent_server.url, BAD_LENGTH)
    event = only(kent_server, type="event")
    assert event.status == 400
    assert event.body == {"message": "hi", "level": "error"}


def test_invalid_json_item_is_400_and_the_item_is_kept(kent_server):
    data = envelope(({"type": "event"}, b"{oops"), event_item({"message": "fine"}))
    status, _, value = post_envelope(kent_server.url, data)
    assert status == 400 and "invalid JSON" in value["error"]
    bad, good = kent_server.events()
    assert bad.raw == b"{oops" and "invalid JSON" in bad.summary
    assert good.body == {"message": "fine"}
    assert bad.status == good.status == 400


def test_empty_body_is_400(kent_server):
    status, _, value = post_envelope(kent_server.url, b"")
    assert status == 400 and value["error"] == "empty request body"
    assert_rejected(kent_server, 400, "empty request body", raw=b"")


def test_unknown_encoding_is_415_and_raw_kept(kent_server):
    data = b"compressed?"
    status, _, value = post_envelope(
        kent_server.url, data, headers={"Content-Encoding": "compress"}
    )
    assert status == 415 and "compress" in value["error"]
    assert_rejected(kent_server, 415, "compress", raw=data)


def test_corrupt_gzip_is_400_and_raw_kept(kent_server):
    data = gzip.compress(b"x" * 100)[:20]
    status, _, value = post_envelope(
        kent_server.url, data, headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and "gzip" in value["error"]
    assert_rejected(kent_server, 400, "gzip", raw=data)


@pytest.mark.parametrize("message_size", [2000, 200_000])
def test_body_over_max_body_is_413_and_its_start_kept(message_size):
    with kent.KentServer(max_body=1000) as server:
        data = envelope(event_item({"message": "x" * message_size}))
        kept = data[:65536]  # all of a small body, the first 64 KiB of a big one
        status, _, value = post_envelope(server.url, data)
        assert status == 413 and "1000" in value["error"]
        whole = "it is kept" if kept == data else f"its first {len(kept)} bytes"
        assert whole in value["error"]
        assert_rejected(server, 413, "1000", raw=kept)


def test_client_still_sending_a_refused_body_reads_its_413():
    # Closing with the rest of the body unread sends a reset that could reach
    # the client before it read the 413 (a broken pipe in 2 of 5 tries).
    data = envelope(event_item({"message": "x" * 3_000_000}))
    with kent.KentServer(max_body=1000) as server:
        answers = [post_envelope(server.url, data)[0] for _ in range(10)]
    assert answers == [413] * 10


def test_chunked_body_over_max_body_keeps_the_chunks_that_came():
    with kent.KentServer(max_body=1000) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        chunks = [b"a" * 600, b"b" * 600]
        headers = {"X-Sentry-Auth": AUTH_HEADER, "Transfer-Encoding": "chunked"}
        conn.request(
            "POST", "/api/1/envelope/", iter(chunks), headers, encode_chunked=True
        )
        answer = conn.getresponse()
        assert answer.status == 413
        assert b"its first 600 bytes are kept" in answer.read()
        conn.close()
        assert_rejected(server, 413, "chunked body", raw=b"a" * 600)


def test_decoded_body_over_max_body_is_413_and_compressed_raw_kept():
    with kent.KentServer(max_body=1000) as server:
        data = gzip.compress(envelope(event_item({"message": "x" * 5000})))
        assert len(data) < 1000
        status, _, _ = post_envelope(
            server.url, data, headers={"Content-Encoding": "gzip"}
        )
        assert status == 413
        assert_rejected(server, 413, "1000", raw=data)


def test_bad_chunked_framing_is_400_and_recorded(kent_server):
    request = (
        "POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
        f"X-Sentry-Auth: {AUTH_HEADER}\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ).encode()
    answer = raw_exchange(kent_server.url, request)
    assert status_of(answer) == 400
    assert b"chunk size" in answer
    assert_rejected(kent_server, 400, "chunk size")


# -- strict framing: what a proxy in front could read otherwise is a 400 -----------

STATUS_REQUEST = b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
SMUGGLED = STATUS_REQUEST  # sent after each request below, on the same connection
ENVELOPE_HEAD = b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\n"
CHUNKED_HEAD = ENVELOPE_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
BODY = b'{}\n{"type":"event"}\n{}'  # 22 bytes: 0x16
CHUNKED_BODY = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
AMBIGUOUS_REQUESTS = {
    "Content-Length and Transfer-Encoding": ENVELOPE_HEAD
    + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(CHUNKED_BODY)
    + CHUNKED_BODY,
    "two different Content-Lengths": ENVELOPE_HEAD
    + b"Content-Length: %d\r\nContent-Length: 0\r\n\r\n" % len(BODY)
    + BODY,
    "Transfer-Encoding gzip, chunked": ENVELOPE_HEAD
    + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
    + CHUNKED_BODY,
    "Transfer-Encoding xchunked": ENVELOPE_HEAD
    + b"Transfer-Encoding: xchunked\r\n\r\n"
    + CHUNKED_BODY,
    "two Transfer-Encoding headers": ENVELOPE_HEAD
    + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
    + CHUNKED_BODY,
    "Transfer-Encoding in HTTP/1.0": ENVELOPE_HEAD.replace(b"1.1", b"1.0")
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + CHUNKED_BODY,
    "chunk size 0x16": CHUNKED_HEAD + b"0x16\r\n" + BODY + b"\r\n0\r\n\r\n",
    "chunk size 1_6": CHUNKED_HEAD + b"1_6\r\n" + BODY + b"\r\n0\r\n\r\n",
    "chunk size -0": CHUNKED_HEAD + b"16\r\n" + BODY + b"\r\n-0\r\n\r\n",
    "chunk size +16": CHUNKED_HEAD + b"+16\r\n" + BODY + b"\r\n0\r\n\r\n",
    "chunk size in spaces": CHUNKED_HEAD + b" 16 \r\n" + BODY + b"\r\n0\r\n\r\n",
    "whitespace before a header colon": b"GET /api/status/ HTTP/1.1\r\nHost : x\r\n\r\n",
    "two Host headers": b"GET /api/eventlist/ HTTP/1.1\r\nHost: evil.example\r\n"
    + b"Host: 127.0.0.1\r\n\r\n",
    "tab before a header colon": b"GET /api/status/ HTTP/1.1\r\nHost\t: x\r\n\r\n",
    "whitespace before the first header": b"GET /api/status/ HTTP/1.1\r\n Host: localhost\r\n\r\n",
    "NUL in a header value": b"GET /api/status/ HTTP/1.1\r\nHost: localhost\x00y\r\n\r\n",
    "CR in a header value": b"GET /api/status/ HTTP/1.1\r\nHost: localhost\ry\r\n\r\n",
    "control character in a header name": b"GET /api/status/ HTTP/1.1\r\n"
    + b"X-\x01: y\r\nHost: localhost\r\n\r\n",
    "NUL in the request line": b"GET /api/status/\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "vertical tab in the request line": b"GET\x0b/api/status/ HTTP/1.1\r\n"
    + b"Host: localhost\r\n\r\n",
    "HTTP/1.2": b"GET /api/status/ HTTP/1.2\r\nHost: localhost\r\n\r\n",
    "HTTP/1.10": b"GET /api/status/ HTTP/1.10\r\nHost: localhost\r\n\r\n",
    "HTTP/2.0": b"GET /api/status/ HTTP/2.0\r\nHost: localhost\r\n\r\n",
    "http/1.1": b"GET /api/status/ http/1.1\r\nHost: localhost\r\n\r\n",
}


@pytest.fixture(scope="module")
def framing_server():
    with kent.KentServer(request_timeout=5) as server:
        yield server


@pytest.mark.parametrize("name", AMBIGUOUS_REQUESTS)
def test_ambiguous_framing_is_400_and_the_connection_closed(framing_server, name):
    """One 400, then Kent hangs up: the bytes after it never run as a request."""
    data, closed = exchange_until_closed(
        framing_server.url, AMBIGUOUS_REQUESTS[name] + SMUGGLED
    )
    assert closed, data[:300]
    [(status, head, body)] = split_responses(data)
    assert status == 400, data[:300]
    assert "Connection: close" in head
    assert json.loads(body)["error"]
    assert_still_serving(framing_server.url)


FINE_FRAMING = {
    "chunk extensions": CHUNKED_HEAD + b"16 ; name=value\r\n" + BODY + b"\r\n0\r\n\r\n",
    "upper-case hex and trailers": CHUNKED_HEAD
    + b"0016\r\n"
    + BODY
    + b"\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "Transfer-Encoding Chunked": ENVELOPE_HEAD
    + b"Transfer-Encoding: Chunked\r\n\r\n"
    + CHUNKED_BODY,
    "the same Content-Length twice": ENVELOPE_HEAD
    + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(BODY), len(BODY))
    + BODY,
    "a repeated header and no Host": b"GET /api/status/ HTTP/1.1\r\nX-A: 1\r\n"
    + b"X-A: 2\r\n\r\n",
    "folded header and tab in a value": ENVELOPE_HEAD
    + b"X-Folded: a\r\n\tb\tc\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    + BODY,
}


@pytest.mark.parametrize("name", FINE_FRAMING)
def test_plain_framing_keeps_the_connection(framing_server, name):
    data, closed = exchange_until_closed(
        framing_server.url,
        FINE_FRAMING[name]
        + STATUS_REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
    )
    assert closed
    statuses = [status for status, _, _ in split_responses(data)]
    assert statuses == [200, 200], data[:600]


@pytest.mark.parametrize("project", ["abc", "-1", "1.5"])
def test_bad_project_id_is_400(kent_server, project):
    status, _, value = post_envelope(
        kent_server.url, envelope(event_item()), path=f"/api/{project}/envelope/"
    )
    assert status == 400 and "project" in value["error"]
    assert kent_server.events(type="event") == []
    [kept] = kent_server.events(type="kent_error")  # a misconfigured DSN: kept
    assert kept.project_id == 0 and kept.status == 400
    assert b'"message":"hi"' in bytes(kept.raw)


def test_unknown_path_is_404_json(kent_server):
    status, headers, data = http_request(kent_server.url, "GET", "/nope/here")
    value = json.loads(data)
    assert status == 404 and "/nope/here" in value["error"]
    assert headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/1/envelope/"),
        ("PUT", "/api/1/envelope/"),
        ("DELETE", "/api/eventlist/"),
        ("GET", "/api/flush/"),
        ("POST", "/api/status/"),
    ],
)
def test_wrong_method_is_405(kent_server, method, path):
    status, _, data = http_request(kent_server.url, method, path)
    assert status == 405, data
    assert method in json.loads(data)["error"]


def test_strict_mode_answers_relays_status_and_still_stores():
    with kent.KentServer(strict=True) as server:
        data = (
            b'{"event_id":"%s"}\r\n{"type":"event","length":2}\n{}\n'
            % EVENT_ID.encode()
        )
        status, _, value = post_envelope(server.url, data)
        assert status == 400 and "--strict" in value["error"]
        event = only(server)
        assert event.status == 400 and event.body == {}
        assert "crlf" in [w["code"] for w in event.warnings]


def test_lenient_mode_accepts_crlf_with_warning(kent_server):
    data = b'{"event_id":"%s"}\r\n{"type":"event","length":2}\n{}\n' % EVENT_ID.encode()
    status, _, _ = post_envelope(kent_server.url, data)
    assert status == 200
    status, value = get_json(kent_server.url, "/api/eventlist/")
    assert value["events"][0]["warnings"] == ["crlf"]


def test_require_keys_rejects_unknown_key_with_403():
    other = "f" * 32
    with kent.KentServer(require_keys=[CLEAN_KEY]) as server:
        good = post_envelope(server.url, envelope(event_item({"message": "known"})))
        bad = post_envelope(
            server.url,
            envelope(event_item({"message": "unknown"})),
            headers={"X-Sentry-Auth": f"Sentry sentry_key={other}"},
        )
        assert good[0] == 200 and bad[0] == 403
        assert other in bad[2]["error"]
        assert [(e.body["message"], e.status) for e in server.events()] == [
            ("known", 200),
            ("unknown", 403),
        ]


def test_require_keys_answers_401_without_any_auth():
    with kent.KentServer(require_keys=[CLEAN_KEY]) as server:
        status, _, value = http_request(
            server.url, "POST", "/api/1/envelope/", envelope(event_item())
        )
        [stored] = server.events()
    assert status == 401
    assert value == (
        b'{"error": "missing authorization information (Kent runs with '
        b'--require-key)", "detail": "missing authorization information (Kent '
        b'runs with --require-key)"}'
    )
    assert stored.status == 401


# -- keep-alive ------------------------------------------------------------------


def _post_on(conn, path, body, headers=None):
    conn.request(
        "POST",
        path,
        body=body,
        headers={"X-Sentry-Auth": AUTH_HEADER, **(headers or {})},
    )
    response = conn.getresponse()
    return response.status, response.read()


def test_keep_alive_survives_errors_mid_way():
    with kent.KentServer(max_events=1000) as server:
        conn = connect(server)
        try:
            statuses = []
            for i in range(100):
                data = envelope(event_item({"message": f"m{i}"}))
                statuses.append(_post_on(conn, "/api/1/envelope/", data)[0])
                if i == 30:
                    assert _post_on(conn, "/api/1/envelope/", BAD_LENGTH)[0] == 400
                if i == 50:
                    assert _post_on(conn, "/not/a/route", b"body bytes")[0] == 404
                if i == 60:
                    assert _post_on(conn, "/api/status/", b"body bytes")[0] == 405
                if i == 70:
                    enc = {"Content-Encoding": "compress"}
                    assert _post_on(conn, "/api/1/envelope/", b"zz", enc)[0] == 415
        finally:
            conn.close()
        assert statuses == [200] * 100
        accepted = server.events(type="event")
        assert [e.body["message"] for e in accepted if e.status == 200] == [
            f"m{i}" for i in range(100)
        ]


# -- CORS -----------------------------------------------------------------------


def test_cors_headers_on_ingestion_answers_and_errors(kent_server):
    responses = [
        post_envelope(kent_server.url, envelope(event_item()))[1],
        post_envelope(kent_server.url, BAD_LENGTH)[1],
        http_request(kent_server.url, "GET", "/missing")[1],
    ]
    for headers in responses:
        assert headers["access-control-allow-origin"] == "*"
        assert "x-sentry-rate-limits" in headers["access-control-expose-headers"]
    assert len(kent_server.events()) == 3
    # the read API is Kent's own (tests/test_security.py): no CORS at all
    headers = http_request(kent_server.url, "GET", "/api/eventlist/")[1]
    assert "access-control-allow-origin" not in headers


def test_options_preflight(kent_server):
    status, headers, data = http_request(
        kent_server.url,
        "OPTIONS",
        "/api/1/envelope/",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-sentry-auth",
        },
    )
    assert status == 200 and data == b""
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"]
    assert "x-sentry-auth" in allowed and "content-encoding" in allowed
    assert headers["access-control-max-age"] == "3600"
    assert kent_server.events() == []


# -- read API --------------------------------------------------------------------

ATTACHMENT = b"\x00\x01\xffbinary\r\n"


def post_with_attachment(server, content_type="text/plain"):
    header = {"type": "attachment", "filename": "a.bin"}
    if content_type:
        header["content_type"] = content_type
    post_envelope(server.url, envelope(event_item(), (header, ATTACHMENT)))
    return server.wait_for(1, timeout=5, type="attachment")[0]


def test_event_api_for_binary_attachment_is_base64_json(kent_server):
    attachment = post_with_attachment(kent_server)
    status, headers, data = http_request(
        kent_server.url, "GET", f"/api/event/{attachment.id}"
    )
    value = json.loads(data)
    assert status == 200 and headers["content-type"] == "application/json"
    assert value["payload"]["body_encoding"] == "base64"
    assert base64.b64decode(value["payload"]["body"]) == ATTACHMENT
    assert value["payload"]["header"]["filename"] == "a.bin"
    assert value["project_id"] == 1 and value["event_id"] == attachment.id


def test_raw_returns_exact_bytes_with_item_content_type(kent_server):
    attachment = post_with_attachment(kent_server, "text/plain")
    status, headers, data = http_request(
        kent_server.url, "GET", f"/api/event/{attachment.id}/raw"
    )
    assert status == 200 and data == ATTACHMENT
    assert headers["content-type"] == "text/plain"
    assert headers["content-length"] == str(len(ATTACHMENT))


def test_raw_without_content_type_is_octet_stream(kent_server):
    attachment = post_with_attachment(kent_server, None)
    _, headers, data = http_request(
        kent_server.url, "GET", f"/api/event/{attachment.id}/raw"
    )
    assert data == ATTACHMENT and headers["content-type"] == "application/octet-stream"


def test_event_api_by_sdk_id_prefers_the_event(kent_server):
    post_with_attachment(kent_server)
    for ident in (EVENT_ID, DASHED_EVENT_ID):
        status, value = get_json(kent_server.url, f"/api/event/{ident}")
        assert status == 200 and value["type"] == "event"
        assert value["payload"]["body"] == {"message": "hi", "level": "error"}
        assert value["payload"]["body_encoding"] == "json"
        assert value["request"]["endpoint"] == "envelope"


def test_event_api_unknown_id_is_404(kent_server):
    status, value = get_json(kent_server.url, "/api/event/does-not-exist")
    assert status == 404 and "does-not-exist" in value["error"]
    assert http_request(kent_server.url, "GET", "/api/event/nope/raw")[0] == 404


def post_mixed(server):
    post_envelope(server.url, envelope(event_item({"message": "one"})), project=1)
    transaction = (
        {"type": "transaction"},
        {"transaction": "/t", "type": "transaction"},
    )
    post_envelope(server.url, envelope(transaction), project=2)
    post_envelope(
        server.url,
        envelope(event_item({"message": "three", "tags": {"k": "v"}})),
        project=2,
    )
    return server.wait_for(3, timeout=5)


def test_eventlist_kent2_keys_oldest_first(kent_server):
    stored = post_mixed(kent_server)
    status, value = get_json(kent_server.url, "/api/eventlist/")
    assert status == 200
    events = value["events"]
    assert [e["event_id"] for e in events] == [e.id for e in stored]
    assert [e["summary"] for e in events] == ["one", "transaction /t", "three"]
    assert [e["project_id"] for e in events] == [1, 2, 2]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[0]["sdk_event_id"] == EVENT_ID
    assert (value["kept"], value["dropped"], value["last_seq"]) == (3, 0, 3)


@pytest.mark.parametrize(
    ("query", "summaries"),
    [
        ("project=2", ["transaction /t", "three"]),
        ("project=1,2", ["one", "transaction /t", "three"]),
        ("type=transaction", ["transaction /t"]),
        ("type=event&project=2", ["three"]),
        ("since=1", ["transaction /t", "three"]),
        ("q=THREE", ["three"]),
        ("tags.k=v", ["three"]),
        ("limit=2", ["transaction /t", "three"]),
        ("limit=0", []),
    ],
)
def test_eventlist_filters(kent_server, query, summaries):
    post_mixed(kent_server)
    status, value = get_json(kent_server.url, f"/api/eventlist/?{query}")
    assert status == 200
    assert [e["summary"] for e in value["events"]] == summaries


def test_eventlist_bad_filter_is_400(kent_server):
    status, value = get_json(kent_server.url, "/api/eventlist/?since=later")
    assert status == 400 and "later" in value["error"]


def test_wait_returns_200_with_events(kent_server):
    post_mixed(kent_server)
    status, value = get_json(kent_server.url, "/api/wait/?count=2&type=event&timeout=5")
    assert status == 200
    assert [e["summary"] for e in value["events"]] == ["one", "three"]
    assert (value["count"], value["wanted"], value["last_seq"]) == (2, 2, 3)


def test_wait_timeout_is_408_with_what_arrived(kent_server):
    post_mixed(kent_server)
    status, value = get_json(
        kent_server.url, "/api/wait/?count=5&project=2&timeout=0.2"
    )
    assert status == 408
    assert [e["summary"] for e in value["events"]] == ["transaction /t", "three"]
    assert "2 of 5" in value["error"]


def test_wait_bad_count_is_400(kent_server):
    status, value = get_json(kent_server.url, "/api/wait/?count=many")
    assert status == 400 and "count" in value["error"]


def test_concurrent_waiters_see_only_their_project(kent_server):
    results = {}
    threads = [
        threading.Thread(target=wait_in_thread, args=(kent_server.url, p, results))
        for p in (1, 2)
    ]
    for thread in threads:
        thread.start()
    for i in range(2):
        for project in (2, 1):
            data = envelope(event_item({"message": f"p{project}-{i}"}))
            post_envelope(kent_server.url, data, project=project)
    for thread in threads:
        thread.join(60)
    for project in (1, 2):
        status, value = results[project]
        summaries = [e["summary"] for e in value["events"]]
        assert (status, summaries) == (200, [f"p{project}-0", f"p{project}-1"])


def test_flush_one_project_keeps_the_other(kent_server):
    post_mixed(kent_server)
    status, _, data = http_request(kent_server.url, "POST", "/api/flush/?project=1")
    assert status == 200 and json.loads(data) == {"success": True, "flushed": 1}
    assert [e.project_id for e in kent_server.events()] == [2, 2]
    status, _, data = http_request(kent_server.url, "POST", "/api/flush/")
    assert json.loads(data) == {"success": True, "flushed": 2}
    assert kent_server.events() == []


def test_status_api(kent_server):
    post_mixed(kent_server)
    status, value = get_json(kent_server.url, "/api/status/")
    assert status == 200 and value["version"] == kent.__version__
    assert {"gzip", "deflate"} <= set(value["encodings"])
    assert (value["kept"], value["received"]) == (3, 3)


# -- pages -----------------------------------------------------------------------


def test_index_escapes_hostile_summary(kent_server):
    hostile = "<script>alert(1)</script>"
    post_envelope(kent_server.url, envelope(event_item({"message": hostile})))
    status, headers, data = http_request(kent_server.url, "GET", "/")
    page = data.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert hostile not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in headers["content-security-policy"]


def test_event_page_escapes_and_links_raw(kent_server):
    hostile = '"><img src=x onerror=alert(1)>'
    post_envelope(kent_server.url, envelope(event_item({"message": hostile})))
    event = only(kent_server)
    status, _, data = http_request(kent_server.url, "GET", f"/event/{event.id}")
    page = data.decode()
    assert status == 200 and "<img src=x" not in page
    assert f"/api/event/{event.id}/raw" in page
    assert http_request(kent_server.url, "GET", "/event/nope")[0] == 404


def test_flush_form_redirects_and_empties(kent_server):
    post_mixed(kent_server)
    status, headers, _ = http_request(kent_server.url, "POST", "/flush")
    assert status == 303 and headers["location"] == "/"
    assert kent_server.events() == []


def test_duplicate_slashes_are_folded(kent_server):
    status, _, _ = post_envelope(
        kent_server.url, envelope(event_item()), path="//api//1//envelope//"
    )
    assert status == 200 and only(kent_server).project_id == 1


def test_query_string_is_not_part_of_the_route(kent_server):
    path = "/api/1/envelope/?" + urllib.parse.urlencode({"x": "/api/2/"})
    status, _, _ = post_envelope(kent_server.url, envelope(event_item()), path=path)
    assert status == 200 and only(kent_server).project_id == 1


def test_a_get_with_a_body_does_not_become_a_second_request(kent_server):
    smuggled = b"GET /evil HTTP/1.1\r\nX: y\r\n\r\n"
    request = (
        b"GET /api/status/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
        + str(len(smuggled)).encode()
        + b"\r\n\r\n"
        + smuggled
    )
    answer = raw_exchange(kent_server.url, request, to_end=True)  # every answer
    assert status_of(answer) == 200, answer  # answered, not refused before the route
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"/evil" not in answer


def test_unknown_encoding_answer_lists_what_works(kent_server):
    status, headers, _ = post_envelope(
        kent_server.url, b"{}", headers={"Content-Encoding": "snappy"}
    )
    assert status == 415
    assert "gzip" in headers["accept-encoding"].split(", ")


def test_tunnel_with_an_absurd_project_id_is_400(kent_server):
    header = {"dsn": "https://" + "a" * 32 + "@o1.ingest.sentry.io/" + "9" * 30}
    body = envelope(({"type": "event"}, {"message": "x"}), header=header)
    status, _, data = http_request(kent_server.url, "POST", "/tunnel/", body)
    assert status == 400, data
    assert get_json(kent_server.url, "/api/eventlist/?type=event")[1]["events"] == []
