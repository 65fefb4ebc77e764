"""The pure functions: decoding, envelope framing, store bodies, summaries."""

import base64
import gzip
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from helpers import (
    AUTH_HEADER,
    DATA,
    EVENT_ID,
    NO_BROTLI,
    ROOT,
    envelope,
    event_item,
    js_envelope,
    require_module,
    require_tool,
)

import kent

CASES = sorted(p.stem for p in DATA.glob("*.envelope"))
BROTLI_HINT = "tests/requirements.txt installs brotli"


def codes(warnings):
    return [w["code"] for w in warnings]


# -- envelope framing: data-driven cases from tests/data/ -------------------------


def _check_item(item, expected):
    assert item.type == expected["type"]
    assert item.error is None
    if "raw_size" in expected:
        assert len(item.raw) == expected["raw_size"]
    if "body" in expected:
        assert item.body == expected["body"]
    if "raw_text" in expected:
        assert item.raw == expected["raw_text"].encode()
        assert item.binary
    if "raw_b64" in expected:
        assert item.raw == base64.b64decode(expected["raw_b64"])
        assert item.binary


@pytest.mark.parametrize("name", CASES)
def test_envelope_data_files(name):
    data = (DATA / f"{name}.envelope").read_bytes()
    expected = json.loads((DATA / f"{name}.json").read_text())
    header, items, warnings = kent.parse_envelope(data)
    assert header == expected["envelope_header"]
    assert codes(warnings) == expected["warnings"]
    assert len(items) == len(expected["items"])
    for item, want in zip(items, expected["items"], strict=True):
        _check_item(item, want)
        assert item.warnings == []


def test_python_and_js_styles_give_the_same_items():
    body = {"message": "same", "extra": {"n": [1, 2]}}
    py = kent.parse_envelope(envelope(event_item(body)))
    js = kent.parse_envelope(js_envelope(event_item(body)))
    assert [i.body for i in py[1]] == [i.body for i in js[1]] == [body]
    assert py[2] == js[2] == []


def test_binary_attachment_with_crlf_inside_keeps_exact_bytes():
    payload = b"a\r\nb\nc\r\n\x00\xff"
    att = ({"type": "attachment", "filename": "x.bin"}, payload)
    _, [ev, item], warnings = kent.parse_envelope(js_envelope(event_item(), att))
    assert ev.body == {"message": "hi", "level": "error"}
    assert item.raw == payload and item.binary and item.body == payload
    assert warnings == []


def test_implicit_length_keeps_carriage_return_in_payload():
    data = b'{}\n{"type":"statsd"}\nfoo:1|c\r\n'
    _, [item], _ = kent.parse_envelope(data)
    assert item.raw == b"foo:1|c\r"


def test_unknown_item_type_is_kept_as_is():
    data = envelope(({"type": "brand_new", "x": 1}, b"\x00binary\n"))
    _, [item], _ = kent.parse_envelope(data)
    assert item.type == "brand_new"
    assert item.header == {"type": "brand_new", "x": 1, "length": 8}
    assert item.raw == b"\x00binary\n" and item.binary and item.error is None


def test_empty_envelope_is_valid():
    for data in (b"{}", b"{}\n"):
        assert kent.parse_envelope(data) == ({}, [], [])


def test_crlf_after_envelope_header_is_accepted_with_warning():
    data = b'{"event_id":"%s"}\r\n{"type":"event","length":2}\n{}\n' % EVENT_ID.encode()
    header, [item], warnings = kent.parse_envelope(data)
    assert header == {"event_id": EVENT_ID}
    assert item.body == {}
    assert codes(warnings) == ["crlf"]
    assert warnings[0]["relay_status"] == 400


def test_crlf_after_item_header_warns_on_the_item():
    data = b'{}\n{"type":"event","length":2}\r\n{}\n'
    _, [item], warnings = kent.parse_envelope(data)
    assert item.body == {}
    assert codes(item.warnings) == ["crlf"]


def test_extra_trailing_newlines_warn():
    _, [item], warnings = kent.parse_envelope(envelope(event_item()) + b"\n")
    assert item.body == {"message": "hi", "level": "error"}
    assert codes(warnings) == ["trailing-newlines"]


def test_attachment_ending_in_newline_is_not_a_trailing_newline():
    """A payload ``...\\n`` plus the terminator is valid (Relay accepts it)."""
    data = envelope(({"type": "attachment"}, b"line\n"))
    _, [item], warnings = kent.parse_envelope(data)
    assert item.raw == b"line\n"
    assert warnings == []


def test_length_past_the_end_says_where_and_keeps_earlier_items():
    data = envelope(event_item()) + b'{"type":"attachment","length":30}\nhello'
    with pytest.raises(kent.EnvelopeError) as info:
        kent.parse_envelope(data)
    message = str(info.value)
    assert "declared length 30" in message and "5 bytes remain" in message
    assert f"byte {len(data) - 5}" in message
    assert [i.body for i in info.value.partial] == [{"message": "hi", "level": "error"}]
    assert info.value.status == 400


def test_length_not_ending_at_newline_is_an_error():
    data = b'{}\n{"type":"attachment","length":3}\nhello\n'
    with pytest.raises(kent.EnvelopeError) as info:
        kent.parse_envelope(data)
    assert "declared length 3" in str(info.value)
    assert "not a newline" in str(info.value)
    assert info.value.partial == []


def test_json_item_with_wrong_length_is_read_as_its_line_with_warning():
    data = b'{}\n{"type":"event","length":3}\n{"message":"x"}\n'
    _, [item], _ = kent.parse_envelope(data)
    assert item.body == {"message": "x"}
    assert codes(item.warnings) == ["length-mismatch"]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"not json\n", "envelope header at byte 0"),
        (b"[1,2]\n", "envelope header at byte 0"),
        (b'{}\n{"type":\n{}', "item 1 header at byte 3"),
    ],
)
def test_bad_json_header_is_an_envelope_error(data, where):
    with pytest.raises(kent.EnvelopeError) as info:
        kent.parse_envelope(data)
    assert where in str(info.value)


def test_empty_body_is_bad_request():
    with pytest.raises(kent.BadRequest, match="empty request body"):
        kent.parse_envelope(b"")


def test_invalid_json_in_event_item_sets_item_error():
    data = envelope(({"type": "event"}, b'{"message": oops}'), event_item())
    _, [bad, good], _ = kent.parse_envelope(data)
    assert "item 1 (event): invalid JSON" in bad.error
    assert bad.raw == b'{"message": oops}' and bad.binary
    assert good.error is None and good.body["message"] == "hi"
    at = int(re.search(r"at byte (\d+) of the envelope", bad.error).group(1))
    assert data[at:].startswith(b"oops")  # where it went wrong, in bytes
    assert "(line 1 column 13 of the payload)" in bad.error


def test_invalid_json_offset_counts_bytes_not_characters():
    data = b'{}\n{"type":"event"}\n{"m":"\xc3\xa9\xe2\x82\xac",oops}\n'
    [bad] = kent.parse_envelope(data)[1]
    at = int(re.search(r"at byte (\d+) of the envelope", bad.error).group(1))
    assert data[at:].startswith(b"oops")


def test_empty_json_item_says_it_is_empty():
    data = b'{}\n{"type":"event","length":0}\n\n'
    [bad] = kent.parse_envelope(data)[1]
    assert bad.error == "item 1 (event): empty payload where JSON was expected"


def test_missing_item_type_warns():
    _, [item], _ = kent.parse_envelope(b'{}\n{"length":2}\n{}\n')
    assert item.type == "unknown"
    assert codes(item.warnings) == ["missing-type"]


def test_replay_recording_garbage_sets_error():
    rec = b'{"segment_id":0}\nnot zlib at all'
    _, [item], _ = kent.parse_envelope(envelope(({"type": "replay_recording"}, rec)))
    assert "replay_recording" in item.error and item.raw == rec


# -- decode_body -----------------------------------------------------------------

BODY = b'{"message":"decoded"}' * 50


def _raw_deflate(data):
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("identity", lambda d: d),
        ("", lambda d: d),
        (None, lambda d: d),
        ("utf-8", lambda d: d),
        ("gzip, deflate", lambda d: zlib.compress(gzip.compress(d))),
    ],
)
def test_decode_body(encoding, encode):
    assert kent.decode_body(encode(BODY), encoding, 10**6) == BODY


def test_decode_brotli():
    brotli = require_module("brotli", BROTLI_HINT)
    assert kent.decode_body(brotli.compress(BODY), "br", 10**6) == BODY


BR_WITHOUT_BROTLI = """
import http.client, json, sys
import kent

out = {"brotli": repr(kent._brotli), "encodings": kent.supported_encodings()}
try:
    kent.decode_body(b"\\x0b\\x02\\x80hello\\x03", "br", 1000)
except kent.UnsupportedEncoding as exc:
    out["raised"] = [type(exc).__name__, exc.status, exc.message]
with kent.KentServer() as server:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    headers = {"Content-Encoding": "br", "X-Sentry-Auth": sys.argv[1]}
    connection.request("POST", "/api/1/envelope/", b"brotli bytes", headers)
    answer = connection.getresponse()
    out["answered"] = [answer.status, json.loads(answer.read())]
    connection.close()
print(json.dumps(out))
"""


def test_brotli_without_a_module_is_415_and_says_how_to_fix():
    """sentry-python sends "br" whenever it can import brotli; Kent may not."""
    require_tool(str(Path(NO_BROTLI) / "brotli.py"), "bash tests/install.sh creates it")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([NO_BROTLI, str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", BR_WITHOUT_BROTLI, AUTH_HEADER],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["brotli"] == "None", "brotli (or brotlicffi) was not hidden"
    assert "br" not in out["encodings"] and "gzip" in out["encodings"]
    name, status, message = out["raised"]
    assert (name, status) == ("UnsupportedEncoding", 415)
    assert message.startswith("Content-Encoding 'br' needs a brotli module")
    for fix in ("pip install brotli", "kent[brotli]", "make the SDK use gzip"):
        assert fix in message
    assert '"transport_compression_algo": "gzip"' in message
    assert out["answered"] == [415, {"error": message, "detail": message}]


def test_decode_multi_member_gzip():
    data = gzip.compress(b"first,") + gzip.compress(b"second")
    assert kent.decode_body(data, "gzip", 1000) == b"first,second"


def test_unknown_encoding_is_415_with_help():
    with pytest.raises(kent.UnsupportedEncoding) as info:
        kent.decode_body(b"xx", "compress", 1000)
    assert info.value.status == 415
    assert "'compress'" in info.value.message and "gzip" in info.value.message


@pytest.mark.parametrize(
    ("encoding", "data", "words"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage-garbage", "corrupt"),
        ("gzip", gzip.compress(BODY)[:40], "truncated"),
        ("deflate", b"\x00\x01\x02garbage", "corrupt"),
    ],
)
def test_bad_compressed_data_is_400(encoding, data, words):
    with pytest.raises(kent.BadRequest) as info:
        kent.decode_body(data, encoding, 10**6)
    assert info.value.status == 400
    assert words in info.value.message


def test_corrupt_brotli_is_400():
    require_module("brotli", BROTLI_HINT)
    with pytest.raises(kent.BadRequest) as info:
        kent.decode_body(b"\xff\xff\xff not brotli", "br", 1000)
    assert info.value.status == 400


def test_gzip_bomb_is_payload_too_large():
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(zeros) for _ in range(200)) + compressor.flush()
    assert len(bomb) < 1 << 20
    with pytest.raises(kent.PayloadTooLarge) as info:
        kent.decode_body(bomb, "gzip", 10 * 1024 * 1024)
    assert info.value.status == 413
    assert str(10 * 1024 * 1024) in info.value.message


def test_identity_body_over_limit_is_payload_too_large():
    with pytest.raises(kent.PayloadTooLarge):
        kent.decode_body(b"x" * 101, "", 100)


# -- legacy store bodies and security reports -----------------------------------

STORE_EVENT = {"event_id": EVENT_ID, "message": "legacy", "level": "error"}
STORE_JSON = json.dumps(STORE_EVENT).encode()


@pytest.mark.parametrize(
    "data",
    [
        STORE_JSON,
        b"  \n" + STORE_JSON,
        zlib.compress(STORE_JSON),
        base64.b64encode(STORE_JSON),
        base64.b64encode(zlib.compress(STORE_JSON)),
    ],
    ids=["json", "json-leading-space", "zlib", "base64", "base64-zlib"],
)
def test_store_body_encodings(data):
    item = kent.parse_store_body(data)
    assert item.type == "event"
    assert item.body == STORE_EVENT


@pytest.mark.parametrize(
    ("kind", "item_type"),
    [("transaction", "transaction"), ("csp", "security"), ("feedback", "feedback")],
)
def test_store_body_type_picks_item_type(kind, item_type):
    item = kent.parse_store_body(json.dumps({"type": kind}).encode())
    assert item.type == item_type


@pytest.mark.parametrize("data", [b"", b"{not json", b"[1,2]", b"\x00\x01"])
def test_bad_store_body_is_bad_request(data):
    with pytest.raises(kent.BadRequest):
        kent.parse_store_body(data)


CSP_REPORT = {
    "csp-report": {
        "document-uri": "https://example.com/",
        "effective-directive": "script-src",
        "blocked-uri": "https://evil.example/x.js",
    }
}
REPORTING_API = [
    {
        "type": "csp-violation",
        "url": "https://example.com/a",
        "body": {"effectiveDirective": "img-src", "blockedURL": "https://i.example/1"},
    },
    {
        "type": "csp-violation",
        "url": "https://example.com/b",
        "body": {"effectiveDirective": "font-src", "blockedURL": "https://f.example/2"},
    },
]


def test_csp_report_object_is_one_item():
    data = json.dumps(CSP_REPORT).encode()
    [item] = kent.parse_security_reports(data, "application/csp-report")
    assert item.type == "security" and item.body == CSP_REPORT
    assert item.raw == data and item.warnings == []


def test_reporting_api_list_gives_an_item_per_report():
    data = json.dumps(REPORTING_API).encode()
    items = kent.parse_security_reports(data, "application/reports+json")
    assert [i.body for i in items] == REPORTING_API
    assert [json.loads(i.raw) for i in items] == REPORTING_API
    summaries = [kent.summarize(i.type, i.body, i.header) for i in items]
    assert "img-src" in summaries[0] and "font-src" in summaries[1]


def test_security_report_with_odd_content_type_warns():
    data = json.dumps(CSP_REPORT).encode()
    [item] = kent.parse_security_reports(data, "text/plain")
    assert codes(item.warnings) == ["content-type"]


@pytest.mark.parametrize("data", [b"", b"nope", b"[1]", b'"text"'])
def test_bad_security_report_is_bad_request(data):
    with pytest.raises(kent.BadRequest):
        kent.parse_security_reports(data, "application/json")


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2026-11-27T05:00:00.123456789Z", "2026-11-27T05:00:00.123456+00:00"),  # Go
        ("2026-11-27T05:00:00.12345Z", "2026-11-27T05:00:00.123450+00:00"),
        ("2026-11-27T05:00:00.123Z", "2026-11-27T05:00:00.123000+00:00"),  # JS
        ("2026-11-27T05:00:00+01:00", "2026-11-27T05:00:00+01:00"),
        ("2026-11-27T05:00:00", "2026-11-27T05:00:00+00:00"),  # no zone: UTC
    ],
)
def test_rfc3339_times_with_any_fraction_on_every_python(text, iso):
    assert kent.parse_rfc3339(text).isoformat() == iso


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_what_is_not_an_rfc3339_time_is_a_value_error(text):
    with pytest.raises(ValueError):
        kent.parse_rfc3339(text)


# -- summarize --------------------------------------------------------------------

SUMMARY_CASES = [
    ("event", {"exception": {"values": [{"type": "ValueError"}]}}, "ValueError"),
    ("event", {"exception": {"values": [{"value": "just a value"}]}}, "just a value"),
    (
        "event",
        {
            "exception": {
                "values": [
                    {"type": "KeyError", "value": "'cause'"},
                    {"type": "RuntimeError", "value": "raised"},
                ]
            }
        },
        "RuntimeError: raised",
    ),
    ("event", {"message": "plain message"}, "plain message"),
    ("event", {"logentry": {"message": "fmt %s", "formatted": "fmt x"}}, "fmt x"),
    ("event", {"logentry": {"message": "only template %s"}}, "only template"),
    ("event", {"message": {"formatted": "dict message"}}, "dict message"),
    (
        "transaction",
        {
            "transaction": "/checkout",
            "contexts": {"trace": {"op": "http.server"}},
            "spans": [{}, {}],
            "start_timestamp": 1.0,
            "timestamp": 1.25,
        },
        "transaction /checkout op=http.server 2 spans 250.0 ms",
    ),
    ("session", {"status": "ok", "errors": 2, "attrs": {"release": "r1"}}, "r1"),
    (
        "sessions",
        {"aggregates": [{"started": "x", "exited": 3, "errored": 1}]},
        "exited=3",
    ),
    (
        "check_in",
        {"monitor_slug": "nightly", "status": "ok", "duration": 1.5},
        "nightly",
    ),
    (
        "log",
        {"items": [{"body": "hello log"}, {"body": "two"}]},
        "2 log records: hello log",
    ),
    ("span", {"items": [{"name": "db.query"}]}, "1 span: db.query"),
    ("span", {"op": "db", "description": "SELECT 1"}, "SELECT 1"),
    (
        "client_report",
        {"discarded_events": [{"reason": "queue", "category": "error", "quantity": 4}]},
        "4 error (queue)",
    ),
    ("replay_event", {"replay_id": "abc", "segment_id": 3}, "replay abc segment 3"),
    (
        "replay_recording",
        {"segment": {"segment_id": 1}, "compressed": True, "events": [{}, {}]},
        "segment 1: 2 rrweb events",
    ),
    ("profile", {"platform": "python", "profile": {"samples": [1, 2, 3]}}, "3 samples"),
    ("feedback", {"contexts": {"feedback": {"message": "nice app"}}}, "nice app"),
    ("user_report", {"comments": "it broke", "email": "a@b.c"}, "it broke"),
    ("security", CSP_REPORT, "script-src blocked https://evil.example/x.js"),
    ("security", REPORTING_API[0], "img-src blocked https://i.example/1"),
    (
        "nel",
        {"url": "https://x/", "body": {"type": "http.error", "status_code": 500}},
        "NEL http.error",
    ),
    ("statsd", "foo:1|c", "statsd: foo:1|c"),
    ("brand_new", {"a": 1}, "brand_new item, JSON object with 1 keys: a"),
    ("brand_new", [1, 2], "brand_new item, JSON list of 2"),
    ("brand_new", b"\x00\x01", "2 bytes"),
    # what the payload leaves out is said so, never "None" or "?"
    ("session", {"status": "ok", "errors": 0}, "session ok, 0 errors"),
    ("session", {}, "session (no status), 0 errors"),
    ("check_in", {}, "check-in (no monitor_slug): (no status)"),
    ("security", {"csp-report": {}}, "csp-report: (no directive) blocked (no URL)"),
    (
        "security",
        {"expect-ct-report": {"hostname": "shop.example"}},
        "expect-ct-report: shop.example",
    ),
    ("security", {"expect-staple-report": {}}, "expect-staple-report: (no hostname)"),
    ("security", {"known-pins": [], "hostname": "h.example"}, "hpkp: h.example"),
    ("replay_event", {}, "replay (no replay_id) segment (no segment_id)"),
]


@pytest.mark.parametrize(("item_type", "body", "expected"), SUMMARY_CASES)
def test_summarize(item_type, body, expected):
    summary = kent.summarize(item_type, body, {})
    assert expected in summary
    assert "no summary" not in summary
    assert "None" not in summary and "?" not in summary


def test_summarize_attachment_uses_header():
    header = {"filename": "log.txt", "content_type": "text/plain"}
    summary = kent.summarize("attachment", b"12345", header)
    assert summary == "attachment log.txt (5 bytes, text/plain)"


def test_summarize_prefers_item_error():
    assert kent.summarize("event", b"{", {}, error="item 1: bad") == "item 1: bad"


def test_summary_is_one_bounded_line():
    summary = kent.summarize("event", {"message": "a\nb " + "x" * 1000}, {})
    assert "\n" not in summary and len(summary) <= 200


ODD_BODIES = [
    None,
    0,
    3.5,
    True,
    "text",
    b"",
    b"\xff",
    [],
    [1, [2]],
    {},
    {"exception": None},
    {"exception": []},
    {"exception": [None, 1]},
    {"exception": {"values": "nope"}},
    {"exception": {"values": [None]}},
    {"exception": {"values": [{"type": ["x"], "value": {"a": 1}}]}},
    {"logentry": [1]},
    {"message": 5},
    {"message": {"formatted": None}},
    {"items": "x"},
    {"items": [None, 3]},
    {"aggregates": {"x": 1}},
    {"aggregates": [None, {"exited": "many"}]},
    {"discarded_events": "x"},
    {"discarded_events": [None, 1]},
    {"contexts": []},
    {"contexts": {"trace": "x", "feedback": 3}},
    {"csp-report": []},
    {"type": "csp-violation", "body": None},
    {"segment": None, "events": None},
    {"spans": {"a": 1}, "start_timestamp": "x", "timestamp": None},
    {"duration": "long", "status": []},
    {"body": [1], "url": None},
    {"profile": {"samples": None}},
]
ALL_TYPES = sorted(set(kent.SUMMARIZERS) | {"unknown", "kent_error", "brand_new"})


@pytest.mark.parametrize("item_type", ALL_TYPES)
def test_summarize_never_raises_on_odd_shapes(item_type):
    for body in ODD_BODIES:
        for header in ({}, None, {"filename": None, "length": "x"}):
            summary = kent.summarize(item_type, body, header)
            assert isinstance(summary, str) and summary.strip(), (item_type, body)
            assert "no summary" not in summary
            assert "cannot summarize" not in summary, (item_type, body, summary)


# -- zstd: Python 3.14's compression.zstd, else the zstandard package


def _zstd_compress(data):
    if kent._zstd is None:
        pytest.fail("no zstd module: tests/requirements.txt installs zstandard")
    compressor = kent._zstd.ZstdCompressor()
    stream = getattr(compressor, "compressobj", lambda: compressor)()
    return stream.compress(data) + stream.flush()


def test_zstd_body_is_decoded():
    body = b'{"event_id":"' + b"a" * 32 + b'"}\n' * 50
    assert kent.decode_body(_zstd_compress(body), "zstd") == body
    assert "zstd" in kent.supported_encodings()


def test_corrupt_zstd_is_400():
    with pytest.raises(kent.BadRequest, match="zstd data is corrupt"):
        kent.decode_body(b"\x28\xb5\x2f\xfd" + b"\xff" * 40, "zstd")


def test_truncated_zstd_is_400():
    data = _zstd_compress(bytes(range(256)) * 400)
    with pytest.raises(kent.BadRequest, match="zstd data is truncated"):
        kent.decode_body(data[: len(data) // 2], "zstd")


def test_zstd_over_the_limit_is_413():
    with pytest.raises(kent.PayloadTooLarge):
        kent.decode_body(_zstd_compress(bytes(2_000_000)), "zstd", limit=1_000_000)


def test_zstd_without_a_module_is_415_and_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(kent, "_zstd", None)
    with pytest.raises(kent.UnsupportedEncoding, match="zstandard"):
        kent.decode_body(b"\x28\xb5\x2f\xfd", "zstd")


def test_streamed_spans_are_named_by_their_root_span():
    spans = [
        {"span_id": "b", "parent_span_id": "a", "name": "redis GET stock:B7"},
        {"span_id": "a", "parent_span_id": "remote", "name": "GET /api/inventory"},
    ]
    assert kent.summarize("span", {"items": spans}) == "2 spans: GET /api/inventory"


def test_transaction_summary_has_the_duration_of_iso_timestamps():
    body = {"transaction": "checkout", "start_timestamp": "2026-01-01T00:00:00Z"}
    body["timestamp"] = "2026-01-01T00:00:00.250000Z"  # as sentry-python sends
    assert kent.summarize("transaction", body) == "transaction checkout 250.0 ms"
