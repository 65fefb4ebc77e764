"""Sending a stored request again: ``kent replay`` of saved envelopes, uploads
and Kent's own JSON (back to the route it came from), the envelope download,
and the curl command that rebuilds a request."""

import base64
import gzip
import json
import shlex
import subprocess
import time

import pytest
from helpers import (
    AUTH_HEADER,
    CLEAN_KEY,
    EVENT_ID,
    FAKE_MINIDUMP,
    PROJECTS,
    SAMPLE_TIME,
    api_get,
    dump_file,
    envelope,
    event_item,
    get_json,
    http_request,
    kent_cli,
    multipart,
    only_event,
    page_of,
    post_envelope,
    require_tool,
)

import kent


def test_replay_file_kinds():
    envelope = kent.sample_envelope("error", EVENT_ID, SAMPLE_TIME)[2]
    assert kent.parse_replay_file(envelope) == (
        "envelope",
        "application/x-sentry-envelope",
        envelope,
    )
    event = b'{"message": "hi", "level": "info"}'
    assert kent.parse_replay_file(event) == ("store", "application/json", event)
    reports = kent.sample_envelope("csp-new", EVENT_ID, SAMPLE_TIME)[2]
    assert kent.parse_replay_file(reports)[0] == "security"
    with pytest.raises(ValueError, match="not an envelope"):
        kent.parse_replay_file(b"\x00garbage")


@pytest.mark.parametrize(
    "scenario_type", [("pii", "event"), ("canary", "attachment"), ("default", "log")]
)
def test_replay_of_kent_event_json_rebuilds_identical_item_bytes(
    sdk_server, scenario_type
):
    server = sdk_server
    scenario, item_type = scenario_type
    original = [
        e for e in server.events(project=PROJECTS[scenario]) if e.type == item_type
    ][0]
    status, value = get_json(server.url, f"/api/event/{original.id}")
    assert status == 200
    saved = json.dumps(value).encode()  # what `curl .../api/event/<id> > file` saves
    endpoint, content_type, data = kent.parse_replay_file(saved)
    assert (endpoint, content_type) == ("envelope", "application/x-sentry-envelope")
    envelope_header, [item] = kent.parse_envelope(data)[:2]
    assert envelope_header == original.envelope_header
    assert item.type == item_type
    assert (
        item.raw == http_request(server.url, "GET", f"/api/event/{original.id}/raw")[2]
    )


def test_replay_of_security_and_store_items_from_kent_json(kent_server):
    report = kent.sample_envelope("csp", EVENT_ID, SAMPLE_TIME)[2]
    headers = {"Content-Type": "application/csp-report"}
    http_request(
        kent_server.url, "POST", "/api/1/security/?sentry_key=public", report, headers
    )
    [stored] = kent_server.wait_for(1)
    _, value = get_json(kent_server.url, f"/api/event/{stored.id}")
    endpoint, content_type, data = kent.parse_replay_file(json.dumps(value).encode())
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
    command = kent.curl_command(
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
    data = kent.sample_envelope("message", EVENT_ID, time.time())[2]
    body = tmp_path / "body.gz"
    body.write_bytes(gzip.compress(data))
    headers = {
        "Content-Type": "application/x-sentry-envelope",
        "Content-Encoding": "gzip",
        "X-Sentry-Auth": AUTH_HEADER,
    }
    command = kent.curl_command(f"{kent_server.url}/api/1/envelope/", headers, body)
    words = shlex.split(command)
    result = subprocess.run([curl, *words[1:]], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": EVENT_ID, "success": True}
    [stored] = kent_server.wait_for(1)
    assert stored.raw == kent.parse_envelope(data)[1][0].raw
    assert stored.request["content_encoding"] == "gzip"
    assert base64.b64encode(stored.raw)  # stored bytes, not only a 200


# -- the envelope download and its curl command ------------------------------------


def test_envelope_download_and_curl_rebuild_the_request(sdk_server):
    event = only_event(sdk_server, "canary")
    attachment = only_event(sdk_server, "canary", "attachment")
    status, headers, data = http_request(
        sdk_server.url, "GET", f"/api/event/{attachment.id}/envelope"
    )
    assert status == 200 and headers["content-type"] == kent.ENVELOPE_CONTENT_TYPE
    envelope_header, items, warnings = kent.parse_envelope(data)
    assert envelope_header == event.envelope_header and warnings == []
    originals = sorted([event, *sdk_server.store.siblings(event)], key=lambda e: e.seq)
    assert [(i.type, i.raw) for i in items] == [(e.type, e.raw) for e in originals]
    detail = api_get(sdk_server, f"/api/event/{event.id}")
    assert detail["downloads"]["envelope"] == f"/api/event/{event.id}/envelope"
    assert detail["curl"].startswith("curl -sS -X POST ")
    assert f"{sdk_server.url}/api/{PROJECTS['canary']}/envelope/" in detail["curl"]
    assert f"@kent-{event.id}.envelope" in detail["curl"]
    assert f"sentry_key={CLEAN_KEY}" in detail["curl"]
    page, text = page_of(sdk_server, f"/event/{event.id}")
    assert f'download="kent-{event.id}.envelope"' in page
    assert "curl -sS -X POST" in text


def test_envelope_download_of_an_unreadable_request_is_404(kent_server):
    status, _, _ = http_request(
        kent_server.url, "POST", "/api/1/envelope/", b"not an envelope"
    )
    assert status == 400
    [event] = kent_server.wait_for(1)
    status, value = get_json(kent_server.url, f"/api/event/{event.id}/envelope")
    assert status == 404 and f"/api/event/{event.id}/raw" in value["error"]
    assert "curl" not in api_get(kent_server, f"/api/event/{event.id}")


# -- kent replay -------------------------------------------------------------------


def test_replay_of_a_downloaded_envelope_stores_identical_items(sdk_server, tmp_path):
    event = only_event(sdk_server, "canary")
    originals = sorted([event, *sdk_server.store.siblings(event)], key=lambda e: e.seq)
    _, _, data = http_request(sdk_server.url, "GET", f"/api/event/{event.id}/envelope")
    saved = tmp_path / "event.envelope"
    saved.write_bytes(data)
    _, _, log_json = http_request(
        sdk_server.url,
        "GET",
        f"/api/event/{only_event(sdk_server, 'canary', 'log').id}",
    )
    (tmp_path / "log.json").write_bytes(log_json)
    files = [str(saved), str(tmp_path / "log.json")]
    try:  # to project 98, flushed after: sdk_server is the whole session's
        done = kent_cli("replay", *files, "--url", sdk_server.url, "--project", "98")
        assert done.stdout.count(": 200") == 2
        replayed = sdk_server.wait_for(len(originals) + 1, project=98, timeout=10)
    finally:
        sdk_server.flush(98)
    by_type = [(e.type, e.header.get("filename"), e.raw) for e in replayed]
    expected = [(e.type, e.header.get("filename"), e.raw) for e in originals]
    assert by_type[: len(originals)] == expected
    log = only_event(sdk_server, "canary", "log")
    assert replayed[-1].type == "log" and replayed[-1].body == log.body


def test_replay_of_kent_json_goes_back_to_the_route_it_came_from(kent_server, tmp_path):
    otlp = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"db.query"}]}]}]}'
    sent = [
        ("POST", "/api/1/integration/otlp/v1/traces", otlp, "application/json"),
        ("GET", "/api/1/cron/nightly/" + "a" * 32 + "/?status=ok", b"", None),
    ]
    for method, path, body, content_type in sent:
        headers = {"Content-Type": content_type} if content_type else {}
        status, _, _ = http_request(kent_server.url, method, path, body, headers)
        assert status == 202
    files = []
    for event in kent_server.events():
        _, _, data = http_request(kent_server.url, "GET", f"/api/event/{event.id}")
        files.append(tmp_path / f"{event.type}.json")
        files[-1].write_bytes(data)
    done = kent_cli(
        "replay", *map(str, files), "--url", kent_server.url, "--project", "7"
    )
    assert done.stdout.count(": 202") == 2, done.stdout
    replayed = kent_server.wait_for(2, project=7, timeout=10)
    assert [e.type for e in replayed] == ["otel_traces", "check_in"]
    assert replayed[0].raw == otlp
    assert replayed[1].body["monitor_slug"] == "nightly"
    assert replayed[1].body["status"] == "ok"


def test_replay_of_one_part_of_a_minidump_upload_sends_it_as_an_envelope(
    kent_server, tmp_path
):
    body, content_type = multipart(
        fields=[("sentry[release]", "native@2.0")],
        files=[dump_file(), ("log", "app.log", "text/plain", b"last words\n")],
    )
    status, _, _ = http_request(
        kent_server.url,
        "POST",
        f"/api/3/minidump/?sentry_key={CLEAN_KEY}",
        body,
        {"Content-Type": content_type},
    )
    assert status == 200
    _, dump, _ = kent_server.wait_for(3, project=3)
    _, _, saved = http_request(kent_server.url, "GET", f"/api/event/{dump.id}")
    (tmp_path / "dump.json").write_bytes(saved)
    done = kent_cli(
        "replay",
        str(tmp_path / "dump.json"),
        "--url",
        kent_server.url,
        "--project",
        "8",
    )
    assert ": 200" in done.stdout, done.stdout
    [again] = kent_server.wait_for(1, project=8, timeout=10)
    assert (again.type, again.status, again.raw) == ("attachment", 200, FAKE_MINIDUMP)
    assert again.header["attachment_type"] == "event.minidump"
    assert again.event_id == dump.event_id


def test_replay_of_a_refused_upload_goes_back_to_its_route(kent_server, tmp_path):
    body, content_type = multipart(files=[dump_file(data=b"not a minidump")])
    path = f"/api/3/minidump/?sentry_key={CLEAN_KEY}"
    headers = {"Content-Type": content_type}
    assert http_request(kent_server.url, "POST", path, body, headers)[0] == 400
    [refused] = kent_server.wait_for(1, type="kent_error")
    _, _, saved = http_request(kent_server.url, "GET", f"/api/event/{refused.id}")
    endpoint, sent_type, data = kent.parse_replay_file(saved)
    assert (endpoint, sent_type, data) == ("minidump", content_type, body)


def test_replay_to_another_dsn_rewrites_a_tunnel_envelopes_dsn(kent_server, tmp_path):
    old_dsn = "https://" + "a" * 32 + "@o1.ingest.sentry.io/1"
    saved = envelope(
        event_item({"message": "via tunnel"}),
        header={"dsn": old_dsn, "event_id": EVENT_ID},
    )
    (tmp_path / "tunnel.envelope").write_bytes(saved)
    new_dsn = kent_server.dsn(6, key=CLEAN_KEY)
    kent_cli("replay", str(tmp_path / "tunnel.envelope"), "--dsn", new_dsn)
    [event] = kent_server.wait_for(1, project=6, timeout=10)
    assert event.envelope_header["dsn"] == new_dsn
    assert event.body["message"] == "via tunnel"
    assert [w["code"] for w in event.warnings if w["code"] == "dsn-mismatch"] == []
    assert event.status == 200


def test_replay_of_a_gzipped_envelope_and_a_raw_minidump(kent_server, tmp_path):
    saved = envelope(event_item({"message": "zipped"}))
    (tmp_path / "saved.envelope.gz").write_bytes(gzip.compress(saved))
    (tmp_path / "crash.dmp").write_bytes(FAKE_MINIDUMP)
    files = [str(tmp_path / name) for name in ("saved.envelope.gz", "crash.dmp")]
    done = kent_cli("replay", *files, "--url", kent_server.url, "--project", "9")
    assert done.stdout.count(": 200") == 2, done.stdout
    event, crash, dump = kent_server.wait_for(3, project=9, timeout=10)
    assert (event.type, event.body["message"]) == ("event", "zipped")
    assert crash.type == "event" and crash.event_id == dump.event_id
    assert (dump.type, dump.raw) == ("attachment", FAKE_MINIDUMP)
    assert dump.header["attachment_type"] == "event.minidump"
    assert dump.request["endpoint"] == "minidump"


def test_replay_of_kent_json_keeps_its_project_unless_told(kent_server, tmp_path):
    post_envelope(kent_server.url, envelope(event_item({"message": "p4"})), project=4)
    [event] = kent_server.wait_for(1, project=4)
    _, _, saved = http_request(kent_server.url, "GET", f"/api/event/{event.id}")
    (tmp_path / "event.json").write_bytes(saved)
    kent_server.flush()
    kent_cli("replay", str(tmp_path / "event.json"), "--url", kent_server.url)
    [again] = kent_server.wait_for(1, timeout=10)
    assert (again.project_id, again.body["message"]) == (4, "p4")
    kent_cli(
        "replay",
        str(tmp_path / "event.json"),
        "--url",
        kent_server.url,
        "--project",
        "5",
    )
    assert kent_server.wait_for(1, project=5, timeout=10)[0].body["message"] == "p4"


def test_replay_of_gzipped_kent_json_keeps_its_project(kent_server, tmp_path):
    post_envelope(kent_server.url, envelope(event_item({"message": "p7"})), project=7)
    [event] = kent_server.wait_for(1, project=7)
    _, _, saved = http_request(kent_server.url, "GET", f"/api/event/{event.id}")
    (tmp_path / "event.json.gz").write_bytes(gzip.compress(saved))
    kent_cli("replay", str(tmp_path / "event.json.gz"), "--url", kent_server.url)
    assert len(kent_server.wait_for(2, project=7, timeout=10)) == 2


def test_replay_of_a_bad_file_exits_1(kent_server, tmp_path):
    (tmp_path / "bad.txt").write_text("hello")
    (tmp_path / "good.json").write_text('{"message": "fine"}')
    files = [str(tmp_path / name) for name in ("bad.txt", "good.json", "gone.bin")]
    done = kent_cli("replay", *files, "--url", kent_server.url, check=False)
    assert done.returncode == 1
    assert "bad.txt: cannot replay: not an envelope" in done.stderr
    assert "gone.bin: cannot replay" in done.stderr
    [event] = kent_server.wait_for(1)  # the good file still went
    assert event.body == {"message": "fine"} and event.request["endpoint"] == "store"
