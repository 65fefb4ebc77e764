"""Protocol warnings: what Kent accepts but Relay would reject or alter.

Each warning code has a request that triggers it; the warning must show in
``GET /api/event/<id>`` with a message that says what Relay does. A clean
payload from a real SDK gets none, and ``--strict`` answers Relay's status
while still storing the item with that status.
"""

import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    APPS,
    AUTH_HEADER,
    CLEAN_KEY,
    DASHED_EVENT_ID,
    EVENT_ID,
    NO_BROTLI,
    envelope,
    event_item,
    get_json,
    http_request,
    only_event,
)

import kent

ENVELOPE_PATH = "/api/1/envelope/"
OTHER_ID = "0123456789abcdef0123456789abcdef"


def sent_at(seconds_from_now=0):
    when = datetime.datetime.now(datetime.timezone.utc)
    return (when + datetime.timedelta(seconds=seconds_from_now)).isoformat()


def header(**changes):
    """A clean envelope header, with keys changed (None removes a key)."""
    value = {"event_id": EVENT_ID, "sent_at": sent_at()}
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def clean_envelope(*items, **header_changes):
    return envelope(*(items or [event_item()]), header=header(**header_changes))


def auth(value=AUTH_HEADER):
    return {"X-Sentry-Auth": value}


def log_container(declared, records):
    item_header = {
        "type": "log",
        "item_count": declared,
        "content_type": "application/vnd.sentry.items.log+json",
    }
    items = [{"level": "info", "body": f"line {n}"} for n in range(records)]
    return item_header, {"items": items}


CSP_REPORT = {
    "csp-report": {
        "document-uri": "https://example.com/",
        "violated-directive": "img-src",
        "blocked-uri": "https://evil.example/x.png",
    }
}

# code -> (path, body, headers, words of the message); the body is bytes.
CASES = {
    "crlf": (
        ENVELOPE_PATH,
        clean_envelope().replace(b"\n", b"\r\n", 1),
        auth(),
        "Relay rejects",
    ),
    "length-mismatch": (
        ENVELOPE_PATH,
        envelope(({"type": "event", "length": 3}, {"message": "hi"}), header=header()),
        auth(),
        "Relay rejects",
    ),
    "missing-type": (
        ENVELOPE_PATH,
        envelope(({}, {"message": "hi"}), header=header()),
        auth(),
        "Relay rejects",
    ),
    "trailing-newlines": (
        ENVELOPE_PATH,
        clean_envelope() + b"\n",
        auth(),
        "Relay answers 400",
    ),
    "no-auth": (ENVELOPE_PATH, clean_envelope(), {}, "Relay answers 401"),
    "public-key": (
        ENVELOPE_PATH,
        clean_envelope(),
        auth("Sentry sentry_key=abc123, sentry_version=7"),
        "Relay answers 400",
    ),
    "protocol-version": (
        ENVELOPE_PATH,
        clean_envelope(),
        auth(f"Sentry sentry_key={CLEAN_KEY}, sentry_version=8"),
        "Relay accepts 7 or lower",
    ),
    "multiple-auth": (
        f"{ENVELOPE_PATH}?sentry_key={CLEAN_KEY}",
        clean_envelope(),
        auth(),
        "Relay answers 401",
    ),
    "bad-sent-at": (
        ENVELOPE_PATH,
        clean_envelope(sent_at="yesterday at noon"),
        auth(),
        "Relay answers 400",
    ),
    "clock-drift": (
        ENVELOPE_PATH,
        clean_envelope(sent_at=sent_at(6 * 3600)),  # made at import: far ahead
        auth(),
        "Relay will shift the event's timestamps",
    ),
    "bad-event-id": (
        ENVELOPE_PATH,
        clean_envelope(event_id="not-a-uuid"),
        auth(),
        "Relay answers 400",
    ),
    "event-id-mismatch": (
        ENVELOPE_PATH,
        clean_envelope(event_item({"event_id": OTHER_ID, "message": "hi"})),
        auth(),
        "Relay keeps the envelope's",
    ),
    "several-events": (
        ENVELOPE_PATH,
        clean_envelope(event_item(), event_item()),
        auth(),
        "Relay allows one",
    ),
    "too-large": (
        ENVELOPE_PATH,
        clean_envelope(
            event_item({"message": "big", "extra": {"x": "y" * (1100 * 1024)}})
        ),
        auth(),
        "Relay answers 413",
    ),
    "item-count": (
        ENVELOPE_PATH,
        clean_envelope(log_container(3, 2), event_id=None),
        auth(),
        "Relay rejects",
    ),
    "dsn-mismatch": (
        ENVELOPE_PATH,
        clean_envelope(dsn=f"http://{CLEAN_KEY}@127.0.0.1/2"),
        auth(),
        "Relay answers 400",
    ),
    "content-type": (
        f"/api/1/security/?sentry_key={CLEAN_KEY}",
        json.dumps(CSP_REPORT).encode(),
        {"Content-Type": "text/plain"},
        "Relay answers 415",
    ),
}


def send_case(server, code):
    """POST the request of CASES[code]; (status, the stored events)."""
    path, body, headers, _ = CASES[code]
    status, _, _ = http_request(server.url, "POST", path, body, headers)
    return status, server.wait_for(1)


def api_warnings(server, event):
    ident = event if isinstance(event, str) else event.id
    status, value = get_json(server.url, f"/api/event/{ident}")
    assert status == 200, value
    return value


def test_every_warning_code_in_kent_has_a_case():
    source = Path(kent.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'make_warning\(\s*"([a-z-]+)"', source))
    assert codes == set(CASES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_warning_is_shown_with_relays_behaviour(kent_server, code):
    status, events = send_case(kent_server, code)
    assert status == 200  # lenient: Kent stores and accepts
    value = api_warnings(kent_server, events[0])
    assert code in value["warning_codes"], value["warnings"]
    assert value["status"] == 200
    [warning] = [w for w in value["warnings"] if w["code"] == code]
    assert "Relay" in warning["message"], warning
    assert CASES[code][3] in warning["message"], warning


def test_warning_codes_in_the_event_list(kent_server):
    send_case(kent_server, "crlf")
    status, value = get_json(kent_server.url, "/api/eventlist/")
    assert status == 200
    assert [e["warnings"] for e in value["events"]] == [["crlf"]]


def test_event_id_mismatch_keeps_the_envelope_id(kent_server):
    send_case(kent_server, "event-id-mismatch")
    [event] = kent_server.events()
    assert event.event_id == EVENT_ID
    assert api_warnings(kent_server, DASHED_EVENT_ID)["event_id"] == event.id


def test_several_events_stores_every_item(kent_server):
    send_case(kent_server, "several-events")
    events = kent_server.wait_for(2)
    assert [e.type for e in events] == ["event", "event"]
    for event in events:
        assert "several-events" in [w["code"] for w in event.warnings]


@pytest.mark.parametrize("key", [CLEAN_KEY, "public"])
def test_clean_sdk_payload_has_no_warning(kent_server, key):
    """Real sentry-sdk sends sent_at and no surprises, with a 32-char key or
    the key of the DSN Kent prints (it reaches no Relay)."""
    env = {**os.environ, "PYTHONPATH": NO_BROTLI}
    dsn = kent_server.dsn(1, key=key)
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            str(APPS / "sdk_app.py"),
            dsn,
            "exception",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [event] = kent_server.wait_for(1, type="event")
    value = api_warnings(kent_server, event)
    assert "sent_at" in value["payload"]["envelope_header"]
    assert value["warnings"] == []
    assert value["warning_codes"] == []


# What Relay neither rejects nor changes draws no warning. (Every real SDK's
# defaults are checked where the SDK runs: test_clients, test_languages,
# test_protocol_clients.)
NOT_WARNED = {  # made when the test runs: a long suite must not age them
    # sentry-native and sentry-cli send no sent_at: Relay corrects no drift
    "no sent_at": lambda: clean_envelope(sent_at=None),
    # Relay shifts timestamps only from 55 minutes of drift on
    "sent_at 50 min ahead": lambda: clean_envelope(sent_at=sent_at(50 * 60)),
    "sent_at 50 min behind": lambda: clean_envelope(sent_at=sent_at(-50 * 60)),
    # sentry-ruby sends whole seconds, Go nanoseconds
    "sent_at in whole seconds": lambda: clean_envelope(
        sent_at=datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    ),
}


@pytest.mark.parametrize("case", sorted(NOT_WARNED))
def test_what_relay_leaves_alone_draws_no_warning(kent_server, case):
    status, _, _ = http_request(
        kent_server.url, "POST", ENVELOPE_PATH, NOT_WARNED[case](), auth()
    )
    [event] = kent_server.wait_for(1)
    assert (status, event.warnings) == (200, [])


def test_clock_drift_either_way_from_55_minutes():
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    for minutes, way in ((56, "ahead of"), (-120, "behind")):
        header = {"sent_at": sent_at(minutes * 60)}
        [warning] = kent.check_envelope(header, [], 10, 1, {}, now)
        assert warning["code"] == "clock-drift"
        assert f"{abs(minutes)} min {way}" in warning["message"]
        assert warning["relay_status"] is None


STRICT_STATUSES = {
    "crlf": 400,
    "no-auth": 401,
    "multiple-auth": 401,
    "public-key": 400,
    "bad-event-id": 400,
    "too-large": 413,
    "item-count": 400,
    "content-type": 415,
}


@pytest.mark.parametrize("code", sorted(STRICT_STATUSES))
def test_strict_answers_relays_status_and_still_stores(code):
    path, body, headers, _ = CASES[code]
    with kent.KentServer(strict=True) as server:
        status, _, answer = http_request(server.url, "POST", path, body, headers)
        [event] = server.wait_for(1)
    assert status == STRICT_STATUSES[code]
    assert json.loads(answer)["error"].startswith("--strict: ")
    assert event.status == status
    assert code in [w["code"] for w in event.warnings]
    assert event.raw  # the item itself is kept


def test_strict_refuses_the_public_key_as_relay_does_and_shows_another_dsn():
    with kent.KentServer(strict=True) as server:
        data, headers = clean_envelope(), auth("Sentry sentry_key=public")
        status, _, answer = http_request(
            server.url, "POST", ENVELOPE_PATH, data, headers
        )
        [event] = server.wait_for(1)
        dsn_key = server.dsn(1).split("//")[1].split("@")[0]
    assert status == 400 and "bad sentry DSN public key" in json.loads(answer)["error"]
    assert event.status == 400
    assert [w["code"] for w in event.warnings] == ["public-key"]  # the reason
    assert len(dsn_key) == 32


@pytest.mark.parametrize("code", ["clock-drift", "event-id-mismatch", "several-events"])
def test_strict_accepts_what_relay_only_adjusts(code):
    path, body, headers, _ = CASES[code]
    with kent.KentServer(strict=True) as server:
        status, _, _ = http_request(server.url, "POST", path, body, headers)
        event, *others = server.wait_for(1)
    assert (status, event.status) == (200, 200)
    assert code in [w["code"] for w in event.warnings]
    assert [e.status for e in others] == [200] * len(others)


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


def test_kent_accepts_a_final_payload_ending_in_a_newline(sdk_server):
    """With an explicit ``length`` a payload may end in a newline: the envelope
    then ends in two and is still valid for Relay (a text attachment from
    sentry-python does); no trailing-newlines warning."""
    data = envelope(({"type": "attachment", "filename": "a.txt"}, b"line\n"))
    assert data.endswith(b"line\n\n")
    assert kent.parse_envelope(data)[2] == []
    assert only_event(sdk_server, "canary", "attachment").warnings == []
