"""Regressions found by review: each was a 500, a desync or an injection."""

import json

import pytest
from helpers import (
    envelope,
    get_json,
    http_request,
    post_envelope,
    raw_exchange,
)

import kent


def test_a_get_with_a_body_does_not_become_a_second_request(kent_server):
    smuggled = b"GET /evil HTTP/1.1\r\nX: y\r\n\r\n"
    request = (
        b"GET /api/status/ HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + str(len(smuggled)).encode()
        + b"\r\n\r\n"
        + smuggled
    )
    answer = raw_exchange(kent_server.url, request)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"/evil" not in answer


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "text/plain\r\nSet-Cookie: a=b", "text/\u2603"],
)
def test_raw_download_never_serves_a_page_or_a_header_of_the_sender(
    kent_server, content_type
):
    body = b"<script>alert(1)</script>"
    item = {"type": "attachment", "filename": "x.html", "content_type": content_type}
    status, _, _ = post_envelope(kent_server.url, envelope((item, body)))
    assert status == 200
    [attachment] = kent_server.events(type="attachment")
    status, headers, data = http_request(
        kent_server.url, "GET", f"/api/event/{attachment.id}/raw"
    )
    assert status == 200 and data == body
    assert headers["content-type"] in ("text/html", "application/octet-stream")
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in headers


@pytest.mark.parametrize("key", ["delay", "duration"])
def test_fault_numbers_must_be_finite(kent_server, key):
    status, _, data = http_request(
        kent_server.url,
        "POST",
        "/api/faults/",
        json.dumps({"status": 503, key: "nan"}).encode(),
    )
    assert status == 400, data
    assert b"finite" in data
    assert kent_server.faults == []


@pytest.mark.parametrize("limits", ["\u2603", "1:error\r\nX-Evil: 1"])
def test_fault_rate_limits_cannot_inject_headers(kent_server, limits):
    with pytest.raises(kent.KentError, match="printable ASCII"):
        kent_server.add_fault(status=429, rate_limits=limits)


def test_unknown_encoding_answer_lists_what_works(kent_server):
    status, headers, _ = post_envelope(
        kent_server.url, b"{}", headers={"Content-Encoding": "snappy"}
    )
    assert status == 415
    assert "gzip" in headers["accept-encoding"].split(", ")


def test_strict_nel_with_the_wrong_content_type_is_415():
    report = [{"type": "network-error", "url": "https://a", "body": {}}]
    with kent.KentServer(strict=True) as server:
        status, _, _ = http_request(
            server.url,
            "POST",
            "/api/1/nel/?sentry_key=" + "a" * 32,
            json.dumps(report).encode(),
            {"Content-Type": "text/plain"},
        )
        [stored] = server.events(type="nel")
    assert status == 415
    assert stored.status == 415
    assert [w["code"] for w in stored.warnings] == ["content-type"]


def test_wait_with_a_timeout_that_is_not_a_number_is_400(kent_server):
    status, _, data = http_request(kent_server.url, "GET", "/api/wait/?timeout=nan")
    assert status == 400, data


def test_tunnel_with_an_absurd_project_id_is_400(kent_server):
    header = {"dsn": "https://" + "a" * 32 + "@o1.ingest.sentry.io/" + "9" * 30}
    body = envelope(({"type": "event"}, {"message": "x"}), header=header)
    status, _, data = http_request(kent_server.url, "POST", "/tunnel/", body)
    assert status == 400, data
    assert get_json(kent_server.url, "/api/eventlist/?type=event")[1]["events"] == []
