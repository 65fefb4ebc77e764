"""Debugging superpowers in the running server (issue 7).

The leak scanner, search and diff through the HTTP API and the pages, the
canaries (at start and at run time), the envelope download and its curl
command, the console line's leak flag, and the ``send`` / ``replay``
commands, all against real sentry-sdk output or real subprocesses.
"""

import gzip
import json
import logging
import re
import signal
import subprocess
import sys
import urllib.parse

import pytest
from helpers import (
    CANARY,
    CLEAN_KEY,
    EVENT_ID,
    FAKE_MINIDUMP,
    FRAME_VARS,
    KENT_PY,
    PROJECTS,
    SECRET,
    check_page,
    dump_file,
    envelope,
    event_item,
    get_json,
    http_request,
    multipart,
    post_envelope,
    run_scenarios,
    running_kent,
)

import kent

EMAIL = "alice@example.com"


@pytest.fixture(scope="module")
def sdk():
    """A running Kent holding what real sentry-sdk apps sent, one project each."""
    with kent.KentServer() as server:
        run_scenarios(server)
        yield server


def api(server, path):
    status, value = get_json(server.url, path)
    assert status == 200, value
    return value


def leaks_of(server, scenario):
    return api(server, f"/api/leaks/?project={PROJECTS[scenario]}")


def only_event(server, scenario, item_type="event"):
    events = server.events(project=PROJECTS[scenario], type=item_type)
    assert len(events) == 1, [e.summary for e in events]
    return events[0]


def page_of(server, path):
    """GET an HTML page and check its markup; returns (html, text)."""
    status, headers, data = http_request(server.url, "GET", path)
    assert status == 200, data[:300]
    page = data.decode()
    nonce = re.search(r'<style nonce="([0-9a-f]+)"', page).group(1)
    assert f"'nonce-{nonce}'" in headers["content-security-policy"]
    return page, check_page(page, nonce)


# ---------------------------------------------------------------------------
# Leak findings in the API
# ---------------------------------------------------------------------------


def test_pii_app_leaks_are_reported_at_their_paths(sdk):
    report = leaks_of(sdk, "pii")
    event = only_event(sdk, "pii")
    assert report["clean"] is False
    [entry] = [e for e in report["events"] if e["event_id"] == event.id]
    found = {f["pointer"]: f["kind"] for f in entry["findings"]}
    assert found[f"{FRAME_VARS}/db_password"] == "secret_key"
    assert found[f"{FRAME_VARS}/environ/HTTP_COOKIE"] == "cookie"
    assert found["/user/email"] == "email"
    assert report["count"] == sum(len(e["findings"]) for e in report["events"])
    assert report["kinds"]["email"] >= 1 and report["kinds"]["cookie"] >= 1
    answer = json.dumps(report)
    assert SECRET not in answer and EMAIL not in answer  # excerpts are masked
    detail = api(sdk, f"/api/event/{event.id}")
    assert detail["leaks"] == entry["findings"]
    listing = api(sdk, f"/api/eventlist/?project={PROJECTS['pii']}&type=event")
    assert [e["leaks"] for e in listing["events"]] == [len(entry["findings"])]


def test_before_send_that_scrubs_gives_a_clean_report(sdk):
    assert only_event(sdk, "scrubbed").body["exception"]  # the event did arrive
    report = leaks_of(sdk, "scrubbed")
    assert report == {"events": [], "count": 0, "kinds": {}, "clean": True}


def test_default_sdk_settings_give_no_finding(sdk):
    listing = api(sdk, f"/api/eventlist/?project={PROJECTS['default']}")
    types = {e["type"] for e in listing["events"]}
    assert {"event", "transaction", "session", "log"} <= types
    assert {e["leaks"] for e in listing["events"]} == {0}
    assert leaks_of(sdk, "default")["clean"] is True


def test_leak_filters_work_like_the_event_list(sdk):
    report = api(sdk, "/api/leaks/?type=transaction")
    assert report["clean"] is True  # transactions of every scenario leak nothing
    everything = api(sdk, "/api/leaks/")
    projects = {e["project_id"] for e in everything["events"]}
    assert projects == {PROJECTS["wsgi"], PROJECTS["pii"]}


def test_ingest_never_scans_reading_does(kent_server):
    body = {"message": "hi", "user": {"email": EMAIL}}
    post_envelope(kent_server.url, envelope(({"type": "event"}, body)))
    [event] = kent_server.wait_for(1)
    assert event._findings is None  # nothing scanned on the request path
    detail = api(kent_server, f"/api/event/{event.id}")
    assert detail["leaks"] == [
        {"pointer": "/user/email", "kind": "email", "excerpt": "al***om"}
    ]
    assert event._findings == (0, detail["leaks"])


# ---------------------------------------------------------------------------
# Canaries: at start, at run time, cache invalidation
# ---------------------------------------------------------------------------


def canary_findings(report):
    return {
        (e["type"], f["pointer"], f["excerpt"])
        for e in report["events"]
        for f in e["findings"]
        if f["kind"] == "canary"
    }


def test_canary_added_at_run_time_is_found_in_a_log_and_an_attachment(sdk):
    project = PROJECTS["canary"]
    before = leaks_of(sdk, "canary")  # fills the caches without the canary
    listing = api(sdk, f"/api/eventlist/?project={project}")
    assert canary_findings(before) == set()
    attachment = only_event(sdk, "canary", "attachment")
    offset = attachment.raw.index(CANARY.encode())
    status, _, data = http_request(
        sdk.url, "POST", "/api/canaries/", json.dumps({"canaries": [CANARY]})
    )
    assert status == 201 and json.loads(data)["canaries"] == [CANARY]
    try:
        after = leaks_of(sdk, "canary")
        assert canary_findings(after) == {
            ("log", "/items/0/body", "ke***9a"),
            ("attachment", "", f"byte {offset}: ke***9a"),
        }
        relisted = api(sdk, f"/api/eventlist/?project={project}")
        counts = {e["type"]: e["leaks"] for e in relisted["events"]}
        old = {e["type"]: e["leaks"] for e in listing["events"]}
        assert counts["log"] == old["log"] + 1
        assert counts["attachment"] == old["attachment"] + 1
    finally:
        status, _, data = http_request(sdk.url, "DELETE", "/api/canaries/")
    assert status == 200 and json.loads(data)["canaries"] == []
    assert canary_findings(leaks_of(sdk, "canary")) == set()


def test_canaries_given_at_start_and_added_in_python():
    log = {"items": [{"timestamp": 1.7e9, "level": "info", "body": "token t-111"}]}
    data = envelope(({"type": "log", "item_count": 1}, log))
    with kent.KentServer(canaries=["t-111"]) as server:
        post_envelope(server.url, data)
        [event] = server.wait_for(1)
        assert [f["kind"] for f in server.leaks()["events"][0]["findings"]] == [
            "canary"
        ]
        server.add_canary("info")
        assert server.canaries == ["t-111", "info"]
        pointers = {f["pointer"] for f in server.leaks()["events"][0]["findings"]}
        assert pointers == {"/items/0/body", "/items/0/level"}
        server.clear_canaries()
        assert server.leaks()["clean"] is True
        assert api(server, "/api/canaries/") == {"canaries": [], "version": 2}


@pytest.mark.parametrize(
    "body", [b'{"canaries": [""]}', b'{"canaries": "x"}x', b"[1]", b'{"canaries": 3}']
)
def test_bad_canaries_are_refused(kent_server, body):
    status, _, data = http_request(kent_server.url, "POST", "/api/canaries/", body)
    assert status == 400, data
    assert api(kent_server, "/api/canaries/")["canaries"] == []


def test_canary_as_a_single_value_and_bad_cli_canary(kent_server, capsys):
    status, _, data = http_request(
        kent_server.url, "POST", "/api/canaries/", b'{"canary": "abcd"}'
    )
    assert (status, json.loads(data)["canaries"]) == (201, ["abcd"])
    with pytest.raises(SystemExit, match="bad --canary"):
        kent.main(["run", "-p", "0", "--canary", " "])
    # shorter than 4 characters it would be found everywhere
    status, _, data = http_request(
        kent_server.url, "POST", "/api/canaries/", b'{"canary": "x"}'
    )
    assert status == 400 and b"shorter than 4 characters" in data


# ---------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------


def test_search_finds_a_canary_in_a_log_and_an_attachment(sdk):
    value = api(sdk, f"/api/search/?q={CANARY.upper()}")
    found = {(e["type"], tuple(e["pointers"])) for e in value["events"]}
    assert found == {("log", ("/items/0/body",)), ("attachment", ("",))}
    assert value["q"] == CANARY.upper() and value["count"] == 2
    assert api(sdk, f"/api/search/?q={CANARY}&type=log")["count"] == 1
    status, value = get_json(sdk.url, "/api/search/")
    assert status == 400 and "q=" in value["error"]


def test_search_page_shows_pointers_and_the_index_has_a_search_box(sdk):
    _, text = page_of(sdk, f"/search?q={CANARY}")
    assert "/items/0/body" in text and "(whole payload)" in text
    assert "2 items" in text
    page, _ = page_of(sdk, "/")
    assert 'action="/search"' in page and 'name="q"' in page
    _, text = page_of(sdk, "/search?q=no-such-text-anywhere")
    assert "Nothing stored contains no-such-text-anywhere." in text


# ---------------------------------------------------------------------------
# Diff: before and after a before_send change
# ---------------------------------------------------------------------------


def test_diff_api_of_events_before_and_after_before_send(sdk):
    before, after = only_event(sdk, "pii"), only_event(sdk, "scrubbed")
    diff = api(sdk, f"/api/diff/{before.id}/{after.id}")
    assert (diff["a"]["event_id"], diff["b"]["event_id"]) == (before.id, after.id)
    changed = {c["pointer"]: c for c in diff["changed"]}
    db_password = changed[f"{FRAME_VARS}/db_password"]
    assert SECRET in db_password["old"] and db_password["new"] == "[Filtered]"
    assert "/user" in {r["pointer"] for r in diff["removed"]}
    trimmed = [m for m in diff["meta"] if m["pointer"] == "/extra/note"]
    assert trimmed and trimmed[0]["side"] == "b"
    assert "trimmed" in trimmed[0]["annotation"]
    assert not any(p["pointer"].startswith("/_meta") for p in diff["added"])
    status, value = get_json(sdk.url, f"/api/diff/{before.id}/nope")
    assert status == 404 and "nope" in value["error"]


def test_diff_page_and_the_compare_form(sdk):
    before, after = only_event(sdk, "pii"), only_event(sdk, "scrubbed")
    _, text = page_of(sdk, f"/diff/{before.id}/{after.id}")
    assert f"{FRAME_VARS}/db_password" in text and "[Filtered]" in text
    assert "Annotations from _meta (not data)" in text and "trimmed" in text
    query = urllib.parse.urlencode({"a": before.id, "b": after.event_id})
    status, headers, _ = http_request(sdk.url, "GET", f"/diff/?{query}")
    assert (status, headers["location"]) == (303, f"/diff/{before.id}/{after.event_id}")
    status, _, _ = http_request(sdk.url, "GET", f"/diff/?a={before.id}&b=")
    assert status == 400
    page, _ = page_of(sdk, f"/event/{before.id}")
    assert 'action="/diff/"' in page and f'name="a" value="{before.id}"' in page


# ---------------------------------------------------------------------------
# The event page: findings listed and marked in place, downloads, curl
# ---------------------------------------------------------------------------


def test_event_page_lists_and_marks_findings(sdk):
    event = only_event(sdk, "pii")
    page, text = page_of(sdk, f"/event/{event.id}")
    assert "Leak findings" in text and f"{FRAME_VARS}/db_password" in text
    marked = re.findall(
        r'<span class="leak" title="leak: ([\w, ]+)">([^<]*)</span>', page
    )
    kinds = {kind for kind, _ in marked}
    assert {"email", "cookie", "secret_key"} <= kinds
    assert (
        "email",
        EMAIL,
    ) in marked  # the user view, in place
    assert any(SECRET in value for _, value in marked)  # frame vars
    assert "\x00" not in page


def test_marked_values_stay_escaped_text():
    hostile = "<script>window.__pwned=1</script>"
    body = {
        "user": {"email": f"{hostile}alice@example.com"},
        "extra": {"password": hostile, "nested": {"api_key": f"k-{hostile}"}},
        "message": "\x00not-the-nonce:0\x00",
    }
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, body)))
    event = kent.StoredEvent(1, items[0])
    kent.EventStore().add([event])
    findings = event.findings()
    assert {f["pointer"] for f in findings} >= {"/user/email", "/extra/password"}
    page = kent.render_event(event, [], "n0nce", findings, "http://kent")
    text = check_page(page, "n0nce")  # no markup but Kent's
    assert text.count(hostile) >= 4  # user view, extra view, raw JSON (twice)
    assert page.count('<span class="leak"') >= 6
    assert "\x00n0nce" not in page and "\\u0000n0nce" not in page


def test_index_badges_rows_with_findings(sdk):
    page, _ = page_of(sdk, f"/?project={PROJECTS['pii']}")
    assert re.search(r'class="badge bad leak-count">\d+ leaks?</span>', page)
    page, _ = page_of(sdk, f"/?project={PROJECTS['scrubbed']}")
    assert 'class="badge bad leak-count"' not in page


def test_envelope_download_and_curl_rebuild_the_request(sdk):
    event = only_event(sdk, "canary")
    attachment = only_event(sdk, "canary", "attachment")
    status, headers, data = http_request(
        sdk.url, "GET", f"/api/event/{attachment.id}/envelope"
    )
    assert status == 200 and headers["content-type"] == kent.ENVELOPE_CONTENT_TYPE
    envelope_header, items, warnings = kent.parse_envelope(data)
    assert envelope_header == event.envelope_header and warnings == []
    originals = sorted([event, *sdk.store.siblings(event)], key=lambda e: e.seq)
    assert [(i.type, i.raw) for i in items] == [(e.type, e.raw) for e in originals]
    detail = api(sdk, f"/api/event/{event.id}")
    assert detail["downloads"]["envelope"] == f"/api/event/{event.id}/envelope"
    assert detail["curl"].startswith("curl -sS -X POST ")
    assert f"{sdk.url}/api/{PROJECTS['canary']}/envelope/" in detail["curl"]
    assert f"@kent-{event.id}.envelope" in detail["curl"]
    assert f"sentry_key={CLEAN_KEY}" in detail["curl"]
    page, text = page_of(sdk, f"/event/{event.id}")
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
    assert "curl" not in api(kent_server, f"/api/event/{event.id}")


# ---------------------------------------------------------------------------
# CLI: send, replay, the console line
# ---------------------------------------------------------------------------


def kent_cli(*args, check=True):
    done = subprocess.run(
        [sys.executable, KENT_PY, *args], capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


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


def test_replay_of_a_downloaded_envelope_stores_identical_items(sdk, tmp_path):
    event = only_event(sdk, "canary")
    originals = sorted([event, *sdk.store.siblings(event)], key=lambda e: e.seq)
    _, _, data = http_request(sdk.url, "GET", f"/api/event/{event.id}/envelope")
    saved = tmp_path / "event.envelope"
    saved.write_bytes(data)
    _, _, log_json = http_request(
        sdk.url, "GET", f"/api/event/{only_event(sdk, 'canary', 'log').id}"
    )
    (tmp_path / "log.json").write_bytes(log_json)
    files = [str(saved), str(tmp_path / "log.json")]
    done = kent_cli("replay", *files, "--url", sdk.url, "--project", "98")
    assert done.stdout.count(": 200") == 2
    replayed = sdk.wait_for(len(originals) + 1, project=98, timeout=10)
    by_type = [(e.type, e.header.get("filename"), e.raw) for e in replayed]
    expected = [(e.type, e.header.get("filename"), e.raw) for e in originals]
    assert by_type[: len(originals)] == expected
    log = only_event(sdk, "canary", "log")
    assert replayed[-1].type == "log" and replayed[-1].body == log.body
    sdk.flush(98)


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


@pytest.mark.parametrize(
    "settings", [{"strict": True}, {"require_keys": [CLEAN_KEY, "other"]}]
)
def test_send_with_url_uses_a_key_kent_accepts(settings):
    with kent.KentServer(**settings) as server:
        done = kent_cli("send", "message", "--url", server.url)
        assert ": 200" in done.stdout, done.stdout
        [event] = server.wait_for(1)
    assert event.auth["sentry_key"] == server.kent.dsn_key != "public"


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


def test_console_line_flags_leaks_without_ansi_when_piped(tmp_path):
    command = [sys.executable, KENT_PY, "run", "-p", "0", "--canary", CANARY]
    with running_kent(command, tmp_path) as (url, _, proc):
        body = {"message": f"order {CANARY}", "user": {"email": EMAIL}}
        post_envelope(url, envelope(({"type": "event"}, body)))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0  # stopping prints what is queued first
    stderr = (tmp_path / "stderr.txt").read_text()
    [line] = [line for line in stderr.splitlines() if "order" in line]
    assert (
        "LEAK 2: canary at /message (ke***9a), email at /user/email (al***om)" in line
    )
    assert "\x1b[" not in stderr
    assert CANARY not in line.split("LEAK")[1] and EMAIL not in line


def test_console_printer_scans_only_while_its_backlog_is_short(caplog):
    server = kent.KentServer(console=True)  # not started: nothing is printed yet
    printer = server.kent.printer
    printer.max_scan_backlog = 2
    body = {"message": "hi", "user": {"email": EMAIL}}
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, body)))
    burst = [kent.StoredEvent(1, items[0]) for _ in range(6)]
    trickle = [kent.StoredEvent(1, items[0]) for _ in range(2)]
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(burst, 200, "http://kent")
        assert [e._findings for e in burst] == [None] * 6  # not on ingest
        printer._print_pending()  # a backlog of 6: printed without scanning
        server.kent.store_events(trickle, 200, "http://kent")
        printer._print_pending()  # a backlog of 2: scanned
        printer._print_pending()  # nothing came in: the burst is scanned now
    lines = [
        line
        for record in caplog.records
        for line in record.getMessage().splitlines()
        if "project=1" in line
    ]
    assert ["LEAK 1" in line for line in lines] == [False] * 6 + [True] * 8
    assert [line.endswith("(scanned late)") for line in lines[8:]] == [True] * 6
    late = sorted(line.split()[0] for line in lines[8:])
    assert late == sorted(line.split()[0] for line in lines[:6])  # the same items


def test_console_printer_says_when_items_were_never_scanned(caplog):
    server = kent.KentServer(console=True)
    printer = server.kent.printer = kent.ConsolePrinter(
        server.kent, max_scan_backlog=0, max_unscanned=2
    )
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, {"message": "x"})))
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(
            [kent.StoredEvent(1, items[0]) for _ in "abcde"], 200, ""
        )
        printer._print_pending()
        printer._print_pending()
    text = caplog.text
    assert "3 items were printed without a leak scan" in text
    assert "GET /api/leaks/" in text and "(scanned late)" not in text


def test_console_gives_every_item_of_a_batch_its_own_time(caplog):
    server = kent.KentServer(console=True)
    _, items, _ = kent.parse_envelope(envelope(({"type": "event"}, {"message": "x"})))
    with caplog.at_level(logging.INFO, logger="kent"):
        server.kent.store_events(
            [kent.StoredEvent(1, items[0]) for _ in "abc"], 200, ""
        )
        server.kent.printer._print_pending()
    records = [r for r in caplog.records if "project=1" in r.getMessage()]
    assert len(records) == 3  # a log record, so a timestamp, each


# ---------------------------------------------------------------------------
# Browser: a finding highlighted on the event page, the badge on the index
# ---------------------------------------------------------------------------


def test_browser_shows_findings_highlighted_and_badged(page, kent_server):
    page.goto(kent_server.url + "/")
    assert page.locator(".leak-count").count() == 0
    body = {
        "message": "checkout failed",
        "user": {"email": EMAIL},
        "extra": {"db_password": SECRET},
    }
    post_envelope(kent_server.url, envelope(({"type": "event"}, body)))
    badge = page.locator("#kent-rows .leak-count")  # added by the live script
    badge.wait_for(timeout=20000)
    assert badge.inner_text() == "2 leaks"
    page.locator("#kent-rows a", has_text="checkout failed").first.click()
    page.wait_for_url("**/event/**")
    assert page.locator("#kent-leaks").is_visible()
    leak = page.locator("span.leak", has_text=EMAIL).first
    assert leak.is_visible()
    assert leak.get_attribute("title") == "leak: email"
    assert page.locator("span.leak", has_text=SECRET).first.is_visible()
    page.goto(kent_server.url + "/")  # the badge rendered by the server
    assert page.locator("#kent-rows .leak-count").inner_text() == "2 leaks"
    assert page.evaluate("window.__violations") == []
