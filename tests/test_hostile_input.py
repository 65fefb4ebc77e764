"""Input built to break Kent: requests that are not HTTP as written, numbers
past int(), lone surrogates, JSON nested deeper than the recursion limit.
Each request is refused with a 4xx or answered as usual, never with a 5xx;
Kent logs no error and goes on serving, and what it kept reads back from every
view. (Generated input is in test_fuzz.py.)
"""

import json

import pytest
from helpers import (
    assert_still_serving,
    get_json,
    http_request,
    post_envelope,
    raw_exchange,
    split_response,
    status_of,
)

import kent

# -- requests: a 4xx or a normal answer, never a 5xx ---------------------------------


HOSTILE_REQUESTS = [
    b"GET /%00%ff HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/event/..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /event/%3Cscript%3E HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/eventlist/?since=x&project=%ff HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/eventlist/?limit=-5&a.b.c=%00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/wait/?count=x HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/wait/?timeout=nan&count=1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /api/wait/?timeout=-1&count=-1 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"POST /api/flush/?project=x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nshort",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    b"POST /api/1/envelope/?sentry_key=%ff%fe HTTP/1.1\r\nHost: localhost\r\n"
    b"X-Sentry-Auth: Sentry \r\nAuthorization: Basic !!!\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/1/envelope/ HTTP/1.1\r\nHost: <script>\r\nX-Sentry-Auth: Sentry ,,,=,\r\n"
    b"Content-Encoding: gzip, , br\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /api/99999999999999999999999/envelope/ HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"POST /api/1/security/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: \xff\r\n"
    b"Content-Length: 4\r\n\r\nnull",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
]


@pytest.mark.parametrize(
    "request_bytes",
    HOSTILE_REQUESTS,
    ids=[str(i) for i in range(len(HOSTILE_REQUESTS))],
)
def test_hostile_requests_never_get_500(kent_server, request_bytes):
    answer = raw_exchange(kent_server.url, request_bytes, timeout=5)
    assert 0 < status_of(answer) < 500 or status_of(answer) == 505, answer[:300]
    status, value = get_json(kent_server.url, "/api/status/")
    assert status == 200 and value["version"] == kent.__version__


HOST = b"Host: localhost\r\n"
ENVELOPE_POST = b"POST /api/1/envelope/ HTTP/1.1\r\n" + HOST
DIGITS = b"9" * 5000  # past Python's 4300-digit int() limit
SUPERSCRIPT_TWO = b"\xb2"  # latin-1 "²": str.isdigit() is True, int() fails

REFUSED_REQUESTS = {
    "garbage request line": b"\x00\x01\x02 \xff\xfe\r\n\r\n",
    "lowercase method": b"get /api/status/ HTTP/1.1\r\n" + HOST + b"\r\n",
    "CONNECT": b"CONNECT x:443 HTTP/1.1\r\n" + HOST + b"\r\n",
    "absolute URI": b"GET http://x/api/status/ HTTP/1.1\r\n" + HOST + b"\r\n",
    "request line over 64 KiB": b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    "header over 64 KiB": b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    "200 headers": b"GET / HTTP/1.1\r\n"
    + b"".join(b"X-%d: y\r\n" % i for i in range(200))
    + b"\r\n",
    "header without colon": b"GET /api/status/ HTTP/1.1\r\nHost x\r\n\r\n",
    "NUL in a header": b"GET /api/status/ HTTP/1.1\r\nHost: \x00\r\n\r\n",
    "negative Content-Length": ENVELOPE_POST + b"Content-Length: -5\r\n\r\n{}",
    "plus Content-Length": ENVELOPE_POST + b"Content-Length: +2\r\n\r\n{}",
    "hex Content-Length": ENVELOPE_POST + b"Content-Length: 0x2\r\n\r\n{}",
    "Content-Length past int() digits": ENVELOPE_POST
    + b"Content-Length: "
    + DIGITS
    + b"\r\n\r\n{}",
    "Content-Length superscript two": ENVELOPE_POST
    + b"Content-Length: "
    + SUPERSCRIPT_TWO
    + b"\r\n\r\n{}",
    "Content-Length superscript two on a 404": b"POST /nowhere HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: "
    + SUPERSCRIPT_TWO
    + b"\r\n\r\n{}",
    "Expect with a superscript Content-Length": ENVELOPE_POST
    + b"Expect: 100-continue\r\nContent-Length: "
    + SUPERSCRIPT_TWO
    + b"\r\n\r\n",
    "Expect with a huge Content-Length": ENVELOPE_POST
    + b"Expect: 100-continue\r\nContent-Length: "
    + DIGITS
    + b"\r\n\r\n",
    "negative chunk size": ENVELOPE_POST
    + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n",
    "non-hex chunk size": ENVELOPE_POST
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk size of 1000 hex digits": ENVELOPE_POST
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + b"f" * 1000
    + b"\r\nabc\r\n0\r\n\r\n",
    "chunk size line without end": ENVELOPE_POST
    + b"Transfer-Encoding: chunked\r\n\r\n"
    + b"1" * 5000,
    "chunk without CRLF after it": ENVELOPE_POST
    + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    "raw non-UTF-8 path": b"GET /\xff\xfe/event/\x80 HTTP/1.1\r\n" + HOST + b"\r\n",
    "escaped non-UTF-8 event id": b"GET /api/event/%ff%fe/raw HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "escaped NUL in a path": b"GET /event/%00 HTTP/1.1\r\n" + HOST + b"\r\n",
    "non-UTF-8 project": b"POST /api/%ff/envelope/ HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 2\r\n\r\n{}",
    "project id past int() digits": b"POST /api/"
    + DIGITS
    + b"/envelope/ HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 2\r\n\r\n{}",
    "fault id past int() digits": b"DELETE /api/faults/"
    + DIGITS
    + b" HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "flush project=superscript two": b"POST /api/flush/?project=%C2%B2 HTTP/1.1\r\n"
    + HOST
    + b"Content-Length: 0\r\n\r\n",
    "since past int() digits": b"GET /api/eventlist/?since="
    + DIGITS
    + b" HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "wait with absurd numbers": b"GET /api/wait/?count=1e99&timeout=-inf HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "3000 content codings": ENVELOPE_POST
    + b"Content-Encoding: "
    + b"identity, " * 3000
    + b"gzip\r\nContent-Length: 2\r\n\r\n{}",
    "cron duration past float": b"GET /api/1/cron/x/?status=ok&duration=abc HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "multipart without boundary": b"POST /api/1/minidump/ HTTP/1.1\r\n"
    + HOST
    + b"Content-Type: multipart/form-data; boundary=\r\nContent-Length: 2\r\n\r\n{}",
    "tunnel with a non-string dsn": b"POST /tunnel/ HTTP/1.1\r\n"
    + HOST
    + b'Content-Length: 9\r\n\r\n{"dsn":5}',
    "fault rule of the wrong types": b"POST /api/faults/ HTTP/1.1\r\n"
    + HOST
    + b'Content-Length: 29\r\n\r\n{"status":"429","count":[1]}',
}


# Odd but harmless: answered like normal requests (a limit that is not a number
# is ignored, as limit=abc always was), or refused; never a 5xx.
TOLERATED_REQUESTS = {
    "limit=superscript two": b"GET /api/eventlist/?limit=%C2%B2 HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "limit past int() digits": b"GET /api/eventlist/?limit="
    + DIGITS
    + b" HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "5000 query parameters": b"GET /api/eventlist/?"
    + b"&".join(b"p%d=%d" % (i, i) for i in range(5000))
    + b" HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "3000-deep field path": b"GET /api/eventlist/?"
    + b"a." * 3000
    + b"=1 HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "query of lone percents": b"GET /api/eventlist/?%=%&%%=%zz&q=%ff HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
}


# http.server answers 501 to a method it has no do_<METHOD> for; that is fine.
UNKNOWN_METHODS = ("lowercase method", "CONNECT")


def is_refusal(name, status):
    if name in UNKNOWN_METHODS:
        return status == 501
    return 400 <= status < 500


@pytest.mark.parametrize("name", REFUSED_REQUESTS)
def test_hostile_request_gets_a_4xx_and_kent_keeps_serving(kent_log, name):
    with kent.KentServer(request_timeout=5) as server:
        answer = raw_exchange(server.url, REFUSED_REQUESTS[name], timeout=10)
        assert is_refusal(name, status_of(answer)), answer[:300]
        _, body = split_response(answer)
        if body.startswith(b"<!DOCTYPE html>"):  # a page's 404 is a page
            assert b"<h1>Not found</h1>" in body
        else:
            assert "error" in json.loads(body)
        assert_still_serving(server.url)


@pytest.mark.parametrize("name", TOLERATED_REQUESTS)
def test_odd_but_harmless_request_is_answered(kent_log, name):
    with kent.KentServer(request_timeout=5) as server:
        answer = raw_exchange(server.url, TOLERATED_REQUESTS[name], timeout=10)
        assert 200 <= status_of(answer) < 500, answer[:300]
        _, body = split_response(answer)
        value = json.loads(body)
        assert (
            value.get("version") == kent.__version__
            or "events" in value
            or ("error" in value)
        )
        assert_still_serving(server.url)


# -- stored values that once broke a read ---------------------------------------------


# A lone UTF-16 surrogate is legal in JSON text but cannot be UTF-8: it comes
# from a JS string cut inside an emoji, or sentry-python's \udcXX escapes of
# undecodable file names. It once turned every read of the store into a 500.
SURROGATE_EVENT = (
    b'{"message":"cut \\ud83d here","extra":{"path":"/tmp/\\udcff.txt","n":NaN}}'
)


def test_lone_surrogates_never_break_a_read(kent_log):
    with kent.KentServer() as server:
        data = b'{}\n{"type":"event"}\n' + SURROGATE_EVENT + b"\n"
        status, _, _ = post_envelope(server.url, data)
        assert status == 200
        [event] = server.wait_for(1)
        ident = event.id
        reads = [
            "/", f"/event/{ident}", f"/diff/{ident}/{ident}", "/search/?q=cut",
            "/api/eventlist/", "/api/wait/?count=1", f"/api/event/{ident}",
            f"/api/event/{ident}/raw", f"/api/event/{ident}/envelope",
            f"/api/diff/{ident}/{ident}", "/api/search/?q=cut", "/api/leaks/",
        ]  # fmt: skip
        answers = {p: http_request(server.url, "GET", p) for p in reads}
    assert {p: a[0] for p, a in answers.items()} == dict.fromkeys(reads, 200)
    value = json.loads(answers[f"/api/event/{ident}"][2])
    assert value["payload"]["body"]["message"] == "cut \ud83d here"
    assert value["payload"]["body"]["extra"]["path"] == "/tmp/\udcff.txt"
    [listed] = json.loads(answers["/api/eventlist/"][2])["events"]
    assert listed["summary"] == "cut \ud83d here"
    assert answers[f"/api/event/{ident}/raw"][2] == SURROGATE_EVENT
    assert b"cut \\ud83d here" in answers[f"/event/{ident}"][2]  # the escape, shown


# JSON nested close to Python's recursion limit parses at ingest (a shallow
# stack) but might not when read again from a deeper one: such a body is kept
# parsed, not as bytes to parse later.
DEEP_EVENT = b'{"message":"deep","x":' + b"[" * 960 + b"]" * 960 + b"}"


def _read_body_deep_in_the_stack(event, depth):
    if depth:
        return _read_body_deep_in_the_stack(event, depth - 1)
    return event.body["message"]


def test_a_deeply_nested_body_can_be_read_back_from_anywhere(kent_log):
    with kent.KentServer() as server:
        data = b'{}\n{"type":"event"}\n' + DEEP_EVENT + b"\n"
        assert post_envelope(server.url, data)[0] == 200
        [event] = server.wait_for(1)
        answers = [
            http_request(server.url, "GET", path)[0]
            for path in ("/", f"/event/{event.id}", f"/api/event/{event.id}")
        ]
    assert answers == [200, 200, 200]
    assert event.error is None
    assert _read_body_deep_in_the_stack(event, 150) == "deep"


def test_deeply_nested_bodies_are_scanned_searched_and_diffed():
    body = leaf = {}
    for _ in range(3000):  # deeper than Python's recursion limit
        leaf["a"] = {}
        leaf = leaf["a"]
    leaf["email"] = "bob@example.org"
    [finding] = kent.scan_leaks("event", body, b"")
    assert finding["pointer"] == "/a" * 3000 + "/email"
    assert kent.search_item(body, b"", False, "BOB@") == [finding["pointer"]]
    assert kent.diff_bodies(body, {})["removed"] == [
        {"pointer": "/a", "value": body["a"]}
    ]
    assert kent.diff_bodies(body, body)["changed"] == []


def test_a_body_too_deep_to_draw_is_shown_as_text(kent_log):
    # Python 3.12+ parses JSON deeper than a page can recurse: fake one here.
    deep = []
    for _ in range(3000):
        deep = [deep]
    item = kent.ParsedItem("event", {}, {"type": "event"}, b"[" * 3000 + b"]" * 3000)
    item.body = deep
    with kent.KentServer() as server:
        [event] = server.store.add([kent.StoredEvent(1, item)])
        page = http_request(server.url, "GET", f"/event/{event.id}")
        status, value = get_json(server.url, f"/api/event/{event.id}")
    assert page[0] == 200 and b"[[[[[[[[" in page[2]  # the raw text is there
    assert status == 200 and value["payload"]["body_encoding"] == "text"
    assert value["payload"]["body"].startswith("[[[[")
