"""Debugging superpowers (issue 7): leak scanner, search, diff, samples, replay, curl.

The pure functions are tested on hand-made bodies (each leak kind with a
positive and a negative case) and on what a real sentry-sdk 2.x sent to a
running Kent: default settings leak nothing, ``send_default_pii=True`` leaks
at known pointers, a ``before_send`` that scrubs leaks nothing again.
"""

import base64
import email.parser
import email.policy
import gzip
import json
import shlex
import subprocess
import time

import pytest
from helpers import (
    AUTH_HEADER,
    CANARY,
    EVENT_ID,
    FRAME_VARS,
    PROJECTS,
    SCENARIOS,
    SECRET,
    envelope,
    get_json,
    http_request,
    require_tool,
    run_scenarios,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import kent

sp = kent


@pytest.fixture(scope="module")
def captured():
    """``{scenario: [StoredEvent]}`` from real sentry-sdk runs (and the server)."""
    with kent.KentServer() as server:
        run_scenarios(server)
        by_scenario = {
            name: server.events(project=str(PROJECTS[name])) for name in SCENARIOS
        }
        yield server, by_scenario


def _findings(event, canaries=()):
    return sp.scan_leaks(event.type, event.body, event.raw, canaries)


def _by_pointer(findings):
    return {finding["pointer"]: finding["kind"] for finding in findings}


def _only(events, item_type, text=""):
    matching = [e for e in events if e.type == item_type and text in e.summary]
    assert len(matching) == 1, [e.summary for e in events]
    return matching[0]


# ---------------------------------------------------------------------------
# Leak scanner: every kind, positive and negative
# ---------------------------------------------------------------------------

GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
STRIPE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
DSN_SECRET = "b" * 32
POSITIVE_CASES = [
    (
        "email",
        {"message": "mail alice@example.com now"},
        "/message",
        "alice@example.com",
    ),
    ("ip_address", {"message": "client 203.0.113.7 said"}, "/message", "203.0.113.7"),
    (
        "ip_address",
        {"message": "from 2a00:1450:4001:82b::200e"},
        "/message",
        "2a00:1450",
    ),
    (
        "ip_address",
        {"user": {"ip_address": "127.0.0.1"}},
        "/user/ip_address",
        "127.0.0.1",
    ),
    ("card_number", {"extra": {"n": "pay 4111 1111 1111 1111."}}, "/extra/n", "4111"),
    ("card_number", {"extra": {"n": "5500-0000-0000-0004"}}, "/extra/n", "5500"),
    ("card_number", {"extra": {"n": 4012888888881881}}, "/extra/n", "4012888888881881"),
    (
        "jwt",
        {"breadcrumbs": [{"message": f"got {JWT}"}]},
        "/breadcrumbs/0/message",
        JWT,
    ),
    (
        "bearer_token",
        {"m": "sent Bearer abc123def456ghi789"},
        "/m",
        "abc123def456ghi789",
    ),
    ("aws_key", {"m": "key AKIAIOSFODNN7EXAMPLE used"}, "/m", "AKIAIOSFODNN7EXAMPLE"),
    (
        "sentry_dsn_secret",
        {"m": f"https://{'a' * 32}:{DSN_SECRET}@o1.ingest.sentry.io/1"},
        "/m",
        DSN_SECRET,
    ),
    ("github_token", {"m": f"token {GITHUB_TOKEN}"}, "/m", GITHUB_TOKEN),
    ("stripe_key", {"m": STRIPE_KEY}, "/m", STRIPE_KEY),
    ("slack_token", {"m": "xoxb-123456789012-abcdefghijkl"}, "/m", "xoxb-1234567"),
    (
        "private_key",
        {"m": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow"},
        "/m",
        "-----BEGIN RSA PRIVATE KEY-----",
    ),
    (
        "secret_key",
        {"extra": {"api_key": "abc123xyz789"}},
        "/extra/api_key",
        "abc123xyz789",
    ),
    (
        "secret_key",
        {"vars": {"db_password": "'hunter2-x'"}},
        "/vars/db_password",
        "hunter2-x",
    ),
    (
        "secret_key",
        {"headers": {"X-Api-Key": "k-998877"}},
        "/headers/X-Api-Key",
        "k-998877",
    ),
    (
        "cookie",
        {"request": {"cookies": {"sessionid": "abcdef123456"}}},
        "/request/cookies/sessionid",
        "abcdef123456",
    ),
    (
        "cookie",
        {"request": {"headers": [["Cookie", "sid=zyx987654"]]}},
        "/request/headers/0/1",
        "sid=zyx987654",
    ),
    (
        "auth_header",
        {"request": {"headers": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}}},
        "/request/headers/Authorization",
        "Basic dXNlcjpwYXNzd29yZA==",
    ),
    (
        "query_secret",
        {"request": {"query_string": "page=2&token=abc123def456"}},
        "/request/query_string",
        "abc123def456",
    ),
    (
        "query_secret",
        {"request": {"url": "https://x.example/cb?access_token=tok-55443322&a=1"}},
        "/request/url",
        "tok-55443322",
    ),
    (
        "url_password",
        {"extra": {"db": "postgres://app:s3cretpw@db/prod"}},
        "/extra/db",
        "s3cretpw",
    ),
]
NEGATIVE_CASES = [
    ("email", {"release": "myapp@1.2.3", "m": "user@localhost"}),
    ("ip_address", {"message": "connect to 127.0.0.1:5000 and 0.0.0.0"}),
    ("ip_address", {"sdk": {"version": "2.75.0.1"}, "modules": {"x": "1.2.3.4"}}),
    ("ip_address", {"extra": {"ua": "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36"}}),
    ("ip_address", {"m": "upgraded sdk version 2.75.0.1", "t": "at 12:30:45 ::1"}),
    ("card_number", {"extra": {"n": "4111 1111 1111 1112"}}),  # Luhn-invalid
    ("card_number", {"thread": "140234567890104", "ns": 1735689600123456789}),
    ("jwt", {"m": "eyJhbGciOi alone"}),
    ("bearer_token", {"m": "the Bearer of bad news"}),
    ("aws_key", {"m": "AKIA1234"}),
    ("sentry_dsn_secret", {"m": f"https://{'a' * 32}@o1.ingest.sentry.io/1"}),
    ("github_token", {"m": "ghp_short"}),
    ("stripe_key", {"m": "pk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"}),
    ("slack_token", {"m": "xox"}),
    ("private_key", {"m": "-----BEGIN PUBLIC KEY-----"}),
    ("secret_key", {"extra": {"token_count": "12345", "password_reset_url": "/r"}}),
    ("cookie", {"request": {"headers": {"Cookie": "[Filtered]"}}}),
    ("auth_header", {"request": {"headers": {"Authorization": "[Filtered]"}}}),
    ("query_secret", {"request": {"query_string": "page=2&sort=asc"}}),
    ("query_secret", {"url": "https://x.example/cb?access_token=%5BFiltered%5D"}),
    ("url_password", {"url": "https://[Filtered]:[Filtered]@host.example/"}),
]


@pytest.mark.parametrize(("kind", "body", "pointer", "secret"), POSITIVE_CASES)
def test_leak_kind_is_found_at_its_pointer(kind, body, pointer, secret):
    findings = sp.scan_leaks("event", body, json.dumps(body).encode())
    assert {"pointer": pointer, "kind": kind} in [
        {"pointer": f["pointer"], "kind": f["kind"]} for f in findings
    ], findings
    assert all(secret not in f["excerpt"] for f in findings), findings


@pytest.mark.parametrize(("kind", "body"), NEGATIVE_CASES)
def test_lookalike_is_not_a_leak(kind, body):
    findings = sp.scan_leaks("event", body, json.dumps(body).encode())
    assert [f for f in findings if f["kind"] == kind] == []


@pytest.mark.parametrize(
    "value", ["[Filtered]", "[REDACTED]", "***", "", None, "'[Filtered]'", "None"]
)
def test_filter_marker_in_a_password_field_is_not_a_leak(value):
    body = {"extra": {"password": value}, "request": {"data": {"secret": value}}}
    assert sp.scan_leaks("event", body, b"") == []


def test_masked_excerpt_keeps_first_and_last_two_characters():
    [finding] = sp.scan_leaks("event", {"extra": {"password": "password"}}, b"")
    assert finding == {
        "pointer": "/extra/password",
        "kind": "secret_key",
        "excerpt": "pa***rd",
    }
    assert sp.mask_secret("abcd") == "***"


def test_pointer_escapes_slash_and_tilde_in_keys():
    body = {"contexts": {"a/b~c": {"email": "bob@example.org"}}}
    [finding] = sp.scan_leaks("event", body, b"")
    assert finding["pointer"] == "/contexts/a~1b~0c/email"


def test_binary_body_findings_carry_exact_byte_offsets():
    raw = b"\xff\xfe binary \xe9 head\nowner: carol@example.net\n"
    findings = sp.scan_leaks("attachment", raw, raw)
    offset = raw.index(b"carol")
    assert findings == [
        {"pointer": "", "kind": "email", "excerpt": f"byte {offset}: ca***et"}
    ]


def test_binary_data_is_scanned_like_strings_with_exact_offsets():
    dump = b"MDMP\x93\xa7" + bytes(range(256)) * 8  # binary: scanned like strings(1)
    dump += b"\x00\x00user=bob@example.org\x00" + bytes(64)
    offset = dump.index(b"bob")
    assert sp.scan_leaks("attachment", dump, dump) == [
        {"pointer": "", "kind": "email", "excerpt": f"byte {offset}: bo***rg"}
    ]


def test_deeply_nested_bodies_are_scanned_searched_and_diffed():
    body = leaf = {}
    for _ in range(3000):  # deeper than Python's recursion limit
        leaf["a"] = {}
        leaf = leaf["a"]
    leaf["email"] = "bob@example.org"
    [finding] = sp.scan_leaks("event", body, b"")
    assert finding["pointer"] == "/a" * 3000 + "/email"
    assert sp.search_item(body, b"", False, "BOB@") == [finding["pointer"]]
    assert sp.diff_bodies(body, {})["removed"] == [
        {"pointer": "/a", "value": body["a"]}
    ]
    assert sp.diff_bodies(body, body)["changed"] == []


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
    findings = sp.scan_leaks("event", planted, raw, [secret])
    assert {
        "pointer": "/extra/password",
        "kind": "canary",
        "excerpt": "Zq***q9",
    } in findings
    assert all(secret not in f["excerpt"] for f in findings)
    assert "/extra/password" in sp.search_item(planted, raw, False, secret.upper())
    assert sp.diff_bodies(body, body) == {
        "added": [],
        "removed": [],
        "changed": [],
        "meta": [],
    }
    diff = sp.diff_bodies(body, other)
    assert (diff["added"] or diff["removed"] or diff["changed"]) or body == other
    json.dumps(findings)
    json.dumps(diff)


def test_canary_is_found_in_keys_strings_numbers_and_raw_bytes():
    body = {"extra": {"k-CANARY-1": "x", "v": "has CANARY-1 inside", "n": 990011}}
    raw = json.dumps(body).encode()
    findings = sp.scan_leaks("event", body, raw, ["CANARY-1", "990011"])
    assert _by_pointer(findings) == {
        "/extra/k-CANARY-1": "canary",
        "/extra/v": "canary",
        "/extra/n": "canary",
    }
    assert all("CANARY-1" not in f["excerpt"] for f in findings)


def test_canary_is_case_sensitive_and_found_in_raw_only_framing():
    body = {"level": "error"}
    raw = b'{"level":"error"}'
    assert sp.scan_leaks("event", body, raw, ["ERROR"]) == []
    [finding] = sp.scan_leaks("event", body, raw, ['"level":"e'])
    assert finding["pointer"] == "" and finding["excerpt"].startswith("byte 1: ")


# ---------------------------------------------------------------------------
# Leak scanner on what the real sentry-sdk sent
# ---------------------------------------------------------------------------


def test_default_sdk_settings_leak_nothing(captured):
    _, events = captured
    types = {event.type for event in events["default"]}
    assert {"event", "transaction", "session", "log"} <= types, types
    assert {e.type: _findings(e) for e in events["default"] if _findings(e)} == {}
    event = _only(events["default"], "event", "ValueError")
    assert event.body["server_name"]  # the hostname: not a leak
    assert event.body["exception"]["values"][0]["stacktrace"]["frames"][-1]["vars"]


def test_default_settings_wsgi_app_leaks_through_the_environ_frame_variable(captured):
    _, events = captured
    event = _only(events["wsgi"], "event", "RuntimeError")
    assert event.body["request"]["headers"]["Cookie"] == "[Filtered]"
    assert _by_pointer(_findings(event)) == {
        f"{FRAME_VARS}/environ/HTTP_COOKIE": "cookie",
        f"{FRAME_VARS}/environ/REMOTE_ADDR": "ip_address",
        f"{FRAME_VARS}/db_password": "secret_key",
    }


def test_send_default_pii_leaks_are_found_at_their_pointers(captured):
    _, events = captured
    event = _only(events["pii"], "event", "RuntimeError")
    findings = _findings(event)
    assert _by_pointer(findings) == {
        f"{FRAME_VARS}/environ/HTTP_COOKIE": "cookie",
        f"{FRAME_VARS}/environ/REMOTE_ADDR": "ip_address",
        f"{FRAME_VARS}/db_password": "secret_key",
        "/user/email": "email",
        "/user/ip_address": "ip_address",
        "/request/env/REMOTE_ADDR": "ip_address",
    }
    for secret in (SECRET, "alice@example.com", "203.0.113.7"):
        assert all(secret not in f["excerpt"] for f in findings)


def test_before_send_that_scrubs_leaves_no_findings(captured):
    _, events = captured
    event = _only(events["scrubbed"], "event", "RuntimeError")
    assert event.body["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]
    assert [e.type for e in events["scrubbed"] if _findings(e)] == []


def test_canary_in_a_log_and_an_attachment_is_found_by_scan_and_search(captured):
    _, events = captured
    log = _only(events["canary"], "log")
    attachment = _only(events["canary"], "attachment")
    assert _findings(log, [CANARY]) == [
        {"pointer": "/items/0/body", "kind": "canary", "excerpt": "ke***9a"}
    ]
    offset = attachment.raw.index(CANARY.encode())
    assert _findings(attachment, [CANARY]) == [
        {"pointer": "", "kind": "canary", "excerpt": f"byte {offset}: ke***9a"}
    ]
    assert "/items/0/body" in sp.search_item(
        log.body, log.raw, log.binary, CANARY.upper()
    )
    assert sp.search_item(attachment.body, attachment.raw, True, CANARY) == [""]
    message = _only(events["canary"], "event")
    assert _findings(message, [CANARY]) == []


def test_kent_accepts_a_final_payload_ending_in_a_newline(captured):
    """With an explicit ``length`` a payload may end in a newline: the envelope
    then ends in two and is still valid for Relay (a text attachment from
    sentry-python does); no trailing-newlines warning."""
    data = envelope(({"type": "attachment", "filename": "a.txt"}, b"line\n"))
    assert data.endswith(b"line\n\n")
    assert kent.parse_envelope(data)[2] == []
    _, events = captured
    assert _only(events["canary"], "attachment").warnings == []


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------


def test_search_finds_keys_and_values_case_insensitively():
    body = {
        "message": "Payment FAILED",
        "extra": {"failed_orders": [7, 1042]},
        "tags": {"retry": True},
    }
    assert sp.search_item(body, b"", False, "failed") == [
        "/message",
        "/extra/failed_orders",
    ]
    assert sp.search_item(body, b"", False, "1042") == ["/extra/failed_orders/1"]
    assert sp.search_item(body, b"", False, "nowhere") == []
    assert sp.search_item(body, b"", False, "") == []


def test_search_points_at_a_log_record_inside_its_container():
    records = [{"body": f"record {n}", "level": "info"} for n in range(5)]
    assert sp.search_item({"items": records}, b"", False, "RECORD 3") == [
        "/items/3/body"
    ]


def test_search_in_binary_and_text_bodies():
    raw = b"\x00\x01 core dump of worker-7 \xff"
    assert sp.search_item(raw, raw, True, "WORKER-7") == [""]
    assert sp.search_item(raw, raw, True, "worker-8") == []
    assert sp.search_item("metric:1|c", b"metric:1|c", False, "METRIC") == [""]


# ---------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------


def test_diff_lists_added_removed_and_changed_pointers():
    a = {"level": "error", "tags": {"a": "1", "gone": "x"}, "list": [1, 2, 3], "n": 1}
    b = {"level": "fatal", "tags": {"a": "1", "new": "y"}, "list": [1, 5], "n": True}
    assert sp.diff_bodies(a, b) == {
        "added": [{"pointer": "/tags/new", "value": "y"}],
        "removed": [
            {"pointer": "/tags/gone", "value": "x"},
            {"pointer": "/list/2", "value": 3},
        ],
        "changed": [
            {"pointer": "/level", "old": "error", "new": "fatal"},
            {"pointer": "/list/1", "old": 2, "new": 5},
            {"pointer": "/n", "old": 1, "new": True},
        ],
        "meta": [],
    }
    assert sp.diff_bodies(a, a) == {
        "added": [],
        "removed": [],
        "changed": [],
        "meta": [],
    }


def test_diff_reports_meta_annotations_apart_from_data():
    a = {
        "request": {"data": "", "headers": {"Cookie": "[Filtered]"}},
        "_meta": {
            "request": {
                "data": {"": {"rem": [["!config", "x"]]}},
                "headers": {"Cookie": {"": {"rem": [["!config", "s"]]}}},
            }
        },
    }
    b = {
        "request": {"data": "x" * 61, "headers": {"Cookie": "[Filtered]"}},
        "_meta": {
            "request": {
                "data": {"": {"len": 900, "rem": [["!limit", "x", 61, 64]]}},
                "headers": {"Cookie": {"": {"rem": [["!config", "s"]]}}},
            }
        },
    }
    diff = sp.diff_bodies(a, b)
    assert [c["pointer"] for c in diff["changed"]] == ["/request/data"]
    assert diff["added"] == diff["removed"] == []
    assert diff["meta"] == [
        {
            "pointer": "/request/data",
            "annotation": "removed by the SDK's configuration (!config)",
            "side": "a",
        },
        {
            "pointer": "/request/data",
            "annotation": "trimmed to 64 (was 900)",
            "side": "b",
        },
        {
            "pointer": "/request/headers/Cookie",
            "annotation": "filtered by the SDK's configuration (!config)",
            "side": "both",
        },
    ]


def test_diff_of_two_real_events_before_and_after_before_send(captured):
    _, events = captured
    before = _only(events["pii"], "event", "RuntimeError")
    after = _only(events["scrubbed"], "event", "RuntimeError")
    diff = sp.diff_bodies(before.body, after.body)
    changed = {c["pointer"]: c["new"] for c in diff["changed"]}
    assert changed[f"{FRAME_VARS}/db_password"] == "[Filtered]"
    assert changed[f"{FRAME_VARS}/environ/HTTP_COOKIE"] == "[Filtered]"
    assert "/extra/note" in changed  # trimmed by max_value_length=64
    removed = {r["pointer"] for r in diff["removed"]}
    assert {
        "/user",
        "/request/env/REMOTE_ADDR",
        f"{FRAME_VARS}/environ/REMOTE_ADDR",
    } <= removed
    assert not any(c["pointer"].startswith("/_meta") for c in diff["changed"])
    assert {
        "pointer": "/extra/note",
        "annotation": "trimmed to 64 (was 2000)",
        "side": "b",
    } in diff["meta"]
    assert {
        "pointer": f"{FRAME_VARS}/password",
        "annotation": "filtered by the SDK's configuration (!config)",
        "side": "both",
    } in diff["meta"]


# ---------------------------------------------------------------------------
# Samples for `kent send KIND`
# ---------------------------------------------------------------------------

ENVELOPE_SUMMARIES = {
    "message": ["Payment provider answered 503"],
    "error": ["ZeroDivisionError: float division by zero"],
    "transaction": ["transaction /checkout op=http.server 3 spans 1000.0 ms"],
    "attachment": [
        "ZeroDivisionError: float division by zero",
        "attachment notes.txt (71 bytes, text/plain, event.attachment)",
    ],
    "session": ["session exited, 0 errors, release kent-sample@1.0.0"],
    "check-in": ["check-in nightly-report: ok (1.25 s)"],
    "log": ["2 log records: cart 1042 loaded with 3 items"],
    "user-feedback": ["feedback: The page froze after I pressed Pay."],
}
SECURITY_SUMMARIES = {
    "csp": "csp-report: img-src blocked https://tracker.example.net/pixel.gif",
    "csp-new": "csp-report: script-src-elem blocked https://cdn.example.net/widget.js",
}
NOW = 1767225600.0  # 2026-01-01T00:00:00Z


def _framed_items(data):
    """Check sentry-python framing: every item has a length and ends in \\n."""
    envelope_header, items, warnings = kent.parse_envelope(data)
    assert warnings == [] and data.endswith(items[-1].raw + b"\n")
    for item in items:
        assert item.header["length"] == len(item.raw) and item.error is None
    return envelope_header, items


@pytest.mark.parametrize("kind", sorted(ENVELOPE_SUMMARIES))
def test_envelope_sample_parses_and_summarizes(kind):
    endpoint, content_type, data = sp.sample_envelope(kind, EVENT_ID, NOW)
    assert (endpoint, content_type) == ("envelope", "application/x-sentry-envelope")
    envelope_header, items = _framed_items(data)
    assert envelope_header["sent_at"] == "2026-01-01T00:00:00.000Z"
    summaries = [kent.summarize(i.type, i.body, i.header, i.error) for i in items]
    assert summaries == ENVELOPE_SUMMARIES[kind]
    assert [sp.scan_leaks(i.type, i.body, i.raw) for i in items] == [[]] * len(items)
    assert sp.sample_envelope(kind, EVENT_ID, NOW)[2] == data  # reproducible


@pytest.mark.parametrize("kind", sorted(SECURITY_SUMMARIES))
def test_security_sample_parses_and_summarizes(kind):
    endpoint, content_type, data = sp.sample_envelope(kind, EVENT_ID, NOW)
    assert endpoint == "security"
    [item] = kent.parse_security_reports(data, content_type)
    assert item.warnings == []
    assert kent.summarize(item.type, item.body, item.header) == SECURITY_SUMMARIES[kind]


def test_minidump_sample_is_a_multipart_upload():
    endpoint, content_type, data = sp.sample_envelope("minidump", EVENT_ID, NOW)
    assert endpoint == "minidump" and content_type.startswith("multipart/form-data; ")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data
    )
    parts = {
        part.get_param("name", header="content-disposition"): part
        for part in message.iter_parts()
    }
    assert set(parts) == {"upload_file_minidump", "sentry"}
    dump = parts["upload_file_minidump"]
    assert dump.get_filename() == "upload.dmp"
    assert dump.get_payload(decode=True)[:4] == b"MDMP"
    sentry = json.loads(parts["sentry"].get_payload(decode=True))
    assert sentry["event_id"] == EVENT_ID


def test_sample_rejects_unknown_kind_and_bad_event_id():
    with pytest.raises(ValueError, match="unknown sample kind 'nope'"):
        sp.sample_envelope("nope", EVENT_ID, NOW)
    with pytest.raises(ValueError, match="event_id"):
        sp.sample_envelope("error", "not-hex", NOW)


def test_every_sample_is_stored_by_a_running_kent(kent_server):
    expected = []
    for kind in sorted(ENVELOPE_SUMMARIES) + sorted(SECURITY_SUMMARIES):
        endpoint, content_type, data = sp.sample_envelope(kind, EVENT_ID, time.time())
        headers = {"Content-Type": content_type, "X-Sentry-Auth": AUTH_HEADER}
        status, _, answer = http_request(
            kent_server.url, "POST", f"/api/1/{endpoint}/", data, headers
        )
        assert status == 200, answer
        expected += ENVELOPE_SUMMARIES.get(kind) or [SECURITY_SUMMARIES[kind]]
    stored = kent_server.wait_for(len(expected), timeout=10)
    assert [event.title for event in stored] == expected
    assert [event.warnings for event in stored] == [[]] * len(expected)


# ---------------------------------------------------------------------------
# Replay and curl
# ---------------------------------------------------------------------------


def test_replay_file_kinds():
    envelope = sp.sample_envelope("error", EVENT_ID, NOW)[2]
    assert sp.parse_replay_file(envelope) == (
        "envelope",
        "application/x-sentry-envelope",
        envelope,
    )
    event = b'{"message": "hi", "level": "info"}'
    assert sp.parse_replay_file(event) == ("store", "application/json", event)
    reports = sp.sample_envelope("csp-new", EVENT_ID, NOW)[2]
    assert sp.parse_replay_file(reports)[0] == "security"
    with pytest.raises(ValueError, match="not an envelope"):
        sp.parse_replay_file(b"\x00garbage")


@pytest.mark.parametrize(
    "scenario_type", [("pii", "event"), ("canary", "attachment"), ("default", "log")]
)
def test_replay_of_kent_event_json_rebuilds_identical_item_bytes(
    captured, scenario_type
):
    server, events = captured
    scenario, item_type = scenario_type
    original = [e for e in events[scenario] if e.type == item_type][0]
    status, value = get_json(server.url, f"/api/event/{original.id}")
    assert status == 200
    saved = json.dumps(value).encode()  # what `curl .../api/event/<id> > file` saves
    endpoint, content_type, data = sp.parse_replay_file(saved)
    assert (endpoint, content_type) == ("envelope", "application/x-sentry-envelope")
    envelope_header, [item] = kent.parse_envelope(data)[:2]
    assert envelope_header == original.envelope_header
    assert item.type == item_type
    assert (
        item.raw == http_request(server.url, "GET", f"/api/event/{original.id}/raw")[2]
    )


def test_replay_of_security_and_store_items_from_kent_json(kent_server):
    report = sp.sample_envelope("csp", EVENT_ID, NOW)[2]
    headers = {"Content-Type": "application/csp-report"}
    http_request(
        kent_server.url, "POST", "/api/1/security/?sentry_key=public", report, headers
    )
    [stored] = kent_server.wait_for(1)
    _, value = get_json(kent_server.url, f"/api/event/{stored.id}")
    endpoint, content_type, data = sp.parse_replay_file(json.dumps(value).encode())
    assert (endpoint, content_type) == ("security", "application/csp-report")
    assert json.loads(data) == json.loads(report)


def test_curl_command_quotes_and_keeps_the_request_headers():
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "content-encoding": "gzip",
        "X-Sentry-Auth": "Sentry sentry_key=abc, sentry_version=7",
        "Content-Length": "123",
        "Host": "127.0.0.1:5000",
    }
    command = sp.curl_command(
        "http://127.0.0.1:5000/api/1/envelope/", headers, "my body.bin"
    )
    assert shlex.split(command) == [
        "curl",
        "-sS",
        "-X",
        "POST",
        "http://127.0.0.1:5000/api/1/envelope/",
        "-H",
        "Content-Type: application/x-sentry-envelope",
        "-H",
        "Content-Encoding: gzip",
        "-H",
        "X-Sentry-Auth: Sentry sentry_key=abc, sentry_version=7",
        "--data-binary",
        "@my body.bin",
    ]


def test_curl_command_reproduces_a_gzip_request(kent_server, tmp_path):
    curl = require_tool("curl", "the curl command test runs it")
    data = sp.sample_envelope("message", EVENT_ID, time.time())[2]
    body = tmp_path / "body.gz"
    body.write_bytes(gzip.compress(data))
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": AUTH_HEADER,
    }
    command = sp.curl_command(f"{kent_server.url}/api/1/envelope/", headers, body)
    words = shlex.split(command)
    result = subprocess.run([curl, *words[1:]], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": EVENT_ID, "success": True}
    [stored] = kent_server.wait_for(1)
    assert stored.raw == kent.parse_envelope(data)[1][0].raw
    assert stored.request["content_encoding"] == "gzip"
    assert base64.b64encode(stored.raw)  # stored bytes, not only a 200
