"""Generated input (Hypothesis) for the parsers, the debugging functions and the
server, and the inputs it found, pinned.

Pure functions get any bytes and must return a value or raise a ``KentError``;
the leak scanner, search and diff take any JSON; the server gets any body and
must answer 2xx or 4xx, never 5xx, and every view of any stored item must
answer. Seeds are real SDK payloads: the files in tests/data/ and envelopes
sentry-python sends to a Kent at first use. Runs are derandomized and bounded;
KENT_LONG_TESTS=1 runs ten times as many examples. Hand-written hostile input
is in test_hostile_input.py.
"""

import contextlib
import functools
import gzip
import json
import logging
import re
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import pytest
from helpers import (
    AUTH_HEADER,
    CI,
    DATA,
    LONG_TESTS,
    assert_still_serving,
    envelope,
    get_json,
    http_request,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

import kent

# Hypothesis imports libcst (when installed) to print a patch for a failing
# example; libcst 1.0 warns on import, which filterwarnings=error turns into an
# INTERNALERROR that stops the whole run. Import it once here, quietly.
with contextlib.suppress(ImportError), warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401


def bounded(examples):
    """Derandomized, no deadline, no example database left in the repo."""
    return settings(
        max_examples=examples * (10 if LONG_TESTS else 1),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- seeds: real SDK payloads ------------------------------------------------------------

SDK_SCRIPT = textwrap.dedent(
    """
    import sys
    import sentry_sdk
    import sentry_sdk.logger

    sentry_sdk.init(dsn=sys.argv[1], traces_sample_rate=1.0, enable_logs=True,
                    release="fuzz@1.0", default_integrations=False)
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"line one\\nline two\\x00\\xff", filename="a.bin")
        try:
            1 / 0
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
    sentry_sdk.capture_message("hello from the fuzz seeds")
    with sentry_sdk.start_transaction(name="fuzz-tx", op="task"):
        with sentry_sdk.start_span(op="db", name="select 1"):
            pass
    sentry_sdk.logger.info("a log line {what}", what="with args")
    sentry_sdk.flush(5)
    """
)


def _rebuild_envelope(events):
    """Envelope bytes from the items Kent stored for one request."""
    lines = [kent.to_json(events[0].envelope_header or {})]
    for event in events:
        lines += [kent.to_json(event.header), event.raw]
    return b"\n".join(lines) + b"\n"


def _capture_sentry_python():
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        if CI:
            raise
        return []
    with kent.KentServer() as server:
        subprocess.run(
            [sys.executable, "-c", SDK_SCRIPT, server.dsn(1)],
            check=True,
            timeout=60,
            capture_output=True,
        )
        server.wait_for(4, timeout=10)
        stored = server.events()
    by_request = {}
    for event in stored:
        by_request.setdefault(event.request_id, []).append(event)
    return [_rebuild_envelope(events) for events in by_request.values()]


@functools.cache
def real_envelopes():
    files = sorted(DATA.glob("*.envelope"))
    return tuple([p.read_bytes() for p in files] + _capture_sentry_python())


def _mutate(data, edits):
    """Apply (position, action, byte) edits: replace, insert or delete."""
    data = bytearray(data)
    for position, action, byte in edits:
        if not data:
            break
        i = position % len(data)
        if action == 0:
            data[i] = byte
        elif action == 1:
            data.insert(i, byte)
        else:
            del data[i]
    return bytes(data)


edits = st.lists(
    st.tuples(st.integers(0, 1 << 20), st.integers(0, 2), st.integers(0, 255)),
    max_size=8,
)
seeds = st.deferred(lambda: st.sampled_from(real_envelopes()))
mutated_seeds = st.builds(_mutate, seeds, edits)
truncated_seeds = st.builds(lambda d, n: d[: n % (len(d) + 1)], seeds, st.integers())
any_body = st.one_of(
    st.binary(max_size=2000),
    mutated_seeds,
    truncated_seeds,
    st.builds(
        lambda d, n: d[:n] + b"\n" + d[n:], st.binary(max_size=200), st.integers(0, 200)
    ),
)


# -- generated valid envelopes round-trip ---------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    # a lone surrogate: a valid JSON escape that UTF-8 cannot hold (one per
    # string: JSON reads a high and a low one side by side as one character)
    st.builds("x{}y".format, st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
ITEM_TYPES = sorted(kent.JSON_ITEM_TYPES) + [
    "attachment",
    "replay_recording",
    "statsd",
    "unknown_future_type",
    "x",
]
item_types = st.one_of(st.sampled_from(ITEM_TYPES), st.text(min_size=1, max_size=12))
extra_headers = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in ("type", "length")),
    json_values,
    max_size=3,
)


@st.composite
def items(draw):
    """(header, payload): with ``length`` any bytes, without it no newline."""
    header = dict(draw(extra_headers), type=draw(item_types))
    with_length = draw(st.booleans())
    if with_length:
        payload = draw(st.binary(max_size=300))
        header["length"] = len(payload)
    else:
        payload = draw(st.binary(max_size=300).map(lambda b: b.replace(b"\n", b"")))
    return header, payload


@st.composite
def envelopes(draw):
    header = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    pairs = draw(st.lists(items(), max_size=5))
    lines = [kent.to_json(header)]
    for item_header, payload in pairs:
        lines += [kent.to_json(item_header), payload]
    data = b"\n".join(lines)
    if draw(st.booleans()):
        data += b"\n"
    return data, header, pairs


@bounded(300)
@given(envelopes())
def test_valid_envelopes_round_trip(generated):
    data, header, pairs = generated
    envelope_header, parsed, _ = kent.parse_envelope(data)
    assert envelope_header == header
    assert [(i.header, i.raw) for i in parsed] == pairs
    assert [i.type for i in parsed] == [h["type"] for h, _ in pairs]


# -- any bytes: a value or a KentError --------------------------------------------------------


def value_or_kent_error(function, *args):
    try:
        return function(*args)
    except kent.KentError as exc:
        assert exc.status in (400, 413, 415), exc.status
        return exc


@bounded(300)
@given(any_body)
def test_parse_envelope_gives_items_or_a_kent_error(data):
    result = value_or_kent_error(kent.parse_envelope, data)
    if not isinstance(result, kent.KentError):
        header, parsed, warnings = result
        assert isinstance(header, dict) and isinstance(warnings, list)
        for item in parsed:
            assert isinstance(item.raw, bytes) and item.raw in data
            kent.summarize(item.type, item.body, item.header, item.error)


ENCODINGS = [
    "",
    "identity",
    "gzip",
    "x-gzip",
    "deflate",
    "br",
    "zstd",
    "gzip, deflate",
    "br, gzip",
    "compress",
    " GZIP ",
    ",,,",
]


def _compress(data, how):
    if how == "gzip":
        return gzip.compress(data)
    if how == "zlib":
        return zlib.compress(data)
    if how == "raw":
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush()
    if how == "br" and kent._brotli is not None:
        return kent._brotli.compress(data)
    return data


compressed_bodies = st.one_of(
    st.binary(max_size=500),
    st.builds(
        lambda d, how, cut: _compress(d, how)[: cut or None],
        st.binary(max_size=2000),
        st.sampled_from(["gzip", "zlib", "raw", "br"]),
        st.integers(-20, 0),
    ),
)


@bounded(400)
@given(
    compressed_bodies,
    st.one_of(st.sampled_from(ENCODINGS), st.text(max_size=20)),
    st.integers(0, 5000),
)
def test_decode_body_gives_bytes_within_the_limit_or_a_kent_error(
    data, encoding, limit
):
    result = value_or_kent_error(kent.decode_body, data, encoding, limit)
    if not isinstance(result, kent.KentError):
        assert isinstance(result, bytes) and len(result) <= limit


@bounded(200)
@given(st.binary(max_size=3000), st.sampled_from(["gzip", "zlib", "raw", "br"]))
def test_decode_body_undoes_every_encoding(data, how):
    if how == "br" and kent._brotli is None:
        pytest.skip("brotli is not importable")
    encoding = {"gzip": "gzip", "zlib": "deflate", "raw": "deflate", "br": "br"}[how]
    assert kent.decode_body(_compress(data, how), encoding, len(data)) == data


store_bodies = st.one_of(
    any_body,
    st.builds(lambda v: json.dumps(v).encode(), json_values),
    st.builds(lambda d: zlib.compress(d), any_body),
    st.builds(lambda d: __import__("base64").b64encode(zlib.compress(d)), st.binary()),
)


@bounded(300)
@given(store_bodies)
def test_parse_store_body_gives_an_item_or_a_kent_error(data):
    result = value_or_kent_error(kent.parse_store_body, data)
    if not isinstance(result, kent.KentError):
        assert isinstance(result.body, dict)


content_types = st.one_of(
    st.sampled_from(sorted(kent.SECURITY_CONTENT_TYPES) + ["", "text/plain"]),
    st.text(max_size=30),
)


@bounded(300)
@given(
    st.one_of(any_body, st.builds(lambda v: json.dumps(v).encode(), json_values)),
    content_types,
)
def test_parse_security_reports_gives_items_or_a_kent_error(data, content_type):
    result = value_or_kent_error(kent.parse_security_reports, data, content_type)
    if not isinstance(result, kent.KentError):
        assert all(isinstance(item.body, dict) for item in result)


# Header values reach Kent decoded as latin-1, so that is what is generated here.
latin1_text = st.text(st.characters(max_codepoint=255), max_size=40)
boundaries = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='";'),
    min_size=1,
    max_size=20,
)
part_fields = st.tuples(
    st.text("abcdefghij_[]-0123456789", min_size=1, max_size=12),
    st.one_of(st.none(), st.text("abcdef.-_", min_size=1, max_size=10)),
    st.binary(max_size=200),
)


def build_multipart(boundary, parts):
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


@bounded(300)
@given(boundaries, st.lists(part_fields, min_size=1, max_size=4))
def test_multipart_round_trips(boundary, parts):
    delimiter = f"--{boundary}".encode()
    if any(delimiter in data or delimiter in b"\r\n" + data for _, _, data in parts):
        return  # a part holding the delimiter cannot be framed
    data = build_multipart(boundary, parts)
    parsed = kent.parse_multipart(data, f"multipart/form-data; boundary={boundary}")
    assert [(p.name, p.filename, p.data) for p in parsed] == parts


@bounded(300)
@given(
    st.one_of(
        any_body,
        st.builds(build_multipart, boundaries, st.lists(part_fields, max_size=4)),
    ),
    st.one_of(
        st.builds(lambda b: f"multipart/form-data; boundary={b}", boundaries),
        latin1_text,
    ),
)
def test_parse_multipart_and_crash_upload_give_a_value_or_a_kent_error(
    data, content_type
):
    parts = value_or_kent_error(kent.parse_multipart, data, content_type)
    if not isinstance(parts, kent.KentError):
        value_or_kent_error(kent.parse_crash_upload, parts)


# -- summaries never raise ---------------------------------------------------------------------

SUMMARY_KEYS = [
    "exception",
    "values",
    "type",
    "value",
    "message",
    "logentry",
    "formatted",
    "transaction",
    "contexts",
    "trace",
    "op",
    "spans",
    "start_timestamp",
    "timestamp",
    "status",
    "attrs",
    "release",
    "errors",
    "aggregates",
    "monitor_slug",
    "duration",
    "items",
    "body",
    "name",
    "description",
    "discarded_events",
    "rate_limited_events",
    "quantity",
    "category",
    "reason",
    "csp-report",
    "effective-directive",
    "blocked-uri",
    "effectiveDirective",
    "blockedURL",
    "known-pins",
    "hostname",
    "segment",
    "events",
    "segment_id",
    "replay_id",
    "platform",
    "profile",
    "samples",
    "profiler_id",
    "feedback",
    "comments",
    "email",
    "resourceSpans",
    "scopeSpans",
    "resourceLogs",
    "scopeLogs",
    "logRecords",
    "stringValue",
    "url",
    "status_code",
    "level",
]
summary_scalars = st.one_of(
    json_scalars,
    st.floats(),  # NaN and Infinity: json.loads accepts them
    st.integers(min_value=10**300, max_value=10**400),  # past float range
    st.integers(min_value=-(10**400), max_value=-(10**300)),
)
summary_values = st.recursive(
    summary_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(SUMMARY_KEYS), st.text(max_size=4)),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)
summary_types = st.one_of(
    st.sampled_from(sorted(kent.SUMMARIZERS)), st.text(max_size=8)
)
summary_headers = st.dictionaries(
    st.sampled_from(["type", "filename", "length", "content_type", "attachment_type"])
    | st.text(max_size=4),
    summary_scalars,
    max_size=3,
)


@bounded(1000)
@given(summary_types, st.one_of(summary_values, st.binary()), summary_headers)
def test_summarize_never_raises(item_type, body, header):
    summary = kent.summarize(item_type, body, header)
    assert isinstance(summary, str) and summary


# -- the leak scanner, search and diff on any JSON ------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(body=JSON_VALUES, other=JSON_VALUES)
def test_any_json_body_is_handled_without_errors(body, other):
    secret = "Zq9-secret-canary-Zq9"
    planted = {"extra": {"password": secret, "data": body}}
    raw = json.dumps(planted).encode()
    findings = kent.scan_leaks("event", planted, raw, [secret])
    assert {
        "pointer": "/extra/password",
        "kind": "canary",
        "excerpt": "Zq***q9",
    } in findings
    assert all(secret not in f["excerpt"] for f in findings)
    assert "/extra/password" in kent.search_item(planted, raw, False, secret.upper())
    assert kent.diff_bodies(body, body) == {
        "added": [],
        "removed": [],
        "changed": [],
        "meta": [],
    }
    diff = kent.diff_bodies(body, other)
    assert (diff["added"] or diff["removed"] or diff["changed"]) or body == other
    json.dumps(findings)
    json.dumps(diff)


# -- the same over HTTP: 2xx or 4xx, never 5xx ---------------------------------------------------

ENDPOINTS = [
    "/api/1/envelope/",
    "/api/1/store/",
    "/api/1/security/",
    "/api/1/minidump/",
    "/api/1/nel/",
    "/api/1/otlp/v1/traces",
    "/api/1/events/9ec79c33ec9942ab8353589fcb2e04dc/attachments/",
    "/api/1/cron/fuzz/?status=ok",
    "/api/1/unreal/key/",
    "/tunnel/",
]
HTTP_CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-sentry-envelope",
    "application/x-protobuf",
    "application/octet-stream",
    "multipart/form-data; boundary=xyz",
    "text/plain",
]


@pytest.fixture(scope="module")
def fuzz_server():
    with kent.KentServer(max_events=50, request_timeout=10) as server:
        yield server


def post_any(server, path, data, content_type, encoding):
    headers = {"X-Sentry-Auth": AUTH_HEADER}
    if content_type:
        headers["Content-Type"] = content_type
    if encoding:
        headers["Content-Encoding"] = encoding
    status, _, body = http_request(server.url, "POST", path, data, headers, 30)
    return status, body


http_bodies = st.one_of(
    seeds,
    st.builds(_mutate, seeds, st.lists(st.just((0, 0, 0)), max_size=0)),
    mutated_seeds,
    any_body,
    st.builds(lambda v: json.dumps(v).encode(), json_values),
)
HTTP_ENCODINGS = {None: "plain", "identity": "plain", "gzip": "gzip"}
HTTP_ENCODINGS.update({"deflate": "zlib", "br": "br", "bogus": "plain"})


@st.composite
def http_requests(draw):
    """(path, plain body, body as sent, Content-Type, Content-Encoding)."""
    path = draw(st.sampled_from(ENDPOINTS[:1] * 3 + ENDPOINTS))
    plain = draw(http_bodies)
    encoding = draw(st.sampled_from(sorted(HTTP_ENCODINGS, key=str)))
    sent = _compress(plain, HTTP_ENCODINGS[encoding])
    if (
        draw(st.integers(0, 3)) == 0
    ):  # now and then a body that does not match its header
        sent = draw(st.sampled_from([plain, sent[:-3], gzip.compress(plain)]))
    content_type = draw(st.sampled_from(HTTP_CONTENT_TYPES))
    return path, plain, sent, content_type, encoding


def assert_stored_like_parse_envelope(server, plain, before):
    _, items, _ = kent.parse_envelope(plain)
    stored = [e for e in server.events() if e.seq > before]
    assert [(e.type, e.raw) for e in stored] == [(i.type, i.raw) for i in items]


@pytest.mark.slow
@bounded(300)
@given(http_requests())
def test_any_body_over_http_is_answered_2xx_or_4xx(fuzz_server, request):
    path, plain, sent, content_type, encoding = request
    before = fuzz_server.last_seq
    status, body = post_any(fuzz_server, path, sent, content_type, encoding)
    note_event(f"{path} {status}")  # shown by --hypothesis-show-statistics
    assert 200 <= status < 500, (status, body[:300])
    if status >= 400:  # refused requests are kept for inspection
        assert fuzz_server.last_seq > before
        assert "error" in json.loads(body)
    elif path == ENDPOINTS[0] and len(kent.parse_envelope(plain)[1]) <= 50:
        assert_stored_like_parse_envelope(fuzz_server, plain, before)
    assert_still_serving(fuzz_server.url)


# -- inputs found by these tests, pinned ---------------------------------------------------------

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError
FOUND_PARSER_INPUTS = {
    "deep envelope header": (kent.parse_envelope, DEEP_JSON + b"\n"),
    "deep event item": (
        kent.parse_envelope,
        b'{}\n{"type":"event"}\n' + DEEP_JSON + b"\n",
    ),
    "deep store body": (kent.parse_store_body, b'{"a":' + DEEP_JSON + b"}"),
    "deep security report": (kent.parse_security_reports, DEEP_JSON),
}


@pytest.mark.parametrize("name", FOUND_PARSER_INPUTS)
def test_found_parser_input_gives_a_kent_error(name):
    function, data = FOUND_PARSER_INPUTS[name]
    result = value_or_kent_error(function, data)
    if isinstance(result, kent.KentError):
        assert result.status == 400
    else:  # an item that cannot be decoded carries its error (and gets a 400)
        [item] = result[1]
        assert "invalid JSON" in item.error


HUGE = 10**400  # a valid JSON number that no float can hold
FOUND_SUMMARY_INPUTS = {
    "check-in duration": ("check_in", {"monitor_slug": "m", "duration": HUGE}),
    "transaction timestamp": (
        "transaction",
        {"transaction": "t", "start_timestamp": 0, "timestamp": HUGE},
    ),
}


@pytest.mark.parametrize("name", FOUND_SUMMARY_INPUTS)
def test_found_summary_input_gives_a_summary(name):
    item_type, body = FOUND_SUMMARY_INPUTS[name]
    summary = kent.summarize(item_type, body, {})
    assert isinstance(summary, str) and summary


FOUND_HTTP_BODIES = {
    "deep JSON item": envelope(({"type": "event"}, DEEP_JSON)),
    "check-in duration past float range": envelope(
        ({"type": "check_in"}, {"monitor_slug": "m", "duration": HUGE})
    ),
}


@pytest.mark.parametrize("name", FOUND_HTTP_BODIES)
def test_found_http_body_is_answered_4xx_or_2xx_and_kept(fuzz_server, name):
    before = fuzz_server.last_seq
    status, body = post_any(
        fuzz_server, "/api/1/envelope/", FOUND_HTTP_BODIES[name], None, None
    )
    assert 200 <= status < 500, (status, body[:300])
    assert fuzz_server.last_seq > before
    assert_still_serving(fuzz_server.url)


# -- every view of any stored item: no 5xx, no traceback (issue 11, points 6 and 7) --------------


class ErrorRecords(logging.Handler):
    """Kent's log records that say it failed: errors and tracebacks."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.found = []

    def emit(self, record):
        if record.levelno >= logging.ERROR or record.exc_info:
            self.found.append(self.format(record))


@pytest.fixture(scope="module")
def view_server():
    errors = ErrorRecords()
    log = logging.getLogger("kent")
    log.addHandler(errors)
    try:
        with kent.KentServer(max_events=40, request_timeout=10) as server:
            server.errors = errors.found
            yield server
    finally:
        log.removeHandler(errors)


def item_views(ident, other):
    """Every page and API answer that shows item ``ident`` (or all items)."""
    return [
        f"/event/{ident}",
        f"/api/event/{ident}",
        f"/api/event/{ident}/raw",
        f"/api/event/{ident}/envelope",
        f"/api/diff/{ident}/{other}",
        f"/api/diff/{other}/{ident}",
        f"/diff/{ident}/{ident}",
        "/",
        "/api/eventlist/",
        "/api/wait/?count=1&timeout=0",
        "/api/leaks/",
        "/api/search/?q=a",
        "/search/?q=e",
        "/trace/" + "0" * 32,
    ]


def mcp_tool_calls(ident):
    """Every MCP tool that reads what is stored, as JSON-RPC bodies."""
    calls = {
        "get_event": {"id": ident},
        "list_events": {},
        "search": {"q": "a"},
        "list_leaks": {},
        "get_trace": {"trace_id": "0" * 32},
    }
    return [
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
        ).encode()
        for name, arguments in calls.items()
    ]


def assert_every_view_answers(server, before):
    """The request is kept, and every view of what it left answers < 500."""
    stored = [e for e in server.events() if e.seq > before]
    assert stored, "the request was not kept"
    other = server.events()[0].id
    for event in stored:
        for path in item_views(event.id, other):
            status, _, body = http_request(server.url, "GET", path)
            assert status < 500, (path, body[:300])
            if path.startswith("/api/") and not path.endswith(("/raw", "/envelope")):
                json.loads(body)  # strict JSON: no NaN, whatever was stored
        for call in mcp_tool_calls(event.id):
            status, _, body = http_request(server.url, "POST", "/mcp", call, MCP_JSON)
            assert status == 200, (call, body[:300])
            assert "result" in json.loads(body), (call, body[:300])
    assert not server.errors, server.errors[-1]


MCP_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def send_view_input(server, path, body, headers=()):
    server.errors.clear()  # one failure is reported once, by its own test
    before = server.last_seq
    headers = dict({"X-Sentry-Auth": AUTH_HEADER}, **dict(headers))
    method = "GET" if "sentry_data=" in path else "POST"
    status, _, answer = http_request(server.url, method, path, body, headers)
    assert status < 500, answer[:300]
    return before


def _deep(leaf, depth, opening=b"[", closing=b"]"):
    return opening * depth + leaf + closing * depth


FORM = "multipart/form-data; boundary=xyz"
FOUND_VIEW_INPUTS = {
    "store type []": ("/api/1/store/", b'{"type":[]}', ()),
    "store beacon type []": (
        "/api/1/store/?sentry_key=k&sentry_data=%7B%22type%22%3A%5B%5D%7D",
        b"",
        (),
    ),
    "minidump field sentry[a]x2000": (
        "/api/1/minidump/",
        kent.build_multipart(
            "xyz",
            [
                ("sentry" + "[a]" * 2000, b"v", None, None),
                ("upload_file_minidump", b"MDMP\0\0", "m.dmp", None),
            ],
        ),
        (("Content-Type", FORM),),
    ),
    "attachment content_type text/\u0125tml": (
        "/api/1/envelope/",
        envelope(({"type": "attachment", "content_type": "text/\u0125tml"}, b"<b>")),
        (),
    ),
    "log items 5": ("/api/1/envelope/", envelope(({"type": "log"}, {"items": 5})), ()),
    "span span_id [1]": (
        "/api/1/envelope/",
        envelope(({"type": "span"}, {"span_id": [1], "parent_span_id": {}})),
        (),
    ),
    "breadcrumb timestamp 1e400": (
        "/api/1/envelope/",
        envelope(
            (
                {"type": "event"},
                b'{"breadcrumbs":{"values":[{"timestamp":1' + b"0" * 400 + b"}]}}",
            )
        ),
        (),
    ),
    "frame context_line 5": (
        "/api/1/envelope/",
        envelope(
            (
                {"type": "event"},
                {
                    "exception": {
                        "values": [{"stacktrace": {"frames": [{"context_line": 5}]}}]
                    }
                },
            )
        ),
        (),
    ),
    "_meta remark ['r', []]": (
        "/api/1/envelope/",
        envelope(({"type": "event"}, {"_meta": {"": {"rem": [["r", []]]}}})),
        (),
    ),
    "deep body with NaN": (
        "/api/1/envelope/",
        envelope(({"type": "event"}, b'{"a":' + _deep(b"NaN", 500) + b"}")),
        (),
    ),
    "sdk name 500 deep with NaN": (
        "/api/1/envelope/",
        envelope(({"type": "event"}, b'{"sdk":{"name":' + _deep(b"NaN", 500) + b"}}")),
        (),
    ),
    "deep envelope header with NaN": (
        "/api/1/envelope/",
        b'{"x":' + _deep(b"NaN", 900) + b'}\n{"type":"event"}\n{}\n',
        (),
    ),
    "deep item header with NaN": (
        "/api/1/envelope/",
        b'{}\n{"type":"event","x":' + _deep(b"NaN", 900, b'{"a":', b"}") + b"}\n{}\n",
        (),
    ),
}


@pytest.mark.parametrize("name", FOUND_VIEW_INPUTS)
def test_found_input_is_kept_and_every_view_answers(view_server, name):
    path, body, headers = FOUND_VIEW_INPUTS[name]
    before = send_view_input(view_server, path, body, headers)
    assert_every_view_answers(view_server, before)


def test_non_finite_numbers_are_strings_in_every_json_answer(view_server):
    data = envelope(({"type": "event"}, b'{"a":[NaN,Infinity,-Infinity,1.5]}'))
    before = send_view_input(view_server, "/api/1/envelope/", data)
    [event] = [e for e in view_server.events() if e.seq > before]
    _, value = get_json(view_server.url, f"/api/event/{event.id}")
    assert value["payload"]["body"]["a"] == ["NaN", "Infinity", "-Infinity", 1.5]
    deep = b'{"a":[' + _deep(b"[NaN,Infinity]", 400) + b"]}"
    before = send_view_input(
        view_server, "/api/1/envelope/", envelope(({"type": "event"}, deep))
    )
    [event] = [e for e in view_server.events() if e.seq > before]
    _, value = get_json(view_server.url, f"/api/event/{event.id}")
    leaf = value["payload"]["body"]["a"][0]
    while leaf and isinstance(leaf[0], list):
        leaf = leaf[0]
    assert leaf == ["NaN", "Infinity"]  # the same strings at any depth


# Field names Kent reads, taken from its own source: ``.get("name")`` and
# ``_get(value, "a", "b")``, so a field added later is fuzzed too.
KENT_SOURCE = Path(kent.__file__).read_text(encoding="utf-8")
KNOWN_FIELDS = sorted(
    set(re.findall(r'\.get\("([\w.-]{1,40})"', KENT_SOURCE))
    | {
        path
        for args in re.findall(r'_get\(\w+(?:\.\w+)?((?:, "[\w.-]+")+)\)', KENT_SOURCE)
        for path in [".".join(re.findall(r'"([\w.-]+)"', args))]
    }
)
VIEW_ITEM_TYPES = sorted(kent.JSON_ITEM_TYPES | kent.EVENT_LIKE_TYPES) + [
    "attachment",
    "unknown_type",
]
LONE_SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00x\ud834"])
view_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**400),
    st.just(-(10**400)),
    st.floats(),  # NaN and infinities too: JSON bodies may carry them
    st.text(max_size=12),
    LONE_SURROGATES,
)


def _nested(leaf, depth, as_dicts):
    for _ in range(depth):
        leaf = {"a": leaf} if as_dicts else [leaf]
    return leaf


view_values = st.one_of(
    st.recursive(
        view_scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(
                st.sampled_from(KNOWN_FIELDS) | st.text(max_size=3), inner, max_size=3
            ),
        ),
        max_leaves=8,
    ),
    st.builds(_nested, view_scalars, st.integers(50, 450), st.booleans()),
)


def _set_path(body, path, value):
    *parents, last = path.split(".")
    for key in parents:
        child = body.get(key)
        body[key] = child = child if isinstance(child, dict) else {}
        body = child
    body[last] = value


@st.composite
def view_bodies(draw):
    """An event-like body: known fields, each any JSON value."""
    body = {}
    for path in draw(st.lists(st.sampled_from(KNOWN_FIELDS), max_size=6)):
        _set_path(body, path, draw(view_values))
    return body


def json_bytes(value):
    """As an SDK would: NaN and 1e400 as Python writes them, \\ud800 escaped."""
    return json.dumps(value).encode()


@st.composite
def view_requests(draw):
    """(path, body, headers) of a request carrying one generated item."""
    body = draw(view_bodies())
    item_type = draw(st.sampled_from(VIEW_ITEM_TYPES))
    route = draw(st.sampled_from(["envelope"] * 4 + ["store"]))
    if route == "store":
        return "/api/1/store/", json_bytes(body), ()
    item_header = {"type": item_type}
    for key in draw(
        st.lists(
            st.sampled_from(
                ["content_type", "filename", "attachment_type", "platform"]
            ),
            max_size=2,
        )
    ):
        item_header[key] = draw(view_values)
    header = draw(view_bodies())
    return (
        "/api/1/envelope/",
        envelope((item_header, json_bytes(body)), header=header),
        (),
    )


@bounded(120)
@given(view_requests())
def test_any_item_is_kept_and_every_view_of_it_answers(view_server, request):
    path, body, headers = request
    before = send_view_input(view_server, path, body, headers)
    assert_every_view_answers(view_server, before)
