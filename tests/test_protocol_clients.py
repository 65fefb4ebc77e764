"""Every SDK, every endpoint: real non-Python clients and hand-made requests.

Real clients: @sentry/node and @sentry/browser (headless Chromium, the page
served from another loopback port, so every post is cross-origin), the
sentry-cli binary, an OpenTelemetry OTLP exporter. Native crash uploads
(sentry-native, Crashpad) and the other endpoints Relay has are built by hand
as those clients send them. Every test asserts on what Kent stored.
"""

import base64
import datetime
import gzip
import json
import re
import urllib.parse
import uuid

import pytest
from helpers import (
    CLEAN_KEY,
    EVENT_ID,
    FAKE_MINIDUMP,
    api_event,
    dump_file,
    envelope,
    event_item,
    get_json,
    http_request,
    multipart,
    require_module,
    run_node,
    run_page,
    run_sentry_cli,
)

import kent

QUERY_AUTH = f"sentry_key={CLEAN_KEY}&sentry_version=7"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def clean_header(**extra):
    """An envelope header that raises no warning by itself."""
    return dict({"event_id": EVENT_ID, "sent_at": now_iso()}, **extra)


# -- @sentry/node -----------------------------------------------------------------


def assert_node_request(event, encoding=None):
    """What every @sentry/node request looks like: chunked, query auth."""
    assert event.request["endpoint"] == "envelope"
    assert event.request["transfer_encoding"] == "chunked"
    assert event.request["content_encoding"] == encoding
    assert event.auth["source"] == "query"
    assert event.auth["sentry_key"] == CLEAN_KEY
    assert event.sdk["name"] == "sentry.javascript.node"
    assert (event.status, event.error) == (200, None)
    assert event.warnings == [], event.warnings  # a real SDK's defaults


def test_node_exception(kent_server):
    out = run_node(kent_server, "exception")
    [event] = kent_server.wait_for(1, type="event")
    assert_node_request(event)
    assert event.event_id == out["event_ids"][0]
    assert event.summary == "TypeError: Cannot read properties of null (reading 'boom')"
    frames = event.body["exception"]["values"][-1]["stacktrace"]["frames"]
    assert any(f.get("filename", "").endswith("node_scenario.mjs") for f in frames)
    crumbs = [c.get("message") for c in event.body["breadcrumbs"]]
    assert "about to fail" in crumbs
    assert event.warnings == []


def test_node_message_without_exception_type_is_summarized(kent_server):
    run_node(kent_server, "message")
    [event] = kent_server.wait_for(1, type="event")
    assert_node_request(event)
    assert event.body["level"] == "warning"
    # The SDK attaches a synthetic exception with a stack trace but no type.
    synthetic = event.body["exception"]["values"][-1]
    assert "type" not in synthetic
    assert synthetic["stacktrace"]["frames"]
    assert event.summary == "hello from node"


def test_node_transaction_with_child_spans(kent_server):
    out = run_node(kent_server, "spans")
    [event] = kent_server.wait_for(1, type="transaction")
    assert_node_request(event)
    assert event.body["transaction"] == "kent-transaction"
    assert event.body["contexts"]["trace"]["trace_id"] == out["trace_id"]
    assert sorted(s["description"] for s in event.body["spans"]) == [
        "child-one",
        "child-two",
        "grandchild",
    ]
    assert event.summary.startswith("transaction kent-transaction op=task 3 spans")


def test_node_streamed_spans_container(kent_server):
    out = run_node(kent_server, "spans-stream")
    [event] = kent_server.wait_for(1, type="span")
    assert_node_request(event)
    assert event.header["item_count"] == 4
    names = sorted(span["name"] for span in event.body["items"])
    assert names == ["child-one", "child-two", "grandchild", "kent-transaction"]
    assert {span["trace_id"] for span in event.body["items"]} == {out["trace_id"]}
    assert event.summary.startswith("4 spans: ")
    assert event.warnings == []


def test_node_large_event_is_gzipped_and_chunked(kent_server):
    run_node(kent_server, "large")
    [event] = kent_server.wait_for(1, type="event")
    assert_node_request(event, encoding="gzip")
    assert event.request["decoded_size"] > 32 * 1024 > event.request["size"]
    assert len(event.body["extra"]["blob"]) == 600
    assert event.summary == "large event"


def test_node_feedback(kent_server):
    out = run_node(kent_server, "feedback")
    [event] = kent_server.wait_for(1, type="feedback")
    assert_node_request(event)
    assert event.event_id == out["event_ids"][0]
    assert event.body["contexts"]["feedback"]["name"] == "Test User"
    assert event.summary == "feedback: Kent works! (user@example.com)"


# -- @sentry/browser in headless Chromium --------------------------------------------


def test_browser_exception_cross_origin_without_network_error(
    kent_server, pages, plain_page
):
    dsn = kent_server.dsn(42, CLEAN_KEY)
    run_page(plain_page, pages, dsn=dsn, scenario="exception")
    # session, event, errored session: the page records a send a moment after
    # Sentry.flush() resolves, so the last one may still be on its way
    plain_page.wait_for_function("window.__result.sends.length >= 3", timeout=10000)
    result = plain_page.evaluate("window.__result")
    assert result["networkErrors"] == []  # fetch saw Kent's CORS headers
    assert result["sends"] == [{"status": 200}] * 3
    plain_page.goto("about:blank")  # leaving the page is when client reports go out
    [event] = kent_server.wait_for(1, type="event")
    assert event.event_id == result["eventIds"][0]
    assert event.summary == "TypeError: Cannot read properties of null (reading 'boom')"
    assert event.request["headers"]["Origin"] == pages
    assert event.sdk["name"] == "sentry.javascript.browser"
    assert (event.auth["source"], event.warnings) == ("query", [])
    for session in kent_server.wait_for(2, type="session"):
        assert session.warnings == [], session.warnings
    network_errors = kent_server.events(type="client_report", q="network_error")
    assert network_errors == []


def test_browser_tunnel_stores_under_the_dsn_project(kent_server, pages, plain_page):
    dsn = kent_server.dsn(42, CLEAN_KEY)
    tunnel = f"{kent_server.url}/tunnel/?via=app"
    result = run_page(plain_page, pages, dsn=dsn, scenario="tunnel", tunnel=tunnel)
    assert result["networkErrors"] == []
    [event] = kent_server.wait_for(1, type="event")
    assert event.request["endpoint"] == "tunnel"
    assert event.request["path"] == "/tunnel/?via=app"
    assert event.project_id == 42
    assert event.auth == {"sentry_key": CLEAN_KEY, "source": "envelope-dsn"}
    assert event.envelope_header["dsn"] == dsn
    assert event.event_id == result["eventIds"][0]
    assert event.warnings == []


def test_browser_session_replay_recording(kent_server, pages, plain_page):
    dsn = kent_server.dsn(42, CLEAN_KEY)
    result = run_page(plain_page, pages, dsn=dsn, scenario="replay")
    assert result["networkErrors"] == []
    [recording] = kent_server.wait_for(1, type="replay_recording")
    [replay_event] = kent_server.wait_for(1, type="replay_event")
    assert recording.error is None
    assert (recording.warnings, replay_event.warnings) == ([], [])
    assert recording.body["compressed"] is True
    assert recording.body["segment"] == {"segment_id": 0}
    rrweb = recording.body["events"]
    assert isinstance(rrweb, list) and rrweb
    assert 2 in {e["type"] for e in rrweb}  # an rrweb full snapshot
    assert recording.raw.split(b"\n", 1)[1][:2] == b"\x78\x9c"  # zlib stream
    assert recording.event_id == uuid.UUID(replay_event.body["replay_id"]).hex
    assert recording.summary == f"replay recording segment 0: {len(rrweb)} rrweb events"
    api = api_event(kent_server, recording.id)
    assert api["payload"]["body_encoding"] == "json"
    assert api["payload"]["body"]["compressed"] is True


def test_browser_csp_report_from_a_response_header(kent_server, pages, plain_page):
    report_uri = f"{kent_server.url}/api/42/security/?sentry_key={CLEAN_KEY}"
    plain_page.goto(
        f"{pages}/csp.html?" + urllib.parse.urlencode({"report": report_uri})
    )
    reports = kent_server.wait_for(2, type="security")
    summaries = sorted(r.title for r in reports)
    assert summaries[1].startswith("csp-report: script-src-elem blocked inline")
    [event] = [r for r in reports if "img-src" in r.title]
    assert event.project_id == 42
    assert event.request["content_type"] == "application/csp-report"
    assert event.request["headers"]["Origin"] == pages
    report = event.body["csp-report"]
    assert report["blocked-uri"] == f"{pages}/blocked.png"
    assert event.title == f"csp-report: img-src blocked {pages}/blocked.png"
    assert event.summary == "csp-report: img-src"  # Kent 2.x
    assert (event.auth["source"], event.warnings) == ("query", [])


# -- sentry-cli -----------------------------------------------------------------------


def test_sentry_cli_send_event(kent_server):
    out = run_sentry_cli(kent_server, "send-event", "-m", "hello from sentry-cli")
    printed_id = re.search(r"Event id: ([0-9a-f-]{36})", out).group(1)
    [event] = kent_server.wait_for(1, type="event")
    assert event.event_id == uuid.UUID(printed_id).hex  # it sends it dashed
    assert event.envelope_header["event_id"] == printed_id
    assert event.summary == "hello from sentry-cli"
    assert (event.project_id, event.status) == (7, 200)
    assert event.auth["source"] == "x-sentry-auth"
    assert event.auth["sentry_client"].startswith("sentry-cli/")
    assert event.warnings == [], event.warnings  # it sends no sent_at: fine


@pytest.mark.parametrize("raw", [False, True], ids=["parsed", "raw"])
def test_sentry_cli_send_envelope(kent_server, tmp_path, raw):
    body = {"event_id": EVENT_ID, "message": "from an envelope file"}
    data = envelope(event_item(body), header=clean_header())
    path = tmp_path / "event.envelope"
    path.write_bytes(data)
    run_sentry_cli(kent_server, "send-envelope", *(["--raw"] if raw else []), path)
    [event] = kent_server.wait_for(1, type="event")
    assert event.event_id == EVENT_ID
    assert event.summary == "from an envelope file"
    assert event.request["endpoint"] == "envelope"
    assert event.warnings == []
    if raw:
        assert event.raw == json.dumps(body, separators=(",", ":")).encode()


# -- native crash uploads (sentry-native, Crashpad, Breakpad) ------------------------


def post_minidump(server, body, content_type, project=3):
    path = f"/api/{project}/minidump/?sentry_key={CLEAN_KEY}"
    return http_request(server.url, "POST", path, body, {"Content-Type": content_type})


def assert_text_uuid(status, headers, answer):
    """Relay's minidump answer: 200 text/plain, a dashed UUID; its hex."""
    assert status == 200, answer
    assert headers["content-type"].startswith("text/plain")
    text = answer.decode().strip()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text
    )
    return uuid.UUID(text).hex


def test_minidump_bracket_fields_and_extra_attachment(kent_server):
    body, content_type = multipart(
        fields=[("sentry[release]", "native@2.0"), ("sentry[tags][shard]", "eu-1")],
        files=[dump_file(), ("log", "app.log", "text/plain", b"last words\n")],
    )
    event_id = assert_text_uuid(*post_minidump(kent_server, body, content_type))
    event, dump, log = kent_server.wait_for(3, project=3)
    assert (event.type, event.event_id, event.status) == ("event", event_id, 200)
    assert event.body["release"] == "native@2.0"
    assert event.body["tags"] == {"shard": "eu-1"}
    assert event.header["kent_source"] == "crash upload form"
    assert event.summary == "native crash upload, release native@2.0"
    assert dump.header["attachment_type"] == "event.minidump"
    assert (dump.raw, dump.event_id) == (FAKE_MINIDUMP, event_id)
    assert log.header["attachment_type"] == "event.attachment"
    assert (log.header["filename"], log.raw) == ("app.log", b"last words\n")


def test_minidump_sentry_json_field_keeps_its_event_id(kent_server):
    sent = {"event_id": EVENT_ID, "release": "crashpad@1", "level": "fatal"}
    body, content_type = multipart(
        fields=[("sentry", json.dumps(sent))], files=[dump_file()]
    )
    event_id = assert_text_uuid(*post_minidump(kent_server, body, content_type))
    assert event_id == EVENT_ID
    event, dump = kent_server.wait_for(2, project=3)
    assert event.body["level"] == "fatal"
    assert event.body["release"] == "crashpad@1"
    assert api_event(kent_server, EVENT_ID)["type"] == "event"
    assert dump.raw == FAKE_MINIDUMP


def test_gzipped_minidump_is_inflated(kent_server):
    files = [dump_file(gzip.compress(FAKE_MINIDUMP), "crash.dmp.gz")]
    body, content_type = multipart(files=files)
    event_id = assert_text_uuid(*post_minidump(kent_server, body, content_type))
    _, dump = kent_server.wait_for(2, project=3)
    assert dump.raw == FAKE_MINIDUMP
    assert dump.header["filename"] == "crash.dmp"
    assert dump.event_id == event_id


def test_raw_minidump_body(kent_server):
    answer = post_minidump(kent_server, FAKE_MINIDUMP, "application/x-dmp")
    event_id = assert_text_uuid(*answer)
    _, dump = kent_server.wait_for(2, project=3)
    assert (dump.raw, dump.event_id) == (FAKE_MINIDUMP, event_id)


def test_minidump_without_mdmp_magic_is_400_and_kept(kent_server):
    body, content_type = multipart(files=[dump_file(b"not a dump at all")])
    status, _, answer = post_minidump(kent_server, body, content_type)
    assert status == 400
    assert "MDMP" in json.loads(answer)["error"]
    [error] = kent_server.wait_for(1, type="kent_error")
    assert error.status == 400
    assert error.request["endpoint"] == "minidump"
    assert b"not a dump at all" in error.raw


# -- other endpoints, by hand ----------------------------------------------------------


def test_attachments_endpoint_answers_201(kent_server):
    body, content_type = multipart(
        files=[("file", "notes.txt", "text/plain", b"attached later")]
    )
    path = f"/api/5/events/{EVENT_ID}/attachments/?{QUERY_AUTH}"
    status, _, answer = http_request(
        kent_server.url, "POST", path, body, {"Content-Type": content_type}
    )
    assert (status, answer) == (201, b"")
    [item] = kent_server.wait_for(1, type="attachment")
    assert (item.event_id, item.project_id) == (EVENT_ID, 5)
    assert item.raw == b"attached later"
    assert (
        item.summary == "attachment notes.txt (14 bytes, text/plain, event.attachment)"
    )


def test_nel_reports_one_item_each(kent_server):
    reports = [
        {
            "age": 0,
            "type": "network-error",
            "url": f"https://example.com/{n}",
            "body": {
                "type": "http.error",
                "status_code": 500 + n,
                "phase": "application",
            },
        }
        for n in range(2)
    ]
    status, _, answer = http_request(
        kent_server.url,
        "POST",
        f"/api/5/nel/?{QUERY_AUTH}",
        json.dumps(reports),
        {"Content-Type": "application/reports+json"},
    )
    assert (status, answer) == (200, b"")
    first, second = kent_server.wait_for(2, type="nel")
    assert first.summary == "NEL http.error: https://example.com/0 (status 500)"
    assert second.body["url"] == "https://example.com/1"


def test_cron_check_in_by_url_get(kent_server):
    path = f"/api/5/cron/nightly-backup/{CLEAN_KEY}/?status=ok&duration=2.5&environment=prod"
    status, _, answer = http_request(kent_server.url, "GET", path)
    assert (status, answer) == (202, b"")
    [check_in] = kent_server.wait_for(1, type="check_in")
    assert check_in.body["monitor_slug"] == "nightly-backup"
    assert (check_in.body["status"], check_in.body["duration"]) == ("ok", 2.5)
    assert check_in.body["environment"] == "prod"
    assert check_in.auth == {"sentry_key": CLEAN_KEY, "source": "path"}
    assert check_in.summary == "check-in nightly-backup: ok (2.50 s)"


def test_cron_check_in_by_url_post(kent_server):
    path = f"/api/5/cron/import-job/?status=in_progress&{QUERY_AUTH}"
    body = json.dumps(
        {"monitor_config": {"schedule": {"type": "crontab", "value": "0 * * * *"}}}
    )
    status, _, _ = http_request(kent_server.url, "POST", path, body)
    assert status == 202
    [check_in] = kent_server.wait_for(1, type="check_in")
    assert check_in.body["status"] == "in_progress"
    assert check_in.body["monitor_config"]["schedule"]["value"] == "0 * * * *"
    assert check_in.auth["source"] == "query"


OTLP_TRACES = {
    "resourceSpans": [
        {
            "resource": {"attributes": []},
            "scopeSpans": [
                {
                    "scope": {"name": "hand-made"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "GET /checkout",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                        }
                    ],
                }
            ],
        }
    ]
}
OTLP_LOGS = {
    "resourceLogs": [
        {
            "scopeLogs": [
                {
                    "logRecords": [
                        {"severityText": "INFO", "body": {"stringValue": "hi otel"}}
                    ]
                }
            ]
        }
    ]
}


def post_otlp(server, signal, body, content_type, prefix="integration/"):
    path = f"/api/6/{prefix}otlp/v1/{signal}"
    headers = {
        "Content-Type": content_type,
        "X-Sentry-Auth": f"sentry sentry_key={CLEAN_KEY}",
    }
    return http_request(server.url, "POST", path, body, headers)


@pytest.mark.parametrize(
    ("signal", "body", "summary"),
    [
        ("traces", OTLP_TRACES, "OTLP traces: 1 spans: GET /checkout"),
        ("logs", OTLP_LOGS, "OTLP logs: 1 logRecords: hi otel"),
    ],
)
def test_otlp_json_is_decoded(kent_server, signal, body, summary):
    status, _, _ = post_otlp(kent_server, signal, json.dumps(body), "application/json")
    assert status == 202
    [item] = kent_server.wait_for(1, type=f"otel_{signal}")
    assert item.body == body
    assert item.summary == summary
    assert item.auth["source"] == "x-sentry-auth"


def test_otlp_protobuf_is_kept_raw(kent_server):
    data = b"\n\x0b\n\x09protobuf!"
    status, _, _ = post_otlp(kent_server, "traces", data, "application/x-protobuf", "")
    assert status == 202
    [item] = kent_server.wait_for(1, type="otel_traces")
    assert (item.binary, item.raw) == (True, data)
    assert "protobuf" in item.summary
    assert api_event(kent_server, item.id)["payload"]["body_encoding"] == "base64"


def test_otlp_wrong_content_type_is_415(kent_server):
    status, _, answer = post_otlp(kent_server, "logs", b"hello", "text/plain")
    assert status == 415
    assert "application/x-protobuf" in json.loads(answer)["error"]
    [error] = kent_server.wait_for(1, type="kent_error")
    assert (error.status, error.raw) == (415, b"hello")


def test_opentelemetry_exporter_sends_protobuf(kent_server):
    require_module(
        "opentelemetry.exporter.otlp.proto.http",
        "tests/requirements.txt installs opentelemetry-exporter-otlp-proto-http",
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(
        endpoint=f"{kent_server.url}/api/42/integration/otlp/v1/traces",
        headers={"x-sentry-auth": f"sentry sentry_key={CLEAN_KEY}"},
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "kent-otel"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("kent-tests")
    with (
        tracer.start_as_current_span("otel-root"),
        tracer.start_as_current_span("otel-child"),
    ):
        pass
    provider.shutdown()  # flushes the batch in one request
    [item] = kent_server.wait_for(1, type="otel_traces")
    assert item.request["content_type"] == "application/x-protobuf"
    assert item.binary and len(item.raw) > 0
    for text in (b"otel-root", b"otel-child", b"kent-otel"):
        assert text in item.raw  # protobuf keeps strings as they are
    assert (
        item.summary
        == f"OTLP traces (protobuf, {len(item.raw)} bytes, kept as raw bytes)"
    )
    assert (item.status, item.auth["sentry_key"]) == (202, CLEAN_KEY)
    assert item.warnings == []


def test_unreal_crash_report_answers_text_uuid(kent_server):
    data = b"PK\x03\x04 fake UE4 crash zip"
    answer = http_request(kent_server.url, "POST", f"/api/8/unreal/{CLEAN_KEY}/", data)
    event_id = assert_text_uuid(*answer)
    [item] = kent_server.wait_for(1, type="attachment")
    assert (item.event_id, item.raw) == (event_id, data)
    assert item.header["attachment_type"] == "unreal.report"
    assert item.auth == {"sentry_key": CLEAN_KEY, "source": "path"}


def test_get_store_image_beacon(kent_server):
    event = {"message": "beacon event", "level": "info"}
    query = urllib.parse.urlencode({"sentry_data": json.dumps(event)})
    path = f"/api/9/store/?{QUERY_AUTH}&{query}"
    status, headers, answer = http_request(kent_server.url, "GET", path)
    assert status == 200
    assert headers["content-type"] == "image/gif"
    assert answer.startswith(b"GIF89a")
    [stored] = kent_server.wait_for(1, type="event")
    assert (stored.summary, stored.project_id) == ("beacon event", 9)
    assert stored.auth["source"] == "query"


@pytest.mark.parametrize(
    "path",
    [
        "/api/relay/healthcheck/ready/",
        "/api/relay/healthcheck/live/",
        "/api/0/relays/live/",
    ],
)
def test_health_checks(kent_server, path):
    assert get_json(kent_server.url, path) == (200, {"is_healthy": True})


def test_tus_upload_is_404_with_an_explanation(kent_server):
    status, _, answer = http_request(
        kent_server.url, "POST", "/api/1/upload/", b"x", {"Tus-Resumable": "1.0.0"}
    )
    assert status == 404
    assert "TUS" in json.loads(answer)["error"]


def test_tunnel_without_dsn_header_is_400(kent_server):
    data = envelope(event_item(), header=clean_header())
    status, _, answer = http_request(kent_server.url, "POST", "/tunnel/", data)
    assert status == 400
    assert "'dsn'" in json.loads(answer)["error"]
    [error] = kent_server.wait_for(1, type="kent_error")
    assert error.raw == data
    assert error.request["endpoint"] == "tunnel"


# -- auth from every place Relay reads it ---------------------------------------------

BASIC = base64.b64encode(f"{CLEAN_KEY}:".encode()).decode()
SENTRY_AUTH = f"Sentry sentry_key={CLEAN_KEY}, sentry_version=7"


@pytest.mark.parametrize(
    ("headers", "query", "source"),
    [
        ({"X-Sentry-Auth": SENTRY_AUTH}, "", "x-sentry-auth"),
        ({"Authorization": SENTRY_AUTH}, "", "authorization"),
        ({"Authorization": f"Basic {BASIC}"}, "", "basic"),
        ({}, f"?{QUERY_AUTH}", "query"),
    ],
)
def test_auth_source_is_recorded(kent_server, headers, query, source):
    data = envelope(event_item(), header=clean_header())
    status, _, _ = http_request(
        kent_server.url, "POST", f"/api/1/envelope/{query}", data, headers
    )
    assert status == 200
    [event] = kent_server.wait_for(1)
    assert (event.auth["source"], event.auth["sentry_key"]) == (source, CLEAN_KEY)
    assert event.warnings == []


def test_auth_from_the_envelope_dsn(kent_server):
    header = clean_header(dsn=kent_server.dsn(1, CLEAN_KEY))
    data = envelope(event_item(), header=header)
    status, _, _ = http_request(kent_server.url, "POST", "/api/1/envelope/", data)
    assert status == 200
    [event] = kent_server.wait_for(1)
    assert event.auth == {"sentry_key": CLEAN_KEY, "source": "envelope-dsn"}
    assert event.warnings == []


def test_two_auth_places_warn_multiple_auth(kent_server):
    data = envelope(event_item(), header=clean_header())
    path = f"/api/1/envelope/?{QUERY_AUTH}"
    headers = {"X-Sentry-Auth": SENTRY_AUTH}
    assert http_request(kent_server.url, "POST", path, data, headers)[0] == 200
    [event] = kent_server.wait_for(1)
    assert [w["code"] for w in event.warnings] == ["multiple-auth"]
    assert event.auth["source"] == "x-sentry-auth"  # the first place wins


def test_require_keys_answers_403_for_other_keys():
    good = "k" * 32
    data = envelope(event_item(), header=clean_header())
    with kent.KentServer(require_keys={good}) as server:
        answers = [
            http_request(server.url, "POST", f"/api/1/envelope/?sentry_key={key}", data)
            for key in (CLEAN_KEY, good)
        ]
        refused, accepted = server.wait_for(2)
    assert [status for status, _, _ in answers] == [403, 200]
    assert "unknown public key" in json.loads(answers[0][2])["error"]
    assert (refused.status, refused.auth["sentry_key"]) == (403, CLEAN_KEY)
    assert (accepted.status, accepted.auth["sentry_key"]) == (200, good)
    assert refused.body == accepted.body == event_item()[1]
