"""Real Python SDKs (sentry-sdk 2.x and 1.x, raven) against a running Kent.

Every SDK runs in a subprocess (tests/apps/*.py) so that ``sentry_sdk.init``
never leaves a client, hooks or threads in the pytest process. Each test
asserts on what Kent stored, not only on the answer the SDK got.
"""

import base64
import json

import pytest
from helpers import (
    CLEAN_KEY,
    DEPS,
    NO_BROTLI,
    SDK1,
    api_event,
    assert_clean,
    get_json,
    run_app,
)

WITH_BROTLI = str(DEPS / "brotli")


def run_scenario(server, scenario, arg=None, project=1, pythonpath=NO_BROTLI):
    dsn = server.dsn(project, key=CLEAN_KEY)
    args = [dsn, scenario] + ([arg] if arg is not None else [])
    return run_app("sdk_app.py", *args, pythonpath=pythonpath)


# -- content encoding ---------------------------------------------------------


def test_sdk2_without_brotli_sends_gzip(kent_server):
    out = run_scenario(kent_server, "exception", pythonpath=NO_BROTLI)
    [event] = kent_server.wait_for(1, type="event")
    assert event.request["content_encoding"] == "gzip"
    assert event.request["decoded_size"] > event.request["size"]
    assert event.event_id == out["event_ids"][0]
    assert_clean(event)


def test_sdk2_with_brotli_sends_br_and_decodes_identically(kent_server):
    run_scenario(kent_server, "exception", pythonpath=NO_BROTLI)
    run_scenario(kent_server, "exception", pythonpath=WITH_BROTLI)
    gzip_event, br_event = kent_server.wait_for(2, type="event")
    assert gzip_event.request["content_encoding"] == "gzip"
    assert br_event.request["content_encoding"] == "br"
    assert_clean(br_event)
    assert comparable(br_event.body) == comparable(gzip_event.body)


def comparable(body):
    """An event body without what differs between two runs."""
    volatile = {"event_id", "timestamp", "contexts", "modules", "extra"}
    return {k: v for k, v in body.items() if k not in volatile}


# -- errors -------------------------------------------------------------------


def test_message(kent_server):
    out = run_scenario(kent_server, "message", "a plain message")
    [event] = kent_server.wait_for(1, type="event")
    assert event.body["message"] == "a plain message"
    assert event.body["level"] == "info"
    assert event.summary == "a plain message"
    assert event.event_id == out["event_ids"][0]
    assert event.body["release"] == "kent-tests@1.0.0"
    assert_clean(event)


def test_exception_with_frames_and_vars(kent_server):
    run_scenario(kent_server, "exception")
    [event] = kent_server.wait_for(1, type="event")
    [exception] = event.body["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert exception["value"] == "bad value 21"
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "_compute"
    assert frame["filename"].endswith("sdk_app.py")
    assert frame["vars"]["number"] == "21"
    assert frame["vars"]["answer"] == "42"
    assert event.summary == "ValueError: bad value 21"
    assert_clean(event)


def test_before_send_scrubbing_reaches_the_wire(kent_server):
    run_scenario(kent_server, "scrub")
    [event] = kent_server.wait_for(1, type="event")
    assert event.body["extra"]["customer_note"] == "card code [scrubbed] given"
    assert b"hunter2" not in event.raw
    raw = kent_server.store.snapshot()
    assert all(b"hunter2" not in e.raw for e in raw)
    assert "hunter2" not in json.dumps(api_event(kent_server, event.id))
    assert_clean(event)


def test_breadcrumbs_after_before_breadcrumb(kent_server):
    run_scenario(kent_server, "breadcrumbs")
    [event] = kent_server.wait_for(1, type="event")
    crumbs = event.body["breadcrumbs"]["values"]
    assert [c["message"] for c in crumbs] == ["user logged in", "item added"]
    assert crumbs[1]["category"] == "cart"
    assert crumbs[1]["data"] == {"n": 3}
    assert "drop me" not in event.raw.decode()
    assert_clean(event)


# -- other item types -----------------------------------------------------------


def test_transaction_with_spans(kent_server):
    out = run_scenario(kent_server, "transaction")
    [event] = kent_server.wait_for(1, type="transaction")
    assert event.body["transaction"] == "nightly-report"
    assert event.body["contexts"]["trace"]["op"] == "task"
    assert event.body["contexts"]["trace"]["trace_id"] == out["event_ids"][0]
    spans = event.body["spans"]
    assert sorted(s["description"] for s in spans) == ["load rows", "render pdf"]
    assert {s["op"] for s in spans} == {"db", "render"}
    assert event.envelope_header["trace"]["trace_id"] == out["event_ids"][0]
    assert "nightly-report" in event.summary
    assert_clean(event)


def test_attachments_are_siblings_of_their_event(kent_server):
    out = run_scenario(kent_server, "attachment")
    stored = kent_server.wait_for(3)
    [event] = [e for e in stored if e.type == "event"]
    attachments = {e.header["filename"]: e for e in stored if e.type == "attachment"}
    assert set(attachments) == {"note.txt", "app.log"}
    assert attachments["note.txt"].raw == b"hello attachment"
    assert attachments["app.log"].raw == b"line 1\nline 2\n\x00\xff binary tail"
    for attachment in attachments.values():
        assert attachment.request_id == event.request_id
        assert attachment.event_id == event.event_id == out["event_ids"][0]
        assert_clean(attachment)
    assert "app.log" in attachments["app.log"].summary
    assert set(kent_server.store.siblings(event)) == set(attachments.values())


def test_attachment_bytes_through_the_http_api(kent_server):
    out = run_scenario(kent_server, "attachment")
    stored = kent_server.wait_for(3)
    log = next(
        e
        for e in stored
        if e.type == "attachment" and e.header["filename"] == "app.log"
    )
    by_sdk_id = api_event(kent_server, out["event_ids"][0])
    assert by_sdk_id["type"] == "event"
    assert by_sdk_id["payload"]["body"]["message"] == "with attachments"
    value = api_event(kent_server, log.id)
    assert value["type"] == "attachment"
    assert value["payload"]["body_encoding"] == "base64"
    assert base64.b64decode(value["payload"]["body"]) == log.raw


def test_session_release_health(kent_server):
    run_scenario(kent_server, "session")
    [session] = kent_server.wait_for(1, type="session")
    assert session.body["attrs"]["release"] == "kent-tests@1.0.0"
    assert session.body["status"] == "exited"
    assert "exited" in session.summary
    assert "kent-tests@1.0.0" in session.summary
    assert_clean(session)


def test_check_in(kent_server):
    out = run_scenario(kent_server, "checkin")
    [check_in] = kent_server.wait_for(1, type="check_in")
    assert check_in.body["monitor_slug"] == "nightly-job"
    assert check_in.body["status"] == "ok"
    assert check_in.body["check_in_id"] == out["event_ids"][0]
    assert "nightly-job" in check_in.summary
    assert_clean(check_in)


def test_logs(kent_server):
    run_scenario(kent_server, "logs")
    [log] = kent_server.wait_for(1, type="log")
    [record] = log.body["items"]
    assert record["body"] == "order 4711 shipped"
    assert record["level"] == "info"
    template = record["attributes"]["sentry.message.template"]["value"]
    assert template == "order {order_id} shipped"
    assert "order 4711 shipped" in log.summary
    assert_clean(log)


def test_profile_chunk_from_continuous_profiling(kent_server):
    run_scenario(kent_server, "profile")
    [chunk] = kent_server.wait_for(1, type="profile_chunk")
    [transaction] = kent_server.wait_for(1, type="transaction")
    assert chunk.header["platform"] == "python"
    assert chunk.body["platform"] == "python"
    assert len(chunk.body["profile"]["samples"]) > 0
    profiler_id = transaction.body["contexts"]["profile"]["profiler_id"]
    assert chunk.body["profiler_id"] == profiler_id
    assert chunk.summary.startswith("profile (python, ")
    assert transaction.body["transaction"] == "profiled-work"
    assert_clean(chunk)


def test_client_report_for_a_dropped_event(kent_server):
    out = run_scenario(kent_server, "client_report")
    [report] = kent_server.wait_for(1, type="client_report")
    [event] = kent_server.events(type="event")
    assert event.event_id == out["event_ids"][0]
    assert event.body["message"] == "keep this one"
    discarded = report.body["discarded_events"]
    assert {"reason": "before_send", "category": "error", "quantity": 1} in discarded
    assert "before_send" in report.summary
    assert_clean(report)


# -- projects and limits ---------------------------------------------------------


def test_projects_land_apart(kent_server):
    run_scenario(kent_server, "message", "for project one", project=1)
    run_scenario(kent_server, "message", "for project two", project=2)
    kent_server.wait_for(2, type="event")
    [one] = kent_server.events(project=1)
    [two] = kent_server.events(project=2)
    assert one.body["message"] == "for project one"
    assert two.body["message"] == "for project two"
    status, value = get_json(kent_server.url, "/api/eventlist/?project=2")
    assert status == 200
    assert [e["summary"] for e in value["events"]] == ["for project two"]


def test_more_than_max_events_keeps_the_newest(kent_server):
    out = run_scenario(kent_server, "many", "150")
    assert len(out["event_ids"]) == 150
    # A wait counts kept events: the first 50 are gone, wait for the last one.
    kent_server.wait_for(1, fields={"message": "message 149"})
    kept = kent_server.events()
    assert len(kept) == 100
    assert [e.body["message"] for e in kept] == [
        f"message {n:03d}" for n in range(50, 150)
    ]
    assert [e.event_id for e in kept] == out["event_ids"][50:]
    status, value = get_json(kent_server.url, "/api/eventlist/")
    assert (status, value["kept"], value["dropped"]) == (200, 100, 50)
    assert value["received"] == 150


# -- other clients ----------------------------------------------------------------


def test_raven_store_endpoint(kent_server):
    dsn = kent_server.dsn(1, key=f"{CLEAN_KEY}:a-secret")
    out = run_app("raven_app.py", dsn)
    message, error = kent_server.wait_for(2, type="event")
    assert [message.event_id, error.event_id] == out["event_ids"]
    for event in (message, error):
        assert event.request["endpoint"] == "store"
        assert event.request["content_encoding"] == "deflate"
        assert event.sdk == {"name": "raven-python", "version": "6.10.0"}
        assert event.auth["sentry_version"] == "6"
        assert (event.status, event.warnings) == (200, [])
    assert message.summary == "hello from raven"
    assert message.body["extra"]["attempt"] == "3"  # raven sends repr()s
    assert error.summary == "KeyError: 'missing-key'"
    assert error.body["exception"]["values"][0]["type"] == "KeyError"


@pytest.mark.parametrize("scenario", ["message", "exception"])
def test_sdk1_errors_use_the_store_endpoint(kent_server, scenario):
    out = run_scenario(kent_server, scenario, pythonpath=SDK1)
    assert out["sdk_version"] == "1.45.1"
    [event] = kent_server.wait_for(1, type="event")
    assert event.request["endpoint"] == "store"
    assert event.request["content_encoding"] == "gzip"
    assert event.event_id == out["event_ids"][0]
    assert_clean(event, version="1.45.1")


def test_sdk1_transaction_uses_an_envelope(kent_server):
    out = run_scenario(kent_server, "transaction", pythonpath=SDK1)
    [event] = kent_server.wait_for(1, type="transaction")
    assert event.request["endpoint"] == "envelope"
    assert event.body["transaction"] == "nightly-report"
    assert sorted(s["description"] for s in event.body["spans"]) == [
        "load rows",
        "render pdf",
    ]
    assert event.envelope_header["trace"]["trace_id"] == out["event_ids"][0]
    assert_clean(event, version="1.45.1")
