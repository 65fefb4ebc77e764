"""Sample payloads for ``kent send KIND``: each is framed as its SDK frames it,
summarizes as expected, leaks nothing and is stored by a running Kent; the
``send`` command that posts them."""

import email.parser
import email.policy
import json
import re
import subprocess
import sys
import time

import pytest
from helpers import (
    AUTH_HEADER,
    CLEAN_KEY,
    EVENT_ID,
    KENT_PY,
    SAMPLE_TIME,
    http_request,
    kent_cli,
)

import kent

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


def _framed_items(data):
    """Check sentry-python framing: every item has a length and ends in \\n."""
    envelope_header, items, warnings = kent.parse_envelope(data)
    assert warnings == [] and data.endswith(items[-1].raw + b"\n")
    for item in items:
        assert item.header["length"] == len(item.raw) and item.error is None
    return envelope_header, items


@pytest.mark.parametrize("kind", sorted(ENVELOPE_SUMMARIES))
def test_envelope_sample_parses_and_summarizes(kind):
    endpoint, content_type, data = kent.sample_envelope(kind, EVENT_ID, SAMPLE_TIME)
    assert (endpoint, content_type) == ("envelope", "application/x-sentry-envelope")
    envelope_header, items = _framed_items(data)
    assert envelope_header["sent_at"] == "2026-01-01T00:00:00.000Z"
    summaries = [kent.summarize(i.type, i.body, i.header, i.error) for i in items]
    assert summaries == ENVELOPE_SUMMARIES[kind]
    assert [kent.scan_leaks(i.type, i.body, i.raw) for i in items] == [[]] * len(items)
    assert kent.sample_envelope(kind, EVENT_ID, SAMPLE_TIME)[2] == data  # reproducible


@pytest.mark.parametrize("kind", sorted(SECURITY_SUMMARIES))
def test_security_sample_parses_and_summarizes(kind):
    endpoint, content_type, data = kent.sample_envelope(kind, EVENT_ID, SAMPLE_TIME)
    assert endpoint == "security"
    [item] = kent.parse_security_reports(data, content_type)
    assert item.warnings == []
    assert kent.summarize(item.type, item.body, item.header) == SECURITY_SUMMARIES[kind]


def test_minidump_sample_is_a_multipart_upload():
    endpoint, content_type, data = kent.sample_envelope(
        "minidump", EVENT_ID, SAMPLE_TIME
    )
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
        kent.sample_envelope("nope", EVENT_ID, SAMPLE_TIME)
    with pytest.raises(ValueError, match="event_id"):
        kent.sample_envelope("error", "not-hex", SAMPLE_TIME)


def test_every_sample_is_stored_by_a_running_kent(kent_server):
    expected = []
    for kind in sorted(ENVELOPE_SUMMARIES) + sorted(SECURITY_SUMMARIES):
        endpoint, content_type, data = kent.sample_envelope(kind, EVENT_ID, time.time())
        headers = {"Content-Type": content_type, "X-Sentry-Auth": AUTH_HEADER}
        status, _, answer = http_request(
            kent_server.url, "POST", f"/api/1/{endpoint}/", data, headers
        )
        assert status == 200, answer
        expected += ENVELOPE_SUMMARIES.get(kind) or [SECURITY_SUMMARIES[kind]]
    stored = kent_server.wait_for(len(expected), timeout=10)
    assert [event.title for event in stored] == expected
    assert [event.warnings for event in stored] == [[]] * len(expected)


# -- kent send ---------------------------------------------------------------------


def test_send_every_kind_is_stored_with_a_proper_summary(kent_server):
    kinds = list(kent.SAMPLE_KINDS)
    procs = [
        subprocess.Popen(
            [sys.executable, KENT_PY, "send", kind, "--url", kent_server.url]
            + ["--project", str(10 + index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, kind in enumerate(kinds)
    ]
    for kind, proc in zip(kinds, procs, strict=True):
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"{kind}: {out} {err}"
        assert out.startswith(f"{kind}: 20")
    for index, kind in enumerate(kinds):
        events = kent_server.events(project=10 + index)
        assert events, kind
        for event in events:
            assert not re.search(r"item, \d+ bytes", event.summary), (kind, event)
            assert event.status < 300 and event.error is None, (kind, event)


def test_send_list_dsn_and_failures(kent_server):
    listed = kent_cli("send", "--list").stdout
    assert [line.split()[0] for line in listed.splitlines()] == list(kent.SAMPLE_KINDS)
    kent_cli("send", "message", "--dsn", kent_server.dsn(23, key=CLEAN_KEY))
    [event] = kent_server.wait_for(1, project=23)
    assert event.auth["sentry_key"] == CLEAN_KEY and event.type == "event"
    assert not event.warnings  # framed as an SDK frames it
    done = kent_cli("send", "nope", "--url", kent_server.url, check=False)
    assert done.returncode != 0 and "unknown kind 'nope'" in done.stderr
    kent_server.add_fault(status=429, count=1)
    done = kent_cli("send", "error", "--url", kent_server.url, check=False)
    assert done.returncode == 1 and done.stdout.startswith("error: 429")
    done = kent_cli("send", "error", "--dsn", "not a dsn", check=False)
    assert done.returncode == 1 and "not a DSN" in done.stderr


def test_send_to_nobody_exits_1():
    with kent.KentServer() as server:
        url = server.url
    done = kent_cli("send", "message", "--url", url, "--timeout", "5", check=False)
    assert done.returncode == 1 and "no answer" in done.stdout


def test_send_takes_underscores_for_hyphens(kent_server):
    done = kent_cli("send", "check_in", "--url", kent_server.url)
    assert ": 200" in done.stdout or ": 202" in done.stdout, done.stdout
    [event] = kent_server.wait_for(1, type="check_in")
    assert event.summary == "check-in nightly-report: ok (1.25 s)"


@pytest.mark.parametrize(
    "settings", [{"strict": True}, {"require_keys": [CLEAN_KEY, "other"]}]
)
def test_send_with_url_uses_a_key_kent_accepts(settings):
    with kent.KentServer(**settings) as server:
        done = kent_cli("send", "message", "--url", server.url)
        assert ": 200" in done.stdout, done.stdout
        [event] = server.wait_for(1)
    assert event.auth["sentry_key"] == server.kent.dsn_key != "public"
